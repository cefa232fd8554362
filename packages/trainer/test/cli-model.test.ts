import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@bag-of-tricks/backend';
import { createRng } from '@bag-of-tricks/core';
import { FASHION_MNIST_CLASSES, loadIdxDataset, registerFileRouter } from '@bag-of-tricks/data';
import { parseSafetensors } from '@bag-of-tricks/resnet-variants';
import { evalPipelineFromPreprocessing, type ModelMetadata } from '../src/model-metadata';
import { tempOut, tinyConfig } from './helpers';
import { smallIdx } from './model-helpers';

// What a user runs: the built CLI in a fresh process, no backend loaded before it starts.
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

function run(args: string[]): { status: number | null; out: string; stdout: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, BOT_BACKEND: 'wasm' } });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}`, stdout: r.stdout };
}

interface EvalJson {
  samples: number;
  top1: number;
  top5: number;
  classNames: string[];
  perClass: { name: string; count: number; accuracy: number }[];
  confusion: number[][];
}

describe('bag-of-tricks train → out/model → predict / evaluate / export, through the CLI', () => {
  let data: string;
  let out: string;
  beforeAll(() => {
    expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true);
    data = smallIdx(256, 200);
    out = tempOut('cli-model');
    writeFileSync(`${out}.json`, JSON.stringify({ ...tinyConfig(), data: { source: 'idx', dir: data }, epochs: 2, out }));
    const r = run(['train', `${out}.json`, '--no-progress', '--no-report']);
    expect(r.status, r.out).toBe(0);
    expect(existsSync(join(out, 'model', 'model.json'))).toBe(true);
  }, 180_000);

  // `evaluate --json` of the trained float32 model: checked below, and the reference of the float16 export (one run).
  let evaluated: ReturnType<typeof run> | undefined;
  const evaluate32 = () => (evaluated ??= run(['evaluate', join(out, 'model'), '--data', data, '--json', '--html', join(out, 'eval.html')]));

  it("evaluate reproduces the training run's eval exactly (top-1, top-5) and counts every test image once", () => {
    const r = evaluate32();
    expect(r.status, r.out).toBe(0);
    const report = JSON.parse(r.stdout) as EvalJson;
    const end = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; top1: number; top5: number }).find((l) => l.type === 'end')!;
    expect(report.samples).toBe(200);
    expect(report.top1).toBeCloseTo(end.top1, 10);
    expect(report.top5).toBeCloseTo(end.top5, 10);
    expect(report.classNames).toEqual([...FASHION_MNIST_CLASSES]);
    // Row sums are the true class counts of the test labels.
    const labels = loadIdxDataset(data, 'test').labels;
    const counts = new Array(10).fill(0);
    for (const l of labels) counts[l]++;
    expect(report.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(counts);
    expect(report.perClass.map((c) => c.count)).toEqual(counts);
    const html = readFileSync(join(out, 'eval.html'), 'utf8');
    expect(html.match(/<svg/g)?.length).toBe(2);

    const text = run(['evaluate', join(out, 'model'), '--data', data]);
    expect(text.status, text.out).toBe(0);
    expect(text.stdout).toMatch(/top-1 \d+\.\d\d%\s+top-5/);
    expect(text.stdout).toMatch(/confusion matrix \(rows: true class/);
    expect(text.stdout).toMatch(/Ankle boot\s+\d+\.\d\d%\s+\(\d+ images\)/);
  }, 120_000);

  it("predict gives, for a lossless PNG of a test image, the model's own probabilities for it; JPEG, WebP, RGBA and other sizes work", async () => {
    const test = loadIdxDataset(data, 'test');
    const px = test.height * test.width;
    const png = join(dirname(out), 'img3.png');
    await sharp(Buffer.from(test.images.subarray(3 * px, 4 * px)), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
    const r = run(['predict', join(out, 'model'), png, '--top', '10', '--json']);
    expect(r.status, r.out).toBe(0);
    const [pred] = JSON.parse(r.stdout) as { file: string; classes: { name: string; index: number; probability: number }[] }[];

    // Reference: the saved model in this process, on the dataset's pixels through the metadata's eval pipeline.
    await initBackend('wasm', { log: () => {} });
    registerFileRouter();
    const model = await loadLayersModel(`file://${join(out, 'model', 'model.json')}`);
    const meta = model.getUserDefinedMetadata() as unknown as ModelMetadata;
    const probs = tf.tidy(() => {
      const x = tf.tensor4d(Float32Array.from(test.images.subarray(3 * px, 4 * px)), [1, 28, 28, 1]);
      const b = evalPipelineFromPreprocessing(meta.preprocessing)({ images: x, labels: tf.zeros([1, 10]) }, createRng(0));
      return tf.softmax(model.predict(b.images) as tf.Tensor2D).dataSync();
    });
    model.dispose();
    expect(pred!.classes).toHaveLength(10);
    for (const c of pred!.classes) {
      expect(c.name).toBe(FASHION_MNIST_CLASSES[c.index]);
      expect(c.probability).toBeCloseTo(probs[c.index]!, 5);
    }
    expect(pred!.classes.map((c) => c.probability)).toEqual([...pred!.classes.map((c) => c.probability)].sort((a, b) => b - a));

    // Other formats, sizes and channel counts: RGB JPEG 112x112, RGBA PNG 56x40, WebP 84x84.
    const rgb = Buffer.alloc(112 * 112 * 3, 0);
    const jpg = join(dirname(out), 'rgb.jpg');
    await sharp(rgb, { raw: { width: 112, height: 112, channels: 3 } }).jpeg().toFile(jpg);
    const rgba = join(dirname(out), 'rgba.png');
    await sharp(Buffer.alloc(56 * 40 * 4, 200), { raw: { width: 56, height: 40, channels: 4 } }).png().toFile(rgba);
    const webp = join(dirname(out), 'grey.webp');
    await sharp(Buffer.from(test.images.subarray(0, px)), { raw: { width: 28, height: 28, channels: 1 } }).resize(84, 84).webp().toFile(webp);
    const many = run(['predict', join(out, 'model'), jpg, rgba, webp, '--top', '3']);
    expect(many.status, many.out).toBe(0);
    expect(many.stdout.match(/^\s+\d+\.\d\d%\s+\S/gm)).toHaveLength(9);

    const missing = run(['predict', join(out, 'model'), join(dirname(out), 'nope.jpg')]);
    expect(missing.status).toBe(1);
    expect(missing.out).toMatch(/bag-of-tricks: predict: image not found: .*nope\.jpg/);
    const notImage = run(['predict', join(out, 'model'), `${out}.json`]);
    expect(notImage.status).toBe(1);
    expect(notImage.out).toMatch(/predict: cannot decode .*cli-model\.json as an image/);
  }, 120_000);

  it('export: a checkpoint to a float16 model (half the bytes, evaluates within 0.5% top-1); --safetensors writes PyTorch names or refuses a layout the naming lacks', () => {
    const ckpt = join(out, 'checkpoints', 'ckpt-00000016.ckpt');
    const dir = join(dirname(out), 'exported');
    const r = run(['export', ckpt, dir, '--float16']);
    expect(r.status, r.out).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: { quantization?: { dtype: string } }[] }[] };
    expect(manifest.weightsManifest[0]!.weights.every((w) => w.quantization?.dtype === 'float16')).toBe(true);
    const bytes = (d: string, m: typeof manifest) => m.weightsManifest[0]!.paths.reduce((s, p) => s + readFileSync(join(d, p)).byteLength, 0);
    const full = JSON.parse(readFileSync(join(out, 'model', 'model.json'), 'utf8')) as typeof manifest;
    expect(bytes(dir, manifest) * 2).toBe(bytes(join(out, 'model'), full));
    const f32 = evaluate32();
    expect(f32.status, f32.out).toBe(0);
    const e32 = JSON.parse(f32.stdout) as EvalJson;
    const e16 = JSON.parse(run(['evaluate', dir, '--data', data, '--json']).stdout) as EvalJson;
    expect(Math.abs(e16.top1 - e32.top1)).toBeLessThanOrEqual(0.005);

    // The tiny model is a ResNet-D with the small CIFAR stem: neither torchvision nor timm has that layout.
    const refused = run(['export', ckpt, join(dirname(out), 'refused'), '--safetensors', 'timm']);
    expect(refused.status).toBe(1);
    expect(refused.out).toMatch(/bag-of-tricks: toSafetensors: naming 'timm' cannot describe this model: .*small 3x3\/1 CIFAR stem/);
    expect(existsSync(join(dirname(out), 'refused', 'model.json'))).toBe(false);
    // A ResNet-B with the small stem is torchvision's layout (conv1 3x3/1, maxpool Identity).
    const b = tempOut('b');
    writeFileSync(`${b}.json`, JSON.stringify({ ...tinyConfig(), model: { name: 'resnet18', options: { stem: 'small', width: 0.125, layers: [1, 1, 1, 1] } }, data: { source: 'idx', dir: data }, out: b }));
    expect(run(['train', `${b}.json`, '--stop-after', '2', '--no-progress', '--no-report']).status).toBe(0);
    const t = run(['export', join(b, 'checkpoints', 'ckpt-00000002.ckpt'), join(b, 'export'), '--safetensors', 'torchvision']);
    expect(t.status, t.out).toBe(0);
    const st = parseSafetensors(new Uint8Array(readFileSync(join(b, 'export', 'model.safetensors'))));
    expect(st.tensors.get('fc.weight')?.shape).toEqual([10, 64]); // [out, in]
    expect(st.tensors.get('conv1.weight')?.shape).toEqual([8, 1, 3, 3]); // OIHW
    expect(JSON.parse(st.metadata.classNames!)).toEqual([...FASHION_MNIST_CLASSES]);

    const bad = run(['export', join(out, 'checkpoints', 'ckpt-99.ckpt'), dir]);
    expect(bad.status).toBe(1);
    expect(bad.out).toMatch(/Checkpoint not found: .*ckpt-99\.ckpt/);
    expect(bad.out).not.toMatch(/\[bag-of-tricks\] backend/);
  }, 180_000);

  it('each verb has --help with an example', () => {
    for (const verb of ['export', 'evaluate', 'predict']) {
      const r = run([verb, '--help']);
      expect(r.status, r.out).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Examples:\\n  bag-of-tricks ${verb} `));
    }
  });
});
