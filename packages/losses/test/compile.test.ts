import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { labelSmoothingCrossEntropy, softTargetCrossEntropy } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A linear model (no softmax: the losses take logits) with fixed weights W = w, b = 0. */
function tinyModel(loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar, lr: number): tfl.LayersModel {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [2], useBias: true })] });
  model.setWeights([tf.tensor2d([[0.5, -0.2, 0.1], [0.3, 0.8, -0.6]]), tf.zeros([3])]);
  model.compile({ optimizer: tf.train.sgd(lr), loss });
  return model;
}

const X = [[1, 2], [-1, 0.5], [0.3, -0.7], [2, 1]];
const ONE_HOT = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]];

describe('model.compile({ loss }) path (tfjs-layers fit)', () => {
  for (const [name, loss, targets] of [
    ['labelSmoothingCrossEntropy paper', labelSmoothingCrossEntropy({ epsilon: 0.1, form: 'paper' }), ONE_HOT],
    ['labelSmoothingCrossEntropy uniform', labelSmoothingCrossEntropy({ epsilon: 0.1, form: 'uniform' }), ONE_HOT],
    ['softTargetCrossEntropy (mixup targets)', softTargetCrossEntropy(), [[0.7, 0.3, 0], [0, 0.6, 0.4], [0.2, 0, 0.8], [0, 1, 0]]],
  ] as const) {
    it(`${name}: one fit step reports our loss and moves the weights by -lr * dL/dW`, async () => {
      const lr = 0.5;
      const model = tinyModel(loss, lr);
      const x = tf.tensor2d(X);
      const y = tf.tensor2d(targets.map((r) => [...r]));
      // Expected: loss and gradient computed directly, outside tfjs-layers.
      // getWeights() hands back the live variables: copy the values before fit changes them.
      const [w0, b0] = model.getWeights().map((v) => tf.tensor(v.arraySync() as number[])) as [tf.Tensor2D, tf.Tensor1D];
      const { value, grads } = tf.tidy(() => {
        const f = (w: tf.Tensor, b: tf.Tensor) => loss(y, tf.add(tf.matMul(x, w as tf.Tensor2D), b));
        const g = tf.grads(f)([w0, b0]);
        return { value: f(w0, b0), grads: g };
      });
      const history = await model.fit(x, y, { batchSize: X.length, epochs: 1, shuffle: false, verbose: 0 });
      expect(history.history['loss']?.[0]).toBeCloseTo(value.dataSync()[0]!, 5);
      const [w1, b1] = model.getWeights() as [tf.Tensor, tf.Tensor];
      expect(Math.max(...Array.from(tf.abs(tf.sub(w1, w0)).dataSync()))).toBeGreaterThan(1e-3);
      expectTensorsClose(w1, tf.sub(w0, tf.mul(grads[0]!, lr)), { rtol: 1e-5, atol: 1e-6 });
      expectTensorsClose(b1, tf.sub(b0, tf.mul(grads[1]!, lr)), { rtol: 1e-5, atol: 1e-6 });
      // evaluate() goes through the same loss.
      const evaluated = model.evaluate(x, y) as tf.Scalar;
      const after = loss(y, model.predict(x) as tf.Tensor);
      expectTensorsClose(evaluated, after.dataSync()[0]!, { rtol: 1e-5 });
      tf.dispose([x, y, value, grads, w0, b0, evaluated, after]);
      model.dispose();
    });
  }

  it('labelSmoothingCrossEntropy refuses soft targets inside fit too', async () => {
    const model = tinyModel(labelSmoothingCrossEntropy(), 0.1);
    const x = tf.tensor2d(X);
    const y = tf.tensor2d([[0.7, 0.3, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]);
    await expect(model.fit(x, y, { epochs: 1, verbose: 0 })).rejects.toThrow(/not one-hot.*softTargetCrossEntropy/);
    tf.dispose([x, y]);
    model.dispose();
  });
});
