import { DEFAULTS } from './defaults';
import { checkPositive } from './checks';

/**
 * Linear scaling rule (Goyal et al.; the paper's section 3): `baseLr * batchSize / referenceBatch`,
 * e.g. 0.1 at batch 256 becomes 0.4 at batch 1024.
 */
export function linearScaledLr(baseLr: number, batchSize: number, referenceBatch = DEFAULTS.linearScaling.referenceBatch): number {
  checkPositive(baseLr, 'linearScaledLr: baseLr');
  checkPositive(batchSize, 'linearScaledLr: batchSize');
  checkPositive(referenceBatch, 'linearScaledLr: referenceBatch');
  return (baseLr * batchSize) / referenceBatch;
}
