import * as tf from '@tensorflow/tfjs-core';
import { requireAddon } from './addon';

type TensorInfo = tf.TensorInfo;

/** The slice of tfjs-backend-wasm's BackendWasm the wrappers use. */
interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number | null } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
}

/** How often each wrapper ran natively and how often (and last why) it handed over to the kernel beneath. */
export interface NativeKernelStats {
  native: number;
  fallback: number;
  lastFallbackReason: string | null;
}
export const stats = new Map<string, NativeKernelStats>();
export const stat = (name: string): NativeKernelStats => {
  let s = stats.get(name);
  if (!s) stats.set(name, (s = { native: 0, fallback: 0, lastFallbackReason: null }));
  return s;
};

/** A reason not to run natively, or the heap backend when we can. */
export function heapBackend(backend: unknown, tensors: TensorInfo[]): WasmHeapBackend | string {
  const b = backend as Partial<WasmHeapBackend>;
  if (!b || !b.wasm?.HEAPU8 || !b.dataIdMap || typeof b.makeOutput !== 'function') return 'backend is not tfjs-backend-wasm';
  for (const t of tensors) {
    if (t.dtype !== 'float32') return `dtype ${t.dtype} (native kernels are float32 only)`;
    if (t.shape.some((d) => d === 0)) return 'empty tensor';
    const offset = b.dataIdMap.get(t.dataId)?.memoryOffset;
    if (offset == null) return 'tensor not on the wasm heap';
  }
  return b as WasmHeapBackend;
}
const offsetOf = (b: WasmHeapBackend, t: TensorInfo): number => b.dataIdMap.get(t.dataId)!.memoryOffset!;

type ConvAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
  leakyreluAlpha?: number;
  inputShape?: number[];
  filterShape?: number[];
};

const geometry = (info: tf.backend_util.Conv2DInfo): number[] => [
  info.batchSize,
  info.inHeight,
  info.inWidth,
  info.inChannels,
  info.filterHeight,
  info.filterWidth,
  info.outChannels,
  info.outHeight,
  info.outWidth,
  info.strideHeight,
  info.strideWidth,
  info.dilationHeight,
  info.dilationWidth,
  info.padInfo.top,
  info.padInfo.left,
];

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: ConvAttrs,
): tf.backend_util.Conv2DInfo | string {
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC') return `dataFormat ${attrs.dataFormat} (native kernels are NHWC only)`;
  if (xShape.length !== 4 || filterShape.length !== 4) return 'not a rank-4 conv';
  if (xShape[3] !== filterShape[2]) return 'input channels do not match the filter';
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as 'same',
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

type Attempt = (args: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap; backend: unknown }) => TensorInfo | string;

const conv2DAttempt =
  (fused: boolean): Attempt =>
  ({ inputs, attrs: rawAttrs, backend }) => {
    const attrs = rawAttrs as unknown as ConvAttrs;
    const { x, filter, bias, preluActivationWeights } = inputs as Record<string, TensorInfo | undefined>;
    if (!x || !filter) return 'missing inputs';
    if (fused) {
      const act = attrs.activation ?? 'linear';
      if (act !== 'linear' && act !== 'relu') return `activation '${act}' (native: linear, relu)`;
      if (preluActivationWeights) return 'prelu weights';
    }
    const b = heapBackend(backend, bias ? [x, filter, bias] : [x, filter]);
    if (typeof b === 'string') return b;
    const info = convInfo(x.shape, filter.shape, attrs);
    if (typeof info === 'string') return info;
    if (bias && tf.util.sizeFromShape(bias.shape) !== info.outChannels) return `bias of shape [${bias.shape}] is not per output channel`;
    const out = b.makeOutput(info.outShape, 'float32');
    const params = Float64Array.of(
      offsetOf(b, x),
      offsetOf(b, filter),
      offsetOf(b, out),
      bias ? offsetOf(b, bias) : -1,
      fused && attrs.activation === 'relu' ? 1 : 0,
      ...geometry(info),
    );
    requireAddon().conv2d(b.wasm.HEAPU8, params); // HEAPU8 read after makeOutput: memory.grow replaces it
    return out;
  };

const backpropInputAttempt: Attempt = ({ inputs, attrs: rawAttrs, backend }) => {
  const attrs = rawAttrs as unknown as ConvAttrs;
  const { dy, filter } = inputs as Record<string, TensorInfo | undefined>;
  if (!dy || !filter || !attrs.inputShape) return 'missing inputs';
  const b = heapBackend(backend, [dy, filter]);
  if (typeof b === 'string') return b;
  const info = convInfo(attrs.inputShape, filter.shape, attrs);
  if (typeof info === 'string') return info;
  if (info.outHeight !== dy.shape[1] || info.outWidth !== dy.shape[2] || info.outChannels !== dy.shape[3] || info.batchSize !== dy.shape[0]) {
    return `dy of shape [${dy.shape}] does not match the forward conv's output [${info.outShape}]`;
  }
  const out = b.makeOutput(info.inShape, 'float32');
  requireAddon().conv2dBackpropInput(b.wasm.HEAPU8, Float64Array.of(offsetOf(b, dy), offsetOf(b, filter), offsetOf(b, out), ...geometry(info)));
  return out;
};

const backpropFilterAttempt: Attempt = ({ inputs, attrs: rawAttrs, backend }) => {
  const attrs = rawAttrs as unknown as ConvAttrs;
  const { x, dy } = inputs as Record<string, TensorInfo | undefined>;
  if (!x || !dy || !attrs.filterShape) return 'missing inputs';
  const b = heapBackend(backend, [x, dy]);
  if (typeof b === 'string') return b;
  const info = convInfo(x.shape, attrs.filterShape, attrs);
  if (typeof info === 'string') return info;
  if (info.outHeight !== dy.shape[1] || info.outWidth !== dy.shape[2] || info.outChannels !== dy.shape[3] || info.batchSize !== dy.shape[0]) {
    return `dy of shape [${dy.shape}] does not match the forward conv's output [${info.outShape}]`;
  }
  const out = b.makeOutput(attrs.filterShape, 'float32');
  requireAddon().conv2dBackpropFilter(b.wasm.HEAPU8, Float64Array.of(offsetOf(b, x), offsetOf(b, dy), offsetOf(b, out), ...geometry(info)));
  return out;
};

type PadAttrs = { paddings: Array<[number, number]>; constantValue?: number };

// PadV2 with a constant: the stride-2 convs' explicit padding (src/native/pad.h). A copy, bitwise the wasm kernel's.
const padAttempt: Attempt = ({ inputs, attrs: rawAttrs, backend }) => {
  const { paddings, constantValue = 0 } = rawAttrs as unknown as PadAttrs;
  const { x } = inputs as Record<string, TensorInfo | undefined>;
  if (!x) return 'missing inputs';
  const rank = x.shape.length;
  if (rank < 1 || rank > 16) return `rank ${rank} (native: 1-16)`;
  if (!Array.isArray(paddings) || paddings.length !== rank) return 'paddings do not match the rank';
  const before = paddings.map((p) => p[0]);
  const after = paddings.map((p) => p[1]);
  if ([...before, ...after].some((p) => !Number.isInteger(p) || p < 0)) return `paddings ${JSON.stringify(paddings)} (native: non-negative integers)`;
  const b = heapBackend(backend, [x]);
  if (typeof b === 'string') return b;
  const out = b.makeOutput(
    x.shape.map((d, i) => d + before[i]! + after[i]!),
    'float32',
  );
  requireAddon().padV2(b.wasm.HEAPU8, Float64Array.of(offsetOf(b, x), offsetOf(b, out), rank, constantValue, ...x.shape, ...before, ...after));
  return out;
};

/** Kernels we wrap on 'wasm', with what runs natively. */
export const NATIVE_KERNELS: ReadonlyArray<{ kernelName: string; attempt: Attempt; native: string }> = [
  { kernelName: 'Conv2D', attempt: conv2DAttempt(false), native: 'NHWC float32, any stride/padding/dilation' },
  { kernelName: 'FusedConv2D', attempt: conv2DAttempt(true), native: 'as Conv2D, plus a per-channel bias and linear/relu' },
  { kernelName: 'Conv2DBackpropInput', attempt: backpropInputAttempt, native: 'NHWC float32, any stride/padding/dilation' },
  { kernelName: 'Conv2DBackpropFilter', attempt: backpropFilterAttempt, native: 'NHWC float32, any stride/padding/dilation' },
  { kernelName: 'PadV2', attempt: padAttempt, native: 'float32, any rank up to 16, a constant value (a threaded copy)' },
];

const ours = new WeakSet<tf.KernelFunc>();
/** What each wrapper wraps: the kernel registered beneath it when we registered. */
const beneath = new Map<string, tf.KernelConfig | undefined>();

function wrap(kernelName: string, attempt: Attempt, prev: tf.KernelConfig | undefined): tf.KernelFunc {
  const func: tf.KernelFunc = (args) => {
    const result = attempt(args as Parameters<Attempt>[0]);
    const s = stat(kernelName);
    if (typeof result !== 'string') {
      s.native++;
      return result;
    }
    s.fallback++;
    s.lastFallbackReason = result;
    if (!prev) {
      throw new Error(
        `@bag-of-tricks/native-kernels: ${kernelName} cannot run natively (${result}) and no wasm kernel was registered beneath it to fall back to; ` +
          "import '@tensorflow/tfjs-backend-wasm' (and call registerWasmTrainingKernels()) before registerNativeKernels().",
      );
    }
    return prev.kernelFunc(args);
  };
  ours.add(func);
  return func;
}

/** Wraps the current 'wasm' kernels. Returns the kernel names now served by our wrappers. */
export function registerWrappers(): string[] {
  const names: string[] = [];
  for (const { kernelName, attempt } of NATIVE_KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    names.push(kernelName);
    if (current && ours.has(current.kernelFunc)) continue;
    if (current) tf.unregisterKernel(kernelName, 'wasm');
    beneath.set(kernelName, current);
    const config: tf.KernelConfig = { kernelName, backendName: 'wasm', kernelFunc: wrap(kernelName, attempt, current) };
    // Keep the setup of the kernel beneath (wasm kernels bind their C++ function there).
    if (current?.setupFunc) config.setupFunc = current.setupFunc;
    if (current?.disposeFunc) config.disposeFunc = current.disposeFunc;
    tf.registerKernel(config);
  }
  return names;
}

/** Puts back the kernels our wrappers wrapped (where ours are still the ones registered). */
export function unregisterWrappers(): void {
  for (const { kernelName } of NATIVE_KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (!current || !ours.has(current.kernelFunc)) continue;
    tf.unregisterKernel(kernelName, 'wasm');
    const prev = beneath.get(kernelName);
    if (prev) tf.registerKernel(prev);
    beneath.delete(kernelName);
  }
}

/** Whether `kernelName` on 'wasm' is currently one of our wrappers. */
export function isNativeWrapper(kernelName: string): boolean {
  const current = tf.getKernel(kernelName, 'wasm');
  return !!current && ours.has(current.kernelFunc);
}
