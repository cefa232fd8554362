// The addon is loaded once per process but called from every JS thread that registers it
// (worker_threads, e.g. the trainer's data-parallel replicas): concurrent calls must not share
// the pool's state; a caller that finds the pool busy runs its tasks itself, with the same result.
import * as tf from '@tensorflow/tfjs-core';
import { Worker } from 'node:worker_threads';
import { beforeAll, expect, it } from 'vitest';
import { input, setupBackends } from './helpers';

beforeAll(setupBackends);

it('two worker_threads running native convs at once get bitwise the single-thread result', async () => {
  const xs = input([4, 16, 16, 24], 1);
  const fs = input([3, 3, 24, 40], 2);
  await tf.setBackend('wasm');
  const reference = tf.tidy(() => {
    const [gx, gf] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([
      tf.tensor(xs.data, xs.shape),
      tf.tensor(fs.data, fs.shape),
    ]);
    return Float32Array.from(tf.concat([tf.reshape(gx!, [-1]), tf.reshape(gf!, [-1])]).dataSync());
  });
  const run = () =>
    new Promise<{ data: Float32Array; stats: Record<string, { native: number; fallback: number }> }>((resolve, reject) => {
      const w = new Worker(new URL('./fixtures/conv-worker.mjs', import.meta.url), {
        workerData: { x: xs.data, xShape: xs.shape, f: fs.data, fShape: fs.shape, repeat: 20 },
      });
      w.once('message', (m) => {
        void w.terminate();
        resolve(m);
      });
      w.once('error', reject);
    });
  const results = await Promise.all([run(), run()]);
  for (const r of results) {
    expect(r.stats['Conv2DBackpropFilter']?.native).toBe(20);
    expect(r.stats['Conv2DBackpropInput']?.native).toBe(20);
    expect(Buffer.from(r.data.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
  }
}, 30_000); // a pool shared unguarded between threads deadlocks or corrupts: fail fast
