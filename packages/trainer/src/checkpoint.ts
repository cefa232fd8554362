import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { RngState } from '@bag-of-tricks/core';
import type { TrainConfig } from './config';

/** What identifies a model's weights: names (numeric suffixes stripped) and shapes, in order. */
export interface ModelFingerprint {
  readonly model: string;
  readonly weights: readonly { readonly name: string; readonly shape: readonly number[] }[];
}

/** One stored tensor: where its bytes sit in the file. */
interface TensorEntry {
  readonly group: 'model' | 'optimizer';
  readonly name: string;
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface StepRecord {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
}

export interface EpochRecord {
  epoch: number;
  step: number;
  trainLoss: number;
  top1: number;
  top5: number;
  evalLoss: number;
  lr: number;
  seconds: number;
}

/** The run's metrics so far, kept in checkpoints so a resumed run's report covers the whole curve. */
export interface History {
  steps: StepRecord[];
  epochs: EpochRecord[];
}

/** Everything besides tensors that a checkpoint holds. */
export interface CheckpointMeta {
  /** Optimiser steps done. */
  readonly step: number;
  /** The epoch the next step belongs to (0-based). */
  readonly epoch: number;
  /** Batches of `epoch` already trained; a resumed run skips them (the order is a function of (seed, epoch)). */
  readonly batchInEpoch: number;
  /**
   * Checkpoints written before all augmentation moved into the loader held the loop's augmentation generator
   * (core `Rng.getState`); it is no longer read or written: every draw is a function of (seed, epoch, position).
   */
  readonly rng?: RngState;
  readonly config: TrainConfig;
  readonly fingerprint: ModelFingerprint;
  /** The optimiser's class (`Momentum`, `SGD`, `Adam`). */
  readonly optimizer: string;
  readonly history: History;
}

export interface CheckpointHeader extends CheckpointMeta {
  readonly format: 'bag-of-tricks-checkpoint';
  readonly version: 1;
  readonly tensors: readonly TensorEntry[];
}

/** A checkpoint in memory: its header and the tensors' values. */
export interface Checkpoint {
  readonly header: CheckpointHeader;
  readonly modelWeights: tf.Tensor[];
  /** `optimizer.getWeights()`: the iteration count first, then the slots in tfjs's order. */
  readonly optimizerWeights: NamedTensor[];
}

const MAGIC = 'BOTCKPT1';

/** tfjs's `{ name, tensor }` pair of `optimizer.getWeights()`. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Names and shapes of all model weights (BN moving statistics included), independent of tfjs's `_1` suffixes. */
export function modelFingerprint(model: LayersModel, modelName: string): ModelFingerprint {
  return {
    model: modelName,
    weights: model.weights.map((w) => ({ name: w.originalName.replace(/_\d+(?=\/|$)/g, ''), shape: [...w.shape] as number[] })),
  };
}

/** Throws a clear error when a checkpoint was written for another model. */
export function checkFingerprint(saved: ModelFingerprint, current: ModelFingerprint, where: string): void {
  const fmt = (w?: { name: string; shape: readonly number[] }) => (w ? `${w.name} [${w.shape.join(', ')}]` : 'nothing');
  if (saved.weights.length !== current.weights.length || saved.model !== current.model) {
    throw new Error(
      `Checkpoint ${where} is from another model: it holds ${saved.weights.length} weights of model '${saved.model}', ` +
        `but this run builds '${current.model}' with ${current.weights.length} weights.`,
    );
  }
  saved.weights.forEach((w, i) => {
    const c = current.weights[i];
    if (!c || c.name !== w.name || c.shape.length !== w.shape.length || c.shape.some((d, k) => d !== w.shape[k])) {
      throw new Error(
        `Checkpoint ${where} is from another model ('${saved.model}'): weight #${i} is ${fmt(w)} there but ${fmt(c)} in this model.`,
      );
    }
  });
}

/** Serialises a checkpoint to one buffer: magic, header length, JSON header, then the raw tensor bytes. */
export async function encodeCheckpoint(meta: CheckpointMeta, model: LayersModel, optimizer: tf.Optimizer): Promise<Uint8Array> {
  const optimizerWeights = await optimizer.getWeights();
  const items: { group: 'model' | 'optimizer'; name: string; tensor: tf.Tensor }[] = [
    ...model.weights.map((w) => ({ group: 'model' as const, name: w.name, tensor: w.read() as tf.Tensor })),
    ...optimizerWeights.map((w) => ({ group: 'optimizer' as const, name: w.name, tensor: w.tensor })),
  ];
  const tensors: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  const nonFinite: string[] = [];
  let offset = 0;
  try {
    for (const { group, name, tensor } of items) {
      const dtype = tensor.dtype === 'int32' ? 'int32' : 'float32';
      if (tensor.dtype !== 'int32' && tensor.dtype !== 'float32') throw new Error(`Checkpoint: cannot store ${name} of dtype ${tensor.dtype}.`);
      const data = (await tensor.data()) as Float32Array | Int32Array;
      if (dtype === 'float32' && !allFinite(data)) nonFinite.push(`${group === 'model' ? '' : 'optimizer '}${name}`);
      const bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      tensors.push({ group, name, shape: [...tensor.shape], dtype, byteOffset: offset, byteLength: bytes.byteLength });
      chunks.push(bytes);
      offset += bytes.byteLength;
    }
  } finally {
    // The iteration count is a fresh scalar from getWeights; the slots are the optimiser's own variables.
    optimizerWeights[0]?.tensor.dispose();
  }
  // A checkpoint is a state to resume from: one holding NaN/Infinity would only diverge again.
  if (nonFinite.length > 0) throw new NonFiniteStateError(`step ${meta.step}`, nonFinite, items.length);
  const header: CheckpointHeader = { format: 'bag-of-tricks-checkpoint', version: 1, ...meta, tensors };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const start = align8(12 + headerBytes.byteLength);
  const out = new Uint8Array(start + offset);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, headerBytes.byteLength, true);
  out.set(headerBytes, 12);
  let at = start;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/** True when every value is finite (no NaN, no ±Infinity). */
function allFinite(values: Float32Array | Int32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i] as number)) return false;
  return true;
}

/** A model or optimiser state holding NaN or Infinity: refused as a checkpoint, to write or to resume from. */
export class NonFiniteStateError extends Error {
  constructor(
    readonly where: string,
    /** The tensors holding NaN or Infinity (optimiser slots prefixed with 'optimizer '). */
    readonly tensors: readonly string[],
    readonly total: number,
  ) {
    super(
      `${where}: ${tensors.length} of ${total} tensors hold NaN or Infinity (${tensors.slice(0, 5).join(', ')}` +
        `${tensors.length > 5 ? `, … ${tensors.length - 5} more` : ''}); the training diverged before it.`,
    );
    this.name = 'NonFiniteStateError';
  }
}

/**
 * Reads only the header of a buffer written by {@link encodeCheckpoint}: no tensors are made, so it works
 * before any tfjs backend exists. Checks the magic bytes, the format and that every tensor lies inside
 * `totalBytes` (the file's size; defaults to the buffer's length). `where` names the file in errors.
 */
export function decodeCheckpointHeader(bytes: Uint8Array, where: string, totalBytes = bytes.byteLength): CheckpointHeader {
  if (bytes.byteLength < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new Error(`${where} is not a bag-of-tricks checkpoint (bad magic bytes; is it truncated or another file?).`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.byteLength) throw new Error(`${where} is truncated: its header runs past the end of the file.`);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as CheckpointHeader;
  } catch (err) {
    throw new Error(`${where}: the checkpoint header is not valid JSON (${(err as Error).message}).`);
  }
  if (header.format !== 'bag-of-tricks-checkpoint' || header.version !== 1) {
    throw new Error(`${where}: unsupported checkpoint format ${header.format} v${header.version}.`);
  }
  const start = checkpointDataStart(headerLength);
  for (const t of header.tensors) {
    if (start + t.byteOffset + t.byteLength > totalBytes) throw new Error(`${where} is truncated: tensor ${t.name} runs past the end of the file.`);
  }
  return header;
}

/** Byte offset of the first tensor in a checkpoint whose JSON header is `headerLength` bytes. */
export const checkpointDataStart = (headerLength: number): number => align8(12 + headerLength);

/** Parses a buffer written by {@link encodeCheckpoint}; `where` names it in errors. The caller owns the tensors. */
export function decodeCheckpoint(bytes: Uint8Array, where: string): Checkpoint {
  const header = decodeCheckpointHeader(bytes, where);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  const start = checkpointDataStart(headerLength);
  const modelWeights: tf.Tensor[] = [];
  const optimizerWeights: NamedTensor[] = [];
  const nonFinite = header.tensors.filter((t) => {
    if (t.dtype !== 'float32') return false;
    const begin = bytes.byteOffset + start + t.byteOffset;
    // Aligned views need an aligned offset; checkpoints align the data start to 8 bytes.
    const values = begin % 4 === 0 ? new Float32Array(bytes.buffer, begin, t.byteLength / 4) : new Float32Array(bytes.slice(begin - bytes.byteOffset, begin - bytes.byteOffset + t.byteLength).buffer);
    return !allFinite(values);
  });
  if (nonFinite.length > 0) {
    throw new NonFiniteStateError(
      `Checkpoint ${where} cannot be resumed from (it was written by a diverging run, before checkpoints were checked)`,
      nonFinite.map((t) => `${t.group === 'model' ? '' : 'optimizer '}${t.name}`),
      header.tensors.length,
    );
  }
  for (const t of header.tensors) {
    const begin = start + t.byteOffset;
    const copy = bytes.slice(begin, begin + t.byteLength).buffer;
    const values = t.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
    const tensor = tf.tensor(values, t.shape, t.dtype);
    if (t.group === 'model') modelWeights.push(tensor);
    else optimizerWeights.push({ name: t.name, tensor });
  }
  return { header, modelWeights, optimizerWeights };
}

/**
 * Loads a checkpoint's model weights (BN moving statistics included) and optimiser slots into a freshly
 * built model and optimiser, after checking the fingerprint. Disposes the checkpoint's tensors.
 */
export async function restoreCheckpoint(
  checkpoint: Checkpoint,
  model: LayersModel,
  optimizer: tf.Optimizer,
  current: ModelFingerprint,
  where: string,
): Promise<void> {
  try {
    checkFingerprint(checkpoint.header.fingerprint, current, where);
    if (checkpoint.header.optimizer !== optimizer.getClassName()) {
      throw new Error(
        `Checkpoint ${where} holds ${checkpoint.header.optimizer} optimiser state, but this run uses ${optimizer.getClassName()}.`,
      );
    }
    model.setWeights(checkpoint.modelWeights);
    if (checkpoint.optimizerWeights.length > 0) await optimizer.setWeights(checkpoint.optimizerWeights);
  } finally {
    tf.dispose(checkpoint.modelWeights);
    tf.dispose(checkpoint.optimizerWeights.map((w) => w.tensor));
  }
}
