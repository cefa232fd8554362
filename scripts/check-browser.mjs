#!/usr/bin/env node
// Bundles every browser-safe package's built entry for the browser and fails if anything in it
// reaches for a Node built-in (node:fs, Buffer through 'buffer', worker_threads, …). `data` is
// the one Node-side package, and the trainer's Node layer lives beside its node-free loop.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';

const browserSafe = ['core', 'augment', 'schedules', 'losses', 'resnet-variants', 'distill', 'backend'];
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
let failed = 0;
for (const name of browserSafe) {
  const reached = new Set();
  await build({
    entryPoints: [`packages/${name}/dist/index.js`],
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
  if (reached.size > 0) {
    failed++;
    console.error(`@bag-of-tricks/${name}: imports Node built-ins, so it will not run in a browser: ${[...reached].join(', ')}`);
  } else {
    console.log(`@bag-of-tricks/${name}: browser-safe (no static Node built-in imports)`);
  }
}
process.exit(failed ? 1 : 0);
