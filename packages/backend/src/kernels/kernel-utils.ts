import * as tf from '@tensorflow/tfjs-core';

type TensorInfo = tf.TensorInfo;

/** The slice of tfjs-backend-wasm's `BackendWasm` our kernels use. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

export type Attrs = Record<string, unknown>;

/**
 * Stock kernels we replace, captured before we register ours, so a replacement can still
 * fall back to them and `unregisterWasmTrainingKernels` can restore them.
 */
export const stockKernels = new Map<string, tf.KernelConfig>();

/** Runs a wasm kernel function directly on TensorInfos (kernels calling kernels, no engine). */
export function runWasm(
  name: string,
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo>,
  attrs: Attrs = {},
): TensorInfo {
  const config = stockKernels.get(name) ?? tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`Kernel '${name}' is not registered for backend 'wasm'; import '@tensorflow/tfjs-backend-wasm' first.`);
  return config.kernelFunc({
    inputs,
    attrs: attrs as tf.NamedAttrMap,
    backend: backend as unknown as tf.KernelBackend,
  }) as TensorInfo;
}

/** Frees intermediates made by `runWasm` (reshapes share data and are ref-counted). */
export function release(backend: WasmBackendLike, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

export const reshapeInfo = (backend: WasmBackendLike, x: TensorInfo, shape: number[]): TensorInfo =>
  runWasm('Reshape', backend, { x }, { shape });

export const transposeInfo = (backend: WasmBackendLike, x: TensorInfo, perm: number[]): TensorInfo =>
  runWasm('Transpose', backend, { x }, { perm });

/** The forward conv's geometry (NHWC) as tfjs-core computes it, for a backprop kernel's attrs. */
export function forwardConvInfo(
  inputShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: { strides: number | [number, number]; dilations?: number | [number, number]; pad: unknown; dimRoundingMode?: 'floor' | 'round' | 'ceil' },
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as 'same',
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
}

/**
 * Pads of the filter-gradient conv (x correlated with dy, dilated by the stride): the forward
 * pads on top/left, and whatever makes the output exactly the filter's extent on bottom/right
 * (negative means the forward conv never read those input rows).
 */
export function backpropFilterPads(info: tf.backend_util.Conv2DInfo): { top: number; bottom: number; left: number; right: number } {
  const { top, left } = info.padInfo;
  return {
    top,
    left,
    bottom: (info.filterHeight - 1) * info.dilationHeight + (info.outHeight - 1) * info.strideHeight + 1 - info.inHeight - top,
    right: (info.filterWidth - 1) * info.dilationWidth + (info.outWidth - 1) * info.strideWidth + 1 - info.inWidth - left,
  };
}

export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Pads that may be negative mean "crop": a conv is run with the pads clamped at zero, and the
 * rows and columns the negative pads would have dropped are sliced off its output.
 */
export function convWithSignedPads(
  backend: WasmBackendLike,
  kernel: 'Conv2D' | 'DepthwiseConv2dNative',
  x: TensorInfo,
  filter: TensorInfo,
  pads: { top: number; bottom: number; left: number; right: number },
  strides: [number, number],
  dilations: [number, number],
  outHeight: number,
  outWidth: number,
): TensorInfo {
  const pad: ExplicitPad = [
    [0, 0],
    [Math.max(0, pads.top), Math.max(0, pads.bottom)],
    [Math.max(0, pads.left), Math.max(0, pads.right)],
    [0, 0],
  ];
  const isValid = pad[1][0] === 0 && pad[1][1] === 0 && pad[2][0] === 0 && pad[2][1] === 0;
  const out = runWasm(kernel, backend, { x, filter }, {
    strides,
    dilations,
    pad: isValid ? 'valid' : pad,
    dataFormat: 'NHWC',
  });
  const offH = Math.max(0, -pads.top);
  const offW = Math.max(0, -pads.left);
  const [n, h, w, c] = out.shape as [number, number, number, number];
  if (offH === 0 && offW === 0 && h === outHeight && w === outWidth) return out;
  if (h < offH + outHeight || w < offW + outWidth) {
    release(backend, out);
    throw new Error(`internal: conv output ${h}x${w} too small for ${outHeight}x${outWidth} at ${offH},${offW}`);
  }
  const sliced = runWasm('Slice', backend, { x: out }, { begin: [0, offH, offW, 0], size: [n, outHeight, outWidth, c] });
  release(backend, out);
  return sliced;
}

/**
 * Inserts stride-1 zeros after every row and column of dy: [N, OH, OW, C] becomes
 * [N, OH*sh, OW*sw, C]; the trailing zero rows and columns are accounted for by the caller.
 */
export function zeroInsert(backend: WasmBackendLike, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [n, oh, ow, c] = dy.shape as [number, number, number, number];
  if (sh === 1 && sw === 1) return reshapeInfo(backend, dy, dy.shape);
  const r = reshapeInfo(backend, dy, [n * oh, 1, ow, 1, c]);
  const padded = runWasm('PadV2', backend, { x: r }, {
    paddings: [[0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
    constantValue: 0,
  });
  release(backend, r);
  const out = reshapeInfo(backend, padded, [n, oh * sh, ow * sw, c]);
  release(backend, padded);
  return out;
}
