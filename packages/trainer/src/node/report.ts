import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EpochRecord, History } from '../checkpoint';

export interface ReportSummary {
  readonly title: string;
  /** Shown as a table under the title: backend, model, steps, time, final accuracy, … */
  readonly facts: Readonly<Record<string, string | number>>;
  /** The validated config, shown in full. */
  readonly config: unknown;
}

/** Renders a vega-lite spec to an SVG string in Node (vega's headless renderer; no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Evenly thins a series to at most `max` points (keeps the last), so a long run's plots stay small. */
function thin<T>(values: readonly T[], max = 2000): T[] {
  if (values.length <= max) return [...values];
  const stride = Math.ceil(values.length / max);
  const out = values.filter((_, i) => i % stride === 0);
  if (out.at(-1) !== values.at(-1)) out.push(values.at(-1) as T);
  return out;
}

function line(title: string, values: object[], x: string, y: string, yTitle: string, color?: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 560,
    height: 220,
    data: { values },
    mark: { type: 'line', point: values.length <= 60, tooltip: true },
    encoding: {
      x: { field: x, type: 'quantitative', title: x },
      y: { field: y, type: 'quantitative', title: yTitle, scale: { zero: false } },
      ...(color ? { color: { field: color, type: 'nominal', title: null } } : {}),
    },
  } as TopLevelSpec;
}

/** The report's four plots, as vega-lite specs: training loss, eval accuracy, eval loss and lr. */
export function reportSpecs(history: History): TopLevelSpec[] {
  const steps = thin(history.steps);
  const acc = history.epochs.flatMap((e: EpochRecord) => [
    { epoch: e.epoch + 1, value: e.top1, metric: 'top-1' },
    { epoch: e.epoch + 1, value: e.top5, metric: 'top-5' },
  ]);
  const losses = history.epochs.flatMap((e: EpochRecord) => [
    { epoch: e.epoch + 1, value: e.trainLoss, metric: 'train (mean of steps)' },
    { epoch: e.epoch + 1, value: e.evalLoss, metric: 'eval cross-entropy' },
  ]);
  return [
    line('Training loss per step', steps, 'step', 'loss', 'loss'),
    line('Eval accuracy per epoch', acc, 'epoch', 'value', 'accuracy', 'metric'),
    line('Loss per epoch', losses, 'epoch', 'value', 'loss', 'metric'),
    line('Learning rate per step', steps, 'step', 'lr', 'learning rate'),
  ];
}

/** A self-contained HTML report: summary, plots as inline SVG (opens offline), per-epoch table, config. */
export async function renderReport(history: History, summary: ReportSummary): Promise<string> {
  const svgs = await Promise.all(reportSpecs(history).map(renderSvg));
  const facts = Object.entries(summary.facts)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`)
    .join('\n');
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const rows = history.epochs
    .map(
      (e) =>
        `<tr><td>${e.epoch + 1}</td><td>${e.step}</td><td>${e.trainLoss.toFixed(4)}</td><td>${e.evalLoss.toFixed(4)}</td>` +
        `<td>${pct(e.top1)}</td><td>${pct(e.top5)}</td><td>${e.lr.toPrecision(4)}</td><td>${e.seconds.toFixed(1)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(summary.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1240px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body><h1>${escapeHtml(summary.title)}</h1>
<table>${facts}</table>
<div class="plots">${svgs.map((s) => `<figure>${s}</figure>`).join('\n')}</div>
<h2>Epochs</h2>
<table><tr><th>epoch</th><th>step</th><th>train loss</th><th>eval loss</th><th>top-1</th><th>top-5</th><th>lr (last step)</th><th>seconds</th></tr>
${rows}</table>
<h2>Config</h2><pre>${escapeHtml(JSON.stringify(summary.config, null, 2))}</pre>
</body></html>
`;
}
