import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalPipeline, type EvalPipelineOptions } from '@bag-of-tricks/augment';
import { initBackend } from '@bag-of-tricks/backend';
import { createRng } from '@bag-of-tricks/core';
import { FASHION_MNIST_CLASSES, registerFileRouter } from '@bag-of-tricks/data';
import { train } from '../src';
import { evalPipelineFromPreprocessing, float16Bits, resolveEvalPreprocessing, type ModelMetadata } from '../src/model-metadata';
import { saveModel } from '../src/node/model-io';
import { quiet, tempOut, tinyConfig } from './helpers';
import { smallIdx } from './model-helpers';

beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
  registerFileRouter();
});

describe('float16Bits (IEEE binary16, round to nearest even)', () => {
  it('matches values worked by hand', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite half
      [65520, 0x7c00], // halfway to 65536: ties to even = Infinity
      [65519, 0x7bff],
      [1 / 3, 0x3555], // 0.333251953125 is nearer than 0x3556
      [0.1, 0x2e66],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even = 0
      [1.5 * 2 ** -25, 0x0001],
      [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01: even
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02: even
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of cases) expect(float16Bits(value).toString(16), String(value)).toBe(bits.toString(16));
    expect(float16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(float16Bits(Number.NaN) & 0x3ff).not.toBe(0);
  });
});

describe('resolveEvalPreprocessing', () => {
  it("describes the run's eval pipeline exactly: the pipeline rebuilt from it gives the same tensors", () => {
    const cases: [EvalPipelineOptions, number, number, number][] = [
      [{ preset: 'greyscale', crop: 28, resize: 32 }, 28, 28, 1], // embedded / idx runs
      [{ crop: 24, resize: 28 }, 40, 30, 3],
      [{ channels: 3, resize: false, crop: 16 }, 16, 16, 3], // image folders: the dataset already cropped
    ];
    for (const [options, h, w, c] of cases) {
      const p = resolveEvalPreprocessing(options);
      const x = tf.randomUniform([2, h, w, c], 0, 255, 'float32', 1) as tf.Tensor4D;
      const batch = { images: x, labels: tf.cast(tf.oneHot([1, 2], 10), 'float32') as tf.Tensor2D };
      const a = evalPipeline(options)(batch, createRng(0)).images;
      const b = evalPipelineFromPreprocessing(p)(batch, createRng(0)).images;
      expect(b.shape).toEqual(a.shape);
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([x, batch.labels, a, b]);
    }
    expect(resolveEvalPreprocessing({ preset: 'greyscale', crop: 28, resize: 32 })).toEqual({ size: 28, resize: 32, crop: 28, channels: 1, mean: [72.9404], std: [90.0212] });
    expect(resolveEvalPreprocessing({ channels: 3, resize: false, crop: 224 }, 256)).toMatchObject({ resize: 256, crop: 224, mean: [123.68, 116.779, 103.939] });
  });
});

describe('every run writes out/model (and out/best), loadable by stock tf.loadLayersModel', () => {
  let dataDir: string;
  let result: Awaited<ReturnType<typeof train>>;
  beforeAll(async () => {
    dataDir = smallIdx(256, 200);
    result = await train(
      tinyConfig({ data: { source: 'idx', dir: dataDir }, epochs: 3, batchSize: 32, out: tempOut('export'), export: { weights: 'float32', best: true } }),
      { ...quiet, report: false },
    );
  }, 120_000);
  afterAll(() => result?.model.dispose());

  it('model.json carries class names, eval preprocessing, the architecture, the config and the git commit', () => {
    const json = JSON.parse(readFileSync(join(result.modelDir, 'model.json'), 'utf8')) as { format: string; userDefinedMetadata: ModelMetadata; weightsManifest: { paths: string[] }[] };
    expect(json.format).toBe('layers-model');
    const m = json.userDefinedMetadata;
    expect(m.classNames).toEqual([...FASHION_MNIST_CLASSES]);
    expect(m.preprocessing).toEqual({ size: 28, resize: 32, crop: 28, channels: 1, mean: [72.9404], std: [90.0212] });
    expect(m.model).toMatchObject({ name: 'resnet18d', options: { inputShape: [28, 28, 1], numClasses: 10, width: 0.125, stem: 'small' } });
    expect(m.trainConfig?.epochs).toBe(3);
    expect(m.trainConfig?.data).toEqual({ source: 'idx', dir: dataDir });
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(m.gitCommit).toBe(head);
    expect(m.step).toBe(3 * 8);
    expect(m.top1).toBe(result.top1);
    expect(json.weightsManifest[0]!.paths).toEqual([expect.stringMatching(/^group1-shard1of1\.[0-9a-f]{12}\.bin$/)]);
  });

  it('loads in Node through the file router and gives the returned model\'s logits exactly', async () => {
    const loaded = await loadLayersModel(`file://${join(result.modelDir, 'model.json')}`);
    const x = tf.randomNormal([4, 28, 28, 1], 0, 1, 'float32', 3);
    const a = result.model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    loaded.dispose();
  });

  it('best/ holds the epoch with the highest eval top-1', async () => {
    const best = JSON.parse(readFileSync(join(result.bestDir!, 'model.json'), 'utf8')) as { userDefinedMetadata: ModelMetadata };
    const top1s = result.history.epochs.map((e) => e.top1);
    const bestEpoch = top1s.indexOf(Math.max(...top1s));
    expect(best.userDefinedMetadata.top1).toBe(top1s[bestEpoch]);
    expect(best.userDefinedMetadata.epochs).toBe(bestEpoch + 1);
    const lines = readFileSync(result.metricsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; top1: number });
    const improvements = top1s.filter((t, i) => t > Math.max(-1, ...top1s.slice(0, i))).length;
    expect(lines.filter((l) => l.type === 'best')).toHaveLength(improvements);
  });

  it('float16 weights: half the bytes, loaded by stock tfjs over HTTP, each weight within half-precision rounding', async () => {
    const dir32 = tempOut('w32');
    const dir16 = tempOut('w16');
    const meta = JSON.parse(readFileSync(join(result.modelDir, 'model.json'), 'utf8')).userDefinedMetadata as ModelMetadata;
    const s32 = saveModel(dir32, result.model, meta);
    const s16 = saveModel(dir16, result.model, meta, { weights: 'float16' });
    const values = result.model.weights.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0); // BN moving statistics included
    expect(s32.weightBytes).toBe(4 * values);
    expect(s16.weightBytes).toBe(2 * values);
    const manifest = JSON.parse(readFileSync(join(dir16, 'model.json'), 'utf8')).weightsManifest[0].weights as { quantization?: { dtype: string } }[];
    expect(manifest.every((w) => w.quantization?.dtype === 'float16')).toBe(true);

    // A browser loads over HTTP: serve the folder and load it with tfjs's http handler.
    const server = createServer((req, res) => {
      try {
        const body = readFileSync(join(dir16, decodeURIComponent(req.url!.slice(1))));
        res.writeHead(200, { 'content-type': req.url!.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    let loaded: LayersModel;
    try {
      loaded = await loadLayersModel(`http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`);
    } finally {
      server.close();
    }
    const w32 = result.model.getWeights();
    const w16 = loaded.getWeights();
    for (let i = 0; i < w32.length; i++) {
      const a = w32[i]!.dataSync();
      const b = w16[i]!.dataSync();
      for (let k = 0; k < a.length; k++) {
        // binary16: 11 significant bits (relative error <= 2^-11), subnormal spacing 2^-24.
        expect(Math.abs(b[k]! - a[k]!)).toBeLessThanOrEqual(Math.abs(a[k]!) * 2 ** -11 + 2 ** -25);
      }
    }
    loaded.dispose();
  });

  it('a second save replaces the shards atomically: no stale shard is left', () => {
    const dir = tempOut('twice');
    const meta = JSON.parse(readFileSync(join(result.modelDir, 'model.json'), 'utf8')).userDefinedMetadata as ModelMetadata;
    saveModel(dir, result.model, meta, { weights: 'float16' });
    const second = saveModel(dir, result.model, meta);
    expect(readdirSync(dir).sort()).toEqual([...second.files].sort());
    expect(statSync(join(dir, second.files[1]!)).size).toBe(second.weightBytes);
  });
});
