import { backend_util, type TensorInfo, type KernelFunc } from '@tensorflow/tfjs-core';
import { backendFlag } from '../flags';
import {
  type WasmBackendLike,
  backpropFilterPads,
  forwardConvInfo,
  convWithSignedPads,
  release,
  reshapeInfo,
  runWasm,
  transposeInfo,
  zeroInsert,
} from './kernel-utils';
import { type EmscriptenBackend, heapOffset, simdCalls, simdKernels, withScratch } from './simd-module';
import { pointwiseBackpropInput, winogradBackpropFilter, winogradBackpropInput } from './winograd';

interface ConvBackpropAttrs {
  strides: number | [number, number];
  pad: backend_util.PadInfo['type'] | 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Not set by tfjs-core's conv2d gradient (it refuses dilations); honoured when a caller sets it. */
  dilations?: number | [number, number];
}

function assertNhwc(dataFormat: string | undefined, kernel: string): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} on wasm supports dataFormat 'NHWC' only, got '${dataFormat}'.`);
  }
}

const isPointwise = (info: backend_util.Conv2DInfo): boolean =>
  info.filterHeight === 1 &&
  info.filterWidth === 1 &&
  info.strideHeight === 1 &&
  info.strideWidth === 1 &&
  info.padInfo.top === 0 &&
  info.padInfo.bottom === 0 &&
  info.padInfo.left === 0 &&
  info.padInfo.right === 0;

/**
 * dW[i,j,c,o] = sum over n,y,x of xPadded[n, y*s + i*d, x*s + j*d, c] * dy[n,y,x,o].
 * That is a conv2d whose batch is C (x transposed to [C,H,W,N]) and whose filter is dy
 * transposed to [OH,OW,N,O], with dilation = the forward stride and stride = the forward
 * dilation; it runs on the wasm backend's XNNPACK Conv2D.
 */
export function conv2DBackpropFilterWasm(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: WasmBackendLike;
  attrs: ConvBackpropAttrs & { filterShape: [number, number, number, number] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  assertNhwc(attrs.dataFormat, 'Conv2DBackpropFilter');
  const info = forwardConvInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs, false);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;

  const byWinograd = winogradBackpropFilter(backend as EmscriptenBackend, x, dy, info);
  if (byWinograd) return byWinograd;
  if (x.dtype === 'float32' && dy.dtype === 'float32' && gemmBackpropFilterWanted(info)) {
    const simd = simdKernels(backend);
    if (simd) return backpropFilterGemm(simd, backend as EmscriptenBackend, x, dy, info, attrs.filterShape);
  }
  if (x.dtype === 'float32' && dy.dtype === 'float32') {
    const simd = simdKernels(backend);
    if (simd) return backpropFilterSimd(simd, backend as EmscriptenBackend, x, dy, info, attrs.filterShape);
  }

  if (isPointwise(info)) {
    // 1x1, stride 1, unpadded: dW = x^T dy as one matrix product. The transpose is explicit:
    // wasm's BatchMatMul with transposeA takes a slow path (8x here).
    const rows = batchSize * inHeight * inWidth;
    const x2d = reshapeInfo(backend, x, [rows, inChannels]);
    const xT = transposeInfo(backend, x2d, [1, 0]);
    const a = reshapeInfo(backend, xT, [1, inChannels, rows]);
    const b = reshapeInfo(backend, dy, [1, batchSize * outHeight * outWidth, outChannels]);
    const prod = runWasm('BatchMatMul', backend, { a, b }, { transposeA: false, transposeB: false });
    const out = reshapeInfo(backend, prod, attrs.filterShape);
    release(backend, x2d, xT, a, b, prod);
    return out;
  }

  const xT = transposeInfo(backend, x, [3, 1, 2, 0]);
  const dyT = transposeInfo(backend, dy, [1, 2, 0, 3]);
  const pads = backpropFilterPads(info);
  const grad = convWithSignedPads(backend, 'Conv2D', xT, dyT, pads, [dh, dw], [sh, sw], fh, fw);
  release(backend, xT, dyT);
  const out = transposeInfo(backend, grad, [1, 2, 0, 3]);
  release(backend, grad);
  return out;
}

/**
 * Bytes of x and dy one chunk of output rows may touch: they are reread for every tap and channel
 * block, so a chunk should stay in L1, but hold at least BPF_MIN_PIXELS output pixels, or the
 * accumulators' loads and stores per chunk dominate (wide layers on tiny images). Sizes chosen by
 * measurement: docs/SPEED.md (kernel dispatch measurements).
 */
const BPF_CHUNK_BYTES = 24 * 1024;
const BPF_MIN_PIXELS = 32;
/** With packed panels the accumulators' loads and stores are the overhead left (128: best measured, docs/SPEED.md). */
const BPF_PACKED_MIN_PIXELS = 128;

/** dy pixels per im2col GEMM block of the few-channel filter gradient (best on the ResNet-50 stem; docs/SPEED.md). */
const BPF_GEMM_BLOCK = 128;

/**
 * Filter gradients with few input channels (1-7 and not 4: an image stem, e.g. 7x7x3 stride 2)
 * and output channels a multiple of 4 take our im2col GEMM kernel (csrc/conv.c
 * conv2d_backprop_filter_gemm): the direct kernel's register blocks are 4 input channels wide.
 * It won on ResNet-50's stem and lost on ResNet-20's (bench/stem.mjs, bench/stem20.mjs; docs/SPEED.md (kernel dispatch measurements)),
 * so only at least 64 output channels and 64 GEMM rows (FH*FW*C) take it.
 * `BOT_BPF_GEMM=never|always` overrides (always: any channel count with O % 4 == 0).
 */
function gemmBackpropFilterWanted(info: backend_util.Conv2DInfo): boolean {
  if (info.outChannels % 4 !== 0) return false;
  const force = backendFlag('BOT_BPF_GEMM');
  if (force === 'never') return false;
  if (force === 'always') return true;
  const columns = info.filterHeight * info.filterWidth * info.inChannels;
  return info.inChannels < 8 && info.inChannels % 4 !== 0 && info.outChannels >= 64 && columns >= 64;
}

function backpropFilterGemm(
  simd: NonNullable<ReturnType<typeof simdKernels>>,
  backend: EmscriptenBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
  filterShape: [number, number, number, number],
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: o } = info;
  const np = Math.ceil((info.filterHeight * info.filterWidth * c) / 4) * 4;
  const out = backend.makeOutput(filterShape, 'float32');
  simdCalls.conv2dBackpropFilterGemm++;
  withScratch(backend, 'Conv2DBackpropFilter', [np * BPF_GEMM_BLOCK * 4, BPF_GEMM_BLOCK * o * 4, np * o * 4], (colT, bp, acc) =>
    simd.conv2d_backprop_filter_gemm(
      heapOffset(backend, x.dataId), heapOffset(backend, dy.dataId), heapOffset(backend, out.dataId), colT!, bp!, acc!,
      n, h, w, c, oh, ow, o,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
      info.padInfo.top, info.padInfo.left, BPF_GEMM_BLOCK,
    ),
  );
  return out;
}

/**
 * Our wasm SIMD kernel (csrc/conv.c): register-blocked outer products of x and dy, accumulated
 * tap by tap over row segments clipped to the padding, on the wasm heap in place. Any stride,
 * padding and dilation; no transposes, no repacking.
 */
function backpropFilterSimd(
  simd: NonNullable<ReturnType<typeof simdKernels>>,
  backend: EmscriptenBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
  filterShape: [number, number, number, number],
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: o } = info;
  const rowBytes = (ow * o + info.strideHeight * w * c) * 4;
  // Packed panels (csrc/conv.c bpf_tap_packed) for wide layers: 1.15-1.7x on ResNet-50's 1x1 and
  // 3x3 stride-2 filter gradients; slower with 16 channels and on 3x3 over 2x2 images.
  const packed = c % 4 === 0 && o % 8 === 0 && Math.min(c, o) >= 64 && (info.filterHeight * info.filterWidth === 1 || oh * ow >= 16);
  const minPixels = packed ? BPF_PACKED_MIN_PIXELS : BPF_MIN_PIXELS;
  const minRows = Math.ceil(minPixels / Math.max(1, ow));
  const chunkRows = Math.max(1, Math.min(n * oh, Math.max(minRows, Math.floor(BPF_CHUNK_BYTES / rowBytes))));
  const out = backend.makeOutput(filterShape, 'float32');
  simdCalls.conv2dBackpropFilter++;
  withScratch(backend, 'Conv2DBackpropFilter', [chunkRows * 12, packed ? chunkRows * ow * (c + o) * 4 : 0], (seg, pk) =>
    simd.conv2d_backprop_filter(
      heapOffset(backend, x.dataId), heapOffset(backend, dy.dataId), heapOffset(backend, out.dataId), seg!,
      n, h, w, c, oh, ow, o,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
      info.padInfo.top, info.padInfo.left, chunkRows, pk!,
    ),
  );
  return out;
}

/**
 * dx = conv2d of dy, zero-inserted by the stride and padded by (filter extent - 1 - pad),
 * with the filter flipped in space and its in/out channels swapped; stride 1, so the wasm
 * backend's XNNPACK Conv2D does the work instead of the stock scalar loop.
 */
export function conv2DBackpropInputWasm(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: WasmBackendLike;
  attrs: ConvBackpropAttrs & { inputShape: [number, number, number, number] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  assertNhwc(attrs.dataFormat, 'Conv2DBackpropInput');
  const info = forwardConvInfo(attrs.inputShape, filter.shape as [number, number, number, number], attrs, false);
  const { inHeight, inWidth, outHeight, outWidth } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;

  const byWinograd = winogradBackpropInput(backend as EmscriptenBackend, dy, filter, info);
  if (byWinograd) return byWinograd;
  const byGemm = pointwiseBackpropInput(backend as EmscriptenBackend, dy, filter, info);
  if (byGemm) return byGemm;
  if (dy.dtype === 'float32' && filter.dtype === 'float32' && gemmBackpropInputWanted(info)) {
    const simd = simdKernels(backend);
    if (simd) return backpropInputGemm(simd, backend as EmscriptenBackend, dy, filter, info);
  }
  if (dy.dtype === 'float32' && filter.dtype === 'float32' && directBackpropInputWanted(info)) {
    const simd = simdKernels(backend);
    if (simd) return backpropInputSimd(simd, backend as EmscriptenBackend, dy, filter, info);
  }

  if ((sh > 1 || sw > 1) && dh === 1 && dw === 1 && filter.dtype === 'float32') {
    return backpropInputByPhases(backend, dy, filter, info);
  }

  const filterT = flipAndSwap(backend, filter);
  const dyZ = zeroInsert(backend, dy, sh, sw);
  const pads = {
    top: (fh - 1) * dh - info.padInfo.top,
    left: (fw - 1) * dw - info.padInfo.left,
    bottom: inHeight + info.padInfo.top - outHeight * sh,
    right: inWidth + info.padInfo.left - outWidth * sw,
  };
  const out = convWithSignedPads(backend, 'Conv2D', dyZ, filterT, pads, [1, 1], [dh, dw], inHeight, inWidth);
  release(backend, filterT, dyZ);
  return out;
}

/**
 * Where our direct SIMD input gradient takes over (after Winograd and the 1x1 GEMM): input channels
 * (its GEMM columns) a multiple of 4 (required) and at least 8. Measured (CPU ms, single thread)
 * against the phases / XNNPACK path: ResNet-20's stride-2 3x3 layers 4.5 vs 9.1 and 4.1 vs 6.6,
 * 1x1 stride 2 0.6 vs 1.3; ResNet-50's 1x1 stride 2 (1024 -> 2048) 17 vs 58, (512 -> 1024) 13.8 vs
 * 25.8, 3x3 stride 2 at 128 channels 14.9 vs 23.7; 5x5 stride 1 1.4 vs 2.2. With 3 input channels
 * (a stem) it only ties, so those stay.
 * `BOT_BPI_DIRECT=never|always` overrides.
 */
function directBackpropInputWanted(info: backend_util.Conv2DInfo): boolean {
  if (info.inChannels % 4 !== 0) return false; // the kernel's channel panels are 8 or 4 wide
  const force = backendFlag('BOT_BPI_DIRECT');
  if (force === 'never') return false;
  if (force === 'always') return true;
  return info.inChannels >= 8;
}

/**
 * dx by our wasm SIMD kernel (csrc/conv.c conv2d_backprop_input): per tap, the dy pixels that
 * reach dx (4 at a time, from any rows) times the tap's packed filter panels, accumulated into dx
 * in place; no zero insertion, no phases.
 */
function backpropInputSimd(
  simd: NonNullable<ReturnType<typeof simdKernels>>,
  backend: EmscriptenBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: o } = info;
  const rowBytes = (ow * o + info.strideHeight * w * c) * 4;
  const minRows = Math.ceil(BPF_MIN_PIXELS / Math.max(1, ow));
  const chunkRows = Math.max(1, Math.min(n * oh, Math.max(minRows, Math.floor(BPF_CHUNK_BYTES / rowBytes))));
  const dx = backend.makeOutput([n, h, w, c], 'float32');
  simdCalls.conv2dBackpropInput++;
  // Scratch: the packed filter, and a pixel list (2 int32 per pixel).
  withScratch(backend, 'Conv2DBackpropInput', [info.filterHeight * info.filterWidth * c * o * 4, chunkRows * ow * 8 + 32], (wt, seg) =>
    simd.conv2d_backprop_input(
      heapOffset(backend, dy.dataId), heapOffset(backend, filter.dataId), heapOffset(backend, dx.dataId), wt!, seg!,
      n, h, w, c, oh, ow, o,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
      info.padInfo.top, info.padInfo.left, chunkRows,
    ),
  );
  return dx;
}

/** Pixels of dy per GEMM block of the few-channel input gradient (best on the ResNet-50 stem; docs/SPEED.md). */
const BPI_GEMM_BLOCK = 64;

/**
 * Input gradients with few input channels (1-7: an image stem, e.g. 7x7x3 stride 2) take our
 * GEMM + col2im kernel (csrc/conv.c conv2d_backprop_input_gemm): the direct kernel needs C % 4 == 0
 * and XNNPACK's zero-inserted or phased conv runs 3-wide (about 2.8x slower on ResNet-50's stem,
 * bench/stem.mjs; docs/SPEED.md (kernel dispatch measurements)).
 * `BOT_BPI_GEMM=never|always` overrides (always: any channel count).
 */
function gemmBackpropInputWanted(info: backend_util.Conv2DInfo): boolean {
  const force = backendFlag('BOT_BPI_GEMM');
  if (force === 'never') return false;
  if (force === 'always') return true;
  return info.inChannels < 8 && info.inChannels % 4 !== 0;
}

function backpropInputGemm(
  simd: NonNullable<ReturnType<typeof simdKernels>>,
  backend: EmscriptenBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: o } = info;
  const np = Math.ceil((info.filterHeight * info.filterWidth * c) / 4) * 4;
  const dx = backend.makeOutput([n, h, w, c], 'float32');
  simdCalls.conv2dBackpropInputGemm++;
  withScratch(backend, 'Conv2DBackpropInput', [np * o * 4, BPI_GEMM_BLOCK * np * 4], (wp, col) =>
    simd.conv2d_backprop_input_gemm(
      heapOffset(backend, dy.dataId), heapOffset(backend, filter.dataId), heapOffset(backend, dx.dataId), wp!, col!,
      n, h, w, c, oh, ow, o,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
      info.padInfo.top, info.padInfo.left, BPI_GEMM_BLOCK,
    ),
  );
  return dx;
}

/**
 * The filter flipped in space with in/out channels swapped, g[i, j, o, c] = w[fh-1-i, fw-1-j, c, o],
 * in one pass on the heap (wasm's Reverse is an element-wise loop; docs/SPEED.md).
 */
function flipAndSwap(backend: WasmBackendLike, filter: TensorInfo): TensorInfo {
  const [fh, fw, c, o] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput([fh, fw, o, c], filter.dtype);
  const g = backend.typedArrayFromHeap(out);
  const w = backend.typedArrayFromHeap(filter);
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const src = ((fh - 1 - i) * fw + (fw - 1 - j)) * c * o;
      const dst = (i * fw + j) * o * c;
      for (let ci = 0; ci < c; ci++) {
        const row = src + ci * o;
        for (let oi = 0; oi < o; oi++) g[dst + oi * c + ci] = w[row + oi]!;
      }
    }
  }
  return out;
}

/** One stride phase r of one spatial axis: its taps, the dx rows it owns, and the pads of its conv over dy. */
function phase(r: number, s: number, f: number, pad: number, inSize: number, outSize: number) {
  const taps = r < f ? Math.ceil((f - r) / s) : 0;
  const qStart = Math.ceil((pad - r) / s);
  const qEnd = Math.floor((inSize - 1 + pad - r) / s);
  const count = Math.max(0, qEnd - qStart + 1);
  const before = taps - 1 - qStart;
  return { r, taps, qStart, count, before, after: count + taps - 1 - outSize - before };
}

/**
 * dx of a strided conv (dilation 1) as stride x stride small stride-1 convs, one per output phase
 * (rh, rw): the dx pixels at Y = q*sh + rh - padTop only see the filter taps i = rh + sh*t, so each
 * phase is dy correlated with that flipped sub-filter, and the phases are interleaved into dx.
 * Zero-inserting dy instead would make the conv sh*sw times larger, mostly multiplying zeros.
 */
function backpropInputByPhases(backend: WasmBackendLike, dy: TensorInfo, filter: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: o } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const dx = backend.makeOutput([n, h, w, c], 'float32');
  const rowsH = Array.from({ length: sh }, (_, r) => phase(r, sh, fh, info.padInfo.top, h, oh));
  const rowsW = Array.from({ length: sw }, (_, r) => phase(r, sw, fw, info.padInfo.left, w, ow));
  if (rowsH.some((p) => p.taps === 0 && p.count > 0) || rowsW.some((p) => p.taps === 0 && p.count > 0)) {
    (backend.typedArrayFromHeap(dx) as Float32Array).fill(0); // pixels no tap reaches
  }
  for (const ph of rowsH) {
    for (const pw of rowsW) {
      if (ph.taps === 0 || pw.taps === 0 || ph.count === 0 || pw.count === 0) continue;
      // Sub-filter g[u, v, o, c] = filter[rh + sh*(Th-1-u), rw + sw*(Tw-1-v), c, o].
      const g = backend.makeOutput([ph.taps, pw.taps, o, c], 'float32');
      const gv = backend.typedArrayFromHeap(g) as Float32Array;
      const fv = backend.typedArrayFromHeap(filter) as Float32Array;
      for (let u = 0; u < ph.taps; u++) {
        for (let v = 0; v < pw.taps; v++) {
          const i = ph.r + sh * (ph.taps - 1 - u);
          const j = pw.r + sw * (pw.taps - 1 - v);
          const src = (i * fw + j) * c * o;
          const dst = (u * pw.taps + v) * o * c;
          for (let ci = 0; ci < c; ci++) for (let oi = 0; oi < o; oi++) gv[dst + oi * c + ci] = fv[src + ci * o + oi]!;
        }
      }
      const pads = { top: ph.before, bottom: ph.after, left: pw.before, right: pw.after };
      const part = convWithSignedPads(backend, 'Conv2D', dy, g, pads, [1, 1], [1, 1], ph.count, pw.count);
      release(backend, g);
      // Interleave: part[b, zh, zw, :] -> dx[b, (qStart_h + zh)*sh + rh - padTop, (qStart_w + zw)*sw + rw - padLeft, :].
      const pv = backend.typedArrayFromHeap(part) as Float32Array;
      const dv = backend.typedArrayFromHeap(dx) as Float32Array;
      const y0 = ph.qStart * sh + ph.r - info.padInfo.top;
      const x0 = pw.qStart * sw + pw.r - info.padInfo.left;
      let k = 0;
      for (let b = 0; b < n; b++) {
        for (let zh = 0; zh < ph.count; zh++) {
          const rowBase = (b * h + y0 + zh * sh) * w;
          for (let zw = 0; zw < pw.count; zw++) {
            let d = (rowBase + x0 + zw * sw) * c;
            for (let ci = 0; ci < c; ci++) dv[d++] = pv[k++]!;
          }
        }
      }
      release(backend, part);
    }
  }
  return dx;
}

export const conv2DBackpropFilterKernel = conv2DBackpropFilterWasm as unknown as KernelFunc;
export const conv2DBackpropInputKernel = conv2DBackpropInputWasm as unknown as KernelFunc;
