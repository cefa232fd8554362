import type * as tfl from '@tensorflow/tfjs-layers';

/** The three stems: 7x7/2 + max pool (ResNet A, B), three 3x3 convs + max pool (C, D), one 3x3/1 conv for 28–32 px images. */
export type StemKind = 'imagenet' | 'deep' | 'small';

/** Named weight initialisers; `xavierUniform` is the paper's (SPEC §2). */
export type InitializerName = 'xavierUniform' | 'heNormal' | 'heUniform';

/** A tfjs-layers initializer instance, e.g. `tf.initializers.varianceScaling({...})`. */
export type LayersInitializer = ReturnType<typeof tfl.initializers.glorotUniform>;

/** Everything that defines a ResNet. Flags are named after the paper's tweaks (section 4). */
export interface ResNetConfig {
  /** Residual block: two 3x3 convs (ResNet-18/34, CIFAR ResNets) or 1x1-3x3-1x1 with 4x expansion (50/101/152). */
  block: 'basic' | 'bottleneck';
  /** Blocks per stage, e.g. [3, 4, 6, 3] for ResNet-50. Every stage after the first halves the resolution. */
  layers: readonly number[];
  /** Base channels per stage (a bottleneck stage outputs 4x this). Default [64, 128, 256, 512]. */
  widths?: readonly number[];
  /** Stem; default 'imagenet'. 'deep' is the ResNet-C tweak. */
  stem?: StemKind;
  /** Channels out of the stem (the deep stem's first two convs get half). Default `widths[0]`. */
  stemWidth?: number;
  /**
   * Where a downsampling bottleneck puts its stride 2: on the first 1x1 conv (ResNet-A, the original)
   * or on the 3x3 conv (the ResNet-B tweak; torchvision's "v1.5"). Basic blocks always stride their first 3x3.
   * Default '1x1'.
   */
  strideOn?: '1x1' | '3x3';
  /**
   * The ResNet-D tweak: a downsampling shortcut is a 2x2 average pool (stride 2) then a 1x1 conv with stride 1,
   * instead of a 1x1 conv with stride 2 that skips three quarters of the input. Default false.
   */
  avgDown?: boolean;
  /** Multiplies every channel count (stem and stages), rounded, at least 1. Default 1. */
  width?: number;
  /** Classifier outputs (logits, no softmax). Default 1000; at least 2. */
  numClasses?: number;
  /** [height, width, channels], NHWC. Default [224, 224, 3]. */
  inputShape?: readonly [number, number, number];
  /** Start the last BN of every residual block at gamma = 0 (paper §3.1). Default true. */
  zeroGamma?: boolean;
  /** Conv and dense kernel initialiser. Default 'xavierUniform' (uniform in ±sqrt(6 / (fanIn + fanOut)), Keras' glorotUniform). */
  initializer?: InitializerName | LayersInitializer;
  /** Seed for the named initialisers; each layer gets its own seed derived from it. Default: unseeded. */
  seed?: number;
  /** Dropout rate before the classifier; 0 (default) adds no layer. */
  dropout?: number;
  /** Model name. Default: the variant name, or 'resnet'. */
  name?: string;
}

/** A config with every default filled in, as `buildResNet` uses it. */
export interface ResolvedResNetConfig {
  block: 'basic' | 'bottleneck';
  layers: readonly number[];
  widths: readonly number[];
  stem: StemKind;
  stemWidth: number;
  strideOn: '1x1' | '3x3';
  avgDown: boolean;
  width: number;
  numClasses: number;
  inputShape: readonly [number, number, number];
  zeroGamma: boolean;
  initializer: InitializerName | LayersInitializer;
  seed: number | undefined;
  dropout: number;
  name: string;
}

/** Options for `createResNet(name, options)`: any config field overrides the named variant's. */
export type CreateResNetOptions = Partial<ResNetConfig>;

const IMAGENET_WIDTHS = [64, 128, 256, 512] as const;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const depths = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
} as const;

type ImagenetName = `resnet${keyof typeof depths}${'' | 'b' | 'c' | 'd'}`;
type CifarName = 'resnet20' | 'resnet32' | 'resnet44' | 'resnet56' | 'resnet110';
/** Every name `createResNet` accepts. */
export type ResNetName = ImagenetName | CifarName;

function imagenetVariants(): Record<ImagenetName, ResNetConfig> {
  const out: Partial<Record<ImagenetName, ResNetConfig>> = {};
  for (const [depth, { block, layers }] of Object.entries(depths)) {
    const base = { block, layers, widths: IMAGENET_WIDTHS } as const;
    out[`resnet${depth}` as ImagenetName] = { ...base, stem: 'imagenet', strideOn: '1x1', avgDown: false };
    out[`resnet${depth}b` as ImagenetName] = { ...base, stem: 'imagenet', strideOn: '3x3', avgDown: false };
    out[`resnet${depth}c` as ImagenetName] = { ...base, stem: 'deep', strideOn: '3x3', avgDown: false };
    out[`resnet${depth}d` as ImagenetName] = { ...base, stem: 'deep', strideOn: '3x3', avgDown: true };
  }
  return out as Record<ImagenetName, ResNetConfig>;
}

/** CIFAR ResNets (He et al. 2016, §4.2): 6n+2 layers, widths 16/32/64, 3x3 stem of 16, option-B projection shortcuts. */
function cifarVariant(n: number): ResNetConfig {
  return {
    block: 'basic',
    layers: [n, n, n],
    widths: [16, 32, 64],
    stem: 'small',
    stemWidth: 16,
    numClasses: 10,
    inputShape: [32, 32, 3],
  };
}

/**
 * The named variants. A plain name is the paper's ResNet-A; the suffixes are its tweaks:
 * `b` moves the bottleneck stride to the 3x3 conv, `c` adds the deep stem, `d` the average-pool shortcut.
 * (For basic-block nets `b` builds the same graph as A: there is no 1x1 conv to move the stride from.)
 */
export const RESNET_VARIANTS: Readonly<Record<ResNetName, Readonly<ResNetConfig>>> = deepFreeze({
  ...imagenetVariants(),
  resnet20: cifarVariant(3),
  resnet32: cifarVariant(5),
  resnet44: cifarVariant(7),
  resnet56: cifarVariant(9),
  resnet110: cifarVariant(18),
});

/**
 * Every default of a ResNet config, written once: `resolveConfig` fills them from here, and the trainer's
 * --help names them (import `DEFAULTS` from '@bag-of-tricks/resnet-variants'). A named variant's own
 * fields (block, layers, widths, stem, strideOn, avgDown) come from `RESNET_VARIANTS` and win over these.
 */
export const DEFAULTS = Object.freeze({
  widths: IMAGENET_WIDTHS as readonly number[],
  stem: 'imagenet' as StemKind,
  strideOn: '1x1' as '1x1' | '3x3',
  avgDown: false as boolean,
  width: 1 as number,
  numClasses: 1000 as number,
  inputShape: Object.freeze([224, 224, 3] as const) as readonly [number, number, number],
  /** Zero-gamma on the last BN of each block (the paper's trick, on by default). */
  zeroGamma: true as boolean,
  initializer: 'xavierUniform' as InitializerName,
  dropout: 0 as number,
  name: 'resnet' as string,
});

const CONFIG_KEYS: readonly (keyof ResNetConfig)[] = [
  'block', 'layers', 'widths', 'stem', 'stemWidth', 'strideOn', 'avgDown', 'width', 'numClasses',
  'inputShape', 'zeroGamma', 'initializer', 'seed', 'dropout', 'name',
];

const isPositiveInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x > 0;

/** Total downsampling of the stem (conv stride times max-pool stride). */
export function stemStride(stem: StemKind): number {
  return stem === 'small' ? 1 : 4;
}

/** Fills defaults and checks every field, with errors that say what to change. */
export function resolveConfig(config: ResNetConfig): ResolvedResNetConfig {
  if (config === null || typeof config !== 'object') throw new TypeError('buildResNet: config must be an object.');
  const unknown = Object.keys(config).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new Error(`ResNet config: unknown option(s) ${unknown.join(', ')}; valid options are ${CONFIG_KEYS.join(', ')}.`);
  }
  const { block, layers } = config;
  if (block !== 'basic' && block !== 'bottleneck') {
    throw new Error(`ResNet config: block must be 'basic' or 'bottleneck', got ${JSON.stringify(block)}.`);
  }
  if (!Array.isArray(layers) || layers.length === 0 || !layers.every(isPositiveInt)) {
    throw new Error(`ResNet config: layers must be a non-empty array of positive integers (blocks per stage), got ${JSON.stringify(layers)}.`);
  }
  const widths = config.widths ?? DEFAULTS.widths;
  if (!Array.isArray(widths) || widths.length !== layers.length || !widths.every(isPositiveInt)) {
    throw new Error(
      `ResNet config: widths must be ${layers.length} positive integers (one per stage, like layers), got ${JSON.stringify(widths)}.`,
    );
  }
  const stem = config.stem ?? DEFAULTS.stem;
  if (!['imagenet', 'deep', 'small'].includes(stem)) {
    throw new Error(`ResNet config: stem must be 'imagenet', 'deep' or 'small', got ${JSON.stringify(stem)}.`);
  }
  const stemWidth = config.stemWidth ?? widths[0]!;
  if (!isPositiveInt(stemWidth) || (stem === 'deep' && stemWidth < 2)) {
    throw new Error(`ResNet config: stemWidth must be a positive integer (at least 2 for the deep stem), got ${JSON.stringify(stemWidth)}.`);
  }
  const strideOn = config.strideOn ?? DEFAULTS.strideOn;
  if (strideOn !== '1x1' && strideOn !== '3x3') {
    throw new Error(`ResNet config: strideOn must be '1x1' (ResNet-A) or '3x3' (ResNet-B), got ${JSON.stringify(strideOn)}.`);
  }
  const width = config.width ?? DEFAULTS.width;
  if (typeof width !== 'number' || !(width > 0) || !Number.isFinite(width)) {
    throw new Error(`ResNet config: width (channel multiplier) must be a positive number, got ${JSON.stringify(width)}.`);
  }
  const numClasses = config.numClasses ?? DEFAULTS.numClasses;
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new Error(`ResNet config: numClasses must be an integer >= 2, got ${JSON.stringify(numClasses)}.`);
  }
  const inputShape = config.inputShape ?? DEFAULTS.inputShape;
  if (!Array.isArray(inputShape) || inputShape.length !== 3 || !inputShape.every(isPositiveInt)) {
    throw new Error(`ResNet config: inputShape must be [height, width, channels] of positive integers, got ${JSON.stringify(inputShape)}.`);
  }
  const minSide = stemStride(stem) * 2 ** (layers.length - 1);
  if (inputShape[0] < minSide || inputShape[1] < minSide) {
    const hint = stem === 'small' ? '' : " For 28–32 px images use stem: 'small'.";
    throw new Error(
      `ResNet config: input ${inputShape[0]}x${inputShape[1]} is too small for the '${stem}' stem with ${layers.length} stages: ` +
        `the network downsamples by ${minSide}, so each side must be at least ${minSide} px.${hint}`,
    );
  }
  const dropout = config.dropout ?? DEFAULTS.dropout;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new Error(`ResNet config: dropout must be a rate in [0, 1), got ${JSON.stringify(dropout)}.`);
  }
  const initializer = config.initializer ?? DEFAULTS.initializer;
  if (typeof initializer === 'string' && !['xavierUniform', 'heNormal', 'heUniform'].includes(initializer)) {
    throw new Error(
      `ResNet config: initializer must be 'xavierUniform', 'heNormal', 'heUniform' or a tf.initializers instance, got ${JSON.stringify(initializer)}.`,
    );
  }
  if (config.seed !== undefined && !Number.isInteger(config.seed)) {
    throw new Error(`ResNet config: seed must be an integer, got ${JSON.stringify(config.seed)}.`);
  }
  return {
    block,
    layers: [...layers],
    widths: [...widths],
    stem,
    stemWidth,
    strideOn,
    avgDown: config.avgDown ?? DEFAULTS.avgDown,
    width,
    numClasses,
    inputShape: [inputShape[0], inputShape[1], inputShape[2]],
    zeroGamma: config.zeroGamma ?? DEFAULTS.zeroGamma,
    initializer,
    seed: config.seed,
    dropout,
    name: config.name ?? DEFAULTS.name,
  };
}
