import { packageConfig } from '../../tsup.config.base';

// index: everything (Node); core: the Node-free part (`@bag-of-tricks/data/core`, browsers), sharing chunks with it.
export default packageConfig({ entry: { index: 'src/index.ts', core: 'src/core.ts' }, splitting: true });
