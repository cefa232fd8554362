/** An ES module whose default export is the bytes of the .wasm file at `path` (Uint8Array), decoded with atob. */
export function wasmModuleSource(path: string): string;
