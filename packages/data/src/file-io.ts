import { closeSync, existsSync, fsyncSync, openSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

let tempCounter = 0;

/**
 * Writes `data` so that `path` holds either the old content or all of the new, never a part:
 * a temp file in the same directory, fsync, rename over `path`, then fsync the directory.
 * A failure removes the temp file.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | ArrayBuffer): void {
  const target = resolve(path);
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}.${Date.now().toString(36)}.${(tempCounter++).toString(36)}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o644);
    let written = 0;
    while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, target);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    throw new Error(`writeFileAtomic(${target}): ${(err as Error).message}`);
  }
  // Persist the rename itself; some platforms cannot open a directory, which is harmless.
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* directory fsync unsupported */
  }
}

/** `.<name>.<pid>.<time>.<counter>.tmp`: the temp files {@link writeFileAtomic} writes next to its target. */
const TEMP_FILE_RE = /^\..+\.(\d+)\.[0-9a-z]+\.[0-9a-z]+\.tmp$/;

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Deletes the temp files that {@link writeFileAtomic} left in `dir` when its process was killed mid-write
 * (kill -9, power loss): those whose writing process no longer runs. Returns the deleted paths.
 */
export function removeStaleTempFiles(dir: string): string[] {
  const abs = resolve(dir);
  if (!existsSync(abs)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(abs)) {
    const m = TEMP_FILE_RE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    rmSync(join(abs, name), { force: true });
    removed.push(join(abs, name));
  }
  return removed;
}

const WEIGHTS_FILE = 'weights.bin';
const MODEL_FILE = 'model.json';

/** 'file:///abs' -> '/abs', 'file://rel/dir' -> 'rel/dir' (tfjs-node's reading of file:// URLs). */
function toPath(pathOrUrl: string): string {
  return pathOrUrl.startsWith('file://') ? pathOrUrl.slice('file://'.length) : pathOrUrl;
}

/**
 * A tfjs `io.IOHandler` on the local file system, without tfjs-node. Saving writes `weights.bin`
 * then `model.json` into `dir`, each atomically, so an interrupted save never leaves a model.json
 * that points at missing weights. Loading takes the directory or the model.json path.
 */
export function fileSystemIO(pathOrUrl: string): tf.io.IOHandler {
  const path = resolve(toPath(pathOrUrl));
  const isJson = path.endsWith('.json');
  const dir = isJson ? dirname(path) : path;
  const modelPath = isJson ? path : join(dir, MODEL_FILE);
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error(`fileSystemIO(${dir}): binary model topologies are not supported; save a LayersModel or GraphModel JSON.`);
      }
      mkdirSync(dir, { recursive: true });
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const weightsName = isJson ? `${basename(path, '.json')}.weights.bin` : WEIGHTS_FILE;
      writeFileAtomic(join(dir, weightsName), new Uint8Array(weights));
      const modelJSON: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [weightsName], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.signature ? { signature: artifacts.signature } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
        ...(artifacts.modelInitializer ? { modelInitializer: artifacts.modelInitializer } : {}),
        ...(artifacts.initializerSignature ? { initializerSignature: artifacts.initializerSignature } : {}),
      };
      writeFileAtomic(modelPath, JSON.stringify(modelJSON));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      let modelJSON: tf.io.ModelJSON;
      try {
        modelJSON = JSON.parse(readFileSync(modelPath, 'utf8')) as tf.io.ModelJSON;
      } catch (err) {
        throw new Error(`fileSystemIO: cannot load ${modelPath} (${(err as Error).message}).`);
      }
      if (modelJSON.modelTopology == null) throw new Error(`fileSystemIO: ${modelPath} has no modelTopology; is it a tfjs model.json?`);
      const jsonDir = dirname(modelPath);
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const file = join(jsonDir, p);
            let bytes: Buffer;
            try {
              bytes = readFileSync(file);
            } catch (err) {
              throw new Error(`fileSystemIO: ${modelPath} names weights file ${file}, which cannot be read (${(err as Error).message}).`);
            }
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        const weights = tf.io.CompositeArrayBuffer.join(buffers);
        const expected = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(s), 0);
        if (Number.isFinite(expected) && weights.byteLength !== expected) {
          throw new Error(`fileSystemIO: the weights of ${modelPath} hold ${weights.byteLength} bytes, the manifest needs ${expected} (truncated file?).`);
        }
        return [specs, weights];
      });
    },
  };
}

function bytesPerElement(spec: tf.io.WeightsManifestEntry): number {
  if (spec.quantization) return spec.quantization.dtype === 'uint8' ? 1 : 2;
  return spec.dtype === 'bool' ? 1 : spec.dtype === 'string' ? Number.NaN : 4;
}

let registered = false;

/**
 * Registers `file://` save and load routers with tf.io, so `model.save('file://dir')` and
 * `loadLayersModel('file://dir/model.json')` work without tfjs-node. Idempotent, and a no-op
 * where another library (tfjs-node) already handles file:// URLs.
 */
export function registerFileRouter(): void {
  if (registered) return;
  registered = true;
  const probe = 'file:///tmp/probe';
  // tfjs types a router as always returning a handler, but null ("not mine") is how routers decline.
  const route = ((url: string | string[]) =>
    typeof url === 'string' && url.startsWith('file://') ? fileSystemIO(url) : null) as Parameters<typeof tf.io.registerSaveRouter>[0];
  if (tf.io.getSaveHandlers(probe).length === 0) tf.io.registerSaveRouter(route);
  if (tf.io.getLoadHandlers(probe).length === 0) tf.io.registerLoadRouter(route);
}
