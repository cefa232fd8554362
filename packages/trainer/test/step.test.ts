import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mixup } from '@bag-of-tricks/augment';
import { initBackend } from '@bag-of-tricks/backend';
import { createRng } from '@bag-of-tricks/core';
import { distillationLoss } from '@bag-of-tricks/distill';
import { softTargetCrossEntropy } from '@bag-of-tricks/losses';
import { createResNet } from '@bag-of-tricks/resnet-variants';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOptimizer, createTrainStep, splitDecayVariables } from '../src';

beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
});

/** Dense (kernel + bias) -> BN (gamma, beta, moving stats) -> dense: every kind of variable. */
function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [2, 2, 1] });
  let x = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }), biasInitializer: tfl.initializers.constant({ value: 0.3 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ gammaInitializer: tfl.initializers.constant({ value: 1.5 }), betaInitializer: tfl.initializers.constant({ value: 0.2 }) }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }), biasInitializer: tfl.initializers.constant({ value: -0.1 }) }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

describe('createTrainStep', () => {
  for (const noBiasDecay of [true, false]) {
    it(`adds wd * w to exactly the decay group (noBiasDecay ${noBiasDecay}): one SGD step equals the hand update`, () => {
      const model = tinyModel();
      const lr = 0.5;
      const wd = 0.01;
      const optimizer = createOptimizer({ kind: 'sgd', momentum: 0 }, lr);
      const loss = softTargetCrossEntropy();
      const decay = splitDecayVariables(model, noBiasDecay);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      expect(vars).toHaveLength(6);
      const decayed = new Set(decay.decay.map((v) => v.name));
      const kernels = vars.filter((v) => v.name.endsWith('/kernel')).map((v) => v.name);
      expect([...decayed].sort()).toEqual(noBiasDecay ? kernels.sort() : vars.map((v) => v.name).sort());
      expect(decay.excluded.length).toBe(noBiasDecay ? 4 : 0);

      const batch = { images: tf.tensor4d([1, 2, 3, 4, -1, 0.5, 2, 0, 0, 1, -2, 3], [3, 2, 2, 1]), labels: tf.tensor2d([[1, 0], [0, 1], [0.3, 0.7]]) };
      // Hand reference: gradients of the same loss in training mode, then w - lr * (g + wd * w [decay group only]).
      const { grads } = tf.variableGrads(() => loss(batch.labels, model.apply(batch.images, { training: true }) as tf.Tensor), vars);
      const expected = vars.map((v) => tf.sub(v, tf.mul(lr, decayed.has(v.name) ? tf.add(grads[v.name]!, tf.mul(wd, v)) : grads[v.name]!)));
      // variableGrads above ran a training forward pass: restore BN's moving stats so both paths start equal.
      const movingBefore = model.nonTrainableWeights.map((w) => w.read().clone());
      const step = createTrainStep({ model, optimizer, loss: (y, z) => loss(y, z), decayVariables: decay.decay, weightDecay: wd });
      step(batch).dispose();
      vars.forEach((v, i) => expectTensorsClose(v, expected[i]!, { rtol: 1e-5, atol: 1e-6 }));
      // The training-mode forward pass moved the BN moving statistics.
      model.nonTrainableWeights.forEach((w, i) => expect(Array.from(w.read().dataSync())).not.toEqual(Array.from(movingBefore[i]!.dataSync())));
      tf.dispose([batch.images, batch.labels, ...expected, ...Object.values(grads), ...movingBefore]);
      optimizer.dispose();
      model.dispose();
    });
  }

  it('keeps tf.memory().numTensors constant across steps (NAG, weight decay, mixup, distillation)', async () => {
    const model = createResNet('resnet18d', { stem: 'small', width: 0.125, layers: [1, 1, 1, 1], inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const optimizer = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.05);
    const decay = splitDecayVariables(model, true);
    const kd = distillationLoss({ temperature: 4 });
    const step = createTrainStep({ model, optimizer, loss: (y, z, r) => kd(y, z, r!), decayVariables: decay.decay, weightDecay: 1e-4 });
    const rng = createRng(0);
    const mix = mixup({ alpha: 0.2 });
    const images = tf.randomUniform([8, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10), 'float32') as tf.Tensor2D;
    const teacher = tf.randomNormal([8, 10], 0, 1, 'float32', 2);
    await expectNoLeak(() => {
      const batch = tf.tidy(() => {
        const b = mix({ images, labels }, rng);
        return [b.images, b.labels];
      }) as [tf.Tensor4D, tf.Tensor2D];
      const value = step({ images: batch[0], labels: batch[1] }, teacher);
      tf.dispose(batch);
      return value;
    }, 5);
    tf.dispose([images, labels, teacher]);
    optimizer.dispose();
    model.dispose();
  });
});
