export { ConfigError, parseConfig, trainConfigSchema, type TrainConfig, type TrainConfigInput } from './config';
export { createOptimizer } from './optimizer';
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
export { train, type TrainOptions, type TrainResult } from './node/train';
export { createDataParallelStep, shardBounds, type DataParallelStep, type DataParallelStepOptions } from './node/data-parallel';
export { latestCheckpoint, listCheckpoints, readCheckpointFile } from './node/files';
export { renderReport, reportSpecs, type ReportSummary } from './node/report';
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
export { freezeLayers, HEAD_LAYER, loadWeightsByName, modelPart, scaleBackboneGradients, weightKey, type FreezeSpec, type LoadByNameResult, type NamedWeight } from './finetune';
export { exportSchema, FREEZE_PARTS, initSchema, WEIGHT_FORMATS } from './config';
export { gitCommit, isModelPath, loadModel, modelJsonPath, saveModel, type SavedModel, type WeightFormat } from './node/model-io';
export { initFromPretrained, modelFromCheckpoint, type InitResult } from './node/sources';
export { evaluateModel, formatEvaluation, renderEvaluationHtml, type ClassResult, type EvaluationReport } from './node/evaluate-model';
export { decodeImage, predictFiles, type Prediction } from './node/predict';
