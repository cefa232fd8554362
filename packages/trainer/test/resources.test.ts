import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { appendJsonl, ensureDir, fileError, truncateMetrics } from '../src/node/files';
import { describeResourceError } from '../src/node/resources';
import { tempOut, tinyConfig } from './helpers';

// BOT_TRAINER_CLI runs these tests against another build (say, the one before a fix).
const cli = process.env.BOT_TRAINER_CLI ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [cli, 'train', ...args, '--no-progress', '--no-report'], { encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const errno = (code: string, syscall: string, path?: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: ${syscall}${path ? ` '${path}'` : ''}`), { code, syscall, ...(path ? { path } : {}) });

const ctx = { backend: 'wasm', batchSize: 6000, evalBatchSize: 500, trainSize: 6000 };

/** A read-only mount where this process may mount (root with CAP_SYS_ADMIN); null elsewhere. */
function readOnlyMount(): string | null {
  const dir = tempOut('ro');
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'none', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return null;
  }
}
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    execFileSync('umount', [m], { stdio: 'ignore' });
    rmdirSync(m);
  }
});

describe('file errors name the file, the cause and the fix', () => {
  it('ENOSPC, EROFS and EACCES, bare (Node fs) or wrapped by writeFileAtomic', () => {
    const ckpt = '/runs/a/checkpoints/ckpt-00000007.ckpt';
    expect(fileError(errno('ENOSPC', 'write'), ckpt, 'write the checkpoint').message).toBe(
      `cannot write the checkpoint ${ckpt}: the disk is full (ENOSPC): free space or choose another --out.`,
    );
    const wrapped = new Error(`writeFileAtomic(${ckpt}): EROFS: read-only file system, open '${ckpt}.tmp'`);
    expect(describeResourceError(wrapped, ctx)?.message).toBe(`cannot write ${ckpt}: the file system is read-only (EROFS): choose a writable --out.`);
    expect(describeResourceError(errno('EACCES', 'open', '/runs/a/report.html'), ctx)?.message).toBe(
      'cannot write /runs/a/report.html: permission denied (EACCES): choose a folder you can write to as --out.',
    );
    expect(describeResourceError(new Error('something else'), ctx)).toBeNull();
  });

  it('a wasm out-of-memory names the batch size, the heap and a fix (train step and eval)', () => {
    const aborted = Object.assign(new Error('Aborted(). Build with -sASSERTIONS for more info.'), { trainingPhase: 'train' });
    const m = describeResourceError(aborted, ctx)?.message ?? '';
    expect(m).toMatch(/^Out of memory on the wasm backend in a training step with batchSize 6000 \(of 6000 training images\): the wasm heap had grown to /);
    expect(m).toContain('Fix: lower batchSize (say 3000 or less;');
    expect(m).toContain("backend 'tensorflow'");
    expect(m).toContain('(wasm said: Aborted(). Build with -sASSERTIONS for more info.)');
    const evalOom = Object.assign(new Error('memory access out of bounds'), { trainingPhase: 'eval' });
    expect(describeResourceError(evalOom, ctx)?.message).toMatch(/while evaluating with evalBatchSize 500: .* Fix: lower evalBatchSize \(say 250 or less\)/);
    // The same words from another backend are not a wasm heap problem.
    expect(describeResourceError(aborted, { ...ctx, backend: 'cpu' })).toBeNull();
  });

  it('ensureDir names EROFS where Node says ENOENT (recursive mkdir on a read-only mount), or ENOTDIR for a file in the way', () => {
    const ro = readOnlyMount();
    if (ro) {
      mounts.push(ro);
      expect(() => ensureDir(join(ro, 'out', 'run'))).toThrow(`cannot create the output folder ${join(ro, 'out', 'run')}: the file system is read-only (EROFS)`);
    }
    const file = tempOut('a-file');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, 'not a folder');
    expect(() => ensureDir(join(file, 'run'))).toThrow(`cannot create the output folder ${join(file, 'run')}: a part of the path is a file, not a folder (ENOTDIR)`);
  });

  it('appendJsonl writes whole lines; truncateMetrics drops a torn tail and every line past the checkpoint', () => {
    const path = join(tempOut('m'), 'metrics.jsonl');
    mkdirSync(dirname(path), { recursive: true });
    appendJsonl(path, { type: 'start' });
    for (let step = 1; step <= 6; step++) appendJsonl(path, { type: 'step', step, loss: 1 / step });
    appendJsonl(path, { type: 'epoch', epoch: 0, step: 6 });
    appendJsonl(path, { type: 'checkpoint', step: 6 });
    appendFileSync(path, '{"type":"step","step":7,"lo'); // cut off by a crash or a full disk
    // Resuming from step 4's checkpoint (no epoch finished): steps 5, 6, the epoch and step 6's checkpoint go.
    expect(truncateMetrics(path, { step: 4, epochsDone: 0 })).toEqual({ kept: 5, dropped: 4, torn: 1 });
    const kept = readFileSync(path, 'utf8');
    expect(kept.endsWith('\n')).toBe(true);
    expect(kept.trim().split('\n').map((l) => (JSON.parse(l) as { step?: number }).step)).toEqual([undefined, 1, 2, 3, 4]);
    // A file already cut back is left as it is.
    expect(truncateMetrics(path, { step: 4, epochsDone: 0 })).toEqual({ kept: 5, dropped: 0, torn: 0 });
  });
});

describe('appendJsonl on a disk that fills up mid-line', () => {
  it('a short write then ENOSPC: the file is cut back to its last whole line, and the error names it', () => {
    // An 8 KiB tmpfs (two pages) where this process may mount; elsewhere only /dev/full (no partial write) is possible.
    const dir = tempOut('tiny-disk');
    mkdirSync(dir, { recursive: true });
    let mounted = true;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'none', dir], { stdio: 'ignore' });
      mounts.push(dir);
    } catch {
      mounted = false;
    }
    const path = mounted ? join(dir, 'metrics.jsonl') : '/dev/full';
    if (mounted) {
      writeFileSync(join(dir, 'filler'), Buffer.alloc(4096)); // one page taken
      appendJsonl(path, { type: 'start', pad: 'x'.repeat(3900) }); // most of the second page
    }
    const before = mounted ? readFileSync(path) : Buffer.alloc(0);
    // ~300 bytes: the first ~170 fit in the second page, the rest needs a third that does not exist.
    expect(() => appendJsonl(path, { type: 'step', step: 1, pad: 'y'.repeat(300) })).toThrow(
      `cannot append to the metrics file ${path}: the disk is full (ENOSPC): free space or choose another --out.`,
    );
    if (mounted) {
      const after = readFileSync(path);
      expect(after.equals(before)).toBe(true);
      expect(after.toString('utf8').endsWith('\n')).toBe(true);
    }
  });
});

describe('resource errors through the CLI', () => {
  it('disk full while appending metrics.jsonl: exit 1 naming the file (metrics.jsonl on /dev/full)', () => {
    const out = tempOut('full');
    mkdirSync(out, { recursive: true });
    symlinkSync('/dev/full', join(out, 'metrics.jsonl'));
    writeFileSync(`${out}.json`, JSON.stringify({ ...tinyConfig(), out, epochs: 1 }));
    const r = run([`${out}.json`, '--stop-after', '2']);
    expect(r.status).toBe(1);
    expect(r.out).toContain(`bag-of-tricks: cannot append to the metrics file ${join(out, 'metrics.jsonl')}: the disk is full (ENOSPC): free space or choose another --out.`);
  }, 120_000);

  it('out on a read-only mount (or under a file) names the folder and the cause, not ENOENT', () => {
    const ro = readOnlyMount();
    let out: string;
    let cause: string;
    if (ro) {
      mounts.push(ro);
      out = join(ro, 'runs', 'exp1');
      cause = 'the file system is read-only (EROFS): choose a writable --out.';
    } else {
      const file = tempOut('file');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, '');
      out = join(file, 'exp1');
      cause = 'a part of the path is a file, not a folder (ENOTDIR): choose another --out.';
    }
    const configPath = `${tempOut('cfg')}.json`;
    mkdirSync(dirname(configPath), { recursive: true });
    writeFileSync(configPath, JSON.stringify({ ...tinyConfig(), out, epochs: 1 }));
    const r = run([configPath, '--stop-after', '1']);
    expect(r.status).toBe(1);
    expect(r.out).toContain(`bag-of-tricks: cannot create the output folder ${out}: ${cause}`);
    expect(r.out).not.toMatch(/ENOENT/);
  }, 120_000);

  it('disk full during a checkpoint write: exit 1 naming the checkpoint file, no temp file, whole metrics lines', () => {
    // A 320 KiB tmpfs where this process may mount (root with CAP_SYS_ADMIN); elsewhere a folder under /dev/full's
    // directory cannot be made, so the same error comes from the unit test above (fileError) only.
    const dir = tempOut('small');
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=320k', 'none', dir], { stdio: 'ignore' });
    } catch {
      expect(fileError(errno('ENOSPC', 'write'), join(dir, 'ckpt'), 'write the checkpoint').message).toContain('the disk is full (ENOSPC)');
      return;
    }
    mounts.push(dir);
    const out = join(dir, 'run');
    const configPath = `${tempOut('cfg')}.json`;
    mkdirSync(dirname(configPath), { recursive: true });
    // One checkpoint of the tiny model is ~646 KB: the first one cannot fit.
    writeFileSync(configPath, JSON.stringify({ ...tinyConfig(), out, epochs: 1, checkpoint: { every: 2, keep: 1 } }));
    const r = run([configPath, '--stop-after', '4']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(
      new RegExp(`bag-of-tricks: cannot write the checkpoint ${join(out, 'checkpoints', 'ckpt-00000002.ckpt')}: the disk is full \\(ENOSPC\\): free space or choose another --out\\.`),
    );
    expect(readdirSync(join(out, 'checkpoints'))).toEqual([]);
    const text = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trim().split('\n')) JSON.parse(line);
  }, 120_000);

  it('a torn last line in metrics.jsonl (crash or full disk) is repaired on --resume: every line parses, no step twice', () => {
    const out = tempOut('torn');
    writeFileSync(`${out}.json`, JSON.stringify({ ...tinyConfig(), out, epochs: 1, checkpoint: { every: 2, keep: 2 } }));
    expect(run([`${out}.json`, '--stop-after', '4']).status).toBe(0);
    appendFileSync(join(out, 'metrics.jsonl'), '{"type":"step","step":5,"epoch":0,"lo');
    const r = run([`${out}.json`, '--resume', '--stop-after', '6']);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/metrics\.jsonl: dropped 0 line\(s\) past step 4 and 1 torn line\(s\)/);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number });
    expect(lines.filter((l) => l.type === 'step').map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
  }, 120_000);

  it('batchSize 6000 with a wide stem runs the wasm heap out: exit 1 naming the batch size, the heap and a fix', () => {
    const out = tempOut('oom');
    // 6000 x 28 x 28 x 256 floats in the stem's output alone: 4.8 GB, past any wasm32 heap.
    const config = { ...tinyConfig(), out, epochs: 1, batchSize: 6000, model: { name: 'resnet18d', options: { stem: 'small', width: 0.125, stemWidth: 2048, layers: [1, 1, 1, 1] } } };
    writeFileSync(`${out}.json`, JSON.stringify(config));
    const r = run([`${out}.json`]);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/bag-of-tricks: Out of memory on the wasm backend in a training step with batchSize 6000 \(of 6000 training images\): the wasm heap had grown to \d+\.\d\d GiB/);
    expect(r.out).toContain('Fix: lower batchSize (say 3000 or less;');
  }, 180_000);

  it('--workers 2: an out-of-memory inside replica 1 (a worker thread) gets the same message, naming the replica and its heap', () => {
    // The replicas' shards are equal or smaller than this thread's, so a real batch runs this thread out first. To
    // run out in the worker only, a preload (passed to the workers with the other Node flags) caps the growth of
    // the worker's wasm memory at 96 MiB, as a heap that cannot grow further; the out-of-memory itself is the
    // wasm backend's own.
    const out = tempOut('dp-oom');
    const preload = join(dirname(out), 'cap-worker-wasm.cjs');
    writeFileSync(
      preload,
      `if (!require('node:worker_threads').isMainThread) {
  const grow = WebAssembly.Memory.prototype.grow;
  WebAssembly.Memory.prototype.grow = function (pages) {
    if (this.buffer.byteLength + pages * 65536 > 96 * 2 ** 20) throw new RangeError('WebAssembly.Memory.grow(): capped at 96 MiB');
    return grow.call(this, pages);
  };
}
`,
    );
    writeFileSync(`${out}.json`, JSON.stringify({ ...tinyConfig(), out, epochs: 1, batchSize: 1000 }));
    const r = spawnSync(process.execPath, ['--require', preload, cli, 'train', `${out}.json`, '--workers', '2', '--stop-after', '1', '--no-progress', '--no-report'], {
      encoding: 'utf8',
      timeout: 180_000,
      cwd: dirname(out),
    });
    const text = `${r.stdout}\n${r.stderr}`;
    expect(r.status, text).toBe(1);
    const line = /bag-of-tricks: (Out of memory.*)/.exec(text)?.[1] ?? '';
    expect(line, text).toMatch(
      /^Out of memory on the wasm backend in a training step in data-parallel replica 1 \(a worker thread\) with batchSize 1000 \(of 6000 training images\): the replica's wasm heap had grown to (\d+\.\d\d) GiB/,
    );
    // The heap named is the worker's (capped at 96 MiB = 0.09 GiB), not this thread's.
    expect(Number(/grown to (\d+\.\d\d) GiB/.exec(line)?.[1])).toBeLessThanOrEqual(0.09);
    expect(line).toContain('Fix: lower batchSize (say 500 or less;');
    expect(line).toMatch(/\(wasm said: (?!data-parallel)/);
  }, 180_000);
});
