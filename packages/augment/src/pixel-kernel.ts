import { yiqHueMatrix } from './color-jitter';
import { PIXEL_PASS_WASM_BASE64 } from './pixel-pass-wasm';

/**
 * Per-image pixel path: the photometric steps of the train pipeline (flip, colour jitter, PCA
 * lighting, normalize) as plain loops over HWC pixels in typed arrays, fused into one pass that
 * writes float32 output. No tensors, no Node APIs: it runs in a browser or a worker too. Each step
 * computes what the tensor transform of the same name computes (to float tolerance: the loops
 * work in float64, the tensors in float32), and {@link pixelPipeline} draws from the rng in the
 * tensor pipeline's order, so both paths give the same batch for the same rng.
 */

/** HWC pixels: 0-255 values as bytes (what a decoder hands over) or floats. */
export type Pixels = Uint8Array | Uint8ClampedArray | Float32Array | Float64Array;

/** One image's random draws for the fused pass. Absent steps are skipped. */
export interface PixelDraw {
  /** Mirror left-right. */
  flip: boolean;
  /** Paper HSV jitter: [hue, saturation, value] scale factors. */
  hsv?: readonly [number, number, number];
  /** GluonCV jitter: brightness, contrast, saturation factors and (when hue > 0) the 3x3 YIQ hue matrix, row-major (rgb_out = M rgb). */
  gluoncv?: { readonly brightness: number; readonly contrast: number; readonly saturation: number; readonly hueMatrix?: readonly number[] };
  /** PCA lighting: the RGB offset added to every pixel (see `pcaLightingOffset`). */
  lighting?: readonly [number, number, number];
}

/** Static settings of the fused pass. */
export interface PixelPassOptions {
  /** 3 (RGB) or 1. Jitter and lighting need 3. */
  channels: 1 | 3;
  /** Clip jitter output to [0, 255] (as `colorJitter`'s `clip`, default true). */
  clip?: boolean;
  /** Per-channel mean and std; absent: no normalize (output stays on the 0-255 scale). */
  normalize?: { readonly mean: readonly number[]; readonly std: readonly number[] };
}

const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

function checkSizes(src: Pixels, height: number, width: number, channels: number, out: Float32Array, offset: number, where: string): void {
  const len = height * width * channels;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
    throw new RangeError(`${where}: height and width must be positive integers, got ${height}x${width}.`);
  }
  if (src.length !== len) throw new Error(`${where}: expected ${height}x${width}x${channels} = ${len} pixel values, got ${src.length}.`);
  if (!Number.isInteger(offset) || offset < 0 || offset + len > out.length) {
    throw new RangeError(`${where}: output of ${out.length} values has no room for ${len} at offset ${offset}.`);
  }
}

/** Per-image constants of the photometric steps, one fixed object shape for the JIT. */
export interface PassConstants {
  /** 0: no jitter, 1: HSV, 2: GluonCV. */
  mode: number;
  clip: boolean;
  hueF6: number;
  satF: number;
  valF: number;
  k1: number;
  k2: number;
  k3: number;
  /** GluonCV contrast factor: k3 = (1 - contrast) mean luma, once the (resized) image is known. */
  contrast: number;
  bright: number;
  hasM: boolean;
  m00: number; m01: number; m02: number; // prettier-ignore
  m10: number; m11: number; m12: number; // prettier-ignore
  m20: number; m21: number; m22: number; // prettier-ignore
  /** Lighting offset then normalize, folded: out_c = (x_c + l_c) * s_c + b_c = x_c * s_c + (l_c s_c + b_c). */
  s0: number;
  s1: number;
  s2: number;
  a0: number;
  a1: number;
  a2: number;
}

/** @internal (pixel-resize.ts) */
export function passConstants(draw: PixelDraw, options: PixelPassOptions, channels: number, where: string): PassConstants {
  const norm = options.normalize;
  if (norm && (norm.mean.length !== channels || norm.std.length !== channels)) {
    throw new Error(`${where}: normalize needs ${channels} mean and std values, got ${norm.mean.length} and ${norm.std.length}.`);
  }
  if (channels === 1 && (draw.hsv || draw.gluoncv || draw.lighting)) throw new Error(`${where}: colour jitter and PCA lighting need 3 channels, got 1.`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`${where}: channels must be 1 or 3, got ${channels}.`);
  // normalize as the tensor op does it: x * (1 / std) + (-mean / std).
  const scale = [1, 1, 1];
  const bias = [0, 0, 0];
  if (norm) {
    for (let c = 0; c < channels; c++) {
      scale[c] = 1 / norm.std[c]!;
      bias[c] = -norm.mean[c]! / norm.std[c]!;
    }
  }
  const hsv = draw.hsv;
  const glu = draw.gluoncv;
  if (hsv && glu) throw new Error(`${where}: a draw has either HSV or GluonCV jitter, not both.`);
  const m = glu?.hueMatrix;
  if (m && m.length !== 9) throw new Error(`${where}: hueMatrix must have 9 values (3x3 row-major), got ${m.length}.`);
  const light = draw.lighting ?? [0, 0, 0];
  return {
    mode: hsv ? 1 : glu ? 2 : 0,
    clip: options.clip ?? true,
    hueF6: hsv ? hsv[0] / 6 : 0,
    satF: hsv ? hsv[1] : 1,
    valF: hsv ? hsv[2] : 1,
    // GluonCV closed form: b (c s x + c (1 - s) luma + (1 - c) mean luma), then the hue matrix; k3 waits for the mean.
    k1: glu ? glu.contrast * glu.saturation : 1,
    k2: glu ? glu.contrast * (1 - glu.saturation) : 0,
    k3: 0,
    contrast: glu ? glu.contrast : 1,
    bright: glu ? glu.brightness : 1,
    hasM: !!m,
    m00: m ? m[0]! : 1, m01: m ? m[1]! : 0, m02: m ? m[2]! : 0, // prettier-ignore
    m10: m ? m[3]! : 0, m11: m ? m[4]! : 1, m12: m ? m[5]! : 0, // prettier-ignore
    m20: m ? m[6]! : 0, m21: m ? m[7]! : 0, m22: m ? m[8]! : 1, // prettier-ignore
    s0: scale[0]!,
    s1: scale[1]!,
    s2: scale[2]!,
    a0: light[0] * scale[0]! + bias[0]!,
    a1: light[1] * scale[1]! + bias[1]!,
    a2: light[2] * scale[2]! + bias[2]!,
  };
}

/**
 * The photometric steps on `n` RGB pixels of `px` (float64, 0-255 scale) into `out[o ..]`.
 * HSV: h, s, v from the maximum, minimum and the channel that is neither; hue, saturation and
 * value scaled (saturation clipped to [0, 1], value to [0, 255] when clipping); then the
 * six-sector HSV-to-RGB form, which equals the tensor path's c_n = v - v s clamp(min(k, 4 - k), 0, 1).
 * Lighting and normalize are one per-channel affine map.
 */
export function photometricRun(px: Float64Array, n: number, out: Float32Array, o: number, K: PassConstants): void {
  const { s0, s1, s2, a0, a1, a2 } = K;
  const end = n * 3;
  if (K.mode === 1) {
    const { hueF6, satF, valF, clip } = K;
    for (let i = 0; i < end; i += 3, o += 3) {
      const r = px[i]!;
      const g = px[i + 1]!;
      const b = px[i + 2]!;
      let maxc = r > g ? r : g;
      if (b > maxc) maxc = b;
      let minc = r < g ? r : g;
      if (b < minc) minc = b;
      let v = maxc * valF;
      if (clip) v = v < 0 ? 0 : v > 255 ? 255 : v;
      const delta = maxc - minc;
      let ro: number;
      let go: number;
      let bo: number;
      if (!(delta > 0) || !(maxc > 0)) {
        ro = v;
        go = v;
        bo = v;
      } else {
        let h: number;
        if (maxc === r) {
          h = (g - b) / delta;
          if (h < 0) h += 6;
        } else if (maxc === g) h = (b - r) / delta + 2;
        else h = (r - g) / delta + 4;
        let hs = h * hueF6;
        hs -= Math.floor(hs);
        let sat = (delta / maxc) * satF;
        if (sat > 1) sat = 1;
        const h6 = hs * 6;
        let sector = Math.floor(h6);
        if (sector > 5) sector = 5;
        const f = h6 - sector;
        const vs = v * sat;
        const p = v - vs;
        const q = v - vs * f;
        const t = v - vs + vs * f;
        switch (sector) {
          case 0: ro = v; go = t; bo = p; break; // prettier-ignore
          case 1: ro = q; go = v; bo = p; break; // prettier-ignore
          case 2: ro = p; go = v; bo = t; break; // prettier-ignore
          case 3: ro = p; go = q; bo = v; break; // prettier-ignore
          case 4: ro = t; go = p; bo = v; break; // prettier-ignore
          default: ro = v; go = p; bo = q; // prettier-ignore
        }
      }
      out[o] = ro * s0 + a0;
      out[o + 1] = go * s1 + a1;
      out[o + 2] = bo * s2 + a2;
    }
  } else if (K.mode === 2) {
    const { k1, k2, k3, bright, hasM, clip, m00, m01, m02, m10, m11, m12, m20, m21, m22 } = K;
    for (let i = 0; i < end; i += 3, o += 3) {
      let r = px[i]!;
      let g = px[i + 1]!;
      let b = px[i + 2]!;
      const base = k2 * (LUMA_R * r + LUMA_G * g + LUMA_B * b) + k3;
      r = bright * (k1 * r + base);
      g = bright * (k1 * g + base);
      b = bright * (k1 * b + base);
      if (hasM) {
        const r2 = m00 * r + m01 * g + m02 * b;
        const g2 = m10 * r + m11 * g + m12 * b;
        b = m20 * r + m21 * g + m22 * b;
        r = r2;
        g = g2;
      }
      if (clip) {
        r = r < 0 ? 0 : r > 255 ? 255 : r;
        g = g < 0 ? 0 : g > 255 ? 255 : g;
        b = b < 0 ? 0 : b > 255 ? 255 : b;
      }
      out[o] = r * s0 + a0;
      out[o + 1] = g * s1 + a1;
      out[o + 2] = b * s2 + a2;
    }
  } else {
    for (let i = 0; i < end; i += 3, o += 3) {
      out[o] = px[i]! * s0 + a0;
      out[o + 1] = px[i + 1]! * s1 + a1;
      out[o + 2] = px[i + 2]! * s2 + a2;
    }
  }
}

// ---- WebAssembly SIMD kernel (wasm/pixel_pass.c): bilinear resize + HSV or no jitter + affine, float32 ----

interface WasmKernel {
  readonly memory: WebAssembly.Memory;
  resize_rgb(src: number, rowA: number, rowB: number, fy: number, colA: number, colB: number, fx: number, outH: number, outW: number, dst: number): void;
  photometric(px: number, n: number, out: number, mode: number, hueF6: number, satF: number, valF: number, clip: number, s0: number, s1: number, s2: number, a0: number, a1: number, a2: number): void;
  photometric_gluoncv(px: number, n: number, out: number, params: number): void;
  luma_sum(px: number, n: number): number;
}

let wasmState: WasmKernel | null | undefined; // undefined: not tried yet; null: unavailable
let kernelChoice: 'wasm' | 'js' = 'wasm';

function loadWasm(): WasmKernel | null {
  if (wasmState !== undefined) return wasmState;
  wasmState = null;
  try {
    if (typeof WebAssembly === 'undefined' || typeof atob !== 'function') return null;
    const bin = atob(PIXEL_PASS_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    // 3.3 KB: small enough for a synchronous compile on a browser's main thread too (4 KB there).
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as WasmKernel;
    if (['resize_rgb', 'photometric', 'photometric_gluoncv', 'luma_sum'].every((f) => typeof (exports as unknown as Record<string, unknown>)[f] === 'function')) {
      wasmState = exports;
    }
  } catch {
    wasmState = null; // no WebAssembly SIMD here: the JavaScript loops do the same maths in float64
  }
  return wasmState;
}

/**
 * Which implementation the fused RGB passes use: `'wasm'` (WebAssembly SIMD, float32, the default
 * where WebAssembly SIMD is available) or `'js'` (plain loops, float64). Both equal the tensor
 * path to float tolerance; one channel and float input always take the JS loops.
 * Call with an argument to choose; returns the one in use.
 */
export function pixelKernel(kind?: 'wasm' | 'js'): 'wasm' | 'js' {
  if (kind !== undefined) {
    if (kind !== 'wasm' && kind !== 'js') throw new Error(`pixelKernel: kind must be 'wasm' or 'js', got ${JSON.stringify(kind)}.`);
    kernelChoice = kind;
  }
  return kernelChoice === 'wasm' && loadWasm() ? 'wasm' : 'js';
}

const WASM_BASE = 131072; // above the module's stack and data (its initial 2 pages)
const align16 = (n: number): number => (n + 15) & ~15;

/**
 * The RGB pass through the wasm kernel: src (bytes) rows/columns by the tables, then the
 * photometric map (none, HSV or GluonCV). Returns false when the kernel is not in use.
 */
export function wasmPass(
  src: Uint8Array | Uint8ClampedArray,
  rowA: Int32Array,
  rowB: Int32Array,
  fy: Float32Array,
  colA: Int32Array,
  colB: Int32Array,
  fx: Float32Array,
  height: number,
  width: number,
  K: PassConstants,
  out: Float32Array,
  offset: number,
): boolean {
  const k = kernelChoice === 'wasm' ? loadWasm() : null;
  if (!k) return false;
  const n = height * width;
  const nPad = (n + 3) & ~3;
  const srcOff = WASM_BASE;
  const rowAOff = align16(srcOff + src.length + 4);
  const rowBOff = rowAOff + align16(height * 4);
  const fyOff = rowBOff + align16(height * 4);
  const colAOff = fyOff + align16(height * 4);
  const colBOff = colAOff + align16(width * 4);
  const fxOff = colBOff + align16(width * 4);
  const bufOff = fxOff + align16(width * 4);
  const outOff = bufOff + align16((nPad * 3 + 4) * 4);
  const paramOff = outOff + nPad * 3 * 4;
  const end = paramOff + 32 * 4;
  const have = k.memory.buffer.byteLength;
  if (end > have) {
    try {
      k.memory.grow(Math.ceil((end - have) / 65536));
    } catch {
      return false; // past wasm32's 4 GiB (or the engine's limit): the JavaScript loops do this image
    }
  }
  const mem = k.memory.buffer;
  new Uint8Array(mem, srcOff, src.length).set(src);
  new Int32Array(mem, rowAOff, height).set(rowA);
  new Int32Array(mem, rowBOff, height).set(rowB);
  new Float32Array(mem, fyOff, height).set(fy);
  new Int32Array(mem, colAOff, width).set(colA);
  new Int32Array(mem, colBOff, width).set(colB);
  new Float32Array(mem, fxOff, width).set(fx);
  k.resize_rgb(srcOff, rowAOff, rowBOff, fyOff, colAOff, colBOff, fxOff, height, width, bufOff);
  if (K.mode === 2) {
    const k3 = (1 - K.contrast) * (k.luma_sum(bufOff, n) / n);
    const { k1, k2, bright, hasM, clip, m00, m01, m02, m10, m11, m12, m20, m21, m22, s0, s1, s2, a0, a1, a2 } = K;
    new Float32Array(mem, paramOff, 21).set([k1, k2, k3, bright, hasM ? 1 : 0, clip ? 1 : 0, m00, m01, m02, m10, m11, m12, m20, m21, m22, s0, s1, s2, a0, a1, a2]);
    k.photometric_gluoncv(bufOff, n, outOff, paramOff);
  } else {
    k.photometric(bufOff, n, outOff, K.mode, K.hueF6, K.satF, K.valF, K.clip ? 1 : 0, K.s0, K.s1, K.s2, K.a0, K.a1, K.a2);
  }
  out.set(new Float32Array(mem, outOff, n * 3), offset);
  return true;
}

export const isBytes = (src: Pixels): src is Uint8Array | Uint8ClampedArray => src instanceof Uint8Array || src instanceof Uint8ClampedArray;

/** Grows and reuses one float64 buffer: the passes are synchronous, so one module-level buffer is safe. */
let scratch = new Float64Array(0);
export function scratchOf(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  return scratch;
}

export function meanLuma(px: ArrayLike<number>, n: number): number {
  let sum = 0;
  for (let i = 0; i < n * 3; i += 3) sum += LUMA_R * px[i]! + LUMA_G * px[i + 1]! + LUMA_B * px[i + 2]!;
  return sum / n;
}

/**
 * The fused pass for one image: reads `src` (HWC, 0-255), writes `out[offset ..]` (float32 HWC):
 * flip, then jitter (HSV or GluonCV), then lighting, then normalize, in the train pipeline's order.
 * `src` and `out` may not overlap unless no flip is drawn.
 */
export function applyPixelDraw(
  src: Pixels,
  height: number,
  width: number,
  draw: PixelDraw,
  options: PixelPassOptions,
  out: Float32Array,
  offset = 0,
): void {
  const { channels } = options;
  const where = 'applyPixelDraw';
  checkSizes(src, height, width, channels, out, offset, where);
  const K = passConstants(draw, options, channels, where);
  const flip = draw.flip;
  if (channels === 1) {
    const { s0, a0 } = K;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 0; x < width; x++) out[offset + row + x] = src[row + (flip ? width - 1 - x : x)]! * s0 + a0;
    }
    return;
  }
  if (isBytes(src) && kernelChoice === 'wasm') {
    // The resize kernel with unit steps and zero weights copies the pixels exactly (mirrored when flipped).
    const rowA = new Int32Array(height);
    for (let y = 0; y < height; y++) rowA[y] = y * width * 3;
    const colA = new Int32Array(width);
    for (let x = 0; x < width; x++) colA[x] = (flip ? width - 1 - x : x) * 3;
    if (wasmPass(src, rowA, rowA, new Float32Array(height), colA, colA, new Float32Array(width), height, width, K, out, offset)) return;
  }
  if (K.mode === 2) K.k3 = (1 - draw.gluoncv!.contrast) * meanLuma(src, height * width);
  const rowLen = width * 3;
  const row = scratchOf(rowLen);
  for (let y = 0; y < height; y++) {
    const rowIn = y * rowLen;
    // One row into float64 (mirrored when flipped): the photometric loop then reads one array type.
    if (flip) {
      for (let x = 0, i = rowIn + rowLen - 3; x < rowLen; x += 3, i -= 3) {
        row[x] = src[i]!;
        row[x + 1] = src[i + 1]!;
        row[x + 2] = src[i + 2]!;
      }
    } else {
      for (let x = 0; x < rowLen; x++) row[x] = src[rowIn + x]!;
    }
    photometricRun(row, width, out, offset + rowIn, K);
  }
}

function outputFor(src: Pixels, out: Float32Array | undefined): Float32Array {
  return out ?? new Float32Array(src.length);
}

/** Mirrors HWC pixels left-right (exact), into `out` (a new array by default). */
export function flipPixels(src: Pixels, height: number, width: number, channels: 1 | 3, out?: Float32Array): Float32Array {
  const o = outputFor(src, out);
  applyPixelDraw(src, height, width, { flip: true }, { channels }, o);
  return o;
}

/** The paper's HSV jitter on one RGB image (as `colorJitter({ form: 'hsv' })` with these factors). */
export function hsvJitterPixels(
  src: Pixels,
  height: number,
  width: number,
  factors: { hue: number; saturation: number; value: number },
  { clip = true, out }: { clip?: boolean; out?: Float32Array } = {},
): Float32Array {
  const o = outputFor(src, out);
  applyPixelDraw(src, height, width, { flip: false, hsv: [factors.hue, factors.saturation, factors.value] }, { channels: 3, clip }, o);
  return o;
}

/** GluonCV's brightness/contrast/saturation (and optional YIQ hue rotation, alpha·π) on one RGB image. */
export function gluoncvJitterPixels(
  src: Pixels,
  height: number,
  width: number,
  factors: { brightness: number; contrast: number; saturation: number; hue?: number },
  { clip = true, out }: { clip?: boolean; out?: Float32Array } = {},
): Float32Array {
  const o = outputFor(src, out);
  const { brightness, contrast, saturation, hue } = factors;
  const gluoncv = { brightness, contrast, saturation, ...(hue ? { hueMatrix: yiqHueMatrix(hue).flat() } : {}) };
  applyPixelDraw(src, height, width, { flip: false, gluoncv }, { channels: 3, clip }, o);
  return o;
}

/** Adds a PCA lighting offset (from `pcaLightingOffset(alpha)`) to every pixel of one RGB image. */
export function pcaLightingPixels(src: Pixels, height: number, width: number, offset: readonly [number, number, number], out?: Float32Array): Float32Array {
  const o = outputFor(src, out);
  applyPixelDraw(src, height, width, { flip: false, lighting: offset }, { channels: 3 }, o);
  return o;
}

/** (x - mean) / std per channel on one image. */
export function normalizePixels(
  src: Pixels,
  height: number,
  width: number,
  mean: readonly number[],
  std: readonly number[],
  out?: Float32Array,
): Float32Array {
  const o = outputFor(src, out);
  const channels = mean.length;
  if (channels !== 1 && channels !== 3) throw new Error(`normalizePixels: mean needs 1 or 3 values, got ${channels}.`);
  applyPixelDraw(src, height, width, { flip: false }, { channels, normalize: { mean, std } }, o);
  return o;
}


/** @internal Whether the RGB passes should try the wasm kernel (pixelKernel's choice). */
export const wasmKernelChosen = (): boolean => kernelChoice === 'wasm';
