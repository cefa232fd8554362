import { backend_util, type TensorInfo, type KernelFunc } from '@tensorflow/tfjs-core';
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

interface DepthwiseBackpropAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: number | [number, number];
}

/**
 * dW[i,j,c,m] = sum over n,y,x of xPadded[n, y*s + i*d, x*s + j*d, c] * dy[n,y,x,c*M+m].
 * A depthwise conv over x laid out as [1,H,W,N*C] with dy as the filter [OH,OW,N*C,M]
 * (dilation = forward stride) gives one filter per (n, c); a sum over n finishes it.
 */
export function depthwiseConv2dNativeBackpropFilterWasm(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: WasmBackendLike;
  attrs: DepthwiseBackpropAttrs & { filterShape: [number, number, number, number] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const info = forwardConvInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs, true);
  const { batchSize: n, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const m = attrs.filterShape[3];

  const xT = transposeInfo(backend, x, [1, 2, 0, 3]);
  const xR = reshapeInfo(backend, xT, [1, inHeight, inWidth, n * c]);
  const dyT = transposeInfo(backend, dy, [1, 2, 0, 3]);
  const dyR = reshapeInfo(backend, dyT, [outHeight, outWidth, n * c, m]);
  release(backend, xT, dyT);
  const pads = backpropFilterPads(info);
  const perSample = convWithSignedPads(backend, 'DepthwiseConv2dNative', xR, dyR, pads, [dh, dw], [sh, sw], fh, fw);
  release(backend, xR, dyR);
  const grouped = reshapeInfo(backend, perSample, [fh * fw, n, c * m]);
  release(backend, perSample);
  const summed = n === 1 ? grouped : runWasm('Sum', backend, { x: grouped }, { axis: [1], keepDims: false });
  const out = reshapeInfo(backend, summed, attrs.filterShape);
  release(backend, summed);
  if (summed !== grouped) release(backend, grouped);
  return out;
}

/**
 * dx = depthwise conv of the zero-inserted, padded dy with the spatially flipped filter laid
 * out as [fh,fw,C*M,1]; the channel multiplier is then summed out.
 */
export function depthwiseConv2dNativeBackpropInputWasm(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: WasmBackendLike;
  attrs: DepthwiseBackpropAttrs & { inputShape: [number, number, number, number] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const filterShape = filter.shape as [number, number, number, number];
  const info = forwardConvInfo(attrs.inputShape, filterShape, attrs, true);
  const { batchSize: n, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const m = filterShape[3];

  const flipped = runWasm('Reverse', backend, { x: filter }, { dims: [0, 1] });
  const filterR = reshapeInfo(backend, flipped, [fh, fw, c * m, 1]);
  release(backend, flipped);
  const dyZ = zeroInsert(backend, dy, sh, sw);
  const pads = {
    top: (fh - 1) * dh - info.padInfo.top,
    left: (fw - 1) * dw - info.padInfo.left,
    bottom: inHeight + info.padInfo.top - outHeight * sh,
    right: inWidth + info.padInfo.left - outWidth * sw,
  };
  const perMultiplier = convWithSignedPads(
    backend, 'DepthwiseConv2dNative', dyZ, filterR, pads, [1, 1], [dh, dw], inHeight, inWidth,
  );
  release(backend, filterR, dyZ);
  if (m === 1) return perMultiplier;
  const split = reshapeInfo(backend, perMultiplier, [n, inHeight, inWidth, c, m]);
  release(backend, perMultiplier);
  const out = runWasm('Sum', backend, { x: split }, { axis: [4], keepDims: false });
  release(backend, split);
  return out;
}

export const depthwiseConv2dNativeBackpropFilterKernel = depthwiseConv2dNativeBackpropFilterWasm as unknown as KernelFunc;
export const depthwiseConv2dNativeBackpropInputKernel = depthwiseConv2dNativeBackpropInputWasm as unknown as KernelFunc;
