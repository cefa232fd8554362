import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { simdCalls } from '../src/kernels/simd-module';
import { input, runOn, runOnExact, setupBackends } from './helpers';

beforeAll(setupBackends);

describe.each([
  { shape: [4, 5, 6, 3], stat: [3] },
  { shape: [4, 5, 6, 3], stat: [1, 1, 1, 3] },
  { shape: [2, 3, 4, 5], stat: [2, 3, 4, 5] }, // per-element statistics: stock
  { shape: [6, 7], stat: [7] },
  { shape: [64, 8, 8, 64], stat: [64] },
])('FusedBatchNorm on wasm, x $shape, statistics $stat', ({ shape, stat }) => {
  const arrays = {
    x: { data: input(shape, 41).data.map((v) => 3 * v + 2), shape },
    mean: { data: input(stat, 42).data.map((v) => v + 2), shape: stat },
    variance: { data: input(stat, 43).data.map((v) => 9 * v * v + 0.1), shape: stat },
    offset: input(stat, 44),
    scale: input(stat, 45),
  };
  it('matches cpu with scale and offset', async () => {
    const f = (t: Record<string, tf.Tensor>) => tf.batchNorm(t.x!, t.mean!, t.variance!, t.offset!, t.scale!, 1e-3);
    expectTensorsClose((await runOn('wasm', arrays, f)).data, (await runOn('cpu', arrays, f)).data, { rtol: 1e-5, atol: 1e-5 });
  });
  it('matches cpu without them', async () => {
    const f = (t: Record<string, tf.Tensor>) => tf.batchNorm(t.x!, t.mean!, t.variance!, undefined, undefined, 1e-5);
    expectTensorsClose((await runOn('wasm', arrays, f)).data, (await runOn('cpu', arrays, f)).data, { rtol: 1e-5, atol: 1e-5 });
  });
});

describe('Identity and Cast on wasm share buffers safely', () => {
  it('a clone outlives its source and keeps its values', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const a = tf.tensor([1, 2, 3]);
    const b = tf.clone(a);
    const c = tf.cast(a, 'float32');
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
  it('a variable assigned from a clone is unaffected by later writes', async () => {
    await tf.setBackend('wasm');
    const v = tf.variable(tf.tensor([1, 2]));
    const snapshot = tf.clone(v);
    v.assign(tf.tensor([5, 6]));
    expect(Array.from(snapshot.dataSync())).toEqual([1, 2]);
    expect(Array.from(v.dataSync())).toEqual([5, 6]);
    tf.dispose([v, snapshot]);
  });
  it('casts between dtypes still convert', async () => {
    await tf.setBackend('wasm');
    // (int32 -> bool is stock wasm's: it copies the values, 3 stays 3.)
    const r = tf.tidy(() => [tf.cast(tf.tensor([1.7, -2.2]), 'int32').dataSync(), tf.cast(tf.tensor([0, 1], undefined, 'bool'), 'float32').dataSync()]);
    expect(r.map((x) => Array.from(x))).toEqual([[1, -2], [0, 1]]);
  });
});

describe.each([
  { shape: [64, 34, 34, 16], begin: [0, 1, 1, 0], size: [64, 32, 32, 16] },
  { shape: [4, 6, 5, 3], begin: [1, 0, 0, 0], size: [2, -1, -1, -1] },
  { shape: [4, 6, 5, 3], begin: [0, 2, 1, 1], size: [4, 3, 3, 2] },
  { shape: [4, 6, 5, 3], begin: [3, 5, 4, 2], size: [1, 1, 1, 1] },
  { shape: [4, 6, 5, 3], begin: [0, 0, 0, 0], size: [4, 6, 5, 3] },
  { shape: [10], begin: [3], size: [4] },
  { shape: [7, 9], begin: [2, 0], size: [3, 9] },
  { shape: [7, 9], begin: [2, 4], size: [3, 0] },
  { shape: [2, 3, 4, 5, 6], begin: [1, 1, 0, 2, 0], size: [1, 2, 4, 2, 6] },
])('Slice on wasm, $begin + $size of $shape', ({ shape, begin, size }) => {
  for (const dtype of ['float32', 'int32'] as const) {
    it(`${dtype} matches cpu`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = dtype === 'int32' ? Int32Array.from({ length: n }, (_, i) => i) : input(shape, 46).data;
      const arrays = { x: { data, shape, dtype } };
      const f = ({ x }: Record<string, tf.Tensor>) => tf.slice(x!, begin, size);
      const ours = await runOnExact('wasm', arrays, f);
      const ref = await runOnExact('cpu', arrays, f);
      expect(ours.shape).toEqual(ref.shape);
      // Same typed array (Int32Array for int32), value for value. toEqual walks 1.2M elements for seconds, so the
      // bytes are compared first: equal bytes of the same array type are equal values; any difference goes to toEqual.
      expect(ours.data.constructor).toBe(ref.data.constructor);
      const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      if (!bytes(ours.data).equals(bytes(ref.data))) expect(ours.data).toEqual(ref.data);
    });
  }
});

describe.each([
  { a: [32, 64], b: [32, 50], ta: true, tb: false },
  { a: [32, 50], b: [64, 50], ta: false, tb: true },
  { a: [50, 32], b: [64, 50], ta: true, tb: true },
  { a: [3, 7, 5], b: [3, 7, 4], ta: true, tb: false },
  { a: [3, 5, 7], b: [1, 4, 7], ta: false, tb: true },
  { a: [6, 5], b: [5, 4], ta: false, tb: false },
  { a: [4, 30], b: [200, 30], ta: false, tb: true }, // big b: computed as (b a^T)^T
  { a: [2, 4, 30], b: [2, 200, 30], ta: false, tb: true },
  // K = 1: outer products on our SIMD module (N with and without a 4-wide tail, every transpose,
  // leading unit dims); a batch of 2 stays on stock.
  { a: [37, 1], b: [1, 13], ta: false, tb: false, outer: true },
  { a: [1, 37], b: [1, 16], ta: true, tb: false, outer: true },
  { a: [37, 1], b: [6, 1], ta: false, tb: true, outer: true },
  { a: [1, 5], b: [7, 1], ta: true, tb: true, outer: true },
  { a: [1, 9, 1], b: [1, 1, 3], ta: false, tb: false, outer: true },
  { a: [2, 9, 1], b: [2, 1, 3], ta: false, tb: false, outer: false },
])('BatchMatMul on wasm, a $a b $b transposeA $ta transposeB $tb', ({ a, b, ta, tb, outer }) => {
  it('matches cpu', async () => {
    const arrays = { a: input(a, 51), b: input(b, 52) };
    const before = simdCalls.outerProduct;
    const f = (t: Record<string, tf.Tensor>) => tf.matMul(t.a!, t.b!, ta, tb);
    const ours = await runOn('wasm', arrays, f);
    expect(simdCalls.outerProduct - before).toBe(outer ? 1 : 0);
    const ref = await runOn('cpu', arrays, f);
    expect(ours.shape).toEqual(ref.shape);
    if (outer) expect(Array.from(ours.data)).toEqual(Array.from(ref.data)); // one multiply per element: exact
    else expectTensorsClose(ours.data, ref.data, { rtol: 1e-5, atol: 1e-5 });
  });
});

it('the outer product leaks no tensors and does not grow the heap', async () => {
  await tf.setBackend('wasm');
  const a = tf.randomNormal([8192, 1]);
  const b = tf.randomNormal([1, 256]);
  tf.dispose(tf.matMul(a, b));
  const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
  const heapBytes = memory.buffer.byteLength;
  const before = simdCalls.outerProduct;
  await expectNoLeak(() => tf.matMul(a, b), 10);
  expect(simdCalls.outerProduct - before).toBe(11);
  expect(memory.buffer.byteLength).toBe(heapBytes);
  tf.dispose([a, b]);
});

describe.each([
  { x: [2, 9, 9, 5], f: 3, s: 2, pad: 'same' as const },
  { x: [2, 10, 10, 5], f: 3, s: 2, pad: 'valid' as const },
  { x: [1, 8, 7, 3], f: 2, s: 2, pad: 'valid' as const },
  { x: [2, 6, 6, 4], f: 3, s: 1, pad: 'same' as const },
  { x: [1, 7, 7, 2], f: [3, 2] as [number, number], s: [2, 1] as [number, number], pad: 'same' as const },
  // SIMD kernel: 4-channel vectors with and without a scalar tail, the stem pool's shape, ties.
  { x: [2, 9, 9, 8], f: 3, s: 2, pad: 'same' as const },
  { x: [1, 11, 10, 13], f: 3, s: 2, pad: 'same' as const },
  { x: [2, 34, 34, 64], f: 3, s: 2, pad: 'valid' as const },
  { x: [2, 8, 8, 12], f: 3, s: 1, pad: 'same' as const, ties: true },
])('MaxPoolGrad on wasm, x $x filter $f stride $s pad $pad', ({ x, f, s, pad, ties }) => {
  it.each(['SIMD module', 'JS fallback'])('matches cpu (%s)', async (mode) => {
    if (mode === 'JS fallback') process.env.BOT_MAXPOOL_GRAD_SIMD = 'never';
    try {
      // ties: values rounded to a few levels, so windows hold equal maxima (the first one wins).
      const xs = input(x, 61);
      const arrays = { x: ties ? { ...xs, data: xs.data.map((v) => Math.round(v * 2)) } : xs, up: input(x, 62) };
      const fn = (t: Record<string, tf.Tensor>) =>
        tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, f, s, pad), tf.slice(t.up!, [0, 0, 0, 0], tf.maxPool(a as tf.Tensor4D, f, s, pad).shape))))(t.x!);
      const before = simdCalls.maxPoolGrad;
      const ours = await runOn('wasm', arrays, fn);
      expect(simdCalls.maxPoolGrad - before).toBe(mode === 'SIMD module' ? 1 : 0);
      const ref = await runOn('cpu', arrays, fn);
      expect(ours.shape).toEqual(ref.shape);
      expectTensorsClose(ours.data, ref.data, { rtol: 1e-6, atol: 1e-6 });
    } finally {
      delete process.env.BOT_MAXPOOL_GRAD_SIMD;
    }
  });
});

it('the SIMD MaxPoolGrad leaks no tensors and does not grow the heap', async () => {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([2, 34, 34, 64]);
  const f = () => tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 3, 2, 'valid')))(x);
  tf.dispose(f());
  const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
  const heapBytes = memory.buffer.byteLength;
  const before = simdCalls.maxPoolGrad;
  await expectNoLeak(f, 10);
  expect(simdCalls.maxPoolGrad - before).toBe(11);
  expect(memory.buffer.byteLength).toBe(heapBytes);
  tf.dispose(x);
});

describe.each([
  { a: [32, 64], b: [64, 40], bias: true, act: 'linear', tb: false, ours: true },
  { a: [7, 33], b: [33, 12], bias: true, act: 'relu', tb: false, ours: true }, // row tail (7 % 4), 4-wide column tail (12 % 8)
  { a: [5, 17], b: [20, 17], bias: false, act: 'linear', tb: true, ours: true },
  { a: [1, 70, 9], b: [1, 9, 8], bias: true, act: 'relu', tb: false, ours: true }, // rank 3, batch 1, two row blocks
  { a: [6, 10], b: [10, 6], bias: true, act: 'linear', tb: false, ours: false }, // N % 4 != 0: stock
  { a: [2, 6, 10], b: [2, 10, 8], bias: true, act: 'linear', tb: false, ours: true }, // batch 2 (stock 4.22 gets this one wrong)
  { a: [3, 5, 6], b: [3, 8, 6], bias: false, act: 'relu', tb: true, ours: true },
  { a: [2, 6, 10], b: [1, 10, 8], bias: true, act: 'linear', tb: false, ours: true }, // shared b (stock 4.22 wrong too)
  { a: [1, 6, 10], b: [3, 10, 8], bias: true, act: 'relu', tb: false, ours: true }, // shared a
  { a: [6, 10], b: [10, 8], bias: true, act: 'elu', tb: false, ours: false }, // other activation: stock
])('_FusedMatMul on wasm, a $a b $b bias $bias $act transposeB $tb', ({ a, b, bias, act, tb, ours }) => {
  it('matches cpu', async () => {
    const n = tb ? b[b.length - 2]! : b[b.length - 1]!;
    if (!ours) process.env.BOT_FUSED_MATMUL = 'never'; // (stock: also checks that the switch routes there)
    const arrays = { a: input(a, 71), b: input(b, 72), bias: input([n], 73) };
    const f = (t: Record<string, tf.Tensor>) =>
      tf.fused.matMul({ a: t.a!, b: t.b!, transposeB: tb, bias: bias ? t.bias! : undefined, activation: act as tf.fused.Activation });
    const before = simdCalls.fusedMatMul;
    const got = await runOn('wasm', arrays, f).finally(() => delete process.env.BOT_FUSED_MATMUL);
    expect(simdCalls.fusedMatMul - before).toBe(ours ? 1 : 0);
    const ref = await runOn('cpu', arrays, f);
    expect(got.shape).toEqual(ref.shape);
    expectTensorsClose(got.data, ref.data, { rtol: 1e-5, atol: 1e-5 });
  });
});

it('the SIMD _FusedMatMul leaks no tensors and does not grow the heap', async () => {
  await tf.setBackend('wasm');
  const a = tf.randomNormal([32, 256]);
  const b = tf.randomNormal([256, 100]);
  const bias = tf.randomNormal([100]);
  const f = () => tf.fused.matMul({ a, b, bias, activation: 'relu' });
  tf.dispose(f());
  const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
  const heapBytes = memory.buffer.byteLength;
  const before = simdCalls.fusedMatMul;
  await expectNoLeak(f, 10);
  expect(simdCalls.fusedMatMul - before).toBe(11);
  expect(memory.buffer.byteLength).toBe(heapBytes);
  tf.dispose([a, b, bias]);
});
