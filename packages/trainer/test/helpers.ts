import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainConfigInput } from '../src';

/** A fresh output folder per run. */
export const tempOut = (name: string): string => join(mkdtempSync(join(tmpdir(), 'bot-trainer-')), name);

/** A tiny ResNet-D (small stem, width 1/8, one block per stage: ~80k parameters) on the embedded subset, on wasm. */
export function tinyConfig(overrides: Partial<TrainConfigInput> = {}): TrainConfigInput {
  return {
    model: { name: 'resnet18d', options: { stem: 'small', width: 0.125, layers: [1, 1, 1, 1] } },
    data: { source: 'embedded' },
    epochs: 2,
    batchSize: 32,
    baseLr: 0.8,
    warmupEpochs: 0.2,
    schedule: { kind: 'cosine' },
    noBiasDecay: true,
    labelSmoothing: { epsilon: 0.1 },
    backend: 'wasm',
    seed: 7,
    out: tempOut('run'),
    ...overrides,
  };
}

export const quiet = { log: () => {}, progress: false } as const;
