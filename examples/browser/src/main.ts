// The page: switches, live charts, a table of runs, model download/load and prediction. Training runs in a
// Web Worker (src/train-worker.ts), which starts the data-parallel replicas (src/replica-worker.ts).
import { liveChart, type LiveChart } from './charts';
import { hasWasmSimd } from './backend';
import type { FileBytes, FromTrainer, RunInfo, Settings } from './protocol';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const input = (id: string): HTMLInputElement => $<HTMLInputElement>(id);

const cores = navigator.hardwareConcurrency || 1;
const isolated = globalThis.crossOriginIsolated === true;
const errorBox = $('error');
const logBox = $('log');

function showError(message: string): void {
  errorBox.textContent = message;
  errorBox.hidden = false;
}
function clearError(): void {
  errorBox.hidden = true;
  errorBox.textContent = '';
}
function log(message: string): void {
  logBox.textContent += `${message}\n`;
}

$('isolation').textContent = isolated
  ? `Cross-origin isolated: data-parallel training on up to ${cores} Web Workers (one per core) sharing weights through SharedArrayBuffer.`
  : 'This page is not cross-origin isolated (no SharedArrayBuffer), so training uses 1 worker. Serve it with the COOP/COEP headers (npm run browser does) for one worker per core.';
const workersInput = input('workers');
workersInput.max = String(isolated ? cores : 1);
workersInput.value = String(isolated ? Math.min(cores, 4) : 1);
if (!hasWasmSimd()) {
  showError("This browser has no WebAssembly SIMD, which the wasm backend's training kernels need (Chrome 91+, Firefox 89+, Safari 16.4+). Pick WebGL or cpu.");
  $<HTMLSelectElement>('backend').value = 'cpu';
}
if (!('gpu' in navigator)) ($<HTMLSelectElement>('backend').querySelector('option[value=webgpu]') as HTMLOptionElement).disabled = true;

input('distillation').addEventListener('change', () => ($('teacherBox').hidden = !input('distillation').checked));

function readSettings(): Settings {
  const int = (id: string, min: number, max: number): number => {
    const v = Number(input(id).value);
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${input(id).labels?.[0]?.textContent?.trim() ?? id}: ${input(id).value || 'empty'} is not a whole number from ${min} to ${max}.`);
    return v;
  };
  if (input('warmup').checked && Number(input('epochs').value) < 2) {
    throw new Error('Warmup takes the first epoch, so it needs at least 2 epochs: raise Epochs or switch warmup off.');
  }
  return {
    variant: $<HTMLSelectElement>('variant').value as Settings['variant'],
    zeroGamma: input('zeroGamma').checked,
    warmup: input('warmup').checked,
    cosine: input('cosine').checked,
    labelSmoothing: input('labelSmoothing').checked,
    mix: $<HTMLSelectElement>('mix').value as Settings['mix'],
    noBiasDecay: input('noBiasDecay').checked,
    distillation: input('distillation').checked,
    epochs: int('epochs', 1, 100),
    batchSize: int('batchSize', 2, 1024),
    perClass: int('perClass', 1, 600),
    seed: int('seed', -2147483648, 2147483647),
    backend: $<HTMLSelectElement>('backend').value as Settings['backend'],
    workers: int('workers', 1, isolated ? cores : 1),
  };
}

function tricksOf(s: Settings): string {
  const on = [
    s.zeroGamma && 'zero-γ',
    s.warmup && 'warmup',
    s.cosine ? 'cosine' : 'step decay',
    s.labelSmoothing && 'label smoothing',
    s.mix !== 'none' && (s.mix === 'mixup' ? 'mixup' : 'CutMix'),
    s.noBiasDecay && 'no bias decay',
    s.distillation && 'distillation',
  ].filter(Boolean);
  return on.join(', ');
}

const readFiles = async (files: FileList | File[]): Promise<FileBytes[]> => Promise.all([...files].map(async (f) => ({ name: f.name, bytes: await f.arrayBuffer() })));

// Charts.
let charts: { loss: LiveChart; top1: LiveChart; lr: LiveChart } | null = null;
const chartsReady = Promise.all([
  liveChart($('chart-loss'), 'training loss', 'step', 'loss', 'loss'),
  liveChart($('chart-top1'), 'eval top-1', 'epoch', 'top1', 'top-1', '.0%'),
  liveChart($('chart-lr'), 'learning rate', 'step', 'lr', 'lr'),
]).then(([loss, top1, lr]) => (charts = { loss, top1, lr }));

// The trainer worker.
const worker = new Worker(new URL('./train-worker.ts', import.meta.url), { type: 'module' });
let runNumber = 0;
let running: { settings: Settings; info: RunInfo | null; losses: number[]; row: HTMLTableRowElement } | null = null;
let pendingPrediction = false;

const setRunning = (on: boolean): void => {
  $<HTMLButtonElement>('train').disabled = on;
  $<HTMLButtonElement>('stop').disabled = !on;
};

function runRow(settings: Settings): HTMLTableRowElement {
  const row = document.createElement('tr');
  const cells = [
    String(runNumber),
    `ResNet-18-${settings.variant.toUpperCase()} ¼`,
    tricksOf(settings),
    settings.backend,
    String(settings.workers),
    String(settings.epochs),
    String(settings.batchSize),
    String(settings.seed),
    '…',
    '…',
    '…',
    '…',
  ];
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = c;
    row.append(td);
  }
  row.dataset.state = 'running';
  $('runs').querySelector('tbody')!.append(row);
  return row;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

worker.onmessage = (event: MessageEvent<FromTrainer>) => {
  const msg = event.data;
  switch (msg.type) {
    case 'log':
      log(msg.message);
      break;
    case 'started': {
      if (!running) break;
      running.info = msg.info;
      const cells = running.row.cells;
      cells[3]!.textContent = msg.info.backend;
      cells[4]!.textContent = String(msg.info.workers);
      $<HTMLProgressElement>('progress').max = msg.info.totalSteps;
      $('status').textContent =
        `training ${msg.info.parameters.toLocaleString('en')} parameters on ${msg.info.trainImages} images (${msg.info.backend}, ${msg.info.workers} worker${msg.info.workers > 1 ? 's' : ''}: ${msg.info.transport})`;
      break;
    }
    case 'step': {
      if (!running) break;
      const r = msg.record;
      running.losses.push(r.loss);
      $<HTMLProgressElement>('progress').value = r.step;
      $('speed').textContent = `${Math.round(r.imagesPerSecond)} img/s`;
      charts?.loss.add([{ run: runNumber, step: r.step, loss: r.loss }]);
      charts?.lr.add([{ run: runNumber, step: r.step, lr: r.lr }]);
      break;
    }
    case 'epoch': {
      const r = msg.record;
      log(`epoch ${r.epoch + 1}: train loss ${r.trainLoss.toFixed(4)}, top-1 ${(100 * r.top1).toFixed(2)}%, ${r.seconds.toFixed(1)} s`);
      charts?.top1.add([{ run: runNumber, epoch: r.epoch + 1, top1: r.top1 }]);
      break;
    }
    case 'done': {
      if (!running) break;
      const { row, losses } = running;
      const cells = row.cells;
      const first = mean(losses.slice(0, 5));
      const last = mean(losses.slice(-5));
      row.dataset.firstLoss = String(first);
      row.dataset.lastLoss = String(last);
      cells[8]!.textContent = losses.length ? `${first.toFixed(3)} → ${last.toFixed(3)}` : '–';
      cells[9]!.textContent = String(Math.round(msg.imagesPerSecond));
      cells[10]!.textContent = msg.stopped ? 'stopped' : `${(100 * msg.top1).toFixed(2)}%`;
      cells[11]!.textContent = `${msg.seconds.toFixed(1)} s`;
      row.dataset.state = msg.stopped ? 'stopped' : 'done';
      $('status').textContent = msg.stopped ? 'stopped' : `done: top-1 ${(100 * msg.top1).toFixed(2)}% on the test images`;
      if (!msg.stopped) {
        $('modelInfo').textContent = `Run ${runNumber}'s model (top-1 ${(100 * msg.top1).toFixed(2)}%): download it, or drop an image to classify.`;
        $<HTMLButtonElement>('download').disabled = false;
      }
      running = null;
      setRunning(false);
      break;
    }
    case 'error': {
      showError(msg.message);
      log(`error (${msg.kind}): ${msg.message}`);
      if (running) {
        running.row.dataset.state = 'failed';
        running.row.cells[10]!.textContent = 'failed';
        running = null;
        setRunning(false);
        $('status').textContent = 'failed';
      }
      pendingPrediction = false;
      break;
    }
    case 'prediction': {
      pendingPrediction = false;
      const body = $('prediction').querySelector('tbody')!;
      body.replaceChildren(
        ...msg.classes.map((c) => {
          const tr = document.createElement('tr');
          tr.innerHTML = '<td></td><td></td>';
          tr.cells[0]!.textContent = c.name;
          tr.cells[1]!.textContent = `${(100 * c.probability).toFixed(2)}%`;
          tr.dataset.probability = String(c.probability);
          return tr;
        }),
      );
      break;
    }
    case 'files': {
      const box = $('downloads');
      box.replaceChildren();
      for (const f of msg.files) {
        const a = document.createElement('a');
        a.href = URL.createObjectURL(new Blob([f.bytes as Uint8Array<ArrayBuffer>], { type: f.name.endsWith('.json') ? 'application/json' : 'application/octet-stream' }));
        a.download = f.name;
        a.textContent = f.name;
        a.className = 'model-file';
        box.append(a, ' ');
        a.click();
      }
      break;
    }
    case 'model-loaded': {
      const m = msg.metadata;
      $('modelInfo').textContent = `Loaded ${m.model.name} (${m.classNames.length} classes, ${m.epochs} epochs, top-1 ${m.top1 === null ? 'n/a' : `${(100 * m.top1).toFixed(2)}%`}): drop an image to classify.`;
      $<HTMLButtonElement>('download').disabled = false;
      break;
    }
  }
};
worker.onerror = (event) => showError(`The trainer worker failed: ${event.message}`);

$('train').addEventListener('click', async () => {
  clearError();
  let settings: Settings;
  try {
    settings = readSettings();
  } catch (err) {
    showError((err as Error).message);
    return;
  }
  let teacher;
  if (settings.distillation) {
    const files = input('teacherFiles').files;
    const url = input('teacherUrl').value.trim();
    teacher = files && files.length > 0 ? { kind: 'files' as const, files: await readFiles(files) } : url ? { kind: 'url' as const, url } : undefined;
  }
  await chartsReady;
  runNumber++;
  running = { settings, info: null, losses: [], row: runRow(settings) };
  $<HTMLProgressElement>('progress').value = 0;
  $('status').textContent = 'starting…';
  setRunning(true);
  worker.postMessage({ type: 'train', settings, ...(teacher ? { teacher } : {}) });
});
$('stop').addEventListener('click', () => worker.postMessage({ type: 'stop' }));
$('download').addEventListener('click', () => worker.postMessage({ type: 'download' }));
input('loadModel').addEventListener('change', async () => {
  const files = input('loadModel').files;
  if (!files || files.length === 0) return;
  clearError();
  worker.postMessage({ type: 'load-model', files: await readFiles(files) });
});

/** Decodes an image file, shrinks it so its shorter side is at most 256 px, and sends its pixels (0..255) to the worker. */
async function classify(file: File): Promise<void> {
  clearError();
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (err) {
    showError(`${file.name} could not be decoded as an image (${(err as Error).message || 'unknown format'}); use a PNG, JPEG, GIF, WebP or BMP file.`);
    return;
  }
  const scale = Math.min(1, 256 / Math.min(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const preview = $<HTMLCanvasElement>('preview');
  preview.hidden = false;
  preview.getContext('2d')!.drawImage(bitmap, 0, 0, preview.width, preview.height);
  bitmap.close();
  // Greyscale models (Fashion-MNIST): luminance; the worker checks the channel count against the model's.
  const grey = new Float32Array(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = 0.299 * rgba[4 * i]! + 0.587 * rgba[4 * i + 1]! + 0.114 * rgba[4 * i + 2]!;
  pendingPrediction = true;
  worker.postMessage({ type: 'predict', image: { pixels: grey, width, height, channels: 1 } }, [grey.buffer]);
}
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) void classify(file);
});
input('imageFile').addEventListener('change', () => {
  const file = input('imageFile').files?.[0];
  if (file) void classify(file);
});
void pendingPrediction;
