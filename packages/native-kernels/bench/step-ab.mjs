#!/usr/bin/env node
// Whole training step, native kernels on vs off, alternated A/B over several rounds (the machine
// is shared, so medians and process CPU time are reported, with the load average):
//   node packages/native-kernels/bench/step-ab.mjs [--rounds 3] [--seconds 6] [--models resnet20,resnet50]
// Runs scripts/bench/train-step.mjs with BOT_NATIVE=1 / BOT_NATIVE=0 (and BOT_NATIVE_THREADS=1|2).
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const rounds = Number(arg('rounds', 3));
const seconds = arg('seconds', '6');
const models = arg('models', 'resnet20,resnet50').split(',');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const configs = {
  resnet20: ['--model', 'resnet20'],
  resnet50: ['--model', 'resnet50', '--size', '64', '--batch', '32', '--classes', '1000'],
};
const variants = [
  { name: 'wasm (BOT_NATIVE=0)', env: { BOT_NATIVE: '0' } },
  { name: 'native 1 thread', env: { BOT_NATIVE: '1', BOT_NATIVE_THREADS: '1' } },
  { name: 'native 2 threads', env: { BOT_NATIVE: '1', BOT_NATIVE_THREADS: '2' } },
];
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const results = [];
for (const model of models) {
  const runs = Object.fromEntries(variants.map((v) => [v.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 ? [...variants].reverse() : variants) {
      const load = loadavg()[0];
      const run = () => spawnSync('node', ['scripts/bench/train-step.mjs', ...configs[model], '--seconds', seconds], {
        cwd: root,
        env: { ...process.env, ...v.env },
        encoding: 'utf8',
      });
      let out = run();
      if (out.status !== 0) out = run(); // one retry: another engineer's rebuild may have been replacing a dist file
      const line = out.stdout.trim().split('\n').pop();
      let j;
      try {
        j = JSON.parse(line);
      } catch {
        throw new Error(`${model} ${v.name} failed: ${out.stderr}`);
      }
      const cpuPerStep = j.cpuSeconds / (j.steps + 2);
      runs[v.name].push({ imgPerSec: j.imgPerSec, msPerStep: j.msPerStep, cpuSecondsPerStep: cpuPerStep, load });
      console.log(`${model} round ${r + 1} ${v.name.padEnd(20)} ${j.imgPerSec.toFixed(1).padStart(7)} img/s  ${j.msPerStep.toFixed(0).padStart(6)} ms/step  cpu ${cpuPerStep.toFixed(2)} s/step (incl. start-up, /steps)  load ${load.toFixed(2)}`);
    }
  }
  for (const v of variants) {
    const rs = runs[v.name];
    const row = { model, variant: v.name, medianImgPerSec: +median(rs.map((x) => x.imgPerSec)).toFixed(1), runs: rs.map((x) => +x.imgPerSec.toFixed(1)), medianLoad: +median(rs.map((x) => x.load)).toFixed(2) };
    results.push(row);
  }
}
console.log(JSON.stringify(results, null, 1));
