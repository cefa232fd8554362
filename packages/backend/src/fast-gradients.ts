import * as tf from '@tensorflow/tfjs-core';
import { RELU_GRAD, hasFusedReluGrad } from '@bag-of-tricks/core';

/**
 * Gradients that replace tfjs-core's where those are slow on wasm. Gradients are global (one
 * registry for every backend), so each one is exact on every backend: the wasm-specific part is
 * only *how* per-channel sums and broadcasts are computed (products with a ones vector), and
 * cases outside the fast path are handed to the stock gradient, captured before we register.
 */

type GradFunc = tf.GradConfig['gradFunc'];
type Grads = ReturnType<GradFunc>;

/** The stock configs we replaced, so ours can fall back to them and `unregisterFastGradients` can restore them. */
const stockGradients = new Map<string, tf.GradConfig>();

const stockGrad = (kernelName: string, dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Grads => {
  const stock = stockGradients.get(kernelName);
  if (!stock) throw new Error(`internal: no stock gradient captured for '${kernelName}'`);
  return stock.gradFunc(dy, saved, attrs);
};

/** Normalised, sorted axes; null/undefined means every axis. */
function parseAxes(axis: unknown, rank: number): number[] {
  const list = axis == null ? Array.from({ length: rank }, (_, i) => i) : Array.isArray(axis) ? (axis as number[]) : [axis as number];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** Number of leading axes when `axes` is exactly [0, 1, ..., k-1] with k < rank; else 0. */
function leadingPrefix(axes: number[], rank: number): number {
  if (axes.length === 0 || axes.length >= rank) return 0;
  return axes.every((a, i) => a === i) ? axes.length : 0;
}

const onWasm = (): boolean => tf.getBackend() === 'wasm';

/**
 * Per-channel sum and broadcast over an [m, c] matrix (m = a * b, the rows of an [a, b, c]
 * view). On wasm the sum is XNNPACK's average pooling over an [1, a, b, c] window, times m: its
 * leading-axis Sum transposes first, and a matMul with a ones row repacks the big operand as
 * weights on every call. Broadcasts are plain broadcasting ops (Tile is a scalar loop there).
 * Elsewhere both are plain ops.
 */
function channelOps(a: number, b: number, c: number) {
  const m = a * b;
  if (!onWasm()) {
    return {
      sum: (t: tf.Tensor): tf.Tensor1D => tf.sum(tf.reshape(t, [m, c]), 0),
      broadcast: (v: tf.Tensor): tf.Tensor => tf.reshape(v, [1, c]),
    };
  }
  return {
    sum: (t: tf.Tensor): tf.Tensor1D =>
      tf.mul(tf.reshape(tf.avgPool(tf.reshape(t, [1, a, b, c]) as tf.Tensor4D, [a, b], 1, 'valid'), [c]), m),
    broadcast: (v: tf.Tensor): tf.Tensor => tf.reshape(v, [1, c]),
  };
}

/** [a, b] with a * b = x.size / channels: the last spatial axis as b where there is one. */
function rowsView(x: tf.Tensor): [number, number] {
  const c = x.shape[x.rank - 1]!;
  const b = x.rank >= 3 ? x.shape[x.rank - 2]! : 1;
  return [x.size / c / b, b];
}

/** Shape [c] or [1, ..., 1, c]: one value per channel. */
const perChannel = (t: tf.Tensor | undefined, c: number): boolean =>
  t != null && t.size === c && t.shape[t.rank - 1] === c;

/**
 * FusedBatchNorm (tf.batchNorm, used by tf.layers.batchNormalization): y = scale * (x - mean) *
 * invStd + offset with invStd = rsqrt(variance + eps), and mean/variance treated as inputs (the
 * caller's moments carry their own gradients). Same contract as tfjs-core's
 * FusedBatchNorm_grad, without its Tile of invStd to the size of x.
 */
const fusedBatchNormGrad: GradFunc = (dyIn, saved, attrs) => {
  const dy = dyIn as tf.Tensor;
  const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
  const c = x.shape[x.rank - 1]!;
  if (!perChannel(mean, c) || !perChannel(variance, c) || (scale != null && !perChannel(scale, c)) || x.dtype !== 'float32') {
    return stockGrad('FusedBatchNorm', dy, saved, attrs);
  }
  const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
  const m = x.size / c;
  const [ra, rb] = rowsView(x);
  const ops = channelOps(ra, rb, c);
  const dy2d = tf.reshape(dy, [m, c]);
  const invStd = tf.rsqrt(tf.add(tf.reshape(variance, [c]), eps));
  const scale1 = scale == null ? undefined : tf.reshape(scale, [c]);
  const scaledInvStd = scale1 ? tf.mul(scale1, invStd) : invStd;
  // Shared by several input gradients, so computed here: the engine runs each closure below in its
  // own tidy, which would dispose a tensor memoised inside one of them.
  const sumDy = ops.sum(dy2d);
  const xc = tf.sub(tf.reshape(x, [m, c]), ops.broadcast(tf.reshape(mean, [c])));
  const sumDyXc = ops.sum(tf.mul(dy2d, xc));
  return {
    x: () => tf.reshape(tf.mul(dy2d, ops.broadcast(scaledInvStd)), x.shape),
    mean: () => tf.reshape(tf.neg(tf.mul(sumDy, scaledInvStd)), mean.shape),
    variance: () => tf.reshape(tf.mul(sumDyXc, tf.mul(tf.mul(tf.square(invStd), scaledInvStd), -0.5)), mean.shape),
    scale: () => tf.reshape(tf.mul(sumDyXc, invStd), mean.shape),
    offset: () => tf.reshape(sumDy, mean.shape),
  };
};

/**
 * Mean and Sum over leading axes (BN's moments, per-channel sums): dx is dy broadcast back over
 * those axes (scaled by 1/count for Mean). tfjs-core multiplies by a full-size ones tensor
 * through wasm's generic broadcasting path and then divides; on wasm this is one matrix product.
 */
function reduceGrad(kernelName: 'Mean' | 'Sum'): GradFunc {
  return (dyIn, saved, attrs) => {
    const dy = dyIn as tf.Tensor;
    const [x] = saved as [tf.Tensor];
    const axes = parseAxes((attrs as { axis?: unknown }).axis, x.rank);
    const k = leadingPrefix(axes, x.rank);
    if (!onWasm() || k === 0 || x.dtype !== 'float32') return stockGrad(kernelName, dy, saved, attrs);
    const m = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
    const rest = x.size / m;
    const weights = kernelName === 'Mean' ? tf.fill([m, 1], 1 / m) : tf.ones([m, 1]);
    return { x: () => tf.reshape(tf.matMul(weights, tf.reshape(dy, [1, rest])), x.shape) };
  };
}

/**
 * Relu: dx = dy * step(x) as core's RELU_GRAD kernel, one pass, where the active backend registered it (the native
 * kernels do on wasm); bitwise the stock gradient's `mul(dy, cast(step(x)))`, which runs everywhere else.
 */
const reluGrad: GradFunc = (dyIn, saved, attrs) => {
  const dy = dyIn as tf.Tensor;
  const [x] = saved as [tf.Tensor];
  if (!hasFusedReluGrad() || x.dtype !== 'float32' || dy.dtype !== 'float32' || x.size === 0) return stockGrad('Relu', dy, saved, attrs);
  return { x: () => tf.engine().runKernel(RELU_GRAD, { dy, x }) as tf.Tensor };
};

/** The gradients we register, and why. */
export const FAST_GRADIENTS: ReadonlyArray<{ kernelName: string; inputsToSave: string[]; gradFunc: GradFunc; why: string }> = [
  {
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: fusedBatchNormGrad,
    why: "tfjs-core's tiles invStd to the size of x (Tile was 36% of a ResNet-20 step on wasm)",
  },
  { kernelName: 'Relu', inputsToSave: ['x'], gradFunc: reluGrad, why: 'one fused kernel (Step, Cast and Multiply in one pass) where the backend has it' },
  { kernelName: 'Mean', inputsToSave: ['x'], gradFunc: reduceGrad('Mean'), why: 'broadcast over leading axes as one matMul on wasm' },
  { kernelName: 'Sum', inputsToSave: ['x'], gradFunc: reduceGrad('Sum'), why: 'broadcast over leading axes as one matMul on wasm' },
];

const ours = new Set<GradFunc>(FAST_GRADIENTS.map((g) => g.gradFunc));

/**
 * Registers `FAST_GRADIENTS` over tfjs-core's (which must be registered already: import
 * `@tensorflow/tfjs-layers` or call `ensureGradients()` first). Idempotent; `initBackend` calls
 * it. Gradients are global, so this affects every backend; each gradient is exact everywhere.
 */
export function registerFastGradients(): void {
  for (const { kernelName, inputsToSave, gradFunc } of FAST_GRADIENTS) {
    const current = tf.getGradient(kernelName);
    if (current && ours.has(current.gradFunc)) continue;
    if (!current) {
      throw new Error(
        `registerFastGradients: tfjs-core's gradient for '${kernelName}' is not registered; import '@tensorflow/tfjs-layers' (or call ensureGradients()) first.`,
      );
    }
    stockGradients.set(kernelName, current);
    tf.registerGradient({ kernelName, inputsToSave, gradFunc });
  }
}

/** Puts tfjs-core's gradients back (for benchmarks and reference checks). */
export function unregisterFastGradients(): void {
  for (const { kernelName } of FAST_GRADIENTS) {
    const current = tf.getGradient(kernelName);
    const stock = stockGradients.get(kernelName);
    if (!current || !ours.has(current.gradFunc) || !stock) continue;
    tf.registerGradient(stock);
  }
}
