import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { input, runOn, setupBackends } from './helpers';

beforeAll(setupBackends);

describe.each([
  { shape: [64, 8, 8, 16], axis: [0, 1, 2] },
  { shape: [4, 5, 6, 3], axis: [0, 1, 2] },
  { shape: [4, 5, 6, 3], axis: [2, 0, 1] },
  { shape: [4, 5, 6, 3], axis: [-4, -3] },
  { shape: [4, 5, 6, 3], axis: 0 },
  { shape: [4, 5, 6, 3], axis: [1, 2] }, // not leading: stock
  { shape: [4, 5, 6, 3], axis: undefined }, // every axis: stock
  { shape: [9, 1000], axis: [0] },
  { shape: [1, 7], axis: [0] }, // one row: stock
  { shape: [3, 4, 8], axis: [0, 1] },
])('Sum and Mean on wasm over axis $axis of $shape', ({ shape, axis }) => {
  const arrays = { x: { data: input(shape, 21).data.map((v) => v + 3), shape } };
  for (const keepDims of [false, true]) {
    for (const op of ['sum', 'mean'] as const) {
      it(`${op}, keepDims ${keepDims}, matches cpu`, async () => {
        const f = ({ x }: Record<string, tf.Tensor>) => tf[op](x!, axis, keepDims);
        const ours = await runOn('wasm', arrays, f);
        const ref = await runOn('cpu', arrays, f);
        expect(ours.shape).toEqual(ref.shape);
        expectTensorsClose(ours.data, ref.data, { rtol: 1e-5, atol: 1e-4 });
      });
    }
  }
});

it('int32 sums go to the stock kernel and stay exact', async () => {
  const arrays = { x: { data: Int32Array.from({ length: 24 }, (_, i) => i * 1000003), shape: [4, 6], dtype: 'int32' as const } };
  const ours = await runOn('wasm', arrays, ({ x }) => tf.sum(x!, 0));
  const ref = await runOn('cpu', arrays, ({ x }) => tf.sum(x!, 0));
  expect(Array.from(ours.data)).toEqual(Array.from(ref.data));
});
