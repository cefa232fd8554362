import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAINING, RELU_GRAD } from '@bag-of-tricks/core';
import { requireAddon } from './addon';
import { heapBackend, stat } from './kernels';

type TensorInfo = tf.TensorInfo;
type Inputs = Record<string, TensorInfo | undefined>;

const fail = (kernel: string, why: string): never => {
  throw new Error(`@bag-of-tricks/native-kernels: ${kernel} cannot run: ${why}.`);
};

const channelsOf = (kernel: string, x: TensorInfo, perChannel: Array<[string, TensorInfo]>): { m: number; c: number } => {
  const c = x.shape[x.shape.length - 1];
  if (x.shape.length < 2 || c == null) fail(kernel, `x must have rank >= 2, got shape [${x.shape}]`);
  for (const [name, t] of perChannel) {
    if (tf.util.sizeFromShape(t.shape) !== c) fail(kernel, `${name} has shape [${t.shape}], not one value per channel (${c})`);
  }
  return { m: tf.util.sizeFromShape(x.shape) / c!, c: c! };
};

/** core's BATCH_NORM_TRAINING.forward on the wasm heap: outputs [y, mean, variance, invStd(, movingMean, movingVariance)]. */
const forward: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const kernel = BATCH_NORM_TRAINING.forward;
  const { x, gamma, beta, movingMean, movingVariance } = inputs as Inputs;
  if (!x || !gamma || !beta) return fail(kernel, 'inputs x, gamma and beta are required');
  const { epsilon, momentum } = attrs as { epsilon?: number; momentum?: number };
  if (typeof epsilon !== 'number' || !(epsilon > 0)) return fail(kernel, `epsilon must be a number > 0, got ${epsilon}`);
  const moving = movingMean != null || movingVariance != null;
  if (moving && (!movingMean || !movingVariance || typeof momentum !== 'number')) {
    return fail(kernel, 'the moving averages need movingMean, movingVariance and the momentum attr together');
  }
  const b = heapBackend(backend, moving ? [x, gamma, beta, movingMean!, movingVariance!] : [x, gamma, beta]);
  if (typeof b === 'string') return fail(kernel, b);
  const { m, c } = channelsOf(kernel, x, [
    ['gamma', gamma],
    ['beta', beta],
    ...(moving
      ? ([
          ['movingMean', movingMean!],
          ['movingVariance', movingVariance!],
        ] as Array<[string, TensorInfo]>)
      : []),
  ]);
  const y = b.makeOutput(x.shape, 'float32');
  const stats = Array.from({ length: moving ? 5 : 3 }, () => b.makeOutput([c], 'float32'));
  const off = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset!;
  const params = [off(x), off(gamma), off(beta), off(y), ...stats.slice(0, 3).map(off), m, c, epsilon];
  if (moving) params.push(off(movingMean!), off(movingVariance!), off(stats[3]!), off(stats[4]!), 1 - momentum!);
  // HEAPU8 read after the last makeOutput: a memory.grow replaces it.
  requireAddon().batchNormForward(b.wasm.HEAPU8, Float64Array.from(params));
  stat(kernel).native++;
  return [y, ...stats];
};

/** core's BATCH_NORM_TRAINING.backward on the wasm heap: outputs [dx, dgamma, dbeta]. */
const backward: tf.KernelFunc = ({ inputs, backend }) => {
  const kernel = BATCH_NORM_TRAINING.backward;
  const { dy, x, mean, invStd, gamma } = inputs as Inputs;
  if (!dy || !x || !mean || !invStd || !gamma) return fail(kernel, 'inputs dy, x, mean, invStd and gamma are required');
  if (!tf.util.arraysEqual(dy.shape, x.shape)) fail(kernel, `dy has shape [${dy.shape}], x [${x.shape}]`);
  const b = heapBackend(backend, [dy, x, mean, invStd, gamma]);
  if (typeof b === 'string') return fail(kernel, b);
  const { m, c } = channelsOf(kernel, x, [
    ['mean', mean],
    ['invStd', invStd],
    ['gamma', gamma],
  ]);
  const outs = [b.makeOutput(x.shape, 'float32'), b.makeOutput([c], 'float32'), b.makeOutput([c], 'float32')];
  const off = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset!;
  requireAddon().batchNormBackward(b.wasm.HEAPU8, Float64Array.of(off(dy), off(x), off(mean), off(invStd), off(gamma), ...outs.map(off), m, c));
  stat(kernel).native++;
  return outs;
};

/** core's RELU_GRAD on the wasm heap: dx = dy * step(x), bitwise as tfjs's ops. */
const reluGrad: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, x } = inputs as Inputs;
  if (!dy || !x) return fail(RELU_GRAD, 'inputs dy and x are required');
  if (!tf.util.arraysEqual(dy.shape, x.shape)) fail(RELU_GRAD, `dy has shape [${dy.shape}], x [${x.shape}]`);
  const b = heapBackend(backend, [dy, x]);
  if (typeof b === 'string') return fail(RELU_GRAD, b);
  const out = b.makeOutput(x.shape, 'float32');
  const off = (t: TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset!;
  requireAddon().reluGrad(b.wasm.HEAPU8, Float64Array.of(off(dy), off(x), off(out), tf.util.sizeFromShape(x.shape)));
  stat(RELU_GRAD).native++;
  return out;
};

/**
 * The fused training kernels this package registers on 'wasm': core's BATCH_NORM_TRAINING (forward and backward,
 * used by resnet-variants' BatchNorm layers) and RELU_GRAD (used by backend's ReLU gradient).
 */
export const NATIVE_FUSED_KERNELS: ReadonlyArray<{ kernelName: string; kernelFunc: tf.KernelFunc }> = [
  { kernelName: BATCH_NORM_TRAINING.forward, kernelFunc: forward },
  { kernelName: BATCH_NORM_TRAINING.backward, kernelFunc: backward },
  { kernelName: RELU_GRAD, kernelFunc: reluGrad },
];

const ours = new WeakSet<tf.KernelFunc>(NATIVE_FUSED_KERNELS.map((k) => k.kernelFunc));

/** Registers the fused training kernels on 'wasm' (idempotent). */
export function registerFusedKernels(): string[] {
  for (const { kernelName, kernelFunc } of NATIVE_FUSED_KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current && ours.has(current.kernelFunc)) continue;
    if (current) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  return NATIVE_FUSED_KERNELS.map((k) => k.kernelName);
}

/** Takes them off again (where ours are the ones registered). */
export function unregisterFusedKernels(): void {
  for (const { kernelName } of NATIVE_FUSED_KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current && ours.has(current.kernelFunc)) tf.unregisterKernel(kernelName, 'wasm');
  }
}
