import * as tf from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterKernel, conv2DBackpropInputKernel } from './kernels/conv2d-backprop';
import {
  depthwiseConv2dNativeBackpropFilterKernel,
  depthwiseConv2dNativeBackpropInputKernel,
} from './kernels/depthwise-conv2d-backprop';
import { stockKernels } from './kernels/kernel-utils';
import { unsortedSegmentSumKernel } from './kernels/unsorted-segment-sum';
import { meanKernel, sumKernel } from './kernels/reduce';
import { batchMatMulKernel } from './kernels/batch-matmul';
import { fusedMatMulKernel } from './kernels/fused-matmul';
import { maxPoolGradKernel } from './kernels/max-pool-grad';
import { conv2DKernel, fusedConv2DKernel } from './kernels/winograd';
import { prepareSimdModule } from './kernels/simd-module';
import { addKernel, multiplyKernel, subKernel } from './kernels/binary';
import { castKernel, fusedBatchNormKernel, identityKernel, sliceKernel } from './kernels/elementwise';

/** What we register on wasm, and why. */
export const WASM_TRAINING_KERNELS: ReadonlyArray<{ kernelName: string; kernelFunc: tf.KernelFunc; why: string }> = [
  {
    kernelName: 'Conv2DBackpropFilter',
    kernelFunc: conv2DBackpropFilterKernel,
    why: 'missing in tfjs-backend-wasm 4.22; ours is our own wasm SIMD module (csrc/conv.c: Winograd for 3x3 stride 1, an im2col GEMM for 1-7 input channels, a direct kernel elsewhere)',
  },
  {
    kernelName: 'Conv2DBackpropInput',
    kernelFunc: conv2DBackpropInputKernel,
    why: 'stock is a scalar loop; ours is Winograd F(2x2,3x3) on the shapes of WINOGRAD_DISPATCH, a GEMM + col2im for 1-7 input channels, else XNNPACK Conv2D',
  },
  { kernelName: 'Conv2D', kernelFunc: conv2DKernel, why: 'Winograd F(2x2,3x3) on the 3x3 stride-1 shapes of WINOGRAD_DISPATCH; stock XNNPACK elsewhere' },
  {
    kernelName: 'FusedConv2D',
    kernelFunc: fusedConv2DKernel,
    why: 'Winograd F(2x2,3x3) with bias + linear/relu on the shapes of WINOGRAD_DISPATCH; stock XNNPACK elsewhere',
  },
  {
    kernelName: 'DepthwiseConv2dNativeBackpropFilter',
    kernelFunc: depthwiseConv2dNativeBackpropFilterKernel,
    why: 'missing in tfjs-backend-wasm 4.22',
  },
  {
    kernelName: 'DepthwiseConv2dNativeBackpropInput',
    kernelFunc: depthwiseConv2dNativeBackpropInputKernel,
    why: 'missing in tfjs-backend-wasm 4.22',
  },
  { kernelName: 'Sum', kernelFunc: sumKernel, why: 'stock transposes leading reduction axes first; ours is one XNNPACK average pooling' },
  { kernelName: 'Mean', kernelFunc: meanKernel, why: 'stock transposes leading reduction axes first; ours is one XNNPACK average pooling' },
  { kernelName: 'FusedBatchNorm', kernelFunc: fusedBatchNormKernel, why: 'stock is a scalar loop; ours is one XNNPACK depthwise 1x1 conv with bias' },
  { kernelName: 'Identity', kernelFunc: identityKernel, why: 'stock copies; ours shares the buffer (ref-counted), as tfjs-backend-cpu does' },
  { kernelName: 'Cast', kernelFunc: castKernel, why: 'stock copies even to the same dtype; ours shares the buffer then' },
  { kernelName: 'Slice', kernelFunc: sliceKernel, why: 'stock copies the whole input off the heap, then one innermost row at a time' },
  { kernelName: 'BatchMatMul', kernelFunc: batchMatMulKernel, why: 'stock is slow with transposeA/transposeB (dense gradients); ours transposes explicitly; K = 1 outer products on our SIMD module' },
  { kernelName: '_FusedMatMul', kernelFunc: fusedMatMulKernel, why: 'a dense layer forward (bias, relu) on our SIMD module GEMM (csrc/conv.c pointwise_gemm); batched, transposeA, other activations: stock' },
  { kernelName: 'MaxPoolGrad', kernelFunc: maxPoolGradKernel, why: 'stock is slow (about 70x on ResNet-50 stem at 64px, docs/SPEED.md); ours is one SIMD pass (csrc/conv.c max_pool_grad), channels innermost' },
  { kernelName: 'Add', kernelFunc: addKernel, why: 'stock broadcasts a per-channel vector in a scalar index loop; ours is one SIMD pass (else stock)' },
  { kernelName: 'Sub', kernelFunc: subKernel, why: 'stock broadcasts a per-channel vector in a scalar index loop; ours is one SIMD pass (else stock)' },
  { kernelName: 'Multiply', kernelFunc: multiplyKernel, why: 'stock broadcasts a per-channel vector in a scalar index loop; ours is one SIMD pass (else stock)' },
  { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSumKernel, why: 'missing in tfjs-backend-wasm 4.22; gather gradients need it' },
];

const ours = new Set<tf.KernelFunc>(WASM_TRAINING_KERNELS.map((k) => k.kernelFunc));

/**
 * Registers the training kernels stock tfjs-backend-wasm lacks or runs slowly (see
 * `WASM_TRAINING_KERNELS`). Idempotent. Import `@tensorflow/tfjs-backend-wasm` first: our
 * kernels are built from its own kernels (Conv2D, Transpose, PadV2, ...).
 */
export function registerWasmTrainingKernels(): void {
  if (!tf.getKernel('Conv2D', 'wasm')) {
    throw new Error("registerWasmTrainingKernels: the wasm backend's kernels are not registered; import '@tensorflow/tfjs-backend-wasm' first.");
  }
  prepareSimdModule();
  for (const { kernelName, kernelFunc } of WASM_TRAINING_KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current && ours.has(current.kernelFunc)) continue;
    if (current) {
      stockKernels.set(kernelName, current);
      tf.unregisterKernel(kernelName, 'wasm');
    }
    // Keep the stock setup (it binds the C++ function), so the stock kernel can be restored.
    const config: tf.KernelConfig = { kernelName, backendName: 'wasm', kernelFunc };
    if (current?.setupFunc) config.setupFunc = current.setupFunc;
    tf.registerKernel(config);
  }
}

/** Puts back the stock wasm kernels we replaced and removes the ones we added (for benchmarks). */
export function unregisterWasmTrainingKernels(): void {
  for (const { kernelName } of WASM_TRAINING_KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (!current || !ours.has(current.kernelFunc)) continue;
    tf.unregisterKernel(kernelName, 'wasm');
    const stock = stockKernels.get(kernelName);
    if (stock) {
      tf.registerKernel(stock);
      stockKernels.delete(kernelName);
    }
  }
}
