import { createRng } from '@bag-of-tricks/core';
import { initBackend } from '@bag-of-tricks/backend';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { evalPipeline, trainPipeline, type TrainPipelineOptions } from '../src/index';
import { free, makeBatch } from './helpers';

const configs: TrainPipelineOptions[] = [
  { size: 24, mixup: true },
  { preset: 'gluoncv', size: 24, cutmix: true },
  { preset: 'gluoncv', size: 24, colorJitter: { form: 'gluoncv', hue: 0.2 } },
];

async function runAll(backend: 'cpu' | 'wasm') {
  expect(await initBackend(backend, { log: () => {} })).toBe(backend);
  const batch = makeBatch(4, 30, 36, 3);
  const results = configs.map((options) => {
    const out = trainPipeline(options)(batch, createRng(77));
    const r = { images: Array.from(out.images.dataSync()), labels: Array.from(out.labels.dataSync()) };
    free(out);
    return r;
  });
  const ev = evalPipeline({ resize: 32, crop: 28 })(batch, createRng(0));
  const evData = Array.from(ev.images.dataSync());
  free(ev);
  const grey = makeBatch(4, 28, 28, 1);
  const g = trainPipeline({ preset: 'greyscale', mixup: true })(grey, createRng(5));
  const greyData = Array.from(g.images.dataSync());
  free(g);
  await expectNoLeak(() => {
    const out = trainPipeline({ size: 24, mixup: true })(batch, createRng(1));
    return [out.images, out.labels];
  }, 20);
  free(batch, grey);
  return { results, evData, greyData };
}

describe('wasm backend', () => {
  it('runs every pipeline and agrees with cpu for the same seed', async () => {
    const cpu = await runAll('cpu');
    const wasm = await runAll('wasm');
    cpu.results.forEach((r, k) => {
      expectTensorsClose(wasm.results[k]!.images, r.images, { atol: 1e-3, rtol: 1e-4 });
      expectTensorsClose(wasm.results[k]!.labels, r.labels, { atol: 1e-6 });
    });
    expectTensorsClose(wasm.evData, cpu.evData, { atol: 1e-3, rtol: 1e-4 });
    expectTensorsClose(wasm.greyData, cpu.greyData, { atol: 1e-3, rtol: 1e-4 });
    await tf.setBackend('cpu');
  });
});
