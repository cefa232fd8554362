import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { assertRank } from '@bag-of-tricks/core';

/** A teacher maps a batch of (already augmented, possibly mixed) images [N, H, W, C] to logits [N, K]. */
export interface Teacher {
  /** Logits in inference mode (BN uses moving statistics, dropout off). Call it outside any gradient closure. */
  logits(images: tf.Tensor4D): tf.Tensor2D;
  /** Where it came from, for logs and errors. */
  readonly description: string;
  /** Frees the teacher's weights, when it owns any. */
  dispose(): void;
}

/** Wraps a LayersModel as a teacher; `training: false`, weights frozen. The teacher owns the model. */
export function teacherFromModel(model: LayersModel, description = model.name): Teacher {
  model.trainable = false;
  return {
    description,
    logits: (images) =>
      tf.tidy(() => {
        assertRank(images, 4, 'teacher.logits: images', 'NHWC');
        const out = model.apply(images, { training: false });
        if (Array.isArray(out) || !(out instanceof tf.Tensor)) {
          throw new Error(`Teacher ${description}: expected a single-output model, got ${Array.isArray(out) ? out.length : 0} outputs.`);
        }
        return out as tf.Tensor2D;
      }),
    dispose: () => model.dispose(),
  };
}

/** Wraps any `(images) => logits` function as a teacher (it should run in inference mode itself). */
export function teacherFromFunction(fn: (images: tf.Tensor4D) => tf.Tensor2D, description = 'function teacher'): Teacher {
  return { description, logits: (images) => tf.tidy(() => fn(images)), dispose: () => {} };
}

const hasScheme = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/**
 * Loads a saved LayersModel as a teacher: a URL or path to its `model.json`, or a tfjs `io.IOHandler`.
 * In Node, plain paths need a `file://` router: call `registerFileRouter()` from `@bag-of-tricks/data`
 * first, or pass its `fileSystemIO(dir)`. Errors name the source.
 */
export async function loadTeacher(source: string | tf.io.IOHandler): Promise<Teacher> {
  const name = typeof source === 'string' ? source : 'IOHandler';
  let target: string | tf.io.IOHandler = source;
  if (typeof source === 'string') {
    if (tf.io.getLoadHandlers(source).length === 0 && !hasScheme(source) && tf.io.getLoadHandlers(`file://${source}`).length > 0) {
      target = `file://${source}`;
    } else if (tf.io.getLoadHandlers(source).length === 0 && !hasScheme(source)) {
      throw new Error(
        `Cannot load teacher model "${source}": no tfjs IO handler accepts this path. In Node call registerFileRouter() ` +
          `from @bag-of-tricks/data first (or pass fileSystemIO(dir)); in a browser give an http(s):// URL to model.json.`,
      );
    }
  }
  let model: LayersModel;
  try {
    model = await loadLayersModel(target as string);
  } catch (err) {
    const cause = err instanceof Error ? err.message : String(err);
    throw new Error(`Cannot load teacher model "${name}": ${cause}`, { cause: err });
  }
  return teacherFromModel(model, `teacher ${name}`);
}
