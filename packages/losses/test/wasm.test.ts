import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@bag-of-tricks/backend';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { labelSmoothingCrossEntropy, softTargetCrossEntropy } from '../src/index';

// The trainer runs on wasm here: the same PyTorch 1.13 numbers as losses.test.ts, on that backend.
beforeAll(async () => {
  expect(await initBackend('wasm', { log: () => {} })).toBe('wasm');
});

const LOGITS = [
  [2.0, -1.0, 0.5, 0.0],
  [-3.2, 4.1, 0.3, 1.7],
  [0.0, 0.0, 0.0, 0.0],
  [12.5, -7.25, 3.0, 9.0],
  [-0.4, 0.9, -2.2, 1.3],
];
const LABELS = [0, 1, 3, 2, 1];
const SOFT = [
  [0.7, 0.3, 0.0, 0.0],
  [0.1, 0.2, 0.3, 0.4],
  [0.25, 0.25, 0.25, 0.25],
  [0.0, 0.0, 1.0, 0.0],
  [0.5, 0.0, 0.0, 0.5],
];
const TORCH_UNIFORM_01 = 2.573587098029721;
const TORCH_UNIFORM_GRAD_01 = [
  [-0.04298001542276513, 0.002070758681749774, 0.02668894190299595, 0.014220314838019443],
  [-0.004878692682630029, -0.005428786881756965, -0.000982853359396894, 0.01129033292378392],
  [0.045000000000000005, 0.045000000000000005, 0.045000000000000005, -0.135],
  [0.18912344877689427, -0.0049999994862379975, -0.18498546950463493, 0.0008620202139786798],
  [0.014401383979991425, -0.11381056641501605, -0.0017929727981473155, 0.10120215523317197],
];
const TORCH_PAPER_01 = 2.6048370980297215;
const TORCH_SOFT = 3.3158370980297214;

describe('losses on the wasm backend', () => {
  it('match PyTorch 1.13 to 1e-5, gradients to 1e-6, without leaks', async () => {
    const z = tf.tensor2d(LOGITS);
    const y = tf.tensor1d(LABELS, 'int32');
    const soft = tf.tensor2d(SOFT);
    const uniform = labelSmoothingCrossEntropy({ epsilon: 0.1 });
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => uniform(y, x))(z);
    expectTensorsClose(value, TORCH_UNIFORM_01, { rtol: 0, atol: 1e-5 });
    expectTensorsClose(grad, TORCH_UNIFORM_GRAD_01.flat(), { rtol: 0, atol: 1e-6 });
    expectTensorsClose(labelSmoothingCrossEntropy({ epsilon: 0.1, form: 'paper' })(y, z), TORCH_PAPER_01, { rtol: 0, atol: 1e-5 });
    expectTensorsClose(softTargetCrossEntropy()(soft, z), TORCH_SOFT, { rtol: 0, atol: 1e-5 });
    const big = tf.tensor2d([[1e4, -1e4, 0, 5e3]]);
    const g = tf.grad((x: tf.Tensor) => uniform(tf.tensor1d([1], 'int32'), x))(big);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    await expectNoLeak(() => tf.valueAndGrad((x: tf.Tensor) => uniform(y, x))(z), 5);
    tf.dispose([z, y, soft, value, grad, big, g]);
  });
});
