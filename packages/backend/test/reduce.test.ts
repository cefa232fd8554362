import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { sumKernel } from '../src/kernels/reduce';
import { countStockCalls, input, runOn, runOnExact, setupBackends } from './helpers';

beforeAll(setupBackends);

describe.each([
  { shape: [64, 8, 8, 16], axis: [0, 1, 2], stock: false },
  { shape: [4, 5, 6, 3], axis: [0, 1, 2], stock: false },
  { shape: [4, 5, 6, 3], axis: [2, 0, 1], stock: false },
  { shape: [4, 5, 6, 3], axis: [-4, -3], stock: false },
  { shape: [4, 5, 6, 3], axis: 0, stock: false },
  { shape: [4, 5, 6, 3], axis: [1, 2], stock: true }, // not leading
  { shape: [4, 5, 6, 3], axis: undefined, stock: true }, // every axis
  { shape: [9, 1000], axis: [0], stock: false },
  { shape: [1, 7], axis: [0], stock: true }, // one row
  { shape: [3, 4, 8], axis: [0, 1], stock: false },
])('Sum and Mean on wasm over axis $axis of $shape (stock kernel: $stock)', ({ shape, axis, stock }) => {
  const arrays = { x: { data: input(shape, 21).data.map((v) => v + 3), shape } };
  for (const keepDims of [false, true]) {
    for (const op of ['sum', 'mean'] as const) {
      it(`${op}, keepDims ${keepDims}, matches cpu`, async () => {
        const f = ({ x }: Record<string, tf.Tensor>) => tf[op](x!, axis, keepDims);
        const kernel = op === 'sum' ? 'Sum' : 'Mean';
        const { result: ours, calls } = await countStockCalls([kernel, 'AvgPool'], () => runOn('wasm', arrays, f));
        // ours is one XNNPACK average pooling; the rest goes to the stock kernel
        expect(calls, 'which kernel ran').toEqual({ [kernel]: stock ? 1 : 0, AvgPool: stock ? 0 : 1 });
        const ref = await runOn('cpu', arrays, f);
        expect(ours.shape).toEqual(ref.shape);
        expectTensorsClose(ours.data, ref.data, { rtol: 1e-5, atol: 1e-4 });
      });
    }
  }
});

it('int32 sums go through our kernel to the stock one and stay exact (sums float32 cannot hold)', async () => {
  expect(tf.getKernel('Sum', 'wasm')!.kernelFunc).toBe(sumKernel);
  const values = Array.from({ length: 24 }, (_, i) => i * 1000003 + (i < 6 ? 1 : 0)); // odd column sums over 2^24
  // column sums of the [4, 6] matrix, in plain (float64, here exact) arithmetic
  const expected = Int32Array.from({ length: 6 }, (_, j) => values[j]! + values[6 + j]! + values[12 + j]! + values[18 + j]!);
  expect(Array.from(Float32Array.from(expected))).not.toEqual(Array.from(expected)); // float32 would round them
  const arrays = { x: { data: Int32Array.from(values), shape: [4, 6], dtype: 'int32' as const } };
  const { result: ours, calls } = await countStockCalls(['Sum', 'AvgPool'], () => runOnExact('wasm', arrays, ({ x }) => tf.sum(x!, 0)));
  expect(calls).toEqual({ Sum: 1, AvgPool: 0 });
  expect(ours.dtype).toBe('int32');
  expect(ours.data).toEqual(expected);
  const ref = await runOnExact('cpu', arrays, ({ x }) => tf.sum(x!, 0));
  expect(ref.data).toEqual(expected);
});
