#!/usr/bin/env node
// Bundles every browser-safe package's built entry for the browser and fails if anything in it
// reaches for a Node built-in (node:fs, Buffer through 'buffer', worker_threads, …). `data` is
// the one Node-side package; the trainer's root holds its Node layer, so its `core` subpath
// (dist/core.js, `@bag-of-tricks/trainer/core`) is what is checked for the trainer.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';

const browserSafe = [
  ...['core', 'augment', 'schedules', 'losses', 'resnet-variants', 'distill', 'backend'].map((name) => ({ name, entry: `packages/${name}/dist/index.js` })),
  { name: 'data/core', entry: 'packages/data/dist/core.js' },
  { name: 'trainer/core', entry: 'packages/trainer/dist/core.js' },
  // The control: the trainer's root holds the Node layer, so the check must find Node built-ins there.
  { name: 'trainer (root, Node layer)', entry: 'packages/trainer/dist/index.js', expectNode: true },
];
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
let failed = 0;
for (const { name, entry, expectNode = false } of browserSafe) {
  const reached = new Set();
  await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    logLevel: 'silent',
    // tfjs itself is the application's (peer) copy; only our code and its light deps are checked.
    external: ['@tensorflow/*'],
    plugins: [
      {
        name: 'no-node-builtins',
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (builtins.has(args.path)) {
              // A dynamic import that the code guards at run time (backend's threads in Node) is allowed.
              if (args.kind === 'dynamic-import') return { path: args.path, external: true };
              reached.add(`${args.path} (from ${args.importer.replace(process.cwd() + '/', '')})`);
              return { path: args.path, external: true };
            }
            return undefined;
          });
        },
      },
    ],
  });
  if (expectNode) {
    if (reached.size === 0) {
      failed++;
      console.error(`@bag-of-tricks/${name}: expected Node built-ins (the control case) but found none: this check no longer sees them.`);
    } else {
      console.log(`@bag-of-tricks/${name}: reaches Node built-ins as expected (${reached.size}), so the check sees them`);
    }
  } else if (reached.size > 0) {
    failed++;
    console.error(`@bag-of-tricks/${name}: imports Node built-ins, so it will not run in a browser: ${[...reached].join(', ')}`);
  } else {
    console.log(`@bag-of-tricks/${name}: browser-safe (no static Node built-in imports)`);
  }
}
process.exit(failed ? 1 : 0);
