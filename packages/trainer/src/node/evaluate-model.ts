import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { TopLevelSpec } from 'vega-lite';
import { createLoader, imageFolderDataset, loadEmbeddedFashionMnist, loadIdxDataset, type Dataset } from '@bag-of-tricks/data';
import { datasetClassNames } from '../data-selection';
import { evalPipelineFromPreprocessing, type ModelMetadata } from '../model-metadata';
import { renderSvg } from './report';

export interface ClassResult {
  readonly name: string;
  /** Test images of this class, and the fraction classified as it. */
  readonly count: number;
  readonly accuracy: number;
}

export interface EvaluationReport {
  readonly data: string;
  readonly dataKind: 'embedded' | 'idx' | 'image-folder';
  readonly samples: number;
  readonly top1: number;
  readonly top5: number;
  readonly classNames: readonly string[];
  readonly perClass: readonly ClassResult[];
  /** confusion[true][predicted] = count. */
  readonly confusion: readonly (readonly number[])[];
}

const hasIdxTest = (dir: string): boolean => readdirSync(dir).some((f) => /^t10k-images[-.]idx3-ubyte(\.gz)?$/.test(f));

/**
 * The model's class index of each label of an in-memory test set, matched by name (datasetClassNames: IDX files
 * carry none, so a 10-class set has Fashion-MNIST's); -1 for a class the model does not know (a model trained on
 * `data.classes`), whose images are left out. Refused when no class matches.
 */
function matchByName(dataset: Dataset, meta: ModelMetadata, where: string): number[] {
  const names = datasetClassNames(dataset);
  const labelToClass = names.map((name) => meta.classNames.indexOf(name));
  if (labelToClass.every((i) => i < 0)) {
    throw new Error(`evaluate --data ${where}: none of its classes (${names.join(', ')}) is one of the model's (${meta.classNames.join(', ')}).`);
  }
  return labelToClass;
}

/**
 * The test set `spec` names, prepared as the model's metadata says: 'embedded' (the 1,000 embedded
 * Fashion-MNIST test images), an IDX folder (its t10k-* split) or an image folder (<dir>/<class>/<image>,
 * class folders matched to the model's class names by name). Returns the dataset and, per dataset label, the
 * model's class index (-1: a class the model does not predict, left out).
 */
function testData(spec: string, meta: ModelMetadata): { dataset: Dataset; kind: EvaluationReport['dataKind']; where: string; labelToClass: number[] } {
  const p = meta.preprocessing;
  if (spec === 'embedded') {
    const dataset = loadEmbeddedFashionMnist().test;
    return { dataset, kind: 'embedded', where: 'embedded Fashion-MNIST test subset', labelToClass: matchByName(dataset, meta, 'embedded') };
  }
  const dir = resolve(spec);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`evaluate --data: folder not found: ${dir} (give an IDX folder, an image folder with one subfolder per class, or 'embedded').`);
  if (hasIdxTest(dir)) {
    const dataset = loadIdxDataset(dir, 'test');
    return { dataset, kind: 'idx', where: dir, labelToClass: matchByName(dataset, meta, dir) };
  }
  // Image folders: the dataset does the resize + centre crop in sharp, the tensor pipeline the rest.
  const dataset = imageFolderDataset(dir, { mode: 'eval', size: p.crop, ...(p.resize ? { resize: p.resize } : {}), greyscale: p.channels === 1, ...(p.resample ? { resample: p.resample } : {}) });
  const labelToClass = dataset.classNames.map((name) => {
    const i = meta.classNames.indexOf(name);
    if (i < 0) throw new Error(`evaluate --data ${dir}: class folder '${name}' is not one of the model's classes (${meta.classNames.join(', ')}).`);
    return i;
  });
  return { dataset, kind: 'image-folder', where: dir, labelToClass };
}

/** Top-1, top-5, per-class accuracy and the confusion matrix of `model` on a test set, in inference mode. */
export async function evaluateModel(model: LayersModel, meta: ModelMetadata, spec: string, batchSize = 250): Promise<EvaluationReport> {
  const { dataset, kind, where, labelToClass } = testData(spec, meta);
  const p = meta.preprocessing;
  const transform = evalPipelineFromPreprocessing(kind === 'image-folder' ? { ...p, resize: false } : p);
  const loader = createLoader(dataset, { batchSize, seed: 0, shuffle: false, transform });
  const k = meta.classNames.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let top5 = 0;
  let n = 0;
  for await (const batch of loader.epoch(0)) {
    const [truth, pred, hit5] = tf.tidy(() => {
      const logits = model.predict(batch.images) as tf.Tensor2D;
      if (logits.shape[1] !== k) throw new Error(`evaluate: the model has ${logits.shape[1]} outputs but its metadata names ${k} classes.`);
      const t = tf.argMax(batch.labels, 1);
      const top = tf.topk(logits, Math.min(5, k)).indices;
      return [t.dataSync(), tf.argMax(logits, 1).dataSync(), top.dataSync()] as const;
    });
    tf.dispose([batch.images, batch.labels]);
    const kk = Math.min(5, k);
    for (let i = 0; i < truth.length; i++) {
      const t = labelToClass[truth[i] as number] as number;
      if (t < 0) continue; // a class the model does not predict
      confusion[t]![pred[i] as number]!++;
      for (let j = 0; j < kk; j++) if (hit5[i * kk + j] === t) top5++;
      n++;
    }
  }
  if (n === 0) throw new Error(`evaluate: no images in ${where}.`);
  const hits = confusion.reduce((s, row, i) => s + (row[i] as number), 0);
  const perClass = meta.classNames.map((name, i) => {
    const row = confusion[i] as number[];
    const count = row.reduce((a, b) => a + b, 0);
    return { name, count, accuracy: count === 0 ? Number.NaN : (row[i] as number) / count };
  });
  return { data: where, dataKind: kind, samples: n, top1: hits / n, top5: top5 / n, classNames: meta.classNames, perClass, confusion };
}

const pct = (x: number): string => (Number.isNaN(x) ? '   n/a' : `${(100 * x).toFixed(2).padStart(6)}%`);

/** The report as text: totals, per-class accuracy, and the confusion matrix (rows: true class). */
export function formatEvaluation(r: EvaluationReport): string {
  const width = Math.max(...r.classNames.map((c) => c.length), 5);
  const lines = [`data: ${r.data} (${r.samples} images)`, `top-1 ${pct(r.top1).trim()}  top-5 ${pct(r.top5).trim()}`, '', 'per-class accuracy:'];
  for (const c of r.perClass) lines.push(`  ${c.name.padEnd(width)}  ${pct(c.accuracy)}  (${c.count} images)`);
  const cell = Math.max(5, ...r.confusion.flat().map((v) => String(v).length + 1));
  lines.push('', 'confusion matrix (rows: true class, columns: predicted class, by index):');
  lines.push(`  ${''.padEnd(width + 5)}${r.classNames.map((_, i) => String(i).padStart(cell)).join('')}`);
  r.confusion.forEach((row, i) => lines.push(`  ${String(i).padStart(2)} ${(r.classNames[i] as string).padEnd(width)}  ${row.map((v) => String(v).padStart(cell)).join('')}`));
  return lines.join('\n');
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A self-contained HTML report: totals, a per-class accuracy chart and the confusion matrix as a heat map (inline SVG). */
export async function renderEvaluationHtml(r: EvaluationReport, title: string): Promise<string> {
  const perClass: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Accuracy per class',
    width: 480,
    height: 20 * r.classNames.length,
    data: { values: r.perClass.map((c) => ({ class: c.name, accuracy: c.accuracy })) },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      y: { field: 'class', type: 'nominal', sort: null, title: null },
      x: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' } },
    },
  } as TopLevelSpec;
  const cells = r.confusion.flatMap((row, t) => row.map((count, p) => ({ true: r.classNames[t], predicted: r.classNames[p], count })));
  const confusion: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Confusion matrix (count)',
    width: 26 * r.classNames.length,
    height: 26 * r.classNames.length,
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: null, title: 'predicted class' },
      y: { field: 'true', type: 'nominal', sort: null, title: 'true class' },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues', type: 'sqrt' } } } },
      { mark: { type: 'text', fontSize: 9 }, encoding: { text: { field: 'count', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
  const svgs = await Promise.all([perClass, confusion].map(renderSvg));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1240px;margin:2em auto;padding:0 1em;color:#222}
.plots{display:flex;flex-wrap:wrap;gap:1em}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<div class="plots">${svgs.map((s) => `<figure>${s}</figure>`).join('\n')}</div>
<h2>Text report</h2><pre>${escapeHtml(formatEvaluation(r))}</pre>
</body></html>
`;
}
