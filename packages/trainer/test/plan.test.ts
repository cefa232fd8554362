import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { loadEmbeddedFashionMnist } from '@bag-of-tricks/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config';
import { disposeOptimizer } from '../src/optimizer';
import { plan, planData, planViews } from '../src/plan';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const base = { model: { name: 'resnet18d', options: { stem: 'small', width: 0.125, layers: [1, 1, 1, 1] } }, epochs: 2 };
const folder = { source: 'image-folder', dir: 'train', evalDir: 'val', size: 24 } as const;

beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
});

describe('config: model.options and augment are checked by their packages, before anything runs', () => {
  it('names the bad model option, the allowed ones, or the unknown variant', () => {
    expect(() => parseConfig({ ...base, model: { name: 'resnet18d', options: { stm: 'small' } } })).toThrow(
      /model\.options: ResNet config: unknown option\(s\) stm; valid options are block, layers/,
    );
    expect(() => parseConfig({ ...base, model: { name: 'resnet18d', options: { stem: 'tiny' } } })).toThrow(/model\.options: ResNet config: stem must be 'imagenet', 'deep' or 'small', got "tiny"/);
    expect(() => parseConfig({ ...base, model: { name: 'resnet18d', options: { width: -1 } } })).toThrow(/model\.options: ResNet config: width \(channel multiplier\) must be a positive number, got -1/);
    expect(() => parseConfig({ ...base, model: { name: 'resnet19' } })).toThrow(/model\.name: unknown ResNet variant; valid names are resnet18, .*resnet20/);
  });

  it('names the bad augment option for in-memory data and for image folders', () => {
    expect(() => parseConfig({ ...base, augment: { flipp: false } })).toThrow(/augment: trainPipeline: unknown option\(s\) flipp/);
    // The embedded set is greyscale: colour jitter cannot apply.
    expect(() => parseConfig({ ...base, augment: { colorJitter: { brightness: 0.4 } } })).toThrow(/augment: .*colour jitter and PCA lighting need RGB images, but channels is 1/);
    expect(() => parseConfig({ ...base, augment: { scale: [0.9, 0.1] } })).toThrow(/augment: .*scale/);
    expect(() => parseConfig({ ...base, data: folder, augment: { size: 32 } })).toThrow(
      /augment: size cannot be used with data\.source 'image-folder' \(the crop size is data\.size; allowed: scale, ratio, preset, channels, flip, colorJitter, lighting, normalize\)/,
    );
    expect(() => parseConfig({ ...base, data: { ...folder, greyscale: true }, augment: { lighting: true } })).toThrow(/augment: .*need RGB images/);
    expect(parseConfig({ ...base, data: folder, augment: { scale: [0.3, 1], colorJitter: { brightness: 0.2 } } }).augment).toEqual({ scale: [0.3, 1], colorJitter: { brightness: 0.2 } });
  });

  it('fills the paper defaults the trick packages define', () => {
    const c = parseConfig({
      ...base,
      labelSmoothing: {},
      distillation: { teacher: 't' },
      schedule: { kind: 'step' },
      data: folder,
    });
    // He et al. 2019: eps 0.1 (§5.2), T = 20 (§5.3), lr 0.1 per 256 (§3.1), step decay by 10x.
    expect(c.labelSmoothing).toEqual({ epsilon: 0.1, form: 'uniform' });
    expect(c.distillation).toMatchObject({ temperature: 20, form: 'paper', hardWeight: 0.5, softTerm: 'cross-entropy' });
    expect(c.baseLr).toBe(0.1);
    expect(c.warmupEpochs).toBe(0);
    expect(c.schedule).toEqual({ kind: 'step', milestones: [], gamma: 0.1 });
    // The trainer's image folders resize crops in the loader's pass (bilinear); data's dataset alone uses lanczos3.
    expect(c.data).toMatchObject({ resample: 'bilinear', size: 24 });
  });
});

describe('plan', () => {
  it('image folders: the dataset crops with data defaults, eval resize = size / 0.875, the pixel pass does the rest', () => {
    const c = parseConfig({ ...base, data: folder, augment: { ratio: [0.5, 2] } });
    const p = planData(c);
    expect(p.imageFolder?.train).toEqual({ mode: 'train', size: 24, greyscale: false, resample: 'bilinear', flip: false, ratio: [0.5, 2] });
    expect(p.imageFolder?.eval).toEqual({ mode: 'eval', size: 24, greyscale: false, resample: 'bilinear' });
    expect(p.pixel?.channels).toBe(3);
    const v = planViews(c, { height: 24, width: 24, channels: 3 });
    expect(v.augment).toBeNull();
    // round(24 / 0.875) = round(27.43) = 27
    expect(v.preprocessing).toMatchObject({ size: 24, resize: 27, crop: 24, channels: 3 });
    expect(planData(parseConfig(base))).toEqual({ imageFolder: null, pixel: null });
  });

  it('builds every object of a run from the config and leaks nothing once disposed', async () => {
    const { train, test } = loadEmbeddedFashionMnist();
    const before = tf.memory().numTensors;
    const c = parseConfig({ ...base, batchSize: 50, baseLr: 0.4, warmupEpochs: 1, noBiasDecay: true, labelSmoothing: {}, mixup: { offEpochs: 1 } });
    const lines: string[] = [];
    const run = await plan(c, { train, test, stepsPerEpoch: 120, log: (m) => lines.push(m) });
    expect(run.modelOptions).toMatchObject({ inputShape: [28, 28, 1], numClasses: 10, seed: 0, stem: 'small' });
    expect(run.model.inputs[0]!.shape).toEqual([null, 28, 28, 1]);
    // eval: greyscale preset, resize round(28 / 0.875) = 32, crop 28
    expect(run.views.preprocessing).toMatchObject({ resize: 32, crop: 28, channels: 1 });
    // lr = 0.4 x 50 / 256 = 0.078125, warmup over 120 steps: the last warmup step (119) is the peak.
    expect(run.peakLearningRate).toBeCloseTo(0.078125, 12);
    expect(run.schedule(119)).toBeCloseTo(0.078125, 12);
    // no bias decay: exactly the conv/dense kernels decay; BN gamma/beta and the fc bias are left out.
    expect(run.decay.decay.every((v) => /kernel/.test(v.name))).toBe(true);
    expect(run.excludedFromDecay.some((n) => /gamma|beta|bias/.test(n))).toBe(true);
    expect(run.optimizer.getClassName()).toBe('Momentum');
    expect(run.teacher).toBeUndefined();
    // mixup on for epoch 0, off for the last (offEpochs 1 of 2): distinct transforms
    expect(run.trainTransform(0)).not.toBe(run.trainTransform(1));
    expect(lines.some((l) => /weight decay 0\.0001 on \d+ variables; excluded \(no bias decay\)/.test(l))).toBe(true);
    run.model.dispose();
    disposeOptimizer(run.optimizer);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses distillation without a teacher loader (Node-free: the caller loads files)', async () => {
    const { train, test } = loadEmbeddedFashionMnist();
    const c = parseConfig({ ...base, distillation: { teacher: 'runs/t/model' } });
    await expect(plan(c, { train, test, stepsPerEpoch: 10 })).rejects.toThrow(/distillation\.teacher: no teacher loader/);
  });
});

describe('CLI: a bad model option or augment option fails before training, naming the field', () => {
  it('exits 1 with the field, the problem and the allowed values, and no output folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bot-plan-cli-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...base, model: { name: 'resnet18d', options: { stm: 'small' } }, augment: { flipp: true }, out: join(dir, 'out') }));
    const r = spawnSync(process.execPath, [cli, 'train', 'bad.json', '--no-progress'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/model\.options: ResNet config: unknown option\(s\) stm; valid options are/);
    expect(r.stderr).toMatch(/augment: trainPipeline: unknown option\(s\) flipp/);
    expect(r.stdout).not.toMatch(/parameters/);
  });
});
