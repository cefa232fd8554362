import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAINING, RELU_GRAD, fusedBatchNormTraining, hasFusedBatchNormTraining, hasFusedReluGrad } from '@bag-of-tricks/core';
import { batchNormTraining, registerFastGradients } from '@bag-of-tricks/backend';
import { expectNoLeak } from '@bag-of-tricks/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getNativeThreads, nativeKernelStats, registerNativeKernels, setNativeThreads, unregisterNativeKernels } from '../src/index';
import { setupBackends, values } from './helpers';

beforeAll(setupBackends);

// x viewed as [m, C]. Shapes: a tail block (m not a multiple of the rows per block), one channel, one row (variance 0),
// C above the 16384-element block (one row per block), ResNet-20's 16-channel layer.
const SHAPES: number[][] = [[7, 5, 3], [4099, 1], [1, 6], [5, 2049], [3, 19, 23, 16], [2, 8, 8, 64]];
const EPS = 1e-5;
const U = 2 ** -24; // float32's unit roundoff (24-bit significand)

interface Case {
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  dy: Float32Array;
  m: number;
  c: number;
}

function makeCase(shape: number[], seed: number): Case {
  const c = shape[shape.length - 1]!;
  const size = shape.reduce((a, b) => a * b, 1);
  // An offset per channel (up to 3) so the mean is not ~0, as after a ReLU.
  const x = values(size, seed).map((v, i) => 2 * v + ((i % c) % 4) * 0.75);
  const gamma = values(c, seed + 1).map((v) => v + 0.5);
  return { x, gamma, beta: values(c, seed + 2), dy: values(size, seed + 3), m: size / c, c };
}

/** The contract of core's BATCH_NORM_TRAINING in float64, straight from its formulas. */
function reference({ x, gamma, beta, dy, m, c }: Case) {
  const mean = new Float64Array(c), variance = new Float64Array(c), invStd = new Float64Array(c);
  for (let r = 0; r < m; r++) for (let k = 0; k < c; k++) mean[k]! += x[r * c + k]! / m;
  for (let r = 0; r < m; r++) for (let k = 0; k < c; k++) variance[k]! += (x[r * c + k]! - mean[k]!) ** 2 / m;
  for (let k = 0; k < c; k++) invStd[k] = 1 / Math.sqrt(variance[k]! + EPS);
  const y = new Float64Array(m * c), dx = new Float64Array(m * c);
  const dbeta = new Float64Array(c), dgamma = new Float64Array(c);
  for (let r = 0; r < m; r++)
    for (let k = 0; k < c; k++) {
      const i = r * c + k, xhat = (x[i]! - mean[k]!) * invStd[k]!;
      y[i] = xhat * gamma[k]! + beta[k]!;
      dbeta[k]! += dy[i]!;
      dgamma[k]! += dy[i]! * xhat;
    }
  for (let r = 0; r < m; r++)
    for (let k = 0; k < c; k++) {
      const i = r * c + k, xhat = (x[i]! - mean[k]!) * invStd[k]!;
      dx[i] = gamma[k]! * invStd[k]! * (dy[i]! - dbeta[k]! / m - (xhat * dgamma[k]!) / m);
    }
  return { y, mean, variance, invStd, dx, dgamma, dbeta };
}

function runKernels(cs: Case, shape: number[]) {
  return tf.tidy(() => {
    const x = tf.tensor(cs.x, shape), gamma = tf.tensor(cs.gamma), beta = tf.tensor(cs.beta);
    const fwd = tf.engine().runKernel(BATCH_NORM_TRAINING.forward, { x, gamma, beta }, { epsilon: EPS }) as tf.Tensor[];
    const [, mean, , invStd] = fwd;
    const bwd = tf.engine().runKernel(BATCH_NORM_TRAINING.backward, { dy: tf.tensor(cs.dy, shape), x, mean: mean!, invStd: invStd!, gamma }) as tf.Tensor[];
    return [...fwd, ...bwd].map((t) => Float32Array.from(t.dataSync()));
  });
}

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer));

describe('fused training BatchNorm kernels (core BATCH_NORM_TRAINING) on the native path', () => {
  it('are registered on wasm by registerNativeKernels, and taken off by unregisterNativeKernels', () => {
    expect(hasFusedBatchNormTraining('wasm')).toBe(true);
    expect(hasFusedBatchNormTraining('cpu')).toBe(false);
    unregisterNativeKernels();
    expect(hasFusedBatchNormTraining('wasm')).toBe(false);
    registerNativeKernels({ fused: false });
    expect(hasFusedBatchNormTraining('wasm')).toBe(false);
    registerNativeKernels();
    expect(hasFusedBatchNormTraining('wasm')).toBe(true);
  });

  // Error bounds from float32's unit roundoff u = 2^-24: the kernels sum in float64 (error far below u) and round
  // each per-channel result once (u relative). Each output element is a few float32 operations on float32 inputs
  // (y: x - mean, times gamma*invStd, plus beta; dx: k*dy - shift - (x - mean)*slope), each rounding at most u of
  // its operands' magnitudes, and the per-channel coefficients are rounded once: 8u of the sum of the magnitudes of
  // the terms bounds each element with room to spare, and is far below any error a wrong formula would make.
  it.each(SHAPES.map((s, i) => [s.join('x'), s, i] as const))('match the float64 formulas within float32 rounding: %s', (_, shape, i) => {
    const cs = makeCase(shape, 10 + i);
    const ref = reference(cs);
    const [y, mean, variance, invStd, dx, dgamma, dbeta] = runKernels(cs, shape);
    const { m, c } = cs;
    for (let k = 0; k < c; k++) {
      let absDy = 0, absDyXhat = 0, absX = 0;
      for (let r = 0; r < m; r++) {
        const j = r * c + k;
        absDy += Math.abs(cs.dy[j]!);
        absDyXhat += Math.abs(cs.dy[j]! * (cs.x[j]! - ref.mean[k]!) * ref.invStd[k]!);
        absX += Math.abs(cs.x[j]!);
      }
      expect(Math.abs(mean![k]! - ref.mean[k]!)).toBeLessThanOrEqual(2 * U * (absX / m));
      expect(Math.abs(variance![k]! - ref.variance[k]!)).toBeLessThanOrEqual(2 * U * ref.variance[k]! + 1e-12);
      expect(Math.abs(invStd![k]! - ref.invStd[k]!)).toBeLessThanOrEqual(2 * U * ref.invStd[k]!);
      expect(Math.abs(dbeta![k]! - ref.dbeta[k]!)).toBeLessThanOrEqual(2 * U * absDy);
      // dgamma sums dy * (x - mean) with x - mean rounded to float32 per term: u of each term.
      expect(Math.abs(dgamma![k]! - ref.dgamma[k]!)).toBeLessThanOrEqual(4 * U * (absDyXhat + Math.abs(ref.dbeta[k]!) * Math.abs(ref.mean[k]!) * ref.invStd[k]!));
    }
    for (let r = 0; r < m; r++)
      for (let k = 0; k < c; k++) {
        const j = r * c + k;
        const g = Math.abs(cs.gamma[k]!) * ref.invStd[k]!;
        const xc = Math.abs(cs.x[j]! - ref.mean[k]!) + Math.abs(ref.mean[k]!);
        expect(Math.abs(y![j]! - ref.y[j]!)).toBeLessThanOrEqual(8 * U * (xc * g + Math.abs(cs.beta[k]!)));
        // the three terms of dx = k*dy - k*dbeta/m - (x - mean)*k*invStd*dgamma/m, k = gamma*invStd
        const bound = 8 * U * (g * Math.abs(cs.dy[j]!) + (g * Math.abs(ref.dbeta[k]!)) / m + (xc * g * ref.invStd[k]! * Math.abs(ref.dgamma[k]!)) / m);
        expect(Math.abs(dx![j]! - ref.dx[j]!), `dx[${r}, ${k}]`).toBeLessThanOrEqual(bound);
      }
  });

  it("update the moving averages bitwise as tfjs-layers' ops do from the same batch statistics", () => {
    const shape = [3, 7, 5, 12];
    const cs = makeCase(shape, 21);
    tf.tidy(() => {
      const x = tf.tensor(cs.x, shape), gamma = tf.tensor(cs.gamma), beta = tf.tensor(cs.beta);
      const movingMean = tf.tensor(values(12, 31)), movingVariance = tf.tensor(values(12, 32).map((v) => v + 1.5));
      for (const momentum of [0.9, 0.99, 0.1]) {
        const out = tf.engine().runKernel(BATCH_NORM_TRAINING.forward, { x, gamma, beta, movingMean, movingVariance }, { epsilon: EPS, momentum }) as tf.Tensor[];
        expect(out).toHaveLength(6);
        const plain = tf.engine().runKernel(BATCH_NORM_TRAINING.forward, { x, gamma, beta }, { epsilon: EPS }) as tf.Tensor[];
        expect(plain).toHaveLength(4);
        // tfjs-layers' doMovingAverage: moving - (moving - value) * (1 - momentum)
        const tfjs = (moving: tf.Tensor, value: tf.Tensor) => tf.sub(moving, tf.mul(tf.sub(moving, value), 1 - momentum));
        expect(bitsOf(Float32Array.from(out[4]!.dataSync()))).toEqual(bitsOf(Float32Array.from(tfjs(movingMean, out[1]!).dataSync())));
        expect(bitsOf(Float32Array.from(out[5]!.dataSync()))).toEqual(bitsOf(Float32Array.from(tfjs(movingVariance, out[2]!).dataSync())));
        for (let i = 0; i < 4; i++) expect(bitsOf(Float32Array.from(out[i]!.dataSync()))).toEqual(bitsOf(Float32Array.from(plain[i]!.dataSync())));
      }
    });
  });

  it('give bitwise the same results for 1, 2 and 3 native threads', () => {
    const before = getNativeThreads();
    try {
      for (const shape of [[4099, 16], [70001, 3], [5, 2049]]) {
        const cs = makeCase(shape, 77);
        const out = [1, 2, 3].map((n) => {
          setNativeThreads(n);
          return runKernels(cs, shape).map(bitsOf);
        });
        expect(out[1]).toEqual(out[0]);
        expect(out[2]).toEqual(out[0]);
      }
    } finally {
      setNativeThreads(before);
    }
  });

  it("core's fusedBatchNormTraining has tfjs's own gradient of moments + batchNorm (cpu, autodiff) and leaks nothing", async () => {
    const shape = [4, 6, 5, 8];
    const cs = makeCase(shape, 5);
    const w = tf.tensor(values(cs.x.length, 99), shape); // a fixed weighting makes the loss depend on every output
    const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, w));
    const fused = tf.tidy(() => {
      const g = tf.grads((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => loss(fusedBatchNormTraining(x, gamma, beta, EPS).y));
      return g([tf.tensor(cs.x, shape), tf.tensor(cs.gamma), tf.tensor(cs.beta)]).map((t) => Array.from(t.dataSync()));
    });
    await tf.setBackend('cpu');
    const stock = tf.tidy(() => {
      const g = tf.grads((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return loss(tf.batchNorm(x, mean, variance, beta, gamma, EPS));
      });
      return g([tf.tensor(cs.x, shape), tf.tensor(cs.gamma), tf.tensor(cs.beta)]).map((t) => Array.from(t.dataSync()));
    });
    await tf.setBackend('wasm');
    for (let i = 0; i < 3; i++) {
      const scale = Math.max(...stock[i]!.map(Math.abs));
      stock[i]!.forEach((v, j) => expect(Math.abs(fused[i]![j]! - v)).toBeLessThanOrEqual(1e-5 * scale));
    }
    const x = tf.tensor(cs.x, shape), gamma = tf.variable(tf.tensor(cs.gamma)), beta = tf.variable(tf.tensor(cs.beta));
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const r = fusedBatchNormTraining(x, gamma, beta, EPS);
          return tf.add(loss(r.y), tf.sum(tf.add(r.mean, r.variance))) as tf.Scalar;
        });
        void value;
        void grads;
      });
    step();
    await expectNoLeak(step);
    tf.dispose([x, gamma, beta, w]);
    expect(nativeKernelStats()[BATCH_NORM_TRAINING.backward]?.native).toBeGreaterThan(0);
  });

  it("backend's batchNormTraining runs the fused kernels where they are registered, with its composed path's values and gradients", async () => {
    const shape = [3, 7, 6, 16];
    const cs = makeCase(shape, 11);
    const w = values(cs.x.length, 98);
    const run = () =>
      tf.tidy(() => {
        const weight = tf.tensor(w, shape);
        const f = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
          const r = batchNormTraining(x, gamma, beta, EPS);
          return tf.sum(tf.mul(r.y, weight));
        };
        const inputs = [tf.tensor(cs.x, shape), tf.tensor(cs.gamma), tf.tensor(cs.beta)];
        const { y, mean, variance } = batchNormTraining(inputs[0]!, inputs[1]!, inputs[2]!, EPS);
        return [y, mean, variance, ...tf.grads(f)(inputs)].map((t) => Array.from(t.dataSync()));
      });
    const before = nativeKernelStats()[BATCH_NORM_TRAINING.backward]?.native ?? 0;
    const fused = run();
    expect(nativeKernelStats()[BATCH_NORM_TRAINING.backward]?.native ?? 0).toBe(before + 1);
    await tf.setBackend('cpu'); // no fused kernel there: the composed path (tf.customGrad)
    const composed = run();
    await tf.setBackend('wasm');
    composed.forEach((want, i) => {
      const scale = Math.max(...want.map(Math.abs));
      want.forEach((v, j) => expect(Math.abs(fused[i]![j]! - v), `output ${i}, element ${j}`).toBeLessThanOrEqual(1e-5 * scale));
    });
  });

  it('refuse per-channel inputs of the wrong size, naming them', () => {
    tf.tidy(() => {
      const x = tf.zeros([4, 3]);
      expect(() => tf.engine().runKernel(BATCH_NORM_TRAINING.forward, { x, gamma: tf.ones([2]), beta: tf.zeros([3]) }, { epsilon: EPS })).toThrow(
        /gamma has shape \[2\], not one value per channel \(3\)/,
      );
      expect(() => fusedBatchNormTraining(x, tf.ones([3]), tf.zeros([4]), EPS)).toThrow(/gamma and beta must have 3 elements/);
    });
  });
});

describe("ReLU's gradient as one native kernel (core RELU_GRAD, through backend's Relu gradient)", () => {
  it("is bitwise tfjs's mul(dy, step(x)), NaN, signed zeros and infinities included, and runs natively", () => {
    registerFastGradients();
    expect(hasFusedReluGrad('wasm')).toBe(true);
    const special = [NaN, -0, 0, 1e-38, -1e-38, Infinity, -Infinity, 3, -3];
    const x = Float32Array.from([...special, ...values(40000, 3)]); // three 16384-element blocks
    const dy = Float32Array.from([...special.map((_, i) => (i % 2 ? -2 : Infinity)), ...values(40000, 4)]);
    const viaGrad = () =>
      tf.tidy(() => Float32Array.from(tf.grad((t: tf.Tensor) => tf.relu(t))(tf.tensor(x), tf.tensor(dy)).dataSync()));
    const before = nativeKernelStats()[RELU_GRAD]?.native ?? 0;
    const fused = viaGrad();
    expect(nativeKernelStats()[RELU_GRAD]?.native).toBe(before + 1);
    const stock = tf.tidy(() => Float32Array.from(tf.mul(tf.tensor(dy), tf.cast(tf.step(tf.tensor(x)), 'float32')).dataSync()));
    expect(bitsOf(fused)).toEqual(bitsOf(stock));
    unregisterNativeKernels();
    registerNativeKernels({ fused: false });
    expect(hasFusedReluGrad('wasm')).toBe(false);
    expect(bitsOf(viaGrad())).toEqual(bitsOf(stock)); // the stock gradient, unchanged
    registerNativeKernels();
  });
});

afterAll(() => {
  registerNativeKernels();
});
