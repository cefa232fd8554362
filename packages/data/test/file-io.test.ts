import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSystemIO, registerFileRouter, removeStaleTempFiles, writeFileAtomic } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'file-io-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('writeFileAtomic', () => {
  it('writes strings and bytes, overwrites, and leaves no temp files', () => {
    const d = mkdtempSync(join(dir, 'w-'));
    const p = join(d, 'out.json');
    writeFileAtomic(p, '{"a":1}');
    expect(readFileSync(p, 'utf8')).toBe('{"a":1}');
    writeFileAtomic(p, Uint8Array.from([1, 2, 3]));
    expect(Array.from(readFileSync(p))).toEqual([1, 2, 3]);
    writeFileAtomic(p, new Uint8Array(0));
    expect(readFileSync(p).length).toBe(0);
    expect(readdirSync(d)).toEqual(['out.json']);
  });

  it('on failure throws naming the path, and leaves the old file and no temp file', () => {
    const d = mkdtempSync(join(dir, 'f-'));
    expect(() => writeFileAtomic(join(d, 'missing-dir', 'x'), 'data')).toThrow(`writeFileAtomic(${join(d, 'missing-dir', 'x')})`);
    // Renaming over a directory fails after the temp file is written: it must be cleaned up.
    const asDir = join(d, 'taken');
    writeFileSync(join(d, 'keep'), 'old');
    mkdirSync(asDir);
    writeFileSync(join(asDir, 'child'), 'x');
    expect(() => writeFileAtomic(asDir, 'new')).toThrow('writeFileAtomic');
    expect(readdirSync(d).sort()).toEqual(['keep', 'taken']);
  });

  it('a concurrent reader never sees a partial file', async () => {
    const d = mkdtempSync(join(dir, 'c-'));
    const p = join(d, 'big.bin');
    const size = 1 << 20;
    const [A, B, STOP] = [0x61, 0x62, 0x63].map((byte) => Buffer.alloc(size, byte)) as [Buffer, Buffer, Buffer];
    writeFileAtomic(p, A);
    // A separate process reads the file in a tight loop while this one rewrites it, A and B in turn. No
    // clocks: the reader reports each change it sees ('t'), this side writes until the reader has seen 20
    // changes, then writes STOP, which ends the reader's loop. Any read that is not all-A, all-B or all-STOP
    // (empty, short, mixed) is a partial file.
    const reader = spawn(process.execPath, [
      '-e',
      `const fs = require('fs'); const p = ${JSON.stringify(p)}; const n = ${size};
       const kinds = [0x61, 0x62, 0x63].map((c) => Buffer.alloc(n, c));
       let reads = 0, bad = 0, seenB = 0, last = 0;
       process.stdout.write('ready\\n');
       for (;;) {
         const x = fs.readFileSync(p); reads++;
         const kind = kinds.findIndex((k) => x.equals(k));
         if (kind < 0) { bad++; continue; }
         if (kind === 2) break;
         if (kind === 1) seenB++;
         if (kind !== last) { last = kind; process.stdout.write('t\\n'); }
       }
       process.stdout.write(JSON.stringify({ reads, bad, seenB }) + '\\n');`,
    ]);
    let out = '';
    let changes = 0;
    let signal: (() => void) | undefined;
    const next = () => new Promise<void>((resolve) => (signal = resolve));
    const ready = next();
    reader.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      changes = (out.match(/^t$/gm) ?? []).length;
      if (out.includes('ready')) signal?.();
    });
    let errors = '';
    reader.stderr.on('data', (c: Buffer) => (errors += c.toString()));
    let exited = false;
    const closed = new Promise((resolve) => reader.on('close', resolve)).then(() => (exited = true));
    // the reader failing to start must fail the test, not hang it
    await Promise.race([ready, closed.then(() => Promise.reject(new Error(`reader exited before starting: ${errors}`)))]);
    let writes = 0;
    const maxWrites = 20_000; // a bound instead of a deadline: fail rather than hang if the reader stalls
    while (changes < 20 && writes < maxWrites && !exited) {
      writeFileAtomic(p, writes++ % 2 ? A : B);
      await new Promise((resolve) => setImmediate(resolve)); // let the reader's reports in
    }
    writeFileAtomic(p, STOP);
    await closed;
    expect(errors).toBe('');
    const result = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { reads: number; bad: number; seenB: number };
    expect(changes, `the reader saw ${changes} rewrites in ${writes} writes`).toBeGreaterThanOrEqual(20);
    expect(result.seenB).toBeGreaterThan(0);
    expect(result.reads).toBeGreaterThan(20);
    expect(result.bad, `${result.bad} of ${result.reads} reads saw a partial file`).toBe(0);
    expect(readdirSync(d)).toEqual(['big.bin']);
  });
});

describe('removeStaleTempFiles', () => {
  it("deletes the temp files of a killed writer, keeps a live process's and every other file", () => {
    const d = mkdtempSync(join(dir, 's-'));
    writeFileSync(join(d, 'ckpt-00000001.ckpt'), 'done');
    writeFileSync(join(d, '.notes.txt'), 'a dot file that is not ours');
    // A writer killed by SIGKILL between opening its temp file and the rename: the file stays behind.
    const script = `const fs = require('node:fs'); fs.openSync(${JSON.stringify(join(d, '.ckpt-00000002.ckpt.'))} + process.pid + '.mabc.0.tmp', 'wx'); process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['-e', script]);
    expect(child.signal).toBe('SIGKILL');
    const stale = readdirSync(d).filter((f) => f.endsWith('.tmp'));
    expect(stale).toEqual([`.ckpt-00000002.ckpt.${child.pid}.mabc.0.tmp`]);
    // One "in flight" in this (live) process: not touched.
    const live = `.ckpt-00000003.ckpt.${process.pid}.mabc.1.tmp`;
    writeFileSync(join(d, live), '');
    expect(removeStaleTempFiles(d)).toEqual([join(d, stale[0]!)]);
    expect(readdirSync(d).sort()).toEqual([live, '.notes.txt', 'ckpt-00000001.ckpt'].sort());
    expect(removeStaleTempFiles(join(d, 'missing'))).toEqual([]);
  });
});

function smallModel(): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ inputShape: [5], units: 8, activation: 'relu', name: 'hidden' }));
  model.add(tfl.layers.dense({ units: 3, name: 'logits' }));
  return model;
}

describe('file:// model IO', () => {
  const x = () => tf.tensor2d(Array.from({ length: 20 }, (_, i) => Math.sin(i)), [4, 5]);

  it('registerFileRouter: model.save("file://dir") then loadLayersModel("file://dir/model.json") predicts identically', async () => {
    registerFileRouter();
    registerFileRouter(); // idempotent: a second call must not make two handlers
    const model = smallModel();
    const target = join(dir, 'model-a');
    const result = await model.save(`file://${target}`);
    expect(result.modelArtifactsInfo.weightDataBytes).toBe((5 * 8 + 8 + 8 * 3 + 3) * 4);
    expect(readdirSync(target).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await tfl.loadLayersModel(`file://${target}/model.json`);
    const input = x();
    const a = model.predict(input) as tf.Tensor;
    const b = loaded.predict(input) as tf.Tensor;
    expect(Buffer.from((b.dataSync() as Float32Array).buffer).equals(Buffer.from((a.dataSync() as Float32Array).buffer))).toBe(true);
    tf.dispose([input, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('fileSystemIO(dir) as a handler: save, overwrite, load; a truncated weights file is a clear error', async () => {
    const target = join(dir, 'model-b');
    const first = smallModel();
    await first.save(fileSystemIO(target));
    const second = smallModel(); // other random weights, saved over the first
    await second.save(fileSystemIO(target));
    const loaded = await tfl.loadLayersModel(fileSystemIO(target));
    const input = x();
    const a = second.predict(input) as tf.Tensor;
    const b = loaded.predict(input) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(readdirSync(target).sort()).toEqual(['model.json', 'weights.bin']);
    tf.dispose([input, a, b]);
    const weights = readFileSync(join(target, 'weights.bin'));
    writeFileSync(join(target, 'weights.bin'), weights.subarray(0, 100));
    await expect(tfl.loadLayersModel(fileSystemIO(join(target, 'model.json')))).rejects.toThrow('hold 100 bytes, the manifest needs 300');
    await expect(tfl.loadLayersModel(fileSystemIO(join(dir, 'nowhere')))).rejects.toThrow(`cannot load ${join(dir, 'nowhere', 'model.json')}`);
    first.dispose();
    second.dispose();
    loaded.dispose();
  });
});
