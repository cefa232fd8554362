import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
import { createRng } from '@bag-of-tricks/core';

export interface TorchReference {
  models: Record<string, { params: number; macs: number }>;
}

export interface TorchForwardFixture {
  description: string;
  config: {
    block: 'basic' | 'bottleneck';
    layers: number[];
    widths: number[];
    stem: 'imagenet' | 'deep' | 'small';
    variant: 'a' | 'b' | 'c' | 'd';
    numClasses: number;
    size: number;
  };
  inputNHWC: { shape: number[]; values: number[] };
  logits: { shape: number[]; values: number[] };
  weights: Record<string, { shape: number[]; values: number[] }>;
}

const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

/** Numbers written by fixtures/torch_reference.py (torch 1.13 / torchvision 0.14). */
export const torchReference = (): TorchReference => JSON.parse(readFileSync(fixture('torch-reference.json'), 'utf8'));

export const torchForward = (name: string): TorchForwardFixture =>
  JSON.parse(readFileSync(fixture(`torch-forward-${name}.json`), 'utf8'));

/** Layer configs of a model by layer name, straight from the serialised topology. */
export function layerConfigs(model: tfl.LayersModel): Map<string, { className: string; config: Record<string, unknown> }> {
  const topology = model.toJSON(undefined, false) as unknown as {
    config: { layers: { class_name: string; config: Record<string, unknown> }[] };
  };
  return new Map(topology.config.layers.map((l) => [l.config.name as string, { className: l.class_name, config: l.config }]));
}

/** Names of the layers feeding `name` in the serialised graph. */
export function inboundOf(model: tfl.LayersModel, name: string): string[] {
  const topology = model.toJSON(undefined, false) as unknown as {
    config: { layers: { name: string; inbound_nodes: [string, number, number, unknown][][] }[] };
  };
  const layer = topology.config.layers.find((l) => l.name === name);
  if (!layer) throw new Error(`no layer ${name}`);
  return layer.inbound_nodes.flatMap((node) => node.map((entry) => entry[0]));
}

/** Overwrites every weight (moving statistics included) with seeded random values, so a round trip is meaningful. */
export function randomizeWeights(model: tfl.LayersModel, seed: number): void {
  const rng = createRng(seed);
  for (const layer of model.layers) {
    const weights = layer.weights;
    if (weights.length === 0) continue;
    const values = weights.map((w) => {
      const size = w.shape.reduce((a: number, b) => a * (b as number), 1);
      const positive = w.originalName.endsWith('moving_variance');
      const data = Float32Array.from({ length: size }, () => (positive ? rng.uniform(0.5, 1.5) : rng.normal(0, 0.2)));
      return tf.tensor(data, w.shape as number[]);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}
