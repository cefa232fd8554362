import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, version_layers, type LayersModel } from '@tensorflow/tfjs-layers';
import { registerFileRouter, writeFileAtomic } from '@bag-of-tricks/data';
import { parseModelMetadata, toFloat16, type ModelMetadata } from '../model-metadata';

/** How weights are stored: float32, or IEEE half precision (half the bytes; tfjs decodes it on load). */
export type WeightFormat = 'float32' | 'float16';

/** tfjs's own shard size (tfjs-converter and `tensorflowjs_converter` write 4 MiB shards). */
const SHARD_BYTES = 4 * 1024 * 1024;
const SHARD_RE = /^group1-shard\d+of\d+\.[0-9a-f]{12}\.bin$/;

export interface SavedModel {
  readonly dir: string;
  /** model.json plus shards. */
  readonly files: readonly string[];
  /** Bytes of the weight shards. */
  readonly weightBytes: number;
}

/**
 * The weights of a LayersModel as tfjs's `model.save` names and orders them (`originalName`), read
 * synchronously (so a snapshot is consistent even between two steps), as float32 or float16 bytes.
 */
function encodeModelWeights(model: LayersModel, format: WeightFormat): { specs: tf.io.WeightsManifestEntry[]; bytes: Uint8Array } {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const w of model.weights) {
    const values = w.read().dataSync();
    if (w.dtype !== 'float32') throw new Error(`saveModel: weight ${w.originalName} has dtype ${w.dtype}; only float32 weights are written.`);
    const data = format === 'float16' ? toFloat16(values as Float32Array) : (values as Float32Array);
    parts.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    specs.push({ name: w.originalName, shape: [...(w.shape as number[])], dtype: 'float32', ...(format === 'float16' ? { quantization: { dtype: 'float16' as const } } : {}) });
  }
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  return { specs, bytes };
}

/**
 * Writes `model` as a tfjs LayersModel folder that stock `tf.loadLayersModel` reads (in Node via
 * `registerFileRouter()` of @bag-of-tricks/data, in a browser over HTTP): 4 MiB weight shards named after
 * their content hash, then `model.json` (atomically, with `metadata` as its `userDefinedMetadata`), then the
 * previous save's shards are removed. A reader sees the old model or the new one, never a mix. Synchronous.
 */
export function saveModel(dir: string, model: LayersModel, metadata: ModelMetadata, options: { weights?: WeightFormat } = {}): SavedModel {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const { specs, bytes } = encodeModelWeights(model, options.weights ?? 'float32');
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
  const count = Math.max(1, Math.ceil(bytes.byteLength / SHARD_BYTES));
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `group1-shard${i + 1}of${count}.${hash}.bin`;
    writeFileAtomic(join(abs, name), bytes.subarray(i * SHARD_BYTES, Math.min(bytes.byteLength, (i + 1) * SHARD_BYTES)));
    paths.push(name);
  }
  const modelJSON: tf.io.ModelJSON = {
    modelTopology: model.toJSON(null, false) as object,
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${version_layers}`,
    convertedBy: '@bag-of-tricks/trainer',
    weightsManifest: [{ paths, weights: specs }],
    userDefinedMetadata: metadata as unknown as Record<string, {}>,
  };
  writeFileAtomic(join(abs, 'model.json'), JSON.stringify(modelJSON));
  for (const f of readdirSync(abs)) if (SHARD_RE.test(f) && !paths.includes(f)) rmSync(join(abs, f), { force: true });
  return { dir: abs, files: ['model.json', ...paths], weightBytes: bytes.byteLength };
}

/** `<dir>/model.json` for a folder, the path itself for a .json file. */
export function modelJsonPath(path: string): string {
  const abs = resolve(path.replace(/^file:\/\//, ''));
  return abs.endsWith('.json') ? abs : join(abs, 'model.json');
}

/** True when `path` is a model folder (holds model.json) or a model.json file. */
export function isModelPath(path: string): boolean {
  const json = modelJsonPath(path);
  return existsSync(json) && statSync(json).isFile();
}

/**
 * Loads a model the trainer wrote (a folder or its model.json) with stock `tf.loadLayersModel` through
 * data's file router, and its metadata. The backend must be initialised first. The caller owns the model.
 */
export async function loadModel(path: string): Promise<{ model: LayersModel; metadata: ModelMetadata; path: string }> {
  const json = modelJsonPath(path);
  if (!existsSync(json)) throw new Error(`Model not found: ${json} (give a model folder written by \`bag-of-tricks train\` (out/model) or \`bag-of-tricks export\`).`);
  registerFileRouter();
  const model = await loadLayersModel(`file://${json}`);
  try {
    return { model, metadata: parseModelMetadata(model.getUserDefinedMetadata(), json), path: json };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** `git rev-parse HEAD` in `cwd`, or null (not a git work tree, or git missing). */
export function gitCommit(cwd = process.cwd()): string | null {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return /^[0-9a-f]{40,64}$/.test(out) ? out : null;
  } catch {
    return null;
  }
}
