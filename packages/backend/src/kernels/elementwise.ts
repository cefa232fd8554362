import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, release, runWasm } from './kernel-utils';

/**
 * Identity, and Cast to the same dtype, share the input's buffer (ref-counted, as the cpu
 * backend does); stock wasm copies it. A training step of tf.layers ResNet-20 makes ~700 of
 * them. Nothing in tfjs writes into a kernel's input, so sharing is safe.
 */
function share(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

function identityWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike }): TensorInfo {
  const { inputs, backend } = args;
  if (inputs.x.dtype === 'string') return runWasm('Identity', backend, inputs);
  return share(backend, inputs.x);
}

function castWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: { dtype: string } }): TensorInfo {
  const { inputs, backend, attrs } = args;
  if (attrs.dtype === inputs.x.dtype && inputs.x.dtype !== 'string') return share(backend, inputs.x);
  return runWasm('Cast', backend, inputs, attrs);
}

/**
 * FusedBatchNorm (tf.batchNorm) with per-channel statistics, as one XNNPACK depthwise 1x1
 * convolution with bias: y = x * a + b, a = scale / sqrt(variance + eps), b = offset - mean * a
 * (PyTorch's CPU batch norm uses the same form). Stock wasm runs a scalar C++ loop, about 2.5x
 * slower. Other statistic shapes go to stock.
 */
function fusedBatchNormWasm(args: {
  inputs: { x: TensorInfo; mean: TensorInfo; variance: TensorInfo; offset?: TensorInfo; scale?: TensorInfo };
  backend: WasmBackendLike;
  attrs: { varianceEpsilon: number };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, mean, variance, offset, scale } = inputs;
  const c = x.shape[x.shape.length - 1]!;
  const size = (t: TensorInfo) => t.shape.reduce((p, d) => p * d, 1);
  const perChannel = (t: TensorInfo | undefined) => t == null || (size(t) === c && t.shape[t.shape.length - 1] === c);
  const fast =
    x.shape.length === 4 &&
    x.dtype === 'float32' &&
    size(x) > 0 &&
    [mean, variance, offset, scale].every((t) => perChannel(t) && (t == null || t.dtype === 'float32'));
  if (!fast) return runWasm('FusedBatchNorm', backend, inputs as Record<string, TensorInfo>, attrs);
  const filter = backend.makeOutput([1, 1, c, 1], 'float32');
  const bias = backend.makeOutput([c], 'float32');
  const a = backend.typedArrayFromHeap(filter) as Float32Array;
  const b = backend.typedArrayFromHeap(bias) as Float32Array;
  const m = backend.typedArrayFromHeap(mean);
  const v = backend.typedArrayFromHeap(variance);
  const s = scale ? backend.typedArrayFromHeap(scale) : undefined;
  const o = offset ? backend.typedArrayFromHeap(offset) : undefined;
  for (let i = 0; i < c; i++) {
    // Math.fround: the same float32 rounding as tfjs's rsqrt and multiplies.
    const ai = Math.fround((s ? s[i]! : 1) * Math.fround(1 / Math.sqrt(Math.fround(v[i]! + attrs.varianceEpsilon))));
    a[i] = ai;
    b[i] = (o ? o[i]! : 0) - m[i]! * ai;
  }
  const out = runWasm('FusedDepthwiseConv2D', backend, { x, filter, bias }, {
    strides: [1, 1],
    pad: 'valid',
    dilations: [1, 1],
    dataFormat: 'NHWC',
    activation: 'linear',
  });
  release(backend, filter, bias);
  return out;
}

export const identityKernel = identityWasm as unknown as KernelFunc;
export const castKernel = castWasm as unknown as KernelFunc;
export const fusedBatchNormKernel = fusedBatchNormWasm as unknown as KernelFunc;
