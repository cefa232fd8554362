/**
 * Every environment switch of this package, declared once: its type, default and what it does.
 * Values are read from `process.env` on every call (a benchmark can A/B a kernel in one process);
 * in a browser there is no environment and every flag has its default.
 */

/** `auto`: the measured dispatch rule decides; `always` / `never` force the kernel on or off. */
export type Tristate = 'auto' | 'always' | 'never';

interface TristateSpec {
  readonly kind: 'tristate';
  readonly default: Tristate;
  readonly description: string;
}
interface CountSpec {
  readonly kind: 'count';
  readonly description: string;
}
interface ChoiceSpec<C extends string = string> {
  readonly kind: 'choice';
  readonly choices: readonly C[];
  readonly description: string;
}
type FlagSpec = TristateSpec | CountSpec | ChoiceSpec;

const tristate = (description: string): TristateSpec => ({ kind: 'tristate', default: 'auto', description });

export const BACKEND_FLAGS = {
  BOT_BACKEND: {
    kind: 'choice',
    choices: ['auto', 'tensorflow', 'wasm', 'cpu'],
    description: "initBackend's backend, overriding its preference argument",
  } satisfies ChoiceSpec<'auto' | 'tensorflow' | 'wasm' | 'cpu'>,
  BOT_WASM_THREADS: { kind: 'count', description: 'wasm (XNNPACK) threads when initBackend is not given wasmThreads' },
  BOT_NATIVE: tristate(
    'native convolutions of @bag-of-tricks/native-kernels on wasm in Node: never = off, always = required (fail when missing), auto = when installed and built (off under vitest)',
  ),
  BOT_NATIVE_THREADS: { kind: 'count', description: 'threads of the native convolution pool (default: one per core)' },
  BOT_NATIVE_NO_WINOGRAD: tristate(
    'always (or 1) turns off the native Winograd F(2x2,3x3) convs (the im2col GEMM instead), for comparisons; read when initBackend loads the native kernels',
  ),
  BOT_NATIVE_NO_DIRECT_BF16: tristate(
    "always (or 1) turns off bfloat16's direct native conv kernels (the packed bf16 GEMM instead), for comparisons; read when initBackend loads the native kernels",
  ),
  BOT_NATIVE_OPTIMIZER: tristate(
    "the momentum/NAG + weight decay update as one native pass per variable where the native kernels are on (never: tfjs's elementwise ops; same bits either way)",
  ),
  BOT_NATIVE_FUSED: tristate(
    "the fused native training kernels where the native kernels are on: BatchNorm forward/backward (core's BATCH_NORM_TRAINING, used by resnet-variants' BatchNorm layers) and ReLU's gradient (RELU_GRAD); never: tfjs's own op sequences. Read when initBackend loads the native kernels",
  ),
  BOT_WASM_SIMD: tristate('never turns off every kernel of our wasm SIMD module (stock tfjs-backend-wasm kernels run instead)'),
  BOT_WINOGRAD: tristate('Winograd F(2x2,3x3) for 3x3 stride-1 convs (auto: the measured table WINOGRAD_DISPATCH)'),
  BOT_POINTWISE: tristate('1x1 stride-1 convs as one packed GEMM (auto: output channels a multiple of 4)'),
  BOT_BPI_DIRECT: tristate('our direct SIMD conv input gradient (auto: input channels a multiple of 4 and at least 8)'),
  BOT_BPI_GEMM: tristate('few-input-channel (stem) conv input gradient as GEMM + col2im (auto: 1-7 input channels, not 4)'),
  BOT_BPF_GEMM: tristate('few-input-channel (stem) conv filter gradient as an im2col GEMM (auto: 64+ output channels and 64+ GEMM rows)'),
  BOT_FUSED_MATMUL: tristate("_FusedMatMul (dense layers) on our SIMD GEMM (never: stock tfjs-backend-wasm's)"),
  BOT_OUTER_PRODUCT: tristate('K = 1 BatchMatMul (outer products in BatchNorm gradients) on our SIMD module (never: stock)'),
  BOT_MAXPOOL_GRAD_SIMD: tristate('MaxPoolGrad on our SIMD module (never: the JS loop)'),
} as const;

export type BackendFlagName = keyof typeof BACKEND_FLAGS;

type ValueOf<S> = S extends TristateSpec ? Tristate : S extends CountSpec ? number | undefined : S extends ChoiceSpec<infer C> ? C | undefined : never;
export type BackendFlagValue<N extends BackendFlagName> = ValueOf<(typeof BACKEND_FLAGS)[N]>;

const rawEnv = (name: string): string | undefined => {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
};

const ON = ['always', '1', 'on', 'true', 'yes'];
const OFF = ['never', '0', 'off', 'false', 'no'];

function parse(name: BackendFlagName, spec: FlagSpec, raw: string): Tristate | number | string {
  const v = raw.toLowerCase();
  if (spec.kind === 'tristate') {
    if (v === 'auto') return 'auto';
    if (ON.includes(v)) return 'always';
    if (OFF.includes(v)) return 'never';
    throw new Error(`${name}=${raw} is not understood: use never (or 0/off), always (or 1/on) or auto. ${name}: ${spec.description}.`);
  }
  if (spec.kind === 'count') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw} is not understood: use a positive integer. ${name}: ${spec.description}.`);
    return n;
  }
  if (!spec.choices.includes(v)) throw new Error(`${name}=${raw} is not understood: use one of ${spec.choices.join(', ')}. ${name}: ${spec.description}.`);
  return v;
}

/** The flag's value now: from the environment when set (a bad value throws, naming the flag and what it takes), else its default. */
export function backendFlag<N extends BackendFlagName>(name: N): BackendFlagValue<N> {
  const spec: FlagSpec = BACKEND_FLAGS[name];
  const raw = rawEnv(name);
  if (raw === undefined) return (spec.kind === 'tristate' ? spec.default : undefined) as BackendFlagValue<N>;
  return parse(name, spec, raw) as BackendFlagValue<N>;
}

/** Whether the flag is set in the environment (for log lines that say why a choice was made). */
export const backendFlagIsSet = (name: BackendFlagName): boolean => rawEnv(name) !== undefined;

export interface EffectiveFlag {
  readonly name: BackendFlagName;
  readonly value: string;
  readonly source: 'env' | 'default';
  readonly description: string;
}

/** Every flag with its effective value and where it came from (benchmarks print these). */
export function effectiveBackendFlags(): EffectiveFlag[] {
  return (Object.keys(BACKEND_FLAGS) as BackendFlagName[]).map((name) => {
    const value = backendFlag(name);
    return {
      name,
      value: value === undefined ? 'unset' : String(value),
      source: backendFlagIsSet(name) ? 'env' : 'default',
      description: BACKEND_FLAGS[name].description,
    };
  });
}
