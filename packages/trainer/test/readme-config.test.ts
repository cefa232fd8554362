import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { trainConfigSchema } from '../src';
import { tinyConfig } from './helpers';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'dist', 'cli.js');

/** The config the README's quick start writes (its `cat > config.json <<'JSON'` heredoc). */
function readmeConfig(): Record<string, unknown> {
  const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
  const json = /cat > config\.json <<'JSON'\n([\s\S]*?)\nJSON\n/.exec(readme)?.[1];
  if (!json) throw new Error("packages/trainer/README.md no longer writes config.json with a <<'JSON' heredoc");
  return JSON.parse(json) as Record<string, unknown>;
}

describe("the README's config", () => {
  it('with only "epochs": 1 changed fails in the config check, naming warmupEpochs, before the backend starts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bot-readme-config-'));
    const config: Record<string, unknown> = { ...readmeConfig(), epochs: 1 };
    expect(config.warmupEpochs).toBe(1); // the case the README invites: a 1-epoch try of its own config
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const r = spawnSync(process.execPath, [cli, 'train', 'config.json', '--no-progress', '--no-report'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status).toBe(1);
    expect(out).toMatch(/Invalid training config[\s\S]*warmupEpochs: must be less than epochs \(1\)/);
    expect(out).not.toMatch(/\[bag-of-tricks\] backend:/); // found by the config check, not by the schedule at start-up
  });

  it('a warmup as long as the run is refused only where a cosine decay must follow it', () => {
    const issues = (c: object) => {
      const r = trainConfigSchema.safeParse({ ...tinyConfig(), ...c });
      return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
    };
    expect(issues({ epochs: 2, warmupEpochs: 2 })).toEqual(['warmupEpochs']); // cosine is the default
    expect(issues({ epochs: 2, warmupEpochs: 1.5 })).toEqual([]);
    expect(issues({ epochs: 2, warmupEpochs: 2, schedule: { kind: 'step', milestones: [] } })).toEqual([]); // warmup, then the base rate
    expect(issues({ epochs: 2, warmupEpochs: 3, schedule: { kind: 'step' } })).toEqual(['warmupEpochs']);
  });
});
