// A data-parallel replica: the trainer's own replica code (serveReplica from @bag-of-tricks/trainer/core),
// on this Web Worker's single-threaded wasm backend with our SIMD kernels.
import '@tensorflow/tfjs-layers';
import { serveReplica } from '@bag-of-tricks/trainer/core';
import { configureWasm } from './backend';

configureWasm();
serveReplica();
