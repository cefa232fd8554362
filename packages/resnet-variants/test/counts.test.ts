import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { countFlops, countParams, createResNet, flopsByLayer, RESNET_NAMES, type ResNetName } from '../src/index';
import { torchReference } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Published counts: torchvision's model docs (num_params) and timm's resnet50d/resnet18d model cards. */
const PUBLISHED_PARAMS: Partial<Record<ResNetName, number>> = {
  resnet18: 11_689_512,
  resnet34: 21_797_672,
  resnet50: 25_557_032,
  resnet50b: 25_557_032, // torchvision's resnet50 *is* B ("v1.5"); A and B differ only in where the stride sits
  resnet101: 44_549_160,
  resnet152: 60_192_808,
  resnet18d: 11_708_744, // timm
  resnet50d: 25_576_264, // timm
};

/** Built once per name: params and FLOPs, then disposed (resnet152 has 60M weights). */
const measured = new Map<string, { params: number; all: number; flops: number }>();
function measure(name: ResNetName): { params: number; all: number; flops: number } {
  let m = measured.get(name);
  if (!m) {
    const model = createResNet(name);
    m = { params: countParams(model), all: countParams(model, { trainableOnly: false }), flops: countFlops(model) };
    model.dispose();
    measured.set(name, m);
  }
  return m;
}

describe('parameter counts', () => {
  it.each(Object.entries(PUBLISHED_PARAMS))('%s has the published count %i', (name, params) => {
    expect(measure(name as ResNetName).params).toBe(params);
  });

  it('C and D add only the deep stem: +19,232 over A/B (hand count: 3*32*9 + 32*32*9 + 32*64*9 + 2*32*2 - 64*3*49)', () => {
    const stem = 3 * 32 * 9 + 32 * 32 * 9 + 32 * 64 * 9 + 2 * (2 * 32) - 64 * 3 * 49;
    expect(stem).toBe(19_232);
    for (const depth of [18, 34, 50, 101, 152]) {
      const a = measure(`resnet${depth}` as ResNetName).params;
      expect(measure(`resnet${depth}b` as ResNetName).params).toBe(a);
      expect(measure(`resnet${depth}c` as ResNetName).params).toBe(a + stem);
      expect(measure(`resnet${depth}d` as ResNetName).params).toBe(a + stem);
    }
  });

  it('non-trainable weights are the BN moving mean and variance (2 per BN channel): resnet50 has 53,120', () => {
    // Same count as gamma+beta, which is torchvision's 25,557,032 minus conv and fc weights.
    const { params, all } = measure('resnet50');
    expect(all - params).toBe(53_120);
  });
});

describe('every named variant against torch', () => {
  const ref = torchReference().models;
  it('covers exactly the torch reference names', () => {
    expect([...RESNET_NAMES].sort()).toEqual(Object.keys(ref).sort());
  });
  it.each(RESNET_NAMES.map((n) => [n]))('%s: params and conv+fc multiply-adds equal torch', (name) => {
    const m = measure(name);
    expect(m.params).toBe(ref[name]!.params);
    expect(m.flops).toBe(ref[name]!.macs);
  });
});

describe('FLOPs of ResNet-50 at 224 (paper Table 5: A 3.8G, B 4.1G, C 4.3G, D 4.3G)', () => {
  it('A ~3.86 G multiply-adds, B = torchvision ResNet-50 (v1.5, i.e. B) at 4.09 G', () => {
    expect(measure('resnet50').flops / 1e9).toBeCloseTo(3.86, 2);
    expect((measure('resnet50b').flops / 1e9).toFixed(2)).toBe('4.09');
  });
  it('each within 5% of the paper; C and D equal (the 1x1 conv of D works on the pooled map)', () => {
    const paper = { resnet50: 3.8, resnet50b: 4.1, resnet50c: 4.3, resnet50d: 4.3 } as const;
    for (const [name, g] of Object.entries(paper)) {
      expect(Math.abs(measure(name as ResNetName).flops / 1e9 - g) / g).toBeLessThan(0.05);
    }
    expect(measure('resnet50c').flops).toBe(measure('resnet50d').flops);
  });
  it('hand-worked: the 7x7 stem conv is 112*112*7*7*3*64 and fc is 2048*1000', () => {
    const model = createResNet('resnet50');
    const byName = new Map(flopsByLayer(model).map((l) => [l.name, l.multiplyAdds]));
    expect(byName.get('conv1')).toBe(112 * 112 * 7 * 7 * 3 * 64);
    expect(byName.get('fc')).toBe(2048 * 1000);
    // A: the first block of stage 2 strides its 1x1: 28*28*256*128 multiply-adds, not 56*56*256*128.
    expect(byName.get('layer2.0.conv1')).toBe(28 * 28 * 256 * 128);
    expect(byName.has('bn1')).toBe(false);
    model.dispose();
  });
});
