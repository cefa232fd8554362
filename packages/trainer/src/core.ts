// @bag-of-tricks/trainer/core: the trainer without Node. Config, loop, step, loss, schedule, optimiser,
// checkpoint encode/decode, evaluation, model metadata and files, fine-tuning helpers and the data-parallel
// step with a pluggable transport (Web Workers here; worker_threads in the package root). A browser (or
// a Web Worker) imports this; `scripts/check-browser.mjs` bundles it for the browser and fails on any
// Node built-in. The package root re-exports all of it plus the Node layer (files, CLI verbs, worker_threads).
export { ConfigError, parseConfig, trainConfigSchema, exportSchema, FREEZE_PARTS, initSchema, WEIGHT_FORMATS, type TrainConfig, type TrainConfigInput } from './config';
export { createOptimizer, disposeOptimizer } from './optimizer';
export { learningRateSchedule, peakLearningRate } from './learning-rate';
export { addWeightDecay, splitDecayVariables, type DecaySplit } from './weight-decay';
export { applyGradientsWithDecay, createTrainStep, type StepLoss, type TrainStepOptions } from './train-step';
export { createStepLoss, type StepLossConfig } from './step-loss';
export { evaluate, scoreBatch, type EvalResult } from './evaluate';
export {
  runTrainingLoop,
  stateIsFinite,
  TrainingDivergedError,
  type LoopHooks,
  type LoopOptions,
  type LoopPosition,
  type LoopResult,
} from './loop';
export {
  checkFingerprint,
  decodeCheckpoint,
  decodeCheckpointHeader,
  encodeCheckpoint,
  modelFingerprint,
  NonFiniteStateError,
  restoreCheckpoint,
  type Checkpoint,
  type CheckpointHeader,
  type CheckpointMeta,
  type EpochRecord,
  type History,
  type ModelFingerprint,
  type StepRecord,
} from './checkpoint';
export {
  evalPipelineFromPreprocessing,
  float16Bits,
  MODEL_FORMAT,
  parseModelMetadata,
  resolveEvalPreprocessing,
  toFloat16,
  type EvalPreprocessing,
  type ModelMetadata,
} from './model-metadata';
export { encodeModelWeights, modelFiles, modelJSONFor, type WeightFormat } from './model-artifacts';
export { freezeLayers, HEAD_LAYER, loadWeightsByName, modelPart, scaleBackboneGradients, weightKey, type FreezeSpec, type LoadByNameResult, type NamedWeight } from './finetune';
export { datasetClassNames, selectData, type DataSelection } from './data-selection';
export {
  createDataParallelStep,
  shardBounds,
  webWorkerTransport,
  type DataParallelStep,
  type DataParallelStepOptions,
  type DataParallelTransport,
  type ReplicaHandle,
  type ReplicaListener,
  type WebWorkerLike,
} from './data-parallel';
export { serveReplica, startReplica, type ReplicaOptions, type ReplicaSend, type WorkerScopeLike } from './dp-replica';
export type { FromWorker, ReplicaInitMessage, ToWorker, WorkerInit } from './dp-protocol';
export { plan, planData, planViews, type DataPlan, type DataViews, type PlanInputs, type RunPlan } from './plan';
