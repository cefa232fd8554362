import { backend_util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { backendFlag } from '../flags';
import { type WasmBackendLike, runWasm } from './kernel-utils';
import { type EmscriptenBackend, heapOffset, simdCalls, simdKernels } from './simd-module';

/** `BOT_MAXPOOL_GRAD_SIMD=never` keeps the JS loop below (A/B); read on every call. */
const simdWanted = (): boolean => backendFlag('BOT_MAXPOOL_GRAD_SIMD') !== 'never';

/**
 * MaxPoolGrad (NHWC, dilation 1): dx gets dy at the first maximum of each window, as the cpu
 * backend picks it. One pass over the windows with the channels innermost (contiguous); stock
 * wasm is slow here (docs/SPEED.md (kernel dispatch measurements)). With our SIMD module
 * (csrc/conv.c max_pool_grad: 4 channels per vector, the same window order and tie rule)
 * it is one call; the JS loop remains the fallback where the module cannot run.
 */
function maxPoolGradWasm(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  backend: WasmBackendLike;
  attrs: { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number | backend_util.ExplicitPadding; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  if (input.dtype !== 'float32' || input.shape.length !== 4) return runWasm('MaxPoolGrad', backend, inputs as unknown as Record<string, TensorInfo>, attrs);
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const dx = backend.makeOutput(input.shape, 'float32');
  const simd = dy.dtype === 'float32' && simdWanted() ? simdKernels(backend) : null;
  if (simd) {
    const em = backend as EmscriptenBackend;
    simdCalls.maxPoolGrad++;
    simd.max_pool_grad(
      heapOffset(em, input.dataId), heapOffset(em, dy.dataId), heapOffset(em, dx.dataId),
      n, h, w, c, oh, ow, fh, fw, sh, sw, info.padInfo.top, info.padInfo.left,
    );
    return dx;
  }
  const dxv = backend.typedArrayFromHeap(dx) as Float32Array;
  const xv = backend.typedArrayFromHeap(input) as Float32Array;
  const dyv = backend.typedArrayFromHeap(dy) as Float32Array;
  dxv.fill(0);
  const best = new Float32Array(c);
  const pos = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - info.padInfo.top;
      const yMin = Math.max(0, y0);
      const yMax = Math.min(h, y0 + fh);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - info.padInfo.left;
        const xMin = Math.max(0, x0);
        const xMax = Math.min(w, x0 + fw);
        best.fill(Number.NEGATIVE_INFINITY);
        pos.fill(-1);
        for (let y = yMin; y < yMax; y++) {
          for (let x = xMin; x < xMax; x++) {
            const base = ((b * h + y) * w + x) * c;
            for (let ci = 0; ci < c; ci++) {
              const v = xv[base + ci]!;
              if (v > best[ci]!) {
                best[ci] = v;
                pos[ci] = base + ci;
              }
            }
          }
        }
        const dyBase = ((b * oh + oy) * ow + ox) * c;
        for (let ci = 0; ci < c; ci++) {
          const p = pos[ci]!;
          if (p >= 0) dxv[p]! += dyv[dyBase + ci]!;
        }
      }
    }
  }
  return dx;
}

export const maxPoolGradKernel = maxPoolGradWasm as unknown as KernelFunc;
