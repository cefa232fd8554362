import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { initBackend } from '@bag-of-tricks/backend';
import { writeFileAtomic } from '@bag-of-tricks/data';
import { toSafetensors, type TorchNaming } from '@bag-of-tricks/resnet-variants';
import { BACKENDS } from '../config';
import { evaluateModel, formatEvaluation, renderEvaluationHtml } from './evaluate-model';
import { readCheckpointHeader } from './files';
import { loadModel, saveModel } from './model-io';
import { predictFiles } from './predict';
import { modelFromCheckpoint } from './sources';

const positive = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got '${value}'.`);
  return n;
};

const backendOption = () => new Option('--backend <name>', 'TensorFlow.js backend (env BOT_BACKEND wins)').choices(BACKENDS).default('auto');

/** The backend starts inside each verb, before any tensor exists; its log line goes to stderr (stdout stays clean for --json). */
async function startBackend(name: string): Promise<void> {
  await initBackend(name as (typeof BACKENDS)[number], { log: (m) => console.error(m) });
}

/** Adds `export`, `evaluate` and `predict` to the `bag-of-tricks` program. */
export function addModelCommands(program: Command): void {
  program
    .command('export')
    .description('Write the model of a training checkpoint as a tfjs LayersModel folder (model.json + weight shards, with class names and eval preprocessing), optionally also as PyTorch .safetensors.')
    .argument('<checkpoint>', 'a checkpoint file written by `bag-of-tricks train` (<out>/checkpoints/ckpt-*.ckpt)')
    .argument('<dir>', 'output folder (created; an existing model there is replaced atomically)')
    .option('--float16', 'store weights as IEEE half floats: half the bytes; stock tfjs decodes them to float32 on load')
    .addOption(new Option('--safetensors <naming>', 'also write <dir>/model.safetensors with PyTorch names and layouts (torchvision: ResNet A/B; timm: C/D deep stem and avg-pool shortcut)').choices(['torchvision', 'timm']))
    .addOption(backendOption())
    .addHelpText(
      'after',
      `
Examples:
  bag-of-tricks export runs/exp1/checkpoints/ckpt-00000374.ckpt models/exp1
  bag-of-tricks export runs/exp1/checkpoints/ckpt-00000374.ckpt models/exp1-half --float16
  bag-of-tricks export runs/exp1/checkpoints/ckpt-00000374.ckpt models/exp1 --safetensors timm`,
    )
    .action(async (checkpoint: string, dir: string, opts: { float16?: boolean; safetensors?: TorchNaming; backend: string }) => {
      readCheckpointHeader(checkpoint); // a missing or foreign file fails before the backend starts
      await startBackend(opts.backend);
      const { model, metadata } = modelFromCheckpoint(checkpoint);
      try {
        // PyTorch names first: a model the naming cannot describe is refused before anything is written.
        const torch = opts.safetensors
          ? toSafetensors(model, { naming: opts.safetensors, metadata: { classNames: JSON.stringify(metadata.classNames), preprocessing: JSON.stringify(metadata.preprocessing) } })
          : null;
        const saved = saveModel(dir, model, metadata, { weights: opts.float16 ? 'float16' : 'float32' });
        console.log(`Wrote ${join(saved.dir, 'model.json')} (${saved.files.length - 1} shard(s), ${saved.weightBytes.toLocaleString('en')} bytes of ${opts.float16 ? 'float16' : 'float32'} weights; step ${metadata.step})`);
        if (torch) {
          const path = join(saved.dir, 'model.safetensors');
          writeFileAtomic(path, torch);
          console.log(`Wrote ${path} (${opts.safetensors} names, float32)`);
        }
      } finally {
        model.dispose();
      }
    });

  program
    .command('evaluate')
    .description("Top-1, top-5, per-class accuracy and the confusion matrix of a saved model on a test set, prepared by the model's own eval preprocessing.")
    .argument('<model>', 'a model folder (e.g. <out>/model of a run) or its model.json')
    .requiredOption('--data <source>', "test data: an IDX folder (its t10k-* files), an image folder (<dir>/<class>/<image>), or 'embedded'")
    .option('--json', 'print the report as JSON (stdout) instead of text')
    .option('--html <file>', 'also write an HTML report with a per-class chart and the confusion matrix as a heat map')
    .option('--batch-size <n>', 'images per batch', positive('--batch-size'), 250)
    .addOption(backendOption())
    .addHelpText(
      'after',
      `
Examples:
  bag-of-tricks evaluate runs/exp1/model --data /usr/share/datasets/fashion-mnist
  bag-of-tricks evaluate runs/exp1/model --data embedded --json
  bag-of-tricks evaluate runs/pets/model --data data/pets/val --html runs/pets/eval.html`,
    )
    .action(async (modelPath: string, opts: { data: string; json?: boolean; html?: string; batchSize: number; backend: string }) => {
      await startBackend(opts.backend);
      const { model, metadata, path } = await loadModel(modelPath);
      try {
        const report = await evaluateModel(model, metadata, opts.data, opts.batchSize);
        if (opts.json) console.log(JSON.stringify({ model: path, ...report }, null, 2));
        else console.log(`model: ${path} (${metadata.model.name}, ${metadata.classNames.length} classes)\n${formatEvaluation(report)}`);
        if (opts.html) {
          const file = resolve(opts.html);
          mkdirSync(dirname(file), { recursive: true });
          writeFileAtomic(file, await renderEvaluationHtml(report, `bag-of-tricks evaluate: ${path} on ${report.data}`));
          console.error(`Report: ${file}`);
        }
      } finally {
        model.dispose();
      }
    });

  program
    .command('predict')
    .description("Class probabilities for image files (JPEG, PNG, WebP, …; any size; grey, RGB or RGBA), through the model's own eval preprocessing.")
    .argument('<model>', 'a model folder (e.g. <out>/model of a run) or its model.json')
    .argument('<images...>', 'image files')
    .option('--top <k>', 'how many classes to show per image', positive('--top'), 5)
    .option('--json', 'print JSON (stdout)')
    .addOption(backendOption())
    .addHelpText(
      'after',
      `
Examples:
  bag-of-tricks predict runs/exp1/model shoe.jpg
  bag-of-tricks predict runs/exp1/model a.png b.webp --top 3 --json`,
    )
    .action(async (modelPath: string, images: string[], opts: { top: number; json?: boolean; backend: string }) => {
      await startBackend(opts.backend);
      const { model, metadata } = await loadModel(modelPath);
      try {
        const predictions = await predictFiles(model, metadata, images, opts.top);
        if (opts.json) console.log(JSON.stringify(predictions, null, 2));
        else
          for (const p of predictions) {
            console.log(p.file);
            for (const c of p.classes) console.log(`  ${(100 * c.probability).toFixed(2).padStart(6)}%  ${c.name}`);
          }
      } finally {
        model.dispose();
      }
    });
}
