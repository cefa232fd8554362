import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { flattenLayers } from './count';
import {
  float32Tensor,
  parseSafetensors,
  safetensorsToFloat32,
  writeSafetensors,
  type SafetensorsTensor,
} from './safetensors';

/**
 * Whose PyTorch module names a file uses. They agree where both libraries have the architecture (ResNet-18…152 A/B:
 * `conv1, bn1, layerS.B.convK/bnK, layerS.B.downsample.{0,1}, fc`); only timm has ResNet-C/D (deep stem
 * `conv1.{0,1,3,4,6}`, average-pool shortcut `downsample.{1,2}` after the pool at `.0`); only torchvision's layout
 * (conv1 = 3x3/1, maxpool = Identity) describes the small CIFAR stem.
 */
export type TorchNaming = 'torchvision' | 'timm';

/** `'auto'` detects the naming: timm when the keys have a deep stem (`conv1.0.weight`) or a `downsample.2` BN. */
export type TorchNamingOption = TorchNaming | 'auto';

export interface LoadSafetensorsOptions {
  /** Default `'auto'`. */
  naming?: TorchNamingOption;
  /**
   * PyTorch module names left as they are in the model and ignored in the file, e.g. `['fc']` to take a backbone
   * into a model with another number of classes. Default none.
   */
  skip?: readonly string[];
}

export interface LoadSafetensorsResult {
  /** The naming used (the detected one for `'auto'`). */
  naming: TorchNaming;
  /** PyTorch tensor names copied into the model, in model order. */
  loaded: string[];
  /** PyTorch tensor names of skipped modules (in the model; left untouched). */
  skipped: string[];
  /** The file's `__metadata__`. */
  metadata: Record<string, string>;
}

export interface ToSafetensorsOptions {
  /** Default `'auto'`: timm for a deep stem or average-pool shortcut, else torchvision. */
  naming?: TorchNamingOption;
  /** Extra `__metadata__` entries (strings), e.g. the class names as JSON. */
  metadata?: Readonly<Record<string, string>>;
}

/** One PyTorch tensor of the model, as `torchTensorSpecs` lists it. */
export interface TorchTensorSpec {
  /** PyTorch state-dict key, e.g. `layer1.0.conv1.weight`. */
  key: string;
  /** Our layer (= the PyTorch module name). */
  layer: string;
  /** Shape in PyTorch's layout (conv OIHW, linear [out, in]). */
  shape: number[];
}

interface Spec extends TorchTensorSpec {
  className: string;
  variable: tfl.LayerVariable;
  /** Permutation from our layout to PyTorch's (HWIO → OIHW, [in, out] → [out, in]); undefined for vectors. */
  toTorch: number[] | undefined;
}

type ParamClass = 'Conv2D' | 'BatchNormalization' | 'Dense';

const STAGE = String.raw`layer\d+\.\d+\.`;
const PATTERNS: Record<TorchNaming, Record<ParamClass, RegExp>> = {
  torchvision: {
    Conv2D: new RegExp(`^(conv1|${STAGE}(conv[123]|downsample\\.0))$`),
    BatchNormalization: new RegExp(`^(bn1|${STAGE}(bn[123]|downsample\\.1))$`),
    Dense: /^fc$/,
  },
  timm: {
    Conv2D: new RegExp(`^(conv1|conv1\\.[036]|${STAGE}(conv[123]|downsample\\.[01]))$`),
    BatchNormalization: new RegExp(`^(bn1|conv1\\.[14]|${STAGE}(bn[123]|downsample\\.[12]))$`),
    Dense: /^fc$/,
  },
};

/** Our weight (by the part of its name after the layer) → PyTorch's parameter or buffer name. */
const PARAM_NAMES: Record<string, string> = {
  kernel: 'weight',
  bias: 'bias',
  gamma: 'weight',
  beta: 'bias',
  moving_mean: 'running_mean',
  moving_variance: 'running_var',
};

interface Family {
  deepStem: boolean;
  avgDown: boolean;
  smallStem: boolean;
}

function modelFamily(model: tfl.LayersModel): Family {
  const layers = flattenLayers(model);
  const names = new Set(layers.map((l) => l.name));
  return {
    deepStem: names.has('conv1.0'),
    avgDown: layers.some((l) => /\.downsample\.2$/.test(l.name)),
    smallStem: names.has('conv1') && !names.has('maxpool'),
  };
}

function defaultNaming(family: Family): TorchNaming {
  return family.deepStem || family.avgDown ? 'timm' : 'torchvision';
}

/** The naming a set of PyTorch keys uses: timm for a deep stem or a `downsample.2` (ResNet-D) BN, else torchvision. */
export function detectTorchNaming(keys: Iterable<string>): TorchNaming {
  for (const k of keys) {
    if (k.startsWith('conv1.0.') || /^layer\d+\.\d+\.downsample\.2\./.test(k)) return 'timm';
  }
  return 'torchvision';
}

function checkNamingFits(model: tfl.LayersModel, naming: TorchNaming, fn: string): void {
  const family = modelFamily(model);
  if (naming === 'torchvision' && (family.deepStem || family.avgDown)) {
    const what = family.deepStem ? 'a deep stem (conv1.0, ResNet-C/D)' : 'average-pool shortcuts (downsample.2, ResNet-D)';
    throw new Error(`${fn}: naming 'torchvision' cannot describe this model: it has ${what}, which torchvision's ResNet lacks; use naming 'timm' (or 'auto').`);
  }
  if (naming === 'timm' && family.smallStem) {
    throw new Error(
      `${fn}: naming 'timm' cannot describe this model: timm's ResNet has no small 3x3/1 CIFAR stem; use naming 'torchvision' ` +
        "(torchvision's ResNet layout with conv1 = 3x3/1 and maxpool = Identity) or 'auto'.",
    );
  }
}

function resolveNaming(option: TorchNamingOption | undefined, fn: string): TorchNamingOption {
  const naming = option ?? 'auto';
  if (naming !== 'torchvision' && naming !== 'timm' && naming !== 'auto') {
    throw new Error(`${fn}: naming must be 'torchvision', 'timm' or 'auto', got ${JSON.stringify(naming)}.`);
  }
  return naming;
}

/** Permutes a dense row-major array: `out.shape[d] = shape[perm[d]]`. */
function transpose(values: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = perm.map((p) => strides[p]!);
  const out = new Float32Array(values.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += index[d]! * inStrides[d]!;
    out[o] = values[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d]! < outShape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

const invert = (perm: readonly number[]): number[] => perm.map((_, i) => perm.indexOf(i));

/** The PyTorch tensors of a model, in model order, checked against the naming (no num_batches_tracked). */
function specsOf(model: tfl.LayersModel, naming: TorchNaming, fn: string): Spec[] {
  checkNamingFits(model, naming, fn);
  const specs: Spec[] = [];
  for (const layer of flattenLayers(model)) {
    if (layer.weights.length === 0) continue;
    const className = layer.getClassName();
    const pattern = PATTERNS[naming][className as ParamClass] as RegExp | undefined;
    if (!pattern) {
      throw new Error(`${fn}: layer "${layer.name}" is a ${className} with weights, which has no PyTorch ResNet counterpart; only buildResNet/createResNet models are supported.`);
    }
    if (!pattern.test(layer.name)) {
      throw new Error(
        `${fn}: layer "${layer.name}" (${className}) has no name in ${naming}'s ResNet layout; only buildResNet/createResNet models ` +
          '(whose layer names are the PyTorch module names) are supported.',
      );
    }
    for (const variable of layer.weights) {
      const suffix = variable.originalName.slice(variable.originalName.lastIndexOf('/') + 1);
      const param = PARAM_NAMES[suffix];
      if (!param) throw new Error(`${fn}: weight "${variable.originalName}" of layer "${layer.name}" has no PyTorch counterpart.`);
      const shape = variable.shape as number[];
      let toTorch: number[] | undefined;
      if (suffix === 'kernel') toTorch = className === 'Conv2D' ? [3, 2, 0, 1] : [1, 0];
      specs.push({
        key: `${layer.name}.${param}`,
        layer: layer.name,
        shape: toTorch ? toTorch.map((p) => shape[p]!) : [...shape],
        className,
        variable,
        toTorch,
      });
    }
  }
  return specs;
}

/**
 * The PyTorch state-dict keys and shapes (PyTorch layout) of a model under a naming, in model order, without BN's
 * `num_batches_tracked`. Throws, naming the layer, if the model does not fit the naming.
 */
export function torchTensorSpecs(model: tfl.LayersModel, options: { naming?: TorchNamingOption } = {}): TorchTensorSpec[] {
  const option = resolveNaming(options.naming, 'torchTensorSpecs');
  const naming = option === 'auto' ? defaultNaming(modelFamily(model)) : option;
  return specsOf(model, naming, 'torchTensorSpecs').map(({ key, layer, shape }) => ({ key, layer, shape }));
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

const layoutText = (spec: Spec): string =>
  spec.toTorch ? (spec.className === 'Conv2D' ? ' (PyTorch layout OIHW)' : ' (PyTorch layout [out, in])') : '';

const isModuleOf = (key: string, modules: readonly string[]): boolean => modules.some((m) => key.startsWith(`${m}.`));

/**
 * Loads PyTorch weights (a `.safetensors` file's bytes, e.g. a torchvision or timm `state_dict()` saved with
 * `safetensors.torch.save_file`) into a model built by `buildResNet`/`createResNet`: conv kernels OIHW → HWIO,
 * linear weights [out, in] → [in, out], BN weight/bias/running_mean/running_var (num_batches_tracked is ignored).
 * A `module.` prefix on every key (a DDP-wrapped model's state dict) is removed.
 *
 * Everything is checked before any weight is set, so a refused file leaves the model as it was: a missing tensor,
 * a tensor the model lacks, a shape that differs (both shapes are named) or a non-float dtype throws, naming the tensor.
 */
export function loadSafetensors(model: tfl.LayersModel, bytes: Uint8Array, options: LoadSafetensorsOptions = {}): LoadSafetensorsResult {
  const fn = 'loadSafetensors';
  const option = resolveNaming(options.naming, fn);
  const skip = options.skip ?? [];
  const file = parseSafetensors(bytes);
  let tensors = file.tensors;
  const keys = [...tensors.keys()];
  if (keys.length > 0 && keys.every((k) => k.startsWith('module.'))) {
    tensors = new Map([...tensors].map(([k, v]) => [k.slice('module.'.length), v]));
  }
  const naming = option === 'auto' ? detectTorchNaming(tensors.keys()) : option;
  const specs = specsOf(model, naming, fn);
  const wanted = specs.filter((s) => !isModuleOf(s.key, skip));
  const wantedKeys = new Set(wanted.map((s) => s.key));
  const modelKeys = new Set(specs.map((s) => s.key));
  const extra = [...tensors.keys()].filter(
    (k) => !modelKeys.has(k) && !k.endsWith('.num_batches_tracked') && !isModuleOf(k, skip),
  );
  const missing = wanted.filter((s) => !tensors.has(s.key));
  const extraText = (n: number): string =>
    `${extra.slice(0, n).map((k) => `"${k}"`).join(', ')}${extra.length > n ? `, … (${extra.length} in all)` : ''}`;
  if (missing.length > 0) {
    const first = missing[0]!;
    throw new Error(
      `${fn}: the file has no tensor "${first.key}" for layer ${first.layer} (${first.className}, shape ${shapeText(first.shape)}${layoutText(first)})` +
        `${missing.length > 1 ? `; ${missing.length} tensors are missing in all` : ''}` +
        `${extra.length > 0 ? `, and it has tensors this model lacks: ${extraText(3)}` : ''}` +
        `. The file does not fit this model (naming '${naming}'): check depth, variant and width.`,
    );
  }
  if (extra.length > 0) {
    throw new Error(
      `${fn}: the file has tensors this model lacks: ${extraText(5)}. The file does not fit this model (naming '${naming}'): check depth, variant and width.`,
    );
  }
  const values: Float32Array[] = [];
  for (const spec of wanted) {
    const t = tensors.get(spec.key)!;
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      const hint = spec.layer === 'fc' ? " To start from these weights with another number of classes, pass { skip: ['fc'] }." : '';
      throw new Error(
        `${fn}: tensor "${spec.key}" has shape ${shapeText(t.shape)} in the file but layer ${spec.layer} needs ${shapeText(spec.shape)}${layoutText(spec)}.${hint}`,
      );
    }
    const data = safetensorsToFloat32(t, `tensor "${spec.key}"`);
    values.push(spec.toTorch ? transpose(data, spec.shape, invert(spec.toTorch)) : data);
  }
  // All checked: now write, layer by layer.
  const byVariable = new Map<tfl.LayerVariable, Float32Array>(wanted.map((s, i) => [s.variable, values[i]!]));
  for (const layer of flattenLayers(model)) {
    if (!layer.weights.some((w) => byVariable.has(w))) continue;
    const next = layer.weights.map((w) => {
      const v = byVariable.get(w);
      return v ? tf.tensor(v, w.shape as number[], 'float32') : w.read().clone();
    });
    layer.setWeights(next);
    tf.dispose(next);
  }
  return {
    naming,
    loaded: wanted.map((s) => s.key),
    skipped: specs.filter((s) => !wantedKeys.has(s.key)).map((s) => s.key),
    metadata: file.metadata,
  };
}

/**
 * Writes a model built by `buildResNet`/`createResNet` as a `.safetensors` file with PyTorch's names and layouts
 * (conv OIHW, linear [out, in], BN running statistics, `num_batches_tracked` as int64 0), which
 * `model.load_state_dict(safetensors.torch.load_file(path))` loads into the matching torchvision or timm ResNet.
 * `__metadata__` holds `format: 'pt'`, the naming and the producer, plus `options.metadata`.
 */
export function toSafetensors(model: tfl.LayersModel, options: ToSafetensorsOptions = {}): Uint8Array {
  const fn = 'toSafetensors';
  const option = resolveNaming(options.naming, fn);
  const naming = option === 'auto' ? defaultNaming(modelFamily(model)) : option;
  const specs = specsOf(model, naming, fn);
  const entries: [string, SafetensorsTensor][] = [];
  for (const spec of specs) {
    const data = spec.variable.read().dataSync() as Float32Array;
    const ours = spec.variable.shape as number[];
    entries.push([spec.key, float32Tensor(spec.toTorch ? transpose(data, ours, spec.toTorch) : data, spec.shape)]);
    if (spec.className === 'BatchNormalization' && spec.key.endsWith('.running_var')) {
      entries.push([`${spec.layer}.num_batches_tracked`, { dtype: 'I64', shape: [], data: new Uint8Array(8) }]);
    }
  }
  return writeSafetensors(entries, {
    ...options.metadata,
    format: 'pt',
    naming,
    producer: '@bag-of-tricks/resnet-variants',
  });
}
