/**
 * Every default of this package, written once: the loss factories read them here, and so do the trainer's
 * config schema and its --help (import `DEFAULTS` from '@bag-of-tricks/losses').
 */
export const DEFAULTS = Object.freeze({
  /** Label smoothing: eps = 0.1 (the paper's), in the common 'uniform' form (PyTorch, Keras, timm). */
  labelSmoothing: Object.freeze({ epsilon: 0.1 as number, form: 'uniform' as 'uniform' | 'paper' }),
});
