import * as tf from '@tensorflow/tfjs-core';

/** A batch of n images (h x w x c) with deterministic integer pixels in [0, 255] and one-hot labels. */
export function makeBatch(n: number, h: number, w: number, c: number, classes = 10): { images: tf.Tensor4D; labels: tf.Tensor2D } {
  const px = new Float32Array(n * h * w * c);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37 + ((i / 7) | 0) * 11) % 256;
  const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes), 'float32') as tf.Tensor2D);
  return { images: tf.tensor4d(px, [n, h, w, c]), labels };
}

export const at4 = (data: ArrayLike<number>, shape: readonly number[], n: number, y: number, x: number, c: number): number =>
  data[((n * shape[1]! + y) * shape[2]! + x) * shape[3]! + c]!;

/** Disposes tensors and batches ({ images, labels }). */
export function free(...xs: (tf.Tensor | { images: tf.Tensor; labels: tf.Tensor })[]): void {
  for (const x of xs) {
    if (x instanceof tf.Tensor) x.dispose();
    else tf.dispose([x.images, x.labels]);
  }
}
