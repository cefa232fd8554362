import type { CropBox } from './crop-box';
import { isBytes, meanLuma, passConstants, photometricRun, scratchOf, wasmKernelChosen, wasmPass, type PixelDraw, type PixelPassOptions, type Pixels } from './pixel-kernel';

/**
 * Crop-and-resize fused with the photometric steps: the output pixel (y, x) of a `height` x
 * `width` image samples `src` (srcHeight x srcWidth x channels, 0-255) bilinearly at half-pixel
 * centres of `box`, y_src = box.y + (y + 0.5) box.height / height - 0.5 (likewise x), with the
 * samples' neighbours clamped to src's edges: what augment's `cropAndResizeBoxes` (and so the
 * `randomResizedCrop` tensor transform) computes, when `src` is the whole image or a region of
 * it that has one pixel of margin around the box wherever the image has one. A drawn flip
 * mirrors the output. Then jitter, lighting and normalize as in {@link applyPixelDraw}.
 */
export function applyPixelDrawResized(
  src: Pixels,
  srcHeight: number,
  srcWidth: number,
  box: CropBox,
  height: number,
  width: number,
  draw: PixelDraw,
  options: PixelPassOptions,
  out: Float32Array,
  offset = 0,
): void {
  const { channels } = options;
  const where = 'applyPixelDrawResized';
  if (!(Number.isInteger(srcHeight) && Number.isInteger(srcWidth) && srcHeight > 0 && srcWidth > 0)) {
    throw new RangeError(`${where}: srcHeight and srcWidth must be positive integers, got ${srcHeight}x${srcWidth}.`);
  }
  if (src.length !== srcHeight * srcWidth * channels) {
    throw new Error(`${where}: expected ${srcHeight}x${srcWidth}x${channels} = ${srcHeight * srcWidth * channels} source values, got ${src.length}.`);
  }
  if (!(box.height > 0 && box.width > 0 && box.y >= 0 && box.x >= 0 && box.y + box.height <= srcHeight && box.x + box.width <= srcWidth)) {
    throw new RangeError(`${where}: box ${JSON.stringify(box)} does not lie inside the ${srcHeight}x${srcWidth} source.`);
  }
  const len = height * width * channels;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
    throw new RangeError(`${where}: height and width must be positive integers, got ${height}x${width}.`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + len > out.length) {
    throw new RangeError(`${where}: output of ${out.length} values has no room for ${len} at offset ${offset}.`);
  }
  const K = passConstants(draw, options, channels, where);
  // Column taps, mirrored for a flip: the left and right source columns (times channels) and the weight of the right one.
  const xa = new Int32Array(width);
  const xb = new Int32Array(width);
  const wx = new Float64Array(width);
  const sx = box.width / width;
  for (let x = 0; x < width; x++) {
    const xs = box.x + (x + 0.5) * sx - 0.5;
    const x0 = Math.floor(xs);
    const k = draw.flip ? width - 1 - x : x;
    xa[k] = (x0 < 0 ? 0 : x0 > srcWidth - 1 ? srcWidth - 1 : x0) * channels;
    xb[k] = (x0 + 1 > srcWidth - 1 ? srcWidth - 1 : x0 + 1 < 0 ? 0 : x0 + 1) * channels;
    wx[k] = xs - x0;
  }
  const sy = box.height / height;
  const srcRow = srcWidth * channels;
  const rowLen = width * channels;
  if (channels === 3 && isBytes(src) && wasmKernelChosen()) {
    const rowA = new Int32Array(height);
    const rowB = new Int32Array(height);
    const fy = new Float32Array(height);
    for (let y = 0; y < height; y++) {
      const ys = box.y + (y + 0.5) * sy - 0.5;
      const y0 = Math.floor(ys);
      rowA[y] = (y0 < 0 ? 0 : y0 > srcHeight - 1 ? srcHeight - 1 : y0) * srcRow;
      rowB[y] = (y0 + 1 > srcHeight - 1 ? srcHeight - 1 : y0 + 1 < 0 ? 0 : y0 + 1) * srcRow;
      fy[y] = ys - y0;
    }
    if (wasmPass(src, rowA, rowB, fy, xa, xb, Float32Array.from(wx), height, width, K, out, offset)) return;
  }
  const whole = K.mode === 2; // GluonCV needs the resized image's mean luma before the pass
  const buf = scratchOf(whole ? height * rowLen : rowLen);
  for (let y = 0; y < height; y++) {
    const ys = box.y + (y + 0.5) * sy - 0.5;
    const y0 = Math.floor(ys);
    const fy = ys - y0;
    const r0 = (y0 < 0 ? 0 : y0 > srcHeight - 1 ? srcHeight - 1 : y0) * srcRow;
    const r1 = (y0 + 1 > srcHeight - 1 ? srcHeight - 1 : y0 + 1 < 0 ? 0 : y0 + 1) * srcRow;
    const base = whole ? y * rowLen : 0;
    if (channels === 3) {
      for (let x = 0, o = base; x < width; x++, o += 3) {
        const a = xa[x]!;
        const b = xb[x]!;
        const fx = wx[x]!;
        for (let c = 0; c < 3; c++) {
          const tl = src[r0 + a + c]!;
          const bl = src[r1 + a + c]!;
          const top = tl + (src[r0 + b + c]! - tl) * fx;
          const bottom = bl + (src[r1 + b + c]! - bl) * fx;
          buf[o + c] = top + (bottom - top) * fy;
        }
      }
      if (!whole) photometricRun(buf, width, out, offset + y * rowLen, K);
    } else {
      const { s0, a0 } = K;
      const o = offset + y * rowLen;
      for (let x = 0; x < width; x++) {
        const a = xa[x]!;
        const b = xb[x]!;
        const fx = wx[x]!;
        const tl = src[r0 + a]!;
        const bl = src[r1 + a]!;
        const top = tl + (src[r0 + b]! - tl) * fx;
        const bottom = bl + (src[r1 + b]! - bl) * fx;
        out[o + x] = (top + (bottom - top) * fy) * s0 + a0;
      }
    }
  }
  if (whole) {
    K.k3 = (1 - draw.gluoncv!.contrast) * meanLuma(buf, height * width);
    photometricRun(buf, height * width, out, offset, K);
  }
}

