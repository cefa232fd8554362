import type * as tfl from '@tensorflow/tfjs-layers';

type Layer = tfl.layers.Layer;
type LayerVariable = tfl.LayerVariable;

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Every layer of a model, with nested models expanded. */
export function flattenLayers(model: tfl.LayersModel): Layer[] {
  const out: Layer[] = [];
  for (const layer of model.layers) {
    const nested = (layer as unknown as { layers?: Layer[] }).layers;
    if (Array.isArray(nested)) out.push(...flattenLayers(layer as unknown as tfl.LayersModel));
    else out.push(layer);
  }
  return out;
}

export interface CountParamsOptions {
  /**
   * Count only trainable weights, as torchvision's `sum(p.numel() for p in model.parameters())` does
   * (BN moving mean and variance are buffers there). Default true; false adds the non-trainable ones.
   */
  trainableOnly?: boolean;
}

/** Parameter count; by default the trainable ones, which is the number torchvision and timm publish. */
export function countParams(model: tfl.LayersModel, { trainableOnly = true }: CountParamsOptions = {}): number {
  const weights: LayerVariable[] = trainableOnly ? model.trainableWeights : model.weights;
  return weights.reduce((sum, w) => sum + product(w.shape as number[]), 0);
}

/** Multiply-adds of one layer application, per image. */
export interface LayerFlops {
  name: string;
  className: string;
  multiplyAdds: number;
}

function kernelOf(layer: Layer, suffix: string): LayerVariable | undefined {
  return layer.weights.find((w) => w.originalName.endsWith(`/${suffix}`));
}

function spatialPositions(shape: tfl.Shape, layerName: string): number {
  const inner = shape.slice(1, -1);
  if (inner.some((d) => d === null)) {
    throw new Error(`countFlops: layer ${layerName} has an unknown output size ${JSON.stringify(shape)}; build the model with a fixed inputShape.`);
  }
  return product(inner as number[]);
}

/**
 * Multiply-adds per layer, per image (batch excluded), for every layer application:
 * Conv1D/2D/3D = output positions x kernel size (kh*kw*cin/groups*cout); DepthwiseConv2D likewise with its
 * depthwise kernel; SeparableConv2D = depthwise + pointwise; Dense = output positions x in x units.
 * Nothing else is counted (see `countFlops`).
 */
export function flopsByLayer(model: tfl.LayersModel): LayerFlops[] {
  const out: LayerFlops[] = [];
  for (const layer of flattenLayers(model)) {
    const className = layer.getClassName();
    for (const node of layer.inboundNodes) {
      const outShape = (Array.isArray(node.outputShapes[0]) ? node.outputShapes[0] : node.outputShapes) as tfl.Shape;
      let macs = 0;
      if (['Conv1D', 'Conv2D', 'Conv3D', 'Dense', 'DepthwiseConv2D'].includes(className)) {
        const kernel = kernelOf(layer, className === 'DepthwiseConv2D' ? 'depthwise_kernel' : 'kernel');
        if (!kernel) continue;
        macs = spatialPositions(outShape, layer.name) * product(kernel.shape as number[]);
      } else if (className === 'SeparableConv2D') {
        const depthwise = kernelOf(layer, 'depthwise_kernel');
        const pointwise = kernelOf(layer, 'pointwise_kernel');
        if (!depthwise || !pointwise) continue;
        macs = spatialPositions(outShape, layer.name) * (product(depthwise.shape as number[]) + product(pointwise.shape as number[]));
      } else {
        continue;
      }
      out.push({ name: layer.name, className, multiplyAdds: macs });
    }
  }
  return out;
}

/**
 * FLOPs as the paper's tables and torchvision count them: multiply-adds of the convolution and fully
 * connected layers for one image. Batch norm, ReLU, pooling, padding, residual additions and biases are
 * not counted (together they add under 1% to a ResNet-50). Multiply by 2 for "floating-point operations".
 */
export function countFlops(model: tfl.LayersModel): number {
  return flopsByLayer(model).reduce((sum, l) => sum + l.multiplyAdds, 0);
}
