/**
 * Rules shared by the decode path (image-folder.ts) and the header-only pass (preflight.ts), so both
 * judge an image the same way and say the same thing about it.
 */

/**
 * The default most pixels (width x height) an image may have: Pillow's `Image.MAX_IMAGE_PIXELS`
 * (89,478,485, its decompression-bomb limit; about 256 MiB decoded at 3 bytes a pixel). sharp's own
 * default (0x3FFF², 268,402,689) lets a 16000 x 16000 flat PNG of a few KB through, which takes the
 * process to ~1.4-1.9 GB of RSS at decode.
 */
export const DEFAULT_LIMIT_INPUT_PIXELS = 89_478_485;

/** Checks a `limitInputPixels` option (a positive integer) and fills in the default. */
export function resolveLimitInputPixels(value: number | undefined, caller: string): number {
  const limit = value ?? DEFAULT_LIMIT_INPUT_PIXELS;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`${caller}: limitInputPixels must be a positive integer, got ${limit}.`);
  return limit;
}

/** Why an image of this size is refused, or null when it is within `limit`. */
export function pixelLimitProblem(width: number, height: number, limit: number): string | null {
  const pixels = width * height;
  if (pixels <= limit) return null;
  return `${width}x${height} = ${pixels.toLocaleString('en')} pixels, over limitInputPixels (${limit.toLocaleString('en')})`;
}

/** The fix printed after images over the pixel limit. */
export const TOO_LARGE_FIX = 'downscale or remove the file(s), or raise limitInputPixels (a decode holds width x height x channels bytes)';

export type ImageFormat = 'jpeg' | 'png' | 'webp';

/** The format a file's first bytes announce, or null for anything else (sharp may still read it). */
export function sniffImageFormat(head: Uint8Array): ImageFormat | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47 && head[4] === 0x0d && head[5] === 0x0a) return 'png';
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp';
  return null;
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, end));
}

/** How many bytes at the end of a file `truncationProblem` looks at. */
export const TAIL_BYTES = 64;

/**
 * Whether the file ends as its format requires: a JPEG with the end-of-image marker FF D9, a PNG with
 * its IEND chunk, a WebP with as many bytes as its RIFF header declares. Returns why not (the file was
 * most likely cut off), or null. `tail` is the file's last bytes (up to TAIL_BYTES), `head` its first.
 * Some valid files carry data after the end marker (camera trailers), so a caller confirms a hit by decoding.
 */
export function truncationProblem(format: ImageFormat | null, head: Uint8Array, tail: Uint8Array, fileSize: number): string | null {
  if (format === 'jpeg') {
    for (let i = tail.length - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return null;
    return `truncated: the JPEG ends at byte ${fileSize} without its end-of-image marker (FF D9)`;
  }
  if (format === 'png') {
    for (let i = tail.length - 12; i >= 0; i--) if (ascii(tail, i + 4, i + 8) === 'IEND') return null;
    return `truncated: the PNG ends at byte ${fileSize} without its IEND chunk`;
  }
  if (format === 'webp' && head.length >= 8) {
    const declared = (head[4] as number) + ((head[5] as number) << 8) + ((head[6] as number) << 16) + (head[7] as number) * 2 ** 24 + 8;
    return fileSize < declared ? `truncated: the WebP header declares ${declared} bytes, the file has ${fileSize}` : null;
  }
  return null;
}

/** The fix printed after a list of corrupt files. */
export const CORRUPT_FIX = 're-export or delete the file(s), or set skipCorrupt: true to skip them (they are then counted and reported)';
