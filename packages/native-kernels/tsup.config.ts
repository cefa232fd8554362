import { packageConfig } from '../../tsup.config.base';

// dist/native/ holds the compiled addon (scripts/build.mjs runs after tsup), so tsup must not clean the
// output folder: with clean: ['index.*'] it still emptied dist/native (seen with `tsup` before `npm test`).
// One entry, so its outputs overwrite themselves and nothing goes stale.
export default packageConfig({ clean: false });
