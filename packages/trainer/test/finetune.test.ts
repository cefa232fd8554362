import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@bag-of-tricks/backend';
import { registerFileRouter } from '@bag-of-tricks/data';
import { createResNet, toSafetensors } from '@bag-of-tricks/resnet-variants';
import { train, type TrainConfigInput } from '../src';
import { weightKey } from '../src/finetune';
import { saveModel } from '../src/node/model-io';
import { quiet, tempOut, tinyConfig } from './helpers';
import { fashionImageFolder, smallIdx } from './model-helpers';

const TINY = { stem: 'small', width: 0.125, layers: [1, 1, 1, 1] };

/** Every weight (BN moving statistics included) by name, as plain arrays. */
const weightsByName = (model: LayersModel): Map<string, Float32Array> =>
  new Map(model.weights.map((w) => [weightKey(w.originalName), Float32Array.from(w.read().dataSync())]));

describe('fine-tuning (config init)', () => {
  let source: string;
  let sourceWeights: Map<string, Float32Array>;
  let folder: string;
  beforeAll(async () => {
    await initBackend('wasm', { log: () => {} });
    registerFileRouter();
    // A 10-class source model, trained a few steps, and a 3-class image folder (Trouser, Sneaker, Bag).
    const src = await train(tinyConfig({ data: { source: 'idx', dir: smallIdx(128, 50) }, out: tempOut('src') }), { ...quiet, report: false, stopAfterStep: 4 });
    source = src.modelDir;
    sourceWeights = weightsByName(src.model);
    src.model.dispose();
    folder = await fashionImageFolder([1, 7, 8], 8);
  }, 120_000);

  const fineTune = (init: TrainConfigInput['init'], extra: Partial<TrainConfigInput> = {}) => {
    const logs: string[] = [];
    const run = train(
      tinyConfig({ data: { source: 'image-folder', dir: join(folder, 'train'), evalDir: join(folder, 'val'), size: 28, greyscale: true }, epochs: 1, batchSize: 8, init, out: tempOut('ft'), ...extra }),
      { ...quiet, report: false, log: (m) => void logs.push(m) },
    );
    return { run, logs };
  };

  it("freeze 'backbone': every backbone weight and BN moving statistic stays bit for bit; the 3-class head is re-initialised and logged", async () => {
    const before = tf.memory().numTensors;
    const { run, logs } = fineTune({ from: source, freeze: 'backbone' });
    const r = await run;
    expect(logs.join('\n')).toMatch(/\[trainer\] init: \d+ weights from .*src\/model \(model\); classifier re-initialised \(3 classes here, another number there\): fc\/kernel, fc\/bias/);
    expect(logs.join('\n')).toMatch(/frozen \("backbone"\): \d+ layers, BatchNorm on moving statistics/);
    const after = weightsByName(r.model);
    let compared = 0;
    for (const [name, values] of after) {
      if (name.startsWith('fc/')) continue;
      expect(Array.from(values), name).toEqual(Array.from(sourceWeights.get(name)!));
      compared++;
    }
    expect(compared).toBe(r.model.weights.length - 2);
    expect(compared).toBeGreaterThan(40); // conv kernels, BN gamma/beta and moving mean/variance
    expect(r.model.getLayer('fc').getWeights()[0]!.shape).toEqual([64, 3]);
    expect(r.steps).toBe(3);
    r.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('backboneLrScale 0 with freeze [stem]: the unfrozen backbone keeps its weights (zero lr) while its BN statistics still move; the head learns', async () => {
    const { run, logs } = fineTune({ from: source, freeze: ['stem'], backboneLrScale: 0 }, { export: { weights: 'float16', best: false } });
    const r = await run;
    // export.weights 'float16' applies to out/model.
    const manifest = JSON.parse(readFileSync(join(r.modelDir, 'model.json'), 'utf8')).weightsManifest[0].weights as { quantization?: { dtype: string } }[];
    expect(manifest.every((w) => w.quantization?.dtype === 'float16')).toBe(true);
    expect(logs.join('\n')).toMatch(/discriminative lr: backbone at 0 x lr, classifier \(fc\) at lr/);
    const after = weightsByName(r.model);
    for (const [name, values] of after) {
      if (name.startsWith('fc/')) continue;
      const same = Array.from(values).every((v, i) => v === sourceWeights.get(name)![i]);
      // Moving statistics of BN layers outside the stem follow the batches; every learned weight stays.
      const moving = /moving_(mean|variance)$/.test(name) && !/^(conv1|bn1)\//.test(name);
      expect(same, name).toBe(!moving);
    }
    r.model.dispose();
  }, 60_000);

  it('a model of another width is refused naming the first weight that does not fit and both shapes', async () => {
    const wide = createResNet('resnet18d', { ...TINY, width: 0.25, inputShape: [28, 28, 1], numClasses: 10 } as never);
    const dir = tempOut('wide');
    saveModel(dir, wide, {} as never);
    wide.dispose();
    const { run } = fineTune({ from: dir });
    await expect(run).rejects.toThrow(new RegExp(`init\\.from ${dir}: weight 'conv1/kernel' has shape \\[3, 3, 1, 16\\] there but \\[3, 3, 1, 8\\] in this model`));
    const missing = fineTune({ from: join(dir, 'nothing-here') }).run;
    await expect(missing).rejects.toThrow(/init\.from .*nothing-here: not found, or not a model folder/);
  }, 60_000);

  it('a PyTorch .safetensors file (torchvision names) initialises a ResNet-B; its 10-class fc is skipped for 3 classes', async () => {
    const b = createResNet('resnet18', { ...TINY, inputShape: [28, 28, 1], numClasses: 10, seed: 11 } as never);
    const file = join(tempOut('st'), '..', 'b.safetensors');
    writeFileSync(file, toSafetensors(b, { naming: 'torchvision' }));
    const expected = weightsByName(b);
    b.dispose();
    const { run, logs } = fineTune({ from: file, freeze: 'backbone' }, { model: { name: 'resnet18', options: TINY } });
    const r = await run;
    expect(logs.join('\n')).toMatch(/init: \d+ weights from .*b\.safetensors \(safetensors\); classifier re-initialised .*: fc\.weight, fc\.bias/);
    for (const [name, values] of weightsByName(r.model)) if (!name.startsWith('fc/')) expect(Array.from(values), name).toEqual(Array.from(expected.get(name)!));
    r.model.dispose();
  }, 60_000);

  afterAll(async () => {
    // The source model folder also loads with stock tfjs (a sanity check of what init read).
    const m = await loadLayersModel(`file://${join(source, 'model.json')}`);
    expect(m.getLayer('fc').getWeights()[0]!.shape).toEqual([64, 10]);
    m.dispose();
  });
});
