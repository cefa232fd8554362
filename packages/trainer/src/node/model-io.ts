import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { registerFileRouter, writeFileAtomic } from '@bag-of-tricks/data';
import { encodeModelWeights, modelJSONFor, SHARD_BYTES, SHARD_RE, shardName, type WeightFormat } from '../model-artifacts';
import { parseModelMetadata, type ModelMetadata } from '../model-metadata';

export type { WeightFormat };

export interface SavedModel {
  readonly dir: string;
  /** model.json plus shards. */
  readonly files: readonly string[];
  /** Bytes of the weight shards. */
  readonly weightBytes: number;
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
    const name = shardName(i, count, hash);
    writeFileAtomic(join(abs, name), bytes.subarray(i * SHARD_BYTES, Math.min(bytes.byteLength, (i + 1) * SHARD_BYTES)));
    paths.push(name);
  }
  const modelJSON = modelJSONFor(model, metadata, paths, specs);
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
