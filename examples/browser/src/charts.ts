// Live charts with vega-lite (the trainer's report uses it too): each chart is one compiled vega View whose
// 'points' dataset grows as records arrive; runs are coloured so the page's runs compare side by side.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface LiveChart {
  add(rows: Record<string, unknown>[]): void;
}

export async function liveChart(container: HTMLElement, title: string, x: string, y: string, yTitle: string, format = ''): Promise<LiveChart> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 300,
    height: 170,
    data: { name: 'points' },
    mark: { type: 'line', point: x === 'epoch', clip: true },
    encoding: {
      x: { field: x, type: 'quantitative', title: x },
      y: { field: y, type: 'quantitative', title: yTitle, scale: { zero: false }, ...(format ? { axis: { format } } : {}) },
      color: { field: 'run', type: 'nominal', title: 'run' },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'svg', container, hover: true });
  await view.runAsync();
  return {
    add(rows) {
      view.change('points', vega.changeset().insert(rows)).resize().runAsync().catch((err: unknown) => console.warn('chart update failed', err));
    },
  };
}
