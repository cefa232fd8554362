import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { backendFlag } from '../flags';
import { type WasmBackendLike, release, runWasm, transposeInfo } from './kernel-utils';
import { type EmscriptenBackend, heapOffset, simdCalls, simdKernels } from './simd-module';

/** `BOT_OUTER_PRODUCT=never` keeps stock for K = 1 products (A/B); read on every call. */
const outerWanted = (): boolean => backendFlag('BOT_OUTER_PRODUCT') !== 'never';

/**
 * A product with K = 1 and no batch (every leading dim 1, equal ranks): an outer product, one
 * SIMD pass on our module (csrc/conv.c outer_product). With K = 1 a transposed operand has the
 * same memory layout, so transposeA / transposeB need no copy. Stock (XNNPACK's GEMM) is slow on
 * these BatchNorm-gradient shapes (docs/SPEED.md (kernel dispatch measurements)). Else null.
 */
function outerProduct(backend: WasmBackendLike, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo | null {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra !== rb || a.dtype !== 'float32' || b.dtype !== 'float32' || !outerWanted()) return null;
  if (!a.shape.slice(0, -2).every((d) => d === 1) || !b.shape.slice(0, -2).every((d) => d === 1)) return null;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  if (k !== 1 || kb !== 1) return null;
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (m * n === 0) return null;
  const simd = simdKernels(backend);
  if (!simd) return null;
  const em = backend as EmscriptenBackend;
  const out = backend.makeOutput([...a.shape.slice(0, -2), m, n], 'float32');
  simdCalls.outerProduct++;
  simd.outer_product(heapOffset(em, a.dataId), heapOffset(em, b.dataId), heapOffset(em, out.dataId), m, n);
  return out;
}

const swapLast2 = (rank: number): number[] => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];

/**
 * BatchMatMul with transposeA / transposeB: stock wasm takes a slow path for either (a dense
 * layer's gradients, x^T dy and dy W^T; docs/SPEED.md (kernel dispatch measurements)). Ours transposes the operand explicitly and runs the plain XNNPACK product.
 * K = 1 products without batch are outer products on our SIMD module.
 */
function batchMatMulWasm(args: {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: WasmBackendLike;
  attrs: { transposeA?: boolean; transposeB?: boolean };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  if (a.shape.length >= 2 && b.shape.length >= 2) {
    const outer = outerProduct(backend, a, b, !!attrs.transposeA, !!attrs.transposeB);
    if (outer) return outer;
  }
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
