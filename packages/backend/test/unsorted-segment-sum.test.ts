import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { input, runOn, setupBackends } from './helpers';

beforeAll(setupBackends);

it('sums rows by segment id, by hand', async () => {
  const out = await runOn(
    'wasm',
    {
      x: { data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), shape: [4, 2] },
      ids: { data: Int32Array.from([2, 0, 2, -1]), shape: [4], dtype: 'int32' },
    },
    ({ x, ids }) => tf.unsortedSegmentSum(x!, ids! as tf.Tensor1D, 3),
  );
  expect(out.shape).toEqual([3, 2]);
  expect(Array.from(out.data)).toEqual([3, 4, 0, 0, 6, 8]);
});

it.each([
  { shape: [10], segments: 4 },
  { shape: [12, 5], segments: 7 },
  { shape: [9, 3, 4], segments: 3 },
])('matches the cpu backend for $shape into $segments segments', async ({ shape, segments }) => {
  const ids = Int32Array.from({ length: shape[0]! }, (_, i) => (i * 5) % segments);
  const arrays = { x: input(shape, 21), ids: { data: ids, shape: [shape[0]!], dtype: 'int32' as const } };
  const run = (b: 'cpu' | 'wasm') => runOn(b, arrays, ({ x, ids: s }) => tf.unsortedSegmentSum(x!, s! as tf.Tensor1D, segments));
  const ours = await run('wasm');
  const ref = await run('cpu');
  expect(ours.shape).toEqual(ref.shape);
  expectTensorsClose(ours.data, ref.data, { rtol: 1e-5, atol: 1e-5 });
});

it('gather gradients work on wasm and equal cpu', async () => {
  const arrays = {
    table: input([6, 3], 22),
    idx: { data: Int32Array.from([1, 4, 1, 0, 5, 1]), shape: [6], dtype: 'int32' as const },
  };
  const run = (b: 'cpu' | 'wasm') =>
    runOn(b, arrays, ({ table, idx }) =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, idx! as tf.Tensor1D))))(table!),
    );
  expectTensorsClose((await run('wasm')).data, (await run('cpu')).data, { rtol: 1e-5, atol: 1e-5 });
});
