import { packageConfig } from '../../tsup.config.base';

// index: the whole trainer for Node; core: the Node-free part (browsers, Web Workers; `@bag-of-tricks/trainer/core`);
// dp-worker.js is the data-parallel worker_threads script, which data-parallel.ts finds next to itself in dist/.
export default packageConfig({ entry: { index: 'src/index.ts', core: 'src/core.ts', cli: 'src/cli.ts', 'dp-worker': 'src/node/dp-worker.ts' },
  // Shared chunks: one copy of the core for the root and the subpath (instanceof works across both).
  splitting: true,
});
