// End to end in a real Chromium (Debian's, driven by playwright-core: no browser download): the production
// build (dist/, made by `npm run build`, which turbo runs before the tests) served with the COOP/COEP headers,
// a short data-parallel run, then a prediction checked against the CLI's own loader and predictor in Node.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@bag-of-tricks/backend';
import { EMBEDDED_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, readIdx } from '@bag-of-tricks/data';
import { loadModel, predictFiles } from '@bag-of-tricks/trainer';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cli = join(root, '..', '..', 'packages', 'trainer', 'dist', 'cli.js');
const artifacts = join(root, 'artifacts');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let server: PreviewServer;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];
/** Every response the page and its workers fetched: what a visitor downloads. */
const fetched: { url: string; bytes: number }[] = [];

beforeAll(async () => {
  expect(existsSync(join(root, 'dist', 'index.html')), `${root}/dist is missing: run \`npm run build -w examples/browser\` (npm test builds it)`).toBe(true);
  expect(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium (or set CHROMIUM_PATH)`).toBe(true);
  mkdirSync(artifacts, { recursive: true });
  server = await preview({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'silent', preview: { port: 0, host: '127.0.0.1' } });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
  page.context().on('response', (res) => {
    if (!res.url().startsWith('http')) return;
    res.body().then(
      (b) => fetched.push({ url: new URL(res.url()).pathname, bytes: b.length }),
      () => {},
    );
  });
  await page.goto(server.resolvedUrls!.local[0]!);
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.httpServer.close(() => resolve()) : resolve()));
});

let imagePng = '';
let cliModelDir = '';

async function set(id: string, value: string | boolean): Promise<void> {
  if (typeof value === 'boolean') await page.setChecked(`#${id}`, value);
  else if (await page.$(`select#${id}`)) await page.selectOption(`#${id}`, value);
  else await page.fill(`#${id}`, value);
}

describe('the browser page (production build, headless Chromium)', () => {
  it('trains 2 data-parallel Web Workers on wasm: the loss falls, the run table fills, no console errors', async () => {
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    // 400 images (40 per class), batch 40: 10 steps per epoch, 2 epochs; tricks on, mixing off (its targets make the loss noisy).
    for (const [id, v] of Object.entries({ epochs: '2', perClass: '40', batchSize: '40', workers: '2', seed: '1', mix: 'none', warmup: false, backend: 'wasm' })) await set(id, v);
    await page.click('#train');
    const row = page.locator('#runs tbody tr').first();
    await row.locator('xpath=.').and(page.locator('[data-state=done], [data-state=failed]')).waitFor({ timeout: 150_000 });
    const error = await page.locator('#error').textContent();
    expect(await row.getAttribute('data-state'), `the run failed: ${error}`).toBe('done');
    const cells = await row.locator('td').allTextContents();
    expect(cells[3]).toBe('wasm');
    expect(cells[4]).toBe('2');
    expect(cells[10]).toMatch(/^\d+\.\d\d%$/);
    const first = Number(await row.getAttribute('data-first-loss'));
    const last = Number(await row.getAttribute('data-last-loss'));
    expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true);
    expect(last, `mean loss of the first 5 steps ${first}, of the last 5 ${last}`).toBeLessThan(0.9 * first);
    expect(await page.locator('#log').textContent()).toMatch(/data parallel: 2 replicas \(this thread \+ 1 Web Workers\), each single-threaded wasm/);
    // The charts drew the run's points (vega renders SVG paths).
    expect(await page.locator('#chart-loss svg path').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(artifacts, 'browser-run.png'), fullPage: true });
    // What the page downloaded for this run (page, workers, wasm, data), for the README and CI's artifacts.
    const total = fetched.reduce((s, f) => s + f.bytes, 0);
    writeFileSync(join(artifacts, 'downloads.json'), JSON.stringify({ date: new Date().toISOString(), totalBytes: total, files: fetched }, null, 2));
    console.log(`the page downloaded ${(total / 2 ** 20).toFixed(2)} MiB in ${fetched.length} files (${join(artifacts, 'downloads.json')})`);
    expect(consoleErrors).toEqual([]);
  });

  it('predicts on an image: the probabilities of the CLI loader and predictor on the downloaded model', async () => {
    // Test image 0 of the embedded subset as a PNG file, as a user would drop it.
    const test = readIdx(join(EMBEDDED_FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));
    const pixels = Buffer.from((test.data as Uint8Array).subarray(0, 28 * 28));
    const png = await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
    const dir = mkdtempSync(join(tmpdir(), 'bot-browser-'));
    writeFileSync(join(dir, 'item.png'), png);
    imagePng = join(dir, 'item.png');

    // An undecodable file gets a clear message, not a console error.
    await page.setInputFiles('#imageFile', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
    await expect.poll(() => page.locator('#error').textContent()).toMatch(/broken\.png could not be decoded as an image/);

    await page.setInputFiles('#imageFile', { name: 'item.png', mimeType: 'image/png', buffer: png });
    await page.locator('#prediction tr').nth(9).waitFor({ timeout: 30_000 });
    const rows = await page.locator('#prediction tr').evaluateAll((trs) => trs.map((tr) => ({ name: (tr as HTMLTableRowElement).cells[0]!.textContent!, p: Number((tr as HTMLTableRowElement).dataset.probability) })));
    expect(rows.map((r) => r.name).sort()).toEqual([...FASHION_MNIST_CLASSES].sort());
    expect(rows.reduce((s, r) => s + r.p, 0)).toBeCloseTo(1, 4);

    // The model as the page downloads it: model.json + weight shard(s), read back from the page's links.
    await page.click('#download');
    await page.locator('#downloads a.model-file').nth(1).waitFor({ timeout: 30_000 });
    const files = await page.locator('#downloads a.model-file').evaluateAll(async (links) =>
      Promise.all(
        links.map(async (a) => {
          const bytes = new Uint8Array(await (await fetch((a as HTMLAnchorElement).href)).arrayBuffer());
          let s = '';
          for (const b of bytes) s += String.fromCharCode(b);
          return { name: (a as HTMLAnchorElement).download, base64: btoa(s) };
        }),
      ),
    );
    const modelDir = join(dir, 'model');
    mkdirSync(modelDir);
    for (const f of files) writeFileSync(join(modelDir, f.name), Buffer.from(f.base64, 'base64'));
    expect(files.map((f) => f.name)).toContain('model.json');

    // Reference: the CLI's loadModel (checks the format and metadata) and predictFiles (sharp decode) in Node.
    await initBackend('cpu', { log: () => {} });
    const { model, metadata } = await loadModel(modelDir);
    expect(metadata.classNames).toEqual([...FASHION_MNIST_CLASSES]);
    const [reference] = await predictFiles(model, metadata, [join(dir, 'item.png')], 10);
    model.dispose();
    for (const c of reference!.classes) {
      const got = rows.find((r) => r.name === c.name)!;
      expect(Math.abs(got.p - c.probability), `${c.name}: page ${got.p}, CLI ${c.probability}`).toBeLessThan(1e-3);
    }
    expect(consoleErrors).toEqual([]);
  });

  it('loads a model the CLI trained (out/model) and predicts as the CLI does', async () => {
    // A tiny CLI run from a fresh folder: 3 steps on 5 images per class, then out/model.
    const work = mkdtempSync(join(tmpdir(), 'bot-browser-cli-'));
    const config = {
      model: { name: 'resnet18d', options: { stem: 'small', width: 0.125, layers: [1, 1, 1, 1] } },
      data: { source: 'embedded', perClass: 5 },
      epochs: 1,
      batchSize: 16,
      backend: 'wasm',
      out: join(work, 'run'),
    };
    writeFileSync(join(work, 'config.json'), JSON.stringify(config));
    const r = spawnSync(process.execPath, [cli, 'train', 'config.json', '--stop-after', '3', '--no-progress', '--no-report'], { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const modelDir = join(work, 'run', 'model');
    cliModelDir = modelDir;
    const names = readdirSync(modelDir);
    await page.setInputFiles(
      '#loadModel',
      names.map((name) => ({ name, mimeType: name.endsWith('.json') ? 'application/json' : 'application/octet-stream', buffer: readFileSync(join(modelDir, name)) })),
    );
    await expect.poll(() => page.locator('#modelInfo').textContent(), { timeout: 30_000 }).toMatch(/^Loaded resnet18d \(10 classes, 0 epochs/);
    await page.setInputFiles('#imageFile', { name: 'item.png', mimeType: 'image/png', buffer: readFileSync(imagePng) });
    await expect.poll(() => page.locator('#prediction tr').count(), { timeout: 30_000 }).toBe(10);
    const { model, metadata } = await loadModel(modelDir);
    const [reference] = await predictFiles(model, metadata, [imagePng], 10);
    model.dispose();
    await expect
      .poll(async () => {
        const rows = await page.locator('#prediction tr').evaluateAll((trs) => trs.map((tr) => ({ name: (tr as HTMLTableRowElement).cells[0]!.textContent!, p: Number((tr as HTMLTableRowElement).dataset.probability) })));
        return Math.max(...reference!.classes.map((c) => Math.abs(rows.find((x) => x.name === c.name)!.p - c.probability)));
      })
      .toBeLessThan(1e-3);
    expect(consoleErrors).toEqual([]);
  });

  it('distils from a teacher given as files (the CLI model), over 2 workers', async () => {
    expect(cliModelDir, 'needs the previous case').not.toBe('');
    for (const [id, v] of Object.entries({ epochs: '2', perClass: '20', batchSize: '40', workers: '2', mix: 'none', warmup: false, distillation: true })) await set(id, v);
    const names = readdirSync(cliModelDir);
    await page.setInputFiles(
      '#teacherFiles',
      names.map((name) => ({ name, mimeType: name.endsWith('.json') ? 'application/json' : 'application/octet-stream', buffer: readFileSync(join(cliModelDir, name)) })),
    );
    await page.click('#train');
    const row = page.locator('#runs tbody tr').nth(1);
    await row.locator('xpath=.').and(page.locator('[data-state=done], [data-state=failed]')).waitFor({ timeout: 150_000 });
    expect(await row.getAttribute('data-state'), `the run failed: ${await page.locator('#error').textContent()}`).toBe('done');
    const cells = await row.locator('td').allTextContents();
    expect(cells[2]).toMatch(/distillation/);
    expect(cells[4]).toBe('2');
    expect(Number.isFinite(Number(await row.getAttribute('data-last-loss')))).toBe(true);
    await page.screenshot({ path: join(artifacts, 'browser-runs.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });
});
