#!/usr/bin/env node
// Writes examples/ablation/RESULTS.md and results.svg from the result files (results/ and results-torch/); nothing in
// them is typed by hand. Run it whenever result files have landed:
//
//   node examples/ablation/report.mjs            # or: npm run ablation:report
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { writeFileAtomic } from '@bag-of-tricks/data';
import { LADDER_EPOCHS, MIXUP_EPOCH_FACTOR, RUNGS, rungById, TEACHER } from './rungs.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Every result file under `dir`: { rung: [records sorted by seed] }. */
export function readResults(dir) {
  const out = {};
  if (!existsSync(dir)) return out;
  for (const rung of readdirSync(dir)) {
    const folder = join(dir, rung);
    let files;
    try {
      files = readdirSync(folder).filter((f) => /^seed-\d+\.json$/.test(f));
    } catch {
      continue;
    }
    out[rung] = files.map((f) => JSON.parse(readFileSync(join(folder, f), 'utf8'))).sort((a, b) => a.seed - b.seed);
  }
  return out;
}

/** Mean, sample standard deviation (n - 1) and count of a list of numbers. */
export function stats(xs) {
  const n = xs.length;
  if (n === 0) return { n, mean: NaN, std: NaN };
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : NaN;
  return { n, mean, std };
}

const pct = (x, d = 2) => (Number.isFinite(x) ? (100 * x).toFixed(d) : '–');
/** A signed number at `d` decimals; a value that rounds to zero is +0.00 (never −0.00). */
const signed = (x, d = 2) => {
  if (!Number.isFinite(x)) return '–';
  const r = Number(x.toFixed(d));
  return `${r >= 0 ? '+' : '−'}${Math.abs(r).toFixed(d)}`;
};
const top1s = (records) => (records ?? []).map((r) => r.final.top1);

/** Δ of b's mean over a's (percentage points) with its standard error, and what it means. */
export function compare(a, b) {
  const sa = stats(top1s(a));
  const sb = stats(top1s(b));
  if (!sa.n || !sb.n) return { delta: NaN, se: NaN, verdict: '' };
  const delta = 100 * (sb.mean - sa.mean);
  const se = sa.n > 1 && sb.n > 1 ? 100 * Math.sqrt(sa.std ** 2 / sa.n + sb.std ** 2 / sb.n) : NaN;
  const verdict = !Number.isFinite(se) ? '1 seed' : delta > 2 * se ? 'helps' : delta < -2 * se ? 'hurts' : 'within noise';
  return { delta, se, verdict };
}

/** The parity rule of the issue: |ours − PyTorch| ≤ max(2 pooled std, 0.3 points). */
export function parity(ours, torch) {
  const a = stats(top1s(ours));
  const b = stats(top1s(torch));
  if (!a.n || !b.n) return null;
  const diff = 100 * (a.mean - b.mean);
  const pooled = a.n > 1 && b.n > 1 ? 100 * Math.sqrt((a.std ** 2 + b.std ** 2) / 2) : NaN;
  const bound = Math.max(Number.isFinite(pooled) ? 2 * pooled : 0, 0.3);
  return { diff, bound, ok: Math.abs(diff) <= bound, ours: 100 * a.mean, torch: 100 * b.mean, pooled, n: [a.n, b.n] };
}

/**
 * The parity check of the rungs that both implementations ran: our mean against PyTorch's, the pooled std, the
 * bound max(2 pooled std, 0.3 points) and pass/fail. Empty when no rung has both.
 */
export function renderParity(ours, torch) {
  const ids = [...RUNGS.map((r) => r.id), TEACHER.rung].filter((id) => ours[id]?.length && torch[id]?.length);
  if (ids.length === 0) return '';
  const lines = [
    '## Parity with PyTorch',
    '',
    'For every rung both implementations ran: |ours − PyTorch| must be at most max(2 pooled std, 0.3 points), the pooled std',
    'being sqrt((std_ours² + std_torch²) / 2) over the seeds (with 1 seed on either side only the 0.3-point floor applies).',
    '',
    '| rung | ours top-1 % (n) | PyTorch top-1 % (n) | ours − PyTorch | pooled std | bound | parity |',
    '|---|---|---|---|---|---|---|',
  ];
  let pass = 0;
  for (const id of ids) {
    const p = parity(ours[id], torch[id]);
    if (p.ok) pass++;
    lines.push(
      `| ${id} | ${p.ours.toFixed(2)} (${p.n[0]}) | ${p.torch.toFixed(2)} (${p.n[1]}) | ${signed(p.diff)} | ${Number.isFinite(p.pooled) ? p.pooled.toFixed(2) : '–'} | ${p.bound.toFixed(2)} | ${p.ok ? 'pass' : '**fail**'} |`,
    );
  }
  lines.push('', `${pass} of ${ids.length} rungs within the bound.`, '');
  return lines.join('\n');
}

function paperDelta(rung) {
  if (rung.paper == null) return '';
  if (!rung.paperFrom) return `${rung.paper.toFixed(2)} (reference 75.30)`;
  const from = rungById(rung.paperFrom);
  return `${signed(rung.paper - from.paper)} (${from.paper.toFixed(2)} → ${rung.paper.toFixed(2)})`;
}

function cell(records) {
  const s = stats(top1s(records));
  if (!s.n) return { mean: '–', seeds: '–' };
  return {
    mean: `${pct(s.mean)}${s.n > 1 ? ` ± ${pct(s.std)}` : ''} (${s.n})`,
    seeds: records.map((r) => pct(r.final.top1)).join(', '),
  };
}

export async function svgOf(spec) {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none', logLevel: vega.Error });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Two plots: final top-1 per rung (mean ± std, both implementations) and the mean eval top-1 curve of each rung. */
export function plotSpec(ours, torch) {
  const order = [...RUNGS.map((r) => r.id), TEACHER.rung];
  const finals = [];
  const curves = [];
  for (const [impl, set] of [['tfjs', ours], ['pytorch', torch]]) {
    for (const [rung, records] of Object.entries(set)) {
      for (const r of records) finals.push({ rung, impl, seed: r.seed, top1: 100 * r.final.top1 });
      if (impl !== 'tfjs') continue;
      const epochs = Math.max(...records.map((r) => r.epochs.length));
      for (let e = 0; e < epochs; e++) {
        const vals = records.map((r) => r.epochs[e]?.top1).filter((v) => v !== undefined);
        if (vals.length) curves.push({ rung, epoch: e + 1, top1: (100 * vals.reduce((s, v) => s + v, 0)) / vals.length });
      }
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Ablation ladder on Fashion-MNIST (ResNet-20, 6k train / 10k test)',
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    vconcat: [
      {
        width: 520,
        height: 220,
        data: { values: finals },
        title: 'Final eval top-1 per rung: mean ± std over seeds (points: seeds)',
        encoding: {
          x: { field: 'rung', type: 'nominal', sort: order, title: 'rung' },
          xOffset: { field: 'impl' },
          color: { field: 'impl', type: 'nominal', title: 'implementation' },
        },
        layer: [
          { mark: { type: 'errorbar', extent: 'stdev', ticks: true }, encoding: { y: { field: 'top1', type: 'quantitative', scale: { zero: false }, title: 'top-1 (%)' } } },
          { mark: { type: 'point', filled: true, size: 60 }, encoding: { y: { aggregate: 'mean', field: 'top1', type: 'quantitative' } } },
          { mark: { type: 'tick', opacity: 0.5 }, encoding: { y: { field: 'top1', type: 'quantitative' } } },
        ],
      },
      {
        width: 520,
        height: 220,
        data: { values: curves },
        title: 'Eval top-1 by epoch (tfjs, mean over seeds)',
        mark: { type: 'line', point: { size: 12 } },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' },
          y: { field: 'top1', type: 'quantitative', scale: { zero: false }, title: 'top-1 (%)' },
          color: { field: 'rung', type: 'nominal', sort: order },
        },
      },
    ],
  };
}

export function renderMarkdown(ours, torch, { date, command }) {
  const all = Object.values(ours).flat();
  const any = all[0];
  const lines = [];
  const hours = all.reduce((s, r) => s + r.seconds, 0) / 3600;
  const torchHours = Object.values(torch).flat().reduce((s, r) => s + r.seconds, 0) / 3600;
  const epochs = ours['0']?.[0]?.config.epochs ?? any?.config.epochs ?? `${LADDER_EPOCHS} (planned; no run has finished yet)`;
  lines.push('# The ablation ladder: what each trick buys', '');
  lines.push(`Generated by \`${command}\` on ${date} from ${all.length} result files (results/) and ${Object.values(torch).flat().length} PyTorch result files (results-torch/); not edited by hand.`, '');
  lines.push(
    '**Setting.** CIFAR ResNet-20 (3x3 stem, 16/32/64 channels, 273,754 parameters with the BN statistics) on 28x28x1, trained on the embedded',
    '6,000-image Fashion-MNIST subset and evaluated on the full 10,000-image test set (Debian dataset-fashion-mnist);',
    `greyscale augmentation preset (random-resized crop of 35–100% of the area, flip). ${epochs ?? '?'} epochs per run`,
    `(rungs 4L, 6 and 7: ${MIXUP_EPOCH_FACTOR}x). Every rung adds one trick to the rung it builds on; rungs are defined once in rungs.mjs.`,
    `Compute: ${hours.toFixed(1)} h of training + per-epoch evaluation for the tfjs runs${any ? ` (${any.backend}, ${any.workers === 1 ? 'one process per run, single-threaded' : `${any.workers} data-parallel replicas per run`}, ${any.machine?.cpu ?? ''})` : ''}` +
      `${torchHours ? `, ${torchHours.toFixed(1)} h for the PyTorch runs` : ''}.`,
    '',
  );
  lines.push(renderTable(ours, torch));
  lines.push(
    '',
    '"helps"/"hurts": the Δ is more than 2 standard errors of the difference of the means; otherwise "within noise".',
    'Rung 6 is compared with 4L, rung 4 trained as long as mixup, so the mixup row is not just more epochs; the paper',
    "gives mixup 200 epochs against 120 and its Δ is against the label-smoothing row. The paper's Δ for rung 1 includes FP16.",
    '',
  );
  const why = renderWhy(ours);
  if (why) lines.push(why);
  const parityText = renderParity(ours, torch);
  if (parityText) lines.push(parityText);
  lines.push(
    '**ResNet-B and ResNet-C for this network.** B moves the stride of a downsampling *bottleneck* from its first 1x1',
    'conv to the 3x3 conv; ResNet-20 has basic blocks (two 3x3 convs, the first already strided), so B builds the same',
    "graph as A (resnet-variants says so; there is nothing to run). C replaces the ImageNet 7x7/2 stem with three 3x3",
    'convs; the CIFAR stem is already one 3x3 stride-1 conv without a max pool, and the deep stem (stride 2 + max pool)',
    'would shrink 28x28 inputs to 7x7 before the first stage, a different network rather than a tweak. D (the',
    'average-pool shortcut) is the tweak that applies, and it is rung 2.',
    '',
    '![final top-1 per rung and eval curves](results.svg)',
    '',
  );
  return lines.join('\n');
}

/** Training images in the embedded subset every rung trains on (the trainer drops the last partial batch). */
const TRAIN_IMAGES = 6000;
const meanPct = (records) => 100 * stats(top1s(records)).mean;

/**
 * Best explanations for a main rung that does not help (verdict "hurts" or "within noise"), each worked from the
 * configs and results it names; shown only while the verdict holds, so a rerun that changes it drops the text.
 */
const WHY = {
  1: (ours) => {
    const [c0, c1] = [ours['0'][0].config, ours['1'][0].config];
    const steps = (c) => Math.floor(TRAIN_IMAGES / c.batchSize);
    const slow = stats(top1s(ours['0'])).mean;
    const batchWhy =
      `Batch ${c1.batchSize} on ${TRAIN_IMAGES.toLocaleString('en')} images is ${steps(c1)} updates per epoch, ${steps(c1) * c1.epochs} in all, against the baseline's ` +
      `${steps(c0) * c0.epochs}: linear scaling keeps the lr per image but halves the updates, at a budget the baseline has not saturated ` +
      `(the convergence check below: rung 0 at twice the epochs against its ${pct(slow)}% here), and the ${c1.warmupEpochs}-epoch warmup spends ` +
      `${Math.round(steps(c1) * c1.warmupEpochs)} of them ramping up. The paper's efficient recipe (batch 1024, 120 epochs on 1.28M images) still makes about 150,000 updates.`;
    const zeroWhy =
      "Zero-γ starts the last BatchNorm of every residual branch at γ = 0, and the branch's output is multiplied by γ, so at first no gradient " +
      'reaches its convs: every block starts as the identity and its branch learns only as its γ grows. The paper uses it on ResNet-50 with ' +
      `120 epochs of 1.28M images; ResNet-20 here gets ${steps(c1) * c1.epochs} updates in all.`;
    const decayWhy =
      "No bias decay takes weight decay off BatchNorm's γ and β (and the biases): the BatchNorm scales are no longer held small. The paper adopts it " +
      'from large-batch training (Jia et al.) without an ablation of its own.';
    if (!ours['1b']?.length) {
      return `Rung 1 changes four things at once (batch, warmup, zero-γ, no bias decay; not run apart), and the batch is the likeliest cause. ${batchWhy}`;
    }
    const parts = [['the batch and its warmup (1b − 0)', compare(ours['0'], ours['1b']), batchWhy]];
    if (ours['1z']?.length) {
      parts.push(['zero-γ (1z − 1b)', compare(ours['1b'], ours['1z']), zeroWhy], ['no bias decay (1 − 1z)', compare(ours['1z'], ours['1']), decayWhy]);
    } else {
      parts.push(['zero-γ and no bias decay (1 − 1b)', compare(ours['1b'], ours['1']), null]);
    }
    const worst = parts.reduce((a, b) => (b[1].delta < a[1].delta ? b : a));
    const said = parts.map(([name, d]) => `${name} ${signed(d.delta)} ± ${d.se.toFixed(2)} (${d.verdict})`).join('; ');
    return `Rung 1 changes four things at once; its side rows split it: ${said}. The largest loss is ${worst[0].replace(/ \(.*\)$/, '')}.${worst[2] ? ` ${worst[2]}` : ''}`;
  },
  2: () =>
    "ResNet-D changes only ResNet-20's two downsampling shortcuts (a 2x2 average pool before the 1x1 conv, in place of a stride-2 1x1 conv " +
    "that reads one pixel in four). The paper's Δ for this row also contains ResNet-B and ResNet-C, which do not apply here (below); " +
    'D alone gave +0.29 on ImageNet (ResNet-50-C 76.87 → -D 77.16).',
  4: (ours) => {
    const k = 10;
    const eps = ours['4'][0].config.labelSmoothing?.epsilon ?? 0.1;
    const longer = ours['4L']?.length ? ` (the 4L control: ${signed(meanPct(ours['4L']) - meanPct(ours['4']))} points from ${MIXUP_EPOCH_FACTOR}x the epochs)` : '';
    const uniform = ours['4u']?.length ? ` The uniform form: 4u − 4 = ${signed(meanPct(ours['4u']) - meanPct(ours['4']))} (${compare(ours['4'], ours['4u']).verdict}).` : '';
    return (
      `Label smoothing fights over-confident logits. With ${k} classes the paper form puts ε/(K−1) = ${(eps / (k - 1)).toFixed(3)} on each wrong class, ` +
      `and at this budget more epochs still help${longer}: the network is short of fit more than over-confident, and a regulariser has little to correct.` +
      `${uniform} The paper measures it on 1,000 classes at 120 epochs.`
    );
  },
  5: (ours) => {
    const base = meanPct(ours['4']);
    const gap = meanPct(ours[TEACHER.rung]) - base;
    const above = ours['5'].filter((r) => 100 * r.final.top1 > base).length;
    const d = compare(ours['4'], ours['5']);
    return (
      `The teacher (${TEACHER.model}-D, rung ${TEACHER.from}'s recipe) is only ${gap.toFixed(2)} points above rung 4's mean, so its soft targets carry little ` +
      `that the labels do not; the paper distils a ResNet-152 teacher into ResNet-50. ${above} of ${ours['5'].length} seeds lie above rung 4's mean, ` +
      `but the Δ's standard error is ${d.se.toFixed(2)} (rung 4's seeds: std ${pct(stats(top1s(ours['4'])).std)}).`
    );
  },
  6: (ours) => {
    const longer = meanPct(ours['4L']) - meanPct(ours['4']);
    return (
      `Mixup is a regulariser. The 4L control gains ${signed(longer)} points over rung 4 from the ${MIXUP_EPOCH_FACTOR}x schedule alone, so at this budget ` +
      'ResNet-20 on 6,000 images is still fitting, and mixup\'s blended images and targets cost more fit than they save. The paper gives mixup ' +
      '200 epochs on 1.28M images.'
    );
  },
};

/** "Why it did not help": one paragraph per main rung whose Δ is "hurts" or "within noise" (see WHY). */
export function renderWhy(ours) {
  const lines = [];
  for (const rung of RUNGS) {
    if (!rung.main || !rung.from || !WHY[rung.id]) continue;
    const { verdict } = compare(ours[rung.from], ours[rung.id]);
    if (verdict !== 'hurts' && verdict !== 'within noise') continue;
    if (rung.id === '5' && !ours[TEACHER.rung]?.length) continue;
    lines.push(`- **Rung ${rung.id} (${verdict}).** ${WHY[rung.id](ours)}`);
  }
  return lines.length ? ['## Rungs that did not help, and the likeliest reason', '', ...lines, ''].join('\n') : '';
}

/** The ladder table: each rung's mean ± std and seeds, the Δ to the rung below, the paper's Δ and the PyTorch column. */
export function renderTable(ours, torch) {
  const lines = [];
  lines.push('| rung | adds | top-1 % mean ± std (n) | per seed | Δ to the rung below (± se) | | paper Δ (ResNet-50, ImageNet) | PyTorch top-1 % (n) | ours − PyTorch (bound) |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const rung of RUNGS) {
    const c = cell(ours[rung.id]);
    const t = cell(torch[rung.id]);
    const d = rung.from ? compare(ours[rung.from], ours[rung.id]) : null;
    const p = parity(ours[rung.id], torch[rung.id]);
    const name = rung.main ? `**${rung.id}**` : rung.id;
    lines.push(
      `| ${name} | ${rung.title} | ${c.mean} | ${c.seeds} | ${d && Number.isFinite(d.delta) ? `${signed(d.delta)} vs ${rung.from}${Number.isFinite(d.se) ? ` (± ${d.se.toFixed(2)})` : ''}` : ''} | ${d?.verdict ?? ''} | ${paperDelta(rung)} | ${t.mean} | ${p ? `${signed(p.diff)} (${p.bound.toFixed(2)}) ${p.ok ? 'ok' : '**outside**'}` : ''} |`,
    );
  }
  const teacher = ours[TEACHER.rung];
  if (teacher?.length) {
    const c = cell(teacher);
    const t = cell(torch[TEACHER.rung]);
    lines.push(`| teacher | ${TEACHER.model}-D with rung ${TEACHER.from}'s recipe (for rungs 5, 7) | ${c.mean} | ${c.seeds} | | | | ${t.mean} | |`);
  }
  return lines.join('\n');
}

/**
 * One line per pilot or convergence run ({ 'e40': { rung: records } }). Where the ladder ran the same rung at another
 * epoch count, the line adds the ladder's mean there and this run's difference from it: what the budget leaves.
 */
export function pilotLines(pilot, ours = {}) {
  const lines = [];
  for (const budget of Object.keys(pilot).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))) {
    for (const [rung, records] of Object.entries(pilot[budget])) {
      for (const r of records) {
        const tail = r.epochs.slice(-4).map((e) => pct(e.top1)).join(', ');
        let line = `- rung ${rung}, seed ${r.seed}, ${r.config.epochs} epochs: ${pct(r.final.top1)}% (last epochs: ${tail})`;
        const ladder = (ours[rung] ?? []).filter((l) => l.config.epochs !== r.config.epochs);
        const epochs = [...new Set(ladder.map((l) => l.config.epochs))];
        if (epochs.length === 1) {
          const s = stats(top1s(ladder));
          line += `; the ladder's ${epochs[0]} epochs: ${pct(s.mean)}% (${s.n} seed${s.n > 1 ? 's' : ''}), so ${signed(100 * (r.final.top1 - s.mean))} points at ${r.config.epochs}`;
        }
        lines.push(line);
      }
    }
  }
  return lines;
}

/** The pilot and convergence runs (results-pilot/e<epochs>/<rung>/seed-<k>.json), one line each. */
export function renderPilot(pilotDir, ours = {}) {
  if (!existsSync(pilotDir)) return '';
  const pilot = {};
  for (const budget of readdirSync(pilotDir).filter((d) => /^e\d+$/.test(d))) pilot[budget] = readResults(join(pilotDir, budget));
  const lines = pilotLines(pilot, ours);
  return lines.length ? ['## Pilot and convergence check (results-pilot/)', '', ...lines, ''].join('\n') : '';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: { pilot: { type: 'string', default: join(HERE, 'results-pilot') }, results: { type: 'string', default: join(HERE, 'results') }, torch: { type: 'string', default: join(HERE, 'results-torch') }, out: { type: 'string', default: HERE } },
  });
  const ours = readResults(values.results);
  const torch = readResults(values.torch);
  const date = new Date().toISOString().slice(0, 10);
  const md = `${renderMarkdown(ours, torch, { date, command: 'node examples/ablation/report.mjs' })}\n${renderPilot(values.pilot, ours)}`;
  const svg = await svgOf(plotSpec(ours, torch));
  writeFileAtomic(join(values.out, 'RESULTS.md'), md);
  writeFileAtomic(join(values.out, 'results.svg'), svg);
  console.log(`[report] ${relative(process.cwd(), join(values.out, 'RESULTS.md'))} and results.svg from ${Object.values(ours).flat().length} + ${Object.values(torch).flat().length} result files`);
}
