import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { addKernel, multiplyKernel, subKernel } from '../src/kernels/binary';
import { simdCalls } from '../src/kernels/simd-module';
import { countStockCalls, input, runOn, runOnExact, setupBackends, type Backend } from './helpers';

beforeAll(setupBackends);

const ops = {
  Add: (a: tf.Tensor, b: tf.Tensor) => tf.add(a, b),
  Sub: (a: tf.Tensor, b: tf.Tensor) => tf.sub(a, b),
  Multiply: (a: tf.Tensor, b: tf.Tensor) => tf.mul(a, b),
} as const;

// [a shape, b shape, whether our SIMD path takes it]
const cases: [number[], number[], boolean][] = [
  [[4, 5, 6, 16], [1, 1, 1, 16], true],
  [[1, 1, 16], [4, 5, 6, 16], true], // broadcast operand first (order matters for Sub)
  [[7, 12], [12], true],
  [[3, 5, 7], [5, 7], true], // period 35: not a multiple of 4 (scalar rows)
  [[3, 4, 6], [1, 6], true], // period 6
  [[2, 3, 8], [2, 3, 8], false], // same shape: stock
  [[2, 3, 8], [], false], // scalar: stock
  [[2, 3, 8], [2, 1, 8], false], // a middle-axis broadcast: stock
  [[2, 1, 8], [1, 3, 8], false], // both broadcast: stock
];

describe.each(Object.keys(ops) as (keyof typeof ops)[])('%s on wasm matches cpu', (name) => {
  it.each(cases)('%j with %j', async (sa, sb, ours) => {
    const arrays = { a: input(sa, 1), b: input(sb, 2) };
    const before = simdCalls.binary;
    const run = (backend: Backend) => runOn(backend, arrays, ({ a, b }) => ops[name](a!, b!));
    const { result: got, calls } = await countStockCalls([name], () => run('wasm'));
    expect(simdCalls.binary - before).toBe(ours ? 1 : 0);
    expect(calls[name], 'calls to the stock wasm kernel').toBe(ours ? 0 : 1);
    const ref = await run('cpu');
    expect(got.shape).toEqual(ref.shape);
    expectTensorsClose(got.data, ref.data, { rtol: 1e-6, atol: 1e-6 });
  });

  it('int32 goes through our kernel to the stock one and stays exact (values float32 cannot hold)', async () => {
    expect(tf.getKernel(name, 'wasm')!.kernelFunc).toBe({ Add: addKernel, Sub: subKernel, Multiply: multiplyKernel }[name]);
    const big = 2 ** 24 + 1; // float32 rounds it to 2^24
    const a = [big, big + 2, -big, 2 ** 28 + 1, 6, -(2 ** 27) - 3];
    const b = [7, -3];
    const expected = Int32Array.from(a.map((v, i) => ({ Add: v + b[i % 2]!, Sub: v - b[i % 2]!, Multiply: v * b[i % 2]! })[name]));
    expect(Array.from(Float32Array.from(expected))).not.toEqual(Array.from(expected)); // float32 would not be exact
    const arrays = { a: { data: Int32Array.from(a), shape: [3, 2], dtype: 'int32' as const }, b: { data: Int32Array.from(b), shape: [2], dtype: 'int32' as const } };
    const simdBefore = simdCalls.binary;
    const { result: got, calls } = await countStockCalls([name], () => runOnExact('wasm', arrays, ({ a, b }) => ops[name](a!, b!)));
    expect(calls[name], 'calls to the stock wasm kernel').toBe(1);
    expect(simdCalls.binary, 'our SIMD pass must not run on int32').toBe(simdBefore);
    expect(got.dtype).toBe('int32');
    expect(got.data).toEqual(expected);
  });
});

it('the broadcast kernels leak no tensors', async () => {
  await tf.setBackend('wasm');
  const a = tf.randomNormal([8, 4, 4, 16]);
  const b = tf.randomNormal([16]);
  await expectNoLeak(() => tf.dispose([tf.add(a, b), tf.sub(b, a), tf.mul(a, b)]));
  tf.dispose([a, b]);
});
