import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { backendFlag } from '../flags';
import { type WasmBackendLike, runWasm } from './kernel-utils';
import { type EmscriptenBackend, heapOffset, simdCalls, simdKernels, withScratch } from './simd-module';


/** Rows of a per GEMM block: all of them up to this many (each packed b panel is then read once). */
const FUSED_MATMUL_MAX_BLOCK_ROWS = 64;

/**
 * _FusedMatMul (a dense layer's forward: a b + bias, linear or relu) of float32 a [..., M, K] and
 * b [..., K, N] (or [..., N, K] with transposeB), leading (batch) dims equal or all 1 on one side,
 * N % 4 == 0, on our
 * SIMD module's GEMM (csrc/conv.c pointwise_gemm: b packed into panels, 4x8 register blocks, bias
 * and relu fused): about 2x stock on ResNet-50's classifier (numbers: docs/SPEED.md (kernel dispatch measurements)). Other batch broadcasts, transposeA, other
 * activations, PReLU weights and other dtypes go to stock. Batched products are one GEMM per batch: stock tfjs-backend-wasm 4.22
 * gets [2,6,10] x [2,10,8] + bias and [2,6,10] x [1,10,8] + bias wrong (off by up to 1.9
 * against cpu; tests cover ours).
 * `BOT_FUSED_MATMUL=never` keeps stock (A/B).
 */
function fusedMatMulWasm(args: {
  inputs: { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  backend: WasmBackendLike;
  attrs: { transposeA?: boolean; transposeB?: boolean; activation?: string | null; leakyreluAlpha?: number };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b, bias, preluActivationWeights } = inputs;
  const stock = () => runWasm('_FusedMatMul', backend, inputs as unknown as Record<string, TensorInfo>, attrs as Record<string, unknown>);
  const activation = attrs.activation ?? 'linear';
  if (
    backendFlag('BOT_FUSED_MATMUL') === 'never' ||
    attrs.transposeA || preluActivationWeights ||
    (activation !== 'linear' && activation !== 'relu') ||
    a.dtype !== 'float32' || b.dtype !== 'float32' || (bias && bias.dtype !== 'float32') ||
    a.shape.length !== b.shape.length || a.shape.length < 2
  ) {
    return stock();
  }
  const r = a.shape.length;
  const m = a.shape[r - 2]!;
  const k = a.shape[r - 1]!;
  const transB = !!attrs.transposeB;
  const kb = transB ? b.shape[r - 1]! : b.shape[r - 2]!;
  const n = transB ? b.shape[r - 2]! : b.shape[r - 1]!;
  const biasOk = !bias || (bias.shape.reduce((p, d) => p * d, 1) === n && bias.shape[bias.shape.length - 1] === n);
  if (kb !== k || n % 4 !== 0 || m === 0 || k === 0 || !biasOk) return stock();
  const simd = simdKernels(backend);
  if (!simd) return stock();
  const em = backend as EmscriptenBackend;
  // Batch dims: equal, or all 1 on one side (that operand is shared by every batch).
  const prod = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const aShared = prod(batchA) === 1;
  const bShared = prod(batchB) === 1;
  if (!aShared && !bShared && !batchA.every((d, i) => d === batchB[i])) return stock();
  const outBatch = aShared ? batchB : batchA;
  const batch = prod(outBatch);
  const out = backend.makeOutput([...outBatch, m, n], 'float32');
  if (batch === 0) return out;
  const mb = m <= FUSED_MATMUL_MAX_BLOCK_ROWS ? m : FUSED_MATMUL_MAX_BLOCK_ROWS;
  simdCalls.fusedMatMul++;
  // Scratch: the packed right-hand matrix.
  withScratch(em, '_FusedMatMul', [k * n * 4], (bp) => {
    const [pa, pb, po] = [heapOffset(em, a.dataId), heapOffset(em, b.dataId), heapOffset(em, out.dataId)];
    const pbias = bias ? heapOffset(em, bias.dataId) : 0;
    for (let i = 0; i < batch; i++) {
      simd.pointwise_gemm(
        pa + (aShared ? 0 : i * m * k * 4), pb + (bShared ? 0 : i * k * n * 4), pbias, po + i * m * n * 4, bp!,
        m, k, n, transB ? 1 : 0, activation === 'relu' ? 1 : 0, mb,
      );
    }
  });
  return out;
}

export const fusedMatMulKernel = fusedMatMulWasm as unknown as KernelFunc;
