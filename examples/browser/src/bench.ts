// The bench page: runs src/bench-worker.ts with the query's settings and shows its JSON result in #result.
const params = Object.fromEntries(new URLSearchParams(location.search));
const worker = new Worker(new URL('./bench-worker.ts', import.meta.url), { type: 'module' });
const out = document.getElementById('result')!;
worker.onmessage = (e: MessageEvent) => {
  out.textContent = JSON.stringify(e.data);
  out.dataset.done = 'true';
};
worker.onerror = (e) => {
  out.textContent = JSON.stringify({ error: e.message });
  out.dataset.done = 'true';
};
worker.postMessage({ ...params, crossOriginIsolated: globalThis.crossOriginIsolated, cores: navigator.hardwareConcurrency });
