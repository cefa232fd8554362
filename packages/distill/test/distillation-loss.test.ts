import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { distillationLoss, temperedSoftTerm, withTeacherLogits, type DistillationForm, type SoftTerm } from '../src';

interface Case {
  temperature: number;
  labels: 'onehot' | 'soft';
  form: DistillationForm;
  hardWeight: number | null;
  softTerm: SoftTerm;
  loss: number;
  grad: number[][];
}
const ref = JSON.parse(readFileSync(new URL('./fixtures/distill-reference.json', import.meta.url), 'utf8')) as {
  student: number[][];
  teacher: number[][];
  onehot: number[][];
  soft: number[][];
  cases: Case[];
};

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('distillationLoss matches PyTorch 1.13 (test/fixtures/distill_reference.py)', () => {
  for (const c of ref.cases) {
    it(`T=${c.temperature} ${c.form}${c.hardWeight === null ? '' : ` hardWeight=${c.hardWeight}`} ${c.softTerm} ${c.labels} labels`, () => {
      const loss = distillationLoss({ temperature: c.temperature, form: c.form, hardWeight: c.hardWeight ?? undefined, softTerm: c.softTerm });
      const z = tf.tensor2d(ref.student);
      const r = tf.tensor2d(ref.teacher);
      const y = tf.tensor2d(ref[c.labels]);
      const value = loss(y, z, r);
      // float32 against float64: T² = 400 amplifies rounding of the soft term.
      expectTensorsClose(value.dataSync()[0]!, c.loss, { rtol: 1e-4, atol: 1e-4 });
      const grad = tf.grad((s: tf.Tensor) => loss(y, s, r))(z);
      expectTensorsClose(grad, tf.tensor2d(c.grad), { rtol: 1e-3, atol: 1e-5 });
      tf.dispose([z, r, y, value, grad]);
    });
  }
});

describe('distillationLoss by hand', () => {
  it('soft term at T: -sum softmax(r/T) log softmax(z/T), KL is zero when z = r', () => {
    // Two classes, T = 2: softmax([0, 2]/2) = [1/(1+e), e/(1+e)].
    const z = tf.tensor2d([[0, 2]]);
    const r = tf.tensor2d([[2, 0]]);
    const p = 1 / (1 + Math.E);
    const expected = -(p * Math.log(1 - p) + (1 - p) * Math.log(p));
    expectTensorsClose(temperedSoftTerm(z, r, 2), expected, { rtol: 1e-6 });
    expectTensorsClose(temperedSoftTerm(z, z, 2, 'kl'), 0, { atol: 1e-7 });
    const paper = distillationLoss({ temperature: 2 })(tf.tensor2d([[1, 0]]), z, r);
    expectTensorsClose(paper, -Math.log(1 / (1 + Math.exp(2))) + 4 * expected, { rtol: 1e-6 });
  });

  it('teacher logits receive no gradient', () => {
    const z = tf.tensor2d([[0.5, -1, 2]]);
    const r = tf.tensor2d([[1, 2, 3]]);
    const y = tf.tensor2d([[0, 0, 1]]);
    const g = tf.grad((t: tf.Tensor) => distillationLoss({ temperature: 3 })(y, z, t))(r);
    expectTensorsClose(g, [0, 0, 0]);
  });

  it('withTeacherLogits gives a plain Loss; a hardLoss replaces the hard term', () => {
    const z = tf.tensor2d([[0.5, -1, 2]]);
    const r = tf.tensor2d([[1, 2, 3]]);
    const y = tf.tensor2d([[0, 0, 1]]);
    const full = distillationLoss({ temperature: 5 });
    expectTensorsClose(withTeacherLogits(full, r)(y, z), full(y, z, r));
    const zeroHard = distillationLoss({ temperature: 5, hardLoss: () => tf.scalar(0) });
    expectTensorsClose(zeroHard(y, z, r), tf.mul(temperedSoftTerm(z, r, 5), 25));
  });

  it('rejects bad options and mismatched shapes with clear messages', () => {
    expect(() => distillationLoss({ temperature: 0 })).toThrow(/temperature must be a finite number > 0/);
    expect(() => distillationLoss({ form: 'gluon' as DistillationForm })).toThrow(/'paper' or 'weighted'/);
    expect(() => distillationLoss({ form: 'weighted', hardWeight: 1.5 })).toThrow(/hardWeight must lie in \[0, 1\]/);
    const loss = distillationLoss();
    expect(() => loss(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.zeros([2, 4]))).toThrow(/teacherLogits has shape \[2, 4\]/);
  });

  it('does not leak tensors', async () => {
    const z = tf.tensor2d(ref.student);
    const r = tf.tensor2d(ref.teacher);
    const y = tf.tensor2d(ref.onehot);
    const loss = distillationLoss({ form: 'weighted', softTerm: 'kl' });
    await expectNoLeak(() => loss(y, z, r));
    await expectNoLeak(() => tf.grad((s: tf.Tensor) => loss(y, s, r))(z));
    tf.dispose([z, r, y]);
  });
});
