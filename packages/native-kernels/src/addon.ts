import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled addon's functions (src/native/kernels.cc). `heap` is backend.wasm.HEAPU8. */
export interface NativeAddon {
  conv2d(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  conv2dBackpropInput(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  conv2dBackpropFilter(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  matMul(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  setThreads(n: number): void;
  getThreads(): number;
  isa(): string;
  hardwareThreads(): number;
  /** Precision of the convolution GEMMs for every later call; throws (saying why) where bfloat16 cannot run. */
  setPrecision(precision: 'float32' | 'bfloat16'): void;
  getPrecision(): 'float32' | 'bfloat16';
  /** Why bfloat16 cannot run on this CPU/build, or null when it can. */
  bf16Unsupported(): string | null;
  /** dst[i] = the bf16 bits of src[i], rounded as the packing rounds (nearest even). */
  toBf16(src: Float32Array, dst: Uint16Array): void;
  /** Fused momentum update in place (src/native/momentum.h): params = momentum, -lr, weightDecay, nesterov, then per variable wOff, accOff, gOff, count, decay. */
  momentumUpdate(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  /** Fused training BatchNorm forward (src/native/batchnorm.h): params = xOff, gammaOff, betaOff, yOff, meanOff, varianceOff, invStdOff, m, c, epsilon. */
  batchNormForward(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  /** Its backward: params = dyOff, xOff, meanOff, invStdOff, gammaOff, dxOff, dgammaOff, dbetaOff, m, c. */
  batchNormBackward(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  /** ReLU's gradient (src/native/batchnorm.h): params = dyOff, xOff, dxOff, count. */
  reluGrad(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  /** Constant padding (src/native/pad.h): params = xOff, yOff, rank, value, then xShape, before and after (rank each). */
  padV2(heap: Uint8Array | ArrayBuffer, params: Float64Array): void;
  /** Turns a kernel choice on or off for every later call (process-wide). */
  setSwitch(name: 'winograd' | 'directBf16', on: boolean): void;
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/index.js sits beside dist/native/; src/addon.ts (tests) reaches it as ../dist/native/.
const dirs = [join(here, 'native'), join(here, '..', 'dist', 'native')];

/** How a user rebuilds the addon: in their own project, or in this repository. */
const REBUILD = 'npm rebuild @bag-of-tricks/native-kernels in your project (in this repository: npm run build -w @bag-of-tricks/native-kernels)';

let addon: NativeAddon | null = null;
let loadError: string | null = null;
let tried = false;

/** Loads the addon once; null (with `nativeLoadError()` saying why) when it is not built or does not load. */
export function loadAddon(): NativeAddon | null {
  if (tried) return addon;
  tried = true;
  const dir = dirs.find((d) => existsSync(join(d, 'bot_native.node')));
  if (!dir) {
    const errDir = dirs.find((d) => existsSync(join(d, 'build-error.txt')));
    loadError = errDir
      ? `failed to build: ${readFileSync(join(errDir, 'build-error.txt'), 'utf8').trim()}`
      : `not built: run ${REBUILD} (needs a C++ compiler and Node headers)`;
    return null;
  }
  const missing = missingIsaFlagsFor(dir);
  if (missing.length > 0) {
    loadError =
      `built with -march=native on a CPU with ${missing.join(', ')}, which this CPU lacks ` +
      `(rebuild it on this machine: ${REBUILD})`;
    return null;
  }
  try {
    const req = createRequire(import.meta.url);
    addon = req(join(dir, 'bot_native.node')) as NativeAddon;
    addon.setThreads(Math.max(1, availableParallelism()));
  } catch (e) {
    loadError = `failed to load ${join(dir, 'bot_native.node')}: ${(e as Error).message} (rebuild it on this machine: ${REBUILD})`;
    addon = null;
  }
  return addon;
}

/** Why the addon is unavailable, or null when it loaded. */
export function nativeLoadError(): string | null {
  loadAddon();
  return loadError;
}

/** The addon, or a clear error saying why it is missing. */
export function requireAddon(): NativeAddon {
  const a = loadAddon();
  if (!a) throw new Error(`@bag-of-tricks/native-kernels: the native addon is unavailable (${loadError}).`);
  return a;
}

/** Instruction-set flags (as /proc/cpuinfo names them) that code built with -march=native may use. */
const ISA_FLAG = /^(avx|sse|ssse|fma|f16c|bmi|abm|lzcnt|popcnt|movbe|adx|sha_ni|vaes|vpclmulqdq|gfni|amx)/;

/** The instruction-set flags of the build CPU that the current CPU lacks (none: safe to load). */
export function missingIsaFlags(builtFlags: readonly string[], currentFlags: readonly string[]): string[] {
  const have = new Set(currentFlags);
  return builtFlags.filter((f) => ISA_FLAG.test(f) && !have.has(f));
}

function missingIsaFlagsFor(dir: string): string[] {
  const file = join(dir, 'build-cpu.json');
  if (!existsSync(file) || !existsSync('/proc/cpuinfo')) return [];
  try {
    const built = (JSON.parse(readFileSync(file, 'utf8')) as { flags?: string[] }).flags ?? [];
    const current = (/^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/);
    return missingIsaFlags(built, current);
  } catch {
    return [];
  }
}
