// A data-parallel replica: its own single-threaded tfjs backend and model copy, on a worker_thread (Node's
// dp-worker.js) or a Web Worker (`serveReplica`). Per step it loads the main thread's weights from shared
// memory, computes the loss and the gradients of the trainable weights on its shard, scales them by shard
// size / batch size and writes them into its shared gradient buffer. The main thread sums, updates and
// copies the new weights back.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend, nativePrecision } from '@bag-of-tricks/backend';
import { withFusedBatchNormalization } from '@bag-of-tricks/resnet-variants';
import { createStepLoss } from './step-loss';
import { wasmHeapBytes } from './wasm-heap';
import { copyTensorInto, layout, type FromWorker, type ReplicaInitMessage, type ToWorker, type WorkerInit } from './dp-protocol';

/** How a replica answers the step. */
export type ReplicaSend = (msg: FromWorker, transfer?: ArrayBuffer[]) => void;

export interface ReplicaOptions {
  /**
   * Starts this replica's backend (default: `initBackend(backend, { precision })` of @bag-of-tricks/backend, silent).
   * `precision` is the main thread's; the replica reports what its convolutions then run at.
   */
  startBackend?(backend: WorkerInit['backend'], precision?: WorkerInit['precision']): Promise<unknown>;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const errorReply = (id: number | null, err: unknown): FromWorker => {
  const e = err instanceof Error ? err : new Error(String(err));
  return { type: 'error', id, message: e.message, ...(e.stack ? { stack: e.stack } : {}), heapBytes: wasmHeapBytes() };
};

/**
 * Starts a replica from its `init`: backend, model rebuilt from JSON, checks. Sends `{ type: 'ready' }` and
 * resolves to the handler of the step's later messages (a failure is sent as `{ type: 'error' }`).
 */
export async function startReplica(init: WorkerInit, send: ReplicaSend, options: ReplicaOptions = {}): Promise<(msg: ToWorker) => void> {
  const checkShard = (what: string, values: Float32Array | undefined, shape: readonly number[] | undefined): void => {
    if (!values || !shape) throw new Error(`replica ${init.replica}: the shard has no ${what}.`);
    if (values.length !== sizeOf(shape)) {
      throw new Error(`replica ${init.replica}: the shard's ${what} hold ${values.length} values but their shape [${shape.join(', ')}] needs ${sizeOf(shape)}.`);
    }
  };
  const precision = init.precision;
  await (options.startBackend
    ? options.startBackend(init.backend, precision)
    : initBackend(init.backend, { log: () => {}, ...(precision ? { precision } : {}) }));
  const rebuild = () => tfl.models.modelFromJSON(JSON.parse(init.modelJson) as Parameters<typeof tfl.models.modelFromJSON>[0]);
  const model = init.fusedBatchNorm ? await withFusedBatchNormalization(rebuild) : await rebuild();
  const weights = model.weights.map((w) => w.read() as tf.Variable);
  if (weights.length !== init.weightShapes.length || weights.some((w, i) => w.shape.join() !== init.weightShapes[i]!.join())) {
    throw new Error(
      `replica ${init.replica}: the rebuilt model's weights (${weights.length}) do not match the main model's (${init.weightShapes.length}); ` +
        'data-parallel training needs a model tf.models.modelFromJSON can rebuild (built-in tfjs-layers layers only).',
    );
  }
  const trainable = init.trainable.map((i) => weights[i]!);
  const trainableNames = new Set(model.trainableWeights.map((w) => (w.read() as tf.Variable).name));
  if (trainable.some((v) => !trainableNames.has(v.name)) || trainableNames.size !== trainable.length) {
    throw new Error(`replica ${init.replica}: the rebuilt model's trainable weights differ from the main model's.`);
  }
  const wl = layout(init.weightShapes);
  const gl = layout(trainable.map((v) => v.shape));
  const weightView = new Float32Array(init.weights);
  const gradView = new Float32Array(init.grads);
  const copyOut = init.backend !== 'wasm'; // the cpu backend keeps the array it is given: copy out of shared memory
  const loss = createStepLoss(init.loss);

  const loadWeights = (): void => {
    tf.tidy(() => {
      weights.forEach((v, i) => {
        const view = weightView.subarray(wl.offsets[i]!, wl.offsets[i]! + wl.sizes[i]!);
        v.assign(tf.tensor(copyOut ? view.slice() : view, v.shape, 'float32'));
      });
    });
  };

  const step = (msg: Extract<ToWorker, { type: 'step' }>): number => {
    if (msg.loadWeights) loadWeights();
    checkShard('images', msg.images, msg.imagesShape);
    checkShard('labels', msg.labels, msg.labelsShape);
    if (msg.teacher) checkShard('teacher logits', msg.teacher, msg.teacherShape);
    return tf.tidy(() => {
      const images = tf.tensor(msg.images, msg.imagesShape as number[], 'float32');
      const labels = tf.tensor(msg.labels, msg.labelsShape as number[], 'float32');
      const teacher = msg.teacher ? tf.tensor(msg.teacher, msg.teacherShape as number[], 'float32') : undefined;
      // The same gradient call as the single-process step (Optimizer.computeGradients is tf.variableGrads),
      // on the loss times shard size / batch size: the gradients come out weighted, with no extra pass.
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.apply(images, { training: true }) as tf.Tensor;
        return tf.mul(loss(labels, logits, teacher), msg.scale);
      }, trainable);
      trainable.forEach((v, k) => copyTensorInto(grads[v.name]!, gradView, gl.offsets[k]!));
      return value.dataSync()[0]!;
    });
  };

  const handle = (msg: ToWorker): void => {
    try {
      if (msg.type === 'step') {
        send({ type: 'done', id: msg.id, loss: step(msg) });
      } else if (msg.type === 'sync') {
        loadWeights();
        send({ type: 'synced', id: msg.id });
      } else if (msg.type === 'read') {
        const values = weights.map((v) => Float32Array.from(v.dataSync() as Float32Array));
        send({ type: 'weights', id: msg.id, values }, values.map((v) => v.buffer as ArrayBuffer));
      }
    } catch (err) {
      send(errorReply(msg.id, err));
    }
  };
  send({ type: 'ready', precision: nativePrecision() });
  return handle;
}

/** A failure while starting, sent as the replica's error (the step names the worker and rejects). */
export function replicaStartFailed(send: ReplicaSend, err: unknown): void {
  send(errorReply(null, err));
}

/** The subset of a Web Worker's global scope `serveReplica` uses. */
export interface WorkerScopeLike {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/**
 * Makes this Web Worker a data-parallel replica for `webWorkerTransport`: its first message is the
 * `init`, the rest are the step's. Call it from the worker script, after anything the backend needs
 * first (e.g. `setWasmPaths` for tfjs-backend-wasm's files):
 * `import { serveReplica } from '@bag-of-tricks/trainer/core'; serveReplica();`
 */
export function serveReplica(options: ReplicaOptions = {}, scope: WorkerScopeLike = globalThis as unknown as WorkerScopeLike): void {
  const send: ReplicaSend = (msg, transfer = []) => scope.postMessage(msg, transfer);
  let handler: ((msg: ToWorker) => void) | null = null;
  const queued: ToWorker[] = [];
  scope.onmessage = (event) => {
    const data = event.data as ToWorker | ReplicaInitMessage;
    if (data.type === 'init') {
      startReplica(data.init, send, options).then(
        (h) => {
          handler = h;
          for (const m of queued.splice(0)) h(m);
        },
        (err: unknown) => replicaStartFailed(send, err),
      );
    } else if (handler) {
      handler(data);
    } else {
      queued.push(data);
    }
  };
}
