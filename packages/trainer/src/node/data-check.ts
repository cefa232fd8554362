import { existsSync } from 'node:fs';
import { checkIdxSplits, checkImageFolders, DatasetCheckError, EMBEDDED_FASHION_MNIST_DIR, type EpochStats, type ImageFolderCheck } from '@bag-of-tricks/data';
import type { TrainConfig } from '../config';
import { appendJsonl } from './files';

/** What the check before training found, for loadData and metrics.jsonl. */
export interface DataCheck {
  /** Corrupt files to leave out of each image folder (only with data.skipCorrupt). */
  readonly exclude: { readonly train: readonly string[]; readonly eval: readonly string[] };
  /** The `data-check` line of metrics.jsonl. */
  readonly record: Record<string, unknown>;
}

/** Files listed per split in metrics.jsonl (the count is always whole). */
const MAX_FILES_IN_METRICS = 100;

/**
 * Checks the data from headers only, before the backend starts and long before epoch 1: image folders
 * (same classes in train and eval, no empty class, no corrupt file unless skipCorrupt, sizes within
 * limitInputPixels) and IDX folders (train and test images of one size). Throws with every problem.
 */
export async function checkData(config: TrainConfig, log: (message: string) => void): Promise<DataCheck | null> {
  const d = config.data;
  // A missing folder is loadData's to name (data.dir / data.evalDir / data.eval.dir: folder not found).
  const folders = d.source === 'idx' ? [d.dir] : d.source === 'image-folder' ? [d.dir, d.evalDir] : d.eval ? [d.eval.dir] : [];
  if (!folders.every((f) => existsSync(f))) return null;
  if (d.source === 'idx' || (d.source === 'embedded' && d.eval)) {
    // The embedded training set against the IDX test split that data.eval names.
    const { train, test } = d.source === 'idx' ? checkIdxSplits(d.dir) : checkIdxSplits(EMBEDDED_FASHION_MNIST_DIR, { testDir: d.eval!.dir });
    return { exclude: { train: [], eval: [] }, record: { type: 'data-check', train, test } };
  }
  if (d.source !== 'image-folder') return null;
  let result;
  try {
    result = await checkImageFolders({ train: d.dir, eval: d.evalDir }, { skipCorrupt: d.skipCorrupt ?? false, ...(d.limitInputPixels ? { limitInputPixels: d.limitInputPixels } : {}) });
  } catch (err) {
    if (err instanceof DatasetCheckError) {
      throw new Error(`${err.message}\n(skipCorrupt and limitInputPixels are fields of "data" in the config; nothing was trained.)`);
    }
    throw err;
  }
  const summary = (c: ImageFolderCheck) => ({ images: c.checked - c.corrupt.length, classes: c.classNames.length, skippedCorrupt: c.corrupt.length });
  const skipped = [...result.train.corrupt, ...result.eval.corrupt];
  log(
    `[trainer] data check (headers, ${result.seconds.toFixed(2)} s): train ${result.train.checked} images, eval ${result.eval.checked}, ` +
      `${result.train.classNames.length} classes` +
      (skipped.length ? `; skipCorrupt: left out ${skipped.length} corrupt file(s): ${skipped.slice(0, 5).map((p) => `${p.file} (${p.reason})`).join('; ')}${skipped.length > 5 ? '; …' : ''}` : ''),
  );
  return {
    exclude: { train: result.train.corrupt.map((p) => p.file), eval: result.eval.corrupt.map((p) => p.file) },
    record: {
      type: 'data-check',
      seconds: Math.round(result.seconds * 1000) / 1000,
      skipCorrupt: d.skipCorrupt ?? false,
      train: summary(result.train),
      eval: summary(result.eval),
      skipped: skipped.slice(0, MAX_FILES_IN_METRICS),
    },
  };
}

/**
 * A loader's onEpochEnd that logs and records the images skipped at decode (corrupt past a whole header,
 * with skipCorrupt) as a `skipped` line of metrics.jsonl; silent when none were.
 */
export function recordSkipped(split: 'train' | 'eval', metricsPath: string, log: (message: string) => void): (stats: EpochStats) => void {
  return (stats) => {
    if (stats.skipped.length === 0) return;
    log(`[trainer] ${split}${split === 'train' ? ` epoch ${stats.epoch + 1}` : ''}: skipped ${stats.skipped.length} corrupt image(s) at decode: ${stats.skipped.slice(0, 5).map((s) => s.file).join(', ')}`);
    appendJsonl(metricsPath, { type: 'skipped', split, ...(split === 'train' ? { epoch: stats.epoch } : {}), count: stats.skipped.length, files: stats.skipped.slice(0, MAX_FILES_IN_METRICS).map((s) => ({ file: s.file, reason: s.reason })) });
  };
}
