import type * as tfl from '@tensorflow/tfjs-layers';
import { flattenLayers } from './count';

type Layer = tfl.layers.Layer;

/** Longest path (in layers) from the model input to each layer, read from the graph. */
function depths(layers: Layer[]): Map<Layer, number> {
  const depth = new Map<Layer, number>();
  const visit = (layer: Layer): number => {
    const known = depth.get(layer);
    if (known !== undefined) return known;
    depth.set(layer, 0); // guards cycles, which functional models cannot have
    let d = 0;
    for (const node of layer.inboundNodes) for (const parent of node.inboundLayers) d = Math.max(d, visit(parent) + 1);
    depth.set(layer, d);
    return d;
  };
  layers.forEach(visit);
  return depth;
}

/**
 * Names of the BN layers that the zero-gamma trick starts at gamma = 0: the last BN of every residual
 * block, i.e. the BN on the residual branch feeding each `Add` (not the BN of a projection shortcut, which
 * is the shallower of two BN inputs). Read from the graph, so it works on loaded models too; `createResNet`
 * initialises exactly these to zero when `zeroGamma` is true (the default).
 */
export function zeroGammaLayers(model: tfl.LayersModel): string[] {
  const layers = flattenLayers(model);
  const depth = depths(layers);
  const picked = new Set<Layer>();
  for (const layer of layers) {
    if (layer.getClassName() !== 'Add') continue;
    for (const node of layer.inboundNodes) {
      const parents = node.inboundLayers;
      const bns = parents.filter((p) => p.getClassName() === 'BatchNormalization');
      if (bns.length === 0) continue;
      const deepest = bns.reduce((a, b) => (depth.get(b)! > depth.get(a)! ? b : a));
      // With two BN inputs at equal depth neither branch is the identity/projection: not a residual block.
      if (bns.filter((b) => depth.get(b) === depth.get(deepest)).length > 1) continue;
      picked.add(deepest);
    }
  }
  return layers.filter((l) => picked.has(l)).map((l) => l.name);
}
