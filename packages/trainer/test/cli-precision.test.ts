import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeBf16Support } from '@bag-of-tricks/native-kernels';
import { tempOut, tinyConfig } from './helpers';

// What a user runs: the built CLI in a fresh process. BOT_NATIVE=1: vitest's environment (VITEST) would
// otherwise turn the native kernels off by default in the child too.
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const run = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, BOT_BACKEND: '', ...env } });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
};
const stepLosses = (out: string): number[] =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step').map((l) => l.loss);
const configFile = (name: string, overrides: Record<string, unknown> = {}): { file: string; out: string } => {
  const out = tempOut(name);
  writeFileSync(`${out}.json`, JSON.stringify({ ...tinyConfig(), epochs: 1, out, ...overrides }));
  return { file: `${out}.json`, out };
};
const support = nativeBf16Support();

describe('train --precision through the CLI', () => {
  beforeAll(() => expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true));

  it.skipIf(!support.supported)(
    `bfloat16 trains with finite losses close to float32's, and says so in the log${support.supported ? '' : ` (SKIPPED: ${support.reason})`}`,
    () => {
      const fp32 = configFile('fp32');
      const bf16 = configFile('bf16');
      const args = ['--no-progress', '--no-report', '--stop-after', '6'];
      const a = run(['train', fp32.file, ...args, '--precision', 'float32'], { BOT_NATIVE: '1' });
      expect(a.status, a.out).toBe(0);
      const b = run(['train', bf16.file, ...args, '--precision', 'bfloat16'], { BOT_NATIVE: '1' });
      expect(b.status, b.out).toBe(0);
      expect(b.out).toMatch(/native kernels: on \(avx512/);
      // the fused BatchNorm and ReLU-gradient kernels are on with them (resnet-variants' layers use them)
      expect(b.out).toMatch(/native kernels: on \(.*BotBatchNormTraining, BotBatchNormTrainingGrad, BotReluGrad/);
      expect(b.out).toMatch(/precision: bfloat16 \(native conv GEMMs read bfloat16 operands .*weights, updates, BatchNorm and all other ops stay float32; precision: 'bfloat16'\)/);
      const la = stepLosses(fp32.out), lb = stepLosses(bf16.out);
      expect(lb).toHaveLength(6);
      expect(la).toHaveLength(6);
      for (const l of lb) expect(Number.isFinite(l)).toBe(true);
      // The same data, init and steps: the bf16 run stays within 5% of float32's loss at every step (the
      // convolutions differ by ~2^-8 relative), but is not bitwise float32 (the bf16 kernels ran).
      for (let i = 0; i < 6; i++) expect(Math.abs(lb[i]! - la[i]!), `step ${i + 1}: ${lb[i]} vs ${la[i]}`).toBeLessThan(0.05 * la[i]!);
      expect(lb).not.toEqual(la);
    },
    300_000,
  );

  it.skipIf(!support.supported)(
    `bfloat16 with --workers 2: every data-parallel replica runs bfloat16 (as each reports), losses close to float32's${support.supported ? '' : ` (SKIPPED: ${support.reason})`}`,
    () => {
      const fp32 = configFile('dp-fp32');
      const bf16 = configFile('dp-bf16');
      const args = ['--no-progress', '--no-report', '--stop-after', '4', '--workers', '2'];
      const a = run(['train', fp32.file, ...args, '--precision', 'float32'], { BOT_NATIVE: '1' });
      expect(a.status, a.out).toBe(0);
      expect(a.out).toMatch(/data parallel: 2 replicas .*precision float32 \(as each replica reports\)/);
      const b = run(['train', bf16.file, ...args, '--precision', 'bfloat16'], { BOT_NATIVE: '1' });
      expect(b.status, b.out).toBe(0);
      expect(b.out).toMatch(/data parallel: 2 replicas .*precision bfloat16 \(as each replica reports\)/);
      const la = stepLosses(fp32.out), lb = stepLosses(bf16.out);
      expect(lb).toHaveLength(4);
      for (let i = 0; i < 4; i++) expect(Math.abs(lb[i]! - la[i]!), `step ${i + 1}: ${lb[i]} vs ${la[i]}`).toBeLessThan(0.05 * la[i]!);
      expect(lb).not.toEqual(la);
    },
    300_000,
  );

  it('bfloat16 without the native kernels (BOT_NATIVE=0) is refused before training, with the reason and the fix', () => {
    const c = configFile('refused');
    const r = run(['train', c.file, '--no-progress', '--no-report', '--precision', 'bfloat16'], { BOT_NATIVE: '0' });
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/precision 'bfloat16' needs the native kernels .*but they are off: disabled \(BOT_NATIVE=0\)\. Use precision 'float32'/);
    expect(existsSync(join(c.out, 'metrics.jsonl'))).toBe(false);
  });

  it("bfloat16 with backend 'cpu' is a config error naming the field; an unknown --precision names the choices", () => {
    const c = configFile('cpu', { backend: 'cpu', precision: 'bfloat16' });
    const r = run(['train', c.file, '--no-progress']);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/precision.*bfloat16 runs only in the native kernels on the wasm backend .*not on backend 'cpu'/);
    const bad = run(['train', c.file, '--precision', 'float16']);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/--precision.*float16.*(float32, bfloat16|"float32", "bfloat16")/s);
  });
});
