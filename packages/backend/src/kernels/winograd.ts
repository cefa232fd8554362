import { backend_util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { backendFlag } from '../flags';
import { forwardConvInfo, runWasm } from './kernel-utils';
import { type EmscriptenBackend, heapOffset, simdCalls, simdKernels, type SimdExports, withScratch } from './simd-module';

/** Which conv the Winograd kernel stands in for. */
export type WinogradUse = 'forward' | 'backpropInput' | 'backpropFilter';

/**
 * Where Winograd F(2x2,3x3) (csrc/conv.c) takes over from XNNPACK's direct conv: 3x3, stride 1,
 * dilation 1, C and O multiples of 4, and the conv's input at least `minPixels` (H*W) with both
 * channel counts at least `minChannels`, from bench/kernels.mjs (docs/SPEED.md (kernel dispatch measurements)): Winograd won on every
 * ResNet-20 / ResNet-50 3x3 shape and lost with 8 channels and on 1x1 images (one output pixel
 * uses only the centre tap, and a tile still costs 16 products). The filter gradient (F(3x3,2x2))
 * needs 16 pixels: at 2x2x512, 32 tiles do not amortise the 16 accumulated 512x512 products.
 */
export const WINOGRAD_DISPATCH: ReadonlyArray<{ use: WinogradUse; minPixels: number; minChannels: number }> = [
  { use: 'forward', minPixels: 4, minChannels: 16 },
  { use: 'backpropInput', minPixels: 4, minChannels: 16 },
  { use: 'backpropFilter', minPixels: 16, minChannels: 16 },
];

/**
 * Whether a 3x3, stride-1, dilation-1 conv of this shape goes to Winograd. `BOT_WINOGRAD=always`
 * or `never` overrides the table (benchmarks A/B the two in one process; read on every call).
 */
export function winogradWanted(use: WinogradUse, inH: number, inW: number, inC: number, outC: number): boolean {
  if (inC % 4 !== 0 || outC % 4 !== 0) return false;
  const force = backendFlag('BOT_WINOGRAD');
  if (force === 'never') return false;
  if (force === 'always') return true;
  return WINOGRAD_DISPATCH.some((d) => d.use === use && inH * inW >= d.minPixels && Math.min(inC, outC) >= d.minChannels);
}

/**
 * Bytes of the per-block scratch (transformed input and products of T tiles, T >= 4), with the 16
 * planes padded apart (best measured; docs/SPEED.md).
 */
const WINOGRAD_BLOCK_BYTES = 128 * 1024;

/**
 * out [N, OH, OW, O] = 3x3 stride-1 conv of x [N, H, W, C] (pads top/left given, bottom/right
 * implied by OH/OW) with `filter` [3,3,C,O], or with its flipped, channel-swapped version when
 * swap (then the filter is [3,3,O,C] and out has C channels: the input gradient). Bias [O] and
 * relu fused.
 */
export function winogradConv3x3(
  simd: SimdExports,
  backend: EmscriptenBackend,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | null,
  relu: boolean,
  geom: { outHeight: number; outWidth: number; padTop: number; padLeft: number },
  swap: boolean,
): TensorInfo {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const [, , fc, fo] = filter.shape as [number, number, number, number];
  const o = swap ? fc : fo;
  const { outHeight: oh, outWidth: ow } = geom;
  const tiles = n * Math.ceil(oh / 2) * Math.ceil(ow / 2);
  const perTile = 16 * (c + o) * 4;
  const t = Math.max(4, Math.min(Math.ceil(tiles / 4) * 4, Math.floor(WINOGRAD_BLOCK_BYTES / perTile / 4) * 4));
  const out = backend.makeOutput([n, oh, ow, o], 'float32');
  simdCalls.winograd++;
  // Scratch: the transformed filter, input and output tile planes (padded by 16 floats, csrc/conv.c), the swap buffer.
  const sizes = [16 * c * o * 4, 16 * (t * c + 16) * 4, 16 * (t * o + 16) * 4, swap ? 16 * c * o * 4 : 0];
  withScratch(backend, 'Winograd conv', sizes, (u, v, m, tmp) => {
    simd.winograd_filter(heapOffset(backend, filter.dataId), u!, fc, fo, swap ? 1 : 0, tmp!);
    simd.winograd_conv3x3(
      heapOffset(backend, x.dataId), u!, bias ? heapOffset(backend, bias.dataId) : 0, heapOffset(backend, out.dataId), v!, m!,
      n, h, w, c, o, oh, ow, geom.padTop, geom.padLeft, t, relu ? 1 : 0,
    );
  });
  return out;
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: unknown;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
  leakyreluAlpha?: number;
}

/** The forward conv's geometry when Winograd takes it, else null. */
function winogradForwardGeometry(backend: EmscriptenBackend, x: TensorInfo, filter: TensorInfo, attrs: ConvAttrs) {
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return null;
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') return null;
  const [fh, fw, c, o] = filter.shape as [number, number, number, number];
  if (fh !== 3 || fw !== 3) return null;
  const info = forwardConvInfo(x.shape as [number, number, number, number], [fh, fw, c, o], attrs, false);
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  if (info.outHeight <= 0 || info.outWidth <= 0 || info.batchSize === 0) return null;
  if (!winogradWanted('forward', info.inHeight, info.inWidth, c, o)) return null;
  const simd = simdKernels(backend);
  if (!simd) return null;
  return { simd, geom: { outHeight: info.outHeight, outWidth: info.outWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left } };
}

/**
 * 1x1, stride 1, unpadded convs as one GEMM on our SIMD module (csrc/conv.c pointwise_gemm):
 * out [N*H*W, O] = x [N*H*W, C] filter [C, O], bias and relu fused; with transposed the filter is
 * used as [O, C]^T (the input gradient dx = dy w^T). Output channels must be a multiple of 4.
 * Measured against XNNPACK on ResNet-50's 1x1 layers at 64px (batch 32, CPU ms): forward
 * 1.07-1.4x, input gradient 1.0-1.8x (packed filter panels). `BOT_POINTWISE=never|always` overrides.
 */
export function pointwiseWanted(_use: WinogradUse, _reduction: number, outChannels: number): boolean {
  if (outChannels % 4 !== 0) return false;
  return backendFlag('BOT_POINTWISE') !== 'never';
}
/** Rows of x per block: the block (rows x reduction floats) stays in L1 while all column blocks run. */
const POINTWISE_BLOCK_BYTES = 16 * 1024;

export function pointwiseConv(
  simd: SimdExports,
  backend: EmscriptenBackend,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | null,
  relu: boolean,
  transposed: boolean,
): TensorInfo {
  const [n, h, w, k] = x.shape as [number, number, number, number];
  const [, , fc, fo] = filter.shape as [number, number, number, number];
  const o = transposed ? fc : fo;
  const rows = n * h * w;
  const out = backend.makeOutput([n, h, w, o], 'float32');
  const mb = Math.max(4, Math.floor(POINTWISE_BLOCK_BYTES / (k * 4) / 4) * 4);
  simdCalls.pointwise++;
  // Scratch: the packed filter.
  withScratch(backend, 'pointwise conv', [k * o * 4], (bt) =>
    simd.pointwise_gemm(
      heapOffset(backend, x.dataId), heapOffset(backend, filter.dataId), bias ? heapOffset(backend, bias.dataId) : 0,
      heapOffset(backend, out.dataId), bt!, rows, k, o, transposed ? 1 : 0, relu ? 1 : 0, mb,
    ),
  );
  return out;
}

/** Whether a forward conv is a pointwise GEMM we take: 1x1, stride 1, no padding, float32 NHWC. */
function pointwisePlan(backend: EmscriptenBackend, x: TensorInfo, filter: TensorInfo, attrs: ConvAttrs): SimdExports | null {
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return null;
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') return null;
  const [fh, fw, c, o] = filter.shape as [number, number, number, number];
  if (fh !== 1 || fw !== 1 || !pointwiseWanted('forward', c, o)) return null;
  const info = forwardConvInfo(x.shape as [number, number, number, number], [fh, fw, c, o], attrs, false);
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  const p = info.padInfo;
  if (p.top !== 0 || p.left !== 0 || p.bottom !== 0 || p.right !== 0 || info.batchSize === 0 || c === 0) return null;
  return simdKernels(backend);
}

type KernelArgs = { inputs: Record<string, TensorInfo | undefined>; backend: EmscriptenBackend; attrs: ConvAttrs };

const stock = (name: string, args: KernelArgs): TensorInfo =>
  runWasm(name, args.backend, args.inputs as Record<string, TensorInfo>, args.attrs as unknown as Record<string, unknown>);

/** Conv2D on wasm: Winograd where the dispatch table says so, else the stock XNNPACK kernel. */
export function conv2DWasm(args: KernelArgs): TensorInfo {
  const { x, filter } = args.inputs;
  const pw = x && filter ? pointwisePlan(args.backend, x, filter, args.attrs) : null;
  if (pw) return pointwiseConv(pw, args.backend, x!, filter!, null, false, false);
  const plan = x && filter ? winogradForwardGeometry(args.backend, x, filter, args.attrs) : null;
  if (!plan) return stock('Conv2D', args);
  return winogradConv3x3(plan.simd, args.backend, x!, filter!, null, false, plan.geom, false);
}

/** FusedConv2D on wasm: Winograd with bias and linear/relu fused; other activations stay on the stock kernel. */
export function fusedConv2DWasm(args: KernelArgs): TensorInfo {
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const activation = args.attrs.activation ?? 'linear';
  const o = filter?.shape[3];
  const biasOk = !bias || (bias.dtype === 'float32' && bias.shape.reduce((a, b) => a * b, 1) === o && bias.shape.length <= 1);
  const fusable = x && filter && !preluActivationWeights && biasOk && (activation === 'linear' || activation === 'relu');
  const pw = fusable ? pointwisePlan(args.backend, x!, filter!, args.attrs) : null;
  if (pw) return pointwiseConv(pw, args.backend, x!, filter!, bias ?? null, activation === 'relu', false);
  const plan = fusable ? winogradForwardGeometry(args.backend, x!, filter!, args.attrs) : null;
  if (!plan) return stock('FusedConv2D', args);
  return winogradConv3x3(plan.simd, args.backend, x!, filter!, bias ?? null, activation === 'relu', plan.geom, false);
}

/** dx of a 1x1, stride-1, unpadded conv as one GEMM with the transposed filter, or null. */
export function pointwiseBackpropInput(
  backend: EmscriptenBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | null {
  if (info.filterHeight !== 1 || info.filterWidth !== 1 || info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  const p = info.padInfo;
  if (p.top !== 0 || p.left !== 0 || p.bottom !== 0 || p.right !== 0) return null;
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32' || info.batchSize === 0 || info.outChannels === 0) return null;
  if (!pointwiseWanted('backpropInput', info.outChannels, info.inChannels)) return null;
  const simd = simdKernels(backend);
  return simd ? pointwiseConv(simd, backend, dy, filter, null, false, true) : null;
}

/**
 * Bytes of the filter gradient's per-block scratch: larger than the forward's, since every block
 * reads and writes all 16 accumulated C x O products (best measured; docs/SPEED.md).
 */
const WINOGRAD_FILTER_BLOCK_BYTES = 512 * 1024;

/**
 * dW of a stride-1, dilation-1 3x3 conv by Winograd F(3x3,2x2) (csrc/conv.c
 * winograd_backprop_filter) when the table takes it, else null.
 */
export function winogradBackpropFilter(
  backend: EmscriptenBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | null {
  if (info.filterHeight !== 3 || info.filterWidth !== 3 || info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  if (info.batchSize === 0 || info.outHeight === 0 || info.outWidth === 0) return null;
  const { inChannels: c, outChannels: o } = info;
  if (!winogradWanted('backpropFilter', info.inHeight, info.inWidth, c, o)) return null;
  const simd = simdKernels(backend);
  if (!simd) return null;
  const tiles = info.batchSize * Math.ceil(info.outHeight / 2) * Math.ceil(info.outWidth / 2);
  const t = Math.max(4, Math.min(tiles, Math.floor(WINOGRAD_FILTER_BLOCK_BYTES / (16 * (c + o) * 4))));
  const out = backend.makeOutput([3, 3, c, o], 'float32');
  simdCalls.winograd++;
  // Scratch: the transformed-gradient accumulator, input and dy tile planes (padded by 16 floats, csrc/conv.c), 12 bytes.
  withScratch(backend, 'Winograd filter gradient', [16 * c * o * 4, 16 * (t * c + 16) * 4, 16 * (t * o + 16) * 4, 12], (macc, v, d, seg) =>
    simd.winograd_backprop_filter(
      heapOffset(backend, x.dataId), heapOffset(backend, dy.dataId), heapOffset(backend, out.dataId), macc!, v!, d!, seg!,
      info.batchSize, info.inHeight, info.inWidth, c, o, info.outHeight, info.outWidth, info.padInfo.top, info.padInfo.left, t,
    ),
  );
  return out;
}

/**
 * dx of a stride-1, dilation-1 3x3 conv by Winograd when the table takes it, else null:
 * dx = dy correlated with the flipped, channel-swapped filter, padded by 2 - pad.
 */
export function winogradBackpropInput(
  backend: EmscriptenBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | null {
  if (info.filterHeight !== 3 || info.filterWidth !== 3 || info.strideHeight !== 1 || info.strideWidth !== 1) return null;
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || dy.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  if (info.batchSize === 0 || info.inHeight === 0 || info.inWidth === 0) return null;
  if (!winogradWanted('backpropInput', info.outHeight, info.outWidth, info.outChannels, info.inChannels)) return null;
  const simd = simdKernels(backend);
  if (!simd) return null;
  return winogradConv3x3(simd, backend, dy, filter, null, false, {
    outHeight: info.inHeight,
    outWidth: info.inWidth,
    padTop: 2 - info.padInfo.top,
    padLeft: 2 - info.padInfo.left,
  }, true);
}

export const conv2DKernel = conv2DWasm as unknown as KernelFunc;
export const fusedConv2DKernel = fusedConv2DWasm as unknown as KernelFunc;
