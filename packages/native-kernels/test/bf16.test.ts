// bfloat16 convolutions: operands rounded to bf16 (8-bit significand) when packed, products summed
// in float32. Every bound below is derived, not tuned:
//   u = 2^-8, the unit roundoff of bf16 (8 significand bits, round to nearest even): |bf16(a) - a| <= u|a|.
//   A product of two rounded operands: bf16(a)bf16(b) = ab(1+d1)(1+d2), so |error| <= (2u + u^2)|ab|.
//   bf16 x bf16 products are exact in float32 (8 + 8 significand bits <= 24), so the only other error
//   is float32 summation of n terms, in any order/tree: <= g(n) * sum|terms|, g(n) = n v / (1 - n v), v = 2^-24.
// Per output, with S = sum_i |a_i b_i| (exact, float64):
//   (1) against the exact sum of the bf16-ROUNDED operands (rounded here in JS):  |err| <= g(n) * S_rounded
//       (fails if the kernel truncates or rounds differently from nearest-even);
//   (2) against the exact sum of the float32 operands:  |err| <= (2u + u^2) S + g(n) (1+u)^2 S;
//   (3) against the float32 kernel: bound (2) plus the float32 kernel's own g(n) S.
// VDPBF16PS flushes subnormal inputs and outputs to zero; values here are in [-1, 1), far from them.
// Direct bf16 kernels (no im2col: products of the same rounded operands, summed in float32, so the
// bounds above hold) run where they apply: forward convs with output rows of 8+ pixels and, at stride 1,
// 3-4, 5-8, 13-16, 25-32 or 49-64 input channels (stride 2: 13-16, 25-32, 49-64; the stride-1 input
// gradient is the forward conv of dy, so dy's channels and the input's width count), and filter
// gradients at strides 1-2 with at most 64 input and 64 output channels; stride-2 input gradients whose
// four parity classes (sub-pixel convs of dy) are such forward convs with rows of 16+ pixels.
// Other 3x3 stride-1 convs with 32-256 channels run Winograd F(2x2, 3x3) (forward, and the stride-1 input
// gradient): the GEMM operands are the transformed tiles V = B^T d B and filters U = G g G^T, rounded to
// bf16, and the output is A^T M A. With |V| <= |B^T||d||B| and |U| <= |G||g||G^T| elementwise, the same
// argument bounds each output by
//   (2u + u^2 + g(C + 19)(1+u)^2) * W,  W = sum over the 16 points xi of |A|-weights * sum_c |G||g||G^T| |B^T||d||B|
// (C + 19 covers the float32 roundings of the transforms, the C-term sum and the 9-term output transform).
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  getNativeThreads,
  nativeBf16Support,
  nativeKernelStats,
  resetNativeKernelStats,
  setNativePrecision,
  setNativeThreads,
  toBfloat16Bits,
} from '../src/index';
import { input, runOn, setupBackends } from './helpers';

const U = 2 ** -8;
const V = 2 ** -24;
const gamma = (n: number) => (n * V) / (1 - n * V);

// Rounds to bfloat16 by the IEEE rule, written independently of the kernels: nearest, ties to even
// (add 0x7FFF plus the lowest kept bit, drop the low 16 bits); NaN stays NaN; subnormals flush to 0.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function roundBf16(v: number): number {
  f32[0] = v;
  let u = u32[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return NaN;
  if ((u & 0x7f800000) === 0) u &= 0x80000000;
  u32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f32[0]!;
}
const roundAll = (a: Float32Array) => Float32Array.from(a, roundBf16);

interface Geo {
  n: number; h: number; w: number; c: number; kh: number; kw: number; co: number;
  oh: number; ow: number; sh: number; sw: number; pt: number; pl: number;
}
function geo(x: number[], f: number[], strides: number, pad: 'same' | 'valid'): Geo {
  const i = backend_util.computeConv2DInfo(x as [number, number, number, number], f as [number, number, number, number], strides, 1, pad);
  return { n: i.batchSize, h: i.inHeight, w: i.inWidth, c: i.inChannels, kh: i.filterHeight, kw: i.filterWidth, co: i.outChannels,
    oh: i.outHeight, ow: i.outWidth, sh: i.strideHeight, sw: i.strideWidth, pt: i.padInfo.top, pl: i.padInfo.left };
}

/** Exact (float64) forward conv, input gradient and filter gradient, and the same over |operands| (S per output). */
function reference(g: Geo, x: Float32Array, w: Float32Array, dy: Float32Array) {
  const y = new Float64Array(g.n * g.oh * g.ow * g.co), yS = new Float64Array(y.length);
  const dx = new Float64Array(x.length), dxS = new Float64Array(x.length);
  const dw = new Float64Array(w.length), dwS = new Float64Array(w.length);
  for (let n = 0; n < g.n; n++)
    for (let oh = 0; oh < g.oh; oh++)
      for (let ow = 0; ow < g.ow; ow++) {
        const yo = ((n * g.oh + oh) * g.ow + ow) * g.co;
        for (let a = 0; a < g.kh; a++) {
          const ih = oh * g.sh - g.pt + a;
          if (ih < 0 || ih >= g.h) continue;
          for (let b = 0; b < g.kw; b++) {
            const iw = ow * g.sw - g.pl + b;
            if (iw < 0 || iw >= g.w) continue;
            for (let c = 0; c < g.c; c++) {
              const xi = ((n * g.h + ih) * g.w + iw) * g.c + c, xv = x[xi]!;
              const wo = ((a * g.kw + b) * g.c + c) * g.co;
              for (let o = 0; o < g.co; o++) {
                const wv = w[wo + o]!, dv = dy[yo + o]!;
                y[yo + o] = y[yo + o]! + xv * wv;
                yS[yo + o] = yS[yo + o]! + Math.abs(xv * wv);
                dx[xi] = dx[xi]! + dv * wv;
                dxS[xi] = dxS[xi]! + Math.abs(dv * wv);
                dw[wo + o] = dw[wo + o]! + xv * dv;
                dwS[wo + o] = dwS[wo + o]! + Math.abs(xv * dv);
              }
            }
          }
        }
      }
  return { y: { v: y, s: yS, n: g.kh * g.kw * g.c }, dx: { v: dx, s: dxS, n: g.kh * g.kw * g.co }, dw: { v: dw, s: dwS, n: g.n * g.oh * g.ow } };
}

/**
 * W per output of a 3x3 stride-1 conv (input [n,h,w,c], filter [3,3,c,co], top/left pads pt/pl, output oh x ow)
 * run as Winograd F(2x2, 3x3): the magnitude the bf16 rounding of V and U is relative to (see the top).
 */
function winogradW(input: Float32Array, [n, h, w, c]: [number, number, number, number], filter: (a: number, b: number, ci: number, o: number) => number, co: number, oh: number, ow: number, pt: number, pl: number) {
  const absBT = [[1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 1]];
  const absG = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 1]];
  const absAT = [[1, 1, 1, 0], [0, 1, 1, 1]];
  // Ut[xi][ci][o] = (|G| |g| |G|^T)[xi]
  const Ut = new Float64Array(16 * c * co);
  for (let ci = 0; ci < c; ci++)
    for (let o = 0; o < co; o++)
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 4; j++) {
          let v = 0;
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) v += absG[i]![a]! * Math.abs(filter(a, b, ci, o)) * absG[j]![b]!;
          Ut[((i * 4 + j) * c + ci) * co + o] = v;
        }
  const out = new Float64Array(n * oh * ow * co);
  const Vt = new Float64Array(16 * c);
  for (let b0 = 0; b0 < n; b0++)
    for (let th = 0; th < Math.ceil(oh / 2); th++)
      for (let tw = 0; tw < Math.ceil(ow / 2); tw++) {
        Vt.fill(0);
        for (let ci = 0; ci < c; ci++)
          for (let i = 0; i < 4; i++)
            for (let j = 0; j < 4; j++) {
              let v = 0;
              for (let a = 0; a < 4; a++)
                for (let b = 0; b < 4; b++) {
                  const ih = 2 * th - pt + a, iw = 2 * tw - pl + b;
                  if (ih >= 0 && ih < h && iw >= 0 && iw < w) v += absBT[i]![a]! * Math.abs(input[((b0 * h + ih) * w + iw) * c + ci]!) * absBT[j]![b]!;
                }
              Vt[(i * 4 + j) * c + ci] = v;
            }
        for (let o = 0; o < co; o++) {
          const m = new Float64Array(16);
          for (let xi = 0; xi < 16; xi++) for (let ci = 0; ci < c; ci++) m[xi] = m[xi]! + Ut[(xi * c + ci) * co + o]! * Vt[xi * c + ci]!;
          for (let a = 0; a < 2; a++)
            for (let b = 0; b < 2; b++) {
              const y = 2 * th + a, x = 2 * tw + b;
              if (y >= oh || x >= ow) continue;
              let v = 0;
              for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) v += absAT[a]![i]! * absAT[b]![j]! * m[i * 4 + j]!;
              out[((b0 * oh + y) * ow + x) * co + o] = v;
            }
        }
      }
  return out;
}

type Which = 'y' | 'dx' | 'dw';
async function kernel(which: Which, c: { x: number[]; f: number[]; strides: number; pad: 'same' | 'valid' }, arrays: Record<string, { data: Float32Array; shape: number[] }>) {
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: 1 };
  const run = (t: Record<string, tf.Tensor>): tf.Tensor =>
    which === 'y'
      ? (tf.engine().runKernel('Conv2D', { x: t.x!, filter: t.f! }, attrs) as tf.Tensor)
      : which === 'dx'
        ? (tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy!, filter: t.f! }, { ...attrs, inputShape: c.x }) as tf.Tensor)
        : (tf.engine().runKernel('Conv2DBackpropFilter', { x: t.x!, dy: t.dy! }, { ...attrs, filterShape: c.f }) as tf.Tensor);
  return (await runOn('wasm', arrays, run)).data;
}

const kernelName = { y: 'Conv2D', dx: 'Conv2DBackpropInput', dw: 'Conv2DBackpropFilter' } as const;

const support = nativeBf16Support();
// The only reason to skip: a CPU (or build) without AVX512_BF16, named in the suite's title.
const title = (name: string) => (support.supported ? name : `${name} (SKIPPED: ${support.reason})`);

beforeAll(setupBackends);
beforeEach(() => resetNativeKernelStats());
afterEach(() => setNativePrecision('float32'));

describe(title('float32 -> bfloat16 rounding (the packing conversion)'), () => {
  it.skipIf(!support.supported)('rounds hand-worked values to nearest, ties to even; NaN stays NaN, inf stays inf', () => {
    // [float32 bits, expected bf16 bits], worked by hand: bf16 keeps the top 16 bits; the low 16
    // decide: below 0x8000 down, above up, exactly 0x8000 to the even top half.
    const cases: [number, number][] = [
      [0x3f800000, 0x3f80], // 1
      [0x3f808000, 0x3f80], // 1 + 2^-8: a tie, 0x3F80 is even -> down
      [0x3f818000, 0x3f82], // 1 + 3*2^-8: a tie, 0x3F81 is odd -> up to 0x3F82
      [0x3f808001, 0x3f81], // just above the tie -> up
      [0x3f807fff, 0x3f80], // just below the tie -> down
      [0xbf818000, 0xbf82], // -(1 + 3*2^-8): ties to even in magnitude too
      [0x3dcccccd, 0x3dcd], // 0.1f: low half 0xCCCD > 0x8000 -> up
      [0x40490fdb, 0x4049], // pi: low half 0x0FDB < 0x8000 -> down
      [0x7f800000, 0x7f80], // +inf
      [0xff800000, 0xff80], // -inf
      [0x7f7fffff, 0x7f80], // largest float32 rounds up to +inf (bf16 has float32's exponent range, not more)
      [0x00000000, 0x0000],
      [0x80000000, 0x8000], // -0 keeps its sign
      [0x00000001, 0x0000], // a subnormal flushes to zero (VCVTNEPS2BF16 treats subnormal inputs as zero)
    ];
    const src = new Float32Array(new Uint32Array(cases.map(([f]) => f)).buffer);
    const out = toBfloat16Bits(src);
    expect([...out].map((b) => b.toString(16))).toEqual(cases.map(([, b]) => b.toString(16)));
    // NaNs (quiet, and signalling with a payload only in the low bits, which naive rounding turns into inf)
    const nans = toBfloat16Bits(new Float32Array(new Uint32Array([0x7fc00000, 0x7f800001, 0xffc00001]).buffer));
    for (const b of nans) expect(Number.isNaN(bfloat16BitsToFloat32(Uint16Array.of(b))[0]), `0x${b.toString(16)} is NaN`).toBe(true);
    // Lengths that are not multiples of the 16-lane vector agree with the independent JS rounding.
    const v = input([37], 11).data.map((a, i) => a * 2 ** ((i % 9) - 4));
    expect([...bfloat16BitsToFloat32(toBfloat16Bits(v))]).toEqual([...roundAll(v)]);
  });
});

// Shapes covering each packing path: <= 16 output channels (narrow tile), channels not a multiple of
// 8 (row-gathered panels), 2+ K blocks of 512, stride 2 (input gradient by GEMM + col2im), 1x1 with
// many output channels (the "wide" filter gradient), Winograd-eligible 3x3s (forward and input
// gradient through bf16 Winograd, one with 'valid' padding), and 5120 pixels (two fixed 4096-pixel chunks in the filter gradient).
// The direct kernels: 3 channels padded to 4, 16 and 32 channels (one and two 16-wide vectors, tiles of
// 8 and 16 pixels), 64 channels with 'valid' padding, an 11-pixel row (a partial tile; an odd width: a
// zero dy column in the filter gradient's pixel pairs), the filter gradient in several image chunks,
// stride 2 (3x3 'same' with a 9-pixel output row; 2x2 'valid' with 32 channels in, 64 out), and the
// stride-2 input gradient as 4 sub-pixel direct convs (3x3 /2 with 16-17-pixel parity classes, 'valid'
// as ResNet-20's 16->32 layer and 'same').
const shapes = [
  { x: [2, 9, 9, 5], f: [3, 3, 5, 7], strides: 2, pad: 'same' as const },
  { x: [2, 8, 8, 16], f: [3, 3, 16, 16], strides: 1, pad: 'same' as const },
  { x: [1, 6, 6, 72], f: [3, 3, 72, 40], strides: 1, pad: 'same' as const },
  { x: [2, 7, 9, 40], f: [3, 3, 40, 48], strides: 1, pad: 'same' as const },
  { x: [2, 6, 5, 33], f: [3, 3, 33, 35], strides: 1, pad: 'valid' as const },
  { x: [2, 6, 7, 5], f: [1, 1, 5, 37], strides: 1, pad: 'valid' as const },
  { x: [5, 32, 32, 8], f: [3, 3, 8, 16], strides: 1, pad: 'same' as const },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 16], strides: 1, pad: 'same' as const },
  { x: [2, 9, 11, 16], f: [3, 3, 16, 16], strides: 1, pad: 'same' as const },
  { x: [3, 8, 8, 32], f: [3, 3, 32, 32], strides: 1, pad: 'same' as const },
  { x: [2, 10, 10, 64], f: [3, 3, 64, 40], strides: 1, pad: 'valid' as const },
  { x: [2, 17, 17, 16], f: [3, 3, 16, 32], strides: 2, pad: 'same' as const },
  { x: [2, 16, 16, 32], f: [2, 2, 32, 64], strides: 2, pad: 'valid' as const },
  { x: [1, 34, 34, 16], f: [3, 3, 16, 32], strides: 2, pad: 'valid' as const },
  { x: [1, 33, 33, 16], f: [3, 3, 16, 32], strides: 2, pad: 'same' as const },
];

/** Whether a stride-1 conv (or the forward conv computing a stride-1 input gradient) runs the direct bf16 kernel. */
const directBf16 = (c: number, ow: number, pads: number[]) =>
  ow >= 8 && pads.every((p) => p >= 0) && (c === 3 || c === 4 || (c > 4 && c <= 8) || (c > 12 && c <= 16) || (c > 24 && c <= 32) || (c > 48 && c <= 64));

describe(title('bfloat16 conv kernels against exact references, with bounds from the 8-bit significand'), () => {
  it.skipIf(!support.supported).each(shapes.map((c) => [`x ${c.x.join('x')} f ${c.f.join('x')} stride ${c.strides} ${c.pad}`, c] as const))(
    '%s',
    async (_, c) => {
      const g = geo(c.x, c.f, c.strides, c.pad);
      const x = input(c.x, 21), f = input(c.f, 22), dy = input([g.n, g.oh, g.ow, g.co], 23);
      const exact = reference(g, x.data, f.data, dy.data);
      const exactRounded = reference(g, roundAll(x.data), roundAll(f.data), roundAll(dy.data));
      // Winograd runs the forward conv and the (stride-1) input gradient where float32 would, unless the
      // direct bf16 kernel applies (dx = conv(dy, the flipped filter with in/out swapped), pads 2 - pt / 2 - pl).
      const wino = g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1 && g.c >= 32 && g.co >= 32 && g.c * g.co <= 256 * 256;
      const winoY = wino && !directBf16(g.c, g.ow, [g.pt, g.pl]);
      const winoDx = wino && !directBf16(g.co, g.w, [2 - g.pt, 2 - g.pl]);
      const fw = (a: number, b: number, ci: number, o: number) => f.data[((a * 3 + b) * g.c + ci) * g.co + o]!;
      const winoW = {
        y: winoY ? winogradW(x.data, [g.n, g.h, g.w, g.c], fw, g.co, g.oh, g.ow, g.pt, g.pl) : null,
        dx: winoDx ? winogradW(dy.data, [g.n, g.oh, g.ow, g.co], (a, b, o, ci) => fw(2 - a, 2 - b, ci, o), g.c, g.h, g.w, 2 - g.pt, 2 - g.pl) : null,
      };
      const arrays = { x, f, dy };
      for (const which of ['y', 'dx', 'dw'] as const) {
        setNativePrecision('float32');
        const fp32 = await kernel(which, c, arrays);
        setNativePrecision('bfloat16');
        const bf16 = await kernel(which, c, arrays);
        const s = nativeKernelStats()[kernelName[which]];
        expect(s?.fallback ?? 0, `${which} fell back: ${s?.lastFallbackReason}`).toBe(0);
        const { v, s: S, n } = exact[which];
        const R = exactRounded[which];
        let worst1 = 0, worst2 = 0, worst3 = 0, errBf16 = 0, errFp32 = 0, differs = 0;
        const W = which !== 'dw' ? winoW[which] : null;
        for (let i = 0; i < v.length; i++) {
          if (W) {
            // Winograd: the rounded operands are the transforms, so only the bound through W applies.
            const e = Math.abs(bf16[i]! - v[i]!), bw = (2 * U + U * U + gamma((which === 'y' ? g.c : g.co) + 19) * (1 + U) ** 2) * W[i]!;
            expect(e, `${which}[${i}] (Winograd) vs the exact float32-operand sum`).toBeLessThanOrEqual(bw);
            expect(Math.abs(bf16[i]! - fp32[i]!), `${which}[${i}] (Winograd) vs the float32 kernel`).toBeLessThanOrEqual(bw + gamma(n + 19) * W[i]!);
            worst2 = Math.max(worst2, e / bw);
            errBf16 = Math.max(errBf16, e);
            errFp32 = Math.max(errFp32, Math.abs(fp32[i]! - v[i]!));
            if (bf16[i] !== fp32[i]) differs++;
            continue;
          }
          const e1 = Math.abs(bf16[i]! - R.v[i]!), b1 = gamma(n) * R.s[i]!;
          const e2 = Math.abs(bf16[i]! - v[i]!), b2 = (2 * U + U * U) * S[i]! + gamma(n) * (1 + U) ** 2 * S[i]!;
          const e3 = Math.abs(bf16[i]! - fp32[i]!), b3 = b2 + gamma(n) * S[i]!;
          expect(e1, `${which}[${i}] vs the exact sum of bf16-rounded operands`).toBeLessThanOrEqual(b1);
          expect(e2, `${which}[${i}] vs the exact float32-operand sum`).toBeLessThanOrEqual(b2);
          expect(e3, `${which}[${i}] vs the float32 kernel`).toBeLessThanOrEqual(b3);
          if (b1 > 0) worst1 = Math.max(worst1, e1 / b1);
          if (b2 > 0) worst2 = Math.max(worst2, e2 / b2);
          if (b3 > 0) worst3 = Math.max(worst3, e3 / b3);
          errBf16 = Math.max(errBf16, e2);
          errFp32 = Math.max(errFp32, Math.abs(fp32[i]! - v[i]!));
          if (bf16[i] !== fp32[i]) differs++;
        }
        // The bf16 path ran: its results are not float32's, and their error is bf16-sized (over 20x
        // the float32 kernel's; the ratio of unit roundoffs is 2^16).
        expect(differs, `${which}: bf16 output bitwise equal to float32's`).toBeGreaterThan(v.length / 2);
        expect(errBf16).toBeGreaterThan(20 * errFp32);
        console.info(
          `[bf16] ${kernelName[which]}${W ? ' (Winograd)' : ''} ${c.x.join('x')} * ${c.f.join('x')}: n=${n}, max |err| ${errBf16.toExponential(2)} (fp32 kernel ${errFp32.toExponential(2)}); ` +
            `max err/bound: vs rounded-operand sum ${worst1.toFixed(3)}, vs exact ${worst2.toFixed(3)}, vs fp32 kernel ${worst3.toFixed(3)}`,
        );
      }
    },
  );

  it.skipIf(!support.supported)('bf16 results are bitwise identical for 1, 2 and 3 native threads', async () => {
    const cs = [
      { x: [9, 32, 32, 19], f: [3, 3, 19, 37], strides: 1, pad: 'same' as const },
      { x: [9, 33, 33, 19], f: [3, 3, 19, 37], strides: 2, pad: 'same' as const },
      { x: [9, 12, 12, 32], f: [3, 3, 32, 40], strides: 1, pad: 'same' as const },
      { x: [9, 32, 32, 8], f: [1, 1, 8, 40], strides: 1, pad: 'valid' as const },
      { x: [3, 16, 16, 16], f: [3, 3, 16, 16], strides: 1, pad: 'same' as const },
      { x: [10, 8, 8, 64], f: [3, 3, 64, 64], strides: 1, pad: 'same' as const },
      { x: [9, 17, 17, 16], f: [3, 3, 16, 32], strides: 2, pad: 'same' as const },
      { x: [9, 34, 34, 16], f: [3, 3, 16, 32], strides: 2, pad: 'valid' as const },
    ];
    const runAll = async () => {
      const out: Float32Array[] = [];
      for (const c of cs) {
        const g = geo(c.x, c.f, c.strides, c.pad);
        const arrays = { x: input(c.x, 1), f: input(c.f, 2), dy: input([g.n, g.oh, g.ow, g.co], 4) };
        for (const which of ['y', 'dx', 'dw'] as const) out.push(await kernel(which, c, arrays));
      }
      return out;
    };
    const before = getNativeThreads();
    setNativePrecision('bfloat16');
    try {
      setNativeThreads(1);
      const one = await runAll();
      for (const t of [2, 3]) {
        setNativeThreads(t);
        const other = await runAll();
        for (let i = 0; i < one.length; i++) expect(Buffer.from(other[i]!.buffer).equals(Buffer.from(one[i]!.buffer)), `output ${i}: ${t} threads vs 1`).toBe(true);
      }
    } finally {
      setNativeThreads(before);
    }
  });
});

describe('precision switch', () => {
  it('rejects an unknown precision, naming the choices', () => {
    expect(() => setNativePrecision('float16' as 'float32')).toThrow(/'float32' or 'bfloat16'/);
  });
});
