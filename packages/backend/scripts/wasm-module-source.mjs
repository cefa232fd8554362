// The JS module a `.wasm` import becomes, at build time (tsup/esbuild, backend's tsup.config.ts) and in tests
// (vitest.shared.ts): the file's bytes, base64 in the source, decoded with `atob` (browsers, workers and Node
// >= 16 alike; no Buffer). So the only committed copy of the module is the .wasm that `npm run build:wasm --
// --check` compares with a fresh build of csrc/, and the embedded copy is generated from it on every build.
import { readFileSync } from 'node:fs';

/** @param {string} path a .wasm file @returns {string} an ES module whose default export is its bytes (Uint8Array) */
export function wasmModuleSource(path) {
  const base64 = readFileSync(path).toString('base64');
  return (
    `// Generated at build time from ${path.split('/').pop()} (packages/backend/scripts/wasm-module-source.mjs).\n` +
    `const text = atob(${JSON.stringify(base64)});\n` +
    'const bytes = new Uint8Array(text.length);\n' +
    'for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);\n' +
    'export default bytes;\n'
  );
}
