// @bag-of-tricks/trainer: the whole trainer for Node. Everything of the Node-free core
// (`@bag-of-tricks/trainer/core`, for browsers and Web Workers), then the Node layer: `train()`, files,
// model folders, reports, CLI verbs, and the data-parallel step on worker_threads (this root's
// `createDataParallelStep` defaults its transport to worker_threads; the core's takes one).
export * from './core';
export { createDataParallelStep, workerThreadsTransport } from './node/data-parallel';
export { train, type TrainOptions, type TrainResult } from './node/train';
export { latestCheckpoint, listCheckpoints, readCheckpointFile } from './node/files';
export { renderReport, reportSpecs, type ReportSummary } from './node/report';
export { gitCommit, isModelPath, loadModel, modelJsonPath, saveModel, type SavedModel } from './node/model-io';
export { initFromPretrained, modelFromCheckpoint, type InitResult } from './node/sources';
export { evaluateModel, formatEvaluation, renderEvaluationHtml, type ClassResult, type EvaluationReport } from './node/evaluate-model';
export { decodeImage, predictFiles, type Prediction } from './node/predict';
export { plan, planData, planViews, type DataPlan, type DataViews, type PlanInputs, type RunPlan } from './plan';
export { disposeOptimizer } from './optimizer';
