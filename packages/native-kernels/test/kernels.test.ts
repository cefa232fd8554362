import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { getNativeThreads, nativeKernelStats, resetNativeKernelStats, setNativeThreads } from '../src/index';
import { dilateFilter, input, runOn, setupBackends, undilateFilter } from './helpers';

type Pad = 'same' | 'valid' | backend_util.ExplicitPadding;
interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilation?: number;
}

// Channels deliberately not multiples of the vector width (16 floats with AVX-512, 8 with AVX2),
// output rows not multiples of the 12-row microkernel tile, odd spatial sizes.
const cases: Case[] = [
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 9, 9, 5], f: [3, 3, 5, 7], strides: 2, pad: 'same' },
  { x: [2, 9, 7, 3], f: [3, 3, 3, 17], strides: 2, pad: 'valid' },
  { x: [2, 8, 8, 20], f: [1, 1, 20, 33], strides: 1, pad: 'valid' }, // 1x1 stride 1: the plain GEMM path
  { x: [2, 8, 8, 4], f: [1, 1, 4, 5], strides: 2, pad: 'same' },
  { x: [1, 11, 10, 3], f: [7, 7, 3, 17], strides: 2, pad: 'same' },
  { x: [2, 6, 5, 3], f: [2, 3, 3, 2], strides: 1, pad: 'same' },
  { x: [1, 8, 9, 3], f: [3, 3, 3, 2], strides: [1, 2], pad: 'same' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: [[0, 0], [1, 2], [2, 1], [0, 0]] },
  { x: [2, 6, 6, 3], f: [1, 1, 3, 2], strides: 1, pad: [[0, 0], [1, 0], [0, 2], [0, 0]] },
  { x: [2, 7, 8, 3], f: [2, 2, 3, 4], strides: 3, pad: [[0, 0], [3, 1], [0, 4], [0, 0]] },
  { x: [2, 5, 5, 40], f: [3, 3, 40, 70], strides: 1, pad: 'same' }, // the input gradient's K = 630: two 512-deep blocks
  { x: [1, 6, 6, 72], f: [3, 3, 72, 20], strides: 1, pad: 'same' }, // forward K = 648, summed over two K blocks
  { x: [1, 5, 7, 70], f: [3, 3, 70, 9], strides: 2, pad: 'same' }, // K = 630, <= 16 output channels (256-bit kernel)
  // 3x3 stride 1 with 32+ channels in and out: Winograd F(2x2, 3x3), odd output sizes included
  { x: [2, 7, 9, 33], f: [3, 3, 33, 40], strides: 1, pad: 'same' },
  { x: [1, 8, 7, 32], f: [3, 3, 32, 48], strides: 1, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
  { x: [2, 6, 5, 40], f: [3, 3, 40, 35], strides: 1, pad: 'valid' },
  // 2x more output channels than KH*KW*C: the filter gradient as im2col^T * dy ("wide")
  { x: [2, 6, 7, 5], f: [1, 1, 5, 37], strides: 1, pad: 'valid' },
  { x: [2, 9, 9, 6], f: [1, 1, 6, 40], strides: 2, pad: 'same' },
  { x: [1, 5, 5, 2], f: [3, 3, 2, 40], strides: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [1, 10, 10, 2], f: [3, 3, 2, 3], strides: 1, pad: 'same', dilation: 2 },
  { x: [1, 10, 10, 2], f: [3, 3, 2, 3], strides: 1, pad: 'valid', dilation: 2 },
  { x: [1, 11, 11, 3], f: [3, 3, 3, 5], strides: 2, pad: 'same', dilation: 2 },
  { x: [1, 9, 9, 2], f: [2, 2, 2, 3], strides: 1, pad: [[0, 0], [2, 1], [1, 0], [0, 0]], dilation: 2 },
];

const label = (c: Case) =>
  `x ${c.x.join('x')} f ${c.f.join('x')} stride ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)} dilation ${c.dilation ?? 1}`;
const outShape = (c: Case): number[] => backend_util.computeConv2DInfo(c.x, c.f, c.strides, c.dilation ?? 1, c.pad).outShape;
const close = { rtol: 1e-4, atol: 1e-5 };

function convAttrs(c: Case): tf.NamedAttrMap {
  return { strides: c.strides, pad: c.pad as tf.NamedAttrMap[string], dataFormat: 'NHWC', dilations: c.dilation ?? 1 };
}

/** Asserts the wasm call ran natively (not through the kernel beneath). */
function expectNative(kernel: string, calls = 1): void {
  const s = nativeKernelStats()[kernel];
  expect(s?.fallback ?? 0, `${kernel} fell back: ${s?.lastFallbackReason}`).toBe(0);
  expect(s?.native ?? 0).toBe(calls);
}

beforeAll(setupBackends);
beforeEach(() => resetNativeKernelStats());

// tf.conv2d refuses stride > 1 with dilation > 1, so the kernels are called directly; tfjs' cpu kernels
// then get the zero-inserted (undilated) filter, an independent reference for any dilation.
const refFilter = (f: { data: Float32Array; shape: number[] }, c: Case) =>
  (c.dilation ?? 1) === 1 ? f : dilateFilter(f.data, c.f, c.dilation ?? 1);

describe('Conv2D (native) matches the cpu backend', () => {
  it.each(cases.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const x = input(c.x, 1);
    const f = input(c.f, 2);
    const run = (dilations: number) => (t: Record<string, tf.Tensor>) =>
      tf.engine().runKernel('Conv2D', { x: t.x!, filter: t.f! }, { ...convAttrs(c), dilations }) as tf.Tensor;
    const wasm = await runOn('wasm', { x, f }, run(c.dilation ?? 1));
    expectNative('Conv2D');
    const cpu = await runOn('cpu', { x, f: refFilter(f, c) }, run(1));
    expect(wasm.shape).toEqual(outShape(c));
    expect(cpu.shape).toEqual(outShape(c));
    expectTensorsClose(wasm.data, cpu.data, close);
  });
});

describe('FusedConv2D (native: bias + relu / linear) matches the cpu backend', () => {
  it.each(cases.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    for (const activation of ['relu', 'linear'] as const) {
      resetNativeKernelStats();
      const x = input(c.x, 3);
      const f = input(c.f, 4);
      const b = input([c.f[3]], 5);
      const run = (dilations: number) => (t: Record<string, tf.Tensor>) =>
        tf.engine().runKernel('FusedConv2D', { x: t.x!, filter: t.f!, bias: t.b! }, { ...convAttrs(c), dilations, activation }) as tf.Tensor;
      const wasm = await runOn('wasm', { x, f, b }, run(c.dilation ?? 1));
      expectNative('FusedConv2D');
      const cpu = await runOn('cpu', { x, f: refFilter(f, c), b }, run(1));
      expect(wasm.shape).toEqual(outShape(c));
      expectTensorsClose(wasm.data, cpu.data, close);
      if (activation === 'relu') expect(Math.min(...wasm.data)).toBe(0);
      else expect(Math.min(...wasm.data)).toBeLessThan(0);
    }
  });
});

describe('Conv2DBackpropInput (native) matches the cpu backend', () => {
  it.each(cases.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const d = c.dilation ?? 1;
    const f = input(c.f, 7);
    const dy = input(outShape(c), 6);
    const wasm = await runOn('wasm', { dy, f }, (t) =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy!, filter: t.f! }, { ...convAttrs(c), inputShape: c.x }) as tf.Tensor,
    );
    expectNative('Conv2DBackpropInput');
    // tfjs' cpu kernel has no dilation: the reference for a dilated conv is the zero-inserted filter.
    const fRef = d === 1 ? f : dilateFilter(f.data, c.f, d);
    const cpu = await runOn('cpu', { dy, f: fRef }, (t) =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy!, filter: t.f! }, { ...convAttrs(c), dilations: 1, inputShape: c.x }) as tf.Tensor,
    );
    expect(wasm.shape).toEqual(c.x);
    expectTensorsClose(wasm.data, cpu.data, close);
  });
});

describe('Conv2DBackpropFilter (native) matches the cpu backend', () => {
  it.each(cases.map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const d = c.dilation ?? 1;
    const x = input(c.x, 8);
    const dy = input(outShape(c), 9);
    const wasm = await runOn('wasm', { x, dy }, (t) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: t.x!, dy: t.dy! }, { ...convAttrs(c), filterShape: c.f }) as tf.Tensor,
    );
    expectNative('Conv2DBackpropFilter');
    const dilatedShape = dilateFilter(new Float32Array(c.f.reduce((a, b) => a * b, 1)), c.f, d).shape;
    const cpu = await runOn('cpu', { x, dy }, (t) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: t.x!, dy: t.dy! }, { ...convAttrs(c), dilations: 1, filterShape: dilatedShape }) as tf.Tensor,
    );
    expect(wasm.shape).toEqual(c.f);
    expectTensorsClose(wasm.data, d === 1 ? cpu.data : undilateFilter(cpu.data, c.f, d), close);
  });
});

describe('threads', () => {
  it('1 and 2 native threads give bitwise-equal results for every kernel (shapes spanning many tiles and reduction chunks)', async () => {
    // 9*32*32 = 9216 output pixels: several row tiles, and 8 fixed pixel chunks (1280 each, the last 256) in the
    // float32 filter gradient.
    const c: Case = { x: [9, 32, 32, 19], f: [3, 3, 19, 37], strides: 1, pad: 'same' };
    const s2: Case = { x: [9, 33, 33, 19], f: [3, 3, 19, 37], strides: 2, pad: 'same' };
    const wino: Case = { x: [9, 12, 12, 32], f: [3, 3, 32, 40], strides: 1, pad: 'same' }; // Winograd, 9 tile blocks
    const wide: Case = { x: [9, 32, 32, 8], f: [1, 1, 8, 40], strides: 1, pad: 'valid' }; // wide filter gradient, 3 chunks
    const runAll = async () => {
      const out: Float32Array[] = [];
      for (const k of [c, s2, wino, wide]) {
        const arrays = { x: input(k.x, 1), f: input(k.f, 2), b: input([k.f[3]], 3), dy: input(outShape(k), 4) };
        out.push((await runOn('wasm', arrays, (t) => tf.fused.conv2d({ x: t.x as tf.Tensor4D, filter: t.f as tf.Tensor4D, strides: k.strides, pad: k.pad, bias: t.b, activation: 'relu' }))).data);
        out.push((await runOn('wasm', arrays, (t) => tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy!, filter: t.f! }, { ...convAttrs(k), inputShape: k.x }) as tf.Tensor)).data);
        out.push((await runOn('wasm', arrays, (t) => tf.engine().runKernel('Conv2DBackpropFilter', { x: t.x!, dy: t.dy! }, { ...convAttrs(k), filterShape: k.f }) as tf.Tensor)).data);
      }
      return out;
    };
    const before = getNativeThreads();
    try {
      setNativeThreads(1);
      const one = await runAll();
      setNativeThreads(2);
      const two = await runAll();
      setNativeThreads(3);
      const three = await runAll();
      for (let i = 0; i < one.length; i++) {
        expect(Buffer.from(two[i]!.buffer).equals(Buffer.from(one[i]!.buffer)), `output ${i}: 2 threads vs 1`).toBe(true);
        expect(Buffer.from(three[i]!.buffer).equals(Buffer.from(one[i]!.buffer)), `output ${i}: 3 threads vs 1`).toBe(true);
      }
    } finally {
      setNativeThreads(before);
    }
    const stats = nativeKernelStats();
    expect(stats['FusedConv2D']?.fallback ?? 0).toBe(0);
    expect(stats['FusedConv2D']?.native).toBe(12);
  });

  it("ResNet-20's small layers (8x8 and 64 channels, the stride-2 32->64, a 1x1 shortcut): the float32 filter gradient in 2 pixel chunks x 2 column blocks is within float32 rounding of a float64 sum, bitwise equal for 1, 2 and 3 threads", async () => {
    // 16 images of 8x8 output pixels = 1024: fewer than 8 tasks with 4096-pixel chunks, so the reduction is cut
    // into two 512-pixel chunks; KH*KW*C = 576 filter rows go in 2 column blocks of 288 (not 512 + 64).
    const layers: (Case & { pt: number })[] = [
      { x: [16, 8, 8, 64], f: [3, 3, 64, 64], strides: 1, pad: 'same', pt: 1 },
      { x: [16, 18, 18, 32], f: [3, 3, 32, 64], strides: 2, pad: 'valid', pt: 0 },
      { x: [16, 8, 8, 32], f: [1, 1, 32, 64], strides: 1, pad: 'valid', pt: 0 }, // the wide (im2col^T * dy) GEMM
    ];
    const before = getNativeThreads();
    try {
      for (const k of layers) {
        const arrays = { x: input(k.x, 21), dy: input(outShape(k), 22) };
        const out: Float32Array[] = [];
        for (const n of [1, 2, 3]) {
          setNativeThreads(n);
          resetNativeKernelStats();
          const dw = (t: Record<string, tf.Tensor>) =>
            tf.engine().runKernel('Conv2DBackpropFilter', { x: t.x!, dy: t.dy! }, { ...convAttrs(k), filterShape: k.f }) as tf.Tensor;
          out.push((await runOn('wasm', arrays, dw)).data);
          expectNative('Conv2DBackpropFilter');
        }
        expect(Buffer.from(out[1]!.buffer).equals(Buffer.from(out[0]!.buffer)), `${label(k)}: 2 threads vs 1`).toBe(true);
        expect(Buffer.from(out[2]!.buffer).equals(Buffer.from(out[0]!.buffer)), `${label(k)}: 3 threads vs 1`).toBe(true);
        // dW[a][b][c][o] = sum over (n, oh, ow) of x[n][oh*s - pt + a][ow*s - pt + b][c] * dy[n][oh][ow][o], in float64.
        const [N, H, W, C] = k.x;
        const [KH, KW, , CO] = k.f;
        const [, OH, OW] = outShape(k) as [number, number, number, number];
        const s = k.strides as number;
        const ref = new Float64Array(KH * KW * C * CO);
        const { data: x } = arrays.x;
        const { data: dy } = arrays.dy;
        for (let n = 0; n < N; n++)
          for (let oh = 0; oh < OH; oh++)
            for (let ow = 0; ow < OW; ow++) {
              const d = ((n * OH + oh) * OW + ow) * CO;
              for (let a = 0; a < KH; a++) {
                const ih = oh * s - k.pt + a;
                if (ih < 0 || ih >= H) continue;
                for (let b = 0; b < KW; b++) {
                  const iw = ow * s - k.pt + b;
                  if (iw < 0 || iw >= W) continue;
                  const xo = ((n * H + ih) * W + iw) * C;
                  for (let c = 0; c < C; c++) {
                    const xv = x[xo + c]!;
                    const r = ((a * KW + b) * C + c) * CO;
                    for (let o = 0; o < CO; o++) ref[r + o]! += xv * dy[d + o]!;
                  }
                }
              }
            }
        // float32 sums of 1024 products each under 1 in magnitude (|dW| ~ 10): rtol 1e-5 on top of 1024 roundings of
        // 2^-24 each on partial sums under ~16 (1024 * 2^-24 * 16 ~ 1e-3 worst case; atol 2e-4).
        expectTensorsClose(out[0]!, ref, { rtol: 1e-5, atol: 2e-4 });
      }
    } finally {
      setNativeThreads(before);
    }
  });

  it('setNativeThreads rejects a bad count with a clear error', () => {
    expect(() => setNativeThreads(0)).toThrow(/integer from 1 to 256/);
    expect(() => setNativeThreads(1.5)).toThrow(/integer from 1 to 256/);
  });
});

describe('fallback to the kernel beneath', () => {
  it('an activation the native path lacks (relu6) runs the wasm kernel beneath, with the reason recorded', async () => {
    const c = cases[1]!;
    const arrays = { x: input(c.x, 1), f: input(c.f, 2), b: input([c.f[3]], 3) };
    const run = (t: Record<string, tf.Tensor>) =>
      tf.fused.conv2d({ x: t.x as tf.Tensor4D, filter: t.f as tf.Tensor4D, strides: c.strides, pad: c.pad, bias: t.b, activation: 'relu6' });
    const wasm = await runOn('wasm', arrays, run);
    const cpu = await runOn('cpu', arrays, run);
    expectTensorsClose(wasm.data, cpu.data, close);
    const s = nativeKernelStats()['FusedConv2D']!;
    expect(s.native).toBe(0);
    expect(s.fallback).toBe(1);
    expect(s.lastFallbackReason).toMatch(/relu6/);
  });

  it('a non-float32 input is not run natively (the wasm kernel beneath decides), and says why', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1], 'int32');
    const f = tf.tensor4d([1], [1, 1, 1, 1], 'int32');
    try {
      tf.engine().runKernel('Conv2D', { x, filter: f }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 });
    } catch {
      // whatever the wasm kernel beneath does with int32 is its business; ours must not have run
    }
    const s = nativeKernelStats()['Conv2D']!;
    expect(s.native).toBe(0);
    expect(s.lastFallbackReason).toMatch(/dtype int32.*float32 only/);
    tf.dispose([x, f]);
  });
});

describe('no leaks', () => {
  it('every native kernel keeps tf.memory().numTensors constant', async () => {
    await tf.setBackend('wasm');
    const c = cases[1]!;
    const x = tf.tensor(input(c.x, 1).data, c.x);
    const f = tf.tensor(input(c.f, 2).data, c.f);
    const b = tf.tensor(input([c.f[3]], 3).data, [c.f[3]]);
    const dy = tf.tensor(input(outShape(c), 4).data, outShape(c));
    await expectNoLeak(() => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad));
    await expectNoLeak(() => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: c.strides, pad: c.pad, bias: b, activation: 'relu' }));
    await expectNoLeak(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...convAttrs(c), inputShape: c.x }));
    await expectNoLeak(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...convAttrs(c), filterShape: c.f }));
    await expectNoLeak(() => tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'))))([x, f]));
    expect(nativeKernelStats()['Conv2DBackpropFilter']!.fallback).toBe(0);
    tf.dispose([x, f, b, dy]);
  });
});
