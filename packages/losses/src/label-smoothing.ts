import * as tf from '@tensorflow/tfjs-core';
import { assertLabelsInRange, assertSameShape, type Loss } from '@bag-of-tricks/core';
import { DEFAULTS } from './defaults';
import { checkLogits, firstNonDistributionRow, firstNonOneHotRow, formatRow } from './checks';
import { crossEntropyWithLogits } from './soft-target-cross-entropy';

/**
 * `'paper'`: He et al. 2019, q = 1 - eps on the true class and eps / (K - 1) on each other class.
 * `'uniform'`: PyTorch, Keras, timm, tfjs: q = (1 - eps) * onehot + eps / K (true class 1 - eps + eps / K).
 */
export type SmoothingForm = 'paper' | 'uniform';

export interface SmoothingOptions {
  /** Smoothing strength in [0, 1] (default 0.1, the paper's). */
  epsilon?: number;
  /** Which smoothing (default `'uniform'`, the common one; `'paper'` is the paper's eps / (K - 1)). */
  form?: SmoothingForm;
}

export interface LabelSmoothingCrossEntropyOptions extends SmoothingOptions {
  /** Check labels with a synchronous read: index range, or rows exactly one-hot (default true). */
  checkLabels?: boolean;
}

function checkSmoothing({ epsilon = DEFAULTS.labelSmoothing.epsilon, form = DEFAULTS.labelSmoothing.form }: SmoothingOptions, where: string, k: number): { epsilon: number; form: SmoothingForm } {
  if (typeof epsilon !== 'number' || !(epsilon >= 0 && epsilon <= 1)) throw new RangeError(`${where}: epsilon must be in [0, 1], got ${String(epsilon)}.`);
  if (form !== 'paper' && form !== 'uniform') throw new TypeError(`${where}: form must be 'paper' or 'uniform', got ${JSON.stringify(form)}.`);
  if (form === 'paper' && k < 2) throw new RangeError(`${where}: the paper form spreads eps / (K - 1) and needs K >= 2 classes, got K = ${k}.`);
  return { epsilon, form };
}

/** The affine map of either form: q = a * y + b, which keeps rows summing to 1. */
function smoothingCoefficients(epsilon: number, form: SmoothingForm, k: number): { a: number; b: number } {
  return form === 'uniform' ? { a: 1 - epsilon, b: epsilon / k } : { a: 1 - (epsilon * k) / (k - 1), b: epsilon / (k - 1) };
}

function indicesToOneHot(labels: tf.Tensor, k: number, where: string, check: boolean): tf.Tensor2D {
  if (labels.dtype !== 'int32' && labels.dtype !== 'float32') throw new TypeError(`${where}: integer labels must be int32 (or float32 holding integers), got ${labels.dtype}.`);
  if (check) assertLabelsInRange(labels.dataSync(), k, `${where}: yTrue`);
  return tf.tidy(() => tf.cast(tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, k), 'float32') as tf.Tensor2D);
}

/**
 * Smooths labels once, explicitly: `labels` are class indices [N] (give `numClasses`), one-hot rows
 * [N, K], or any probability rows [N, K]. Both forms are affine, q = a y + b with rows still summing
 * to 1, so smoothing before mixup and after it give the same targets: mix(smooth(y)) = smooth(mix(y)).
 * Train on the result with `softTargetCrossEntropy()`.
 */
export function smoothLabels(labels: tf.Tensor, { numClasses, ...options }: SmoothingOptions & { numClasses?: number } = {}): tf.Tensor2D {
  const where = 'smoothLabels';
  if (labels.rank === 1) {
    if (!Number.isInteger(numClasses) || (numClasses as number) < 1) throw new RangeError(`${where}: class-index labels [N] need numClasses (an integer >= 1), got ${String(numClasses)}.`);
    const k = numClasses as number;
    const { epsilon, form } = checkSmoothing(options, where, k);
    const { a, b } = smoothingCoefficients(epsilon, form, k);
    return tf.tidy(() => {
      const oneHot = indicesToOneHot(labels, k, where, true);
      return tf.add(tf.mul(oneHot, a), b) as tf.Tensor2D;
    });
  }
  if (labels.rank !== 2) throw new TypeError(`${where}: labels must be class indices [N] or rows [N, K], got shape [${labels.shape.join(', ')}].`);
  const [n, k] = labels.shape as [number, number];
  if (numClasses !== undefined && numClasses !== k) throw new RangeError(`${where}: numClasses ${numClasses} differs from the labels' ${k} columns.`);
  const { epsilon, form } = checkSmoothing(options, where, k);
  const values = labels.dataSync();
  const bad = firstNonDistributionRow(values, n, k);
  if (bad) throw new RangeError(`${where}: row ${bad.row} = ${formatRow(values, bad.row, k)} is not a probability distribution (sum ${bad.sum.toPrecision(6)}).`);
  const { a, b } = smoothingCoefficients(epsilon, form, k);
  return tf.tidy(() => tf.add(tf.mul(tf.cast(labels, 'float32'), a), b) as tf.Tensor2D);
}

/**
 * Label-smoothing cross-entropy, `(yTrue, yPred logits [N, K]) => Scalar`, for hard labels only:
 * yTrue is class indices [N] (int32, or float32 holding integers) or exactly one-hot rows [N, K].
 * Soft rows (mixup, CutMix, already smoothed) are refused, never guessed at: smooth exactly once with
 * `smoothLabels` (before or after mixing; it is the same) and train with `softTargetCrossEntropy()`.
 * `epsilon: 0` is plain cross-entropy.
 */
export function labelSmoothingCrossEntropy(options: LabelSmoothingCrossEntropyOptions = {}): Loss {
  const where = `labelSmoothingCrossEntropy(${options.form ?? DEFAULTS.labelSmoothing.form})`;
  // Validate the options now, so a bad config fails at construction, not at the first step.
  checkSmoothing(options, where, options.form === 'paper' ? 2 : 1);
  const checkLabels = options.checkLabels ?? true;
  return (yTrue, yPred) => {
    const [n, k] = checkLogits(yPred, where);
    const { epsilon, form } = checkSmoothing(options, where, k);
    const { a, b } = smoothingCoefficients(epsilon, form, k);
    if (yTrue.rank === 1) {
      if (yTrue.shape[0] !== n) throw new RangeError(`${where}: yTrue has ${yTrue.shape[0]} labels but yPred has ${n} rows.`);
    } else if (yTrue.rank === 2) {
      assertSameShape(yTrue, yPred, `${where}: yTrue`, 'yPred');
      if (checkLabels) {
        const values = yTrue.dataSync();
        const row = firstNonOneHotRow(values, n, k);
        if (row >= 0) {
          throw new RangeError(
            `${where}: yTrue row ${row} = ${formatRow(values, row, k)} is not one-hot. Soft targets (mixup, CutMix, or labels ` +
              'already smoothed) are refused so that smoothing is applied exactly once: smooth the one-hot labels with ' +
              'smoothLabels(labels, { epsilon, form }) before (or after) mixing, and train with softTargetCrossEntropy().',
          );
        }
      }
    } else {
      throw new TypeError(`${where}: yTrue must be class indices [N] or one-hot rows [N, K], got shape [${yTrue.shape.join(', ')}].`);
    }
    return tf.tidy(() => {
      const oneHot = yTrue.rank === 1 ? indicesToOneHot(yTrue, k, where, checkLabels) : (tf.cast(yTrue, 'float32') as tf.Tensor2D);
      const q = epsilon === 0 ? oneHot : (tf.add(tf.mul(oneHot, a), b) as tf.Tensor2D);
      return crossEntropyWithLogits(q, yPred as tf.Tensor2D);
    });
  };
}
