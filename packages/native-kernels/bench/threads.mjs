#!/usr/bin/env node
// Native conv kernels at 1 vs 2 (or N) pool threads, called straight on an ArrayBuffer (no tfjs),
// for ResNet-20's training-step shapes (batch 64, 32x32 CIFAR-sized). Several addon builds can be
// compared in one process (each .node file has its own pool): the builds, thread counts and
// repetitions are interleaved round by round, so a busy machine penalises all alike; prints the
// median ms per call of each (kernel, shape, precision, build, threads), and checks that each
// build's results are bitwise identical at every thread count.
//   node bench/threads.mjs [--addon dist/native/bot_native.node,/tmp/base.node] [--threads 1,2]
//                          [--precision bfloat16,float32] [--rounds 15] [--only 64->64] [--json out.json]
//                          [--gap 1]  (ms of busy JS between the warm-up call and the timed one, as the other
//                                      ops of a training step between two convolutions: the pool's workers idle)
//                          [--labels before,after] [--md]  (--md: also a markdown table, each build's
//                                      1-thread and N-thread medians and their ratio)
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const addonPaths = arg('addon', new URL('../dist/native/bot_native.node', import.meta.url).pathname).split(',');
const threadCounts = arg('threads', '1,2').split(',').map(Number);
const precisions = arg('precision', 'bfloat16,float32').split(',');
const rounds = Number(arg('rounds', '15'));
const only = arg('only', '');
const jsonOut = arg('json', '');
const gapMs = Number(arg('gap', '0'));
const labels = arg('labels', '').split(',').filter(Boolean);
const md = process.argv.includes('--md');

const require = createRequire(import.meta.url);
const addons = addonPaths.map((p) => ({ label: p, a: require(resolve(p)) }));

// [name, n, h, w, c, kh, kw, co, stride, pad] ('same' pads of 3x3 are 1; the /2 layers are the padded inputs, valid)
const shapes = [
  ['stem 3->16 32x32', 64, 32, 32, 3, 3, 3, 16, 1, 1],
  ['16->16 32x32', 64, 32, 32, 16, 3, 3, 16, 1, 1],
  ['16->32 /2', 64, 34, 34, 16, 3, 3, 32, 2, 0],
  ['32->32 16x16', 64, 16, 16, 32, 3, 3, 32, 1, 1],
  ['32->64 /2', 64, 18, 18, 32, 3, 3, 64, 2, 0],
  ['64->64 8x8', 64, 8, 8, 64, 3, 3, 64, 1, 1],
  ['1x1 16->32 16x16', 64, 16, 16, 16, 1, 1, 32, 1, 0],
  ['1x1 32->64 8x8', 64, 8, 8, 32, 1, 1, 64, 1, 0],
].filter(([n]) => n.includes(only));

function layout(s) {
  const [, n, h, w, c, kh, kw, co, st, pad] = s;
  const oh = Math.floor((h + 2 * pad - kh) / st) + 1, ow = Math.floor((w + 2 * pad - kw) / st) + 1;
  const geo = [n, h, w, c, kh, kw, co, oh, ow, st, st, 1, 1, pad, pad];
  const sizes = { x: n * h * w * c, w: kh * kw * c * co, y: n * oh * ow * co, b: co };
  const off = {};
  let o = 0;
  for (const [k, len] of Object.entries(sizes)) {
    off[k] = o;
    o += Math.ceil((len * 4) / 64) * 64;
  }
  // outputs: y (forward), dx, dw, one per build and thread count so results can be compared
  return { geo, sizes, off, inBytes: o };
}

let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const ops = ['Conv2D (fused bias+relu)', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'];
const results = [];
const mismatches = [];
for (const s of shapes) {
  const L = layout(s);
  const outLen = { [ops[0]]: L.sizes.y, [ops[1]]: L.sizes.x, [ops[2]]: L.sizes.w };
  const buf = new ArrayBuffer(L.inBytes + Math.max(...Object.values(outLen)) * 4 + 64);
  const f = new Float32Array(buf);
  for (const k of ['x', 'w', 'b', 'y']) for (let i = 0; i < L.sizes[k]; i++) f[L.off[k] / 4 + i] = k === 'w' ? rand() * 0.1 : rand();
  const outOff = L.inBytes;
  const call = {
    [ops[0]]: (a) => a.conv2d(buf, Float64Array.of(L.off.x, L.off.w, outOff, L.off.b, 1, ...L.geo)),
    [ops[1]]: (a) => a.conv2dBackpropInput(buf, Float64Array.of(L.off.y, L.off.w, outOff, ...L.geo)),
    [ops[2]]: (a) => a.conv2dBackpropFilter(buf, Float64Array.of(L.off.x, L.off.y, outOff, ...L.geo)),
  };
  for (const prec of precisions) {
    for (const op of ops) {
      const cells = [];
      for (const { label, a } of addons) for (const t of threadCounts) cells.push({ label, a, t, ms: [], out: null });
      for (const c of cells) {
        c.a.setPrecision(prec);
        c.a.setThreads(c.t);
        call[op](c.a);
        c.out = new Float32Array(buf, outOff, outLen[op]).slice();
      }
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? [...cells].reverse() : cells;
        for (const c of order) {
          c.a.setPrecision(prec);
          c.a.setThreads(c.t);
          call[op](c.a); // warm this build's pool and buffers
          for (const g0 = performance.now(); performance.now() - g0 < gapMs; );
          const t0 = performance.now();
          call[op](c.a);
          c.ms.push(performance.now() - t0);
        }
      }
      for (const c of cells) {
        const ref = cells.find((d) => d.label === c.label).out;
        const same = Buffer.compare(Buffer.from(ref.buffer), Buffer.from(c.out.buffer)) === 0;
        if (!same) mismatches.push(`${s[0]} ${op} ${prec} ${c.label} threads ${c.t}`);
        c.ms.sort((x, y) => x - y);
        const med = c.ms[Math.floor(c.ms.length / 2)];
        results.push({ shape: s[0], op, precision: prec, addon: c.label, threads: c.t, medianMs: +med.toFixed(3) });
      }
      const line = cells.map((c) => `${addons.length > 1 ? addons.findIndex((x) => x.label === c.label) + ':' : ''}${c.t}t ${results.find((q) => q.shape === s[0] && q.op === op && q.precision === prec && q.addon === c.label && q.threads === c.t).medianMs.toFixed(2).padStart(6)}`);
      console.log(`${s[0].padEnd(18)} ${op.padEnd(25)} ${prec.padEnd(8)} ${line.join('  ')}`);
    }
  }
}
for (const a of addons) a.a.setThreads(1);
console.log(addons.map((a, i) => `${i}: ${a.label}`).join('\n'));
if (mismatches.length) {
  console.log(`NOT bitwise identical across thread counts:\n  ${mismatches.join('\n  ')}`);
  process.exitCode = 1;
} else console.log('every build: results bitwise identical at every thread count');
if (md) {
  const name = (i) => labels[i] ?? `build ${i}`;
  const lo = threadCounts[0], hi = threadCounts[threadCounts.length - 1];
  const head = addons.flatMap((_, i) => [`${name(i)}: ${lo} thread`, `${hi} threads`, `x`]);
  console.log(`\n| layer (batch 64) | kernel | precision | ${head.join(' | ')} |`);
  console.log(`|---|---|---|${head.map(() => '---:').join('|')}|`);
  const keys = [...new Set(results.map((r) => `${r.shape}\t${r.op}\t${r.precision}`))];
  for (const k of keys) {
    const [shape, op, precision] = k.split('\t');
    const cell = (a, t) => results.find((r) => r.shape === shape && r.op === op && r.precision === precision && r.addon === a && r.threads === t).medianMs;
    const cols = addons.flatMap(({ label }) => [cell(label, lo).toFixed(2), cell(label, hi).toFixed(2), (cell(label, lo) / cell(label, hi)).toFixed(2)]);
    console.log(`| ${shape} | ${op.replace(' (fused bias+relu)', '')} | ${precision} | ${cols.join(' | ')} |`);
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ addons: addonPaths, rounds, results, mismatches }, null, 2));
