import * as tf from '@tensorflow/tfjs-core';

/**
 * ReLU's gradient as one kernel, in place of tfjs-core's `mul(dy, cast(step(x), 'float32'))` (three kernels and
 * three passes over the tensor). Contract: inputs { dy, x } (float32, the same shape); output dx with
 * dx[i] = dy[i] * s[i], s[i] = 1 where x[i] > 0, NaN where x[i] is NaN, else 0 — the same float32 product as
 * tfjs's ops, so results are bitwise equal to them. backend's Relu gradient runs it where the active backend has
 * registered it (native-kernels does, on 'wasm' in Node) and tfjs-core's own gradient elsewhere.
 */
export const RELU_GRAD = 'BotReluGrad';

/** Whether the active backend (or `backendName`) has the fused ReLU gradient kernel. */
export function hasFusedReluGrad(backendName: string = tf.getBackend()): boolean {
  return tf.getKernel(RELU_GRAD, backendName) != null;
}
