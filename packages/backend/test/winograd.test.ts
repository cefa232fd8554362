import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { batchNormTraining } from '../src/index';
import { simdCalls } from '../src/kernels/simd-module';
import { WINOGRAD_DISPATCH, winogradWanted } from '../src/kernels/winograd';
import { input, normals, runOn, setupBackends, type Backend } from './helpers';

beforeAll(setupBackends);
afterEach(() => {
  delete process.env.BOT_WINOGRAD;
  delete process.env.BOT_WASM_SIMD;
});

type Pad = 'same' | 'valid' | backend_util.ExplicitPadding;
interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  pad: Pad;
}

// 3x3 stride-1 shapes: odd sizes (partial output tiles), batch 1, explicit pads, C/O not multiples
// of 8 (the 4-wide GEMM blocks), more tiles than one block (162 tiles for 16+16 channels).
const cases: Case[] = [
  { x: [2, 7, 5, 8], f: [3, 3, 8, 12], pad: 'same' },
  { x: [1, 6, 6, 16], f: [3, 3, 16, 20], pad: 'valid' },
  { x: [2, 9, 8, 4], f: [3, 3, 4, 4], pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
  { x: [2, 17, 17, 16], f: [3, 3, 16, 16], pad: 'same' },
  { x: [3, 2, 2, 32], f: [3, 3, 32, 24], pad: 'same' },
  { x: [1, 1, 1, 16], f: [3, 3, 16, 16], pad: 'same' },
];

const activations = ['linear', 'relu'] as const;

function fusedOn(b: Backend, c: Case, activation: 'linear' | 'relu' | 'elu', withBias: boolean) {
  const arrays = { x: input(c.x, 11), w: input(c.f, 12), bias: input([c.f[3]], 13) };
  return runOn(b, arrays, ({ x, w, bias }) =>
    tf.fused.conv2d({
      x: x as tf.Tensor4D,
      filter: w as tf.Tensor4D,
      strides: 1,
      pad: c.pad,
      bias: withBias ? bias : undefined,
      activation,
    }),
  );
}

describe('Winograd F(2x2,3x3) forward conv matches the cpu backend', () => {
  it.each(cases.flatMap((c) => activations.map((activation) => ({ ...c, activation }))))(
    'FusedConv2D $x $f pad $pad, bias, $activation',
    async (c) => {
      process.env.BOT_WINOGRAD = 'always';
      const before = simdCalls.winograd;
      const ours = await fusedOn('wasm', c, c.activation, true);
      expect(simdCalls.winograd).toBe(before + 1);
      const ref = await fusedOn('cpu', c, c.activation, true);
      expect(ours.shape).toEqual(ref.shape);
      expectTensorsClose(ours.data, ref.data, { rtol: 1e-4, atol: 1e-4 });
    },
  );

  it.each(cases)('Conv2D $x $f pad $pad (no bias)', async (c) => {
    process.env.BOT_WINOGRAD = 'always';
    const before = simdCalls.winograd;
    const arrays = { x: input(c.x, 21), w: input(c.f, 22) };
    const run = (b: Backend) => runOn(b, arrays, ({ x, w }) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, c.pad));
    const ours = await run('wasm');
    expect(simdCalls.winograd).toBe(before + 1);
    expectTensorsClose(ours.data, (await run('cpu')).data, { rtol: 1e-4, atol: 1e-4 });
  });

  it('elu, prelu and strided convs stay on the stock kernel and still match cpu', async () => {
    process.env.BOT_WINOGRAD = 'always';
    const c: Case = { x: [2, 8, 8, 16], f: [3, 3, 16, 16], pad: 'same' };
    const before = simdCalls.winograd;
    const ours = await fusedOn('wasm', c, 'elu', true);
    const strided = await runOn('wasm', { x: input(c.x, 1), w: input(c.f, 2) }, ({ x, w }) =>
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'),
    );
    expect(simdCalls.winograd).toBe(before);
    expectTensorsClose(ours.data, (await fusedOn('cpu', c, 'elu', true)).data, { rtol: 1e-4, atol: 1e-4 });
    const stridedRef = await runOn('cpu', { x: input(c.x, 1), w: input(c.f, 2) }, ({ x, w }) =>
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'),
    );
    expectTensorsClose(strided.data, stridedRef.data, { rtol: 1e-4, atol: 1e-4 });
  });

  it('the dispatch table takes the ResNet 3x3 shapes and leaves narrow or 1x1 convs to XNNPACK', () => {
    expect(WINOGRAD_DISPATCH.map((d) => d.use).sort()).toEqual(['backpropFilter', 'backpropInput', 'forward']);
    expect(winogradWanted('forward', 2, 2, 512, 512)).toBe(true);
    expect(winogradWanted('backpropInput', 2, 2, 512, 512)).toBe(true);
    expect(winogradWanted('backpropFilter', 2, 2, 512, 512)).toBe(false); // measured slower there
    for (const use of ['forward', 'backpropInput', 'backpropFilter'] as const) {
      expect(winogradWanted(use, 32, 32, 16, 16)).toBe(true);
      expect(winogradWanted(use, 4, 4, 256, 256)).toBe(true);
      expect(winogradWanted(use, 32, 32, 8, 8)).toBe(false);
      expect(winogradWanted(use, 1, 1, 512, 512)).toBe(false);
      expect(winogradWanted(use, 32, 32, 18, 16)).toBe(false); // channels not a multiple of 4
    }
    process.env.BOT_WINOGRAD = 'never';
    expect(winogradWanted('forward', 32, 32, 16, 16)).toBe(false);
  });
});

describe('pointwise (1x1, stride 1) convs as one SIMD GEMM match the cpu backend', () => {
  // Rows not a multiple of 4 (105), reductions not a multiple of 4 (6), 8 + 4 output columns (12).
  const pw: Case[] = [
    { x: [3, 5, 7, 6], f: [1, 1, 6, 12], pad: 'valid' },
    { x: [2, 4, 4, 16], f: [1, 1, 16, 8], pad: 'same' },
    { x: [1, 3, 3, 64], f: [1, 1, 64, 4], pad: 'valid' },
  ];
  it.each(pw.flatMap((c) => activations.map((activation) => ({ ...c, activation }))))('FusedConv2D $x $f, bias, $activation', async (c) => {
    const before = simdCalls.pointwise;
    const ours = await fusedOn('wasm', c, c.activation, true);
    expect(simdCalls.pointwise).toBe(before + 1);
    expectTensorsClose(ours.data, (await fusedOn('cpu', c, c.activation, true)).data, { rtol: 1e-5, atol: 1e-5 });
  });

  it.each(pw)('Conv2DBackpropInput $x $f (the transposed filter)', async (c) => {
    // dx has c.x's shape with c.f[2] channels; our GEMM needs them a multiple of 4.
    const dyShape = [c.x[0], c.x[1], c.x[2], c.f[3]];
    const arrays = { dy: input(dyShape, 31), w: input(c.f, 32) };
    const before = simdCalls.pointwise;
    const run = (b: Backend) =>
      runOn(b, arrays, ({ dy, w }) =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: dy!, filter: w! }, { strides: 1, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor,
      );
    const ours = await run('wasm');
    expect(simdCalls.pointwise).toBe(before + (c.f[2] % 4 === 0 ? 1 : 0));
    expectTensorsClose(ours.data, (await run('cpu')).data, { rtol: 1e-5, atol: 1e-5 });
  });
});

describe('SIMD kernels free their scratch and leak no tensors', () => {
  it('no tensor leaks and no wasm heap growth across repeated calls', async () => {
    await tf.setBackend('wasm');
    const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
    const x = tf.tensor4d(normals(2 * 8 * 8 * 256, 1), [2, 8, 8, 256]);
    const w = tf.tensor4d(normals(9 * 256 * 256, 2), [3, 3, 256, 256]);
    const bias = tf.tensor1d(normals(256, 3));
    const dy = tf.tensor4d(normals(2 * 8 * 8 * 256, 4), [2, 8, 8, 256]);
    const calls = { wg: simdCalls.winograd };
    const once = () => {
      tf.dispose(tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias, activation: 'relu' }));
      tf.dispose(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', filterShape: [3, 3, 256, 256] }));
      tf.dispose(tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: 1, pad: 'same', inputShape: [2, 8, 8, 256] }));
    };
    once();
    const heapBytes = memory.buffer.byteLength;
    await expectNoLeak(once, 10);
    // Each call takes over 4 MB of scratch (16 transformed 256x256 filters, ...): 20 unfreed calls would grow the heap.
    expect(memory.buffer.byteLength).toBe(heapBytes);
    // 8x8x256: forward, input and filter gradients all by Winograd.
    expect(simdCalls.winograd - calls.wg).toBeGreaterThanOrEqual(33);
    tf.dispose([x, w, bias, dy]);
  });
});

describe('a conv + BN training step through the SIMD kernels', () => {
  const shapes = { w1: [3, 3, 16, 16], g1: [16], b1: [16], w2: [3, 3, 16, 20], c2: [20], w3: [1, 1, 20, 12], fc: [12, 5] } as const;

  async function gradients(backend: Backend): Promise<Record<string, Float32Array>> {
    await tf.setBackend(backend);
    const p = Object.fromEntries(
      Object.entries(shapes).map(([name, shape], i) => {
        const dims = [...shape] as number[];
        return [name, tf.variable(tf.tensor(normals(dims.reduce((a, b) => a * b, 1), 300 + i).map((v) => v * 0.2), dims))];
      }),
    ) as Record<keyof typeof shapes, tf.Variable>;
    const x = tf.tensor4d(normals(3 * 9 * 9 * 16, 400), [3, 9, 9, 16]);
    const y = tf.oneHot(tf.tensor1d([0, 3, 4], 'int32'), 5);
    const { grads, value } = tf.variableGrads(() => {
      const c1 = tf.conv2d(x, p.w1 as tf.Tensor4D, 1, 'same');
      const h = tf.relu(batchNormTraining(c1, p.g1, p.b1, 1e-5).y) as tf.Tensor4D;
      const h2 = tf.fused.conv2d({ x: h, filter: p.w2 as tf.Tensor4D, strides: 1, pad: 'same', bias: p.c2, activation: 'relu' });
      const h3 = tf.conv2d(h2, p.w3 as tf.Tensor4D, 1, 'valid');
      const logits = tf.matMul(tf.mean(h3, [1, 2]) as tf.Tensor2D, p.fc);
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    }, Object.values(p));
    const out: Record<string, Float32Array> = { loss: Float32Array.from(value.dataSync()) };
    for (const [name, v] of Object.entries(p)) out[name] = Float32Array.from(grads[v.name]!.dataSync());
    tf.dispose([value, ...Object.values(grads), ...Object.values(p), x, y]);
    return out;
  }

  it('every gradient on wasm (Winograd forward + both gradients, SIMD GEMM 1x1, direct SIMD filter gradient) equals cpu to relative 1e-4', async () => {
    const before = { ...simdCalls };
    const ours = await gradients('wasm');
    // w1, w2: forward, input and filter gradients by Winograd (x is 9x9: 81 pixels); w3 (1x1): the
    // GEMM forward and input gradient, and the direct SIMD filter gradient.
    expect(simdCalls.winograd - before.winograd).toBeGreaterThanOrEqual(5);
    expect(simdCalls.pointwise - before.pointwise).toBe(2);
    expect(simdCalls.conv2dBackpropFilter - before.conv2dBackpropFilter).toBe(1);
    const ref = await gradients('cpu');
    for (const name of Object.keys(ref)) {
      expectTensorsClose(ours[name]!, ref[name]!, { rtol: 1e-4, atol: 1e-5 });
    }
  });
});
