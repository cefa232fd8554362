#!/usr/bin/env node
// Two builds of the addon, A and B, on the CIFAR ResNet-20 conv layers (batch 64), alternated call by
// call in one process, so both see the same machine load: median ms per call of the forward conv
// (bias + relu), the input gradient and the filter gradient, per precision, in process CPU time
// (with --threads 1 that is the one thread's time; other jobs' preemptions do not count). Each output of B is also
// compared with A's: "same" when bitwise identical (the float32 path must stay so), else the max
// |B - A| relative to max |A|.
//   node bench/ab-layers.mjs --a old.node --b dist/native/bot_native.node [--precision float32,bfloat16]
//        [--reps 7] [--threads 1] [--only 16->16] [--ops fwd,dx,dw]
// Keep a copy of the old build to compare with (cp dist/native/bot_native.node /tmp/old.node).
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const require = createRequire(import.meta.url);
const load = (p) => {
  const m = { exports: {} };
  process.dlopen(m, resolve(p));
  return m.exports;
};
const A = load(arg('a', 'dist/native/bot_native.node'));
const B = load(arg('b', 'dist/native/bot_native.node'));
const precisions = arg('precision', 'float32,bfloat16').split(',');
const reps = Number(arg('reps', 7));
const threads = Number(arg('threads', 1));
const only = arg('only', '');
const ops = arg('ops', 'fwd,dx,dw').split(',');
void require;

// [name, n, h, w, c, k, co, stride, pad top/left, out h/w] ('same' for stride 1; the stride-2
// layers see a pre-padded input, pad 'valid', as in the profile)
const layers = [
  ['stem 3->16 32x32', 64, 32, 32, 3, 3, 16, 1, 1, 32],
  ['16->16 32x32', 64, 32, 32, 16, 3, 16, 1, 1, 32],
  ['16->32 /2 (34 valid)', 64, 34, 34, 16, 3, 32, 2, 0, 16],
  ['32->32 16x16', 64, 16, 16, 32, 3, 32, 1, 1, 16],
  ['32->64 /2 (18 valid)', 64, 18, 18, 32, 3, 64, 2, 0, 8],
  ['64->64 8x8', 64, 8, 8, 64, 3, 64, 1, 1, 8],
  ['shortcut 16->32 1x1 /2', 64, 32, 32, 16, 1, 32, 2, 0, 16],
  ['shortcut 32->64 1x1 /2', 64, 16, 16, 32, 1, 64, 2, 0, 8],
].filter(([n]) => n.includes(only));

for (const m of [A, B]) m.setThreads(threads);
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const rows = [];
for (const [name, n, h, w, c, k, co, s, p, o] of layers) {
  const nx = n * h * w * c, nw = k * k * c * co, ny = n * o * o * co;
  // one heap: x, w, bias, dy, then an output area per build
  const sizes = [nx, nw, co, ny, Math.max(nx, nw, ny), Math.max(nx, nw, ny)];
  const offs = [];
  let total = 0;
  for (const z of sizes) {
    offs.push(total * 4);
    total += Math.ceil(z / 16) * 16;
  }
  const heap = new ArrayBuffer(total * 4);
  const f = new Float32Array(heap);
  for (let i = 0; i < nx; i++) f[offs[0] / 4 + i] = rand();
  for (let i = 0; i < nw; i++) f[offs[1] / 4 + i] = rand() * 0.1;
  for (let i = 0; i < co; i++) f[offs[2] / 4 + i] = rand() * 0.1;
  for (let i = 0; i < ny; i++) f[offs[3] / 4 + i] = rand();
  const geo = [n, h, w, c, k, k, co, o, o, s, s, 1, 1, p, p];
  const calls = {
    fwd: [(m, out) => m.conv2d(heap, Float64Array.of(offs[0], offs[1], out, offs[2], 1, ...geo)), ny, 2 * ny * k * k * c],
    dx: [(m, out) => m.conv2dBackpropInput(heap, Float64Array.of(offs[3], offs[1], out, ...geo)), nx, 2 * ny * k * k * c],
    dw: [(m, out) => m.conv2dBackpropFilter(heap, Float64Array.of(offs[0], offs[3], out, ...geo)), nw, 2 * ny * k * k * c],
  };
  for (const prec of precisions) {
    for (const m of [A, B]) m.setPrecision(prec);
    for (const op of ops) {
      const [call, len, flops] = calls[op];
      const ta = [], tb = [];
      call(A, offs[4]);
      call(B, offs[5]);
      for (let r = 0; r < reps; r++) {
        for (const [m, t, out] of r % 2 ? [[B, tb, offs[5]], [A, ta, offs[4]]] : [[A, ta, offs[4]], [B, tb, offs[5]]]) {
          // process CPU time, not wall time: the machine is shared (one pool thread: all of it is ours)
          const t0 = cpuMs();
          call(m, out);
          t.push(cpuMs() - t0);
        }
      }
      const ya = new Float32Array(heap, offs[4], len), yb = new Float32Array(heap, offs[5], len);
      let same = true, maxd = 0, maxa = 0;
      for (let i = 0; i < len; i++) {
        if (!Object.is(ya[i], yb[i])) same = false;
        maxd = Math.max(maxd, Math.abs(ya[i] - yb[i]));
        maxa = Math.max(maxa, Math.abs(ya[i]));
      }
      const ma = median(ta), mb = median(tb), mina = Math.min(...ta), minb = Math.min(...tb);
      const row = { layer: name, op, precision: prec, aMs: +ma.toFixed(3), bMs: +mb.toFixed(3), aMinMs: +mina.toFixed(3), bMinMs: +minb.toFixed(3), bGflops: +(flops / mb / 1e6).toFixed(1), same, relDiff: same ? 0 : +(maxd / maxa).toExponential(2) };
      rows.push(row);
      console.log(`${name.padEnd(22)} ${op.padEnd(3)} ${prec.padEnd(8)} A ${ma.toFixed(2).padStart(7)} ms  B ${mb.toFixed(2).padStart(7)} ms (${(flops / mb / 1e6).toFixed(0).padStart(4)} GF/s)  B/A ${(mb / ma).toFixed(3)} | min A ${mina.toFixed(2).padStart(6)} B ${minb.toFixed(2).padStart(6)} B/A ${(minb / mina).toFixed(3)}  ${same ? 'same' : `differs ${row.relDiff}`}`);
    }
  }
}
const sum = (p, k) => rows.filter((r) => r.precision === p).reduce((s, r) => s + r[k], 0);
// The ResNet-20 step's calls per shape (forward, input gradient, filter gradient): 1 stem (no input
// gradient), 6 16->16, 1 16->32 /2, 5 32->32, 1 32->64 /2, 5 64->64, and the two 1x1 stride-2 shortcuts.
const perStep = { 'stem 3->16 32x32': [1, 0, 1], '16->16 32x32': [6, 6, 6], '16->32 /2 (34 valid)': [1, 1, 1], '32->32 16x16': [5, 5, 5], '32->64 /2 (18 valid)': [1, 1, 1], '64->64 8x8': [5, 5, 5], 'shortcut 16->32 1x1 /2': [1, 1, 1], 'shortcut 32->64 1x1 /2': [1, 1, 1] };
const step = (p, k, op) => rows.filter((r) => r.precision === p && r.op === op).reduce((s, r) => s + r[k] * perStep[r.layer][['fwd', 'dx', 'dw'].indexOf(op)], 0);
for (const p of precisions) {
  console.log(`total ${p}: A ${sum(p, 'aMs').toFixed(2)} ms  B ${sum(p, 'bMs').toFixed(2)} ms (medians, one call per layer shape); min A ${sum(p, 'aMinMs').toFixed(2)} B ${sum(p, 'bMinMs').toFixed(2)}`);
  console.log(`  per ResNet-20 step (medians x calls per step): ` + ops.map((op) => `${op} A ${step(p, 'aMs', op).toFixed(1)} B ${step(p, 'bMs', op).toFixed(1)}`).join(', '));
}
if (arg('json', '')) (await import('node:fs')).writeFileSync(arg('json', ''), JSON.stringify(rows, null, 1));
