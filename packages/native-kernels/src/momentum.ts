import * as tf from '@tensorflow/tfjs-core';
import { requireAddon } from './addon';
import { heapBackend, stat } from './kernels';

/** The fields of tfjs-core 4.x's MomentumOptimizer (and its SGDOptimizer parent) this update reads and keeps. */
interface MomentumInternals {
  getClassName(): string;
  accumulations: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  /** tf.scalar(momentum) */
  m: tf.Scalar;
  /** tf.scalar(-learningRate) */
  c: tf.Scalar;
  useNesterov: boolean;
  incrementIterations(): void;
}

export interface NativeMomentumOptions {
  /** Variables whose gradient gets `weightDecay · w` added first (the trainer's L2 decay group). */
  decayVariables?: readonly tf.Variable[];
  weightDecay?: number;
}

const isMomentum = (o: unknown): o is MomentumInternals => {
  const m = o as Partial<MomentumInternals> | null;
  return (
    !!m &&
    typeof m.getClassName === 'function' &&
    m.getClassName() === 'Momentum' &&
    Array.isArray(m.accumulations) &&
    m.m instanceof tf.Tensor &&
    m.c instanceof tf.Tensor &&
    typeof m.incrementIterations === 'function'
  );
};

/**
 * `optimizer.applyGradients(grads)` for tfjs's momentum optimizer (`tf.train.momentum`, plain or Nesterov),
 * with L2 decay `g + weightDecay · w` first on `decayVariables`, as ONE native pass over each variable instead
 * of tfjs's ~6-8 elementwise ops: on the wasm heap, into fresh buffers, threaded. The float32 operations and their order
 * are those of the op sequence (no FMA contraction), so the weights and accumulators are bitwise equal to it,
 * for any thread count. It keeps the optimizer's own state: its accumulator variables (created as tfjs creates
 * them, so `getWeights()`, checkpoints and resume see no difference) and its iteration counter.
 *
 * The new values are written to fresh buffers and assigned, as tfjs does (the wasm backend caches packed weights
 * by tensor id, so data must never change in place); the old buffers are freed and reused by the next step.
 *
 * Returns null when it applied the update, or why it did not (nothing changed then; call the tfjs path):
 * another optimizer, a backend other than wasm, non-float32 tensors.
 */
export function applyMomentumNative(optimizer: tf.Optimizer, grads: tf.NamedTensorMap, options: NativeMomentumOptions = {}): string | null {
  const s = stat('MomentumUpdate');
  const fallback = (why: string): string => {
    s.fallback++;
    s.lastFallbackReason = why;
    return why;
  };
  if (!isMomentum(optimizer)) return fallback(`optimizer ${optimizer?.getClassName?.() ?? String(optimizer)} is not tfjs's Momentum`);
  const engine = tf.engine();
  const names = Object.keys(grads);
  const registered = engine.registeredVariables;
  const tensors: tf.Tensor[] = [];
  for (const name of names) {
    const v = registered[name];
    if (!v) return fallback(`no variable named ${name}`);
    const g = grads[name];
    if (g && tf.util.sizeFromShape(g.shape) !== v.size) return fallback(`gradient of ${name} has shape [${g.shape}], the variable [${v.shape}]`);
    tensors.push(v);
    if (g) tensors.push(g);
  }
  const b = heapBackend(engine.backend, tensors.filter((t) => t.size > 0));
  if (typeof b === 'string') return fallback(b);
  for (const t of tensors) if (t.dtype !== 'float32') return fallback(`dtype ${t.dtype} (float32 only)`);

  // Accumulators, exactly as MomentumOptimizer.applyGradients creates them (index = position in `grads`).
  const opt = optimizer;
  names.forEach((name, i) => {
    if (opt.accumulations[i] == null) {
      const value = registered[name]!;
      opt.accumulations[i] = { originalName: `${name}/momentum`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
    }
  });
  const decay = new Set((options.decayVariables ?? []).map((v) => v.name));
  const wd = options.weightDecay ?? 0;
  // New values go to fresh buffers that are then assigned, as tfjs's ops and `assign` do, never in place: the
  // wasm backend caches XNNPACK operators with their packed weights by tensor id (convolutions, dense layers),
  // trusting that a tensor's data never changes; an in-place update would leave those packed weights stale.
  const jobs: Array<{ name: string; w: tf.Variable; acc: tf.Variable; g: tf.Tensor; decay: boolean; wOut?: tf.TensorInfo; accOut?: tf.TensorInfo }> = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const g = grads[name];
    if (!g) continue; // tfjs skips a variable without a gradient (after creating its accumulator)
    const w = registered[name]!;
    const acc = opt.accumulations[i]!.variable;
    if (acc.dtype !== 'float32' || acc.size !== w.size) return fallback(`the accumulator of ${name} does not match the variable`);
    if (w.size === 0) continue;
    jobs.push({ name, w, acc, g, decay: wd !== 0 && decay.has(name) });
  }
  const m = opt.m.dataSync()[0]!, c = opt.c.dataSync()[0]!;
  for (const j of jobs) {
    j.wOut = b.makeOutput(j.w.shape, 'float32');
    j.accOut = b.makeOutput(j.acc.shape, 'float32');
  }
  const off = (t: tf.TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset!;
  const params: number[] = [m, c, wd, opt.useNesterov ? 1 : 0];
  for (const j of jobs) params.push(off(j.w), off(j.acc), off(j.g), off(j.wOut!), off(j.accOut!), j.w.size, j.decay ? 1 : 0);
  // HEAPU8 read after the last makeOutput: a memory.grow replaces it.
  try {
    requireAddon().momentumUpdate(b.wasm.HEAPU8, Float64Array.from(params));
  } catch (e) {
    for (const j of jobs) for (const out of [j.wOut!, j.accOut!]) (engine.backend as unknown as { disposeData(id: object): void }).disposeData(out.dataId);
    throw e;
  }
  for (const j of jobs) {
    for (const [v, out] of [[j.acc, j.accOut!], [j.w, j.wOut!]] as const) {
      const t = engine.makeTensorFromTensorInfo(out);
      v.assign(t);
      t.dispose();
    }
  }
  opt.incrementIterations();
  s.native++;
  return null;
}
