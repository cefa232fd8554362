import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { dilateFilter, input, runOn, setupBackends, undilateFilter } from './helpers';

type Pad = 'same' | 'valid' | backend_util.ExplicitPadding;
interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilation?: number;
}

const cases: Case[] = [
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: 'valid' },
  { x: [2, 9, 7, 3], f: [3, 3, 3, 4], strides: 2, pad: 'valid' },
  { x: [2, 8, 8, 4], f: [1, 1, 4, 5], strides: 1, pad: 'valid' },
  { x: [2, 8, 8, 4], f: [1, 1, 4, 5], strides: 2, pad: 'same' },
  { x: [2, 7, 7, 3], f: [7, 7, 3, 4], strides: 2, pad: 'same' },
  { x: [2, 6, 5, 3], f: [2, 3, 3, 2], strides: 1, pad: 'same' },
  { x: [1, 8, 9, 3], f: [3, 3, 3, 2], strides: [1, 2], pad: 'same' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: [[0, 0], [1, 2], [2, 1], [0, 0]] },
  { x: [2, 6, 6, 3], f: [1, 1, 3, 2], strides: 1, pad: [[0, 0], [1, 0], [0, 2], [0, 0]] },
  { x: [2, 10, 10, 4], f: [3, 3, 4, 8], strides: 2, pad: 'valid' }, // ZeroPadding2D + strided conv, as resnet-variants builds it
  { x: [2, 8, 8, 4], f: [1, 1, 4, 5], strides: 2, pad: 'valid' },
  { x: [2, 7, 8, 3], f: [2, 2, 3, 4], strides: 3, pad: [[0, 0], [3, 1], [0, 4], [0, 0]] },
  { x: [1, 10, 10, 2], f: [3, 3, 2, 3], strides: 1, pad: 'same', dilation: 2 },
  { x: [1, 10, 10, 2], f: [3, 3, 2, 3], strides: 1, pad: 'valid', dilation: 2 },
  { x: [1, 9, 9, 2], f: [2, 2, 2, 3], strides: 1, pad: [[0, 0], [2, 1], [1, 0], [0, 0]], dilation: 2 },
  // Shapes that reach every register block of the SIMD filter gradient (4x8, 4x4, 1x8, 1x4, scalar
  // channel tails), merged row segments (1x1), several row chunks, and Winograd's tile tails.
  { x: [1, 9, 7, 6], f: [3, 3, 6, 13], strides: 1, pad: 'same' },
  { x: [3, 11, 11, 8], f: [3, 3, 8, 16], strides: 2, pad: 'same' },
  { x: [2, 8, 8, 12], f: [1, 1, 12, 20], strides: 1, pad: 'valid' },
  { x: [1, 15, 15, 5], f: [7, 7, 5, 9], strides: 2, pad: 'same' },
  { x: [2, 9, 9, 8], f: [3, 3, 8, 12], strides: 2, pad: 'same', dilation: 2 },
  { x: [4, 32, 32, 16], f: [3, 3, 16, 16], strides: 1, pad: 'same' },
  { x: [1, 7, 5, 16], f: [3, 3, 16, 20], strides: 1, pad: 'valid' },
  { x: [2, 9, 9, 16], f: [3, 3, 16, 16], strides: 1, pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
  { x: [2, 2, 2, 32], f: [3, 3, 32, 32], strides: 1, pad: 'same' },
  { x: [3, 5, 5, 4], f: [3, 3, 4, 8], strides: 1, pad: 'same' },
  // Wide enough for the packed-panel filter gradient (min(C, O) >= 64).
  { x: [2, 6, 6, 64], f: [1, 1, 64, 72], strides: 1, pad: 'valid' },
  { x: [2, 9, 9, 64], f: [3, 3, 64, 64], strides: 2, pad: 'same' },
  // Direct input gradient: 2-pixel rows (pixel groups across rows), 8- and 4-wide channel panels.
  { x: [2, 4, 4, 12], f: [1, 1, 12, 24], strides: 2, pad: 'valid' },
  { x: [3, 5, 5, 20], f: [3, 3, 20, 8], strides: 2, pad: 'same' },
];

const label = (c: Case) =>
  `x ${c.x.join('x')} f ${c.f.join('x')} stride ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)} dilation ${c.dilation ?? 1}`;

/** dy has the forward conv's output shape. */
function outShape(c: Case): number[] {
  return backend_util.computeConv2DInfo(c.x, c.f, c.strides, c.dilation ?? 1, c.pad).outShape;
}

beforeAll(setupBackends);

/** Runs the tables with our SIMD kernels on (default) and off (the XNNPACK kernels the threaded build keeps). */
describe.each([
  { simd: 'on, dispatch table', env: undefined, winograd: undefined },
  { simd: 'on, Winograd forced', env: undefined, winograd: 'always' },
  { simd: 'on, Winograd off', env: undefined, winograd: 'never' },
  { simd: 'off', env: '0', winograd: undefined },
])('Conv2DBackpropFilter on wasm matches the cpu backend (SIMD module $simd)', ({ env, winograd }) => {
  beforeEach(() => {
    if (env === undefined) delete process.env.BOT_WASM_SIMD;
    else process.env.BOT_WASM_SIMD = env;
    if (winograd === undefined) delete process.env.BOT_WINOGRAD;
    else process.env.BOT_WINOGRAD = winograd;
  });
  afterEach(() => {
    delete process.env.BOT_WASM_SIMD;
    delete process.env.BOT_WINOGRAD;
  });
  it.each(cases)('$x $f stride $strides pad $pad dilation $dilation', async (c) => {
    const d = c.dilation ?? 1;
    const arrays = { x: input(c.x, 1), dy: input(outShape(c), 2) };
    const ours = await runOn('wasm', arrays, ({ x, dy }) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: x!, dy: dy! }, {
        strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f, dilations: d,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    // cpu's kernel has no dilations: reference = gradient w.r.t. the dense dilated filter, sampled.
    const dense = d === 1 ? c.f : dilateFilter(new Float32Array(c.f.reduce((a, b) => a * b)), c.f, d).shape;
    const ref = await runOn('cpu', arrays, ({ x, dy }) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: x!, dy: dy! }, {
        strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: dense,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    expect(ours.shape, label(c)).toEqual(c.f);
    const want = d === 1 ? ref.data : undilateFilter(ref.data, c.f, d);
    // A filter gradient sums N*OH*OW products: float32 rounding of the cpu reference itself grows
    // with the magnitude of the sums (on [4,32,32,16] both cpu and ours are ~3e-4 off a float64
    // sum of magnitude 240), so the absolute slack is 1e-6 of the largest value on top of 1e-4.
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectTensorsClose(ours.data, want, { rtol: 1e-4, atol: 1e-4 + 1e-6 * scale });
  });
});

describe.each([
  { mode: 'dispatch table', env: undefined, direct: undefined },
  { mode: 'Winograd forced', env: 'always', direct: undefined },
  { mode: 'Winograd off, direct SIMD kernel everywhere', env: 'never', direct: 'always' },
  { mode: 'Winograd and direct SIMD kernel off', env: 'never', direct: 'never' },
])('Conv2DBackpropInput on wasm matches the cpu backend ($mode)', ({ env, direct }) => {
  beforeEach(() => {
    if (env === undefined) delete process.env.BOT_WINOGRAD;
    else process.env.BOT_WINOGRAD = env;
    if (direct === undefined) delete process.env.BOT_BPI_DIRECT;
    else process.env.BOT_BPI_DIRECT = direct;
  });
  afterEach(() => {
    delete process.env.BOT_WINOGRAD;
    delete process.env.BOT_BPI_DIRECT;
  });
  it.each(cases)('$x $f stride $strides pad $pad dilation $dilation', async (c) => {
    const d = c.dilation ?? 1;
    const filter = input(c.f, 3);
    const dy = input(outShape(c), 4);
    const ours = await runOn('wasm', { dy, filter }, (t) =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy!, filter: t.filter! }, {
        strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x, dilations: d,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    const dense = d === 1 ? filter : dilateFilter(filter.data, c.f, d);
    const ref = await runOn('cpu', { dy, filter: dense }, (t) =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy!, filter: t.filter! }, {
        strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    expect(ours.shape, label(c)).toEqual(c.x);
    expectTensorsClose(ours.data, ref.data, { rtol: 1e-4, atol: 1e-4 });
  });
});

describe('through the public ops', () => {
  it('tf.grads of conv2d on wasm equals cpu (stride 2, same)', async () => {
    const arrays = { x: input([2, 9, 9, 3], 5), w: input([3, 3, 3, 4], 6) };
    const grads = (b: 'cpu' | 'wasm', which: 0 | 1) =>
      runOn(b, arrays, ({ x, w }) => {
        const g = tf.grads((a: tf.Tensor, f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'))));
        const [dx, dw] = g([x!, w!]);
        const keep = which === 0 ? dx! : dw!;
        tf.dispose(which === 0 ? dw! : dx!);
        return keep;
      });
    for (const which of [0, 1] as const) {
      expectTensorsClose((await grads('wasm', which)).data, (await grads('cpu', which)).data, { rtol: 1e-4, atol: 1e-4 });
    }
  });
});

describe('which kernel runs', () => {
  it('a strided 3x3 input gradient with 8 input channels takes the direct SIMD kernel, a 3-channel one does not', async () => {
    const { simdCalls } = await import('../src/kernels/simd-module');
    const run = (c: Case) =>
      runOn('wasm', { dy: input(outShape(c), 1), w: input(c.f, 2) }, (t) =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy!, filter: t.w! }, {
          strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      );
    const before = simdCalls.conv2dBackpropInput;
    await run({ x: [3, 11, 11, 8], f: [3, 3, 8, 16], strides: 2, pad: 'same' });
    expect(simdCalls.conv2dBackpropInput).toBe(before + 1);
    await run({ x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same' });
    expect(simdCalls.conv2dBackpropInput).toBe(before + 1);
  });
});
