import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { labelSmoothingCrossEntropy, smoothLabels, softTargetCrossEntropy } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

import { K, LABELS, LOGITS, N, SOFT, TORCH_PAPER, TORCH_SOFT, TORCH_SOFT_GRAD, TORCH_UNIFORM, TORCH_UNIFORM_GRAD_01 } from './fixtures/torch-values';

// Hand computations in float64, independent of tfjs.
const logSoftmaxRow = (z: number[]): number[] => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return z.map((v) => v - lse);
};
const paperTargets = (eps: number): number[][] => LABELS.map((y) => Array.from({ length: K }, (_, j) => (j === y ? 1 - eps : eps / (K - 1))));
const uniformTargets = (eps: number): number[][] => LABELS.map((y) => Array.from({ length: K }, (_, j) => (j === y ? 1 - eps : 0) + eps / K));
const handLoss = (q: number[][], z: number[][] = LOGITS): number =>
  -q.reduce((s, row, i) => s + row.reduce((t, qk, k) => t + qk * (logSoftmaxRow(z[i] as number[])[k] as number), 0), 0) / q.length;
const handGrad = (q: number[][], z: number[][] = LOGITS): number[][] =>
  z.map((row, i) => logSoftmaxRow(row).map((l, k) => (Math.exp(l) - (q[i]?.[k] as number)) / z.length));

const logits = (): tf.Tensor2D => tf.tensor2d(LOGITS);
const lossAndGrad = (loss: (y: tf.Tensor, z: tf.Tensor) => tf.Scalar, y: tf.Tensor, z: tf.Tensor2D) => {
  const vg = tf.valueAndGrad((x: tf.Tensor) => loss(y, x));
  return vg(z);
};

describe('labelSmoothingCrossEntropy, uniform form = PyTorch label_smoothing', () => {
  for (const eps of [0, 0.1, 0.25]) {
    it(`eps ${eps}: int32 indices, float32 indices and one-hot rows all equal F.cross_entropy to 1e-5`, () => {
      const loss = labelSmoothingCrossEntropy({ epsilon: eps, form: 'uniform' });
      const expected = TORCH_UNIFORM[String(eps)] as number;
      for (const y of [tf.tensor1d(LABELS, 'int32'), tf.tensor1d(LABELS, 'float32'), tf.oneHot(tf.tensor1d(LABELS, 'int32'), K), tf.cast(tf.oneHot(tf.tensor1d(LABELS, 'int32'), K), 'float32')]) {
        const z = logits();
        const value = loss(y, z);
        expect(value.rank).toBe(0);
        expectTensorsClose(value, expected, { rtol: 0, atol: 1e-5 });
        expectTensorsClose(value, handLoss(uniformTargets(eps)), { rtol: 0, atol: 1e-5 });
        tf.dispose([y, z, value]);
      }
    });
  }

  it('the default is uniform with eps 0.1', () => {
    const y = tf.tensor1d(LABELS, 'int32');
    const z = logits();
    expectTensorsClose(labelSmoothingCrossEntropy()(y, z), TORCH_UNIFORM['0.1'] as number, { rtol: 0, atol: 1e-5 });
    tf.dispose([y, z]);
  });

  it('gradient equals PyTorch and the hand formula (softmax - q) / N', () => {
    const y = tf.tensor1d(LABELS, 'int32');
    const z = logits();
    const { value, grad } = lossAndGrad(labelSmoothingCrossEntropy({ epsilon: 0.1 }), y, z);
    expectTensorsClose(grad, TORCH_UNIFORM_GRAD_01.flat(), { rtol: 0, atol: 1e-6 });
    expectTensorsClose(grad, handGrad(uniformTargets(0.1)).flat(), { rtol: 0, atol: 1e-6 });
    tf.dispose([y, z, value, grad]);
  });
});

describe('labelSmoothingCrossEntropy, paper form', () => {
  for (const eps of [0.1, 0.25]) {
    it(`eps ${eps}: equals the hand computation and PyTorch with the paper's probability targets`, () => {
      const loss = labelSmoothingCrossEntropy({ epsilon: eps, form: 'paper' });
      const y = tf.tensor1d(LABELS, 'int32');
      const z = logits();
      const { value, grad } = lossAndGrad(loss, y, z);
      expectTensorsClose(value, handLoss(paperTargets(eps)), { rtol: 0, atol: 1e-5 });
      expectTensorsClose(value, TORCH_PAPER[String(eps)] as number, { rtol: 0, atol: 1e-5 });
      expectTensorsClose(grad, handGrad(paperTargets(eps)).flat(), { rtol: 0, atol: 1e-6 });
      // The two forms differ: the paper puts 1 - eps on the true class, uniform puts 1 - eps + eps / K.
      expect(Math.abs(value.dataSync()[0]! - (TORCH_UNIFORM[String(eps)] ?? NaN))).toBeGreaterThan(1e-3);
      tf.dispose([y, z, value, grad]);
    });
  }

  it('smoothLabels gives exactly the targets of each form', () => {
    const y = tf.tensor1d([2, 0], 'int32');
    const paper = smoothLabels(y, { numClasses: 5, epsilon: 0.2, form: 'paper' });
    expectTensorsClose(paper, [0.05, 0.05, 0.8, 0.05, 0.05, 0.8, 0.05, 0.05, 0.05, 0.05]);
    const uniform = smoothLabels(y, { numClasses: 5, epsilon: 0.2, form: 'uniform' });
    expectTensorsClose(uniform, [0.04, 0.04, 0.84, 0.04, 0.04, 0.84, 0.04, 0.04, 0.04, 0.04]);
    tf.dispose([y, paper, uniform]);
  });
});

describe('softTargetCrossEntropy', () => {
  it('equals F.cross_entropy with probability targets, value and gradient', () => {
    const q = tf.tensor2d(SOFT);
    const z = logits();
    const { value, grad } = lossAndGrad(softTargetCrossEntropy(), q, z);
    expectTensorsClose(value, TORCH_SOFT, { rtol: 0, atol: 1e-5 });
    expectTensorsClose(value, handLoss(SOFT), { rtol: 0, atol: 1e-5 });
    expectTensorsClose(grad, TORCH_SOFT_GRAD.flat(), { rtol: 0, atol: 1e-6 });
    expectTensorsClose(grad, handGrad(SOFT).flat(), { rtol: 0, atol: 1e-6 });
    tf.dispose([q, z, value, grad]);
  });

  it('smoothing once, before or after mixing, gives the same loss as labelSmoothingCrossEntropy on hard labels', () => {
    const oneHot = tf.cast(tf.oneHot(tf.tensor1d(LABELS, 'int32'), K), 'float32');
    const z = logits();
    for (const form of ['paper', 'uniform'] as const) {
      const smoothed = smoothLabels(oneHot, { epsilon: 0.1, form });
      const a = softTargetCrossEntropy()(smoothed, z);
      const b = labelSmoothingCrossEntropy({ epsilon: 0.1, form })(oneHot, z);
      expectTensorsClose(a, b.dataSync()[0]!, { rtol: 0, atol: 1e-6 });
      // mix(smooth(y)) = smooth(mix(y)): both forms are affine with rows summing to 1.
      const partner = tf.reverse(oneHot, 0);
      const lambda = 0.3;
      const mixThenSmooth = smoothLabels(tf.add(tf.mul(oneHot, lambda), tf.mul(partner, 1 - lambda)), { epsilon: 0.1, form });
      const smoothThenMix = tf.add(tf.mul(smoothed, lambda), tf.mul(smoothLabels(partner, { epsilon: 0.1, form }), 1 - lambda));
      expectTensorsClose(mixThenSmooth, smoothThenMix, { rtol: 0, atol: 1e-6 });
      tf.dispose([smoothed, a, b, partner, mixThenSmooth, smoothThenMix]);
    }
    tf.dispose([oneHot, z]);
  });
});

describe('numerical stability', () => {
  const BIG = [
    [1e4, -1e4, 0, 5e3],
    [1e4, -1e4, 0, 5e3],
    [-1e4, -1e4, -1e4, -1e4],
  ];
  const BIG_LABELS = [0, 1, 2];
  it('logits of +-1e4 give the hand value and finite gradients (softmax - q) / N', () => {
    const z = tf.tensor2d(BIG);
    const y = tf.tensor1d(BIG_LABELS, 'int32');
    const qOf = (eps: number, form: 'paper' | 'uniform'): number[][] =>
      BIG_LABELS.map((l) => Array.from({ length: K }, (_, j) => (form === 'paper' ? (j === l ? 1 - eps : eps / (K - 1)) : (j === l ? 1 - eps : 0) + eps / K)));
    for (const form of ['paper', 'uniform'] as const) {
      const { value, grad } = lossAndGrad(labelSmoothingCrossEntropy({ epsilon: 0.1, form }), y, z);
      // Row 0: log p = z - 1e4 = [0, -2e4, -1e4, -5e3]; row 2: log p = log(1/4) everywhere.
      const q = qOf(0.1, form);
      const hand = (q[0]![1]! * 2e4 + q[0]![2]! * 1e4 + q[0]![3]! * 5e3 + (q[1]![1]! * 2e4 + q[1]![2]! * 1e4 + q[1]![3]! * 5e3) + Math.log(4)) / 3;
      expectTensorsClose(value, hand, { rtol: 1e-6, atol: 0 });
      expect(Array.from(grad.dataSync()).every(Number.isFinite)).toBe(true);
      expectTensorsClose(grad, handGrad(q, BIG).flat(), { rtol: 0, atol: 1e-6 });
      tf.dispose([value, grad]);
    }
    const soft = tf.tensor2d([[0.5, 0.5, 0, 0], [0, 0, 0.2, 0.8], [0.25, 0.25, 0.25, 0.25]]);
    const { value, grad } = lossAndGrad(softTargetCrossEntropy(), soft, z);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    expectTensorsClose(grad, handGrad(soft.arraySync(), BIG).flat(), { rtol: 0, atol: 1e-6 });
    tf.dispose([z, y, soft, value, grad]);
  });
});

describe('validation', () => {
  const z = (): tf.Tensor2D => logits();
  const run = (f: () => unknown): (() => void) => () => tf.tidy(() => void f());
  it('refuses soft rows in labelSmoothingCrossEntropy, pointing at smoothLabels + softTargetCrossEntropy', () => {
    expect(run(() => labelSmoothingCrossEntropy()(tf.tensor2d(SOFT), z()))).toThrow(
      /yTrue row 0 = \[0\.7, 0\.3, 0, 0\] is not one-hot.*exactly once.*smoothLabels.*softTargetCrossEntropy/,
    );
    const smoothed = () => smoothLabels(tf.tensor1d(LABELS, 'int32'), { numClasses: K });
    expect(run(() => labelSmoothingCrossEntropy()(smoothed(), z()))).toThrow(/not one-hot/);
  });
  it('refuses bad ranks, shapes, labels and options', () => {
    expect(run(() => labelSmoothingCrossEntropy()(tf.tensor1d([0, 1, 4, 2, 1], 'int32'), z()))).toThrow(/yTrue\[2\] = 4 is out of range.*\[0, 3\]/);
    expect(run(() => labelSmoothingCrossEntropy()(tf.tensor1d([0, 1, 1.5, 2, 1]), z()))).toThrow(/yTrue\[2\] = 1.5 is out of range/);
    expect(run(() => labelSmoothingCrossEntropy()(tf.tensor1d([0, 1, 2], 'int32'), z()))).toThrow(/3 labels but yPred has 5 rows/);
    expect(run(() => labelSmoothingCrossEntropy()(tf.zeros([5, 3]), z()))).toThrow(/shape \[5, 3\] but yPred has shape \[5, 4\]/);
    expect(run(() => labelSmoothingCrossEntropy()(tf.zeros([5, 4, 1]), z()))).toThrow(/class indices \[N\] or one-hot rows/);
    expect(run(() => labelSmoothingCrossEntropy()(tf.tensor1d(LABELS, 'int32'), tf.tensor1d([1, 2])))).toThrow(/expected a rank-2 tensor/);
    expect(run(() => labelSmoothingCrossEntropy()(tf.tensor1d([0], 'int32'), tf.tensor2d([[1]], [1, 1], 'int32')))).toThrow(/float32 logits/);
    expect(run(() => labelSmoothingCrossEntropy({ form: 'paper' })(tf.tensor1d([0], 'int32'), tf.tensor2d([[1]])))).toThrow(/needs K >= 2/);
    expect(() => labelSmoothingCrossEntropy({ epsilon: 1.5 })).toThrow(/epsilon must be in \[0, 1\]/);
    expect(() => labelSmoothingCrossEntropy({ form: 'keras' as never })).toThrow(/form must be 'paper' or 'uniform'/);
    expect(run(() => softTargetCrossEntropy()(tf.tensor1d(LABELS, 'int32'), z()))).toThrow(/class indices; it needs \[N, K\] probabilities/);
    expect(run(() => softTargetCrossEntropy()(tf.fill([5, 4], 0.3), z()))).toThrow(/row 0 = \[0.3, 0.3, 0.3, 0.3\] is not a probability distribution \(sum 1.20000/);
    expect(run(() => softTargetCrossEntropy()(tf.tensor2d([[1.5, -0.5, 0, 0], ...SOFT.slice(1)]), z()))).toThrow(/row 0 .* min -0.5/);
    expect(run(() => smoothLabels(tf.tensor1d([0, 1], 'int32')))).toThrow(/need numClasses/);
    expect(run(() => smoothLabels(tf.tensor1d([0, 3], 'int32'), { numClasses: 3 }))).toThrow(/out of range/);
  });
});

describe('no leaks', () => {
  it('forward and backward of every loss keep tf.memory().numTensors constant', async () => {
    const z = logits();
    const y = tf.tensor1d(LABELS, 'int32');
    const oneHot = tf.oneHot(y, K);
    const soft = tf.tensor2d(SOFT);
    const losses: [(a: tf.Tensor, b: tf.Tensor) => tf.Scalar, tf.Tensor][] = [
      [labelSmoothingCrossEntropy({ form: 'paper' }), y],
      [labelSmoothingCrossEntropy({ form: 'uniform' }), oneHot],
      [labelSmoothingCrossEntropy({ epsilon: 0 }), y],
      [softTargetCrossEntropy(), soft],
    ];
    for (const [loss, target] of losses) {
      await expectNoLeak(() => loss(target, z), 5);
      await expectNoLeak(() => tf.valueAndGrad((x: tf.Tensor) => loss(target, x))(z), 5);
    }
    await expectNoLeak(() => smoothLabels(y, { numClasses: K, form: 'paper' }), 5);
    const before = tf.memory().numTensors;
    expect(() => labelSmoothingCrossEntropy()(soft, z)).toThrow();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, y, oneHot, soft]);
  });
});
