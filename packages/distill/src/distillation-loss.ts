import * as tf from '@tensorflow/tfjs-core';
import { assertRank, assertSameShape, type Loss } from '@bag-of-tricks/core';
import { softTargetCrossEntropy } from '@bag-of-tricks/losses';
import { DEFAULTS } from './defaults';

/**
 * `'paper'`: He et al. 2019, eq. in §5.3 — `CE(p, softmax(z)) + T² · CE(softmax(r/T), softmax(z/T))`, an unweighted sum.
 * `'weighted'`: GluonCV's `DistillationSoftmaxCrossEntropyLoss` —
 * `(1 − hardWeight) · T² · CE(softmax(r/T), softmax(z/T)) + hardWeight · CE(p, softmax(z))`.
 */
export type DistillationForm = 'paper' | 'weighted';

/**
 * How the soft term compares the two tempered distributions. `'cross-entropy'` is what the paper and
 * GluonCV write; `'kl'` (PyTorch's `kl_div(..., reduction='batchmean')`, Hinton et al.) subtracts the
 * teacher's entropy, a constant in the student: same gradients, a loss that reaches 0 at a perfect match.
 */
export type SoftTerm = 'cross-entropy' | 'kl';

export interface DistillationOptions {
  /** Softmax temperature T (default 20, the paper's value). */
  temperature?: number;
  /** `'paper'` (default) or `'weighted'` (GluonCV). */
  form?: DistillationForm;
  /** Weight of the hard-label term in the `'weighted'` form (default 0.5, GluonCV's default). Not used by `'paper'`. */
  hardWeight?: number;
  /** `'cross-entropy'` (default, as in the paper) or `'kl'`. */
  softTerm?: SoftTerm;
  /**
   * The hard-label term `CE(p, softmax(z))`, as a `(yTrue, logits) => Scalar` loss. Default: plain
   * soft-target cross-entropy; pass a label-smoothing loss to smooth p (smoothing is applied once, here).
   */
  hardLoss?: Loss;
}

/** A distillation loss: targets (one-hot or soft), student logits z and teacher logits r, each [N, K]; a batch mean. */
export type DistillationLoss = (yTrue: tf.Tensor, studentLogits: tf.Tensor, teacherLogits: tf.Tensor) => tf.Scalar;

/** Identity whose gradient is zero: the teacher's logits are targets, never trained through this loss. */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0]);

/** The soft term alone, without T²: batch mean of CE or KL between softmax(r/T) and softmax(z/T). */
export function temperedSoftTerm(
  studentLogits: tf.Tensor,
  teacherLogits: tf.Tensor,
  temperature: number,
  softTerm: SoftTerm = 'cross-entropy',
): tf.Scalar {
  return tf.tidy(() => {
    const zLogP = tf.logSoftmax(tf.div(studentLogits, temperature));
    const rLogP = tf.logSoftmax(tf.div(stopGradient(teacherLogits) as tf.Tensor, temperature));
    const q = tf.exp(rLogP);
    const perSample =
      softTerm === 'kl' ? tf.sum(tf.mul(q, tf.sub(rLogP, zLogP)), -1) : tf.neg(tf.sum(tf.mul(q, zLogP), -1));
    return tf.mean(perSample) as tf.Scalar;
  });
}

/**
 * Knowledge-distillation loss (He et al. 2019 §5.3; Hinton et al. 2015). The soft term is scaled by T²
 * so its gradients keep their size as T changes. Teacher logits never receive gradients.
 */
export function distillationLoss(options: DistillationOptions = {}): DistillationLoss {
  const { temperature = DEFAULTS.distillation.temperature, form = DEFAULTS.distillation.form, hardWeight = DEFAULTS.distillation.hardWeight, softTerm = DEFAULTS.distillation.softTerm } = options;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new RangeError(`distillationLoss: temperature must be a finite number > 0, got ${temperature}.`);
  }
  if (form !== 'paper' && form !== 'weighted') {
    throw new RangeError(`distillationLoss: form must be 'paper' or 'weighted', got '${String(form)}'.`);
  }
  if (softTerm !== 'cross-entropy' && softTerm !== 'kl') {
    throw new RangeError(`distillationLoss: softTerm must be 'cross-entropy' or 'kl', got '${String(softTerm)}'.`);
  }
  if (form === 'weighted' && !(hardWeight >= 0 && hardWeight <= 1)) {
    throw new RangeError(`distillationLoss: hardWeight must lie in [0, 1], got ${hardWeight}.`);
  }
  const hardLoss = options.hardLoss ?? softTargetCrossEntropy();
  const [softScale, hardScale] = form === 'paper' ? [temperature * temperature, 1] : [(1 - hardWeight) * temperature * temperature, hardWeight];

  return (yTrue, studentLogits, teacherLogits) =>
    tf.tidy(() => {
      assertRank(studentLogits, 2, 'distillationLoss: studentLogits', '[N, K]');
      assertSameShape(studentLogits, teacherLogits, 'distillationLoss: studentLogits', 'teacherLogits');
      const parts: tf.Scalar[] = [];
      if (softScale !== 0) parts.push(tf.mul(temperedSoftTerm(studentLogits, teacherLogits, temperature, softTerm), softScale));
      if (hardScale !== 0) parts.push(tf.mul(hardLoss(yTrue, studentLogits), hardScale));
      return (parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar;
    });
}

/**
 * Binds teacher logits for one batch, giving a plain `(yTrue, studentLogits) => Scalar` loss for a custom
 * loop or `optimizer.minimize`. The caller owns `teacherLogits` (compute them outside the gradient closure).
 */
export function withTeacherLogits(loss: DistillationLoss, teacherLogits: tf.Tensor): Loss {
  return (yTrue, studentLogits) => loss(yTrue, studentLogits, teacherLogits);
}
