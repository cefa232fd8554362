import type * as tf from '@tensorflow/tfjs-core';
import { version_layers, type LayersModel } from '@tensorflow/tfjs-layers';
import { toFloat16, type ModelMetadata } from './model-metadata';

/** How weights are stored: float32, or IEEE half precision (half the bytes; tfjs decodes it on load). */
export type WeightFormat = 'float32' | 'float16';

/** tfjs's own shard size (tfjs-converter and `tensorflowjs_converter` write 4 MiB shards). */
export const SHARD_BYTES = 4 * 1024 * 1024;
/** The trainer's shard names: `group1-shard{i}of{n}.{first 12 hex digits of the weights' sha256}.bin`. */
export const SHARD_RE = /^group1-shard\d+of\d+\.[0-9a-f]{12}\.bin$/;
export const shardName = (i: number, count: number, hash: string): string => `group1-shard${i + 1}of${count}.${hash}.bin`;

/**
 * The weights of a LayersModel as tfjs's `model.save` names and orders them (`originalName`), read
 * synchronously (so a snapshot is consistent even between two steps), as float32 or float16 bytes.
 */
export function encodeModelWeights(model: LayersModel, format: WeightFormat): { specs: tf.io.WeightsManifestEntry[]; bytes: Uint8Array } {
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

/** The model.json the trainer writes (the CLI's out/model, the browser page's download): stock tfjs LayersModel format with our metadata. */
export function modelJSONFor(model: LayersModel, metadata: ModelMetadata, paths: readonly string[], specs: tf.io.WeightsManifestEntry[]): tf.io.ModelJSON {
  return {
    modelTopology: model.toJSON(null, false) as object,
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${version_layers}`,
    convertedBy: '@bag-of-tricks/trainer',
    weightsManifest: [{ paths: [...paths], weights: specs }],
    userDefinedMetadata: metadata as unknown as Record<string, {}>,
  };
}

/**
 * A model as the files `saveModel` writes, in memory and without Node: `model.json` and 4 MiB weight shards
 * named after the SHA-256 of the weights (Web Crypto, in browsers and Node alike). A browser page offers
 * them as downloads; stock `tf.loadLayersModel` reads them back.
 */
export async function modelFiles(model: LayersModel, metadata: ModelMetadata, options: { weights?: WeightFormat } = {}): Promise<{ name: string; bytes: Uint8Array }[]> {
  const { specs, bytes } = encodeModelWeights(model, options.weights ?? 'float32');
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  const hash = Array.from(digest.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join('');
  const count = Math.max(1, Math.ceil(bytes.byteLength / SHARD_BYTES));
  const shards = Array.from({ length: count }, (_, i) => ({ name: shardName(i, count, hash), bytes: bytes.subarray(i * SHARD_BYTES, Math.min(bytes.byteLength, (i + 1) * SHARD_BYTES)) }));
  const json = JSON.stringify(modelJSONFor(model, metadata, shards.map((s) => s.name), specs));
  return [{ name: 'model.json', bytes: new TextEncoder().encode(json) }, ...shards];
}
