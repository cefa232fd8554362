import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { cacheTeacherLogits, loadTeacher, teacherFromFunction, teacherFromModel } from '../src';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [4, 4, 1] });
  let x = tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ movingMeanInitializer: 'ones', movingVarianceInitializer: tfl.initializers.constant({ value: 4 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3 }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

describe('teachers', () => {
  it('teacherFromModel runs in inference mode (moving BN stats, no dropout), like predict', async () => {
    const model = tinyModel();
    const teacher = teacherFromModel(model);
    const x = tf.randomUniform([3, 4, 4, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
    const expected = model.predict(x) as tf.Tensor;
    const got = teacher.logits(x);
    expectTensorsClose(got, expected);
    expectTensorsClose(teacher.logits(x), got); // deterministic: dropout is off
    expect(model.trainable).toBe(false);
    await expectNoLeak(() => teacher.logits(x));
    tf.dispose([x, expected, got]);
    teacher.dispose();
  });

  it('loadTeacher loads a saved model through an IOHandler', async () => {
    const model = tinyModel();
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const teacher = await loadTeacher(tf.io.fromMemory(saved!));
    const x = tf.ones([2, 4, 4, 1]) as tf.Tensor4D;
    expectTensorsClose(teacher.logits(x), model.predict(x) as tf.Tensor, { rtol: 1e-5 });
    teacher.dispose();
    model.dispose();
  });

  it('a missing teacher file fails with a message naming the path', async () => {
    await expect(loadTeacher('/no/such/dir/teacher/model.json')).rejects.toThrow(/\/no\/such\/dir\/teacher\/model\.json/);
    await expect(loadTeacher('http://127.0.0.1:9/missing/model.json')).rejects.toThrow(/Cannot load teacher model "http:\/\/127\.0\.0\.1:9\/missing\/model\.json"/);
  });

  it('cacheTeacherLogits computes logits once per sample and gathers them by index', async () => {
    let calls = 0;
    const w = tf.tensor2d([[1, 0], [0, 2], [1, 1], [3, -1]]);
    const teacher = teacherFromFunction((x) => {
      calls++;
      return tf.matMul(tf.reshape(x, [x.shape[0], 4]), w);
    });
    const images = tf.tensor4d(Array.from({ length: 5 * 4 }, (_, i) => i % 7), [5, 2, 2, 1]);
    const cache = cacheTeacherLogits(teacher, images, { batchSize: 2 });
    expect(calls).toBe(3);
    expect(cache.logits.shape).toEqual([5, 2]);
    const full = teacher.logits(images);
    const got = cache.gather([4, 0, 4]);
    expectTensorsClose(got, tf.gather(full, [4, 0, 4]));
    expect(() => cache.gather([5])).toThrow(/outside \[0, 4\]/);
    await expectNoLeak(() => cache.gather([1, 2, 3]));
    cache.dispose();
    tf.dispose([w, images, full, got]);
  });
});
