import type { ReplicaFailure } from '../data-parallel';
import { wasmHeapBytes } from '../wasm-heap';
import { fileError } from './files';

/** What a resource error message needs to know about the run. */
export interface ResourceContext {
  readonly backend: string;
  readonly batchSize: number;
  readonly evalBatchSize: number;
  readonly trainSize: number;
}

/**
 * How a wasm heap that cannot grow shows up: emscripten's `abort()` when malloc fails ("Aborted(). Build with
 * -sASSERTIONS…"), a trap on an offset past the heap (a tensor of more than 2-4 GB), our native kernels' bounds
 * check, or V8 refusing the buffer.
 */
const WASM_OOM = /Aborted\(|memory access out of bounds|out of memory|Cannot enlarge memory|outside the heap|Array buffer allocation failed/i;

export { wasmHeapBytes };

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Half of `n` (at least 1): a batch size to suggest. */
const halfBatch = (n: number): number => Math.max(1, Math.floor(n / 2));

/**
 * Turns an out-of-memory on the wasm backend or a file-system failure (disk full, read-only, no permission)
 * into an error that names the batch size and memory or the file, and says what to do. Returns null for
 * anything else (the caller rethrows the original). A data-parallel replica's failure (`ReplicaFailure`) gets
 * the same message, naming the replica and its own heap.
 */
export function describeResourceError(err: unknown, ctx: ResourceContext): Error | null {
  const failure = err as Partial<ReplicaFailure> | undefined;
  const inReplica = typeof failure?.replica === 'number' && typeof failure.replicaMessage === 'string';
  const message = inReplica ? failure.replicaMessage! : String((err as Error | undefined)?.message ?? err);
  if (ctx.backend === 'wasm' && WASM_OOM.test(message)) {
    const phase = (err as { trainingPhase?: string } | undefined)?.trainingPhase;
    const heap = inReplica ? (failure.replicaHeapBytes ?? null) : wasmHeapBytes();
    const batch = phase === 'eval' ? `evalBatchSize ${ctx.evalBatchSize}` : `batchSize ${ctx.batchSize}`;
    const suggestion =
      phase === 'eval'
        ? `lower evalBatchSize (say ${halfBatch(ctx.evalBatchSize)} or less)`
        : `lower batchSize (say ${halfBatch(ctx.batchSize)} or less; with linearScaling the learning rate follows it)`;
    return new Error(
      `Out of memory on the wasm backend ${phase === 'eval' ? 'while evaluating' : 'in a training step'}` +
        `${inReplica ? ` in data-parallel replica ${failure.replica} (a worker thread)` : ''} with ${batch}` +
        `${phase === 'eval' ? '' : ` (of ${ctx.trainSize} training images)`}: the ${inReplica ? "replica's " : ''}wasm heap had grown to ${heap === null ? 'an unknown size' : gib(heap)}, ` +
        `and a 32-bit wasm heap holds at most 4 GiB (tensors past 2 GiB already fail). ` +
        `Fix: ${suggestion}, or a smaller model or data.size, or backend 'tensorflow' (tfjs-node, native memory). (wasm said: ${message.split('\n')[0]})`,
      { cause: err },
    );
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? /\b(ENOSPC|EDQUOT|EROFS|EACCES|EPERM)\b/.exec(message)?.[1];
  if (code && ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM'].includes(code) && !message.startsWith('cannot ')) {
    // Node fs errors carry the path; writeFileAtomic names it in its message.
    const path = (err as NodeJS.ErrnoException).path ?? /writeFileAtomic\((.*?)\):/.exec(message)?.[1];
    if (path) return fileError(err, path, 'write');
  }
  return null;
}
