// Messages between the page and the trainer worker.
import type { EpochRecord, ModelMetadata, StepRecord } from '@bag-of-tricks/trainer/core';
import type { PageBackend } from './backend';

export type MixKind = 'none' | 'mixup' | 'cutmix';

/** Every switch on the page. */
export interface Settings {
  variant: 'a' | 'b' | 'c' | 'd';
  zeroGamma: boolean;
  warmup: boolean;
  cosine: boolean;
  labelSmoothing: boolean;
  mix: MixKind;
  noBiasDecay: boolean;
  distillation: boolean;
  epochs: number;
  batchSize: number;
  /** Training images per class (the embedded subset has 600). */
  perClass: number;
  seed: number;
  backend: PageBackend;
  /** Data-parallel replicas (1 = the trainer worker alone). */
  workers: number;
}

export interface FileBytes {
  name: string;
  bytes: ArrayBuffer;
}

/** A teacher for distillation: a model.json URL, or model.json and its weight files picked by the user. */
export type TeacherSource = { kind: 'url'; url: string } | { kind: 'files'; files: FileBytes[] };

export type ToTrainer =
  | { type: 'train'; settings: Settings; teacher?: TeacherSource }
  | { type: 'stop' }
  | { type: 'predict'; image: { pixels: Float32Array; width: number; height: number; channels: 1 | 3 } }
  | { type: 'download' }
  | { type: 'load-model'; files: FileBytes[] };

export interface RunInfo {
  backend: string;
  workers: number;
  transport: string;
  stepsPerEpoch: number;
  totalSteps: number;
  parameters: number;
  trainImages: number;
  testImages: number;
}

export type FromTrainer =
  | { type: 'log'; message: string }
  | { type: 'started'; info: RunInfo }
  | { type: 'step'; record: StepRecord }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'done'; top1: number; top5: number; seconds: number; imagesPerSecond: number; stopped: boolean }
  | { type: 'error'; message: string; kind: 'unsupported' | 'memory' | 'input' | 'other' }
  | { type: 'prediction'; classes: { name: string; probability: number }[] }
  | { type: 'files'; files: { name: string; bytes: Uint8Array }[] }
  | { type: 'model-loaded'; metadata: Pick<ModelMetadata, 'classNames' | 'model' | 'step' | 'epochs' | 'top1'> };
