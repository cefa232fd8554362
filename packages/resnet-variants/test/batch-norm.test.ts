import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BATCH_NORM_TRAINING, hasFusedBatchNormTraining } from '@bag-of-tricks/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { batchNormalization, createResNet, isFusedBatchNormalization, withFusedBatchNormalization } from '../src/index';

/**
 * The fused kernels written out in plain JS from core's BATCH_NORM_TRAINING contract (float64 sums), registered
 * on 'cpu' for these tests: the layer must give tfjs-layers' own results through them. (The native kernels are
 * tested against the same formulas in native-kernels.)
 */
const calls = { forward: 0, backward: 0 };
type CpuBackend = { readSync(id: object): Float32Array; makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo };
const read = (b: CpuBackend, t: tf.TensorInfo) => b.readSync(t.dataId);

function registerReferenceKernels(): void {
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAINING.forward,
    backendName: 'cpu',
    kernelFunc: ({ inputs, attrs, backend }) => {
      calls.forward++;
      const b = backend as unknown as CpuBackend;
      const { x, gamma, beta, movingMean, movingVariance } = inputs as Record<string, tf.TensorInfo>;
      const { epsilon: eps, momentum } = attrs as { epsilon: number; momentum?: number };
      const xs = read(b, x!), g = read(b, gamma!), be = read(b, beta!);
      const c = x!.shape[x!.shape.length - 1]!, m = xs.length / c;
      const mean = new Float32Array(c), variance = new Float32Array(c), invStd = new Float32Array(c), y = new Float32Array(xs.length);
      for (let k = 0; k < c; k++) {
        let s = 0, q = 0;
        for (let r = 0; r < m; r++) s += xs[r * c + k]!;
        const mu = s / m;
        for (let r = 0; r < m; r++) q += (xs[r * c + k]! - mu) ** 2;
        mean[k] = mu;
        variance[k] = q / m;
        invStd[k] = 1 / Math.sqrt(q / m + eps);
        for (let r = 0; r < m; r++) y[r * c + k] = (xs[r * c + k]! - mu) * invStd[k]! * g[k]! + be[k]!;
      }
      const outs = [mean, variance, invStd];
      if (movingMean) {
        // moving - (moving - batch) * decay, each operation rounded to float32
        const decay = Math.fround(1 - momentum!);
        const update = (moving: Float32Array, batch: Float32Array) =>
          moving.map((v, k) => Math.fround(v - Math.fround(Math.fround(v - batch[k]!) * decay)));
        outs.push(update(read(b, movingMean), mean), update(read(b, movingVariance!), variance));
      }
      return [b.makeTensorInfo(x!.shape, 'float32', y), ...outs.map((v) => b.makeTensorInfo([c], 'float32', v))];
    },
  });
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAINING.backward,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend }) => {
      calls.backward++;
      const b = backend as unknown as CpuBackend;
      const { dy, x, mean, invStd, gamma } = inputs as Record<string, tf.TensorInfo>;
      const d = read(b, dy!), xs = read(b, x!), mu = read(b, mean!), inv = read(b, invStd!), g = read(b, gamma!);
      const c = x!.shape[x!.shape.length - 1]!, m = xs.length / c;
      const dx = new Float32Array(xs.length), dgamma = new Float32Array(c), dbeta = new Float32Array(c);
      for (let k = 0; k < c; k++) {
        let sd = 0, sdx = 0;
        for (let r = 0; r < m; r++) {
          sd += d[r * c + k]!;
          sdx += d[r * c + k]! * (xs[r * c + k]! - mu[k]!) * inv[k]!;
        }
        dbeta[k] = sd;
        dgamma[k] = sdx;
        for (let r = 0; r < m; r++) {
          const xhat = (xs[r * c + k]! - mu[k]!) * inv[k]!;
          dx[r * c + k] = g[k]! * inv[k]! * (d[r * c + k]! - sd / m - (xhat * sdx) / m);
        }
      }
      return [b.makeTensorInfo(x!.shape, 'float32', dx), b.makeTensorInfo([c], 'float32', dgamma), b.makeTensorInfo([c], 'float32', dbeta)];
    },
  });
}

function unregisterReferenceKernels(): void {
  for (const name of Object.values(BATCH_NORM_TRAINING)) if (tf.getKernel(name, 'cpu')) tf.unregisterKernel(name, 'cpu');
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterEach(unregisterReferenceKernels);

const ARGS = { axis: -1, momentum: 0.9, epsilon: 1e-5 } as const;

/** One training step of a layer on x: output, gradients of sum(y * w) for x, gamma and beta, moving statistics after. */
function trainStep(layer: tfl.layers.Layer, x: tf.Tensor, w: tf.Tensor) {
  return tf.tidy(() => {
    const f = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, w)) as tf.Scalar;
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    const [gamma, beta] = layer.trainableWeights.map((v) => v.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => f(x), [gamma!, beta!]);
    const dx = tf.grad(f)(x);
    const out = [y, dx, grads[gamma!.name]!, grads[beta!.name]!, ...layer.getWeights().slice(2)];
    return out.map((t) => Array.from(t.dataSync()));
  });
}

function twoLayers(shape: number[]) {
  const stock = tfl.layers.batchNormalization(ARGS);
  const ours = batchNormalization(ARGS);
  stock.build(shape);
  ours.build(shape);
  const c = shape[shape.length - 1]!;
  const weights = [tf.randomUniform([c], 0.5, 1.5, 'float32', 1), tf.randomNormal([c], 0, 1, 'float32', 2), tf.randomNormal([c], 0, 1, 'float32', 3), tf.randomUniform([c], 0.5, 2, 'float32', 4)];
  stock.setWeights(weights);
  ours.setWeights(weights);
  tf.dispose(weights);
  return { stock, ours };
}

describe("resnet-variants' BatchNormalization", () => {
  const shape = [3, 5, 4, 6];
  const x = () => tf.add(tf.randomNormal(shape, 0, 2, 'float32', 7), 1.5);
  const w = () => tf.randomNormal(shape, 0, 1, 'float32', 8);

  it("trains through the fused kernels where the backend has them, with tfjs-layers' outputs, gradients and moving statistics", () => {
    registerReferenceKernels();
    expect(hasFusedBatchNormTraining()).toBe(true);
    const { stock, ours } = twoLayers(shape);
    const [xt, wt] = [x(), w()];
    calls.forward = calls.backward = 0;
    const a = trainStep(stock, xt, wt);
    expect(calls).toEqual({ forward: 0, backward: 0 });
    const b = trainStep(ours, xt, wt);
    expect(calls.forward).toBeGreaterThan(0);
    expect(calls.backward).toBeGreaterThan(0);
    // y, dx, dgamma, dbeta, moving mean, moving variance (moved three times: one apply and two inside the grads)
    a.forEach((values, i) => {
      const scale = Math.max(...values.map(Math.abs));
      values.forEach((v, j) => expect(Math.abs(b[i]![j]! - v), `output ${i}[${j}]`).toBeLessThanOrEqual(2e-6 * scale));
    });
    tf.dispose([xt, wt]);
  });

  it("is tfjs-layers' own code, bit for bit, where no backend has the kernels, and in inference", () => {
    const { stock, ours } = twoLayers(shape);
    const [xt, wt] = [x(), w()];
    expect(trainStep(ours, xt, wt)).toEqual(trainStep(stock, xt, wt));
    registerReferenceKernels();
    const infer = (l: tfl.layers.Layer) => tf.tidy(() => Array.from((l.apply(xt, { training: false }) as tf.Tensor).dataSync()));
    calls.forward = 0;
    expect(infer(ours)).toEqual(infer(stock));
    expect(calls.forward).toBe(0);
    tf.dispose([xt, wt]);
  });

  it("serialises as tfjs-layers' BatchNormalization, so a saved model loads in stock tfjs", () => {
    const model = createResNet('resnet20', { inputShape: [8, 8, 3], numClasses: 3, width: 0.25 });
    const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    expect(bns.length).toBe(21); // the stem's, two per block (9 blocks), and the two projection shortcuts

    const json = model.toJSON(undefined, false) as unknown as { config: { layers: { class_name: string }[] } };
    expect(json.config.layers.filter((l) => l.class_name === 'BatchNormalization').length).toBe(21);
    const loaded = tfl.models.modelFromJSON(model.toJSON(undefined, false) as never);
    return loaded.then((m) => {
      const stockClass = tfl.layers.batchNormalization({}).constructor;
      const loadedBns = m.layers.filter((l) => l.getClassName() === 'BatchNormalization');
      expect(loadedBns.every((l) => l.constructor === stockClass)).toBe(true);
      expect(bns.every((l) => l.constructor !== stockClass && l instanceof stockClass)).toBe(true);
      m.dispose();
      model.dispose();
    });
  });

  it('withFusedBatchNormalization rebuilds a model with this class (as data-parallel replicas do), then restores tfjs-layers\' own', async () => {
    const model = createResNet('resnet20', { inputShape: [8, 8, 3], numClasses: 3, width: 0.25 });
    const json = model.toJSON(undefined, false) as never;
    const bns = (m: tfl.LayersModel) => m.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    expect(bns(model).every(isFusedBatchNormalization)).toBe(true);
    const rebuilt = await withFusedBatchNormalization(() => tfl.models.modelFromJSON(json));
    expect(bns(rebuilt)).toHaveLength(21);
    expect(bns(rebuilt).every(isFusedBatchNormalization)).toBe(true);
    const plain = await tfl.models.modelFromJSON(json);
    expect(bns(plain).some(isFusedBatchNormalization)).toBe(false);
    await expect(withFusedBatchNormalization(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(bns(await tfl.models.modelFromJSON(json)).some(isFusedBatchNormalization)).toBe(false);
    [model, rebuilt, plain].forEach((m) => m.dispose());
  });
});
