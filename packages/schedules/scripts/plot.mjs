// Renders docs/schedules.svg from the built package: the paper's step decay (0.1, divided by 10
// at epochs 30, 60, 90 of 120) and 5 warmup epochs then cosine, evaluated per iteration.
// Run: npm run build -w packages/schedules && node packages/schedules/scripts/plot.mjs
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { warmupCosine, warmupStepDecay } from '../dist/index.js';

const epochs = 120;
const stepsPerEpoch = 10; // any value gives the same curves in epochs; ImageNet at batch 256 has 5005
const base = 0.1;
const schedules = {
  'step decay 30/60/90 (baseline)': warmupStepDecay({ base, milestonesEpochs: [30, 60, 90], stepsPerEpoch }),
  '5 warmup epochs, then cosine': warmupCosine({ base, warmupEpochs: 5, epochs, stepsPerEpoch }),
};

const total = epochs * stepsPerEpoch;
const values = [];
for (const [name, schedule] of Object.entries(schedules)) {
  for (let t = 0; t < total; t++) values.push({ schedule: name, epoch: t / stepsPerEpoch, lr: schedule(t) });
}

const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: 'Learning rate per iteration (He et al. 2019)', fontSize: 14 },
  width: 640,
  height: 260,
  background: 'white',
  data: { values },
  mark: { type: 'line', strokeWidth: 2, interpolate: 'step-after' },
  encoding: {
    x: { field: 'epoch', type: 'quantitative', title: 'epoch', scale: { domain: [0, epochs] }, axis: { values: [0, 5, 30, 60, 90, 120] } },
    y: { field: 'lr', type: 'quantitative', title: 'learning rate' },
    color: { field: 'schedule', type: 'nominal', title: null, legend: { orient: 'top-right', labelLimit: 400 } },
  },
};

const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
const svg = await view.toSVG();
view.finalize();
const out = fileURLToPath(new URL('../docs/schedules.svg', import.meta.url));
writeFileSync(out, svg.endsWith('\n') ? svg : `${svg}\n`);
console.log(`wrote ${out} (${svg.length} bytes, ${values.length} points)`);
