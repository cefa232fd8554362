#!/usr/bin/env node
// Two (or more) builds of the addon, compared on a training step at 1 and 2 native threads: each round runs,
// for each build in turn, bench/step-threads.mjs (1 and 2 threads alternated step by step in one process;
// the time inside the conv kernels too) and, with --train-step, scripts/bench/train-step.mjs at
// BOT_NATIVE_THREADS=1 and 2. A build is put in place as dist/native/bot_native.node for its runs (renamed
// in, so a process loading it meanwhile sees a whole file); the file that was there is restored at the end.
// Prints medians over the rounds, and the median of each round's paired 1-thread / 2-thread ratio, as a
// markdown table.
//   node packages/native-kernels/bench/threads-ab.mjs --builds before=/tmp/main.node,after=/tmp/new.node
//        [--rounds 5] [--precision bfloat16] [--steps 10] [--model resnet20] [--train-step]
import { spawnSync } from 'node:child_process';
import { copyFileSync, renameSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const builds = arg('builds', '')
  .split(',')
  .filter(Boolean)
  .map((b) => ({ label: b.split('=')[0], path: b.split('=').slice(1).join('=') }));
if (builds.length < 1 || builds.some((b) => !b.path)) throw new Error('--builds label=path.node[,label=path.node...]');
const rounds = Number(arg('rounds', 5));
const precision = arg('precision', 'bfloat16');
const steps = arg('steps', '10');
const model = arg('model', 'resnet20');
const trainStep = process.argv.includes('--train-step');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dest = fileURLToPath(new URL('../dist/native/bot_native.node', import.meta.url));
const saved = `${dest}.threads-ab-${process.pid}`;

const install = (path) => {
  copyFileSync(path, `${dest}.tmp-${process.pid}`);
  renameSync(`${dest}.tmp-${process.pid}`, dest);
};
const run = (args, env = {}) => {
  const r = spawnSync('node', args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) throw new Error(`node ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line);
};

const data = Object.fromEntries(builds.map((b) => [b.label, []]));
const load = [loadavg()[0]];
copyFileSync(dest, saved);
try {
  for (let r = 0; r < rounds; r++) {
    for (const b of r % 2 ? [...builds].reverse() : builds) {
      install(b.path);
      const s = run(['packages/native-kernels/bench/step-threads.mjs', '--model', model, '--precision', precision, '--steps', steps]);
      const row = { step: [s.threads[1].msPerStep, s.threads[2].msPerStep], conv: [s.threads[1].convMsPerStep, s.threads[2].convMsPerStep] };
      if (trainStep) {
        row.train = [1, 2].map(
          (t) =>
            run(['scripts/bench/train-step.mjs', '--model', model, '--size', '32', '--batch', '64', '--threads', '1', '--precision', precision, '--seconds', '4'], {
              BOT_NATIVE: '1',
              BOT_NATIVE_THREADS: String(t),
            }).msPerStep,
        );
      }
      data[b.label].push(row);
      console.error(`round ${r + 1} ${b.label}: ${JSON.stringify(row)}`);
    }
  }
} finally {
  renameSync(saved, dest);
  rmSync(`${dest}.tmp-${process.pid}`, { force: true });
}
load.push(loadavg()[0]);

const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const f = (v) => v.toFixed(1);
console.log(`\n${model} ${precision}, ${rounds} rounds, load average ${load.map((v) => v.toFixed(2)).join(' -> ')} (${new Date().toISOString().slice(0, 16)}Z)\n`);
console.log(`| build | step, 1 thread | step, 2 threads | x | conv kernels, 1 thread | 2 threads | x |${trainStep ? ' train-step.mjs, 1 thread | 2 threads | x |' : ''}`);
console.log(`|---|---:|---:|---:|---:|---:|---:|${trainStep ? '---:|---:|---:|' : ''}`);
for (const b of builds) {
  const rows = data[b.label];
  const cols = (k) => [f(med(rows.map((x) => x[k][0]))), f(med(rows.map((x) => x[k][1]))), med(rows.map((x) => x[k][0] / x[k][1])).toFixed(2)];
  console.log(`| ${b.label} | ${[...cols('step'), ...cols('conv'), ...(trainStep ? cols('train') : [])].join(' | ')} |`);
}
console.log('\nms per step, medians over the rounds; x: the median of each round\'s paired 1-thread / 2-thread ratio.');
