import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Batch } from '@bag-of-tricks/core';
import { nativePrecision } from '@bag-of-tricks/backend';
import { isFusedBatchNormalization } from '@bag-of-tricks/resnet-variants';
import { createStepLoss, type StepLossConfig } from './step-loss';
import { applyGradientsWithDecay, createTrainStep } from './train-step';
import { copyTensorInto, layout, type FromWorker, type ReplicaInitMessage, type ToWorker, type WorkerInit } from './dp-protocol';

/** What a replica tells the step: its replies, and that it failed (crashed, exited, sent something unreadable). */
export interface ReplicaListener {
  message(msg: FromWorker): void;
  failed(cause: string, stack?: string): void;
}

/** One started replica, as the step sees it. */
export interface ReplicaHandle {
  /** Posts `msg`, moving (not copying) the `transfer` buffers. */
  postMessage(msg: ToWorker, transfer: ArrayBuffer[]): void;
  terminate(): Promise<void>;
}

/**
 * How the data-parallel step starts and talks to its replicas; the step itself (sharding, shared weights and
 * gradients, the update) is the same over every transport. `workerThreadsTransport()` (the package root, Node)
 * runs replicas on worker_threads; {@link webWorkerTransport} on Web Workers in a browser. A transport may also
 * wrap another one (a test's transport that corrupts a message checks how a replica's failure surfaces).
 */
export interface DataParallelTransport {
  /** What the replicas are, for the start-up log: `worker_threads`, `Web Workers`. */
  readonly kind: string;
  /** Starts replica `init.replica`; it answers `{ type: 'ready' }` once its backend and model are up. */
  spawn(init: WorkerInit, listener: ReplicaListener): ReplicaHandle;
  /** Called before the replicas start; returns what to undo once they are terminated (Node shares its native thread pool). */
  prepare?(replicas: number, backend: 'wasm' | 'cpu', log: (message: string) => void): Promise<() => void>;
}

export interface DataParallelStepOptions {
  /** Replica 0, on this thread: its weights, BN moving statistics and optimiser are the authoritative ones. */
  model: LayersModel;
  optimizer: tf.Optimizer;
  /** Replicas in all, this thread included: `workers - 1` replicas are started (1 = none, today's step). */
  workers: number;
  /** The loss, as data (every replica rebuilds it with `createStepLoss`); default: soft-target cross-entropy. */
  loss?: StepLossConfig;
  /** Variables of `model` that get `weightDecay · w` added to their (averaged) gradient. */
  decayVariables?: readonly tf.Variable[];
  weightDecay?: number;
  /** Fail if the replicas have not started (backend up, model rebuilt) within this many ms (default 120000). */
  startTimeoutMs?: number;
  /** Where start-up progress goes (default: nowhere). */
  log?: (message: string) => void;
  /**
   * How replicas are started. The package root's `createDataParallelStep` defaults to worker_threads;
   * `@bag-of-tricks/trainer/core` has no default (pass `webWorkerTransport(...)` in a browser).
   */
  transport?: DataParallelTransport;
}

/** A training step spread over replicas; see {@link createDataParallelStep}. */
export interface DataParallelStep {
  /** Replicas (this thread and the workers). */
  readonly workers: number;
  /**
   * One optimiser step on `batch` (teacher logits under distillation, one row per image): shards the
   * batch, every replica computes its shard's gradients, their size-weighted sum (= the batch-mean
   * gradient) gets weight decay and updates `model` here. Resolves to the batch-mean loss. The caller
   * keeps ownership of the batch tensors (it may dispose them once the promise settles).
   */
  step(batch: Batch, teacherLogits?: tf.Tensor): Promise<number>;
  /** Copies `model`'s current weights (and BN moving statistics) to every worker now. `step` does it by itself first. */
  syncWeights(): Promise<void>;
  /** The weights replica `replica` holds now, in `model.weights` order (0 = this thread's model). */
  replicaWeights(replica: number): Promise<Float32Array[]>;
  /** Terminates the workers (idempotent). The model and optimiser stay usable single-process. */
  dispose(): Promise<void>;
}

/**
 * The error a replica's failure rejects the step with: the replica, what it said, and its wasm heap then (null on
 * other backends or when it crashed), so the trainer can word an out-of-memory like one on this thread.
 */
export interface ReplicaFailure extends Error {
  readonly replica: number;
  readonly replicaMessage: string;
  readonly replicaHeapBytes: number | null;
  readonly workerStack?: string;
}

/** Contiguous shards of a batch of `batch` rows over `replicas`, sizes differing by at most one: [start, end) each. */
export function shardBounds(batch: number, replicas: number): [number, number][] {
  const base = Math.floor(batch / replicas);
  const extra = batch % replicas;
  const out: [number, number][] = [];
  let start = 0;
  for (let r = 0; r < replicas; r++) {
    const end = start + base + (r < extra ? 1 : 0);
    out.push([start, end]);
    start = end;
  }
  return out;
}

/**
 * The subset of the DOM `Worker` a Web Worker transport uses (so this module needs no DOM types; a DOM
 * `Worker` is one). Events are typed loosely so that the DOM's handler types are assignable.
 */
export interface WebWorkerLike {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): void;
  onmessage: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onmessageerror: ((event: any) => void) | null;
}

interface WorkerErrorEvent {
  message?: string;
  error?: unknown;
  preventDefault?(): void;
}

/**
 * Replicas on Web Workers. `create(replica)` starts a worker whose script calls `serveReplica()` (from
 * `@bag-of-tricks/trainer/core`), after setting up its backend files if needed; with a bundler that is
 * `() => new Worker(new URL('./replica.ts', import.meta.url), { type: 'module' })`. The page must be
 * cross-origin isolated (COOP/COEP headers) for SharedArrayBuffer.
 */
export function webWorkerTransport(create: (replica: number) => WebWorkerLike): DataParallelTransport {
  return {
    kind: 'Web Workers',
    spawn(init, listener) {
      const worker = create(init.replica);
      worker.onmessage = (event: { data: unknown }) => listener.message(event.data as FromWorker);
      worker.onerror = (event: WorkerErrorEvent) => {
        event.preventDefault?.();
        const err = event.error instanceof Error ? event.error : undefined;
        listener.failed(err?.message ?? event.message ?? 'the worker script failed to load or threw', err?.stack);
      };
      worker.onmessageerror = () => listener.failed('a message could not be deserialised');
      const first: ReplicaInitMessage = { type: 'init', init };
      worker.postMessage(first, []);
      return {
        postMessage: (msg, transfer) => worker.postMessage(msg, transfer),
        terminate: async () => worker.terminate(),
      };
    },
  };
}

async function toFloat32(t: tf.Tensor): Promise<Float32Array> {
  const data = await t.data();
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}

interface Pending {
  resolve(msg: FromWorker): void;
  reject(err: Error): void;
}

/**
 * Data-parallel training over replicas (worker_threads in Node, Web Workers in a browser; `train()` uses it
 * for `workers: N`, `parallel: 'data'`). This thread is replica 0; `workers - 1` replicas each start their own
 * single-threaded backend (the current one: wasm or cpu, through `initBackend`) and rebuild `model` from its
 * JSON topology (built-in tfjs-layers layers only), once. Each `step`:
 * 1. copies `model`'s weights and BN moving statistics into a SharedArrayBuffer that every replica loads;
 * 2. splits the batch into `workers` contiguous shards (sizes differ by at most one) and posts shard r to
 *    replica r, then computes shard 0 here;
 * 3. every replica computes the gradients of the trainable weights of its shard's mean loss (the same
 *    loss function) times shard size / batch size (replicas write theirs into a SharedArrayBuffer);
 * 4. the scaled gradients are summed (= the batch-mean gradient), weight decay is added and the
 *    optimiser updates `model`, once, here.
 * BatchNorm normalises over each replica's shard; the moving statistics kept are replica 0's (PyTorch
 * DDP's broadcast_buffers). A replica's error or exit rejects the step naming the worker, and all replicas
 * are terminated. With `workers: 1` it is `createTrainStep` (bitwise the same step), no replica started.
 */
export async function createDataParallelStep(options: DataParallelStepOptions): Promise<DataParallelStep> {
  const { model, optimizer, workers: replicas, loss: lossConfig = {}, decayVariables = [], weightDecay = 0, startTimeoutMs = 120_000, log = () => {}, transport } = options;
  if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`data-parallel: workers must be a positive integer, got ${replicas}.`);
  const loss = createStepLoss(lossConfig);

  if (replicas === 1) {
    const single = createTrainStep({ model, optimizer, loss, decayVariables, weightDecay });
    return {
      workers: 1,
      step: async (batch, teacherLogits) => {
        const value = single(batch, teacherLogits);
        try {
          return (await value.data())[0] as number;
        } finally {
          value.dispose();
        }
      },
      syncWeights: async () => {},
      replicaWeights: async (replica) => {
        if (replica !== 0) throw new Error(`data-parallel: replica ${replica} does not exist (workers: 1 has replica 0 only).`);
        return Promise.all(model.weights.map((w) => toFloat32(w.read())));
      },
      dispose: async () => {},
    };
  }

  if (!transport) {
    throw new Error(
      'data-parallel: no transport to start replicas with: in Node use createDataParallelStep from @bag-of-tricks/trainer (worker_threads), ' +
        'in a browser pass transport: webWorkerTransport(() => new Worker(...)) from @bag-of-tricks/trainer/core.',
    );
  }
  if (typeof SharedArrayBuffer === 'undefined') {
    throw new Error(
      'data-parallel: replicas share weights and gradients through SharedArrayBuffer, which is not available here ' +
        '(a browser page needs cross-origin isolation: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp); use workers: 1.',
    );
  }
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new Error(
      `data-parallel: replicas run on the wasm or cpu backend, but the current backend is '${backend}' ` +
        "(tfjs-node already uses every core, a GPU backend has its own parallelism): use workers: 1, or backend 'wasm'.",
    );
  }
  const weights = model.weights.map((w) => w.read() as tf.Variable);
  const bad = weights.find((w) => w.dtype !== 'float32');
  if (bad) throw new Error(`data-parallel: weight ${bad.name} is ${bad.dtype}; only float32 weights can be shared.`);
  const trainableVars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const index = new Map(weights.map((w, i) => [w.id, i]));
  const trainable = trainableVars.map((v) => index.get(v.id)!);
  const wl = layout(weights.map((w) => w.shape));
  const gl = layout(trainableVars.map((v) => v.shape));
  const weightBuffer = new SharedArrayBuffer(4 * wl.total);
  const weightView = new Float32Array(weightBuffer);
  const gradBuffers = Array.from({ length: replicas - 1 }, () => new SharedArrayBuffer(4 * gl.total));
  const gradViews = gradBuffers.map((b) => new Float32Array(b));
  const modelJson = JSON.stringify(model.toJSON(null, false));
  // Each replica starts its convolutions at this thread's precision and says what it got (checked below).
  const precision = nativePrecision();

  let failure: Error | null = null;
  let disposed = false;
  let nextId = 1;
  const pending: Map<number, Pending>[] = Array.from({ length: replicas }, () => new Map());
  const handles: ReplicaHandle[] = [];

  const restore = transport.prepare ? await transport.prepare(replicas, backend, log) : () => {};
  const terminateAll = async (): Promise<void> => {
    if (!disposed) restore();
    disposed = true;
    await Promise.all(handles.map((w) => w.terminate().catch(() => 0)));
  };
  const fail = (replica: number, cause: string, stack?: string, heapBytes?: number | null): void => {
    if (failure || disposed) return;
    const replicaFailure: ReplicaFailure = Object.assign(new Error(`data-parallel worker ${replica} (of ${replicas - 1}) failed: ${cause}`), {
      replica,
      replicaMessage: cause,
      replicaHeapBytes: heapBytes ?? null,
      ...(stack ? { workerStack: stack } : {}),
    });
    failure = replicaFailure;
    for (const map of pending) {
      for (const p of map.values()) p.reject(failure);
      map.clear();
    }
    void terminateAll();
  };
  const usable = (): void => {
    if (failure) throw failure;
    if (disposed) throw new Error('data-parallel: this step was disposed (its workers are terminated).');
  };
  const request = (replica: number, msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> =>
    new Promise<FromWorker>((resolve, reject) => {
      if (failure) return reject(failure);
      pending[replica]!.set(msg.id, { resolve, reject });
      handles[replica - 1]!.postMessage(msg, transfer);
    });

  const ready: Promise<void>[] = [];
  for (let r = 1; r < replicas; r++) {
    const init: WorkerInit = {
      replica: r,
      modelJson,
      backend,
      precision,
      fusedBatchNorm: model.layers.some(isFusedBatchNormalization),
      loss: lossConfig,
      weightShapes: weights.map((w) => [...w.shape]),
      trainable,
      weights: weightBuffer,
      grads: gradBuffers[r - 1]!,
    };
    ready.push(
      new Promise<void>((resolve, reject) => {
        pending[r]!.set(0, { resolve: () => resolve(), reject });
      }),
    );
    try {
      handles.push(
        transport.spawn(init, {
          message: (msg) => {
            if (msg.type === 'error') return fail(r, msg.message, msg.stack, msg.heapBytes);
            if (msg.type === 'ready' && (msg.precision ?? 'float32') !== precision) {
              return fail(
                r,
                `its convolutions run at precision '${msg.precision ?? 'float32'}', this thread's at '${precision}': ` +
                  'the replicas would compute different steps (every replica must load the same native kernels; see initBackend\'s precision).',
              );
            }
            const id = msg.type === 'ready' ? 0 : msg.id;
            const p = pending[r]!.get(id);
            pending[r]!.delete(id);
            p?.resolve(msg);
          },
          failed: (cause, stack) => fail(r, cause, stack),
        }),
      );
    } catch (err) {
      await terminateAll();
      throw err;
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`data-parallel: the workers did not start within ${startTimeoutMs} ms (backend start-up and model rebuild).`)), startTimeoutMs);
  });
  try {
    await Promise.race([Promise.all(ready), timeout]);
  } catch (err) {
    await terminateAll();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  log(`[trainer] data parallel: ${replicas} replicas (this thread + ${replicas - 1} ${transport.kind}), each single-threaded ${backend}, precision ${precision} (as each replica reports)`);

  const writeWeights = (): void => {
    weights.forEach((w, i) => copyTensorInto(w, weightView, wl.offsets[i]!));
  };
  const rowsOf = (t: tf.Tensor): number => t.size / t.shape[0]!;

  const step = async (batch: Batch, teacherLogits?: tf.Tensor): Promise<number> => {
    usable();
    const size = batch.images.shape[0]!;
    if (size < replicas) {
      throw new Error(`data-parallel: a batch of ${size} images cannot be split over ${replicas} replicas; use a batch of at least ${replicas} or fewer workers.`);
    }
    if (batch.labels.shape[0] !== size || (teacherLogits && teacherLogits.shape[0] !== size)) {
      throw new Error(`data-parallel: images, labels and teacher logits must have one row per image (${size}).`);
    }
    const bounds = shardBounds(size, replicas);
    writeWeights();
    const [images, labels, teacher] = await Promise.all([toFloat32(batch.images), toFloat32(batch.labels), teacherLogits ? toFloat32(teacherLogits) : undefined]);
    const rows = { images: rowsOf(batch.images), labels: rowsOf(batch.labels), teacher: teacherLogits ? rowsOf(teacherLogits) : 0 };
    const replies: Promise<FromWorker>[] = [];
    for (let r = 1; r < replicas; r++) {
      const [a, b] = bounds[r]!;
      const shardImages = images.slice(a * rows.images, b * rows.images);
      const shardLabels = labels.slice(a * rows.labels, b * rows.labels);
      const shardTeacher = teacher?.slice(a * rows.teacher, b * rows.teacher);
      const msg: ToWorker = {
        type: 'step',
        id: nextId++,
        loadWeights: true,
        images: shardImages,
        imagesShape: [b - a, ...batch.images.shape.slice(1)],
        labels: shardLabels,
        labelsShape: [b - a, ...batch.labels.shape.slice(1)],
        ...(shardTeacher && teacherLogits ? { teacher: shardTeacher, teacherShape: [b - a, ...teacherLogits.shape.slice(1)] } : {}),
        scale: (b - a) / size,
      };
      const transfer = [shardImages.buffer, shardLabels.buffer, ...(shardTeacher ? [shardTeacher.buffer] : [])] as ArrayBuffer[];
      const reply = request(r, msg, transfer);
      reply.catch(() => {}); // observed below; this keeps an early rejection from being reported as unhandled
      replies.push(reply);
    }

    // Replica 0: shard 0 on this thread, while the workers run theirs.
    const [a0, b0] = bounds[0]!;
    const scale0 = (b0 - a0) / size;
    const own = tf.tidy(() => {
      const x = tf.slice(batch.images, a0, b0 - a0);
      const y = tf.slice(batch.labels, a0, b0 - a0);
      const t = teacherLogits ? tf.slice(teacherLogits, a0, b0 - a0) : undefined;
      const { value, grads } = optimizer.computeGradients(() => tf.mul(loss(y, model.apply(x, { training: true }) as tf.Tensor, t), scale0), trainableVars);
      return { value, grads: trainableVars.map((v) => grads[v.name]!) };
    });
    let results: FromWorker[];
    let ownLoss: number;
    try {
      ownLoss = (await own.value.data())[0] as number;
      results = await Promise.all(replies);
      usable();
    } catch (err) {
      tf.dispose(own);
      throw err;
    }
    tf.tidy(() => {
      const summed: tf.NamedTensorMap = {};
      trainableVars.forEach((v, k) => {
        let g = own.grads[k]!;
        for (const view of gradViews) {
          g = tf.add(g, tf.tensor(view.subarray(gl.offsets[k]!, gl.offsets[k]! + gl.sizes[k]!), v.shape, 'float32'));
        }
        summed[v.name] = g;
      });
      applyGradientsWithDecay(optimizer, summed, decayVariables, weightDecay);
    });
    tf.dispose(own);
    // Each replica's loss is already weighted by its shard's share of the batch.
    let total = ownLoss;
    for (const m of results) total += (m as Extract<FromWorker, { type: 'done' }>).loss;
    return total;
  };

  return {
    workers: replicas,
    step,
    syncWeights: async () => {
      usable();
      writeWeights();
      await Promise.all(handles.map((_, i) => request(i + 1, { type: 'sync', id: nextId++ })));
    },
    replicaWeights: async (replica) => {
      usable();
      if (!Number.isInteger(replica) || replica < 0 || replica >= replicas) {
        throw new Error(`data-parallel: replica ${replica} does not exist (0 … ${replicas - 1}).`);
      }
      if (replica === 0) return Promise.all(weights.map((w) => toFloat32(w)));
      const reply = await request(replica, { type: 'read', id: nextId++ });
      return (reply as Extract<FromWorker, { type: 'weights' }>).values;
    },
    dispose: async () => {
      if (disposed) return;
      await terminateAll();
    },
  };
}
