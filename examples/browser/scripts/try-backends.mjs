#!/usr/bin/env node
// What each backend gives in headless Chromium on this machine: one tiny run each (2 epochs of 20 images per
// class, batch 40, 1 worker) on the production build (npm run build first). Prints one JSON line per backend.
//   node examples/browser/scripts/try-backends.mjs ["--extra --chromium --flags"]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { preview } = await import('vite');
const { chromium } = await import('playwright-core');
const server = await preview({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'silent', preview: { port: 0, host: '127.0.0.1' } });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', ...(process.argv[2] ? process.argv[2].split(' ') : [])] });
for (const backend of ['webgl', 'webgpu', 'cpu', 'wasm']) {
  const page = await browser.newPage();
  await page.goto(server.resolvedUrls.local[0]);
  for (const [id, v] of Object.entries({ epochs: '2', perClass: '20', batchSize: '40', workers: '1', mix: 'none' })) {
    if (await page.$(`select#${id}`)) await page.selectOption(`#${id}`, v); else await page.fill(`#${id}`, v);
  }
  await page.evaluate((b) => { const s = document.querySelector('#backend'); for (const o of s.options) o.disabled = false; s.value = b; }, backend);
  await page.setChecked('#warmup', false);
  const t0 = Date.now();
  await page.click('#train');
  await page.locator('#runs tbody tr[data-state=done], #runs tbody tr[data-state=failed]').waitFor({ timeout: 600_000 });
  const cells = await page.locator('#runs tbody tr td').allTextContents();
  const err = await page.locator('#error').textContent();
  const logText = await page.locator('#log').textContent();
  console.log(JSON.stringify({ backend, seconds: (Date.now() - t0) / 1000, row: cells, error: err, log: logText.split('\n').filter((l) => /backend|error/i.test(l)).slice(0, 4) }));
  await page.close();
}
await browser.close();
server.httpServer.close();
