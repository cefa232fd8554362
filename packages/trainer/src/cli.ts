#!/usr/bin/env node
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { CUTMIX_DEFAULTS, DEFAULTS as AUGMENT, MIXUP_DEFAULTS } from '@bag-of-tricks/augment';
import { DEFAULTS as DISTILL } from '@bag-of-tricks/distill';
import { DEFAULTS as LOSSES } from '@bag-of-tricks/losses';
import { DEFAULTS as SCHEDULES } from '@bag-of-tricks/schedules';
import { Command, InvalidArgumentError, Option } from 'commander';
import { PRECISIONS } from '@bag-of-tricks/backend';
import { BACKENDS, ConfigError, type TrainConfigInput } from './config';
import { readCheckpointHeader } from './node/files';
import { train } from './node/train';
import { addModelCommands } from './node/verbs';

const int = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${value}'.`);
  return n;
};

/** Builds the `bag-of-tricks` command (exported for tests of `--help`). */
export function createProgram(): Command {
  const program = new Command()
    .name('bag-of-tricks')
    .description('Train image classifiers with the tricks of He et al. 2019 ("Bag of Tricks for Image Classification") on TensorFlow.js.')
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('train')
    .description(
      'Train a ResNet variant as a JSON config says. Writes metrics.jsonl, checkpoints/ and report.html into the output folder.',
    )
    .argument('[config]', 'path to the JSON training config (optional with --resume <checkpoint>: the checkpoint holds its config)')
    .option('--resume [checkpoint]', 'continue a run: from the given checkpoint file, or (no value) the newest in <out>/checkpoints')
    .option('--out <dir>', 'output folder (overrides "out"; default runs/train)')
    .option('--epochs <n>', 'number of epochs (overrides "epochs")', int('--epochs'))
    .option('--batch-size <n>', 'batch size (overrides "batchSize"; the lr scales linearly with it). With --resume a new size continues on the schedule re-derived in samples seen, and is refused when it does not divide the samples already seen in the epoch', int('--batch-size'))
    .option('--seed <n>', 'random seed for init, data order and augmentation (overrides "seed")', int('--seed'))
    .option('--data <dir>', "training data: an IDX folder (e.g. /usr/share/datasets/fashion-mnist) or 'embedded' (overrides \"data\")")
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend (overrides "backend"; env BOT_BACKEND wins)').choices(BACKENDS))
    .addOption(
      new Option('--precision <p>', 'convolution precision (overrides "precision"): bfloat16 = bf16 operands, float32 sums and weights (native kernels, AVX512_BF16 CPU)').choices(PRECISIONS),
    )
    .option('--workers <n>', 'cores to train on (overrides "workers"): data-parallel replicas, or wasm threads with --parallel threads', int('--workers'))
    .addOption(
      new Option('--parallel <mode>', 'how --workers is used (overrides "parallel"): data = replicas on worker_threads, threads = wasm threads').choices(['data', 'threads']),
    )
    .option('--init <path>', 'fine-tune from a model folder, a checkpoint (.ckpt) or a PyTorch .safetensors file (sets "init.from")')
    .option('--stop-after <steps>', 'stop (with a checkpoint) once this many steps are done; resume later with --resume', int('--stop-after'))
    .option('--no-progress', 'no progress bar (default: shown when stderr is a terminal)')
    .option('--no-report', 'do not write report.html at the end')
    .option('--quiet', 'print only errors and the final summary')
    .addHelpText(
      'after',
      `
Config fields (JSON; defaults in brackets):
  model            { "name": "resnet18d", "options": { "stem": "small", "width": 0.25, ... } }  (required)
  data             { "source": "embedded" } | { "source": "idx", "dir": DIR } |
                   { "source": "image-folder", "dir": DIR, "evalDir": DIR, "size": ${AUGMENT.presets.paper.size} }  [embedded]
                   image folders: "resample": "bilinear" | "lanczos3" [${AUGMENT.resample.loader}], "resize": eval shorter side [size / ${AUGMENT.evalCropFraction}]
                   image folders also: "skipCorrupt": true (leave corrupt files out, counted in metrics.jsonl),
                   "limitInputPixels": N (most pixels per image; data's DEFAULT_LIMIT_INPUT_PIXELS by default)
                   embedded/idx also: "classes": [5, 6, 7, 8, 9] (only those, relabelled 0..k-1),
                   "perClass": N (N training images per class, drawn with the seed)
  epochs           number of epochs (required)
  batchSize        [128]
  optimizer        { "kind": "nag", "momentum": 0.9 } | { "kind": "sgd", "momentum": 0 } | { "kind": "adam", ... }  [nag 0.9]
  baseLr           lr for a batch of ${SCHEDULES.linearScaling.referenceBatch} [${SCHEDULES.linearScaling.baseLr}];  linearScaling: lr = baseLr * batchSize / ${SCHEDULES.linearScaling.referenceBatch} [true]
  warmupEpochs     linear warmup, per iteration [${SCHEDULES.warmup.epochs}]
  schedule         { "kind": "cosine", "floor": ${SCHEDULES.cosine.floor} } | { "kind": "step", "milestones": [30, 60, 90], "gamma": ${SCHEDULES.stepDecay.gamma} }  [cosine]
  weightDecay      L2 added to the gradients [1e-4];  noBiasDecay: decay conv/dense kernels only [false]
  labelSmoothing   { "epsilon": ${LOSSES.labelSmoothing.epsilon}, "form": "uniform" | "paper" [${LOSSES.labelSmoothing.form}] }  [off]
  mixup            { "alpha": ${MIXUP_DEFAULTS.alpha}, "offEpochs": 0 }  [off];  cutmix: { "alpha": ${CUTMIX_DEFAULTS.alpha}, "offEpochs": 0 }  [off]
  distillation     { "teacher": "RUN/model" (an earlier run's out/model, or any LayersModel folder / model.json),
                     "temperature": ${DISTILL.distillation.temperature}, "form": "paper" | "weighted" [${DISTILL.distillation.form}],
                     "hardWeight": ${DISTILL.distillation.hardWeight}, "softTerm": "cross-entropy" | "kl" [${DISTILL.distillation.softTerm}], "cache": false }  [off]
  init             fine-tuning: { "from": MODEL_DIR | CKPT | FILE.safetensors,
                     "freeze": "none" | "stem" | "backbone" | ["stem", "layer1", ...], "backboneLrScale": 1,
                     "newHead": false (true: a fresh classifier even for as many classes) }  [off]
  export           { "weights": "float32" | "float16", "best": false }: out/model always, out/best with best: true
  augment          options for augment's trainPipeline  [greyscale preset for 1-channel data]; checked by augment's
                   validateAugmentOptions; image folders: scale, ratio and the per-image options only.
                   Crop scale [${AUGMENT.crop.scale.join(', ')}], 1-channel in-memory data [${AUGMENT.presets.greyscale.scale.join(', ')}]
  seed [0]   backend [auto]   out [runs/train]   logEvery [1]   evalBatchSize [500]
  precision        "float32" | "bfloat16" (conv operands in bf16, float32 sums, weights and updates;
                   native kernels on wasm, AVX512_BF16 CPU)  [float32]
  workers          cores to train on [1]
  parallel         "data": workers = data-parallel replicas (this thread + worker_threads, each its own
                   single-threaded wasm/cpu backend and 1/workers of the batch; BN per replica shard) |
                   "threads": workers = wasm threads in one backend (losses identical to 1)  [data]
  checkpoint       { "every": steps between checkpoints, 0 = each epoch end, "keep": 3 }

Examples:
  bag-of-tricks train config.json --out runs/exp1
  bag-of-tricks train config.json --out runs/exp1 --resume
  bag-of-tricks train --resume runs/exp1/checkpoints/ckpt-00000400.ckpt --epochs 20
  bag-of-tricks train config.json --data /usr/share/datasets/fashion-mnist --backend wasm
  bag-of-tricks train config.json --workers 2                     # 2 data-parallel replicas
  bag-of-tricks train config.json --workers 2 --parallel threads  # 2 wasm threads
  bag-of-tricks train finetune.json --init runs/exp1/model         # fine-tune from an earlier run's model`,
    )
    .action(async (configPath: string | undefined, opts: Record<string, unknown>) => {
      let raw: Record<string, unknown>;
      let source: string;
      if (configPath) {
        source = resolve(configPath);
        if (!existsSync(source)) throw new Error(`Config file not found: ${source}`);
        try {
          raw = JSON.parse(readFileSync(source, 'utf8')) as Record<string, unknown>;
        } catch (err) {
          throw new Error(`Config file ${source} is not valid JSON: ${(err as Error).message}`);
        }
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`Config file ${source} must hold a JSON object.`);
      } else if (typeof opts.resume === 'string') {
        source = `config stored in ${resolve(opts.resume)}`;
        raw = { ...(readCheckpointHeader(opts.resume).config as unknown as Record<string, unknown>) };
      } else {
        throw new Error('train: give a config file, or --resume <checkpoint> (whose stored config is then used).');
      }
      if (opts.out !== undefined) raw.out = opts.out;
      if (opts.epochs !== undefined) raw.epochs = opts.epochs;
      if (opts.batchSize !== undefined) raw.batchSize = opts.batchSize;
      if (opts.seed !== undefined) raw.seed = opts.seed;
      if (opts.backend !== undefined) raw.backend = opts.backend;
      if (opts.precision !== undefined) raw.precision = opts.precision;
      if (opts.workers !== undefined) raw.workers = opts.workers;
      if (opts.parallel !== undefined) raw.parallel = opts.parallel;
      if (typeof opts.init === 'string') raw.init = { ...(raw.init as object | undefined), from: opts.init };
      if (typeof opts.data === 'string') raw.data = opts.data === 'embedded' ? { source: 'embedded' } : { source: 'idx', dir: opts.data };
      const quiet = opts.quiet === true;
      const result = await train(raw as TrainConfigInput, {
        configSource: source,
        ...(opts.resume !== undefined ? { resume: opts.resume as string | true } : {}),
        ...(opts.stopAfter !== undefined ? { stopAfterStep: opts.stopAfter as number } : {}),
        ...(opts.progress === false ? { progress: false } : {}),
        report: opts.report !== false,
        log: quiet ? () => {} : (m) => console.log(m),
      });
      const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(2)}%`);
      console.log(
        `${result.stopped ? 'Stopped' : 'Done'} after ${result.steps} steps in ${result.seconds.toFixed(1)} s on ${result.backend}: ` +
          `top-1 ${pct(result.top1)}, top-5 ${pct(result.top5)}`,
      );
      result.model.dispose();
      console.log(`Model: ${result.modelDir}${result.bestDir ? ` (best epoch: ${result.bestDir})` : ''}`);
      if (result.reportPath) console.log(`Report: ${result.reportPath}`);
      if (result.lastCheckpoint) console.log(`Last checkpoint: ${result.lastCheckpoint}`);
    });
  addModelCommands(program);
  return program;
}

/** Runs the CLI; errors print one clear message (no stack for config problems) and exit 1. */
export async function main(argv: readonly string[] = process.argv): Promise<void> {
  try {
    await createProgram().parseAsync(argv as string[]);
  } catch (err) {
    const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
    console.error(`bag-of-tricks: ${message}`);
    process.exitCode = 1;
  }
}

const invokedDirectly = (() => {
  try {
    const argv1 = process.argv[1];
    // The npm bin is a symlink: compare real paths.
    return argv1 !== undefined && realpathSync(new URL(import.meta.url)) === realpathSync(argv1);
  } catch {
    return false;
  }
})();
if (invokedDirectly) await main();
