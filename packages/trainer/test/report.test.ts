import { describe, expect, it } from 'vitest';
import { renderReport } from '../src/node/report';

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
  });
});
