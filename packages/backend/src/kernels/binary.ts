import { backend_util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, runWasm } from './kernel-utils';
import { type EmscriptenBackend, heapOffset, simdCalls, simdKernels } from './simd-module';

const OPS = { Add: 0, Sub: 1, Multiply: 2 } as const;
type BinaryName = keyof typeof OPS;

const sizeOf = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/**
 * The period of `small` along `full` (shape `out`) when `small` is `out`'s trailing axes with only
 * leading ones before them ([1,1,1,C] or [C] against [N,H,W,C]), else 0.
 */
function trailingPeriod(small: readonly number[], out: readonly number[]): number {
  let k = 0;
  while (k < small.length && small[k] === 1) k++;
  const tail = small.slice(k);
  if (tail.length > out.length) return 0;
  const outTail = out.slice(out.length - tail.length);
  return tail.every((d, i) => d === outTail[i]) ? sizeOf(tail) : 0;
}

/**
 * Add / Sub / Multiply of float32 tensors where one side is a per-channel (trailing-axes) vector
 * broadcast over the other: one SIMD pass (csrc/conv.c binary_broadcast). Stock wasm runs a
 * scalar index loop for broadcasts (about 4x slower; docs/SPEED.md (kernel dispatch measurements)). Same-shape and scalar
 * operands, other dtypes and other broadcasts go to the stock kernel, which is fast there.
 */
function binaryWasm(name: BinaryName) {
  return (args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: WasmBackendLike }): TensorInfo => {
    const { inputs, backend } = args;
    const { a, b } = inputs;
    if (a.dtype === 'float32' && b.dtype === 'float32') {
      const out = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const n = sizeOf(out);
      const aFull = sizeOf(a.shape) === n && a.shape.length === out.length;
      const bFull = sizeOf(b.shape) === n && b.shape.length === out.length;
      let full: TensorInfo | null = null;
      let small: TensorInfo | null = null;
      if (aFull && !bFull) [full, small] = [a, b];
      else if (bFull && !aFull) [full, small] = [b, a];
      const p = full && small ? trailingPeriod(small.shape, out) : 0;
      const simd = p > 1 && n > 0 && n % p === 0 ? simdKernels(backend) : null;
      if (simd && full && small) {
        const em = backend as EmscriptenBackend;
        const result = backend.makeOutput(out, 'float32');
        simdCalls.binary++;
        simd.binary_broadcast(
          heapOffset(em, full.dataId), heapOffset(em, small.dataId), heapOffset(em, result.dataId),
          n, p, small === a ? 1 : 0, OPS[name],
        );
        return result;
      }
    }
    return runWasm(name, backend, inputs);
  };
}

export const addKernel = binaryWasm('Add') as unknown as KernelFunc;
export const subKernel = binaryWasm('Sub') as unknown as KernelFunc;
export const multiplyKernel = binaryWasm('Multiply') as unknown as KernelFunc;
