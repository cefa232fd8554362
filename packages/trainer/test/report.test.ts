import { describe, expect, it } from 'vitest';
import { renderReport } from '../src/node/report';

/** One plot's SVG, read back: every plotted point and line vertex, in data units. */
interface Plot {
  /** Points of the symbol marks, inverted from pixels through the axes. */
  points: { x: number; y: number; fill: string }[];
  /** Vertices of each line mark's path, inverted likewise. */
  lines: { x: number; y: number }[][];
  /** One pixel in data units, per axis: vega snaps ticks to whole pixels, so readings are good to about that. */
  pixel: { x: number; y: number };
}

/**
 * Reads a vega SVG back into numbers. Each axis is linear, so its first and last tick labels (their text,
 * e.g. "0.5" and "0.9", and their pixel positions) fix pixel -> value; every point mark at
 * translate(px, py) and every vertex of a line path is inverted through that.
 */
function readPlot(svg: string): Plot {
  const axis = (name: 'X' | 'Y'): ((px: number) => number) => {
    const start = svg.indexOf(`aria-label="${name}-axis`);
    if (start < 0) throw new Error(`no ${name} axis in the SVG`);
    const group = (role: string) => {
      const from = svg.slice(svg.indexOf(role, start));
      return from.slice(0, from.indexOf('</g>'));
    };
    // positions from the tick marks (labels sit a few px off them), values from the labels, in the same order
    const marks = [...group('role-axis-tick').matchAll(/<line transform="translate\(([-\d.e]+),([-\d.e]+)\)"/g)].map((m) => Number(name === 'X' ? m[1] : m[2]));
    const texts = [...group('role-axis-label').matchAll(/>([^<]+)<\/text>/g)].map((m) => Number(m[1]!.replaceAll(',', ''))); // "5,000"
    expect(marks.length, `${name} axis ticks and labels`).toBe(texts.length);
    const ticks = marks.map((px, i) => ({ px, value: texts[i]! }));
    if (ticks.length < 2 || ticks.some((t) => !Number.isFinite(t.value))) throw new Error(`cannot read the ${name} axis ticks`);
    const [a, b] = [ticks[0]!, ticks.at(-1)!];
    pixel[name === 'X' ? 'x' : 'y'] = Math.abs((b.value - a.value) / (b.px - a.px));
    return (px) => a.value + ((px - a.px) * (b.value - a.value)) / (b.px - a.px);
  };
  const pixel = { x: 0, y: 0 };
  const [toX, toY] = [axis('X'), axis('Y')];
  const points = [...svg.matchAll(/aria-roledescription="point" transform="translate\(([-\d.e]+),([-\d.e]+)\)"[^>]*fill="([^"]+)"/g)].map((m) => ({
    x: toX(Number(m[1])),
    y: toY(Number(m[2])),
    fill: m[3]!,
  }));
  const lines = [...svg.matchAll(/aria-roledescription="line mark" d="([^"]+)"/g)].map((m) =>
    [...m[1]!.matchAll(/[ML]([-\d.e]+),([-\d.e]+)/g)].map((v) => ({ x: toX(Number(v[1])), y: toY(Number(v[2])) })),
  );
  return { points, lines, pixel };
}

describe('renderReport', () => {
  it('renders inline SVG plots of loss, accuracy and lr', async () => {
    const history = {
      steps: Array.from({ length: 50 }, (_, i) => ({ step: i + 1, epoch: Math.floor(i / 25), loss: 2 / (i + 1), lr: 0.1 * (1 - i / 50), imagesPerSecond: 100 })),
      epochs: [
        { epoch: 0, step: 25, trainLoss: 1.2, top1: 0.5, top5: 0.9, evalLoss: 1.1, lr: 0.05, seconds: 3 },
        { epoch: 1, step: 50, trainLoss: 0.8, top1: 0.7, top5: 0.95, evalLoss: 0.9, lr: 0, seconds: 3 },
      ],
    };
    const html = await renderReport(history, { title: 'Run <1>', facts: { top1: '70%' }, config: { a: 1 } });
    expect(html.match(/<svg/g)?.length).toBe(4);
    expect(html).toContain('Training loss per step');
    expect(html).toContain('Learning rate per step');
    expect(html).toContain('Run &#60;1&#62;');
    expect(html).not.toMatch(/<script/);

    // The plotted numbers, read back from the SVG geometry, are the history's: pixel positions inverted
    // through the axes' tick marks and labels.
    const [lossPlot, accPlot, epochLossPlot, lrPlot] = [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => readPlot(m[0]));
    // To one pixel: 0.009 on the loss axis (0 to 2 over 220 px), 0.002 on accuracy; top-1 and top-5, or loss
    // and lr, differ by far more, so a swapped or wrong series fails.
    const close = (plot: Plot, got: { x: number; y: number }[], want: { x: number; y: number }[]) => {
      expect(got.length).toBe(want.length);
      got.forEach((p, i) => {
        expect(Math.abs(p.x - want[i]!.x), `x of point ${i}: ${p.x} vs ${want[i]!.x}`).toBeLessThanOrEqual(plot.pixel.x);
        expect(Math.abs(p.y - want[i]!.y), `y of point ${i}: ${p.y} vs ${want[i]!.y}`).toBeLessThanOrEqual(plot.pixel.y);
      });
    };
    const series = (plot: Plot) => {
      const byColour = new Map<string, { x: number; y: number }[]>();
      for (const { x, y, fill } of plot.points) byColour.set(fill, [...(byColour.get(fill) ?? []), { x, y }]);
      return [...byColour.values()];
    };
    const steps = history.steps;
    close(lossPlot!, lossPlot!.points, steps.map((s) => ({ x: s.step, y: s.loss })));
    expect(lossPlot!.lines).toHaveLength(1);
    close(lossPlot!, lossPlot!.lines[0]!, steps.map((s) => ({ x: s.step, y: s.loss })));
    close(lrPlot!, lrPlot!.points, steps.map((s) => ({ x: s.step, y: s.lr })));
    // epochs are 1-based on the plots; one series (colour) per metric, in legend order
    const [top1, top5] = series(accPlot!);
    close(accPlot!, top1!, history.epochs.map((e) => ({ x: e.epoch + 1, y: e.top1 })));
    close(accPlot!, top5!, history.epochs.map((e) => ({ x: e.epoch + 1, y: e.top5 })));
    expect(accPlot!.lines).toHaveLength(2);
    const [train, evalLoss] = series(epochLossPlot!);
    close(epochLossPlot!, train!, history.epochs.map((e) => ({ x: e.epoch + 1, y: e.trainLoss })));
    close(epochLossPlot!, evalLoss!, history.epochs.map((e) => ({ x: e.epoch + 1, y: e.evalLoss })));
  });

  it('plots a long run thinned to at most 2000 points per series, keeping the first and last step', async () => {
    const steps = Array.from({ length: 5001 }, (_, i) => ({ step: i + 1, epoch: 0, loss: 1 + Math.cos(i / 100), lr: 0.1, imagesPerSecond: 1 }));
    const html = await renderReport({ steps, epochs: [] }, { title: 't', facts: {}, config: {} });
    const lossPlot = readPlot(html.match(/<svg[\s\S]*?<\/svg>/)![0]);
    const line = lossPlot.lines[0]!;
    // stride ceil(5001 / 2000) = 3: steps 1, 4, ..., 5000, then the last (5001) appended
    expect(line.length).toBe(Math.ceil(5001 / 3) + 1);
    const want = [...steps.filter((_, i) => i % 3 === 0), steps.at(-1)!];
    line.forEach((p, i) => {
      expect(Math.abs(p.x - want[i]!.step), `x of vertex ${i}`).toBeLessThanOrEqual(lossPlot.pixel.x);
      expect(Math.abs(p.y - want[i]!.loss), `y of vertex ${i}`).toBeLessThanOrEqual(lossPlot.pixel.y);
    });
  });
});
