import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { writeFileAtomic } from '@bag-of-tricks/data';
import { decodeCheckpoint, decodeCheckpointHeader, encodeCheckpoint, type Checkpoint, type CheckpointHeader, type CheckpointMeta } from '../checkpoint';

const CHECKPOINT_RE = /^ckpt-(\d+)\.ckpt$/;

/** The checkpoint folder of a run. */
export const checkpointDir = (out: string): string => join(resolve(out), 'checkpoints');

/** Checkpoint files of a run, oldest first (by step). */
export function listCheckpoints(out: string): string[] {
  const dir = checkpointDir(out);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => ({ f, m: CHECKPOINT_RE.exec(f) }))
    .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
    .sort((a, b) => Number(a.m[1]) - Number(b.m[1]))
    .map((x) => join(dir, x.f));
}

/** The newest checkpoint of a run, or null. */
export function latestCheckpoint(out: string): string | null {
  return listCheckpoints(out).at(-1) ?? null;
}

/**
 * Writes `ckpt-<step>.ckpt` atomically (temp file + rename: a crash leaves the old set intact), then
 * deletes all but the newest `keep`. Returns the path.
 */
export async function saveCheckpointFile(
  out: string,
  meta: CheckpointMeta,
  model: LayersModel,
  optimizer: tf.Optimizer,
  keep: number,
): Promise<string> {
  const dir = checkpointDir(out);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `ckpt-${String(meta.step).padStart(8, '0')}.ckpt`);
  writeFileAtomic(path, await encodeCheckpoint(meta, model, optimizer));
  const all = listCheckpoints(out);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old, { force: true });
  return path;
}

/** Reads a checkpoint file; a missing or foreign file fails with its path in the message. */
export function readCheckpointFile(path: string): Checkpoint {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`Checkpoint not found: ${abs}`);
  return decodeCheckpoint(new Uint8Array(readFileSync(abs)), abs);
}

/**
 * Reads and checks only a checkpoint file's header (config, position, tensor table), without making
 * tensors: usable before a tfjs backend is initialised. A missing, foreign or truncated file fails with its path.
 */
export function readCheckpointHeader(path: string): CheckpointHeader {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`Checkpoint not found: ${abs}`);
  const fd = openSync(abs, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = new Uint8Array(Math.min(size, 12));
    readSync(fd, prefix, 0, prefix.byteLength, 0);
    const headerLength = prefix.byteLength === 12 ? new DataView(prefix.buffer).getUint32(8, true) : 0;
    const bytes = new Uint8Array(Math.min(size, 12 + headerLength));
    readSync(fd, bytes, 0, bytes.byteLength, 0);
    return decodeCheckpointHeader(bytes, abs, size);
  } finally {
    closeSync(fd);
  }
}

/** Appends one JSON object as a line. */
export function appendJsonl(path: string, record: object): void {
  appendFileSync(path, `${JSON.stringify(record)}\n`);
}
