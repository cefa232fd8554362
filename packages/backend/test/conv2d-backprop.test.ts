import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
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
  // Few input channels (the GEMM + col2im input gradient): C = 1 and 7, 7x7x3 stems (valid on a
  // pre-padded input, as resnet-variants builds it, and 'same'), pixel counts that leave a tail of
  // the 64-pixel GEMM blocks and of the 4-row register blocks, GEMM columns not a multiple of 8.
  { x: [1, 13, 13, 1], f: [5, 5, 1, 6], strides: 2, pad: 'same' },
  { x: [3, 11, 9, 7], f: [3, 3, 7, 10], strides: [2, 1], pad: 'valid' },
  { x: [2, 22, 22, 3], f: [7, 7, 3, 64], strides: 2, pad: 'valid' },
  { x: [1, 19, 17, 3], f: [7, 7, 3, 12], strides: 2, pad: 'same' },
  { x: [2, 9, 11, 6], f: [2, 3, 6, 5], strides: 1, pad: [[0, 0], [1, 2], [0, 3], [0, 0]], dilation: 2 },
  // ...and the few-channel filter gradient (O % 4 == 0): 4-wide output panels only (O = 4, 12),
  // 816 pixels (six 128-pixel blocks and a tail), padding on every side, dilation.
  { x: [1, 9, 10, 1], f: [5, 5, 1, 4], strides: 2, pad: 'same' },
  { x: [2, 7, 9, 7], f: [3, 3, 7, 12], strides: [1, 2], pad: [[0, 0], [2, 1], [1, 2], [0, 0]] },
  { x: [3, 40, 38, 3], f: [7, 7, 3, 8], strides: 2, pad: 'valid' },
  { x: [1, 11, 11, 2], f: [3, 3, 2, 16], strides: 1, pad: 'same', dilation: 2 },
];

const label = (c: Case) =>
  `x ${c.x.join('x')} f ${c.f.join('x')} stride ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)} dilation ${c.dilation ?? 1}`;

/** dy has the forward conv's output shape. */
function outShape(c: Case): number[] {
  return backend_util.computeConv2DInfo(c.x, c.f, c.strides, c.dilation ?? 1, c.pad).outShape;
}

beforeAll(setupBackends);

/**
 * The cpu reference of a case, computed once and shared by every wasm variant below: it depends only on the case
 * (the same seeded inputs, the stock cpu kernel, which no BOT_* variable reaches), so each variant is still checked
 * against the very same numbers, without recomputing them five times.
 */
function once<K, V>(compute: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const memo = new Map<K, Promise<V>>();
  return (key) => {
    let v = memo.get(key);
    if (!v) memo.set(key, (v = compute(key)));
    return v;
  };
}

/** Conv2DBackpropFilter on the cpu backend for a case, on the inputs its test builds (x seed 1, dy seed 2). */
const filterReference = once((c: Case) => {
  const d = c.dilation ?? 1;
  const arrays = { x: input(c.x, 1), dy: input(outShape(c), 2) };
  // cpu's kernel has no dilations: reference = gradient w.r.t. the dense dilated filter, sampled.
  const dense = d === 1 ? c.f : dilateFilter(new Float32Array(c.f.reduce((a, b) => a * b)), c.f, d).shape;
  return runOn('cpu', arrays, ({ x, dy }) =>
    tf.engine().runKernel('Conv2DBackpropFilter', { x: x!, dy: dy! }, {
      strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: dense,
    } as unknown as tf.NamedAttrMap) as tf.Tensor,
  );
});

/** Conv2DBackpropInput on the cpu backend for a case, on the inputs its test builds (filter seed 3, dy seed 4). */
const inputReference = once((c: Case) => {
  const d = c.dilation ?? 1;
  const filter = input(c.f, 3);
  const dense = d === 1 ? filter : dilateFilter(filter.data, c.f, d);
  return runOn('cpu', { dy: input(outShape(c), 4), filter: dense }, (t) =>
    tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy!, filter: t.filter! }, {
      strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x,
    } as unknown as tf.NamedAttrMap) as tf.Tensor,
  );
});

/** Runs the tables with our SIMD kernels on (default) and off (the XNNPACK kernels the threaded build keeps). */
describe.each([
  { simd: 'on, dispatch table', env: undefined, winograd: undefined, gemm: undefined },
  { simd: 'on, Winograd forced', env: undefined, winograd: 'always', gemm: undefined },
  { simd: 'on, Winograd and few-channel GEMM off', env: undefined, winograd: 'never', gemm: 'never' },
  { simd: 'on, Winograd off, few-channel GEMM everywhere (O % 4 == 0)', env: undefined, winograd: 'never', gemm: 'always' },
  { simd: 'off', env: '0', winograd: undefined, gemm: undefined },
])('Conv2DBackpropFilter on wasm matches the cpu backend (SIMD module $simd)', ({ env, winograd, gemm }) => {
  const set = (key: string, v: string | undefined) => {
    if (v === undefined) delete process.env[key];
    else process.env[key] = v;
  };
  beforeEach(() => {
    set('BOT_WASM_SIMD', env);
    set('BOT_WINOGRAD', winograd);
    set('BOT_BPF_GEMM', gemm);
  });
  afterEach(() => {
    delete process.env.BOT_WASM_SIMD;
    delete process.env.BOT_WINOGRAD;
    delete process.env.BOT_BPF_GEMM;
  });
  it.each(cases)('$x $f stride $strides pad $pad dilation $dilation', async (c) => {
    const d = c.dilation ?? 1;
    const arrays = { x: input(c.x, 1), dy: input(outShape(c), 2) };
    const ours = await runOn('wasm', arrays, ({ x, dy }) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: x!, dy: dy! }, {
        strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f, dilations: d,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    const ref = await filterReference(c);
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
  { mode: 'dispatch table', env: undefined, direct: undefined, gemm: undefined },
  { mode: 'Winograd forced', env: 'always', direct: undefined, gemm: undefined },
  { mode: 'Winograd off, direct SIMD kernel everywhere', env: 'never', direct: 'always', gemm: 'never' },
  { mode: 'Winograd off, few-channel GEMM kernel everywhere', env: 'never', direct: undefined, gemm: 'always' },
  { mode: 'Winograd, GEMM and direct SIMD kernel off', env: 'never', direct: 'never', gemm: 'never' },
])('Conv2DBackpropInput on wasm matches the cpu backend ($mode)', ({ env, direct, gemm }) => {
  const set = (key: string, v: string | undefined) => {
    if (v === undefined) delete process.env[key];
    else process.env[key] = v;
  };
  beforeEach(() => {
    set('BOT_WINOGRAD', env);
    set('BOT_BPI_DIRECT', direct);
    set('BOT_BPI_GEMM', gemm);
  });
  afterEach(() => {
    delete process.env.BOT_WINOGRAD;
    delete process.env.BOT_BPI_DIRECT;
    delete process.env.BOT_BPI_GEMM;
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
    const ref = await inputReference(c);
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
    const beforeGemm = simdCalls.conv2dBackpropInputGemm;
    await run({ x: [3, 11, 11, 8], f: [3, 3, 8, 16], strides: 2, pad: 'same' });
    expect(simdCalls.conv2dBackpropInput).toBe(before + 1);
    expect(simdCalls.conv2dBackpropInputGemm).toBe(beforeGemm);
    await run({ x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same' });
    expect(simdCalls.conv2dBackpropInput).toBe(before + 1);
    // ...it takes the few-channel GEMM kernel, unless BOT_BPI_GEMM=never.
    expect(simdCalls.conv2dBackpropInputGemm).toBe(beforeGemm + 1);
    process.env.BOT_BPI_GEMM = 'never';
    try {
      await run({ x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same' });
    } finally {
      delete process.env.BOT_BPI_GEMM;
    }
    expect(simdCalls.conv2dBackpropInputGemm).toBe(beforeGemm + 1);
  });

  it('a 7x7x3x64 filter gradient takes the few-channel GEMM kernel (not with BOT_BPF_GEMM=never, nor with O % 4 != 0, 3x3x3x16 or 8 channels)', async () => {
    const { simdCalls } = await import('../src/kernels/simd-module');
    const run = (c: Case) =>
      runOn('wasm', { x: input(c.x, 1), dy: input(outShape(c), 2) }, (t) =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: t.x!, dy: t.dy! }, {
          strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      );
    const before = simdCalls.conv2dBackpropFilterGemm;
    await run({ x: [2, 14, 14, 3], f: [7, 7, 3, 64], strides: 2, pad: 'valid' });
    expect(simdCalls.conv2dBackpropFilterGemm).toBe(before + 1);
    await run({ x: [2, 14, 14, 3], f: [7, 7, 3, 66], strides: 2, pad: 'valid' });
    await run({ x: [2, 8, 8, 3], f: [3, 3, 3, 16], strides: 1, pad: 'same' });
    await run({ x: [2, 8, 8, 8], f: [3, 3, 8, 64], strides: 2, pad: 'same' });
    process.env.BOT_BPF_GEMM = 'never';
    try {
      await run({ x: [2, 14, 14, 3], f: [7, 7, 3, 64], strides: 2, pad: 'valid' });
    } finally {
      delete process.env.BOT_BPF_GEMM;
    }
    expect(simdCalls.conv2dBackpropFilterGemm).toBe(before + 1);
  });

  it('the few-channel GEMM filter gradient leaks no tensors and its scratch does not grow the heap', async () => {
    const { simdCalls } = await import('../src/kernels/simd-module');
    await tf.setBackend('wasm');
    const x = tf.randomNormal([2, 22, 22, 3]);
    const dy = tf.randomNormal([2, 8, 8, 64]);
    const call = () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 2, pad: 'valid', dataFormat: 'NHWC', filterShape: [7, 7, 3, 64],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const before = simdCalls.conv2dBackpropFilterGemm;
    tf.dispose(call());
    const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
    const heapBytes = memory.buffer.byteLength;
    await expectNoLeak(() => tf.dispose(call()), 10);
    // Each call takes ~150 KB of scratch (the im2col block, the packed dy block, one product).
    for (let i = 0; i < 20; i++) tf.dispose(call());
    expect(memory.buffer.byteLength).toBe(heapBytes);
    expect(simdCalls.conv2dBackpropFilterGemm).toBe(before + 32);
    tf.dispose([x, dy]);
  });

  it('the few-channel GEMM input gradient leaks no tensors and its scratch does not grow the heap', async () => {
    const { simdCalls } = await import('../src/kernels/simd-module');
    await tf.setBackend('wasm');
    const dy = tf.randomNormal([2, 8, 8, 64]);
    const w = tf.randomNormal([7, 7, 3, 64]);
    const call = () =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
        strides: 2, pad: 'valid', dataFormat: 'NHWC', inputShape: [2, 22, 22, 3],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const before = simdCalls.conv2dBackpropInputGemm;
    tf.dispose(call());
    const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
    const heapBytes = memory.buffer.byteLength;
    await expectNoLeak(() => tf.dispose(call()), 10);
    // Each call takes ~50 KB of scratch (packed filter, GEMM block): 11 unfreed calls would show.
    for (let i = 0; i < 20; i++) tf.dispose(call());
    expect(memory.buffer.byteLength).toBe(heapBytes);
    expect(simdCalls.conv2dBackpropInputGemm).toBe(before + 32);
    tf.dispose([dy, w]);
  });
});
