import cliProgress from 'cli-progress';
import type { StepRecord } from '../checkpoint';

export interface Progress {
  step(record: StepRecord): void;
  /** Prints a line without breaking the bar. */
  log(line: string, fallback: (line: string) => void): void;
  stop(): void;
}

/** A cli-progress bar with loss, lr, img/s and ETA; a no-op when disabled (CI logs, tests). */
export function createProgress({ enabled, total, start, epochs }: { enabled: boolean; total: number; start: number; epochs: number }): Progress {
  if (!enabled) return { step: () => {}, log: (line, fallback) => fallback(line), stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      format: 'epoch {epoch}/{epochs} |{bar}| {value}/{total} steps | loss {loss} | lr {lr} | {ips} img/s | ETA {eta_formatted}',
      etaBuffer: 50,
      hideCursor: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { epoch: 1, epochs, loss: '-', lr: '-', ips: '-' });
  let ips = 0;
  let stopped = false;
  return {
    step: (r) => {
      ips = ips === 0 ? r.imagesPerSecond : 0.9 * ips + 0.1 * r.imagesPerSecond;
      bar.update(r.step, { epoch: r.epoch + 1, loss: r.loss.toFixed(4), lr: r.lr.toPrecision(3), ips: ips.toFixed(0) });
    },
    log: (line) => {
      process.stderr.write('\r\x1b[2K');
      process.stderr.write(`${line}\n`);
      bar.render();
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
