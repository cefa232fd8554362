/** A `.wasm` file imported as its bytes (generated at build time: scripts/wasm-module-source.mjs). */
declare module '*.wasm' {
  const bytes: Uint8Array;
  export default bytes;
}
