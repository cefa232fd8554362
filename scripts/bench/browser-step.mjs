#!/usr/bin/env node
// One browser training-step measurement: serves examples/browser's production build (dist/, with the
// COOP/COEP headers) and opens its bench page in headless Chromium (Debian's, through playwright-core),
// which runs scripts/bench/train-step.mjs's step in Web Workers on wasm with our SIMD kernels.
//   node scripts/bench/browser-step.mjs --workers 2 --seconds 6 [--model resnet20 --size 32 --batch 64 --classes 10]
// Prints one JSON line (img/s = batch / median step time).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const app = join(root, 'examples/browser');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(join(app, 'dist/bench.html'))) throw new Error(`${app}/dist/bench.html is missing: run npm run build -w @bag-of-tricks/example-browser`);
if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install chromium (or set CHROMIUM_PATH)`);
const { preview } = await import(join(root, 'node_modules/vite/dist/node/index.js'));
const { chromium } = await import('playwright-core');

const query = new URLSearchParams({
  model: arg('model', 'resnet20'),
  size: arg('size', '32'),
  batch: arg('batch', '64'),
  classes: arg('classes', '10'),
  workers: arg('workers', '1'),
  seconds: arg('seconds', '6'),
});
const server = await preview({ root: app, configFile: join(app, 'vite.config.ts'), logLevel: 'silent', preview: { port: 0, host: '127.0.0.1' } });
const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  await page.goto(`${server.resolvedUrls.local[0]}bench.html?${query}`);
  await page.locator('#result[data-done=true]').waitFor({ timeout: 900_000 });
  const result = JSON.parse(await page.locator('#result').textContent());
  console.log(JSON.stringify({ ...result, chromium: browser.version() }));
  if (result.error) process.exitCode = 1;
} finally {
  await browser.close();
  server.httpServer.close();
}
