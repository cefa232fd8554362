import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempOut, tinyConfig } from './helpers';

// What a user runs: the built CLI in a fresh process, killed with SIGKILL (no handler can run), then `--resume`d.
// BOT_TRAINER_CLI runs these tests against another build (say, the one before a fix).
const cli = process.env.BOT_TRAINER_CLI ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
// Enough steps that 22 kills cannot use them up on a fast machine: each kill below lets at most a few steps through.
const STEPS = 60;
const KILLS = 22;

/** mulberry32: the kill schedule is seeded, so a failure names a reproducible plan. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Line {
  type: string;
  step?: number;
  loss?: number;
}
const readLines = (out: string): Line[] =>
  existsSync(join(out, 'metrics.jsonl'))
    ? readFileSync(join(out, 'metrics.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Line)
    : [];
const stepCount = (out: string): number => {
  try {
    return readLines(out).filter((l) => l.type === 'step').length;
  } catch {
    return 0; // a line being written right now
  }
};
const tempFiles = (out: string): string[] =>
  [out, join(out, 'checkpoints')].flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.tmp')).map((f) => join(d, f)) : []));
const hasCheckpoint = (out: string): boolean => existsSync(join(out, 'checkpoints')) && readdirSync(join(out, 'checkpoints')).some((f) => /^ckpt-\d+\.ckpt$/.test(f));

function start(configPath: string, resume: boolean): ChildProcess {
  const args = [cli, 'train', configPath, ...(resume ? ['--resume'] : []), '--stop-after', String(STEPS), '--no-progress', '--no-report', '--quiet'];
  return spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

const exited = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> =>
  new Promise((resolve) => {
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code, signal) => resolve({ code, signal, output }));
  });

describe('kill -9 at random moments, then --resume, through the CLI', () => {
  it(`${KILLS} SIGKILLs (during startup, steps and checkpoint writes) end on the uninterrupted loss curve, with no temp files and no duplicate lines`, async () => {
    expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true);
    const config = { ...tinyConfig(), epochs: 1, checkpoint: { every: 1, keep: 2 } };

    const whole = tempOut('whole');
    writeFileSync(`${whole}.json`, JSON.stringify({ ...config, out: whole }));
    const ref = spawnSync(process.execPath, [cli, 'train', `${whole}.json`, '--stop-after', String(STEPS), '--no-progress', '--no-report', '--quiet'], { encoding: 'utf8' });
    expect(ref.status, ref.stderr).toBe(0);
    const reference = readLines(whole).filter((l) => l.type === 'step');
    expect(reference.map((l) => l.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));

    const out = tempOut('killed');
    writeFileSync(`${out}.json`, JSON.stringify({ ...config, out }));
    mkdirSync(join(out, 'checkpoints'), { recursive: true }); // so the watcher below can see temp files appear
    // A first leg writes ckpt-1, so every killed leg after it is a `--resume`.
    const first = spawnSync(process.execPath, [cli, 'train', `${out}.json`, '--stop-after', '1', '--no-progress', '--no-report', '--quiet'], { encoding: 'utf8' });
    expect(first.status, first.stderr).toBe(0);
    const random = seeded(20261205);
    const kinds = { startup: 0, steps: 0, checkpointWrite: 0 };
    let kills = 0;
    let leftTemp = 0; // kills that left a temp file behind: proof they landed inside a checkpoint write
    let resumes = 0; // --resume runs that were killed
    while (kills < KILLS) {
      expect(hasCheckpoint(out)).toBe(true);
      resumes++;
      const child = start(`${out}.json`, true);
      const done = exited(child);
      const kind = (['startup', 'steps', 'checkpointWrite'] as const)[kills % 3]!;
      const kill = () => child.kill('SIGKILL');
      let stop = () => {};
      if (kind === 'startup') {
        // Anywhere from process start up to the first new step line: backend start-up, resume, metrics repair.
        // Bounded by that line so a fast machine does not run many steps inside the random delay.
        const before = stepCount(out);
        const timer = setTimeout(kill, 200 + random() * 2500);
        const watchFirst = setInterval(() => {
          if (stepCount(out) > before) {
            clearInterval(watchFirst);
            clearTimeout(timer);
            kill();
          }
        }, 5);
        stop = () => {
          clearTimeout(timer);
          clearInterval(watchFirst);
        };
      } else if (kind === 'steps') {
        // After 1-2 more step lines, plus up to 40 ms: inside a step, a log line or a checkpoint.
        const target = stepCount(out) + 1 + Math.floor(random() * 2);
        const extra = random() * 40;
        const timer = setInterval(() => {
          if (stepCount(out) >= target) {
            clearInterval(timer);
            setTimeout(kill, extra);
          }
        }, 10);
        stop = () => clearInterval(timer);
      } else {
        // The moment the n-th checkpoint temp file appears (n = 1..2): the write is under way.
        let seen = 0;
        const n = 1 + Math.floor(random() * 2);
        const watcher = watch(join(out, 'checkpoints'), (_event, name) => {
          if (name && String(name).endsWith('.tmp') && ++seen === n) kill();
        });
        stop = () => watcher.close();
      }
      const result = await done;
      stop();
      if (result.signal === 'SIGKILL') {
        kills++;
        kinds[kind]++;
        if (tempFiles(out).length > 0) leftTemp++;
      } else {
        // It finished all STEPS before the kill came: only acceptable once every kill is done.
        expect(result.code, result.output).toBe(0);
        break;
      }
    }
    const stepsAfterKills = stepCount(out); // the margin: how far the killed legs got of STEPS
    // The last leg runs to the end undisturbed.
    const last = await exited(start(`${out}.json`, true));
    expect(last.code, last.output).toBe(0);

    const lines = readLines(out); // every line whole JSON (JSON.parse would throw on a torn line)
    const steps = lines.filter((l) => l.type === 'step');
    expect(steps.map((l) => l.step)).toEqual(reference.map((l) => l.step)); // each step once, in order
    for (let i = 0; i < STEPS; i++) expect(steps[i]!.loss, `step ${i + 1}`).toBe(reference[i]!.loss);
    expect(tempFiles(out)).toEqual([]);
    const checkpointLines = lines.filter((l) => l.type === 'checkpoint').map((l) => l.step);
    expect(new Set(checkpointLines).size).toBe(checkpointLines.length);
    console.log(
      `[kill-resume] ${kills} SIGKILLs (${kinds.startup} at random times, ${kinds.steps} during steps, ${kinds.checkpointWrite} on a checkpoint temp file; ` +
        `${leftTemp} left a temp file), each followed by one of ${resumes + 1} --resume runs; the killed legs got to step ${stepsAfterKills}; all ${STEPS} step losses equal the uninterrupted run's`,
    );
    expect(kills).toBeGreaterThanOrEqual(20);
    expect(leftTemp).toBeGreaterThan(0);
  }, 300_000);
});
