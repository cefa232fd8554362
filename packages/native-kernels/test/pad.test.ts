import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectNoLeak } from '@bag-of-tricks/test-utils';
import { getNativeThreads, nativeKernelStats, resetNativeKernelStats, setNativeThreads } from '../src/index';
import { input, runOn, setupBackends } from './helpers';

type Paddings = Array<[number, number]>;

/** The padded tensor worked out coordinate by coordinate (independent of any kernel). */
function reference(x: { data: Float32Array; shape: number[] }, paddings: Paddings, value: number): Float32Array {
  const outShape = x.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
  const out = new Float32Array(outShape.reduce((a, b) => a * b, 1));
  const coord = new Array<number>(outShape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let rem = i;
    for (let d = outShape.length - 1; d >= 0; d--) {
      coord[d] = rem % outShape[d]!;
      rem = Math.floor(rem / outShape[d]!);
    }
    let src = 0;
    let inside = true;
    for (let d = 0; d < outShape.length; d++) {
      const c = coord[d]! - paddings[d]![0];
      if (c < 0 || c >= x.shape[d]!) inside = false;
      src = src * x.shape[d]! + c;
    }
    out[i] = inside ? x.data[src]! : value;
  }
  return out;
}

const cases: Array<[string, number[], Paddings, number]> = [
  ['ResNet stride-2 pad, NHWC 1 px each side of H and W', [2, 7, 7, 5], [[0, 0], [1, 1], [1, 1], [0, 0]], 0],
  ['asymmetric H/W and a channel pad', [2, 5, 6, 3], [[0, 0], [0, 2], [3, 0], [1, 2]], 0.5],
  ['the batch dimension padded too', [3, 4, 4, 2], [[1, 2], [1, 0], [0, 0], [0, 0]], -1],
  ['only the last dimension', [4, 3, 5], [[0, 0], [0, 0], [2, 3]], 0],
  ['only the first dimension (the rest merge into one unit)', [3, 4, 5], [[2, 1], [0, 0], [0, 0]], 7],
  ['no padding at all (a copy)', [3, 4, 5], [[0, 0], [0, 0], [0, 0]], 0],
  ['rank 1', [9], [[4, 2]], 3],
  ['rank 2', [5, 3], [[1, 1], [2, 0]], 0],
  ['rank 6', [2, 2, 3, 2, 2, 3], [[0, 1], [1, 0], [0, 0], [1, 1], [0, 0], [1, 0]], 0],
  // More rows than one 16K-element block, so several pool tasks: the ResNet-20 stage-3 pad at batch 64.
  ['ResNet-20 stage 3 input at batch 64', [64, 16, 16, 32], [[0, 0], [1, 1], [1, 1], [0, 0]], 0],
  ['a wide last dimension (rows longer than a block)', [3, 20000], [[1, 1], [5, 7]], 0],
];

beforeAll(setupBackends);
beforeEach(() => resetNativeKernelStats());

describe('PadV2 (native) is the padded tensor, element for element', () => {
  it.each(cases)('%s', async (_, shape, paddings, value) => {
    const x = input(shape, 3);
    const want = reference(x, paddings, value);
    const pad = (t: Record<string, tf.Tensor>) => tf.pad(t.x!, paddings, value);
    const wasm = await runOn('wasm', { x }, pad);
    const s = nativeKernelStats().PadV2;
    expect(s?.fallback ?? 0, `PadV2 fell back: ${s?.lastFallbackReason}`).toBe(0);
    expect(s?.native).toBe(1);
    expect(wasm.shape).toEqual(shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]));
    expect(Buffer.from(wasm.data.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    // tfjs's cpu kernel agrees (the reference is the same thing computed another way)
    const cpu = await runOn('cpu', { x }, pad);
    expect(Buffer.from(cpu.data.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  });

  it('is bitwise the same at 1, 2 and 3 threads, NaN and signed zeros copied as they are', async () => {
    const shape = [8, 18, 18, 16];
    const x = input(shape, 5);
    x.data[0] = NaN;
    x.data[1] = -0;
    x.data[x.data.length - 1] = Infinity;
    const paddings: Paddings = [[0, 0], [1, 2], [2, 1], [0, 0]];
    const want = reference(x, paddings, -0);
    const before = getNativeThreads();
    try {
      for (const threads of [1, 2, 3]) {
        setNativeThreads(threads);
        const got = await runOn('wasm', { x }, (t) => tf.pad(t.x!, paddings, -0));
        expect(Buffer.from(got.data.buffer).equals(Buffer.from(want.buffer)), `${threads} threads`).toBe(true);
      }
    } finally {
      setNativeThreads(before);
    }
  });

  it("hands int32 tensors to the wasm kernel beneath, saying why", async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
    const y = tf.pad(x, [[1, 0], [0, 1]], 9);
    expect(Array.from(y.dataSync())).toEqual([9, 9, 9, 1, 2, 9, 3, 4, 9]);
    tf.dispose([x, y]);
    expect(nativeKernelStats().PadV2?.fallback).toBe(1);
    expect(nativeKernelStats().PadV2?.lastFallbackReason).toMatch(/int32/);
  });

  it('gradient (a slice) flows through, and nothing leaks', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(input([2, 4, 4, 3], 9).data, [2, 4, 4, 3]);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]]))));
    const g = grad(x);
    const expected = tf.mul(x, 2);
    expect(Array.from(g.dataSync())).toEqual(Array.from(expected.dataSync()));
    tf.dispose([g, expected]);
    await expectNoLeak(() => tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]));
    x.dispose();
  });
});
