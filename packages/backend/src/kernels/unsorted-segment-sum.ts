import { util, type TensorInfo, type KernelFunc } from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from './kernel-utils';

/**
 * out[s, ...] = sum of x[i, ...] over i with segmentIds[i] = s; ids outside [0, numSegments)
 * are dropped, as in TensorFlow. A loop over the wasm heap: gather gradients are small.
 */
export function unsortedSegmentSumWasm(args: {
  inputs: { x: TensorInfo; segmentIds: TensorInfo };
  backend: WasmBackendLike;
  attrs: { numSegments: number };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const { numSegments } = attrs;
  const idsRank = segmentIds.shape.length;
  const rows = util.sizeFromShape(segmentIds.shape);
  const inner = util.sizeFromShape(x.shape.slice(idsRank));
  const outShape = [numSegments, ...x.shape.slice(idsRank)];
  const out = backend.makeOutput(outShape, x.dtype);
  // Views taken after makeOutput: an allocation may grow the heap and detach older views.
  const outVals = backend.typedArrayFromHeap(out);
  const xVals = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  outVals.fill(0);
  for (let i = 0; i < rows; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let k = 0; k < inner; k++) outVals[dst + k] = outVals[dst + k]! + xVals[src + k]!;
  }
  return out;
}

export const unsortedSegmentSumKernel = unsortedSegmentSumWasm as unknown as KernelFunc;
