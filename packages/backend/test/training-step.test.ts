import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak } from '@bag-of-tricks/test-utils';
import { batchNormTraining, FAST_GRADIENTS, registerFastGradients, unregisterFastGradients } from '../src/index';
import { input, normals, setupBackends, type Backend } from './helpers';

beforeAll(setupBackends);

const shapes = {
  w1: [3, 3, 3, 8], g1: [8], b1: [8],
  w2: [3, 3, 8, 16], g2: [16], b2: [16],
  wd: [1, 1, 8, 16],
  dw: [3, 3, 16, 1],
  fc: [16, 5], fcb: [5],
} as const;

type Params = Record<keyof typeof shapes, tf.Variable> & { w1: tf.Tensor4D; w2: tf.Tensor4D; wd: tf.Tensor4D; dw: tf.Tensor4D };
type BatchNorm = 'ours' | 'stock';

function makeParams(): Params {
  const entries = Object.entries(shapes).map(([name, shape], i) => {
    const dims = [...shape] as number[];
    const data = normals(dims.reduce((a, b) => a * b, 1), 100 + i).map((v) => v * 0.3);
    return [name, tf.variable(tf.tensor(data, dims), true, `${name}_${i}`)];
  });
  return Object.fromEntries(entries) as Params;
}

const bn = (kind: BatchNorm, x: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor): tf.Tensor4D => {
  if (kind === 'ours') return batchNormTraining(x, g, b, 1e-5).y as tf.Tensor4D;
  const m = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, m.mean, m.variance, b, g, 1e-5) as tf.Tensor4D;
};

/** A ResNet-shaped net: conv-BN-relu, strided conv with a strided 1x1 shortcut, depthwise, max and avg pool, dense, softmax CE. */
function loss(p: Params, x: tf.Tensor4D, labels: tf.Tensor2D, kind: BatchNorm): tf.Scalar {
  let h: tf.Tensor4D = tf.relu(bn(kind, tf.conv2d(x, p.w1, 1, 'same'), p.g1, p.b1));
  const shortcut = tf.conv2d(h, p.wd, 2, 'same');
  h = tf.relu(tf.add(bn(kind, tf.conv2d(h, p.w2, 2, 'same'), p.g2, p.b2), shortcut)) as tf.Tensor4D;
  h = tf.relu6(tf.depthwiseConv2d(h, p.dw, 1, 'same')) as tf.Tensor4D;
  h = tf.maxPool(h, 3, 2, 'same');
  h = tf.avgPool(h, 2, 1, 'valid');
  const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
  const logits = tf.add(tf.matMul(pooled, p.fc), p.fcb);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

const batch = () => ({
  x: input([4, 12, 12, 3], 200),
  labels: Array.from({ length: 4 }, (_, i) => (i * 3) % 5),
});

async function gradients(backend: Backend, kind: BatchNorm): Promise<Record<string, Float32Array>> {
  await tf.setBackend(backend);
  const p = makeParams();
  const { x: xa, labels } = batch();
  const x = tf.tensor4d(xa.data, xa.shape as [number, number, number, number]);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 5) as tf.Tensor2D;
  const { grads, value } = tf.variableGrads(() => loss(p, x, y, kind), Object.values(p));
  const out: Record<string, Float32Array> = {};
  for (const [name, g] of Object.entries(grads)) out[name.replace(/_\d+$/, '')] = Float32Array.from(g.dataSync());
  tf.dispose([x, y, value, ...Object.values(grads), ...Object.values(p)]);
  return out;
}

/** Largest |a - b| over the largest |b|, per tensor. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/**
 * The reference: tfjs-core's own gradients of moments + batchNorm on cpu. initBackend registers our
 * FusedBatchNorm/Mean/Sum gradients for every backend, so they are taken out while it runs.
 */
async function stockReference(): Promise<Record<string, Float32Array>> {
  unregisterFastGradients();
  try {
    for (const g of FAST_GRADIENTS) expect(tf.getGradient(g.kernelName)!.gradFunc, g.kernelName).not.toBe(g.gradFunc);
    return await gradients('cpu', 'stock');
  } finally {
    registerFastGradients();
  }
}

describe.each(['ours', 'stock'] as const)('gradient check with %s batch norm', (kind) => {
  it('every gradient on wasm equals the stock gradients on cpu to relative 1e-4', async () => {
    const wasm = await gradients('wasm', kind);
    const cpu = await stockReference();
    expect(Object.keys(wasm).sort()).toEqual(Object.keys(shapes).sort());
    for (const name of Object.keys(shapes)) {
      expect(wasm[name]!.length).toBe(cpu[name]!.length);
      expect(relativeError(wasm[name]!, cpu[name]!), name).toBeLessThan(1e-4);
    }
  });
});

it('a training step on wasm leaks no tensors', async () => {
  await tf.setBackend('wasm');
  const p = makeParams();
  const { x: xa, labels } = batch();
  const x = tf.tensor4d(xa.data, xa.shape as [number, number, number, number]);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 5) as tf.Tensor2D;
  const optimizer = tf.train.momentum(0.01, 0.9, true);
  await expectNoLeak(() => optimizer.minimize(() => loss(p, x, y, 'ours'), true, Object.values(p)), 5);
  optimizer.dispose();
  tf.dispose([x, y, ...Object.values(p)]);
});
