import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, release, reshapeInfo, runWasm } from './kernel-utils';

/** Normalised, sorted, unique axes; null/undefined means every axis. */
function parseAxes(axis: unknown, rank: number): number[] {
  const list = axis == null ? Array.from({ length: rank }, (_, i) => i) : Array.isArray(axis) ? (axis as number[]) : [axis as number];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/**
 * Sum / Mean of a float32 tensor over its leading axes [0, k) (BN's moments, bias and
 * per-channel gradients): XNNPACK average pooling over one window covering an
 * [1, a, b, rest] view, where a * b is the reduced count. Stock wasm transposes the reduced
 * axes to the end and then reduces (about 10x slower here). Everything else goes to stock.
 */
function leadingReduce(kind: 'Sum' | 'Mean'): KernelFunc {
  const kernel = (args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: { axis?: unknown; keepDims?: boolean } }): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs;
    const rank = x.shape.length;
    const axes = parseAxes(attrs.axis, rank);
    const k = axes.length;
    const leading = k > 0 && k < rank && axes.every((a, i) => a === i);
    const m = x.shape.slice(0, k).reduce((p, d) => p * d, 1);
    if (!leading || x.dtype !== 'float32' || m < 2) return runWasm(kind, backend, { x }, attrs as Record<string, unknown>);
    const restShape = x.shape.slice(k);
    const rest = restShape.reduce((p, d) => p * d, 1);
    if (rest === 0) return runWasm(kind, backend, { x }, attrs as Record<string, unknown>);
    const b = k >= 2 ? x.shape[k - 1]! : 1;
    const a = m / b;
    const view = reshapeInfo(backend, x, [1, a, b, rest]);
    const pooled = runWasm('AvgPool', backend, { x: view }, { filterSize: [a, b], strides: [1, 1], pad: 'valid' });
    release(backend, view);
    if (kind === 'Sum') {
      const vals = backend.typedArrayFromHeap(pooled) as Float32Array;
      for (let i = 0; i < vals.length; i++) vals[i]! *= m;
    }
    const outShape = attrs.keepDims ? [...x.shape.slice(0, k).map(() => 1), ...restShape] : restShape;
    const out = reshapeInfo(backend, pooled, outShape);
    release(backend, pooled);
    return out;
  };
  return kernel as unknown as KernelFunc;
}

export const sumKernel = leadingReduce('Sum');
export const meanKernel = leadingReduce('Mean');
