import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { registerFileRouter } from '@bag-of-tricks/data';
import { createResNet, loadSafetensors, parseSafetensors, type ResNetName } from '@bag-of-tricks/resnet-variants';
import { checkFingerprint, modelFingerprint } from '../checkpoint';
import { HEAD_LAYER, loadWeightsByName, type NamedWeight } from '../finetune';
import type { ModelMetadata } from '../model-metadata';
import { readCheckpointFile } from './files';
import { isModelPath, modelJsonPath } from './model-io';

/**
 * Rebuilds the model a checkpoint holds (architecture from the metadata the trainer stores in every
 * checkpoint header) with its weights. The backend must be initialised. The caller owns the model.
 */
export function modelFromCheckpoint(path: string): { model: LayersModel; metadata: ModelMetadata } {
  const abs = resolve(path);
  const checkpoint = readCheckpointFile(abs);
  try {
    const metadata = (checkpoint.header as { modelMetadata?: ModelMetadata }).modelMetadata;
    if (!metadata) {
      throw new Error(
        `Checkpoint ${abs} has no model metadata (it predates model export); resume it once with \`bag-of-tricks train --resume ${abs} --stop-after <next step>\` to write one that has.`,
      );
    }
    const model = createResNet(metadata.model.name as ResNetName, metadata.model.options);
    try {
      checkFingerprint(checkpoint.header.fingerprint, modelFingerprint(model, checkpoint.header.fingerprint.model), abs);
      model.setWeights(checkpoint.modelWeights);
    } catch (err) {
      model.dispose();
      throw err;
    }
    return { model, metadata };
  } finally {
    tf.dispose(checkpoint.modelWeights);
    tf.dispose(checkpoint.optimizerWeights.map((w) => w.tensor));
  }
}

export interface InitResult {
  /** Weights copied, and weights left at their fresh initialisation (the classifier when the classes differ). */
  readonly loaded: readonly string[];
  readonly reinitialised: readonly string[];
  readonly source: string;
  readonly kind: 'model' | 'checkpoint' | 'safetensors';
}

async function namedWeightsOf(model: LayersModel): Promise<NamedWeight[]> {
  return Promise.all(model.weights.map(async (w) => ({ name: w.originalName, shape: [...(w.shape as number[])], values: (await w.read().data()) as Float32Array })));
}

/**
 * Fine-tuning's starting point: copies the weights of `from` into `model` by name. `from` is a model folder
 * (or its model.json), a trainer checkpoint (.ckpt) or a PyTorch `.safetensors` file (torchvision or timm
 * names, via resnet-variants' loadSafetensors). When only the number of classes differs, the classifier keeps
 * its fresh initialisation (with `newHead`, always); any other mismatch is refused naming the first weight and both shapes.
 */
export async function initFromPretrained(model: LayersModel, from: string, options: { newHead?: boolean } = {}): Promise<InitResult> {
  const abs = resolve(from.replace(/^file:\/\//, ''));
  const where = `init.from ${abs}`;
  if (abs.endsWith('.safetensors')) {
    if (!existsSync(abs)) throw new Error(`${where}: file not found.`);
    const bytes = new Uint8Array(readFileSync(abs));
    // A classifier of another size is left at its initialisation, as for tfjs sources.
    const fcWeight = parseSafetensors(bytes).tensors.get('fc.weight') ?? parseSafetensors(bytes).tensors.get('module.fc.weight');
    const classes = model.getLayer(HEAD_LAYER).weights.find((w) => w.originalName.endsWith('kernel'))?.shape[1];
    const skip = fcWeight && (options.newHead === true || fcWeight.shape[0] !== classes) ? [HEAD_LAYER] : [];
    try {
      const r = loadSafetensors(model, bytes, { naming: 'auto', skip });
      return { loaded: r.loaded, reinitialised: r.skipped, source: abs, kind: 'safetensors' };
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
  }
  if (abs.endsWith('.ckpt')) {
    const { model: source } = modelFromCheckpoint(abs);
    try {
      return { ...loadWeightsByName(model, await namedWeightsOf(source), where, options), source: abs, kind: 'checkpoint' };
    } finally {
      source.dispose();
    }
  }
  if (isModelPath(abs)) {
    registerFileRouter();
    // Any tfjs LayersModel folder will do (no bag-of-tricks metadata needed): weights are matched by name.
    const source = await loadLayersModel(`file://${modelJsonPath(abs)}`);
    try {
      return { ...loadWeightsByName(model, await namedWeightsOf(source), where, options), source: abs, kind: 'model' };
    } finally {
      source.dispose();
    }
  }
  throw new Error(`${where}: not found, or not a model folder (with model.json), a .ckpt checkpoint or a .safetensors file.`);
}
