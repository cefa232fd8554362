import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config';

const base = { model: { name: 'resnet18d' }, epochs: 2 };
const issues = (input: object): string => {
  try {
    parseConfig(input, 'ft.json');
  } catch (e) {
    return (e as Error).message;
  }
  return '';
};

describe('config: export and init', () => {
  it('defaults: out/model in float32, no best/; no init; an init freezes nothing at one lr', () => {
    const c = parseConfig(base);
    expect(c.export).toEqual({ weights: 'float32', best: false });
    expect(c.init).toBeUndefined();
    expect(parseConfig({ ...base, init: { from: 'runs/a/model' } }).init).toEqual({ from: 'runs/a/model', freeze: 'none', backboneLrScale: 1 });
  });

  it('refuses what cannot work, naming the field and the fix', () => {
    expect(issues({ ...base, export: { weights: 'int8' } })).toMatch(/export\.weights: got "int8"; allowed: "float32", "float16"/);
    expect(issues({ ...base, init: { from: 'm', freeze: ['stem', 'layer5'] } })).toMatch(/init\.freeze/);
    expect(issues({ ...base, optimizer: { kind: 'adam' }, init: { from: 'm', backboneLrScale: 0.1 } })).toMatch(
      /init\.backboneLrScale: Adam's step does not change with gradient scale.*use optimizer 'nag' or 'sgd'/,
    );
    expect(issues({ ...base, batchSize: 8, workers: 2, init: { from: 'm', freeze: 'backbone' } })).toMatch(/init\.freeze: frozen layers are not passed to data-parallel replicas; set workers: 1/);
    expect(issues({ ...base, init: { from: 'm', backboneLrScale: 2 } })).toMatch(/init\.backboneLrScale/);
    expect(issues({ ...base, init: { from: 'm', backboneLrScale: 0.1 } })).toBe('');
  });
});
