/**
 * Every default of this package, written once: `distillationLoss` reads them here, and so do the trainer's
 * config schema and its --help (import `DEFAULTS` from '@bag-of-tricks/distill').
 */
export const DEFAULTS = Object.freeze({
  distillation: Object.freeze({
    /** The paper's T = 20 (§5.3). */
    temperature: 20 as number,
    /** The paper's unweighted sum; 'weighted' is GluonCV's. */
    form: 'paper' as 'paper' | 'weighted',
    /** Weight of the hard term in the 'weighted' form (GluonCV's default). */
    hardWeight: 0.5 as number,
    softTerm: 'cross-entropy' as 'cross-entropy' | 'kl',
  }),
});
