import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildResNet,
  createResNet,
  detectTorchNaming,
  float32Tensor,
  loadSafetensors,
  parseSafetensors,
  safetensorsToFloat32,
  toSafetensors,
  torchTensorSpecs,
  writeSafetensors,
  type ResNetConfig,
  type SafetensorsTensor,
  type TorchNaming,
} from '../src/index';

/**
 * Fixtures written by scripts/torch-fixtures.py (torch 1.13, torchvision 0.14, the reference safetensors package):
 * reduced-width torchvision ResNet-18/50/CIFAR-20 and timm ResNet-50-D/26-C layouts, their state dicts, a fixed NCHW
 * input and PyTorch's eval-mode logits. The same script checks the other direction (our toSafetensors file loaded
 * into the PyTorch module gives our logits) and records it in torch-check.json.
 */
interface Fixture {
  name: string;
  naming: TorchNaming;
  config: ResNetConfig;
  logits: Record<string, '1x1' | '3x3'>;
}

const dir = new URL('./fixtures/safetensors/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(`${dir}fixtures.json`, 'utf8')) as { fixtures: Fixture[] };
const weightsOf = (name: string): Uint8Array => readFileSync(`${dir}${name}.safetensors`);
const ioOf = (name: string) => parseSafetensors(readFileSync(`${dir}${name}.io.safetensors`));
const fixture = (name: string): Fixture => manifest.fixtures.find((f) => f.name === name)!;
const modelFor = (name: string, overrides: Partial<ResNetConfig> = {}): tfl.LayersModel => {
  const f = fixture(name);
  return buildResNet({ ...f.config, strideOn: Object.values(f.logits)[0], ...overrides });
};

/** NCHW (PyTorch) → NHWC (ours). */
const nhwc = (t: SafetensorsTensor): tf.Tensor4D =>
  tf.tidy(() => tf.transpose(tf.tensor4d(safetensorsToFloat32(t), t.shape as [number, number, number, number]), [0, 2, 3, 1]));

/** Rewrites a safetensors file through a function of its tensor list. */
function edit(bytes: Uint8Array, change: (entries: [string, SafetensorsTensor][]) => [string, SafetensorsTensor][]): Uint8Array {
  const file = parseSafetensors(bytes);
  return writeSafetensors(change([...file.tensors]), file.metadata);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('loadSafetensors: logits equal PyTorch (eval mode) to 1e-4', () => {
  expect(manifest.fixtures.map((f) => f.name)).toEqual([
    'resnet18-torchvision', 'resnet50-torchvision', 'resnet50d-timm', 'resnet26c-timm', 'resnet20-torchvision',
  ]);
  const cases = manifest.fixtures.flatMap((f) =>
    Object.entries(f.logits).flatMap(([key, strideOn]) =>
      (['explicit', 'auto'] as const).map((how) => ({ f, key, strideOn, how })),
    ),
  );
  it.each(cases.map((c) => [`${c.f.name} ${c.key} (strideOn ${c.strideOn}), naming ${c.how === 'auto' ? 'auto' : c.f.naming}`, c]))(
    '%s',
    (_, { f, key, strideOn, how }) => {
      const model = buildResNet({ ...f.config, strideOn });
      const result = loadSafetensors(model, weightsOf(f.name), { naming: how === 'auto' ? 'auto' : f.naming });
      expect(result.naming).toBe(f.naming);
      expect(result.skipped).toEqual([]);
      expect(result.metadata).toEqual({ format: 'pt' });
      const io = ioOf(f.name);
      const x = nhwc(io.tensors.get('input')!);
      const y = model.predict(x) as tf.Tensor;
      const expected = io.tensors.get(key)!;
      expect(y.shape).toEqual(expected.shape);
      expectTensorsClose(y, safetensorsToFloat32(expected), { rtol: 0, atol: 1e-4 });
      tf.dispose([x, y]);
      model.dispose();
    },
  );
});

describe('toSafetensors', () => {
  it.each(manifest.fixtures.map((f) => [f.name, f]))(
    '%s: toSafetensors(loadSafetensors(file)) reproduces every tensor of the PyTorch file byte for byte',
    (_, f) => {
      const model = modelFor(f.name);
      const original = parseSafetensors(weightsOf(f.name));
      loadSafetensors(model, weightsOf(f.name), { naming: f.naming });
      const ours = parseSafetensors(toSafetensors(model, { naming: f.naming }));
      expect([...ours.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
      for (const [key, t] of original.tensors) {
        const o = ours.tensors.get(key)!;
        if (key.endsWith('.num_batches_tracked')) {
          // The fixture says 100 (a trained checkpoint); we do not count batches and write int64 0.
          expect([o.dtype, o.shape, [...o.data]], key).toEqual(['I64', [], [0, 0, 0, 0, 0, 0, 0, 0]]);
          continue;
        }
        expect([o.dtype, o.shape], key).toEqual([t.dtype, t.shape]);
        expect(Buffer.from(o.data).equals(Buffer.from(t.data)), `${key} bytes`).toBe(true);
      }
      expect(ours.metadata).toEqual({ format: 'pt', naming: f.naming, producer: '@bag-of-tricks/resnet-variants' });
      model.dispose();
    },
  );

  it("'auto' picks timm for C/D models and torchvision for A/B and the CIFAR stem; extra metadata is kept", () => {
    const cases: [string, TorchNaming][] = [['resnet50d-timm', 'timm'], ['resnet26c-timm', 'timm'], ['resnet50-torchvision', 'torchvision'], ['resnet20-torchvision', 'torchvision']];
    for (const [name, naming] of cases) {
      const model = modelFor(name);
      const file = parseSafetensors(toSafetensors(model, { metadata: { classes: '["a","b"]' } }));
      expect(file.metadata, name).toEqual({ classes: '["a","b"]', format: 'pt', naming, producer: '@bag-of-tricks/resnet-variants' });
      model.dispose();
    }
  });

  it('torchTensorSpecs lists the PyTorch keys and shapes of a full-size ResNet-50-D (timm names) in model order', () => {
    const model = createResNet('resnet50d');
    const specs = torchTensorSpecs(model);
    expect(specs.slice(0, 6)).toEqual([
      { key: 'conv1.0.weight', layer: 'conv1.0', shape: [32, 3, 3, 3] },
      { key: 'conv1.1.weight', layer: 'conv1.1', shape: [32] },
      { key: 'conv1.1.bias', layer: 'conv1.1', shape: [32] },
      { key: 'conv1.1.running_mean', layer: 'conv1.1', shape: [32] },
      { key: 'conv1.1.running_var', layer: 'conv1.1', shape: [32] },
      { key: 'conv1.3.weight', layer: 'conv1.3', shape: [32, 32, 3, 3] },
    ]);
    const byKey = new Map(specs.map((s) => [s.key, s.shape]));
    expect(byKey.get('layer2.0.downsample.1.weight')).toEqual([512, 256, 1, 1]);
    expect(byKey.get('layer2.0.downsample.2.running_var')).toEqual([512]);
    expect(byKey.has('layer2.0.downsample.0.weight')).toBe(false); // the average pool has no weights
    expect(byKey.get('fc.weight')).toEqual([1000, 2048]);
    // timm resnet50d's state_dict: 320 parameters and running statistics without num_batches_tracked (a known count:
    // 53 BN x 4 + 53 conv + fc weight and bias = 267 for resnet50; the deep stem adds 2 convs and 2 BNs = 10 more).
    expect(specs.length).toBe(277);
    model.dispose();
  });
});

describe('refusals name the tensor and leave the model as it was', () => {
  const r18 = 'resnet18-torchvision';

  const snapshot = (model: tfl.LayersModel): Float32Array[] => model.weights.map((w) => w.read().dataSync().slice() as Float32Array);

  function expectRefused(model: tfl.LayersModel, bytes: Uint8Array, options: Parameters<typeof loadSafetensors>[2], message: string): void {
    const before = snapshot(model);
    expect(() => loadSafetensors(model, bytes, options)).toThrow(message);
    const after = snapshot(model);
    after.forEach((a, i) => expect(Buffer.from(a.buffer).equals(Buffer.from(before[i]!.buffer))).toBe(true));
  }

  it('a missing tensor', () => {
    const model = modelFor(r18);
    const bytes = edit(weightsOf(r18), (e) => e.filter(([k]) => k !== 'layer1.1.bn2.running_var'));
    expectRefused(model, bytes, { naming: 'torchvision' },
      'loadSafetensors: the file has no tensor "layer1.1.bn2.running_var" for layer layer1.1.bn2 (BatchNormalization, shape [4]). ' +
        "The file does not fit this model (naming 'torchvision'): check depth, variant and width.");
    model.dispose();
  });

  it('a tensor the model lacks', () => {
    const model = modelFor(r18);
    const extra = float32Tensor(new Float32Array(8), [8]);
    const bytes = edit(weightsOf(r18), (e) => [...e, ['layer4.2.bn1.weight', extra]]);
    expectRefused(model, bytes, {},
      'loadSafetensors: the file has tensors this model lacks: "layer4.2.bn1.weight". ' +
        "The file does not fit this model (naming 'torchvision'): check depth, variant and width.");
    model.dispose();
  });

  it('a wrong shape, with both shapes in PyTorch layout', () => {
    const model = modelFor(r18, { width: 1 / 8 });
    expectRefused(model, weightsOf(r18), {},
      'loadSafetensors: tensor "conv1.weight" has shape [4, 3, 7, 7] in the file but layer conv1 needs [8, 3, 7, 7] (PyTorch layout OIHW).');
    model.dispose();
  });

  it("another number of classes: refused with the fix, and { skip: ['fc'] } loads the backbone", () => {
    const model = modelFor(r18, { numClasses: 10 });
    expectRefused(model, weightsOf(r18), {},
      'loadSafetensors: tensor "fc.weight" has shape [5, 32] in the file but layer fc needs [10, 32] (PyTorch layout [out, in]). ' +
        "To start from these weights with another number of classes, pass { skip: ['fc'] }.");
    const fcBefore = model.getLayer('fc').getWeights().map((w) => w.dataSync().slice());
    const result = loadSafetensors(model, weightsOf(r18), { skip: ['fc'] });
    expect(result.skipped).toEqual(['fc.weight', 'fc.bias']);
    expect(result.loaded).toHaveLength(100);
    expect(model.getLayer('fc').getWeights().map((w) => w.dataSync().slice())).toEqual(fcBefore);
    const conv1 = parseSafetensors(weightsOf(r18)).tensors.get('conv1.weight')!;
    // OIHW [o, i, kh, kw] → HWIO [kh, kw, i, o]: element (o=1, i=2, kh=3, kw=4) of the file is kernel[3][4][2][1].
    const kernel = model.getLayer('conv1').getWeights()[0]!.arraySync() as number[][][][];
    expect(kernel[3]![4]![2]![1]).toBe(safetensorsToFloat32(conv1)[((1 * 3 + 2) * 7 + 3) * 7 + 4]);
    model.dispose();
  });

  it('a file of another variant (timm ResNet-50-D into a torchvision ResNet-50)', () => {
    const model = modelFor('resnet50-torchvision');
    expectRefused(model, weightsOf('resnet50d-timm'), {},
      'loadSafetensors: the file has no tensor "conv1.weight" for layer conv1 (Conv2D, shape [4, 3, 7, 7] (PyTorch layout OIHW)); ' +
        // Missing: the 7x7 conv1 and, per stage, downsample.0.weight and downsample.1's BN bias and statistics (4 x 4).
        // Lacked: the deep stem (3 convs, 2 BNs: 11) and downsample.2's BN per stage (16); file order is sorted.
        '17 tensors are missing in all, and it has tensors this model lacks: "conv1.0.weight", "conv1.1.bias", "conv1.1.running_mean", … (27 in all). ' +
        "The file does not fit this model (naming 'timm'): check depth, variant and width.");
    model.dispose();
  });

  it('a naming that cannot describe the model', () => {
    const d = modelFor('resnet50d-timm');
    expectRefused(d, weightsOf('resnet50d-timm'), { naming: 'torchvision' },
      "loadSafetensors: naming 'torchvision' cannot describe this model: it has a deep stem (conv1.0, ResNet-C/D), which torchvision's ResNet lacks; use naming 'timm' (or 'auto').");
    expect(() => toSafetensors(d, { naming: 'torchvision' })).toThrow("toSafetensors: naming 'torchvision' cannot describe this model");
    d.dispose();
    const cifar = modelFor('resnet20-torchvision');
    expect(() => toSafetensors(cifar, { naming: 'timm' })).toThrow(
      "toSafetensors: naming 'timm' cannot describe this model: timm's ResNet has no small 3x3/1 CIFAR stem; use naming 'torchvision' " +
        "(torchvision's ResNet layout with conv1 = 3x3/1 and maxpool = Identity) or 'auto'.");
    expect(() => toSafetensors(cifar, { naming: 'keras' as never })).toThrow(
      `toSafetensors: naming must be 'torchvision', 'timm' or 'auto', got "keras".`);
    cifar.dispose();
  });

  it('a non-float weight, and files that are not safetensors', () => {
    const model = modelFor(r18);
    const ints: SafetensorsTensor = { dtype: 'I32', shape: [5], data: new Uint8Array(20) };
    expectRefused(model, edit(weightsOf(r18), (e) => e.map(([k, t]) => [k, k === 'fc.bias' ? ints : t])), {},
      'safetensors: tensor "fc.bias" has dtype I32; weights must be F32, F16, BF16 or F64.');
    const bytes = weightsOf(r18);
    expectRefused(model, bytes.subarray(0, bytes.byteLength - 100), {}, 'safetensors: tensor "');
    expect(() => parseSafetensors(bytes.subarray(0, bytes.byteLength - 100))).toThrow(/ends at byte \d+ of the data but the data is \d+ bytes; the file is truncated\./);
    expectRefused(model, new TextEncoder().encode('{"not": "safetensors"}'), {},
      'safetensors: the header length field says');
    expectRefused(model, new Uint8Array(4), {}, 'safetensors: the file is 4 bytes, shorter than the 8-byte header length; it is not a safetensors file.');
    model.dispose();
  });

  it('a model that is not a buildResNet model', () => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3], name: 'head' })] });
    expect(() => toSafetensors(model)).toThrow(
      `toSafetensors: layer "head" (Dense) has no name in torchvision's ResNet layout; only buildResNet/createResNet models (whose layer names are the PyTorch module names) are supported.`);
    model.dispose();
  });
});

describe('safetensors format', () => {
  it('reads the reference writer: header, metadata, dtypes, shapes (the fixtures come from safetensors.torch.save_file)', () => {
    const io = ioOf('resnet50d-timm');
    expect([...io.tensors.keys()].sort()).toEqual(['input', 'logits']);
    expect(io.tensors.get('input')).toMatchObject({ dtype: 'F32', shape: [2, 3, 61, 61] });
    const w = parseSafetensors(weightsOf('resnet50d-timm'));
    expect(w.tensors.get('conv1.1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(w.tensors.size).toBe(332);
  });

  it('writes the layout of the spec: u64 LE header length, space-padded JSON to 8 bytes, contiguous data', () => {
    const bytes = writeSafetensors(
      [['a', float32Tensor(Float32Array.of(1, 2, 3), [3])], ['n', { dtype: 'I64', shape: [], data: new Uint8Array(8) }]],
      { format: 'pt' },
    );
    const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"n":{"dtype":"I64","shape":[],"data_offsets":[12,20]}}';
    const padded = Math.ceil(json.length / 8) * 8;
    expect(new DataView(bytes.buffer).getBigUint64(0, true)).toBe(BigInt(padded));
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded))).toBe(json.padEnd(padded, ' '));
    expect([...bytes.subarray(8 + padded, 8 + padded + 4)]).toEqual([0, 0, 0x80, 0x3f]); // 1.0f little-endian
    expect(bytes.byteLength).toBe(8 + padded + 20);
  });

  it('converts F16, BF16 and F64 to float32 (values worked by hand)', () => {
    const u16 = (...xs: number[]) => new Uint8Array(Uint16Array.from(xs).buffer);
    const half: SafetensorsTensor = { dtype: 'F16', shape: [5], data: u16(0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555) };
    expect([...safetensorsToFloat32(half)]).toEqual([1, -2, 65504, 2 ** -24, Math.fround(0.333251953125)]);
    const bf16: SafetensorsTensor = { dtype: 'BF16', shape: [2], data: u16(0x3f80, 0xc0a0) };
    expect([...safetensorsToFloat32(bf16)]).toEqual([1, -5]);
    const f64: SafetensorsTensor = { dtype: 'F64', shape: [1], data: new Uint8Array(Float64Array.of(0.1).buffer) };
    expect([...safetensorsToFloat32(f64)]).toEqual([Math.fround(0.1)]);
  });

  it('detects the naming from keys, and removes a DDP module. prefix on load', () => {
    expect(detectTorchNaming(['conv1.weight', 'layer1.0.downsample.1.weight'])).toBe('torchvision');
    expect(detectTorchNaming(['conv1.0.weight'])).toBe('timm');
    expect(detectTorchNaming(['layer2.0.downsample.2.running_var'])).toBe('timm');
    const model = modelFor('resnet26c-timm');
    const prefixed = edit(weightsOf('resnet26c-timm'), (e) => e.map(([k, t]) => [`module.${k}`, t]));
    expect(loadSafetensors(model, prefixed).naming).toBe('timm');
    model.dispose();
  });
});

describe('no tensor leaks', () => {
  it('loadSafetensors and toSafetensors keep tf.memory().numTensors flat', async () => {
    const model = modelFor('resnet26c-timm');
    const bytes = weightsOf('resnet26c-timm');
    await expectNoLeak(() => {
      loadSafetensors(model, bytes, { skip: ['fc'] });
      loadSafetensors(model, bytes);
      toSafetensors(model);
    }, 3);
    model.dispose();
  });
});
