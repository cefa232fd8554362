import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { nativeKernelsAvailable, nativeKernelStats, resetNativeKernelStats } from '@bag-of-tricks/native-kernels';
import { softTargetCrossEntropy } from '@bag-of-tricks/losses';
import { expectNoLeak } from '@bag-of-tricks/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOptimizer, createTrainStep, splitDecayVariables } from '../src';

// The fused native optimizer update (backend's nativeOptimizerStep) against the tfjs ops it replaces
// (BOT_NATIVE_OPTIMIZER=never), through the trainer's own step: same model, same batches, bitwise equal.
const available = nativeKernelsAvailable();

beforeAll(async () => {
  if (available) await initBackend('wasm', { native: true, log: () => {} });
});
afterAll(() => {
  delete process.env.BOT_NATIVE_OPTIMIZER;
});

/** conv -> BN -> relu -> conv (stride 2) -> BN -> global pool -> dense: conv kernels, BN gamma/beta, a dense kernel and bias. */
function model(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 3] });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ gammaInitializer: tfl.initializers.constant({ value: 0.7 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 4, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

function batch(s: number) {
  const n = 8;
  const images = tf.tidy(() => tf.reshape(tf.sin(tf.add(tf.mul(tf.range(0, n * 6 * 6 * 3), 0.37 + 0.01 * s), s)), [n, 6, 6, 3])) as tf.Tensor4D;
  const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => (i + s) % 4), 'int32'), 4), 'float32')) as tf.Tensor2D;
  return { images, labels };
}

async function train(kind: 'nag' | 'sgd', native: boolean, steps = 5) {
  if (native) delete process.env.BOT_NATIVE_OPTIMIZER;
  else process.env.BOT_NATIVE_OPTIMIZER = 'never';
  const m = model();
  const optimizer = createOptimizer(kind === 'nag' ? { kind: 'nag', momentum: 0.9 } : { kind: 'sgd', momentum: 0.8 }, 0.2);
  const loss = softTargetCrossEntropy();
  const decay = splitDecayVariables(m, true); // conv/dense kernels decay; BN and the bias do not
  const step = createTrainStep({ model: m, optimizer, loss: (y, z) => loss(y, z), decayVariables: decay.decay, weightDecay: 5e-3 });
  resetNativeKernelStats();
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const b = batch(s);
    const l = step(b);
    losses.push(l.dataSync()[0]!);
    tf.dispose([l, b.images, b.labels]);
  }
  const fused = nativeKernelStats().MomentumUpdate?.native ?? 0;
  const bits = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
  const weights = m.getWeights().map(bits);
  const state = (await optimizer.getWeights()).map((w) => ({ name: w.name.replace(/\d+\//, '/'), bits: bits(w.tensor) })); // layer names count up per model
  optimizer.dispose();
  m.dispose();
  return { losses, weights, state, fused, iterations: optimizer.iterations };
}

describe.skipIf(!available)('the trainer step with the native optimizer update', () => {
  for (const kind of ['nag', 'sgd'] as const)
    it(`gives bitwise the weights, momentum buffers and losses of tfjs's ops (${kind === 'nag' ? 'NAG' : 'SGD momentum 0.8'}, weight decay on the kernels), 5 steps`, async () => {
      const ref = await train(kind, false);
      const got = await train(kind, true);
      expect(ref.fused).toBe(0);
      expect(got.fused).toBe(5); // the fused update did run, once a step
      expect(got.iterations).toBe(5);
      expect(got.losses).toEqual(ref.losses);
      expect(got.state.map((s) => s.name)).toEqual(ref.state.map((s) => s.name));
      expect(got.state).toEqual(ref.state);
      expect(got.weights).toEqual(ref.weights);
      expect(ref.losses[4]).not.toBe(ref.losses[0]); // it trained
    });

  it('keeps tf.memory().numTensors flat', async () => {
    delete process.env.BOT_NATIVE_OPTIMIZER;
    const m = model();
    const optimizer = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.1);
    const loss = softTargetCrossEntropy();
    const step = createTrainStep({ model: m, optimizer, loss: (y, z) => loss(y, z), decayVariables: splitDecayVariables(m, true).decay, weightDecay: 1e-4 });
    const b = batch(0);
    await expectNoLeak(() => step(b), 3);
    tf.dispose([b.images, b.labels]);
    optimizer.dispose();
    m.dispose();
  });
});
