import { backend_util, type TensorInfo, type KernelFunc } from '@tensorflow/tfjs-core';
import {
  type WasmBackendLike,
  convWithSignedPads,
  release,
  reshapeInfo,
  runWasm,
  transposeInfo,
  zeroInsert,
} from './kernel-utils';

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
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as 'same',
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;

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
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const pads = {
    top,
    left,
    bottom: (fh - 1) * dh + (outHeight - 1) * sh + 1 - inHeight - top,
    right: (fw - 1) * dw + (outWidth - 1) * sw + 1 - inWidth - left,
  };
  const grad = convWithSignedPads(backend, 'Conv2D', xT, dyT, pads, [dh, dw], [sh, sw], fh, fw);
  release(backend, xT, dyT);
  const out = transposeInfo(backend, grad, [1, 2, 0, 3]);
  release(backend, grad);
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
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as 'same',
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { inHeight, inWidth, outHeight, outWidth } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;

  const flipped = runWasm('Reverse', backend, { x: filter }, { dims: [0, 1] });
  const filterT = transposeInfo(backend, flipped, [0, 1, 3, 2]);
  release(backend, flipped);
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

export const conv2DBackpropFilterKernel = conv2DBackpropFilterWasm as unknown as KernelFunc;
export const conv2DBackpropInputKernel = conv2DBackpropInputWasm as unknown as KernelFunc;
