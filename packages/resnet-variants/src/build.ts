import { createRng, type Rng } from '@bag-of-tricks/core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormalization } from './batch-norm';
import {
  RESNET_VARIANTS,
  resolveConfig,
  type CreateResNetOptions,
  type LayersInitializer,
  type ResNetConfig,
  type ResNetName,
  type ResolvedResNetConfig,
} from './config';

type SymbolicTensor = tfl.SymbolicTensor;

// torchvision's BatchNorm2d: eps 1e-5, momentum 0.1 on the new batch = Keras momentum 0.9 on the old average.
const BN_EPSILON = 1e-5;
const BN_MOMENTUM = 0.9;

/** Builds layers with torchvision/timm names, so weights port by name (`layer1.0.conv1` ↔ `layer1.0.conv1.weight`). */
class Builder {
  private readonly rng: Rng | undefined;

  constructor(private readonly cfg: ResolvedResNetConfig) {
    this.rng = cfg.seed === undefined ? undefined : createRng(cfg.seed);
  }

  channels(c: number): number {
    return Math.max(1, Math.round(c * this.cfg.width));
  }

  kernelInitializer(): LayersInitializer {
    const init = this.cfg.initializer;
    if (typeof init !== 'string') return init;
    const seed = this.rng?.seed();
    if (init === 'heNormal') return tfl.initializers.heNormal({ seed });
    if (init === 'heUniform') return tfl.initializers.heUniform({ seed });
    return tfl.initializers.glorotUniform({ seed });
  }

  /**
   * A bias-free conv with PyTorch's padding k // 2. At stride 1 that is Keras' symmetric 'same';
   * at stride 2 'same' would pad only bottom/right, so the padding is explicit (as torchvision pads).
   */
  conv(x: SymbolicTensor, name: string, filters: number, kernel: number, stride: number): SymbolicTensor {
    const pad = Math.floor(kernel / 2);
    let input = x;
    if (stride > 1 && pad > 0) {
      input = tfl.layers.zeroPadding2d({ padding: pad, name: `${name}.pad` }).apply(x) as SymbolicTensor;
    }
    return tfl.layers
      .conv2d({
        filters,
        kernelSize: kernel,
        strides: stride,
        padding: stride > 1 ? 'valid' : 'same',
        useBias: false,
        kernelInitializer: this.kernelInitializer(),
        name,
      })
      .apply(input) as SymbolicTensor;
  }

  bn(x: SymbolicTensor, name: string, zeroGamma = false): SymbolicTensor {
    return batchNormalization({
      axis: -1,
      momentum: BN_MOMENTUM,
      epsilon: BN_EPSILON,
      gammaInitializer: zeroGamma ? 'zeros' : 'ones',
      betaInitializer: 'zeros',
      name,
    }).apply(x) as SymbolicTensor;
  }

  relu(x: SymbolicTensor, name: string): SymbolicTensor {
    return tfl.layers.reLU({ name }).apply(x) as SymbolicTensor;
  }

  stem(x: SymbolicTensor): SymbolicTensor {
    const { stem } = this.cfg;
    const out = this.channels(this.cfg.stemWidth);
    if (stem === 'small') {
      x = this.conv(x, 'conv1', out, 3, 1);
    } else if (stem === 'imagenet') {
      x = this.conv(x, 'conv1', out, 7, 2);
    } else {
      // ResNet-C (timm's stem_type='deep'): 3x3/2 (w/2), 3x3 (w/2), 3x3 (w), numbered like timm's nn.Sequential.
      const mid = this.channels(this.cfg.stemWidth / 2);
      x = this.conv(x, 'conv1.0', mid, 3, 2);
      x = this.relu(this.bn(x, 'conv1.1'), 'conv1.2');
      x = this.conv(x, 'conv1.3', mid, 3, 1);
      x = this.relu(this.bn(x, 'conv1.4'), 'conv1.5');
      x = this.conv(x, 'conv1.6', out, 3, 1);
    }
    x = this.relu(this.bn(x, 'bn1'), 'relu');
    if (stem === 'small') return x;
    // MaxPool2d(3, 2, padding=1): zero padding equals torch's -inf padding here because the input is post-ReLU.
    x = tfl.layers.zeroPadding2d({ padding: 1, name: 'maxpool.pad' }).apply(x) as SymbolicTensor;
    return tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid', name: 'maxpool' }).apply(x) as SymbolicTensor;
  }

  shortcut(x: SymbolicTensor, prefix: string, inChannels: number, outChannels: number, stride: number): SymbolicTensor {
    if (stride === 1 && inChannels === outChannels) return x;
    if (!this.cfg.avgDown) {
      // Option B projection: 1x1 conv with the block's stride, then BN.
      return this.bn(this.conv(x, `${prefix}.downsample.0`, outChannels, 1, stride), `${prefix}.downsample.1`);
    }
    // ResNet-D: AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) then a stride-1 1x1 conv (timm's avg_down).
    let y = x;
    if (stride > 1) {
      y = tfl.layers
        .averagePooling2d({ poolSize: 2, strides: stride, padding: 'same', name: `${prefix}.downsample.0` })
        .apply(x) as SymbolicTensor;
    }
    return this.bn(this.conv(y, `${prefix}.downsample.1`, outChannels, 1, 1), `${prefix}.downsample.2`);
  }

  block(x: SymbolicTensor, prefix: string, inChannels: number, width: number, stride: number): [SymbolicTensor, number] {
    const { zeroGamma } = this.cfg;
    let y: SymbolicTensor;
    let outChannels: number;
    if (this.cfg.block === 'basic') {
      outChannels = width;
      y = this.relu(this.bn(this.conv(x, `${prefix}.conv1`, width, 3, stride), `${prefix}.bn1`), `${prefix}.relu1`);
      y = this.bn(this.conv(y, `${prefix}.conv2`, width, 3, 1), `${prefix}.bn2`, zeroGamma);
    } else {
      outChannels = width * 4;
      const [s1, s3] = this.cfg.strideOn === '1x1' ? [stride, 1] : [1, stride];
      y = this.relu(this.bn(this.conv(x, `${prefix}.conv1`, width, 1, s1), `${prefix}.bn1`), `${prefix}.relu1`);
      y = this.relu(this.bn(this.conv(y, `${prefix}.conv2`, width, 3, s3), `${prefix}.bn2`), `${prefix}.relu2`);
      y = this.bn(this.conv(y, `${prefix}.conv3`, outChannels, 1, 1), `${prefix}.bn3`, zeroGamma);
    }
    const identity = this.shortcut(x, prefix, inChannels, outChannels, stride);
    const sum = tfl.layers.add({ name: `${prefix}.add` }).apply([y, identity]) as SymbolicTensor;
    return [this.relu(sum, `${prefix}.relu`), outChannels];
  }

  build(): tfl.LayersModel {
    const { cfg } = this;
    const input = tfl.input({ shape: [...cfg.inputShape], name: 'input' });
    let x = this.stem(input);
    let channels = this.channels(cfg.stemWidth);
    cfg.layers.forEach((blocks, stage) => {
      const width = this.channels(cfg.widths[stage]!);
      for (let b = 0; b < blocks; b++) {
        const stride = stage > 0 && b === 0 ? 2 : 1;
        [x, channels] = this.block(x, `layer${stage + 1}.${b}`, channels, width, stride);
      }
    });
    x = tfl.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(x) as SymbolicTensor;
    if (cfg.dropout > 0) x = tfl.layers.dropout({ rate: cfg.dropout, name: 'dropout' }).apply(x) as SymbolicTensor;
    const logits = tfl.layers
      .dense({
        units: cfg.numClasses,
        kernelInitializer: this.kernelInitializer(),
        biasInitializer: 'zeros',
        name: 'fc',
      })
      .apply(x) as SymbolicTensor;
    return tfl.model({ inputs: input, outputs: logits, name: cfg.name });
  }
}

/**
 * Builds a ResNet from a config (custom depths, widths, stems). Returns a functional `tf.LayersModel`
 * of standard layers only, so it saves and loads with no registration. It outputs logits.
 */
export function buildResNet(config: ResNetConfig): tfl.LayersModel {
  return new Builder(resolveConfig(config)).build();
}

/** The names `createResNet` accepts. */
export const RESNET_NAMES = Object.freeze(Object.keys(RESNET_VARIANTS) as ResNetName[]);

/**
 * Checks a variant name and `createResNet` options (e.g. parsed from a JSON config) without building
 * anything: throws the error `createResNet` would throw (unknown name or option, wrong type or range),
 * naming the field. Options not given take the variant's values and `DEFAULTS`.
 */
export function validateResNetOptions(name: string, options: unknown = {}): void {
  if (!Object.prototype.hasOwnProperty.call(RESNET_VARIANTS, name)) {
    throw new Error(`Unknown ResNet variant ${JSON.stringify(name)}; valid names are ${RESNET_NAMES.join(', ')}.`);
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`ResNet options must be an object, got ${JSON.stringify(options)}.`);
  }
  resolveConfig({ ...RESNET_VARIANTS[name as ResNetName], name, ...(options as CreateResNetOptions) });
}

/**
 * Builds a named variant: `resnet18`…`resnet152` (ResNet-A) with suffix `b`, `c` or `d` for the paper's tweaks,
 * or a CIFAR ResNet (`resnet20`, `resnet32`, `resnet44`, `resnet56`, `resnet110`). Options override the
 * variant's config, e.g. `{ numClasses: 10, inputShape: [32, 32, 3], stem: 'small' }`.
 */
export function createResNet(name: ResNetName, options: CreateResNetOptions = {}): tfl.LayersModel {
  const variant = Object.prototype.hasOwnProperty.call(RESNET_VARIANTS, name)
    ? RESNET_VARIANTS[name as ResNetName]
    : undefined;
  if (!variant) {
    throw new Error(`Unknown ResNet variant ${JSON.stringify(name)}; valid names are ${RESNET_NAMES.join(', ')}.`);
  }
  return buildResNet({ ...variant, name, ...options });
}
