import { evalPipeline, FASHION_MNIST_MEAN, FASHION_MNIST_STD, IMAGENET_MEAN, IMAGENET_STD, PRESETS, type EvalPipelineOptions } from '@bag-of-tricks/augment';
import type { BatchTransform } from '@bag-of-tricks/core';
import type { TrainConfig } from './config';

/**
 * What an image must go through before the model sees it (the run's eval pipeline, resolved): resize the
 * shorter side to `resize` (false: no resize), centre-crop `crop` x `crop`, convert to `channels`, then
 * `(pixel - mean) / std` per channel on 0..255 values. `size` is the model's input side (= crop).
 */
export interface EvalPreprocessing {
  readonly size: number;
  readonly resize: number | false;
  readonly crop: number;
  readonly channels: 1 | 3;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /**
   * How image-folder runs resized their eval crops (data's `imageFolderDataset` `resample`): `evaluate` on an image
   * folder uses the same, so it reproduces the run's own eval. Absent for IDX/embedded runs (tensor bilinear).
   */
  readonly resample?: 'bilinear' | 'lanczos3';
}

/** `model.json`'s `userDefinedMetadata` of every model the trainer writes. */
export interface ModelMetadata {
  readonly format: 'bag-of-tricks-model';
  readonly version: 1;
  /** One name per output logit, in order. */
  readonly classNames: readonly string[];
  readonly preprocessing: EvalPreprocessing;
  /** `createResNet(name, options)` rebuilds this architecture (options hold inputShape and numClasses). */
  readonly model: { readonly name: string; readonly options: Record<string, unknown> };
  /** The training config of the run (null for a model not trained by `train()`). */
  readonly trainConfig: TrainConfig | null;
  /** `git rev-parse HEAD` where the run started, or null outside a git work tree. */
  readonly gitCommit: string | null;
  /** Optimiser steps and epochs done, and the last eval top-1 (NaN → null) when the model was written. */
  readonly step: number;
  readonly epochs: number;
  readonly top1: number | null;
}

export const MODEL_FORMAT = 'bag-of-tricks-model';

/**
 * Resolves augment's `EvalPipelineOptions` (the very options the run's eval loader uses) to explicit
 * numbers, with augment's defaults (its `PRESETS`, as `evalPipeline` reads them): greyscale 32 → 28 and
 * Fashion-MNIST statistics, else 256 → 224 and ImageNet statistics. `resize` overrides the options' (image folders
 * resize in the dataset, not in the tensor pipeline, so their options say `resize: false`). `evalPipelineFromPreprocessing(result)` equals
 * `evalPipeline(options)` on the same input (a test checks it).
 */
export function resolveEvalPreprocessing(options: EvalPipelineOptions, resize?: number, resample?: 'bilinear' | 'lanczos3'): EvalPreprocessing {
  const channels = options.channels ?? (options.preset === 'greyscale' ? 1 : 3);
  const grey = channels === 1;
  const settings = PRESETS[grey ? 'greyscale' : (options.preset ?? 'paper')];
  const crop = options.crop ?? settings.size;
  const norm = options.normalize;
  if (norm === false) throw new Error('model metadata: an eval pipeline without normalize cannot be described (normalize: false).');
  const mean = norm?.mean ?? (grey ? [FASHION_MNIST_MEAN] : IMAGENET_MEAN);
  const std = norm?.std ?? (grey ? [FASHION_MNIST_STD] : IMAGENET_STD);
  return {
    size: crop,
    resize: resize ?? (options.resize === undefined ? settings.evalResize : options.resize),
    crop,
    channels,
    mean: [...mean],
    std: [...std],
    ...(resample ? { resample } : {}),
  };
}

/** The eval pipeline a model's metadata describes: NHWC 0..255 pixels of any size → the model's input. */
export function evalPipelineFromPreprocessing(p: EvalPreprocessing): BatchTransform {
  return evalPipeline({ channels: p.channels, resize: p.resize, crop: p.crop, normalize: { mean: [...p.mean], std: [...p.std] } });
}

/** Reads and checks a model's `userDefinedMetadata`; `where` names the file in errors. */
export function parseModelMetadata(raw: unknown, where: string): ModelMetadata {
  const m = raw as Partial<ModelMetadata> | undefined;
  if (!m || typeof m !== 'object' || m.format !== MODEL_FORMAT) {
    throw new Error(
      `${where}: no bag-of-tricks metadata in model.json (userDefinedMetadata.format is not '${MODEL_FORMAT}'); ` +
        'evaluate and predict need a model written by `bag-of-tricks train` or `bag-of-tricks export`.',
    );
  }
  const p = m.preprocessing;
  if (!Array.isArray(m.classNames) || !p || (p.channels !== 1 && p.channels !== 3) || !Number.isInteger(p.crop) || p.mean?.length !== p.channels) {
    throw new Error(`${where}: userDefinedMetadata is incomplete (classNames and preprocessing { crop, channels, mean, std } are required).`);
  }
  return m as ModelMetadata;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * IEEE 754 binary16 bits of a number, rounded to nearest, ties to even (subnormals, overflow to ±Infinity,
 * NaN kept). Node 20 has no Math.f16round / Float16Array; this is the inverse of tfjs-core's float16 decoder.
 */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  const m = mant >>> 13;
  const rest = mant & 0x1fff;
  let bits = sign | (e << 10) | m;
  // A carry out of the mantissa moves into the exponent, up to Infinity: exactly IEEE rounding.
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) bits++;
  return bits;
}

/** float32 values → binary16 bits (round to nearest even). */
export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(values[i] as number);
  return out;
}
