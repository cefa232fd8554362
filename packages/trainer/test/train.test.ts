import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { listCheckpoints, readCheckpointFile, train } from '../src';
import { quiet, tempOut, tinyConfig } from './helpers';

describe('train() on the embedded Fashion-MNIST subset (wasm)', () => {
  beforeAll(async () => {
    await initBackend('wasm', { log: () => {} });
  });

  it('a tiny ResNet-D reaches accuracy far above chance in 374 steps, writes metrics, checkpoints and report, leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const out = tempOut('acc');
    const result = await train(tinyConfig({ out, mixup: { alpha: 0.2, offEpochs: 1 } }), quiet);
    console.log(`tiny resnet18d: ${result.steps} steps, top-1 ${(100 * result.top1).toFixed(2)}%, top-5 ${(100 * result.top5).toFixed(2)}%, ${result.seconds.toFixed(1)} s on ${result.backend}`);
    expect(result.backend).toBe('wasm');
    expect(result.steps).toBe(2 * Math.floor(6000 / 32));
    expect(result.top1).toBeGreaterThan(0.7); // chance is 0.1
    expect(result.top5).toBeGreaterThan(0.95);
    // train() hands the trained model to the caller, who owns it: its weights are the only tensors left.
    expect(tf.memory().numTensors).toBe(before + result.model.weights.length);
    result.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const lines = readFileSync(result.metricsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(lines.filter((l) => l.type === 'step')).toHaveLength(result.steps);
    expect(lines.filter((l) => l.type === 'epoch')).toHaveLength(2);
    expect(lines[0]).toMatchObject({ type: 'start', excludedFromDecay: expect.arrayContaining(['bn1/gamma', 'fc/bias']) });
    const html = readFileSync(result.reportPath!, 'utf8');
    expect(html.match(/<svg/g)?.length).toBe(4);
    expect(listCheckpoints(out)).toHaveLength(2);
  });

  it('the same seed gives the same loss curve; a run stopped at step k and resumed ends on the same loss', async () => {
    const config = (out: string) => tinyConfig({ out, mixup: { alpha: 0.2 }, checkpoint: { every: 25, keep: 2 } });
    const k = 150;
    const end = 200; // crosses the epoch boundary at 187, with its evaluation
    const a = await train(config(tempOut('a')), { ...quiet, stopAfterStep: end });
    const b = await train(config(tempOut('b')), { ...quiet, stopAfterStep: end });
    a.model.dispose();
    b.model.dispose();
    expect(b.history.steps.map((s) => s.loss)).toEqual(a.history.steps.map((s) => s.loss));

    const outC = tempOut('c');
    const first = await train(config(outC), { ...quiet, stopAfterStep: k });
    first.model.dispose();
    expect(first.stopped).toBe(true);
    expect(first.steps).toBe(k);
    const resumed = await train(config(outC), { ...quiet, resume: true, stopAfterStep: end });
    resumed.model.dispose();
    expect(resumed.steps).toBe(end);
    const lossA = a.history.steps.map((s) => s.loss);
    const lossC = resumed.history.steps.map((s) => s.loss);
    expect(lossC).toHaveLength(end);
    for (let i = 0; i < end; i++) expect(Math.abs((lossC[i] as number) - (lossA[i] as number))).toBeLessThan(1e-5);
    expect(resumed.history.epochs[0]!.top1).toBeCloseTo(a.history.epochs[0]!.top1, 6);
    expect(resumed.history.steps.map((s) => s.lr)).toEqual(a.history.steps.map((s) => s.lr));
    // Only the newest `keep` checkpoints remain.
    expect(listCheckpoints(outC).length).toBeLessThanOrEqual(2);
  });

  it('a NaN loss stops the run with a message naming the step and the last good checkpoint', async () => {
    const out = tempOut('nan');
    const run = train(tinyConfig({ out, baseLr: 1e30, warmupEpochs: 0, linearScaling: false, checkpoint: { every: 1, keep: 2 } }), quiet);
    const err = (await run.catch((e: unknown) => e)) as Error;
    const m = /Training diverged: (?:the loss is (?:NaN|Infinity|-Infinity) at step (\d+)|after step (\d+) \(epoch 1\) the weights or optimizer state hold NaN or Infinity)/.exec(err.message);
    expect(m, err.message).not.toBeNull();
    const step = Number(m![1] ?? m![2]);
    // The newest checkpoint is the step before, and it is finite (readCheckpointFile refuses NaN/Infinity).
    const saved = listCheckpoints(out);
    if (step === 1) expect(err.message).toContain('No checkpoint was written before this step');
    else {
      expect(err.message).toContain(`Last good checkpoint: ${saved.at(-1)}`);
      expect(saved.at(-1)).toMatch(new RegExp(`ckpt-0*${step - 1}\\.ckpt$`));
      const c = readCheckpointFile(saved.at(-1)!);
      tf.dispose([...c.modelWeights, ...c.optimizerWeights.map((w) => w.tensor)]);
    }
    expect(existsSync(out)).toBe(true);
  });
});
