import * as tf from '@tensorflow/tfjs-core';

/** The wasm backend's heap size in bytes now (it only grows), or null when another backend runs. */
export function wasmHeapBytes(): number | null {
  try {
    const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
    return heap ? heap.buffer.byteLength : null;
  } catch {
    return null;
  }
}
