#!/usr/bin/env node
// The transfer experiment (He et al. 2019, section 6, at our scale): pretrain a ResNet-20 on Fashion-MNIST classes
// 0-4 with the ablation ladder's rung 0 recipe and with its last rung's, fine-tune each on classes 5-9 with 50
// labelled images per class and with all of them, and train the same target runs from scratch (arms.mjs). Every
// (arm, seed) run is its own process (examples/ablation's run-one.mjs) and writes results/<arm>/seed-<k>.json when it
// has finished; a finished run is skipped when the command starts again, an interrupted one continues from its last
// epoch checkpoint. Fine-tuning waits for its pretraining run (same seed), a distilling recipe for the teacher.
//
//   npm run transfer                                   # 3 seeds, every arm, one single-core run per core
//   npm run transfer -- --seeds 0 --epochs 20          # one seed
//   npm run transfer -- --quick                        # every arm once on a tiny budget (CI)
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { finished, harnessArgs, parseList, runChild } from '../ablation/ladder.mjs';
import { LADDER_EPOCHS, rungById } from '../ablation/rungs.mjs';
import { armConfig, armIds, armTitle, needsTeacher, parseArm, RECIPES, REGIMES, TRANSFER_TEACHER } from './arms.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

const USAGE = `Usage: npm run transfer -- [options]
  --epochs N       pretraining epochs (rungs 4L/6/7: 1.6x) and 'all' fine-tuning epochs ('few': 3x); default ${LADDER_EPOCHS}
  --recipes LIST   pretraining recipes, ladder rung ids (default ${RECIPES.join(',')}: rung 0 and the last rung)
  --regimes LIST   few (50 images per target class) and/or all (default ${REGIMES.join(',')})
  --seeds LIST     comma-separated seeds (default 0,1,2)
  --parallel N     runs at once, each in its own process (default: one per core)
  --workers N      data-parallel replicas per run (default 1)
  --teacher-epochs N  epochs of the ResNet-56-D teacher of a distilling recipe (default: --epochs)
  --results DIR    where result files go (default examples/transfer/results; --quick: a temp folder)
  --runs DIR       trainer output folders (default examples/transfer/runs)
  --backend NAME   auto | wasm | cpu | tensorflow (default auto)
  --quick          every arm once: 1 seed, 1 epoch, half-width 8-layer nets, the embedded test subset, into a temp folder
  --dry-run        print the plan and exit`;

/** The trainer config of a job, with the harness's output folder, workers, backend and the --quick shrink. */
function jobConfig(job, opts) {
  const c = armConfig(job.rung, {
    epochs: job.rung === TRANSFER_TEACHER.arm ? opts.teacherEpochs : opts.epochs,
    seed: job.seed,
    teacherPath: opts.teacherPath,
    pretrained: (recipe, seed) => modelDir(opts.runs, `pretrain-${recipe}`, seed),
  });
  const config = { ...c, out: join(opts.runs, job.rung, `seed-${job.seed}`), workers: opts.workers, backend: opts.backend };
  if (opts.quick) {
    // The embedded 1,000-image test subset (500 of each task) instead of the full split, and ResNet-8 at half width.
    const { eval: _full, ...data } = config.data;
    config.data = data;
    config.model = { ...config.model, options: { ...config.model.options, width: 0.5, layers: [1, 1, 1] } };
  }
  return config;
}

const modelDir = (runs, arm, seed) => join(runs, arm, `seed-${seed}`, 'model');
const key = (job) => `${job.rung}/${job.seed}`;

export async function main(argv = process.argv.slice(2)) {
  const args = harnessArgs(argv, { name: 'transfer', here: HERE, usage: USAGE, extra: { recipes: { type: 'string' }, regimes: { type: 'string' } } });
  if (!args) return 0;
  const { values, quick, epochs, seeds, parallel, workers, results, runs, teacherEpochs } = args;
  const recipes = values.recipes ? parseList(values.recipes, 'recipes') : RECIPES;
  for (const r of recipes) rungById(r);
  const regimes = values.regimes ? parseList(values.regimes, 'regimes') : REGIMES;
  for (const g of regimes) if (!REGIMES.includes(g)) throw new Error(`--regimes: unknown regime '${g}'; the regimes are ${REGIMES.join(', ')}`);
  const teacherPath = modelDir(runs, TRANSFER_TEACHER.arm, TRANSFER_TEACHER.seed);
  const opts = { epochs, teacherEpochs, workers, backend: values.backend, results, runs, teacherPath, quick };

  // The jobs, each with the jobs it needs: the teacher, then pretraining, then the target runs (seed-major).
  const jobs = [];
  const teacherKey = `${TRANSFER_TEACHER.arm}/${TRANSFER_TEACHER.seed}`;
  if (recipes.some(needsTeacher)) jobs.push({ rung: TRANSFER_TEACHER.arm, seed: TRANSFER_TEACHER.seed, needs: [] });
  for (const seed of seeds) {
    for (const id of armIds(recipes, regimes)) {
      const arm = parseArm(id);
      const needs = arm.kind === 'pretrain' ? (needsTeacher(arm.recipe) ? [teacherKey] : []) : arm.kind === 'finetune' ? [`pretrain-${arm.recipe}/${seed}`] : [];
      jobs.push({ rung: id, seed, needs });
    }
  }
  for (const job of jobs) job.title = armTitle(job.rung);

  console.log(`[transfer] ${jobs.length} runs, ${epochs} base epochs, recipes ${recipes.join(',')}, regimes ${regimes.join(',')}, seeds ${seeds.join(',')}, ${parallel} at a time x ${workers} replicas; results in ${results}`);
  const done = new Set();
  const failed = new Set();
  const todo = [];
  for (const job of jobs) {
    const config = jobConfig(job, opts);
    let record = null;
    try {
      record = finished(job, config, opts);
    } catch (err) {
      console.error(`[transfer] ${key(job)}: ${err.message}`);
      failed.add(key(job));
      continue;
    }
    // A run others start from must still have its model folder (runs/ is not committed).
    const modelMissing = jobs.some((j) => j.needs.includes(key(job))) && !existsSync(join(config.out, 'model', 'model.json'));
    if (record && !modelMissing) {
      console.log(`[transfer] ${key(job)}: done (top-1 ${(100 * record.final.top1).toFixed(2)}%), skipped`);
      done.add(key(job));
    } else todo.push({ job, config });
  }
  if (args.dryRun) {
    for (const { job, config } of todo) console.log(`[transfer] would run ${key(job)}: ${config.model.name} ${JSON.stringify(config.model.options)}, ${config.epochs} epochs${job.needs.length ? ` (after ${job.needs.join(', ')})` : ''}`);
    return 0;
  }

  const queue = [...todo];
  const refused = failed.size;
  let failures = 0;
  const started = performance.now();
  async function worker() {
    while (queue.length > 0) {
      // A job whose needs failed fails too; one whose needs are still running waits.
      const blocked = queue.findIndex(({ job }) => job.needs.some((n) => failed.has(n)));
      if (blocked >= 0) {
        const [{ job }] = queue.splice(blocked, 1);
        console.error(`[transfer] ${key(job)}: skipped, ${job.needs.filter((n) => failed.has(n)).join(', ')} failed`);
        failed.add(key(job));
        failures++;
        continue;
      }
      const i = queue.findIndex(({ job }) => job.needs.every((n) => done.has(n)));
      if (i < 0) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      const [{ job, config }] = queue.splice(i, 1);
      console.log(`[transfer] ${key(job)}: starting (${config.epochs} epochs, ${config.model.name} ${JSON.stringify(config.model.options)})`);
      const code = await runChild(job, config, opts);
      if (code === 0 && existsSync(join(config.out, 'model', 'model.json'))) done.add(key(job));
      else {
        failed.add(key(job));
        failures++;
        console.error(`[transfer] ${key(job)}: failed (exit ${code}); rerun the command to retry it`);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, queue.length)) }, () => worker()));
  const minutes = (performance.now() - started) / 60000;
  console.log(`[transfer] finished in ${minutes.toFixed(1)} min: ${todo.length - failures} runs done, ${failures + refused} failed or skipped; results in ${results}`);
  return failures + refused === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`[transfer] ${err.message}`);
      process.exit(2);
    },
  );
}
