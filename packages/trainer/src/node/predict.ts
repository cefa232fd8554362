import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { createRng } from '@bag-of-tricks/core';
import { evalPipelineFromPreprocessing, type ModelMetadata } from '../model-metadata';

export interface Prediction {
  readonly file: string;
  /** The `top` most probable classes, most probable first. */
  readonly classes: readonly { readonly name: string; readonly index: number; readonly probability: number }[];
}

/**
 * Decodes an image file (JPEG, PNG, WebP, … anything sharp reads; any size; grey, RGB or with alpha) to
 * 0..255 float pixels [1, H, W, channels]: alpha dropped, converted to 1 (luminance) or 3 (sRGB) channels, and,
 * when `shorterSide` is given and the image is larger, shrunk (antialiased) so its shorter side is `shorterSide`.
 */
export async function decodeImage(file: string, channels: 1 | 3, shorterSide?: number): Promise<tf.Tensor4D> {
  const abs = resolve(file);
  if (!existsSync(abs)) throw new Error(`predict: image not found: ${abs}`);
  let data: Buffer;
  let info: sharp.OutputInfo;
  try {
    let image = sharp(abs, { failOn: 'error' }).removeAlpha();
    if (shorterSide) {
      // Shrinking is antialiased here (sharp's lanczos3), as tensor bilinear resizing cannot; images no larger
      // than `shorterSide` are left to the tensor pipeline, exactly as the training run's eval resized them.
      const { width = 0, height = 0 } = await image.metadata();
      if (Math.min(width, height) > shorterSide) image = image.resize(width <= height ? { width: shorterSide } : { height: shorterSide });
    }
    image = channels === 1 ? image.greyscale() : image.toColourspace('srgb');
    ({ data, info } = await image.raw().toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new Error(`predict: cannot decode ${abs} as an image (${(err as Error).message}).`);
  }
  if (info.channels !== channels) throw new Error(`predict: ${abs} decoded to ${info.channels} channels, expected ${channels}.`);
  return tf.tensor4d(Float32Array.from(data), [1, info.height, info.width, channels]);
}

/**
 * Class probabilities for image files, through the model's own eval preprocessing (its metadata: resize the
 * shorter side, centre crop, channels, normalize), in inference mode.
 */
export async function predictFiles(model: LayersModel, metadata: ModelMetadata, files: readonly string[], top = 5): Promise<Prediction[]> {
  const p = metadata.preprocessing;
  const pipeline = evalPipelineFromPreprocessing(p);
  const k = Math.min(top, metadata.classNames.length);
  const out: Prediction[] = [];
  for (const file of files) {
    const pixels = await decodeImage(file, p.channels, p.resize === false ? undefined : p.resize);
    const probs = tf.tidy(() => {
      const batch = pipeline({ images: pixels, labels: tf.zeros([1, metadata.classNames.length]) }, createRng(0));
      return tf.softmax(model.predict(batch.images) as tf.Tensor2D);
    });
    pixels.dispose();
    const values = Array.from(await probs.data());
    probs.dispose();
    const order = values.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k);
    out.push({ file: resolve(file), classes: order.map(([probability, index]) => ({ name: metadata.classNames[index] ?? String(index), index, probability })) });
  }
  return out;
}
