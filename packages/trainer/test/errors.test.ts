import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { registerFileRouter } from '@bag-of-tricks/data';
import { createResNet } from '@bag-of-tricks/resnet-variants';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, listCheckpoints, train, trainConfigSchema } from '../src';
import { createProgram, main } from '../src/cli';
import { quiet, tempOut, tinyConfig } from './helpers';

beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
  registerFileRouter();
});

describe('clear failures', () => {
  it('a malformed config names the bad fields and what is allowed', async () => {
    const bad = { ...tinyConfig(), batchSize: 0, optimizer: { kind: 'rmsprop' }, schedule: { kind: 'cosine', floor: -1 }, colour: true };
    const err = await train(bad as never, quiet).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/batchSize: Too small: expected number to be >0/);
    expect(msg).toMatch(/optimizer\.kind: got "rmsprop"; allowed: 'nag' \| 'sgd' \| 'adam'/);
    expect(msg).toMatch(/schedule\.floor: Too small/);
    expect(msg).toMatch(/unknown field\(s\) 'colour'/);
  });

  it('a missing teacher file fails naming the path', async () => {
    const missing = join(tempOut('t'), 'nowhere', 'model.json');
    await expect(train(tinyConfig({ distillation: { teacher: missing } }), quiet)).rejects.toThrow(
      new RegExp(`teacher model not found: ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
    );
  });

  it('a checkpoint from another model fails naming the mismatch', async () => {
    const out = tempOut('other');
    (await train(tinyConfig({ out }), { ...quiet, progress: true, stopAfterStep: 2 })).model.dispose(); // also drives the progress bar
    const [ckpt] = listCheckpoints(out);
    const wider = tinyConfig({ out, model: { name: 'resnet18d', options: { stem: 'small', width: 0.25, layers: [1, 1, 1, 1] } } });
    await expect(train(wider, { ...quiet, resume: ckpt! })).rejects.toThrow(/Checkpoint .*ckpt-00000002\.ckpt is from another model/);
    const deeper = tinyConfig({ out, model: { name: 'resnet18d', options: { stem: 'small', width: 0.125, layers: [2, 1, 1, 1] } } });
    await expect(train(deeper, { ...quiet, resume: ckpt! })).rejects.toThrow(/from another model: it holds \d+ weights of model 'resnet18d .*but this run builds/);
    await expect(train(tinyConfig({ out: tempOut('none') }), { ...quiet, resume: true })).rejects.toThrow(/--resume: no checkpoint in/);
  });
});

describe('distillation through train()', () => {
  it('trains against a saved teacher, online (with mixup) and with cached logits', async () => {
    const dir = tempOut('teacher');
    mkdirSync(dir, { recursive: true });
    const teacherModel = createResNet('resnet18d', { stem: 'small', width: 0.125, layers: [1, 1, 1, 1], inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
    await teacherModel.save(`file://${dir}`);
    teacherModel.dispose();
    const before = tf.memory().numTensors;
    const online = await train(tinyConfig({ mixup: { alpha: 0.2 }, distillation: { teacher: join(dir, 'model.json'), temperature: 4 } }), { ...quiet, stopAfterStep: 5 });
    expect(online.history.steps.every((s) => Number.isFinite(s.loss))).toBe(true);
    online.model.dispose();
    const cached = await train(tinyConfig({ distillation: { teacher: dir, form: 'weighted', hardWeight: 0.3, cache: true } }), { ...quiet, stopAfterStep: 5 });
    expect(cached.history.steps).toHaveLength(5);
    cached.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('CLI', () => {
  it('a malformed config file exits 1 with one clear message', async () => {
    const dir = tempOut('cli');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ model: { name: 'resnet18d' }, epochs: 0, mixup: { alpha: 'big' } }));
    const errors: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      await main(['node', 'bag-of-tricks', 'train', path]);
      await main(['node', 'bag-of-tricks', 'train', join(dir, 'missing.json')]);
    } finally {
      spy.mockRestore();
    }
    expect(process.exitCode).toBe(1);
    process.exitCode = 0;
    expect(errors[0]).toContain(`Invalid training config (${path})`);
    expect(errors[0]).toMatch(/epochs: Too small/);
    expect(errors[0]).toMatch(/mixup\.alpha: expected number, got "big"/);
    expect(errors[1]).toContain(`Config file not found: ${join(dir, 'missing.json')}`);
  });

  it('--help documents every option', () => {
    // What a user sees: the printed `train --help`, for every option the command defines (not a fixed list).
    const chunks: string[] = [];
    const trainCmd = createProgram().commands.find((c) => c.name() === 'train')!;
    trainCmd.configureOutput({ writeOut: (s) => chunks.push(s), writeErr: (s) => chunks.push(s) });
    trainCmd.exitOverride();
    expect(() => trainCmd.parse(['--help'], { from: 'user' })).toThrow();
    const flat = chunks.join('').replace(/\s+/g, ' '); // commander wraps long descriptions
    expect(trainCmd.options.length).toBeGreaterThanOrEqual(14);
    for (const option of trainCmd.options) {
      expect(option.description.length, `${option.flags} has no description`).toBeGreaterThan(10);
      // the flags, then its description right after them
      expect(flat, `${option.flags} is not in --help with its description`).toContain(`${option.flags} ${option.description.replace(/\s+/g, ' ')}`);
    }
    for (const flag of ['--resume', '--out', '--epochs', '--batch-size', '--seed', '--data', '--backend', '--workers', '--stop-after', '--no-progress', '--no-report', '--quiet', '--help']) {
      expect(flat).toContain(flag);
    }
    expect(flat).toMatch(/--backend <name> .*\(choices: "auto", /);
    const top: string[] = [];
    const program = createProgram();
    program.configureOutput({ writeOut: (s) => top.push(s), writeErr: (s) => top.push(s) });
    program.exitOverride();
    expect(() => program.parse(['--help'], { from: 'user' })).toThrow();
    expect(top.join('').replace(/\s+/g, ' ')).toContain('train [options] [config] Train a ResNet variant as a JSON config says.');
  });

  it('every config field is documented in the help text', () => {
    const chunks: string[] = [];
    const trainCmd = createProgram().commands.find((c) => c.name() === 'train')!;
    trainCmd.configureOutput({ writeOut: (s) => chunks.push(s), writeErr: (s) => chunks.push(s) });
    trainCmd.exitOverride();
    expect(() => trainCmd.parse(['--help'], { from: 'user' })).toThrow();
    const help = chunks.join('');
    const fields = Object.keys(trainConfigSchema.shape);
    expect(fields.length).toBeGreaterThan(20);
    for (const field of fields) {
      expect(help, field).toContain(field);
    }
  });
});
