import { accessSync, closeSync, constants, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { removeStaleTempFiles, writeFileAtomic } from '@bag-of-tricks/data';
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
  ensureDir(dir, 'checkpoint folder');
  const path = join(dir, `ckpt-${String(meta.step).padStart(8, '0')}.ckpt`);
  const bytes = await encodeCheckpoint(meta, model, optimizer);
  try {
    writeFileAtomic(path, bytes);
  } catch (err) {
    throw fileError(err, path, 'write the checkpoint');
  }
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

/** What an errno means for a training run, and what to do about it. */
const FILE_ERROR_HINTS: Record<string, string> = {
  ENOSPC: 'the disk is full (ENOSPC): free space or choose another --out',
  EDQUOT: 'the disk quota is used up (EDQUOT): free space or choose another --out',
  EROFS: 'the file system is read-only (EROFS): choose a writable --out',
  EACCES: 'permission denied (EACCES): choose a folder you can write to as --out',
  EPERM: 'operation not permitted (EPERM): choose a folder you can write to as --out',
  ENOTDIR: 'a part of the path is a file, not a folder (ENOTDIR): choose another --out',
  EISDIR: 'a folder stands where the file should be (EISDIR): remove it or choose another --out',
};

/** The errno code of a Node fs error, also when wrapped by writeFileAtomic (which keeps it in the message). */
function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return code;
  return /\b(E[A-Z]{3,})\b/.exec(String((err as Error | undefined)?.message ?? err))?.[1];
}

/**
 * A file-system failure as a clear error: names the file, the action and what the errno means, with the fix.
 * The original error is kept as `cause`.
 */
export function fileError(err: unknown, path: string, action: string): Error {
  const code = errnoCode(err);
  const why = (code && FILE_ERROR_HINTS[code]) ?? String((err as Error | undefined)?.message ?? err);
  const wrapped = new Error(`cannot ${action} ${resolve(path)}: ${why}.`, { cause: err });
  (wrapped as NodeJS.ErrnoException).code = code;
  return wrapped;
}

/**
 * mkdir -p with an honest error. Node's recursive mkdir reports ENOENT when the real cause is a read-only
 * file system or a missing permission; this finds the deepest existing ancestor and names that cause.
 */
export function ensureDir(dir: string, what = 'output folder'): void {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
    return;
  } catch (err) {
    let parent = dirname(abs);
    while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
    let cause: unknown = err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      try {
        accessSync(parent, constants.W_OK);
      } catch (accessErr) {
        cause = accessErr;
      }
    }
    throw fileError(cause, abs, `create the ${what}`);
  }
}

/** Deletes the temp files a killed run's atomic writes left in the output and checkpoint folders. */
export function removeStaleFiles(out: string): string[] {
  return [...removeStaleTempFiles(resolve(out)), ...removeStaleTempFiles(checkpointDir(out))];
}

/**
 * Appends one JSON object as one whole line: a failed write (disk full) truncates the file back to its
 * length before, so no cut-off line stays, and the error names the file.
 */
export function appendJsonl(path: string, record: object): void {
  const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
  let fd: number | undefined;
  try {
    fd = openSync(path, 'a');
    const before = fstatSync(fd).size;
    try {
      let written = 0;
      while (written < line.byteLength) written += writeSync(fd, line, written, line.byteLength - written);
    } catch (err) {
      try {
        ftruncateSync(fd, before);
      } catch {
        /* not a regular file (say /dev/full): nothing to repair */
      }
      throw err;
    }
  } catch (err) {
    throw fileError(err, path, 'append to the metrics file');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** What {@link truncateMetrics} did. */
export interface MetricsRepair {
  /** Lines kept (whole JSON lines up to the checkpoint). */
  readonly kept: number;
  /** Lines dropped: written after the checkpoint by the run that was stopped or killed. */
  readonly dropped: number;
  /** Lines that were not whole JSON (a torn tail from a crash or a full disk), dropped. */
  readonly torn: number;
}

/**
 * Cuts `metrics.jsonl` back to what a checkpoint covers, before a resumed run appends to it: every line
 * past the checkpoint (a step or checkpoint after its step, an epoch it has not finished) and everything
 * after such a line is dropped, as are lines that are not whole JSON. The rewrite is atomic.
 */
export function truncateMetrics(path: string, checkpoint: { step: number; epochsDone: number }): MetricsRepair {
  if (!existsSync(path)) return { kept: 0, dropped: 0, torn: 0 };
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  // The last element is '' when the file ends in a newline; anything else there is a torn tail.
  const tail = lines.pop() ?? '';
  const kept: string[] = [];
  let torn = tail.length > 0 ? 1 : 0;
  let dropped = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    let record: { type?: unknown; step?: unknown; epoch?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
      if (record === null || typeof record !== 'object') throw new Error('not an object');
    } catch {
      torn++;
      continue;
    }
    const past =
      (typeof record.step === 'number' && record.step > checkpoint.step) ||
      (record.type === 'epoch' && typeof record.epoch === 'number' && record.epoch >= checkpoint.epochsDone);
    if (past) {
      dropped += lines.length - i;
      break;
    }
    kept.push(line);
  }
  if (dropped > 0 || torn > 0) {
    const content = kept.map((l) => `${l}\n`).join('');
    try {
      writeFileAtomic(path, content);
    } catch (err) {
      throw fileError(err, path, 'repair the metrics file');
    }
  }
  return { kept: kept.length, dropped, torn };
}
