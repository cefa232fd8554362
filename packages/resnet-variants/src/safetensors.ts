/**
 * The safetensors file format (https://github.com/huggingface/safetensors), bytes in and bytes out, so it runs in a
 * browser as well as in Node: an 8-byte little-endian header length N, N bytes of JSON
 * `{"__metadata__": {str: str}, name: {dtype, shape, data_offsets: [begin, end]}, ...}` (offsets relative to the
 * end of the header), then the raw little-endian tensor bytes.
 *
 * Hand-written because npm has no maintained, browser-safe parser and writer for it: the `safetensors` package is an
 * empty 0.0.1 placeholder, and `@huggingface/hub` only reads headers of files on the Hub over HTTP.
 */

/** The dtypes of the safetensors spec. */
export type SafetensorsDtype =
  | 'F64' | 'F32' | 'F16' | 'BF16'
  | 'I64' | 'I32' | 'I16' | 'I8'
  | 'U64' | 'U32' | 'U16' | 'U8'
  | 'BOOL';

/** Bytes per element of each dtype. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
});

/** One tensor: its dtype, its shape (`[]` for a scalar) and its raw little-endian bytes. */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

/** A parsed file: tensors in file (header) order, and the string-to-string `__metadata__` (empty when absent). */
export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** The reference implementation refuses headers above 100 MB; so do we, before decoding them. */
const MAX_HEADER_BYTES = 100_000_000;

const isDtype = (d: unknown): d is SafetensorsDtype =>
  typeof d === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, d);

const isLength = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/**
 * Parses a safetensors file. Tensor bytes are views into `bytes` (no copy). Throws an error naming the
 * tensor or header field at fault for a truncated file, a bad header, an unknown dtype, or a size that does not
 * match the shape.
 */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('safetensors: expected the file as a Uint8Array.');
  if (bytes.byteLength < 8) {
    throw new Error(`safetensors: the file is ${bytes.byteLength} bytes, shorter than the 8-byte header length; it is not a safetensors file.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.byteLength - 8))) {
    throw new Error(
      `safetensors: the header length field says ${headerLength} bytes but the file has ${bytes.byteLength - 8} after it` +
        ' (or the header is over 100 MB); the file is truncated or not a safetensors file.',
    );
  }
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    throw new Error(`safetensors: the header is not valid UTF-8 JSON (${(err as Error).message}); the file is not a safetensors file.`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new Error('safetensors: the header must be a JSON object of tensor entries.');
  }
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry) ||
          !Object.values(entry).every((v) => typeof v === 'string')) {
        throw new Error('safetensors: __metadata__ must be an object of string values.');
      }
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (e === null || typeof e !== 'object') throw new Error(`safetensors: the header entry of tensor "${name}" is not an object.`);
    if (!isDtype(e.dtype)) {
      throw new Error(`safetensors: tensor "${name}" has dtype ${JSON.stringify(e.dtype)}, not one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}.`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every(isLength)) {
      throw new Error(`safetensors: tensor "${name}" has shape ${JSON.stringify(e.shape)}; a shape is an array of non-negative integers.`);
    }
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isLength) || offsets[0]! > offsets[1]!) {
      throw new Error(`safetensors: tensor "${name}" has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with begin <= end.`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) {
      throw new Error(`safetensors: tensor "${name}" ends at byte ${end} of the data but the data is ${dataLength} bytes; the file is truncated.`);
    }
    const shape = e.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[e.dtype];
    if (end - begin !== expected) {
      throw new Error(
        `safetensors: tensor "${name}" (${e.dtype}, shape [${shape.join(', ')}]) needs ${expected} bytes but its data_offsets span ${end - begin}.`,
      );
    }
    tensors.set(name, { dtype: e.dtype, shape: [...shape], data: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  return { tensors, metadata };
}

/**
 * Writes a safetensors file: tensors in the order given, contiguous, the header padded with spaces to a multiple
 * of 8 bytes (as the reference writer does, so the data is aligned).
 */
export function writeSafetensors(
  tensors: Iterable<readonly [string, SafetensorsTensor]> | Readonly<Record<string, SafetensorsTensor>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const entries = Symbol.iterator in tensors ? [...(tensors as Iterable<readonly [string, SafetensorsTensor]>)] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata "${k}" must be a string, got ${typeof v}.`);
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, name)) {
      throw new Error(`safetensors: tensor name "${name}" is reserved or used twice.`);
    }
    if (!isDtype(t.dtype)) throw new Error(`safetensors: tensor "${name}" has unknown dtype ${JSON.stringify(t.dtype)}.`);
    const expected = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== expected) {
      throw new Error(`safetensors: tensor "${name}" (${t.dtype}, shape [${t.shape.join(', ')}]) needs ${expected} bytes, got ${t.data.byteLength}.`);
    }
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  let at = 8 + padded;
  for (const [, t] of entries) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A floating-point tensor's values as float32 (F32 copied, F16/BF16/F64 converted); throws for integer dtypes. */
export function safetensorsToFloat32(t: SafetensorsTensor, name = 'tensor'): Float32Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.dtype === 'F32') {
    // A copy into a fresh, aligned buffer (Node's Buffer#slice would be a view of the whole pooled buffer).
    if (LITTLE_ENDIAN) return new Float32Array(new Uint8Array(t.data).buffer, 0, count);
    return Float32Array.from({ length: count }, (_, i) => view.getFloat32(i * 4, true));
  }
  const out = new Float32Array(count);
  if (t.dtype === 'F64') for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  else if (t.dtype === 'F16') for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  else if (t.dtype === 'BF16') {
    const bits = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < count; i++) {
      bits.setUint32(0, view.getUint16(i * 2, true) << 16);
      out[i] = bits.getFloat32(0);
    }
  } else {
    throw new Error(`safetensors: ${name} has dtype ${t.dtype}; weights must be F32, F16, BF16 or F64.`);
  }
  return out;
}

/** A float32 tensor for `writeSafetensors` (values copied as little-endian bytes). */
export function float32Tensor(values: Float32Array, shape: readonly number[]): SafetensorsTensor {
  const data = new Uint8Array(values.length * 4);
  if (LITTLE_ENDIAN) data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  else {
    const view = new DataView(data.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  }
  return { dtype: 'F32', shape: [...shape], data };
}
