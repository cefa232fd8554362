import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { dilateFilter, input, runOn, setupBackends, undilateFilter } from './helpers';

interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | backend_util.ExplicitPadding;
  dilation?: number;
}

const cases: Case[] = [
  { x: [2, 8, 8, 3], f: [3, 3, 3, 1], strides: 1, pad: 'same' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 2], strides: 1, pad: 'same' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 2], strides: 2, pad: 'same' },
  { x: [2, 9, 7, 4], f: [3, 3, 4, 1], strides: 2, pad: 'valid' },
  { x: [1, 8, 8, 2], f: [5, 5, 2, 3], strides: 1, pad: 'valid' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 2], strides: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [1, 10, 10, 2], f: [3, 3, 2, 2], strides: 1, pad: 'same', dilation: 2 },
  { x: [2, 10, 9, 3], f: [3, 3, 3, 1], strides: 1, pad: 'valid', dilation: 2 },
];

const outShape = (c: Case) => backend_util.computeConv2DInfo(c.x, c.f, c.strides, c.dilation ?? 1, c.pad, undefined, true).outShape;

beforeAll(setupBackends);

// cpu's depthwise backprop kernels take a dilations attr but index as if it were 1, so dilated
// cases are checked against the dense (zero-filled) dilated filter at dilation 1.
describe('DepthwiseConv2dNativeBackpropFilter on wasm matches the cpu backend', () => {
  it.each(cases)('$x $f stride $strides pad $pad dilation $dilation', async (c) => {
    const d = c.dilation ?? 1;
    const arrays = { x: input(c.x, 11), dy: input(outShape(c), 12) };
    const ours = await runOn('wasm', arrays, ({ x, dy }) =>
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: x!, dy: dy! }, {
        strides: c.strides, pad: c.pad, dilations: d, filterShape: c.f,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    const dense = d === 1 ? c.f : dilateFilter(new Float32Array(c.f.reduce((a, b) => a * b)), c.f, d).shape;
    const ref = await runOn('cpu', arrays, ({ x, dy }) =>
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: x!, dy: dy! }, {
        strides: c.strides, pad: c.pad, dilations: 1, filterShape: dense,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    expect(ours.shape).toEqual(c.f);
    expectTensorsClose(ours.data, d === 1 ? ref.data : undilateFilter(ref.data, c.f, d), { rtol: 1e-4, atol: 1e-4 });
  });
});

describe('DepthwiseConv2dNativeBackpropInput on wasm matches the cpu backend', () => {
  it.each(cases)('$x $f stride $strides pad $pad dilation $dilation', async (c) => {
    const d = c.dilation ?? 1;
    const filter = input(c.f, 13);
    const dy = input(outShape(c), 14);
    const ours = await runOn('wasm', { dy, filter }, (t) =>
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: t.dy!, filter: t.filter! }, {
        strides: c.strides, pad: c.pad, dilations: d, inputShape: c.x,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    const ref = await runOn('cpu', { dy, filter: d === 1 ? filter : dilateFilter(filter.data, c.f, d) }, (t) =>
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: t.dy!, filter: t.filter! }, {
        strides: c.strides, pad: c.pad, dilations: 1, inputShape: c.x,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    expect(ours.shape).toEqual(c.x);
    expectTensorsClose(ours.data, ref.data, { rtol: 1e-4, atol: 1e-4 });
  });
});

it('tf.grads of depthwiseConv2d on wasm equals cpu', async () => {
  const arrays = { x: input([2, 7, 7, 4], 15), w: input([3, 3, 4, 2], 16) };
  const grad = (b: 'cpu' | 'wasm', which: 0 | 1) =>
    runOn(b, arrays, ({ x, w }) => {
      const g = tf.grads((a: tf.Tensor, f: tf.Tensor) =>
        tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'))));
      const [dx, dw] = g([x!, w!]);
      tf.dispose(which === 0 ? dw! : dx!);
      return which === 0 ? dx! : dw!;
    });
  for (const which of [0, 1] as const) {
    expectTensorsClose((await grad('wasm', which)).data, (await grad('cpu', which)).data, { rtol: 1e-4, atol: 1e-4 });
  }
});
