import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { createResNet } from '@bag-of-tricks/resnet-variants';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOptimizer, createStepLoss, createTrainStep, encodeCheckpoint, modelFingerprint, NonFiniteStateError, stateIsFinite } from '../src';

describe('stateIsFinite and the checkpoint guard', () => {
  beforeAll(async () => {
    await initBackend('wasm', { log: () => {} });
  });

  it('finds one NaN or Infinity among all weights and optimizer slots, leaks nothing; encodeCheckpoint refuses that state', async () => {
    const model = createResNet('resnet18d', { inputShape: [8, 8, 1], numClasses: 3, seed: 1, stem: 'small', width: 0.125, layers: [1, 1, 1, 1] });
    const optimizer = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.01);
    const step = createTrainStep({ model, optimizer, loss: createStepLoss({}), decayVariables: [], weightDecay: 0 });
    const x = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 3);
    const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3), 'float32');
    step({ images: x as tf.Tensor4D, labels: y as tf.Tensor2D }).dispose(); // creates the momentum slots
    const before = tf.memory().numTensors;
    expect(await stateIsFinite(model, optimizer)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);

    // One value of one BN moving variance (not trained, so no loss would show it) set to +Infinity.
    const variance = model.weights.find((w) => w.originalName.endsWith('moving_variance'))!;
    const saved = variance.read().clone();
    const values = (await saved.data()).slice();
    values[0] = Number.POSITIVE_INFINITY;
    variance.write(tf.tensor(values, saved.shape));
    expect(await stateIsFinite(model, optimizer)).toBe(false);
    const meta = { step: 1, epoch: 0, batchInEpoch: 1, rng: { seed: 0 } as never, config: {} as never, fingerprint: modelFingerprint(model, 'm'), optimizer: 'Momentum', history: { steps: [], epochs: [] } };
    const refused = await encodeCheckpoint(meta, model, optimizer).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NonFiniteStateError);
    expect((refused as NonFiniteStateError).tensors).toEqual([variance.name]);
    variance.write(saved);

    // A NaN in a momentum slot only.
    const slots = await optimizer.getWeights();
    const slot = slots[1]!.tensor as tf.Variable;
    const slotValues = (await slot.data()).slice();
    slotValues[0] = Number.NaN;
    slot.assign(tf.tensor(slotValues, slot.shape));
    tf.dispose(slots[0]!.tensor);
    expect(await stateIsFinite(model, optimizer)).toBe(false);
    tf.dispose([x, y]);
  });
});
