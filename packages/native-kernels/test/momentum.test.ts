import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeak } from '@bag-of-tricks/test-utils';
import { applyMomentumNative, getNativeThreads, nativeKernelStats, setNativeThreads } from '../src/index';
import { setupBackends, values } from './helpers';

beforeAll(setupBackends);

// Sizes: a conv kernel, a BN vector, one element, and 40007 (three 16384-element blocks, an odd tail for the 8-wide loop).
const SHAPES: number[][] = [[3, 3, 5, 7], [17], [1], [40007]];
const DECAYED = new Set([0, 3]); // conv-like kernels decay; the vector and the scalar do not (no-bias-decay)
let uid = 0;

/** Variables made from tensors that stay alive (sharing their memory until the first update: those must keep their values). */
function makeVars(prefix: string): { vars: tf.Variable[]; inits: tf.Tensor[] } {
  const inits = SHAPES.map((shape, k) => tf.tensor(values(shape.reduce((a, b) => a * b, 1), 100 + k), shape));
  return { vars: inits.map((t, k) => tf.variable(t, true, `${prefix}${uid}_${k}`)), inits };
}

/** Gradients of step `s` keyed by the variables' names (the same values for both sets). */
function gradsFor(vars: tf.Variable[], s: number): tf.NamedTensorMap {
  return Object.fromEntries(vars.map((v, k) => [v.name, tf.tensor(values(v.size, 1000 * s + k), v.shape)]));
}

/** The trainer's current path: g + wd·w on the decay group (addWeightDecay), then tfjs's applyGradients. */
function tfjsStep(opt: tf.Optimizer, vars: tf.Variable[], s: number, wd: number): void {
  tf.tidy(() => {
    const grads = gradsFor(vars, s);
    if (wd !== 0) vars.forEach((v, k) => DECAYED.has(k) && (grads[v.name] = tf.add(grads[v.name]!, tf.mul(v, wd))));
    opt.applyGradients(grads);
  });
}

function nativeStep(opt: tf.Optimizer, vars: tf.Variable[], s: number, wd: number): void {
  tf.tidy(() => {
    const why = applyMomentumNative(opt, gradsFor(vars, s), { decayVariables: vars.filter((_, k) => DECAYED.has(k)), weightDecay: wd });
    expect(why).toBeNull();
  });
}

/** fn() inside a tf.tidy, returning its non-tensor result. */
function inTidy<T>(fn: () => T): T {
  let out!: T;
  tf.tidy(() => {
    out = fn();
  });
  return out;
}

const bits = (t: tf.Tensor) => new Uint32Array(Float32Array.from(t.dataSync()).buffer);

async function run(nesterov: boolean, wd: number, native: boolean, threads = getNativeThreads()) {
  uid++;
  const { vars, inits } = makeVars(native ? 'n' : 't');
  const opt = tf.train.momentum(0.1, 0.9, nesterov);
  const before = getNativeThreads();
  setNativeThreads(threads);
  try {
    for (let s = 0; s < 4; s++) {
      (opt as unknown as { setLearningRate(lr: number): void }).setLearningRate([0.1, 0.37, 0.05, 1e-3][s]!); // the schedule moves -lr
      (native ? nativeStep : tfjsStep)(opt, vars, s, wd);
    }
  } finally {
    setNativeThreads(before);
  }
  const weights = await opt.getWeights();
  const out = {
    w: vars.map(bits),
    acc: weights.slice(1).map((w) => bits(w.tensor)),
    accNames: weights.slice(1).map((w) => w.name.replace(/^[nt]\d+_/, '')),
    iterations: opt.iterations,
  };
  SHAPES.forEach((shape, k) => expect(inits[k]!.dataSync(), `initial tensor ${k}`).toEqual(values(inits[k]!.size, 100 + k)));
  opt.dispose();
  tf.dispose([...vars, ...inits]);
  return out;
}

describe('applyMomentumNative', () => {
  for (const nesterov of [true, false])
    for (const wd of [5e-4, 0])
      it(`is bitwise equal to tfjs's decay + momentum ops (${nesterov ? 'Nesterov' : 'plain'} momentum, weight decay ${wd}), 4 steps, for 1, 2 and 3 threads`, async () => {
        const ref = await run(nesterov, wd, false);
        expect(ref.iterations).toBe(4);
        for (const threads of [1, 2, 3]) {
          const got = await run(nesterov, wd, true, threads);
          expect(got.iterations).toBe(4);
          expect(got.accNames).toEqual(ref.accNames);
          for (let k = 0; k < SHAPES.length; k++) {
            expect(got.w[k], `variable ${k}, ${threads} threads`).toEqual(ref.w[k]);
            expect(got.acc[k], `accumulator ${k}, ${threads} threads`).toEqual(ref.acc[k]);
          }
          // The update did move every variable (equal-but-unchanged would also pass the comparison above).
          const init = values(40007, 103);
          expect(new Float32Array(got.w[3]!.buffer).some((x, i) => x !== init[i])).toBe(true);
        }
      });

  it('keeps the tensor count flat (accumulators are created once, on the first step)', async () => {
    uid++;
    const { vars, inits } = makeVars('leak');
    const opt = tf.train.momentum(0.05, 0.9, true);
    let s = 0;
    await expectNoLeak(() => nativeStep(opt, vars, s++, 1e-4), 3);
    opt.dispose();
    tf.dispose([...vars, ...inits]);
  });

  it("a later op sees the new weights: tfjs-backend-wasm's XNNPACK depthwise conv caches its packed filter by tensor id", () => {
    const x = tf.tensor4d(values(2 * 5 * 5 * 3, 7), [2, 5, 5, 3]);
    const w = tf.variable(tf.tensor4d(values(3 * 3 * 3, 8), [3, 3, 3, 1]), true, `dw${++uid}`);
    const opt = tf.train.momentum(0.5, 0.9, true);
    const y0 = tf.depthwiseConv2d(x, w, 1, 'same'); // builds and caches the operator with w's packed values
    expect(inTidy(() => applyMomentumNative(opt, { [w.name]: tf.onesLike(w) }))).toBeNull();
    const fresh = tf.tensor4d(w.dataSync(), [3, 3, 3, 1]);
    const y1 = tf.depthwiseConv2d(x, w, 1, 'same');
    expect(y1.dataSync()).toEqual(tf.depthwiseConv2d(x, fresh, 1, 'same').dataSync());
    expect(y1.dataSync()).not.toEqual(y0.dataSync());
    tf.dispose([x, w, y0, y1, fresh]);
    opt.dispose();
  });

  it('declines, changing nothing, for another optimizer', async () => {
    uid++;
    const { vars, inits } = makeVars('no');
    const adam = tf.train.adam(0.1);
    const w0 = bits(vars[0]!);
    expect(inTidy(() => applyMomentumNative(adam, gradsFor(vars, 0)))).toMatch(/not tfjs's Momentum/);
    expect(bits(vars[0]!)).toEqual(w0);
    expect(adam.iterations).toBe(0);
    expect(nativeKernelStats().MomentumUpdate?.fallback).toBeGreaterThan(0);
    adam.dispose();
    tf.dispose([...vars, ...inits]);
  });
});
