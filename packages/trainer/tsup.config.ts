import { packageConfig } from '../../tsup.config.base';

// dp-worker.js is the data-parallel worker_threads script; data-parallel.ts finds it next to itself in dist/.
export default packageConfig({ entry: { index: 'src/index.ts', cli: 'src/cli.ts', 'dp-worker': 'src/node/dp-worker.ts' } });
