import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import sharp from 'sharp';
import { join } from 'node:path';
import { CORRUPT_FIX, pixelLimitProblem, resolveLimitInputPixels, sniffImageFormat, TAIL_BYTES, TOO_LARGE_FIX, truncationProblem } from './image-checks';
import { DEFAULT_IMAGE_EXTENSIONS, imageHeaderSize, listImageFolder } from './image-folder';

export interface CheckImageFoldersOptions {
  /** File extensions taken as images (default .jpg .jpeg .png .webp), as for `imageFolderDataset`. */
  extensions?: readonly string[];
  /** Most pixels per image (default `DEFAULT_LIMIT_INPUT_PIXELS`); larger images are an error. */
  limitInputPixels?: number;
  /** Report corrupt files in the result (for `imageFolderDataset`'s `exclude`) instead of failing. */
  skipCorrupt?: boolean;
  /** Files checked at once (default 8): header reads are synchronous, sharp's fallbacks run on libuv's pool. */
  concurrency?: number;
  /** Paths listed per kind of problem in the error (default 20); the rest are counted. */
  maxListed?: number;
}

export interface ImageProblem {
  readonly file: string;
  readonly reason: string;
}

/** What the header-only pass found in one image folder. */
export interface ImageFolderCheck {
  readonly root: string;
  readonly classNames: readonly string[];
  /** Readable images per class (corrupt ones not counted), in class order. */
  readonly counts: readonly number[];
  /** Corrupt files per class, in class order. */
  readonly corruptCounts: readonly number[];
  /** Image files checked (every file with an image extension). */
  readonly checked: number;
  /** Files whose header or end is damaged (or that sharp cannot read at all). */
  readonly corrupt: readonly ImageProblem[];
  /** Images over `limitInputPixels`. */
  readonly tooLarge: readonly ImageProblem[];
  readonly seconds: number;
}

/** Thrown when the data fail the check; `problems` holds one line per problem (each names paths and the fix). */
export class DatasetCheckError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`The data failed the check before training (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'DatasetCheckError';
  }
}

const HEAD_BYTES = 16 * 1024;

/** Header and end of one file, read without decoding; returns its problem, if any. */
async function checkFile(file: string, limit: number): Promise<{ kind: 'corrupt' | 'tooLarge'; reason: string } | null> {
  let size: number;
  let head: Buffer;
  const tail = Buffer.alloc(TAIL_BYTES);
  let tailLength = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      size = fstatSync(fd).size;
      head = Buffer.alloc(Math.min(HEAD_BYTES, size));
      readSync(fd, head, 0, head.length, 0);
      tailLength = readSync(fd, tail, 0, Math.min(TAIL_BYTES, size), Math.max(0, size - TAIL_BYTES));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return { kind: 'corrupt', reason: `cannot read the file (${(err as Error).message})` };
  }
  if (size === 0) return { kind: 'corrupt', reason: 'empty file (0 bytes)' };
  const format = sniffImageFormat(head);
  const truncated = truncationProblem(format, head, tail.subarray(0, tailLength), size);
  // JPEG SOF / PNG IHDR parsed here (~10x faster than a sharp round trip); sharp's metadata() for the rest.
  let dims = imageHeaderSize(head);
  if (!dims) {
    try {
      const meta = await sharp(file, { limitInputPixels: false }).metadata();
      if (!meta.width || !meta.height) return { kind: 'corrupt', reason: 'no image dimensions in the header' };
      dims = { width: meta.width, height: meta.height };
    } catch (err) {
      if (truncated) return { kind: 'corrupt', reason: truncated };
      const message = (err as Error).message.replace(/\s+$/, '');
      const shown = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      return { kind: 'corrupt', reason: /^Unknown error\.?$/.test(message) ? `unrecognised image data (starts ${shown})` : `${message} (starts ${shown})` };
    }
  }
  const tooLarge = pixelLimitProblem(dims.width, dims.height, limit);
  if (tooLarge) return { kind: 'tooLarge', reason: tooLarge };
  if (truncated) {
    // Some valid files carry bytes after their end marker: only a file the decoder also refuses is corrupt.
    try {
      await sharp(file, { failOn: 'truncated', sequentialRead: true, limitInputPixels: limit }).raw().toBuffer();
    } catch {
      return { kind: 'corrupt', reason: truncated };
    }
  }
  return null;
}

/**
 * Checks one image folder by reading each image's header and last bytes (no decode): format, size
 * against `limitInputPixels`, and a cut-off end. Does not throw for bad files; see `checkImageFolders`.
 * Damage inside the compressed data, past a whole header and end, shows only at decode time.
 */
export async function checkImageFolder(root: string, options: CheckImageFoldersOptions = {}): Promise<ImageFolderCheck> {
  const started = performance.now();
  const limit = resolveLimitInputPixels(options.limitInputPixels, 'checkImageFolder');
  const concurrency = options.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`checkImageFolder: concurrency must be a positive integer, got ${concurrency}.`);
  const listing = listImageFolder(root, options.extensions ?? DEFAULT_IMAGE_EXTENSIONS, 'checkImageFolder');
  const counts = listing.classNames.map(() => 0);
  const corruptCounts = listing.classNames.map(() => 0);
  const problems: ({ kind: 'corrupt' | 'tooLarge'; reason: string } | null)[] = new Array(listing.files.length).fill(null);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < listing.files.length) {
      const i = next++;
      problems[i] = await checkFile(listing.files[i] as string, limit);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, listing.files.length) }, worker));
  const corrupt: ImageProblem[] = [];
  const tooLarge: ImageProblem[] = [];
  problems.forEach((p, i) => {
    const file = listing.files[i] as string;
    if (p?.kind === 'corrupt') {
      corrupt.push({ file, reason: p.reason });
      corruptCounts[listing.labels[i] as number]! += 1;
    } else {
      if (p?.kind === 'tooLarge') tooLarge.push({ file, reason: p.reason });
      counts[listing.labels[i] as number]! += 1;
    }
  });
  return { root, classNames: listing.classNames, counts, corruptCounts, checked: listing.files.length, corrupt, tooLarge, seconds: (performance.now() - started) / 1000 };
}

function listed(items: readonly ImageProblem[], max: number): string {
  const shown = items.slice(0, max).map((p) => `${p.file} (${p.reason})`);
  return shown.join('; ') + (items.length > max ? `; and ${items.length - max} more` : '');
}

/**
 * The check before training, on the train and eval folders: the same class folders in both (labels are
 * indices into the sorted names, so a renamed folder would swap them), no empty class, no corrupt file
 * (unless `skipCorrupt`: then they are returned for `imageFolderDataset`'s `exclude`), no image over
 * `limitInputPixels`. Throws one `DatasetCheckError` listing every problem with paths and fixes.
 */
export async function checkImageFolders(
  folders: { train: string; eval: string },
  options: CheckImageFoldersOptions = {},
): Promise<{ train: ImageFolderCheck; eval: ImageFolderCheck; seconds: number }> {
  const started = performance.now();
  const maxListed = options.maxListed ?? 20;
  // One after the other: each already keeps `concurrency` files in flight.
  const train = await checkImageFolder(folders.train, options);
  const evalCheck = await checkImageFolder(folders.eval, options);
  const problems: string[] = [];
  const onlyTrain = train.classNames.filter((c) => !evalCheck.classNames.includes(c));
  const onlyEval = evalCheck.classNames.filter((c) => !train.classNames.includes(c));
  if (onlyTrain.length > 0 || onlyEval.length > 0) {
    const names = (list: string[]) => (list.length ? list.map((c) => `'${c}'`).join(', ') : 'none');
    problems.push(
      `the class folders of train (${folders.train}) and eval (${folders.eval}) differ: only in train: ${names(onlyTrain)}; only in eval: ${names(onlyEval)}. ` +
        `Labels are the index of each folder name in sorted order, so a renamed or missing folder swaps them; give both the same class folders`,
    );
  }
  for (const [split, check] of [['train', train], ['eval', evalCheck]] as const) {
    const empty = check.classNames.flatMap((c, i) => (check.counts[i] === 0 ? [{ c, corrupt: check.corruptCounts[i] as number }] : []));
    if (empty.length > 0) {
      problems.push(
        `${split}: empty class folder(s), no readable image: ` +
          empty.map(({ c, corrupt }) => `${join(check.root, c)}${corrupt ? ` (${corrupt} corrupt)` : ''}`).join(', ') +
          `; add images (${(options.extensions ?? DEFAULT_IMAGE_EXTENSIONS).join(' ')}) or remove the folder from both train and eval`,
      );
    }
    if (check.corrupt.length > 0 && !options.skipCorrupt) {
      problems.push(`${split}: ${check.corrupt.length} corrupt image(s): ${listed(check.corrupt, maxListed)}; ${CORRUPT_FIX}`);
    }
    if (check.tooLarge.length > 0) {
      problems.push(`${split}: ${check.tooLarge.length} image(s) too large: ${listed(check.tooLarge, maxListed)}; ${TOO_LARGE_FIX}`);
    }
  }
  if (problems.length > 0) throw new DatasetCheckError(problems);
  return { train, eval: evalCheck, seconds: (performance.now() - started) / 1000 };
}
