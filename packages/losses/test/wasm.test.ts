import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@bag-of-tricks/backend';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { labelSmoothingCrossEntropy, softTargetCrossEntropy } from '../src/index';
import { LABELS, LOGITS, SOFT, TORCH_PAPER, TORCH_SOFT, TORCH_UNIFORM, TORCH_UNIFORM_GRAD_01 } from './fixtures/torch-values';

// The trainer runs on wasm here: the same PyTorch 1.13 numbers as losses.test.ts, on that backend.
beforeAll(async () => {
  expect(await initBackend('wasm', { log: () => {} })).toBe('wasm');
});

const TORCH_UNIFORM_01 = TORCH_UNIFORM['0.1']!;
const TORCH_PAPER_01 = TORCH_PAPER['0.1']!;

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
