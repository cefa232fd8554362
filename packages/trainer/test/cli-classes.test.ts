import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@bag-of-tricks/backend';
import { FASHION_MNIST_CLASSES, loadIdxDataset } from '@bag-of-tricks/data';
import { createResNet } from '@bag-of-tricks/resnet-variants';
import { loadWeightsByName, weightKey } from '../src/finetune';
import { tempOut, tinyConfig } from './helpers';
import { smallIdx } from './model-helpers';

// What a user runs: the built CLI in a fresh process, no backend loaded before it starts.
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, BOT_BACKEND: 'wasm' } });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
};
const lines = (out: string): Record<string, any>[] => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const classNamesOf = (modelDir: string): string[] => JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')).userDefinedMetadata.classNames;

describe('data.classes / data.perClass and init.newHead through the CLI (pretrain on classes 0-4, fine-tune on 5-9)', () => {
  let data: string;
  let pre: string;
  beforeAll(() => {
    expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true);
    data = smallIdx(600, 200); // IDX files carry no class names: the Fashion-MNIST rule names the 10 classes
    pre = tempOut('pre');
    writeFileSync(`${pre}.json`, JSON.stringify({ ...tinyConfig(), data: { source: 'idx', dir: data, classes: [0, 1, 2, 3, 4], perClass: 20 }, epochs: 1, batchSize: 20, out: pre }));
    const r = run(['train', `${pre}.json`, '--no-progress', '--no-report']);
    expect(r.status, r.out).toBe(0);
  }, 300_000);

  it('trains on 5 classes x 20 images (5 steps of 20), names the 5 classes in model.json, and has 5 outputs', () => {
    const start = lines(pre).find((l) => l.type === 'start')!;
    expect(start.stepsPerEpoch).toBe(5); // 100 images / batch 20
    expect(lines(pre).filter((l) => l.type === 'step' || l.type === 'epoch').at(-1)!.step).toBe(5);
    expect(classNamesOf(join(pre, 'model'))).toEqual(FASHION_MNIST_CLASSES.slice(0, 5));
    const manifest = JSON.parse(readFileSync(join(pre, 'model', 'model.json'), 'utf8')).weightsManifest.flatMap((g: { weights: { name: string; shape: number[] }[] }) => g.weights);
    expect(manifest.find((w: { name: string }) => weightKey(w.name) === 'fc/bias').shape).toEqual([5]);
  });

  it('fine-tunes from it on classes 5-9 (10 each) with a new classifier, and the model names Sandal … Ankle boot', () => {
    const ft = tempOut('ft');
    writeFileSync(
      `${ft}.json`,
      JSON.stringify({ ...tinyConfig(), data: { source: 'idx', dir: data, classes: [5, 6, 7, 8, 9], perClass: 10 }, epochs: 1, batchSize: 10, init: { from: join(pre, 'model'), newHead: true }, out: ft }),
    );
    const r = run(['train', `${ft}.json`, '--no-progress', '--no-report']);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/\[trainer\] init: \d+ weights from .*pre\/model \(model\); classifier re-initialised \(init\.newHead\): fc\/kernel, fc\/bias/);
    expect(lines(ft).find((l) => l.type === 'start')!.stepsPerEpoch).toBe(5); // 50 images / batch 10
    expect(classNamesOf(join(ft, 'model'))).toEqual(['Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    // evaluate on the whole IDX test split matches its classes by name: only the images of classes 5-9 count, and
    // it reproduces the run's own final eval.
    const ev = spawnSync(process.execPath, [cli, 'evaluate', join(ft, 'model'), '--data', data, '--json'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, BOT_BACKEND: 'wasm' } });
    expect(ev.status, ev.stderr).toBe(0);
    const report = JSON.parse(ev.stdout) as { samples: number; top1: number; perClass: { name: string; count: number }[] };
    const labels = loadIdxDataset(data, 'test').labels;
    const counts = [5, 6, 7, 8, 9].map((c) => labels.filter((l) => l === c).length);
    expect(report.perClass.map((c) => c.count)).toEqual(counts);
    expect(report.samples).toBe(counts.reduce((a, b) => a + b, 0));
    expect(report.top1).toBeCloseTo(lines(ft).find((l) => l.type === 'end')!.top1, 10);
  });

  it('refuses a perClass larger than a class and a class out of range before epoch 1, naming the field', () => {
    const bad = tempOut('bad');
    writeFileSync(`${bad}.json`, JSON.stringify({ ...tinyConfig(), data: { source: 'embedded', classes: [0, 1], perClass: 601 }, epochs: 1, out: bad }));
    const r = run(['train', `${bad}.json`, '--no-progress', '--no-report']);
    expect(r.status).toBe(1);
    // The embedded subset holds 600 training images per class.
    expect(r.out).toContain('data.perClass: 601 is more than the 600 training images of class 0 (T-shirt/top); lower perClass to at most 600');
    expect(r.out).not.toMatch(/epoch 1\/1/);
    const range = tempOut('range');
    writeFileSync(`${range}.json`, JSON.stringify({ ...tinyConfig(), data: { source: 'embedded', classes: [3, 10] }, epochs: 1, out: range }));
    const r2 = run(['train', `${range}.json`, '--no-progress', '--no-report']);
    expect(r2.status).toBe(1);
    expect(r2.out).toContain('data.classes[1]: class 10 is out of range: the training data has 10 classes (labels 0-9); pick classes from 0 to 9.');
  });
});

describe('loadWeightsByName with newHead', () => {
  it('re-initialises the classifier of a source with as many classes, and copies it without newHead', async () => {
    await initBackend('cpu', { log: () => {} });
    const options = { stem: 'small', width: 0.125, layers: [1, 1, 1, 1], inputShape: [16, 16, 1], numClasses: 5 } as const;
    const source = createResNet('resnet18d', { ...options, seed: 1 });
    const named = source.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[], values: w.read().dataSync() as Float32Array }));
    const fc = (m: typeof source) => Array.from(m.getLayer('fc').getWeights()[0]!.dataSync());
    const fresh = createResNet('resnet18d', { ...options, seed: 2 });
    const before = fc(fresh);
    const r = loadWeightsByName(fresh, named, 'test', { newHead: true });
    expect(r.reinitialised).toEqual(['fc/kernel', 'fc/bias']);
    expect(fc(fresh)).toEqual(before);
    expect(fc(fresh)).not.toEqual(fc(source));
    const copied = createResNet('resnet18d', { ...options, seed: 3 });
    expect(loadWeightsByName(copied, named, 'test').reinitialised).toEqual([]);
    expect(fc(copied)).toEqual(fc(source));
    tf.dispose([source, fresh, copied].flatMap((m) => m.weights.map((w) => w.read())));
  });
});
