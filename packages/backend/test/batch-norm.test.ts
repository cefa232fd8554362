import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { batchNormTraining, FAST_GRADIENTS, registerFastGradients, unregisterFastGradients } from '../src/index';
import { input, runOn, setupBackends } from './helpers';

beforeAll(setupBackends);

it('normalises a hand-worked example', async () => {
  await tf.setBackend('cpu');
  const { y, mean, variance } = batchNormTraining(tf.tensor2d([[1], [3]]), tf.tensor1d([2]), tf.tensor1d([1]), 0);
  expectTensorsClose(y, [-1, 3]);
  expectTensorsClose(mean, [2]);
  expectTensorsClose(variance, [1]);
});

/** Reference: tfjs-core's own moments + batchNorm and their registered gradients, on cpu. */
function stockBatchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return { y: tf.batchNorm(x, mean, variance, beta, gamma, eps), mean, variance };
}

/**
 * Runs `f` with tfjs-core's stock gradients in place of ours (initBackend registers ours, for every
 * backend: a reference computed with them in place would compare our gradient with itself).
 */
async function withStockGradients<T>(f: () => Promise<T>): Promise<T> {
  unregisterFastGradients();
  try {
    for (const g of FAST_GRADIENTS) expect(tf.getGradient(g.kernelName)!.gradFunc, `${g.kernelName} gradient`).not.toBe(g.gradFunc);
    return await f();
  } finally {
    registerFastGradients();
  }
}

/**
 * Closed-form training-BN gradients (Ioffe & Szegedy 2015, section 3) in float64 for x [m, C] (channels
 * last), y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps), upstream dy:
 * dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma / sqrt(var + eps) * (dy - dbeta / m - xhat * dgamma / m).
 */
function closedFormGradients(x: Float32Array, dy: Float32Array, gamma: Float32Array, c: number, eps: number) {
  const m = x.length / c;
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(c);
  const dbeta = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    let mean = 0;
    for (let i = 0; i < m; i++) mean += x[i * c + k]! / m;
    let variance = 0;
    for (let i = 0; i < m; i++) variance += (x[i * c + k]! - mean) ** 2 / m;
    const inv = 1 / Math.sqrt(variance + eps);
    const xhat = (i: number) => (x[i * c + k]! - mean) * inv;
    for (let i = 0; i < m; i++) {
      dbeta[k]! += dy[i * c + k]!;
      dgamma[k]! += dy[i * c + k]! * xhat(i);
    }
    for (let i = 0; i < m; i++) dx[i * c + k] = gamma[k]! * inv * (dy[i * c + k]! - dbeta[k]! / m - (xhat(i) * dgamma[k]!) / m);
  }
  return [dx, dgamma, dbeta];
}

describe.each([
  { shape: [4, 5, 5, 3], backend: 'wasm' as const },
  { shape: [4, 5, 5, 3], backend: 'cpu' as const },
  { shape: [6, 7], backend: 'wasm' as const },
])('batchNormTraining on $backend, x $shape', ({ shape, backend }) => {
  const c = shape[shape.length - 1]!;
  const arrays = { x: input(shape, 31), gamma: input([c], 32), beta: input([c], 33), up: input(shape, 34) };
  const eps = 1e-3;

  it('forward: y, mean and variance match moments + batchNorm on cpu', async () => {
    for (const part of ['y', 'mean', 'variance'] as const) {
      const ours = await runOn(backend, arrays, ({ x, gamma, beta }) => {
        const r = batchNormTraining(x!, gamma!, beta!, eps);
        tf.dispose(Object.values(r).filter((t) => t !== r[part]));
        return r[part];
      });
      const ref = await runOn('cpu', arrays, ({ x, gamma, beta }) => {
        const r = stockBatchNorm(x!, gamma!, beta!, eps);
        tf.dispose(Object.values(r).filter((t) => t !== r[part]));
        return r[part];
      });
      expectTensorsClose(ours.data, ref.data, { rtol: 1e-4, atol: 1e-5 });
    }
  });

  it('gradients for x, gamma and beta match the stock gradient on cpu', async () => {
    for (const which of [0, 1, 2]) {
      const grad = (b: 'cpu' | 'wasm', bn: typeof stockBatchNorm) =>
        runOn(b, arrays, ({ x, gamma, beta, up }) => {
          const g = tf.grads((a: tf.Tensor, gm: tf.Tensor, bt: tf.Tensor) => {
            const r = bn(a, gm, bt, eps);
            return tf.sum(tf.mul(r.y, up!));
          })([x!, gamma!, beta!]);
          tf.dispose(g.filter((_, i) => i !== which));
          return g[which]!;
        });
      const ours = await grad(backend, batchNormTraining);
      const ref = await withStockGradients(() => grad('cpu', stockBatchNorm));
      expectTensorsClose(ours.data, ref.data, { rtol: 1e-4, atol: 1e-4 });
      // tf.batchNorm's gradient (ours on every backend, registered by initBackend) against the same stock reference
      const viaBatchNorm = await grad(backend, stockBatchNorm);
      expectTensorsClose(viaBatchNorm.data, ref.data, { rtol: 1e-4, atol: 1e-4 });
    }
  });

  it('gradients for x, gamma and beta match the closed form in float64', async () => {
    const expected = closedFormGradients(arrays.x.data, arrays.up.data, arrays.gamma.data, c, eps);
    await tf.setBackend(backend);
    const [x, gamma, beta, up] = [tf.tensor(arrays.x.data, shape), tf.tensor1d(arrays.gamma.data), tf.tensor1d(arrays.beta.data), tf.tensor(arrays.up.data, shape)];
    const g = tf.grads((a: tf.Tensor, gm: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(batchNormTraining(a, gm, bt, eps).y, up)))([x, gamma, beta]);
    for (let i = 0; i < 3; i++) expectTensorsClose(g[i]!.dataSync(), expected[i]!, { rtol: 1e-4, atol: 1e-4 });
    tf.dispose([x, gamma, beta, up, ...g]);
  });

  it('leaks no tensors, inside or outside a gradient', async () => {
    await tf.setBackend(backend);
    const x = tf.tensor(arrays.x.data, shape);
    const gamma = tf.variable(tf.tensor1d(arrays.gamma.data));
    const beta = tf.variable(tf.tensor1d(arrays.beta.data));
    await expectNoLeak(() => {
      const r = batchNormTraining(x, gamma, beta, eps);
      return [r.y, r.mean, r.variance];
    }, 3);
    await expectNoLeak(() => tf.tidy(() => tf.variableGrads(() => tf.sum(batchNormTraining(x, gamma, beta).y)).grads), 3);
    tf.dispose([x, gamma, beta]);
  });
});

it('rejects gamma of the wrong size', async () => {
  await tf.setBackend('cpu');
  expect(() => batchNormTraining(tf.zeros([2, 3]), tf.ones([2]), tf.zeros([3]))).toThrow(/gamma and beta/);
});
