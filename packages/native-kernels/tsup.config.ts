import { packageConfig } from '../../tsup.config.base';

// dist/native/ holds the compiled addon (scripts/build.mjs runs after tsup), so tsup must not wipe it
// on a rebuild that does not recompile; it only cleans its own outputs.
export default packageConfig({ clean: ['index.*'] });
