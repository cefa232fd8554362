#!/usr/bin/env node
// Hand-picked mutation testing: breaks one line at a time (each paper trick, and the lines the
// suite's strongest claims rest on) in a scratch copy of the repo and checks the named tests FAIL.
// A mutant the tests survive is a claim the suite does not actually check.
//
//   npm run test:mutants                       every mutant (about 10-20 min on 2 cores)
//   node scripts/mutants.mjs --package losses  one package's mutants
//   node scripts/mutants.mjs --only bn-        mutants whose id contains "bn-"
//   node scripts/mutants.mjs --list            print the mutants, run nothing
//   node scripts/mutants.mjs --tests-from <commit>  run the test files as they were at <commit>
//                                              (to show which mutants an older suite let through)
//
// Why not StrykerJS: its vitest runner mutates every operator of every file; on this suite
// (minutes of tfjs kernels per package) that is hours on 2 cores. These mutants are the ones a
// reviewer would try by hand, each tied to the test that must catch it.
//
// The working tree is never touched: sources are copied to a temporary folder (node_modules is
// linked), each mutant is applied there, its tests run, and the file is restored. The unmutated
// tests are run first (baseline); a mutant only counts as killed if its tests passed without it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));

/**
 * Each mutant: the package whose tests run, the file (from the repo root), the exact text to replace
 * (must occur exactly once), its replacement, the test files (from the package) and an optional -t filter.
 */
export const MUTANTS = [
  // --- the paper's tricks (issue 17) ---
  {
    id: 'losses-drop-smoothing-epsilon',
    pkg: 'losses',
    file: 'packages/losses/src/label-smoothing.ts',
    from: "return form === 'uniform' ? { a: 1 - epsilon, b: epsilon / k }",
    to: "return form === 'uniform' ? { a: 1, b: 0 }",
    tests: ['test/losses.test.ts'],
    why: 'label smoothing without its epsilon (plain one-hot targets)',
  },
  {
    id: 'losses-uniform-form-for-paper',
    pkg: 'losses',
    file: 'packages/losses/src/label-smoothing.ts',
    from: "return form === 'uniform' ? { a: 1 - epsilon, b: epsilon / k }",
    to: "return true ? { a: 1 - epsilon, b: epsilon / k }",
    tests: ['test/losses.test.ts'],
    why: "the uniform eps/K form used where the paper's eps/(K-1) is asked for",
  },
  {
    id: 'augment-mixup-swap-lambda',
    pkg: 'augment',
    file: 'packages/augment/src/mixup.ts',
    from: 'm[i * n + i]! += lambda[i]!;\n      m[i * n + partner[i]!]! += 1 - lambda[i]!;',
    to: 'm[i * n + i]! += 1 - lambda[i]!;\n      m[i * n + partner[i]!]! += lambda[i]!;',
    tests: ['test/mix.test.ts'],
    why: "mixup's lambda and 1 - lambda swapped",
  },
  {
    id: 'resnet-skip-zero-gamma',
    pkg: 'resnet-variants',
    file: 'packages/resnet-variants/src/build.ts',
    from: "gammaInitializer: zeroGamma ? 'zeros' : 'ones',",
    to: "gammaInitializer: 'ones',",
    tests: ['test/groups.test.ts', 'test/structure.test.ts'],
    why: 'zero-gamma not applied to the last BN of each residual block',
  },
  {
    id: 'resnet-decay-biases',
    pkg: 'resnet-variants',
    file: 'packages/resnet-variants/src/weight-decay.ts',
    from: '(norm || v.shape.length <= 1 ? noDecay : decay).push(v);',
    to: '(norm ? noDecay : decay).push(v);',
    tests: ['test/groups.test.ts'],
    why: 'no-bias-decay groups putting biases in the decayed group',
  },
  {
    id: 'trainer-decay-biases',
    pkg: 'trainer',
    file: 'packages/trainer/src/weight-decay.ts',
    from: 'const decay = trainable.filter((v) => decayNames.has(v.name));',
    to: 'const decay = trainable;',
    tests: ['test/step.test.ts'],
    why: 'the trainer applying weight decay to biases and BN parameters under noBiasDecay',
  },
  {
    id: 'schedules-cosine-half-period',
    pkg: 'schedules',
    file: 'packages/schedules/src/cosine.ts',
    from: 'return floor + 0.5 * (base - floor) * (1 + Math.cos((Math.PI * step) / last));',
    to: 'return floor + 0.5 * (base - floor) * (1 + Math.cos((Math.PI * step) / (2 * last)));',
    tests: ['test/schedules.test.ts'],
    why: 'cosine decay over twice the run (ends at lr/2 instead of the floor)',
  },
  {
    id: 'distill-no-t-squared',
    pkg: 'distill',
    file: 'packages/distill/src/distillation-loss.ts',
    from: "form === 'paper' ? [temperature * temperature, 1]",
    to: "form === 'paper' ? [1, 1]",
    tests: ['test/distillation-loss.test.ts'],
    why: "distillation's soft term without the T^2 factor",
  },
  // --- issue 17's table: each rewritten test must catch the break it is named for ---
  {
    id: 'augment-grey-normalize-mean',
    pkg: 'augment',
    file: 'packages/augment/src/normalize.ts',
    from: 'export const FASHION_MNIST_MEAN = 72.9404;',
    to: 'export const FASHION_MNIST_MEAN = 72.0;',
    tests: ['test/pipeline.test.ts'],
    grep: 'normalised',
    why: "greyscale preset normalised with a wrong mean (the old test's min >= -0.81 held anyway)",
  },
  {
    id: 'augment-normalize-std-ignored',
    pkg: 'augment',
    file: 'packages/augment/src/normalize.ts',
    from: '(k % (c + 1) === 0 ? 1 / std[k / (c + 1)]! : 0)',
    to: '(k % (c + 1) === 0 ? 1 / 64 : 0)',
    tests: ['test/pipeline.test.ts'],
    grep: 'normalised',
    why: 'normalize divides by a constant instead of the per-channel std',
  },
  {
    id: 'augment-eval-crop-off-centre',
    pkg: 'augment',
    file: 'packages/augment/src/random-resized-crop.ts',
    from: 'return { images: tf.slice(images, [0, box.y, box.x, 0], [-1, crop, crop, -1]), labels: tf.clone(batch.labels) };',
    to: 'return { images: tf.slice(images, [0, 0, box.x, 0], [-1, crop, crop, -1]), labels: tf.clone(batch.labels) };',
    tests: ['test/pipeline.test.ts'],
    grep: 'centre view',
    why: 'eval crop taken from the top instead of the centre',
  },
  {
    id: 'core-beta-swapped',
    pkg: 'core',
    file: 'packages/core/src/rng.ts',
    from: ': x / (x + y);',
    to: ': y / (x + y);',
    tests: ['test/rng.test.ts'],
    why: 'Beta(a, b) drawn as Beta(b, a) (invisible on the symmetric Beta(0.2, 0.2) mixup uses)',
  },
  {
    id: 'core-gamma-small-shape-bias',
    pkg: 'core',
    file: 'packages/core/src/rng.ts',
    from: 'return this.gamma(shape + 1, scale) * Math.pow(u, 1 / shape);',
    to: 'return this.gamma(shape + 1, scale) * Math.pow(u, 1 / (shape * 1.05));',
    tests: ['test/rng.test.ts'],
    why: 'Gamma(k < 1) biased by 4% (mean 0.208 for 0.2: 8 standard errors; the old ±0.05 let it pass)',
  },
  {
    id: 'data-write-in-place',
    pkg: 'data',
    file: 'packages/data/src/file-io.ts',
    from: "fd = openSync(temp, 'wx', 0o644);",
    to: "fd = openSync(target, 'w', 0o644); writeSync(openSync(temp, 'wx', 0o644), bytes);",
    tests: ['test/file-io.test.ts'],
    grep: 'concurrent reader',
    why: 'writeFileAtomic writing the target in place (readers can see a truncated file)',
  },
  {
    id: 'backend-simd-background-never-ready',
    pkg: 'backend',
    file: 'packages/backend/src/kernels/simd-module.ts',
    from: 'instances.set(memory, i.exports as unknown as SimdExports);\n      pending.delete(memory);',
    to: 'pending.delete(memory);',
    tests: ['test/simd-module.test.ts'],
    grep: 'background',
    why: 'the background instantiation never delivering the kernels',
  },
  {
    id: 'trainer-report-top1-shows-top5',
    pkg: 'trainer',
    file: 'packages/trainer/src/node/report.ts',
    from: "{ epoch: e.epoch + 1, value: e.top1, metric: 'top-1' },",
    to: "{ epoch: e.epoch + 1, value: e.top5, metric: 'top-1' },",
    tests: ['test/report.test.ts'],
    why: 'the report plotting top-5 under the top-1 label (the old test counted <svg> tags)',
  },
  {
    id: 'trainer-report-thinning-drops-last',
    pkg: 'trainer',
    file: 'packages/trainer/src/node/report.ts',
    from: 'if (out.at(-1) !== values.at(-1)) out.push(values.at(-1) as T);',
    to: '',
    tests: ['test/report.test.ts'],
    why: "a long run's plot missing its last step",
  },
  {
    id: 'trainer-help-hides-init',
    pkg: 'trainer',
    file: 'packages/trainer/src/cli.ts',
    from: ".option('--init <path>', 'fine-tune from a model folder, a checkpoint (.ckpt) or a PyTorch .safetensors file (sets \"init.from\")')",
    to: ".addOption(new Option('--init <path>', 'fine-tune from a model folder, a checkpoint (.ckpt) or a PyTorch .safetensors file (sets \"init.from\")').hideHelp())",
    tests: ['test/errors.test.ts'],
    grep: 'help',
    why: '--init missing from --help (the old test checked a fixed list of flags and that a string was truthy)',
  },
  {
    id: 'trainer-leak-one-scalar',
    pkg: 'trainer',
    file: 'packages/trainer/src/optimizer.ts',
    from: 'if (cached && !cached.isDisposed) cached.dispose();',
    to: '',
    tests: ['test/image-folder.test.ts'],
    grep: 'decodes',
    why: "train() leaking momentum's cached -lr scalar (one tensor: inside the old test's +2 slack)",
  },
  {
    id: 'backend-bn-training-grad',
    pkg: 'backend',
    file: 'packages/backend/src/batch-norm.ts',
    from: 'tf.mul(sXhat, bops.broadcast(tf.div(dgamma, count))),',
    to: 'tf.mul(sXhat, bops.broadcast(tf.div(dgamma, count + 1))),',
    tests: ['test/batch-norm.test.ts'],
    grep: 'gradients',
    why: "batchNormTraining's dx with the wrong count in the xhat term",
  },
  {
    id: 'backend-fused-bn-variance-grad',
    pkg: 'backend',
    file: 'packages/backend/src/fast-gradients.ts',
    from: 'tf.mul(tf.mul(tf.square(invStd), scaledInvStd), -0.5)',
    to: 'tf.mul(tf.mul(tf.square(invStd), scaledInvStd), -0.45)',
    tests: ['test/batch-norm.test.ts', 'test/training-step.test.ts'],
    grep: 'gradient',
    why: "our FusedBatchNorm gradient's variance term off by 10%",
  },
  {
    id: 'backend-unregister-noop',
    pkg: 'backend',
    file: 'packages/backend/src/fast-gradients.ts',
    from: 'if (!current || !ours.has(current.gradFunc) || !stock) continue;\n    tf.registerGradient(stock);',
    to: 'if (!current || !ours.has(current.gradFunc) || !stock) continue;',
    tests: ['test/batch-norm.test.ts', 'test/training-step.test.ts'],
    grep: 'gradient',
    why: 'the "stock" reference silently running our gradients (ours compared with ours)',
  },
  {
    id: 'backend-reduce-one-row-not-stock',
    pkg: 'backend',
    file: 'packages/backend/src/kernels/reduce.ts',
    from: "if (!leading || x.dtype !== 'float32' || m < 2) return",
    to: "if (!leading || x.dtype !== 'float32' || m < 1) return",
    tests: ['test/reduce.test.ts'],
    why: 'a one-row reduction routed to our AvgPool path instead of the stock kernel (same values)',
  },
  {
    id: 'backend-reduce-int32-through-float',
    pkg: 'backend',
    file: 'packages/backend/src/kernels/reduce.ts',
    from: "if (!leading || x.dtype !== 'float32' || m < 2) return",
    to: "if (!leading || x.dtype === 'bool' || m < 2) return",
    tests: ['test/reduce.test.ts'],
    grep: 'int32',
    why: "int32 sums taken by our float32 AvgPool path instead of the stock kernel",
  },
  {
    id: 'backend-binary-int32-through-simd',
    pkg: 'backend',
    file: 'packages/backend/src/kernels/binary.ts',
    from: "if (a.dtype === 'float32' && b.dtype === 'float32') {",
    to: "if (a.dtype !== 'bool' && b.dtype !== 'bool') {",
    tests: ['test/binary.test.ts'],
    grep: 'int32',
    why: 'int32 operands sent to our float32 SIMD pass instead of the stock kernel',
  },
  {
    id: 'backend-binary-same-shape-simd',
    pkg: 'backend',
    file: 'packages/backend/src/kernels/binary.ts',
    from: 'if (aFull && !bFull) [full, small] = [a, b];',
    to: 'if (aFull) [full, small] = [a, b];',
    tests: ['test/binary.test.ts'],
    why: 'same-shape operands sent to our broadcast pass instead of the stock kernel',
  },
  {
    id: 'test-utils-rtol-of-actual',
    pkg: 'test-utils',
    file: 'packages/test-utils/src/index.ts',
    from: 'const excess = Math.abs(av - ev) - (atol + rtol * Math.abs(ev));',
    to: 'const excess = Math.abs(av - ev) - (atol + rtol * Math.abs(av));',
    tests: ['test/test-utils.test.ts'],
    why: 'expectTensorsClose scaling its tolerance by the actual value',
  },
  {
    id: 'test-utils-nan-passes',
    pkg: 'test-utils',
    file: 'packages/test-utils/src/index.ts',
    from: 'if (!(excess <= 0) && ',
    to: 'if (excess > 0 && ',
    tests: ['test/test-utils.test.ts'],
    why: 'expectTensorsClose letting NaN through',
  },
  {
    id: 'test-utils-no-shape-check',
    pkg: 'test-utils',
    file: 'packages/test-utils/src/index.ts',
    from: "if (a.shape && e.shape) expect(a.shape, 'shapes differ').toEqual(e.shape);",
    to: '',
    tests: ['test/test-utils.test.ts'],
    why: 'expectTensorsClose ignoring shapes',
  },
  {
    id: 'test-utils-leak-slack',
    pkg: 'test-utils',
    file: 'packages/test-utils/src/index.ts',
    from: '`leaked ${after - before} tensors over ${steps} steps`).toBe(0);',
    to: '`leaked ${after - before} tensors over ${steps} steps`).toBeLessThanOrEqual(2);',
    tests: ['test/test-utils.test.ts'],
    why: 'expectNoLeak allowing slack',
  },
  {
    id: 'test-utils-run-on-exact-rounds',
    pkg: 'test-utils',
    file: 'packages/test-utils/src/kernels.ts',
    from: 'data: data.slice() as Float32Array | Int32Array | Uint8Array',
    to: 'data: Float32Array.from(data as Float32Array)',
    tests: ['test/test-utils.test.ts'],
    why: 'runOnExact converting int32 results to float32',
  },
];

function parseArgs(argv) {
  const args = { package: undefined, only: undefined, list: false, keep: false, testsFrom: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--package') args.package = argv[++i];
    else if (a === '--only') args.only = argv[++i];
    else if (a === '--list') args.list = true;
    else if (a === '--keep') args.keep = true;
    else if (a === '--tests-from') args.testsFrom = argv[++i];
    else throw new Error(`mutants: unknown argument ${a} (use --package <name>, --only <id part>, --list, --keep)`);
  }
  return args;
}

/** A copy of the sources (no node_modules, dist or .git) with node_modules linked to the repo's. */
function scratchCopy() {
  const dir = mkdtempSync(join(tmpdir(), 'bot-mutants-'));
  for (const f of readdirSync(repo)) {
    if (/\.(ts|json|mjs)$/.test(f) && f !== 'package-lock.json') cpSync(join(repo, f), join(dir, f));
  }
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  for (const pkg of readdirSync(join(repo, 'packages'))) {
    const from = join(repo, 'packages', pkg);
    const to = join(dir, 'packages', pkg);
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(from)) {
      if (f === 'dist' || f === 'node_modules' || f === 'bench') continue;
      cpSync(join(from, f), join(to, f), { recursive: true });
    }
    if (existsSync(join(from, 'node_modules'))) symlinkSync(join(from, 'node_modules'), join(to, 'node_modules'));
    if (existsSync(join(from, 'dist'))) symlinkSync(join(from, 'dist'), join(to, 'dist'));
  }
  return dir;
}

function runTests(dir, m) {
  const args = ['node_modules/vitest/vitest.mjs', 'run', ...m.tests, ...(m.grep ? ['-t', m.grep] : [])];
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(dir, args[0]), ...args.slice(1)], {
    cwd: join(dir, 'packages', m.pkg),
    encoding: 'utf8',
    env: { ...process.env, CI: '1', NO_COLOR: '1', FORCE_COLOR: '0' },
    timeout: 900_000,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '');
  const summary = out.match(/Tests\s+(.*)/)?.[1]?.trim() ?? (r.error ? String(r.error) : 'no summary');
  return { passed: r.status === 0, seconds: (Date.now() - started) / 1000, summary };
}

const args = parseArgs(process.argv.slice(2));
const chosen = MUTANTS.filter((m) => (!args.package || m.pkg === args.package) && (!args.only || m.id.includes(args.only)));
if (args.list) {
  for (const m of chosen) console.log(`${m.id.padEnd(40)} ${m.pkg.padEnd(16)} ${m.why}`);
  process.exit(0);
}

const dir = scratchCopy();
console.log(`scratch copy: ${dir}`);
if (args.testsFrom) {
  // Older test files (with the helpers beside them) replace the current ones in the copy.
  for (const m of chosen) {
    for (const t of [...m.tests, 'test/helpers.ts']) {
      const path = `packages/${m.pkg}/${t}`;
      const r = spawnSync('git', ['show', `${args.testsFrom}:${path}`], { cwd: repo, encoding: 'utf8', maxBuffer: 1 << 26 });
      if (r.status === 0) writeFileSync(join(dir, path), r.stdout);
      else if (t !== 'test/helpers.ts') m.missing = true;
    }
  }
  // and the shared test helpers of that time
  const files = spawnSync('git', ['ls-tree', '-r', '--name-only', args.testsFrom, 'packages/test-utils/src'], { cwd: repo, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const path of files) writeFileSync(join(dir, path), spawnSync('git', ['show', `${args.testsFrom}:${path}`], { cwd: repo, encoding: 'utf8' }).stdout);
  console.log(`tests as of ${args.testsFrom}`);
}
const results = [];
const baselines = new Map();
try {
  for (const m of chosen) {
    if (m.missing) {
      results.push({ ...m, status: 'no test', detail: `its tests did not exist at ${args.testsFrom}` });
      continue;
    }
    const key = `${m.pkg}|${m.tests.join(',')}|${m.grep ?? ''}`;
    if (!baselines.has(key)) {
      const b = runTests(dir, m);
      baselines.set(key, b);
      console.log(`   baseline ${key}: ${b.passed ? 'pass' : 'FAIL'} (${b.summary}, ${b.seconds.toFixed(0)} s)`);
    }
    if (!baselines.get(key).passed) {
      results.push({ ...m, status: 'no baseline', detail: 'its tests fail without the mutant' });
      continue;
    }
    const path = join(dir, m.file);
    const original = readFileSync(path, 'utf8');
    const count = original.split(m.from).length - 1;
    if (count !== 1) {
      results.push({ ...m, status: 'not applied', detail: `the text occurs ${count} times` });
      console.log(`?  ${m.id}: not applied (text occurs ${count} times)`);
      continue;
    }
    writeFileSync(path, original.replace(m.from, () => m.to));
    try {
      const r = runTests(dir, m);
      const status = r.passed ? 'SURVIVED' : 'killed';
      results.push({ ...m, status, detail: `${r.summary}, ${r.seconds.toFixed(0)} s` });
      console.log(`${r.passed ? '!!' : 'ok'} ${m.id}: ${status} (${r.summary}, ${r.seconds.toFixed(0)} s)`);
    } finally {
      writeFileSync(path, original);
    }
  }
} finally {
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
}

console.log('\npackage          mutants  killed  survived  other');
const pkgs = [...new Set(results.map((r) => r.pkg))];
for (const p of pkgs) {
  const rs = results.filter((r) => r.pkg === p);
  const n = (s) => rs.filter((r) => r.status === s).length;
  console.log(`${p.padEnd(16)} ${String(rs.length).padStart(7)} ${String(n('killed')).padStart(7)} ${String(n('SURVIVED')).padStart(9)} ${String(rs.length - n('killed') - n('SURVIVED')).padStart(6)}`);
}
for (const r of results.filter((x) => x.status !== 'killed')) console.log(`  ${r.status}: ${r.id} (${r.why}): ${r.detail}`);
process.exit(results.some((r) => r.status !== 'killed') ? 1 : 0);
