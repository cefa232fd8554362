import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@bag-of-tricks/backend';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { applyLearningRate, cosine } from '../src/index';

beforeAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

const GRAD = [0.5, -1, 2];
/** Loss = sum(w * g): the gradient is the constant g, so optimiser state never depends on the rate. */
function step(optimizer: tf.Optimizer, w: tf.Variable): Float32Array {
  const before = (w.dataSync() as Float32Array).slice();
  optimizer.minimize(() => tf.sum(tf.mul(w, tf.tensor1d(GRAD))), false, [w]);
  const after = w.dataSync() as Float32Array;
  return before.map((b, i) => (after[i] as number) - b);
}

const optimizers: Record<string, (lr: number) => tf.Optimizer> = {
  SGD: (lr) => tf.train.sgd(lr),
  Momentum: (lr) => tf.train.momentum(lr, 0.9),
  'Momentum (Nesterov)': (lr) => tf.train.momentum(lr, 0.9, true),
  Adam: (lr) => tf.train.adam(lr),
  Adamax: (lr) => tf.train.adamax(lr),
  Adagrad: (lr) => tf.train.adagrad(lr),
  Adadelta: (lr) => tf.train.adadelta(lr),
  RMSProp: (lr) => tf.train.rmsprop(lr),
};

describe('applyLearningRate', () => {
  for (const [name, make] of Object.entries(optimizers)) {
    it(`${name}: the next real step scales with the new rate`, () => {
      const run = (secondLr: number | null): [Float32Array, Float32Array] => {
        const w = tf.variable(tf.tensor1d([1, -2, 3]));
        const opt = make(0.1);
        const first = step(opt, w);
        if (secondLr !== null) applyLearningRate(opt, secondLr);
        const second = step(opt, w);
        opt.dispose();
        w.dispose();
        return [first, second];
      };
      const [keptFirst, keptSecond] = run(null);
      const [changedFirst, changedSecond] = run(0.03);
      expectTensorsClose(changedFirst, keptFirst);
      expect(Math.max(...keptSecond.map(Math.abs))).toBeGreaterThan(1e-6);
      // Every update here is linear in the rate of the step it is taken with.
      expectTensorsClose(changedSecond, Array.from(keptSecond, (d) => 0.3 * d), { rtol: 1e-5, atol: 1e-9 });
    });
  }

  it('SGD: the update is exactly -lr * g at the rate applied', () => {
    const w = tf.variable(tf.tensor1d([1, -2, 3]));
    const opt = tf.train.sgd(1);
    applyLearningRate(opt, 0.25);
    expectTensorsClose(step(opt, w), GRAD.map((g) => -0.25 * g));
    opt.dispose();
    w.dispose();
  });

  it('Adam: a rate set before the first step gives the first update lr * sign(g) (bias-corrected)', () => {
    const w = tf.variable(tf.tensor1d([1, -2, 3]));
    const opt = tf.train.adam(1);
    applyLearningRate(opt, 0.01);
    expectTensorsClose(step(opt, w), GRAD.map((g) => -0.01 * Math.sign(g)), { rtol: 1e-4 });
    opt.dispose();
    w.dispose();
  });

  it('driving SGD and Momentum from a schedule every step leaks no tensors', () => {
    const w = tf.variable(tf.tensor1d([1, -2, 3]));
    const schedule = cosine({ base: 0.1, totalSteps: 20 });
    for (const opt of [tf.train.sgd(0.1), tf.train.momentum(0.1, 0.9)]) {
      step(opt, w);
      const before = tf.memory().numTensors;
      for (let t = 0; t < 20; t++) {
        applyLearningRate(opt, schedule(t));
        applyLearningRate(opt, schedule(t)); // unchanged rate: a no-op
        step(opt, w);
      }
      expect(tf.memory().numTensors).toBe(before);
      opt.dispose();
    }
    w.dispose();
  });

  it('refuses bad rates and unknown optimisers', () => {
    const opt = tf.train.sgd(0.1);
    expect(() => applyLearningRate(opt, -0.1)).toThrow(/lr must be a finite number >= 0/);
    expect(() => applyLearningRate(opt, Number.NaN)).toThrow(/lr must be a finite number >= 0/);
    opt.dispose();
    class Custom extends tf.Optimizer {
      static get className(): string {
        return 'Custom';
      }
      applyGradients(): void {}
      getConfig(): tf.serialization.ConfigDict {
        return {};
      }
    }
    expect(() => applyLearningRate(new Custom(), 0.1)).toThrow(/don't know how to set the learning rate of optimizer 'Custom'/);
  });
});
