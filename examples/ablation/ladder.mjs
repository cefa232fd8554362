#!/usr/bin/env node
// The ablation ladder of He et al. 2019 on Fashion-MNIST: every rung (rungs.mjs) x every seed, each run in its own
// process, each writing results/<rung>/seed-<k>.json when it has finished. A finished run is skipped when the command
// starts again; an interrupted one continues from its last epoch checkpoint (runs/<rung>/seed-<k>/checkpoints).
//
//   npm run ablation -- --epochs 15                             # the whole ladder, 3 seeds, one run per core
//   npm run ablation -- --rungs 0,4 --seeds 0 --epochs 15       # a pilot
//   npm run ablation -- --quick                                 # every rung once on a tiny budget (CI)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_RUNG_IDS, LADDER_EPOCHS, orderRungs, RUNG_IDS, rungById, rungConfig, TEACHER, teacherConfig } from './rungs.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
export const RESULT_FORMAT = 'bag-of-tricks/ablation-run@1';

const USAGE = `Usage: npm run ablation -- [options]
  --epochs N       base epochs per run (rungs 4L, 6, 7 train 1.6x as long); default ${LADDER_EPOCHS} (rungs.mjs)
  --rungs LIST     comma-separated rung ids (default: ${DEFAULT_RUNG_IDS.join(',')}; opt-in: ${RUNG_IDS.filter((id) => !DEFAULT_RUNG_IDS.includes(id)).join(',')}); 5 and 7 train the teacher first
  --seeds LIST     comma-separated seeds (default 0,1,2)
  --parallel N     runs at once, each in its own process (default: one per core)
  --workers N      data-parallel replicas per run (default 1: BatchNorm over the whole batch, as the committed results)
  --teacher-epochs N  epochs of the ResNet-56-D teacher (default: --epochs)
  --results DIR    where result files go (default examples/ablation/results; --quick: a temp folder)
  --runs DIR       trainer output folders: metrics, checkpoints, saved models (default examples/ablation/runs)
  --backend NAME   auto | wasm | cpu | tensorflow (default auto)
  --quick          every rung on the embedded 6k/1k subset, 1 seed, 1 epoch, half-width 8-layer nets, into a temp folder
  --dry-run        print the plan and exit`;

export function parseList(value, name) {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error(`--${name}: empty list`);
  return items;
}

export function positiveInt(value, name) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got '${value}'`);
  return n;
}

/** A run's result file path. */
export const resultPath = (results, rung, seed) => join(results, rung, `seed-${seed}.json`);

/** The full trainer config of one job (a rung and seed, or the teacher). */
function jobConfig(job, opts) {
  const c = job.rung === TEACHER.rung ? teacherConfig({ epochs: opts.teacherEpochs }) : rungConfig(job.rung, { epochs: opts.epochs, seed: job.seed, teacherPath: opts.teacherPath });
  const config = { ...c, out: join(opts.runs, job.rung, `seed-${job.seed}`), workers: opts.workers, backend: opts.backend };
  if (opts.quick) {
    // The embedded 1,000-image test subset instead of the full 10,000, and half-width nets with one block per stage (ResNet-8): the pipeline, not the numbers.
    config.data = { source: 'embedded' };
    config.model = { ...config.model, options: { ...config.model.options, width: 0.5, layers: [1, 1, 1] } };
  }
  return config;
}

function describe(job) {
  return job.rung === TEACHER.rung ? `teacher (${TEACHER.model}-D, rung ${TEACHER.from}'s recipe)` : `rung ${job.rung} seed ${job.seed}`;
}

/** Running runs; a SIGINT/SIGTERM to the harness stops them too (they continue from their checkpoints next time). */
const children = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    // SIGKILL: a training loop that never yields to the event loop would only see a SIGTERM at the end of its epoch.
    // Nothing is lost that a restart needs: result files and checkpoints are written atomically.
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}

/** Runs one job in a child process (its own backend and memory); resolves with its exit code. */
export function runChild(job, config, opts) {
  return new Promise((resolveRun) => {
    const payload = JSON.stringify({ job, config, resultFile: resultPath(opts.results, job.rung, job.seed), title: job.title, saveModel: job.rung === TEACHER.rung });
    const child = spawn(process.execPath, [join(HERE, 'run-one.mjs'), payload], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    const prefix = `[${job.rung}/${job.seed}] `;
    const pipe = (stream, target) => {
      let buf = '';
      stream.on('data', (d) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop();
        for (const l of lines) target.write(prefix + l + '\n');
      });
      stream.on('end', () => buf && target.write(prefix + buf + '\n'));
    };
    pipe(child.stdout, process.stdout);
    pipe(child.stderr, process.stderr);
    child.on('close', (code) => resolveRun(code ?? 1));
  });
}

/** A finished result for this job and epoch budget, or null. Throws when a result with another budget is in the way. */
export function finished(job, config, opts) {
  const file = resultPath(opts.results, job.rung, job.seed);
  if (!existsSync(file)) return null;
  const r = JSON.parse(readFileSync(file, 'utf8'));
  if (r.config?.epochs !== config.epochs) {
    throw new Error(`${relative(process.cwd(), file)} holds a ${r.config?.epochs}-epoch run, but this ladder asks for ${config.epochs}; pass the same --epochs, or move the file away.`);
  }
  return r;
}

/**
 * The command line both harnesses share (this ladder and examples/transfer): parses `argv` with the common options
 * plus `extra` ones, and resolves the settings every harness needs. `name` picks the --quick scratch folder,
 * `here` the default results/ and runs/ folders. Returns null after printing `usage` for --help.
 */
export function harnessArgs(argv, { name, here, usage, extra = {} }) {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...extra,
      epochs: { type: 'string' },
      seeds: { type: 'string' },
      parallel: { type: 'string', default: String(availableParallelism()) },
      workers: { type: 'string' },
      'teacher-epochs': { type: 'string' },
      results: { type: 'string' },
      runs: { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      quick: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return null;
  }
  const quick = values.quick;
  const epochs = positiveInt(values.epochs ?? (quick ? '1' : String(LADDER_EPOCHS)), 'epochs');
  const seeds = (values.seeds ? parseList(values.seeds, 'seeds') : quick ? ['0'] : ['0', '1', '2']).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--seeds: expected non-negative integers, got '${s}'`);
    return n;
  });
  const parallel = positiveInt(values.parallel, 'parallel');
  const workers = positiveInt(values.workers ?? '1', 'workers');
  const quickDir = join(tmpdir(), `bag-of-tricks-${name}-quick`);
  const results = resolve(values.results ?? (quick ? join(quickDir, 'results') : join(here, 'results')));
  const runs = resolve(values.runs ?? (quick ? join(quickDir, 'runs') : join(here, 'runs')));
  const teacherEpochs = positiveInt(values['teacher-epochs'] ?? String(epochs), 'teacher-epochs');
  return { values, quick, epochs, seeds, parallel, workers, results, runs, teacherEpochs, dryRun: values['dry-run'] };
}

export async function main(argv = process.argv.slice(2)) {
  const args = harnessArgs(argv, { name: 'ablation', here: HERE, usage: USAGE, extra: { rungs: { type: 'string' } } });
  if (!args) return 0;
  const { values, quick, epochs, seeds, parallel, workers, results, runs, teacherEpochs } = args;
  const rungs = values.rungs ? parseList(values.rungs, 'rungs') : DEFAULT_RUNG_IDS;
  for (const r of rungs) rungById(r);
  const teacherPath = join(runs, TEACHER.rung, `seed-${TEACHER.seed}`, 'model');
  const opts = { epochs, teacherEpochs, workers, backend: values.backend, results, runs, teacherPath, quick };

  const ordered = orderRungs(rungs);
  const needsTeacher = ordered.some((r) => rungById(r).teacher);
  // The teacher first (with --parallel > 1 it trains beside the other rungs), then seed-major, so a whole ladder for
  // seed 0 lands before seed 1 starts; the rungs that learn from the teacher last.
  const jobs = [];
  const plain = ordered.filter((r) => !rungById(r).teacher);
  const taught = ordered.filter((r) => rungById(r).teacher);
  if (needsTeacher) jobs.push({ rung: TEACHER.rung, seed: TEACHER.seed, title: `teacher: ${TEACHER.model} (ResNet-D) with rung ${TEACHER.from}'s recipe` });
  for (const seed of seeds) for (const rung of plain) jobs.push({ rung, seed, title: rungById(rung).title });
  for (const seed of seeds) for (const rung of taught) jobs.push({ rung, seed, title: rungById(rung).title });

  console.log(`[ablation] ${jobs.length} runs, ${epochs} base epochs, seeds ${seeds.join(',')}, ${parallel} at a time x ${workers} replicas; results in ${results}`);
  const todo = [];
  for (const job of jobs) {
    const config = jobConfig(job, opts);
    let done = null;
    try {
      done = finished(job, config, opts);
    } catch (err) {
      console.error(`[ablation] ${describe(job)}: ${err.message}`);
      continue;
    }
    const modelMissing = job.rung === TEACHER.rung && !existsSync(join(teacherPath, 'model.json'));
    if (done && !modelMissing) console.log(`[ablation] ${describe(job)}: done (top-1 ${(100 * done.final.top1).toFixed(2)}%), skipped`);
    else todo.push({ job, config });
  }
  if (args.dryRun) {
    for (const { job, config } of todo) console.log(`[ablation] would run ${describe(job)}: ${config.model.name} ${JSON.stringify(config.model.options)}, ${config.epochs} epochs`);
    return 0;
  }

  let failures = 0;
  let teacherFailed = false;
  const queue = [...todo];
  const started = performance.now();
  let teacherRunning = false;
  const isTaught = (job) => job.rung !== TEACHER.rung && Boolean(rungById(job.rung).teacher);
  const teacherPending = () => teacherRunning || queue.some(({ job }) => job.rung === TEACHER.rung);
  async function worker() {
    while (queue.length > 0) {
      // A run that needs the teacher waits until the teacher job has finished.
      const i = queue.findIndex(({ job }) => !isTaught(job) || !teacherPending());
      if (i < 0) {
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      const [{ job, config }] = queue.splice(i, 1);
      if (isTaught(job) && (teacherFailed || !existsSync(join(teacherPath, 'model.json')))) {
        console.error(`[ablation] ${describe(job)}: skipped, the teacher model ${join(teacherPath, 'model.json')} is missing (the teacher run failed, or this trainer does not save out/model yet).`);
        failures++;
        continue;
      }
      if (job.rung === TEACHER.rung) teacherRunning = true;
      console.log(`[ablation] ${describe(job)}: starting (${config.epochs} epochs, ${config.model.name} ${JSON.stringify(config.model.options)})`);
      const code = await runChild(job, config, opts);
      if (job.rung === TEACHER.rung) {
        teacherRunning = false;
        if (code !== 0 || !existsSync(join(teacherPath, 'model.json'))) teacherFailed = true;
      }
      if (code !== 0) {
        failures++;
        console.error(`[ablation] ${describe(job)}: failed (exit ${code}); rerun the command to retry it`);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, queue.length)) }, () => worker()));
  const minutes = (performance.now() - started) / 60000;
  console.log(`[ablation] finished in ${minutes.toFixed(1)} min: ${todo.length - failures} runs done, ${failures} failed or skipped; results in ${results}`);
  return failures === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`[ablation] ${err.message}`);
      process.exit(2);
    },
  );
}

