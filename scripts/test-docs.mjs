#!/usr/bin/env node
// `npm run test:docs`: the READMEs as tests, run where a user stands.
//
// 1. Packs every publishable workspace package (`npm pack`) and checks each tarball holds its
//    README, its LICENSE, and every file its README links to inside the package.
// 2. Installs the tarballs into a fresh temp project per package: the package, the
//    @bag-of-tricks packages it depends on (as tarballs: they are not on the registry yet) and its
//    declared peers (from the registry, `--prefer-offline`: the npm cache CI's `npm ci` filled).
//    A trick package (augment, schedules, losses, resnet-variants, distill) gets nothing else but a
//    tfjs backend its README imports, so "install one trick" stays true.
// 3. Runs every ```sh / ```js / ```ts block of every README (root, packages/*, examples/*): a
//    package's blocks in its temp project, the root's and the examples' blocks in the repository
//    root (where they say to run them). `.ts` blocks are stripped of types with esbuild (a root
//    devDependency) and type-checked with tsc against the installed `.d.ts` files.
//    `<!-- test:docs skip: reason -->` on the line before a block skips it; the reason is required.
//    `<!-- test:docs continues -->` runs a block after the one before it, in one program.
//
// Prints the blocks run/skipped/failed and exits non-zero on any failure.
// Options: --only core,trainer   run only those READMEs ('root', package or example folder names)
//          --keep                keep the temp folder (printed) for a look around
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const only = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1].split(',')) : null;
const keep = args.includes('--keep');

const TRICKS = new Set(['augment', 'schedules', 'losses', 'resnet-variants', 'distill']);
// Backends a README may import to run its example: the user picks one; no trick depends on one.
const BACKENDS = new Set(['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm']);
const RUN_LANGS = new Map([
  ['sh', 'sh'], ['bash', 'sh'], ['shell', 'sh'],
  ['js', 'js'], ['mjs', 'js'], ['javascript', 'js'],
  ['ts', 'ts'], ['typescript', 'ts'],
]);
const BLOCK_TIMEOUT_MS = 600_000; // the trainer's quick start trains 5 epochs: ~2 min on 2 idle cores
const started = Date.now();
const tmp = mkdtempSync(join(tmpdir(), 'bot-test-docs-'));
const rel = (p) => relative(root, p) || '.';

function run(cmd, cmdArgs, { cwd, timeout = BLOCK_TIMEOUT_MS, env = {} } = {}) {
  const r = spawnSync(cmd, cmdArgs, {
    cwd,
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, FORCE_COLOR: '0', npm_config_fund: 'false', npm_config_audit: 'false', ...env },
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const timedOut = r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGTERM';
  return { ok: r.status === 0, status: r.status, output: timedOut ? `${output}\n(timed out after ${timeout / 1000} s)` : output };
}
const tail = (text, n = 40) => text.trimEnd().split('\n').slice(-n).map((l) => `    ${l}`).join('\n');

// ---------- workspaces ----------
const workspaces = ['packages', 'examples'].flatMap((dir) =>
  readdirSync(join(root, dir), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, dir, d.name, 'package.json')))
    .map((d) => {
      const path = join(root, dir, d.name);
      return { dir, folder: d.name, path, pkg: JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) };
    }),
);
const byName = new Map(workspaces.map((w) => [w.pkg.name, w]));
const publishable = workspaces.filter((w) => !w.pkg.private);

// ---------- README blocks ----------
function readmeBlocks(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```([\w-]*)\s*$/.exec(lines[i]);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    const lang = RUN_LANGS.get(open[1].toLowerCase());
    if (lang) {
      let prev = i - 1;
      while (prev >= 0 && lines[prev].trim() === '') prev--;
      const marker = prev >= 0 ? /<!--\s*test:docs\s+skip\b:?\s*(.*?)\s*-->/.exec(lines[prev]) : null;
      if (marker && marker[1] === '') throw new Error(`${rel(file)}:${prev + 1}: a test:docs skip marker needs a reason`);
      let code = lines.slice(i + 1, end).join('\n') + '\n';
      // `<!-- test:docs continues -->`: the block runs after the previous one, in the same program.
      if (prev >= 0 && /<!--\s*test:docs\s+continues\b/.test(lines[prev])) {
        const before = blocks.at(-1);
        if (!before || before.lang !== lang) throw new Error(`${rel(file)}:${prev + 1}: test:docs continues needs a ${lang} block before it`);
        code = `${before.code}${code}`;
      }
      blocks.push({ file, line: i + 1, lang, code, skip: marker?.[1] ?? null });
    }
    i = end;
  }
  return blocks;
}
const importsOf = (code) =>
  [...code.matchAll(/(?:^|\n)\s*import\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g), ...code.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)]
    .map((m) => m[1])
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]));

// ---------- pack ----------
const results = []; // { where, status: 'passed'|'failed'|'skipped', note }
const failures = [];
function record(where, status, note = '', kind = 'block') {
  results.push({ where, status, note, kind });
  const mark = { passed: 'ok  ', failed: 'FAIL', skipped: 'skip' }[status];
  console.log(`  ${mark} ${where}${note && status !== 'failed' ? ` (${note})` : ''}`);
  if (status === 'failed') {
    failures.push(where);
    console.log(note);
  }
}

console.log(`test:docs: packing ${publishable.length} packages into ${tmp}`);
const tarballDir = join(tmp, 'tarballs');
mkdirSync(tarballDir);
const pack = run('npm', ['pack', '--json', '--pack-destination', tarballDir, ...publishable.flatMap((w) => ['-w', rel(w.path)])], { cwd: root });
if (!pack.ok) {
  console.error(`npm pack failed:\n${tail(pack.output)}`);
  process.exit(1);
}
const packed = JSON.parse(pack.output.slice(pack.output.indexOf('[')));
const tarballs = new Map();
for (const entry of packed) {
  const w = byName.get(entry.name);
  tarballs.set(entry.name, join(tarballDir, entry.filename));
  const files = new Set(entry.files.map((f) => f.path));
  const missing = ['package.json', 'README.md', 'LICENSE'].filter((f) => !files.has(f));
  // Files the README links to inside the package must ship with it (npm renders the README).
  const readme = join(w.path, 'README.md');
  if (existsSync(readme)) {
    for (const m of readFileSync(readme, 'utf8').matchAll(/\]\((?!https?:|#|mailto:)([^)\s#]+)/g)) {
      const target = relative(w.path, resolve(w.path, m[1]));
      if (!target.startsWith('..') && existsSync(join(w.path, target)) && !files.has(target) && ![...files].some((f) => f.startsWith(`${target}/`))) {
        missing.push(`${target} (linked from README.md)`);
      }
    }
  }
  record(`${entry.name} tarball (${files.size} files)`, missing.length ? 'failed' : 'passed', missing.length ? `    missing from ${entry.filename}: ${missing.join(', ')}` : '', 'package');
}

// ---------- temp projects ----------
function bagDepsClosure(names) {
  const out = new Set();
  const visit = (name) => {
    if (out.has(name)) return;
    const w = byName.get(name);
    if (!w) throw new Error(`${name} is not a workspace package`);
    if (w.pkg.private) throw new Error(`${name} is private, so a user cannot install it`);
    out.add(name);
    for (const dep of Object.keys(w.pkg.dependencies ?? {})) if (dep.startsWith('@bag-of-tricks/')) visit(dep);
  };
  names.forEach(visit);
  return out;
}

function installProject(w, blocks) {
  const dir = join(tmp, w.folder);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: `docs-${w.folder}`, private: true, type: 'module' }, null, 2)}\n`);
  const imported = new Set(blocks.filter((b) => !b.skip && b.lang !== 'sh').flatMap((b) => importsOf(b.code)));
  const bag = [w.pkg.name];
  const extras = [];
  // A trick is installed alone; other packages' READMEs may use a sibling (native-kernels' uses backend).
  for (const name of imported) {
    if (name.startsWith('@bag-of-tricks/') && name !== w.pkg.name && !TRICKS.has(w.folder)) bag.push(name), extras.push(name);
  }
  const closure = [...bagDepsClosure(bag)];
  // The peers these packages declare: required ones always (npm would add them too), optional ones
  // only when the README imports them.
  const registry = new Map();
  for (const pkg of closure.map((n) => byName.get(n).pkg)) {
    for (const [name, range] of Object.entries(pkg.peerDependencies ?? {})) {
      if (name.startsWith('@bag-of-tricks/') || registry.has(name)) continue;
      if (!pkg.peerDependenciesMeta?.[name]?.optional || imported.has(name)) registry.set(name, range);
    }
  }
  for (const name of imported) {
    if (BACKENDS.has(name) && !registry.has(name) && !closure.some((n) => byName.get(n).pkg.dependencies?.[name])) {
      registry.set(name, w.pkg.peerDependencies?.['@tensorflow/tfjs-core'] ?? '^4.22.0'), extras.push(name);
    }
  }
  // Anything else a README imports is not installed: its block fails, which is the point (an undeclared import).
  const specs = [...closure.map((n) => tarballs.get(n)), ...[...registry].map(([n, r]) => `${n}@${r}`)];
  const t0 = Date.now();
  const r = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...specs], { cwd: dir });
  const names = closure.map((n) => n.replace('@bag-of-tricks/', '')).join(', ');
  const note = `${names} + ${[...registry.keys()].join(', ')}${extras.length ? `; for the README: ${extras.join(', ')}` : ''}; ${((Date.now() - t0) / 1000).toFixed(0)} s`;
  record(`install ${w.pkg.name}`, r.ok ? 'passed' : 'failed', r.ok ? note : tail(r.output), 'package');
  return r.ok ? dir : null;
}

// ---------- running blocks ----------
let esbuild;
async function runBlock(block, cwd, index, { pkgName } = {}) {
  const where = `${rel(block.file)}:${block.line} (${block.lang})`;
  if (block.skip) return record(where, 'skipped', block.skip);
  const t0 = Date.now();
  if (!cwd) return record(where, 'failed', '    not run: its project failed to install');
  // A package's blocks are files in its temp project; the repository root gets none of ours (they would be
  // left in a user's checkout): its sh blocks are written to the temp folder, its js blocks next to the
  // README (to resolve the workspace's packages) and removed after.
  const inRoot = cwd === root;
  const base = inRoot ? join(block.lang === 'sh' ? tmp : dirname(block.file), `.test-docs-block-${index}`) : join(cwd, `readme-block-${index}`);
  let r;
  if (block.lang === 'sh') {
    let code = block.code;
    // `npm i @bag-of-tricks/x` installs the tarball just packed (the package is not on the registry yet).
    code = code.replace(/^(\s*npm\s+(?:i|install)\b[^\n#]*)/gm, (line) =>
      line.trimEnd().replace(/@bag-of-tricks\/[\w-]+/g, (name) => (tarballs.has(name) ? [...bagDepsClosure([name])].map((n) => tarballs.get(n)).join(' ') : name)) +
      (pkgName ? ' --prefer-offline ' : ' '),
    );
    writeFileSync(`${base}.sh`, code);
    r = run('bash', ['-eo', 'pipefail', `${base}.sh`], { cwd, env: { PATH: `${join(cwd, 'node_modules', '.bin')}:${process.env.PATH}` } });
  } else {
    let code = block.code;
    if (block.lang === 'ts') {
      writeFileSync(`${base}.ts`, code);
      const tsc = run(process.execPath, [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--skipLibCheck',
        '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--lib', 'es2022,dom',
        '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), `${base}.ts`,
      ], { cwd });
      if (!tsc.ok) {
        if (inRoot) rmSync(`${base}.ts`, { force: true });
        return record(where, 'failed', `    type check failed (tsc, against the installed .d.ts):\n${tail(tsc.output)}`);
      }
      esbuild ??= await import('esbuild');
      code = (await esbuild.transform(code, { loader: 'ts', format: 'esm', target: 'node20' })).code;
    }
    writeFileSync(`${base}.mjs`, code);
    r = run(process.execPath, [`${base}.mjs`], { cwd });
  }
  if (inRoot) for (const ext of ['.sh', '.ts', '.mjs']) rmSync(`${base}${ext}`, { force: true });
  record(where, r.ok ? 'passed' : 'failed', r.ok ? `${((Date.now() - t0) / 1000).toFixed(0)} s` : `    exit ${r.status} in ${rel(cwd)}:\n${tail(r.output)}`);
}

const readmes = [
  { name: 'root', file: join(root, 'README.md'), w: null },
  ...workspaces.map((w) => ({ name: w.folder, file: join(w.path, 'README.md'), w })),
].filter((r) => existsSync(r.file) && (!only || only.has(r.name)));

let index = 0;
for (const { file, w } of readmes) {
  const blocks = readmeBlocks(file);
  console.log(`\n${rel(file)}: ${blocks.length} blocks`);
  if (!blocks.length) continue;
  let cwd = root; // the root's and the examples' blocks say "from the repository root"
  if (w && w.dir === 'packages') {
    if (w.pkg.private) cwd = null;
    else cwd = blocks.some((b) => !b.skip) ? installProject(w, blocks) : tmp;
  }
  for (const block of blocks) {
    if (cwd === null && !block.skip) {
      record(`${rel(block.file)}:${block.line} (${block.lang})`, 'failed', `    ${w.pkg.name} is private: mark its README blocks skipped, with the reason`);
      continue;
    }
    await runBlock(block, cwd, index++, { pkgName: w?.dir === 'packages' ? w.pkg.name : undefined });
  }
}

const count = (kind, status) => results.filter((r) => r.kind === kind && r.status === status).length;
if (!keep) rmSync(tmp, { recursive: true, force: true });
const seconds = ((Date.now() - started) / 1000).toFixed(0);
console.log(
  `\ntest:docs: README blocks: ${count('block', 'passed')} passed, ${count('block', 'failed')} failed, ${count('block', 'skipped')} skipped; ` +
    `tarball and install checks: ${count('package', 'passed')} passed, ${count('package', 'failed')} failed; ${seconds} s` +
    (keep ? `; kept ${tmp}` : ''),
);
if (failures.length) {
  console.log(`failed:\n${failures.map((f) => `  ${f}`).join('\n')}`);
  process.exit(1);
}
