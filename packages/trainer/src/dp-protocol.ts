import * as tf from '@tensorflow/tfjs-core';
import type { Precision } from '@bag-of-tricks/backend';
import type { StepLossConfig } from './step-loss';

/**
 * What a data-parallel replica gets at start-up: worker_threads' `workerData`, or a Web Worker's first
 * message (`{ type: 'init', init }`). Structured-cloneable; the two SharedArrayBuffers are shared, not copied.
 */
export interface WorkerInit {
  /** The replica number (1 … W-1; the main thread is replica 0). */
  readonly replica: number;
  /** `model.toJSON(null, false)`: the topology, rebuilt with `tf.models.modelFromJSON`. */
  readonly modelJson: string;
  /** The main thread's backend: the worker starts the same one, single-threaded. */
  readonly backend: 'wasm' | 'cpu';
  /**
   * Whether the main model's BatchNorm layers are resnet-variants' (fused kernels where registered): the worker then
   * rebuilds the model with that class too (`withFusedBatchNormalization`), so every replica runs the same code.
   */
  readonly fusedBatchNorm?: boolean;
  /** The main thread's convolution precision (backend's `nativePrecision()`): the worker starts with the same. */
  readonly precision?: Precision;
  readonly loss: StepLossConfig;
  /** Shapes of `model.weights` in order (trainable and not), as the main thread has them. */
  readonly weightShapes: readonly (readonly number[])[];
  /** Which entries of `model.weights` are trainable, in `model.trainableWeights` order. */
  readonly trainable: readonly number[];
  /** Float32 copy of every model weight, written by the main thread before each step. */
  readonly weights: SharedArrayBuffer;
  /** Float32: this worker's scaled gradients of the trainable weights, written by it each step. */
  readonly grads: SharedArrayBuffer;
}

export type ToWorker =
  | {
      readonly type: 'step';
      readonly id: number;
      /** Reload the weights from the shared buffer first (they changed since the last load). */
      readonly loadWeights: boolean;
      readonly images: Float32Array;
      readonly imagesShape: readonly number[];
      readonly labels: Float32Array;
      readonly labelsShape: readonly number[];
      readonly teacher?: Float32Array;
      readonly teacherShape?: readonly number[];
      /** Shard size / batch size: the weight of this shard's mean gradient in the batch mean. */
      readonly scale: number;
    }
  /** Load the weights from the shared buffer now. */
  | { readonly type: 'sync'; readonly id: number }
  /** Send back the weights this replica holds. */
  | { readonly type: 'read'; readonly id: number };

/** A Web Worker replica's first message (worker_threads get the same object as `workerData`). */
export interface ReplicaInitMessage {
  readonly type: 'init';
  readonly init: WorkerInit;
}

export type FromWorker =
  /** `precision`: what the replica's convolutions run at, read back after its backend started. */
  | { readonly type: 'ready'; readonly precision?: Precision }
  | { readonly type: 'done'; readonly id: number; readonly loss: number }
  | { readonly type: 'synced'; readonly id: number }
  | { readonly type: 'weights'; readonly id: number; readonly values: Float32Array[] }
  /** `heapBytes`: the replica's wasm heap when it failed (null on other backends), for an out-of-memory message. */
  | { readonly type: 'error'; readonly id: number | null; readonly message: string; readonly stack?: string; readonly heapBytes?: number | null };

/** Float32 offsets of each shape in one flat buffer. */
export function layout(shapes: readonly (readonly number[])[]): { offsets: number[]; sizes: number[]; total: number } {
  const offsets: number[] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const s of shapes) {
    const n = s.reduce((a, b) => a * b, 1);
    offsets.push(total);
    sizes.push(n);
    total += n;
  }
  return { offsets, sizes, total };
}

/**
 * Copies a float32 tensor's values into `target` at `offset`: on wasm straight from the backend's heap
 * (one copy, no allocation: ResNet-50's 100 MB of weights or gradients every step), elsewhere through
 * `dataSync`.
 */
export function copyTensorInto(t: tf.Tensor, target: Float32Array, offset: number): void {
  if (t.dtype === 'float32' && tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as { dataIdMap?: { get(id: object): { memoryOffset?: number } | undefined }; wasm?: { HEAPU8?: Uint8Array } };
    const info = backend.dataIdMap?.get(t.dataId);
    const heap = backend.wasm?.HEAPU8;
    if (heap && typeof info?.memoryOffset === 'number') {
      target.set(new Float32Array(heap.buffer, heap.byteOffset + info.memoryOffset, t.size), offset);
      return;
    }
  }
  target.set(t.dataSync() as Float32Array, offset);
}
