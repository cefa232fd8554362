import { fusedBatchNormTraining, hasFusedBatchNormTraining } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type BatchNormLayer = ReturnType<typeof tfl.layers.batchNormalization>;
type BatchNormArgs = NonNullable<Parameters<typeof tfl.layers.batchNormalization>[0]>;
type LayerVariable = { read(): tf.Tensor; write(value: tf.Tensor): void };

/** The fields of tfjs-layers' BatchNormalization the fused path reads (private in its typings). */
interface BatchNormInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: LayerVariable;
  beta: LayerVariable;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
}

type BatchNormClass = new (args?: BatchNormArgs) => BatchNormLayer;

/**
 * tfjs-layers' BatchNormalization class, as tfjs-layers registered it for deserialisation (the package exports
 * only the factory function).
 */
function stockBatchNormClass(): BatchNormClass {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap['BatchNormalization'];
  if (!entry) throw new Error("resnet-variants: tfjs-layers' BatchNormalization is not registered; import '@tensorflow/tfjs-layers' first.");
  return entry[0] as unknown as BatchNormClass;
}

let fusedClass: BatchNormClass | undefined;

/**
 * tfjs-layers' BatchNormalization whose training step runs as two fused kernels (core's BATCH_NORM_TRAINING:
 * one forward, one backward) where the backend registered them, which the native kernels of
 * `@bag-of-tricks/native-kernels` do on wasm in Node. Everywhere else, and in inference, it is tfjs-layers'
 * own code. Its className stays 'BatchNormalization' and its config and weights are tfjs-layers', so a saved
 * model loads in stock tfjs unchanged. The fused kernel also updates the moving averages, with tfjs-layers'
 * float32 operations on the batch statistics (the biased variance, as tfjs-layers uses).
 */
function fusedBatchNormClass(): BatchNormClass {
  if (fusedClass) return fusedClass;
  const Base = stockBatchNormClass();
  class BatchNormalization extends Base {
    static className = 'BatchNormalization';

    call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean; [key: string]: unknown }): tf.Tensor | tf.Tensor[] {
      const self = this as unknown as BatchNormInternals;
      const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
      const fused =
        kwargs?.['training'] === true &&
        input != null &&
        input.dtype === 'float32' &&
        input.rank >= 2 &&
        input.size > 0 &&
        (self.axis === -1 || self.axis === input.rank - 1) &&
        self.center &&
        self.scale &&
        hasFusedBatchNormTraining();
      if (!fused) return super.call(inputs, kwargs);
      return tf.tidy(() => {
        // The kernel also updates the moving averages, bitwise as tfjs-layers' doMovingAverage does from the same
        // statistics: moving - (moving - batch) * (1 - momentum).
        const r = fusedBatchNormTraining(input, self.gamma.read(), self.beta.read(), self.epsilon, {
          mean: self.movingMean.read(),
          variance: self.movingVariance.read(),
          momentum: self.momentum,
        });
        self.movingMean.write(r.movingMean!);
        self.movingVariance.write(r.movingVariance!);
        return r.y;
      });
    }
  }
  fusedClass = BatchNormalization as unknown as BatchNormClass;
  return fusedClass;
}

/**
 * A BatchNormalization layer (same arguments as `tf.layers.batchNormalization`) that trains with the fused
 * kernels where the backend has them. Not registered for deserialisation: loading a saved model gives
 * tfjs-layers' own class, which computes the same function.
 */
export function batchNormalization(args: BatchNormArgs = {}): BatchNormLayer {
  const Cls = fusedBatchNormClass();
  return new Cls(args);
}

/** Whether `layer` is this package's BatchNormalization (the one that trains with the fused kernels). */
export function isFusedBatchNormalization(layer: unknown): boolean {
  return fusedClass !== undefined && layer instanceof fusedClass;
}

/**
 * Runs `fn` (e.g. `tf.models.modelFromJSON(json)`) with 'BatchNormalization' deserialised as this package's class
 * instead of tfjs-layers' own, then puts tfjs-layers' back. The trainer's data-parallel replicas rebuild the main
 * thread's model this way, so every replica trains with the same BatchNorm code as the main thread.
 */
export async function withFusedBatchNormalization<T>(fn: () => T | Promise<T>): Promise<T> {
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  const stock = map['BatchNormalization'];
  const Cls = fusedBatchNormClass() as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable> & {
    fromConfig: tf.serialization.FromConfigMethod<tf.serialization.Serializable>;
  };
  map['BatchNormalization'] = [Cls, Cls.fromConfig];
  try {
    return await fn();
  } finally {
    if (stock) map['BatchNormalization'] = stock;
  }
}
