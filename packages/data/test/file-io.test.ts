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
    const A = Buffer.alloc(size, 0x61);
    const B = Buffer.alloc(size, 0x62);
    writeFileAtomic(p, A);
    // A separate process reads the file in a tight loop while this one rewrites it.
    const reader = spawn(process.execPath, [
      '-e',
      `const fs = require('fs'); const p = ${JSON.stringify(p)}; const n = ${size};
       const a = Buffer.alloc(n, 0x61), b = Buffer.alloc(n, 0x62);
       let reads = 0, bad = 0, seenB = 0; const end = Date.now() + 1500;
       process.stdout.write('ready\\n');
       while (Date.now() < end) { const x = fs.readFileSync(p); reads++; if (x.equals(b)) seenB++; else if (!x.equals(a)) bad++; }
       process.stdout.write(JSON.stringify({ reads, bad, seenB }) + '\\n');`,
    ]);
    let out = '';
    reader.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise<void>((resolve) => {
      const check = () => (out.includes('ready') ? resolve() : setTimeout(check, 5));
      check();
    });
    const end = Date.now() + 1200;
    let writes = 0;
    while (Date.now() < end) writeFileAtomic(p, writes++ % 2 ? A : B);
    await new Promise((resolve) => reader.on('close', resolve));
    const result = JSON.parse(out.split('\n')[1]!) as { reads: number; bad: number; seenB: number };
    expect(writes).toBeGreaterThan(10);
    expect(result.reads).toBeGreaterThan(10);
    expect(result.seenB).toBeGreaterThan(0); // the reader did see rewrites happen
    expect(result.bad).toBe(0);
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
