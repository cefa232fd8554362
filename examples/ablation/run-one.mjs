// One run of the ladder, in its own process (started by ladder.mjs): trains with the trainer's train(), continuing
// from the run's newest checkpoint if an earlier attempt was interrupted, then writes the result file atomically.
// Usage (internal): node run-one.mjs '<json: { job, config, resultFile, title }>'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '@bag-of-tricks/data';
import { gitCommit, latestCheckpoint, train } from '@bag-of-tricks/trainer';
import { RESULT_FORMAT } from './ladder.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { job, config, resultFile, title } = JSON.parse(process.argv[2]);
// Some dependency catches SIGTERM without exiting: exit when the signal is seen (the training loop may only yield to
// the event loop between epochs; ladder.mjs sends SIGKILL). Checkpoints and the result file are written atomically.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
const log = (m) => console.log(m);

// A checkpoint continues only the very run that wrote it: same config (epochs, schedule, …), else start over.
const stamp = join(config.out, 'ladder-config.json');
const sameRun = existsSync(stamp) && readFileSync(stamp, 'utf8') === JSON.stringify(config);
if (!sameRun) rmSync(join(config.out, 'checkpoints'), { recursive: true, force: true });
mkdirSync(config.out, { recursive: true });
writeFileAtomic(stamp, JSON.stringify(config));
const checkpoint = existsSync(join(config.out, 'checkpoints')) ? latestCheckpoint(config.out) : null;
let result;
if (checkpoint) {
  try {
    log(`[run] continuing from ${checkpoint}`);
    result = await train(config, { resume: checkpoint, log, progress: false, configSource: 'examples/ablation/rungs.mjs' });
  } catch (err) {
    // A checkpoint from another config (the rung's definition changed) cannot be continued: start over.
    log(`[run] cannot continue from ${checkpoint} (${err.message.split('\n')[0]}); starting over`);
    rmSync(join(config.out, 'checkpoints'), { recursive: true, force: true });
    result = undefined;
  }
}
result ??= await train(config, { log, progress: false, configSource: 'examples/ablation/rungs.mjs' });

const epochs = result.history.epochs.map((e) => ({
  epoch: e.epoch + 1,
  top1: e.top1,
  top5: e.top5,
  loss: e.evalLoss,
  trainLoss: e.trainLoss,
  lr: e.lr,
  seconds: e.seconds,
}));
const last = epochs.at(-1);
const record = {
  format: RESULT_FORMAT,
  implementation: 'tfjs',
  rung: job.rung,
  seed: job.seed,
  title,
  final: { top1: last.top1, top5: last.top5, loss: last.loss },
  epochs,
  // Every epoch's time (train + eval), over all attempts of this run when it was interrupted and continued.
  seconds: epochs.reduce((s, e) => s + e.seconds, 0),
  backend: result.backend,
  workers: result.config.workers,
  steps: result.steps,
  config: result.config,
  commit: gitCommit(HERE), // `git rev-parse HEAD` in this folder: also right in a git worktree (.git is a file there)
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, platform: `${platform()}-${arch()}`, node: process.version },
  ...(existsSync(join(config.out, 'model', 'model.json')) ? { model: join(config.out, 'model') } : {}),
};
mkdirSync(dirname(resultFile), { recursive: true });
writeFileAtomic(resultFile, `${JSON.stringify(record, null, 1)}\n`);
log(`[run] ${job.rung}/seed-${job.seed}: top-1 ${(100 * last.top1).toFixed(2)}% in ${record.seconds.toFixed(0)} s -> ${resultFile}`);
// Newer trainers hand the trained model back to the caller; this process ends here anyway.
result.model?.dispose?.();
process.exit(0);
