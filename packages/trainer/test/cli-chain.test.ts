import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempOut, tinyConfig } from './helpers';
import { fashionImageFolder, smallIdx } from './model-helpers';

// What a user runs: the built CLI in a fresh process, no backend loaded before it starts.
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

function train(config: object, extra: string[] = []): { status: number | null; out: string; dir: string } {
  const dir = (config as { out: string }).out;
  writeFileSync(`${dir}.json`, JSON.stringify(config));
  const r = spawnSync(process.execPath, [cli, 'train', `${dir}.json`, '--no-progress', '--no-report', ...extra], { encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}`, dir };
}

const stepLosses = (out: string): number[] =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; loss: number })
    .filter((l) => l.type === 'step')
    .map((l) => l.loss);

describe('teacher → student → fine-tune, each an out/model of the run before, through the CLI', () => {
  it('distillation.teacher takes a run\'s out/model folder; --init fine-tunes from it on another class count', async () => {
    expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true);
    const data = { source: 'idx', dir: smallIdx(128, 50) };
    // Teacher: a wider ResNet-D, 2 epochs on the small set.
    const teacher = train({ ...tinyConfig(), model: { name: 'resnet18d', options: { stem: 'small', width: 0.25, layers: [1, 1, 1, 1] } }, data, epochs: 2, out: tempOut('teacher') });
    expect(teacher.status, teacher.out).toBe(0);
    expect(teacher.out).toMatch(/Model: .*teacher\/model/);

    // Student, from the teacher's folder as written; and the same student without a teacher.
    const student = train({ ...tinyConfig(), data, epochs: 1, distillation: { teacher: join(teacher.dir, 'model'), temperature: 4 }, out: tempOut('student') });
    expect(student.status, student.out).toBe(0);
    const alone = train({ ...tinyConfig(), data, epochs: 1, out: tempOut('alone') });
    expect(alone.status, alone.out).toBe(0);
    const withTeacher = stepLosses(student.dir);
    const without = stepLosses(alone.dir);
    expect(withTeacher).toHaveLength(4);
    expect(withTeacher.every(Number.isFinite)).toBe(true);
    // Same seed, same init and batches: only the teacher's soft targets make the losses differ.
    expect(withTeacher[0]).not.toBe(without[0]);
    const start = JSON.parse(readFileSync(join(student.dir, 'metrics.jsonl'), 'utf8').split('\n')[0]!) as { config: { distillation: { teacher: string } } };
    expect(start.config.distillation.teacher).toBe(join(teacher.dir, 'model'));

    // A folder without model.json is named before training.
    const none = train({ ...tinyConfig(), data, epochs: 1, distillation: { teacher: teacher.dir }, out: tempOut('none') });
    expect(none.status).toBe(1);
    expect(none.out).toMatch(new RegExp(`teacher model not found: ${join(teacher.dir, 'model.json')}`));

    // Fine-tune the student on 3 classes (an image folder), backbone frozen, from the CLI's --init.
    const folder = await fashionImageFolder([1, 7, 8], 8);
    const ft = train(
      { ...tinyConfig(), data: { source: 'image-folder', dir: join(folder, 'train'), evalDir: join(folder, 'val'), size: 28, greyscale: true }, epochs: 1, batchSize: 8, init: { from: 'replaced by --init', freeze: 'backbone' }, out: tempOut('ft') },
      ['--init', join(student.dir, 'model')],
    );
    expect(ft.status, ft.out).toBe(0);
    expect(ft.out).toMatch(/\[trainer\] init: \d+ weights from .*student\/model \(model\)/);
    expect(ft.out).toMatch(/classifier re-initialised \(3 classes here, another number there\): fc\/kernel, fc\/bias/);
    const meta = JSON.parse(readFileSync(join(ft.dir, 'model', 'model.json'), 'utf8')).userDefinedMetadata as { classNames: string[] };
    expect(meta.classNames).toEqual(['Bag', 'Sneaker', 'Trouser']);

    // evaluate on the image folder: 3 class folders matched to the model's classes by name, 8 images each.
    const ev = spawnSync(process.execPath, [cli, 'evaluate', join(ft.dir, 'model'), '--data', join(folder, 'val'), '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(ev.status, ev.stderr).toBe(0);
    const report = JSON.parse(ev.stdout) as { samples: number; dataKind: string; top1: number; confusion: number[][] };
    expect(report).toMatchObject({ samples: 24, dataKind: 'image-folder' });
    expect(report.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual([8, 8, 8]);
    const end = readFileSync(join(ft.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; top1: number }).find((l) => l.type === 'end')!;
    expect(report.top1).toBeCloseTo(end.top1, 10); // the run's own eval of the same folder
  }, 300_000);
});
