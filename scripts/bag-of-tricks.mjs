#!/usr/bin/env node
// `npx bag-of-tricks …` from the root of a clone: the root package's bin. It runs the trainer's CLI
// (packages/trainer/dist/cli.js), building the packages first when a fresh `npm ci` has not built them yet.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages', 'trainer', 'dist', 'cli.js');
if (!existsSync(cli)) {
  console.error('[bag-of-tricks] first run in this clone: building the packages (npm run build)…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // The build's output goes to stderr, so stdout stays the command's own (e.g. --json).
  const r = spawnSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.status !== 0 || !existsSync(cli)) {
    console.error(`[bag-of-tricks] the build failed (exit ${r.status}); run \`npm run build\` in ${root} and try again.`);
    process.exit(1);
  }
}
const { main } = await import(pathToFileURL(cli).href);
await main(process.argv);
