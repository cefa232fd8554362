import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyConfig } from './helpers';

// What a user runs: the built CLI in a fresh process and a fresh folder, no backend loaded before it starts.
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const EMBEDDED = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'assets', 'fashion-mnist-subset');

function train(config: object): { status: number | null; out: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bot-data-check-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, out: join(dir, 'run') }));
  const r = spawnSync(process.execPath, [cli, 'train', 'config.json', '--no-progress', '--no-report'], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}`, dir };
}

const metrics = (dir: string) =>
  readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** A valid all-black 1-bit greyscale PNG built by hand: 16000 x 16000 deflates to ~31 KB. */
function flatPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8);
  const rows = Buffer.alloc((Math.ceil(width / 8) + 1) * height);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

let root: string;
let jpeg: (tint: number[]) => Promise<Buffer>;

/** root/<name>/{train,val}/{red,green,blue}: 8 train and 3 eval JPEGs per class, told apart by colour. */
async function folder(name: string): Promise<{ train: string; val: string }> {
  for (const [split, count] of [['train', 8], ['val', 3]] as const) {
    for (const [cls, tint] of [['red', [200, 60, 50]], ['green', [50, 200, 60]], ['blue', [40, 70, 210]]] as const) {
      mkdirSync(join(root, name, split, cls), { recursive: true });
      for (let i = 0; i < count; i++) writeFileSync(join(root, name, split, cls, `${i}.jpg`), await jpeg([...tint]));
    }
  }
  return { train: join(root, name, 'train'), val: join(root, name, 'val') };
}

const imageFolderConfig = (dirs: { train: string; val: string }, extra: object = {}) =>
  tinyConfig({ data: { source: 'image-folder', dir: dirs.train, evalDir: dirs.val, size: 16, ...extra }, epochs: 2, batchSize: 8 });

beforeAll(async () => {
  expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true);
  root = mkdtempSync(join(tmpdir(), 'bot-data-check-folders-'));
  jpeg = (tint) => {
    const pixels = Buffer.alloc(20 * 18 * 3);
    for (let p = 0; p < pixels.length; p++) pixels[p] = Math.max(0, Math.min(255, (tint[p % 3] as number) + ((p * 7) % 31) - 15));
    return sharp(pixels, { raw: { width: 20, height: 18, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
  };
});

describe('bag-of-tricks train checks the data before epoch 1 (CLI)', () => {
  it('renamed eval class, empty train class, corrupt file, truncated eval JPEG and a 16000² PNG: one error, every path, exit 1, nothing trained', async () => {
    const dirs = await folder('bad');
    // 'green' renamed in eval; train gets an extra, empty class; a garbage file; a cut JPEG in eval; a huge flat PNG.
    renameSync(join(dirs.val, 'green'), join(dirs.val, 'greens'));
    mkdirSync(join(dirs.train, 'white'));
    writeFileSync(join(dirs.train, 'red', 'garbage.jpg'), 'not an image');
    const whole = readFileSync(join(dirs.val, 'blue', '0.jpg'));
    const cut = whole.subarray(0, Math.floor(whole.length / 2));
    writeFileSync(join(dirs.val, 'blue', 'cut.jpg'), cut);
    writeFileSync(join(dirs.train, 'blue', 'huge.png'), flatPng(16000, 16000));

    const r = train(imageFolderConfig(dirs));
    expect(r.status, r.out).toBe(1);
    expect(r.out).toContain('bag-of-tricks: The data failed the check before training (5 problems):');
    expect(r.out).toContain(`the class folders of train (${dirs.train}) and eval (${dirs.val}) differ: only in train: 'green', 'white'; only in eval: 'greens'.`);
    expect(r.out).toContain(`train: empty class folder(s), no readable image: ${join(dirs.train, 'white')};`);
    expect(r.out).toMatch(new RegExp(`train: 1 corrupt image\\(s\\): ${join(dirs.train, 'red', 'garbage.jpg')} \\(.+\\); re-export or delete the file\\(s\\), or set skipCorrupt: true`));
    expect(r.out).toContain(`eval: 1 corrupt image(s): ${join(dirs.val, 'blue', 'cut.jpg')} (truncated: the JPEG ends at byte ${cut.length} without its end-of-image marker (FF D9))`);
    expect(r.out).toContain(`train: 1 image(s) too large: ${join(dirs.train, 'blue', 'huge.png')} (16000x16000 = 256,000,000 pixels, over limitInputPixels (89,478,485))`);
    expect(r.out).not.toContain('Unknown error');
    // Refused before the backend starts, so long before epoch 1.
    expect(r.out).not.toMatch(/\[bag-of-tricks\] backend|epoch 1/);
  }, 120_000);

  it('IDX test images of 14x56 with 28x28 train images (same byte count) are refused naming both files and shapes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bot-idx-'));
    for (const f of ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) copyFileSync(join(EMBEDDED, f), join(dir, f));
    const test = gunzipSync(readFileSync(join(EMBEDDED, 't10k-images-idx3-ubyte.gz')));
    test.writeUInt32BE(14, 8); // [1000, 28, 28] -> [1000, 14, 56]: same bytes
    test.writeUInt32BE(56, 12);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(test));
    const r = train(tinyConfig({ data: { source: 'idx', dir }, epochs: 1 }));
    expect(r.status, r.out).toBe(1);
    expect(r.out).toContain(
      `bag-of-tricks: IDX train and test images differ in size: ${join(dir, 'train-images-idx3-ubyte.gz')} holds 6000 images of 28x28, ` +
        `${join(dir, 't10k-images-idx3-ubyte.gz')} holds 1000 of 14x56 (the same bytes per image, laid out differently)`,
    );
    expect(r.out).not.toMatch(/\[bag-of-tricks\] backend|epoch 1/);
  }, 120_000);

  it('skipCorrupt: corrupt files found by the check are left out, one that fails at decode is skipped; counted, logged, in metrics.jsonl', async () => {
    const dirs = await folder('skip');
    const garbage = join(dirs.train, 'red', 'garbage.jpg');
    writeFileSync(garbage, 'not an image');
    const whole = readFileSync(join(dirs.val, 'blue', '0.jpg'));
    const cut = join(dirs.val, 'blue', 'cut.jpg');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    // A PNG with a whole header and end but damaged pixel data: only the decoder can tell.
    const noise = Buffer.from(Array.from({ length: 40 * 36 * 3 }, (_, i) => (i * 37) % 251));
    const png = Buffer.from(await sharp(noise, { raw: { width: 40, height: 36, channels: 3 } }).png().toBuffer());
    for (let k = 0; k < 40; k++) png[Math.floor(png.length / 2) + k]! ^= 0x5a;
    const damaged = join(dirs.train, 'green', 'damaged.png');
    writeFileSync(damaged, png);

    const r = train({ ...imageFolderConfig(dirs, { skipCorrupt: true }), batchSize: 5 });
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/\[trainer\] data check \(headers, [\d.]+ s\): train 26 images, eval 10, 3 classes; skipCorrupt: left out 2 corrupt file\(s\)/);
    expect(r.out).toContain(`[trainer] train epoch 1: skipped 1 corrupt image(s) at decode: ${damaged}`);
    expect(r.out).toContain(`[trainer] train epoch 2: skipped 1 corrupt image(s) at decode: ${damaged}`);
    const lines = metrics(r.dir);
    const start = lines.find((l) => l.type === 'start')!;
    expect(start.stepsPerEpoch).toBe(5); // 24 good + the damaged PNG (the garbage file is left out) = 25, batches of 5
    const check = lines.find((l) => l.type === 'data-check')!;
    expect(check).toMatchObject({ skipCorrupt: true, train: { images: 25, classes: 3, skippedCorrupt: 1 }, eval: { images: 9, classes: 3, skippedCorrupt: 1 } });
    expect((check.skipped as { file: string }[]).map((s) => s.file)).toEqual([garbage, cut]);
    // 25 images in 5 full batches: the damaged PNG is read (and skipped) once per epoch.
    expect(lines.filter((l) => l.type === 'skipped')).toMatchObject([
      { split: 'train', epoch: 0, count: 1, files: [{ file: damaged }] },
      { split: 'train', epoch: 1, count: 1, files: [{ file: damaged }] },
    ]);
    expect(lines.filter((l) => l.type === 'epoch')).toHaveLength(2);
  }, 120_000);
});
