import { slice_util, type KernelFunc, type Tensor, type TensorInfo } from '@tensorflow/tfjs-core';
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

/**
 * Slice as a few large copies on the heap: trailing axes taken whole are merged into one
 * contiguous run. Stock wasm first copies the whole input out of the heap (readSync) and then
 * copies one innermost row at a time.
 */
function sliceWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: { begin: number | number[]; size?: number | number[] } }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype === 'string') return runWasm('Slice', backend, inputs, attrs);
  const [begin, size] = slice_util.parseSliceParams(x as unknown as Tensor, attrs.begin, attrs.size) as [number[], number[]];
  const shape = x.shape;
  const rank = shape.length;
  const out = backend.makeOutput(size, x.dtype);
  if (size.some((d) => d === 0)) return out;
  // Views after makeOutput: growing the heap detaches earlier ones.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const strides = new Array<number>(rank);
  for (let a = rank - 1, s = 1; a >= 0; a--) {
    strides[a] = s;
    s *= shape[a]!;
  }
  // r: the outermost axis of the contiguous run; every axis after it is taken whole.
  let r = rank - 1;
  while (r > 0 && begin[r] === 0 && size[r] === shape[r]) r--;
  const run = size[r]! * strides[r]!;
  const outer = size.slice(0, r);
  const count = outer.reduce((p, d) => p * d, 1);
  const idx = new Array<number>(r).fill(0);
  let o = 0;
  for (let i = 0; i < count; i++) {
    let off = begin[r]! * strides[r]!;
    for (let a = 0; a < r; a++) off += (begin[a]! + idx[a]!) * strides[a]!;
    dst.set(src.subarray(off, off + run), o);
    o += run;
    for (let a = r - 1; a >= 0; a--) {
      if (++idx[a]! < outer[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

export const sliceKernel = sliceWasm as unknown as KernelFunc;
