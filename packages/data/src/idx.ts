import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';

/** The element types an IDX file can hold (its third magic byte). */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: element type, dimensions and the body in row-major order. */
export interface IdxArray {
  readonly dtype: IdxDtype;
  readonly dims: readonly number[];
  readonly data: IdxData;
}

export interface ReadIdxOptions {
  /** Name used in error messages when the source is a buffer (a path names itself). */
  name?: string;
  /** Require this element type, e.g. 'uint8' for MNIST images and labels. */
  dtype?: IdxDtype;
  /** Require this many dimensions, e.g. 3 for images (magic 0x00000803), 1 for labels (0x00000801). */
  rank?: number;
}

const DTYPES: Record<number, { dtype: IdxDtype; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

const CODES: Record<IdxDtype, number> = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };

const hex = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;

/** The magic number an IDX file of this type and rank starts with (0x00000803 for uint8 images). */
export function idxMagic(dtype: IdxDtype, rank: number): number {
  return (CODES[dtype] << 8) | rank;
}

/**
 * Reads an IDX file (the MNIST format), gzipped or raw, from a path or bytes. Checks the magic
 * number, the dims and that the body holds exactly their product of elements; every error names
 * the file and the problem.
 */
export function readIdx(source: string | Uint8Array, options: ReadIdxOptions = {}): IdxArray {
  const name = typeof source === 'string' ? source : (options.name ?? '<buffer>');
  const fail = (problem: string): never => {
    throw new Error(`${name}: ${problem}`);
  };
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      bytes = readFileSync(source);
    } catch (err) {
      return fail(`cannot read the IDX file (${(err as Error).message})`);
    }
  } else {
    bytes = source;
  }
  // An IDX file starts with two zero bytes, so gzip's 1f 8b can't be mistaken for one.
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      return fail(`corrupt gzip data (${(err as Error).message}); the download may be truncated`);
    }
  }
  if (bytes.length < 4) fail(`too short to be an IDX file: ${bytes.length} bytes, the header alone needs at least 4`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const type = DTYPES[bytes[2] as number];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !type) {
    fail(
      `wrong magic number ${hex(magic)}: an IDX file starts with 00 00, a dtype byte (08 uint8, 09 int8, 0b int16, 0c int32, ` +
        `0d float32, 0e float64) and the number of dims, e.g. 0x00000803 for images and 0x00000801 for labels`,
    );
  }
  const { dtype, bytes: itemBytes } = type as { dtype: IdxDtype; bytes: number };
  const rank = bytes[3] as number;
  if (options.dtype !== undefined && dtype !== options.dtype) {
    fail(`expected ${options.dtype} data (magic ${hex(idxMagic(options.dtype, options.rank ?? rank))}) but the magic ${hex(magic)} says ${dtype}`);
  }
  if (options.rank !== undefined && rank !== options.rank) {
    fail(`expected ${options.rank} dims (magic ${hex(idxMagic(options.dtype ?? dtype, options.rank))}) but the magic ${hex(magic)} says ${rank}`);
  }
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) fail(`truncated header: ${rank} dims need ${headerBytes} header bytes, the file has ${bytes.length}`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const bodyBytes = bytes.length - headerBytes;
  if (bodyBytes !== count * itemBytes) {
    fail(
      `${bodyBytes < count * itemBytes ? 'short body' : 'body too long'}: dims [${dims.join(', ')}] of ${dtype} need ` +
        `${count * itemBytes} bytes after the ${headerBytes}-byte header, found ${bodyBytes}` +
        (bodyBytes < count * itemBytes ? ' (truncated file?)' : ''),
    );
  }
  return { dtype, dims, data: decodeBody(view, headerBytes, count, dtype) };
}

/**
 * The element type and dims of an IDX file (gzipped or raw) from its first bytes, without reading or
 * inflating the body: for checks before loading.
 */
export function readIdxHeader(path: string): { dtype: IdxDtype; dims: readonly number[] } {
  let bytes: Uint8Array;
  try {
    const fd = openSync(path, 'r');
    try {
      // 4 KiB holds a gzip header (with a file name) and the deflated first bytes many times over.
      const buffer = Buffer.alloc(4096);
      bytes = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new Error(`${path}: cannot read the IDX file (${(err as Error).message})`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      // Z_SYNC_FLUSH: inflate what this prefix holds instead of failing on the missing end.
      bytes = gunzipSync(bytes, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (err) {
      throw new Error(`${path}: corrupt gzip data (${(err as Error).message}); the download may be truncated`);
    }
  }
  const type = DTYPES[bytes[2] as number];
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || !type) {
    throw new Error(`${path}: not an IDX file (an IDX file starts with 00 00, a dtype byte and the number of dims, e.g. 0x00000803 for images)`);
  }
  const rank = bytes[3] as number;
  if (bytes.length < 4 + 4 * rank) throw new Error(`${path}: truncated header: ${rank} dims need ${4 + 4 * rank} header bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { dtype: type.dtype, dims: Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i)) };
}

function decodeBody(view: DataView, offset: number, count: number, dtype: IdxDtype): IdxData {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int8':
      return new Int8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i);
      return out;
    }
  }
}

/** Encodes an IDX file (big-endian, as the format requires); `gzip: true` compresses it. */
export function encodeIdx(array: IdxArray, { gzip = false }: { gzip?: boolean } = {}): Uint8Array {
  const { dtype, dims, data } = array;
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`encodeIdx: dims [${dims.join(', ')}] hold ${count} elements but data has ${data.length}.`);
  const itemBytes = DTYPES[CODES[dtype]]!.bytes;
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + count * itemBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, idxMagic(dtype, dims.length));
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  for (let i = 0; i < count; i++) {
    const v = data[i] as number;
    const at = header + i * itemBytes;
    if (dtype === 'uint8') view.setUint8(at, v);
    else if (dtype === 'int8') view.setInt8(at, v);
    else if (dtype === 'int16') view.setInt16(at, v);
    else if (dtype === 'int32') view.setInt32(at, v);
    else if (dtype === 'float32') view.setFloat32(at, v);
    else view.setFloat64(at, v);
  }
  // mtime 0 in the gzip header (node's default) keeps the output byte-for-byte reproducible.
  return gzip ? new Uint8Array(gzipSync(out, { level: 9 })) : out;
}
