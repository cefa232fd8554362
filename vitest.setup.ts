// The cpu backend prints an "install tfjs-node" banner on its first tensor in Node. initBackend
// silences it for users (it logs its own choice); tests that use cpu as a reference before calling
// initBackend would print it in every file, so silence it once here.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
