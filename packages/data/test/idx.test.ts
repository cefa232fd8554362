import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx, loadIdxDataset, readIdx } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'idx-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Hand-built IDX bytes: magic, big-endian dims, body. */
function idxBytes(magic: number[], dims: number[], body: number[]): Uint8Array {
  const out = [...magic];
  for (const d of dims) out.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return Uint8Array.from([...out, ...body]);
}

// Two 2x3 "images" and their labels.
const pixels = [0, 1, 2, 3, 4, 255, 10, 20, 30, 40, 50, 60];
const imageBytes = idxBytes([0, 0, 8, 3], [2, 2, 3], pixels);
const labelBytes = idxBytes([0, 0, 8, 1], [2], [7, 3]);

describe('readIdx', () => {
  it('reads hand-built raw and gzipped bytes', () => {
    for (const bytes of [imageBytes, gzipSync(imageBytes)]) {
      const a = readIdx(bytes);
      expect(a.dtype).toBe('uint8');
      expect(a.dims).toEqual([2, 2, 3]);
      expect(Array.from(a.data)).toEqual(pixels);
    }
    const l = readIdx(labelBytes, { dtype: 'uint8', rank: 1 });
    expect(Array.from(l.data)).toEqual([7, 3]);
  });

  it('reads big-endian int16, int32, float32 and float64 bodies', () => {
    expect(Array.from(readIdx(idxBytes([0, 0, 0x0b, 1], [2], [0xff, 0xfe, 0x01, 0x00])).data)).toEqual([-2, 256]);
    expect(Array.from(readIdx(idxBytes([0, 0, 0x0c, 1], [1], [0x00, 0x01, 0x00, 0x02])).data)).toEqual([65538]);
    // 0x3fc00000 = 1.5f; 0xc0000000 = -2.0f
    expect(Array.from(readIdx(idxBytes([0, 0, 0x0d, 1], [2], [0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0])).data)).toEqual([1.5, -2]);
    expect(Array.from(readIdx(idxBytes([0, 0, 0x0e, 1], [1], [0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18])).data)).toEqual([Math.PI]);
  });

  it('encodeIdx writes exactly the hand-built bytes and round-trips', () => {
    const enc = encodeIdx({ dtype: 'uint8', dims: [2, 2, 3], data: Uint8Array.from(pixels) });
    expect(Array.from(enc)).toEqual(Array.from(imageBytes));
    const f = Float64Array.from([1.25, -3, 1e-300]);
    expect(Array.from(readIdx(encodeIdx({ dtype: 'float64', dims: [3], data: f }, { gzip: true })).data)).toEqual(Array.from(f));
    const i16 = Int16Array.from([-32768, 0, 32767, -1]);
    expect(Array.from(readIdx(encodeIdx({ dtype: 'int16', dims: [2, 2], data: i16 })).data)).toEqual(Array.from(i16));
  });

  it('names the file and the problem: wrong magic', () => {
    const path = join(dir, 'bad-magic-idx3-ubyte');
    writeFileSync(path, idxBytes([0x12, 0x34, 8, 3], [1, 1, 1], [0]));
    expect(() => readIdx(path)).toThrow(`${path}: wrong magic number 0x12340803`);
    expect(() => readIdx(idxBytes([0, 0, 0x07, 1], [1], [0]), { name: 'x.idx' })).toThrow('x.idx: wrong magic number 0x00000701');
    // A label file where images are expected.
    expect(() => readIdx(labelBytes, { name: 'labels', dtype: 'uint8', rank: 3 })).toThrow(
      'labels: expected 3 dims (magic 0x00000803) but the magic 0x00000801 says 1',
    );
  });

  it('names the file and the problem: short body, truncated header, long body, bad gzip', () => {
    const path = join(dir, 'short-idx3-ubyte.gz');
    writeFileSync(path, gzipSync(imageBytes.subarray(0, imageBytes.length - 5)));
    expect(() => readIdx(path)).toThrow(`${path}: short body: dims [2, 2, 3] of uint8 need 12 bytes after the 16-byte header, found 7 (truncated file?)`);
    expect(() => readIdx(imageBytes.subarray(0, 10), { name: 'h' })).toThrow('h: truncated header');
    expect(() => readIdx(Uint8Array.from([...imageBytes, 1]), { name: 'l' })).toThrow('l: body too long');
    const gz = gzipSync(imageBytes);
    expect(() => readIdx(gz.subarray(0, gz.length - 8), { name: 'g.gz' })).toThrow('g.gz: corrupt gzip data');
    expect(() => readIdx(join(dir, 'missing'))).toThrow(`${join(dir, 'missing')}: cannot read the IDX file`);
  });
});

describe('loadIdxDataset', () => {
  it('finds the standard names (gzipped or raw) and checks the counts', () => {
    const d = join(dir, 'ds');
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
    writeFileSync(join(d, 'train-images-idx3-ubyte.gz'), gzipSync(imageBytes));
    writeFileSync(join(d, 'train-labels-idx1-ubyte'), labelBytes);
    const ds = loadIdxDataset(d, 'train');
    expect([ds.size, ds.height, ds.width, ds.channels, ds.numClasses]).toEqual([2, 2, 3, 1, 10]);
    expect(Array.from(ds.get(1).pixels)).toEqual(pixels.slice(6));
    expect(ds.get(1).label).toBe(3);
    expect(() => loadIdxDataset(d, 'test')).toThrow(`no test images file in ${d}`);
    writeFileSync(join(d, 't10k-images-idx3-ubyte'), imageBytes);
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), idxBytes([0, 0, 8, 1], [3], [1, 2, 3]));
    expect(() => loadIdxDataset(d, 'test')).toThrow('3 labels but');
    writeFileSync(join(d, 't10k-labels-idx1-ubyte'), idxBytes([0, 0, 8, 1], [2], [1, 12]));
    expect(() => loadIdxDataset(d, 'test')).toThrow('label 12 at index 1 is out of range for 10 classes');
    writeFileSync(join(d, 't10k-images-idx3-ubyte'), labelBytes);
    expect(() => loadIdxDataset(d, 'test')).toThrow('expected 3 dims');
  });
});
