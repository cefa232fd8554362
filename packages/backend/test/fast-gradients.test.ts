import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { FAST_GRADIENTS, registerFastGradients, unregisterFastGradients } from '../src/index';
import { input, runOn, setupBackends, type Backend } from './helpers';

beforeAll(setupBackends);

type Arrays = Record<string, { data: Float32Array; shape: number[] }>;

/** Gradients of sum(f(...) * up) for every input, with ours registered or tfjs-core's stock ones. */
async function grads(
  backend: Backend,
  gradients: 'ours' | 'stock',
  arrays: Arrays,
  names: string[],
  f: (t: Record<string, tf.Tensor>) => tf.Tensor,
): Promise<Float32Array[]> {
  if (gradients === 'stock') unregisterFastGradients();
  try {
    const out: Float32Array[] = [];
    for (let which = 0; which < names.length; which++) {
      const r = await runOn(backend, arrays, (t) => {
        const g = tf.grads((...xs: tf.Tensor[]) => {
          const named = { ...t, ...Object.fromEntries(names.map((n, i) => [n, xs[i]!])) };
          return tf.sum(tf.mul(f(named), t.up!));
        })(names.map((n) => t[n]!));
        tf.dispose(g.filter((_, i) => i !== which));
        return g[which]!;
      });
      out.push(r.data);
    }
    return out;
  } finally {
    registerFastGradients();
  }
}

type Fn = (t: Record<string, tf.Tensor>) => tf.Tensor;

async function expectSameAsStock(arrays: Arrays, names: string[], f: Fn, refF: Fn = f) {
  const ref = await grads('cpu', 'stock', arrays, names, refF);
  for (const backend of ['wasm', 'cpu'] as const) {
    const ours = await grads(backend, 'ours', arrays, names, f);
    for (let i = 0; i < names.length; i++) {
      expect(ours[i]!.length, names[i]).toBe(ref[i]!.length);
      expectTensorsClose(ours[i]!, ref[i]!, { rtol: 1e-4, atol: 1e-4 });
    }
  }
}

it('registers over the stock gradients, idempotently, and restores them', () => {
  const before = FAST_GRADIENTS.map((g) => tf.getGradient(g.kernelName)!.gradFunc);
  registerFastGradients();
  expect(FAST_GRADIENTS.map((g) => tf.getGradient(g.kernelName)!.gradFunc)).toEqual(before);
  expect(before).toEqual(FAST_GRADIENTS.map((g) => g.gradFunc));
  unregisterFastGradients();
  for (const g of FAST_GRADIENTS) expect(tf.getGradient(g.kernelName)!.gradFunc).not.toBe(g.gradFunc);
  registerFastGradients();
  expect(FAST_GRADIENTS.map((g) => tf.getGradient(g.kernelName)!.gradFunc)).toEqual(before);
});

describe.each([
  { shape: [4, 5, 6, 3], stat: [3] },
  { shape: [4, 5, 6, 3], stat: [1, 1, 1, 3] },
  { shape: [2, 3, 4, 5], stat: [2, 3, 4, 5] }, // per-element statistics: handed to the stock gradient
  { shape: [6, 7], stat: [7] },
  { shape: [3, 4, 8], stat: [8] },
])('FusedBatchNorm gradient, x $shape, statistics $stat', ({ shape, stat }) => {
  const arrays: Arrays = {
    x: input(shape, 1),
    mean: input(stat, 2),
    variance: { data: input(stat, 3).data.map((v) => v * v + 0.1), shape: stat },
    offset: input(stat, 4),
    scale: input(stat, 5),
    up: input(shape, 6),
  };
  const eps = 1e-3;

  it('matches the stock gradient on cpu for x, mean, variance, offset and scale', async () => {
    // tfjs-core's own gradient breaks on [1, 1, 1, C] statistics (it reshapes a full-size
    // tensor to their shape), so the reference takes them as [C]; the values are the same.
    const flat = stat.length > 1 && stat.length < shape.length + 1 && stat.reduce((a, b) => a * b, 1) === shape[shape.length - 1];
    const r = (t: tf.Tensor) => (flat ? tf.reshape(t, [-1]) : t);
    await expectSameAsStock(
      arrays,
      ['x', 'mean', 'variance', 'offset', 'scale'],
      (t) => tf.batchNorm(t.x!, t.mean!, t.variance!, t.offset!, t.scale!, eps),
      (t) => tf.batchNorm(t.x!, r(t.mean!), r(t.variance!), r(t.offset!), r(t.scale!), eps),
    );
  });
  // (Without a scale, tfjs-core's engine cannot save the absent input for any FusedBatchNorm gradient.)
});

describe.each([
  { shape: [8, 6, 5, 4], axes: [0, 1, 2] },
  { shape: [8, 6, 5, 4], axes: [0] },
  { shape: [8, 6, 5, 4], axes: [1, 2] }, // not leading: stock
  { shape: [8, 6, 5, 4], axes: [-4, -3] },
  { shape: [9, 7], axes: [0] },
  { shape: [9, 7], axes: [0, 1] }, // every axis: stock
])('Mean and Sum gradients over axes $axes of $shape', ({ shape, axes }) => {
  const out = shape.filter((_, i) => !axes.map((a) => (a < 0 ? a + shape.length : a)).includes(i));
  const arrays: Arrays = { x: input(shape, 7), up: input(out.length ? out : [1], 8) };
  for (const keepDims of [false, true]) {
    it(`mean, keepDims ${keepDims}`, async () => {
      await expectSameAsStock(arrays, ['x'], (t) => tf.reshape(tf.mean(t.x!, axes, keepDims), t.up!.shape));
    });
    it(`sum, keepDims ${keepDims}`, async () => {
      await expectSameAsStock(arrays, ['x'], (t) => tf.reshape(tf.sum(t.x!, axes, keepDims), t.up!.shape));
    });
  }
});

describe('tf.layers-style training BN (moments, then batchNorm)', () => {
  const shape = [8, 6, 6, 5];
  const arrays: Arrays = { x: input(shape, 9), gamma: input([5], 10), beta: input([5], 11), up: input(shape, 12) };
  const bn = (t: Record<string, tf.Tensor>) => {
    const { mean, variance } = tf.moments(t.x!, [0, 1, 2]);
    return tf.batchNorm(t.x!, mean, variance, t.beta!, t.gamma!, 1e-3);
  };

  it('gradients for x, gamma and beta match the stock gradients on cpu', async () => {
    await expectSameAsStock(arrays, ['x', 'gamma', 'beta'], bn);
  });

  it('leaks no tensors on wasm', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor(arrays.x!.data, shape);
    const gamma = tf.variable(tf.tensor1d(arrays.gamma!.data));
    const beta = tf.variable(tf.tensor1d(arrays.beta!.data));
    await expectNoLeak(() => tf.tidy(() => tf.variableGrads(() => tf.sum(tf.square(bn({ x, gamma, beta })))).grads), 3);
    tf.dispose([x, gamma, beta]);
  });
});
