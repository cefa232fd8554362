import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@bag-of-tricks/backend';
import { modelFiles } from '../src/core';
import { saveModel } from '../src/node/model-io';
import { tempOut } from './helpers';
import type { ModelMetadata } from '../src/model-metadata';

// modelFiles (Node-free, Web Crypto; the browser page's download) against saveModel (Node, node:crypto, files):
// the same file names (content hash included) and the same bytes, so the page's download is the CLI's out/model.
beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
});

function dense(): tfl.LayersModel {
  const input = tfl.input({ shape: [6] });
  const hidden = tfl.layers.dense({ units: 5, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }), biasInitializer: tfl.initializers.constant({ value: 0.25 }) }).apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const metadata: ModelMetadata = {
  format: 'bag-of-tricks-model',
  version: 1,
  classNames: ['a', 'b', 'c'],
  preprocessing: { size: 28, resize: 32, crop: 28, channels: 1, mean: [72.94], std: [90.02] },
  model: { name: 'dense', options: {} },
  trainConfig: null,
  gitCommit: null,
  step: 3,
  epochs: 1,
  top1: 0.5,
};

describe('modelFiles (Node-free model files)', () => {
  for (const weights of ['float32', 'float16'] as const) {
    it(`gives the names and bytes saveModel writes (${weights})`, async () => {
      const model = dense();
      const dir = tempOut(`model-files-${weights}`);
      const saved = saveModel(dir, model, metadata, { weights });
      const files = await modelFiles(model, metadata, { weights });
      expect(files.map((f) => f.name)).toEqual(saved.files);
      for (const f of files) expect(Buffer.from(f.bytes).equals(readFileSync(join(dir, f.name))), f.name).toBe(true);
      model.dispose();
    });
  }
});
