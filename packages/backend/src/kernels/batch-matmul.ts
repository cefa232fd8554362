import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, release, runWasm, transposeInfo } from './kernel-utils';

const swapLast2 = (rank: number): number[] => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];

/**
 * BatchMatMul with transposeA / transposeB: stock wasm takes a slow path for either (a dense
 * layer's gradients, x^T dy and dy W^T, ran at ~0.2-0.5 GFLOP/s: 411 ms and 136 ms for ResNet-50's
 * 2048x1000 classifier). Ours transposes the operand explicitly and runs the plain XNNPACK product.
 */
function batchMatMulWasm(args: {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: WasmBackendLike;
  attrs: { transposeA?: boolean; transposeB?: boolean };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  if ((!attrs.transposeA && !attrs.transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
    return runWasm('BatchMatMul', backend, inputs, attrs);
  }
  const size = (t: TensorInfo) => t.shape.reduce((p, d) => p * d, 1);
  const sameBatch = a.shape.length === b.shape.length && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  if (!attrs.transposeA && attrs.transposeB && sameBatch && size(b) > 4 * size(a)) {
    // a b^T with a big b (a dense layer's dx = dy W^T): (b a^T)^T, so XNNPACK packs the small
    // a^T as its weights instead of repacking the big b on every call.
    const at = transposeInfo(backend, a, swapLast2(a.shape.length));
    const prod = runWasm('BatchMatMul', backend, { a: b, b: at }, { ...attrs, transposeA: false, transposeB: false });
    release(backend, at);
    const out = transposeInfo(backend, prod, swapLast2(prod.shape.length));
    release(backend, prod);
    return out;
  }
  const ta = attrs.transposeA ? transposeInfo(backend, a, swapLast2(a.shape.length)) : a;
  const tb = attrs.transposeB ? transposeInfo(backend, b, swapLast2(b.shape.length)) : b;
  const out = runWasm('BatchMatMul', backend, { a: ta, b: tb }, { ...attrs, transposeA: false, transposeB: false });
  if (ta !== a) release(backend, ta);
  if (tb !== b) release(backend, tb);
  return out;
}

export const batchMatMulKernel = batchMatMulWasm as unknown as KernelFunc;
