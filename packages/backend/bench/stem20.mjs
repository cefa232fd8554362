// ResNet-20's stem gradients on wasm (batch 64: x [64,32,32,3], 3x3x3x16, stride 1, same): the
// few-channel GEMM kernels (default) against BOT_BPI_GEMM=never / BOT_BPF_GEMM=never; CPU ms per call.
//   BOT_NATIVE=0 node packages/backend/bench/stem20.mjs   (after building the backend package)
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';

await initBackend('wasm', { log: () => {} });
const x = tf.randomNormal([64, 32, 32, 3]);
const w = tf.randomNormal([3, 3, 3, 16]);
const dy = tf.randomNormal([64, 32, 32, 16]);
const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
const bpi = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape });
const bpf = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape });
const time = (f, reps = 10) => {
  tf.dispose(f());
  const c = process.cpuUsage();
  for (let i = 0; i < reps; i++) tf.dispose(f());
  const cpu = process.cpuUsage(c);
  return `cpu ${((cpu.user + cpu.system) / 1000 / reps).toFixed(2)} ms`;
};
for (let round = 0; round < 2; round++) {
  for (const [name, key, f] of [['BPI', 'BOT_BPI_GEMM', bpi], ['BPF', 'BOT_BPF_GEMM', bpf]]) {
    process.env[key] = 'never';
    const s = time(f);
    delete process.env[key];
    console.log(`${name}: previous ${s}, GEMM ${time(f)}`);
  }
}
