import { CUTMIX_DEFAULTS, DEFAULTS as AUGMENT, MIXUP_DEFAULTS, PIXEL_PATH_KEYS, validateAugmentOptions } from '@bag-of-tricks/augment';
import { DEFAULTS as DISTILL } from '@bag-of-tricks/distill';
import { DEFAULTS as LOSSES } from '@bag-of-tricks/losses';
import { PRECISIONS } from '@bag-of-tricks/backend';
import { RESNET_NAMES, validateResNetOptions } from '@bag-of-tricks/resnet-variants';
import { DEFAULTS as SCHEDULES } from '@bag-of-tricks/schedules';
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const nonNegative = z.number().nonnegative();

export const modelSchema = z
  .object({
    /** A resnet-variants name: resnet18 … resnet152 with an a/b/c/d suffix, or resnet20 (CIFAR). */
    name: z.string().min(1),
    /** Passed to createResNet(name, options): stem, width, inputShape, numClasses, zeroGamma, … (checked by resnet-variants' validateResNetOptions). */
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/**
 * A subset of an in-memory data set (embedded or idx), applied by the trainer's selectData (data-selection.ts):
 * `classes` keeps those classes in training and evaluation, relabelled 0..k-1 in the order given, and the saved
 * model's class names follow; `perClass` keeps N training images per class, drawn with the run's seed (evaluation
 * keeps every image of the kept classes).
 */
export const dataSelectionFields = {
  classes: z
    .array(z.number().int().nonnegative())
    .min(2)
    .refine((cs) => new Set(cs).size === cs.length, { message: 'list each class once' })
    .optional(),
  perClass: positiveInt.optional(),
};

export const dataSchema = z
  .discriminatedUnion('source', [
    z
      .object({
        source: z.literal('embedded'),
        ...dataSelectionFields,
        /**
         * Evaluate on another test set instead of the embedded 1,000 images, e.g. the full 10,000-image
         * Fashion-MNIST test split: `{ source: 'idx', dir: '/usr/share/datasets/fashion-mnist' }` (its t10k-* files).
         */
        eval: z.object({ source: z.literal('idx'), dir: z.string().min(1) }).strict().optional(),
      })
      .strict(),
    z
      .object({
        source: z.literal('idx'),
        /** Folder with train-images-idx3-ubyte(.gz), train-labels…, t10k-… (MNIST layout). */
        dir: z.string().min(1),
        ...dataSelectionFields,
      })
      .strict(),
    z
      .object({
        source: z.literal('image-folder'),
        /** Training images in <dir>/<class>/… */
        dir: z.string().min(1),
        /** Validation images in the same layout. */
        evalDir: z.string().min(1),
        /** Output side in pixels (default augment's `PRESETS.paper.size`, 224). */
        size: positiveInt.default(AUGMENT.presets.paper.size),
        /** The shorter side before the eval centre crop (default size / 0.875). */
        resize: positiveInt.optional(),
        greyscale: z.boolean().default(false),
        /**
         * How the crop is resized (default 'bilinear'): 'bilinear' decodes only the crop region and resizes it in
         * the same fused pass as flip, jitter, lighting and normalize (augment's tensor crop path, bit for bit in
         * float tolerance; 1.7x torchvision per core); 'lanczos3' resizes with sharp (antialiased, slower).
         */
        resample: z.enum(['bilinear', 'lanczos3']).default(AUGMENT.resample.loader),
        /**
         * Skip corrupt or truncated images instead of refusing the data: those the check before training finds
         * are left out, those that fail at decode are skipped; both are counted, logged and written to metrics.jsonl.
         */
        skipCorrupt: z.boolean().optional(),
        /** Most pixels per image, checked in the headers before training and passed to sharp (default: data's DEFAULT_LIMIT_INPUT_PIXELS). */
        limitInputPixels: positiveInt.optional(),
      })
      .strict(),
  ])
  .default({ source: 'embedded' });

const optimizerSchema = z
  .discriminatedUnion('kind', [
    /** Nesterov accelerated gradient (the paper's optimiser). */
    z.object({ kind: z.literal('nag'), momentum: z.number().min(0).max(1).default(0.9) }).strict(),
    /** Plain SGD, or heavy-ball momentum when momentum > 0. */
    z.object({ kind: z.literal('sgd'), momentum: z.number().min(0).max(1).default(0) }).strict(),
    z
      .object({
        kind: z.literal('adam'),
        beta1: z.number().min(0).max(1).default(0.9),
        beta2: z.number().min(0).max(1).default(0.999),
        epsilon: z.number().positive().default(1e-8),
      })
      .strict(),
  ])
  .default({ kind: 'nag', momentum: 0.9 });

const scheduleSchema = z
  .discriminatedUnion('kind', [
    /** lr · 0.5 · (1 + cos(π t / T)) after warmup, t and T in iterations, ending exactly at `floor`. */
    z.object({ kind: z.literal('cosine'), floor: nonNegative.default(SCHEDULES.cosine.floor) }).strict(),
    /** lr · gamma^(number of milestones passed); milestones in epochs. */
    z
      .object({ kind: z.literal('step'), milestones: z.array(nonNegative).default([...SCHEDULES.stepDecay.milestones]), gamma: z.number().positive().default(SCHEDULES.stepDecay.gamma) })
      .strict(),
  ])
  .default({ kind: 'cosine', floor: SCHEDULES.cosine.floor });

/** TensorFlow.js backends: 'auto' picks tensorflow (tfjs-node) when installed, else wasm. */
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

/** Weight precisions of a saved model: 'float16' halves the bytes; tfjs decodes it to float32 on load. */
export const WEIGHT_FORMATS = ['float32', 'float16'] as const;

export const exportSchema = z
  .object({
    /** Precision of the weights in out/model and out/best (default float32). */
    weights: z.enum(WEIGHT_FORMATS).default('float32'),
    /** Also write out/best: the model of the epoch with the highest eval top-1 (default false). */
    best: z.boolean().default(false),
  })
  .strict()
  .default({ weights: 'float32', best: false });

/** Parts of a ResNet that `init.freeze` can name: the stem (everything before layer1) and the four stages. */
export const FREEZE_PARTS = ['stem', 'layer1', 'layer2', 'layer3', 'layer4'] as const;

export const initSchema = z
  .object({
    /** A model folder (out/model of a run, or its model.json), a checkpoint (.ckpt) or a PyTorch .safetensors file. */
    from: z.string().min(1),
    /**
     * What is not trained: 'none' (default), 'stem', 'backbone' (all but the classifier `fc`), or a list of
     * FREEZE_PARTS. Frozen layers keep their weights bit for bit; frozen BatchNorm runs on its moving statistics.
     */
    freeze: z.union([z.enum(['none', 'stem', 'backbone']), z.array(z.enum(FREEZE_PARTS)).min(1)]).default('none'),
    /**
     * Discriminative learning rate: the backbone (every trainable variable but the classifier's) steps at
     * lr x backboneLrScale, the classifier at lr (default 1). SGD/NAG only: Adam's step ignores gradient scale.
     */
    backboneLrScale: z.number().min(0).max(1).default(1),
    /**
     * Start the classifier (`fc`) afresh even when the source has as many classes: fine-tuning on other classes of
     * the same count (default: a fresh classifier only when the number of classes differs).
     */
    newHead: z.boolean().optional(),
  })
  .strict();

export const trainConfigSchema = z
  .object({
    model: modelSchema,
    data: dataSchema,
    batchSize: positiveInt.default(128),
    epochs: positiveInt,
    optimizer: optimizerSchema,
    /** The learning rate for a batch of 256 when linearScaling is on (default 0.1, the paper's). */
    baseLr: z.number().positive().default(SCHEDULES.linearScaling.baseLr),
    /** lr = baseLr · batchSize / 256 (He et al. §3.1). Off: lr = baseLr. */
    linearScaling: z.boolean().default(true),
    /** Linear warmup from 0 over this many epochs, per iteration (paper: 5). */
    warmupEpochs: nonNegative.default(SCHEDULES.warmup.epochs),
    schedule: scheduleSchema,
    /** L2 weight decay, added as wd · w to the gradients of the decay group (PyTorch SGD's weight_decay). */
    weightDecay: nonNegative.default(1e-4),
    /** No bias decay: decay only conv and dense kernels, not biases or BN gamma/beta. */
    noBiasDecay: z.boolean().default(false),
    labelSmoothing: z
      .object({ epsilon: z.number().min(0).lt(1).default(LOSSES.labelSmoothing.epsilon), form: z.enum(['paper', 'uniform']).default(LOSSES.labelSmoothing.form) })
      .strict()
      .optional(),
    mixup: z
      .object({
        alpha: z.number().positive().default(MIXUP_DEFAULTS.alpha),
        /** The last N epochs train without mixup. */
        offEpochs: z.number().int().nonnegative().default(0),
      })
      .strict()
      .optional(),
    cutmix: z
      .object({ alpha: z.number().positive().default(CUTMIX_DEFAULTS.alpha), offEpochs: z.number().int().nonnegative().default(0) })
      .strict()
      .optional(),
    distillation: z
      .object({
        /** A saved tfjs LayersModel: an earlier run's out/model folder, a model folder or model.json path, or a URL. */
        teacher: z.string().min(1),
        temperature: z.number().positive().default(DISTILL.distillation.temperature),
        form: z.enum(['paper', 'weighted']).default(DISTILL.distillation.form),
        hardWeight: z.number().min(0).max(1).default(DISTILL.distillation.hardWeight),
        softTerm: z.enum(['cross-entropy', 'kl']).default(DISTILL.distillation.softTerm),
        /** Compute teacher logits once on the eval view of each sample (only without mixup/cutmix). */
        cache: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /**
     * Options for augment's trainPipeline (crop scale, flip, jitter, lighting, normalisation), checked by augment's
     * `validateAugmentOptions`; image folders take the crop's scale/ratio and the per-image options (PIXEL_PATH_KEYS).
     * Crop scale default: [0.08, 1], but [0.35, 1] (the greyscale preset) for 1-channel in-memory data.
     */
    augment: z.record(z.string(), z.unknown()).default({}),
    seed: z.number().int().default(0),
    /**
     * Cores to train on. With `parallel: 'data'` (default): N data-parallel replicas, this thread and
     * N-1 worker_threads, each computing the gradients of 1/N of the batch (wasm or cpu backend). With
     * `parallel: 'threads'`: N wasm threads inside one backend (same results as 1).
     */
    workers: positiveInt.default(1),
    /** How `workers` > 1 is used: 'data' (replicas on worker_threads) or 'threads' (wasm threads). */
    parallel: z.enum(['data', 'threads']).default('data'),
    checkpoint: z
      .object({
        /** Steps between checkpoints; 0 = at the end of every epoch (default). */
        every: z.number().int().nonnegative().default(0),
        /** How many recent checkpoints to keep (default 3). */
        keep: positiveInt.default(3),
      })
      .strict()
      .default({ every: 0, keep: 3 }),
    /** Output folder: metrics.jsonl, checkpoints/, report.html. */
    out: z.string().min(1).default('runs/train'),
    /** Write a JSONL line every N steps (epoch lines always). */
    logEvery: positiveInt.default(1),
    /** Batch size for evaluation (default 500). */
    evalBatchSize: positiveInt.default(500),
    backend: z.enum(BACKENDS).default('auto'),
    /**
     * Precision of the convolutions (@bag-of-tricks/backend's PRECISIONS): 'bfloat16' = the native
     * kernels read bf16 operands and sum in float32 (wasm in Node, AVX512_BF16 CPU); weights, their
     * updates, BatchNorm and every other op stay float32. No loss scaling: bf16 has float32's exponent range.
     */
    precision: z.enum(PRECISIONS).default('float32'),
    /** What the run writes besides checkpoints: out/model (always) and out/best (optional). */
    export: exportSchema,
    /** Fine-tuning: start from another model's weights instead of a random init. */
    init: initSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx0) => {
    // Cross-field rules: each issue reports the value at its own path (not the whole config) as what was got.
    const ctx = {
      addIssue: (issue: { code: 'custom'; path: (string | number)[]; message: string; input?: unknown }) =>
        ctx0.addIssue({ ...issue, input: issue.input ?? issue.path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], c) }),
    };
    if (c.mixup && c.cutmix) {
      ctx.addIssue({ code: 'custom', path: ['cutmix'], message: 'mixup and cutmix are exclusive here; set only one of them' });
    }
    // model and augment are checked by the packages that use them (the errors they would throw at build time, now).
    const problem = (check: () => void): string | null => {
      try {
        check();
        return null;
      } catch (err) {
        return (err as Error).message;
      }
    };
    if (!(RESNET_NAMES as readonly string[]).includes(c.model.name)) {
      ctx.addIssue({ code: 'custom', path: ['model', 'name'], message: `unknown ResNet variant; valid names are ${RESNET_NAMES.join(', ')}` });
    } else {
      const bad = problem(() => validateResNetOptions(c.model.name, c.model.options));
      if (bad) ctx.addIssue({ code: 'custom', path: ['model', 'options'], message: bad });
    }
    if (c.data.source === 'image-folder') {
      // The dataset crops (scale, ratio) and the loader's per-image pass does the rest; the crop size is data.size.
      const unknown = Object.keys(c.augment).filter((k) => !(PIXEL_PATH_KEYS as readonly string[]).includes(k));
      const grey = c.data.greyscale;
      const bad = unknown.length
        ? `${unknown.join(', ')} cannot be used with data.source 'image-folder' (the crop size is data.size; allowed: ${PIXEL_PATH_KEYS.join(', ')})`
        : problem(() => validateAugmentOptions({ channels: grey ? 1 : 3, ...(grey ? { preset: 'greyscale' } : {}), ...c.augment }, { target: 'pixel' }));
      if (bad) ctx.addIssue({ code: 'custom', path: ['augment'], message: bad });
    } else {
      // Embedded data is 28 x 28 greyscale (the trainer adds the greyscale preset); idx data's channels are known once read.
      const base = c.data.source === 'embedded' ? { preset: 'greyscale', size: AUGMENT.presets.greyscale.size } : {};
      const bad = problem(() => validateAugmentOptions({ ...base, ...c.augment }, { target: 'tensor' }));
      if (bad) ctx.addIssue({ code: 'custom', path: ['augment'], message: bad });
    }
    if (c.distillation?.cache && (c.mixup || c.cutmix)) {
      ctx.addIssue({
        code: 'custom',
        path: ['distillation', 'cache'],
        message: 'cached teacher logits cannot follow mixed images; set cache: false when mixup or cutmix is on',
      });
    }
    if (c.mixup && c.mixup.offEpochs > c.epochs) {
      ctx.addIssue({ code: 'custom', path: ['mixup', 'offEpochs'], message: `must be at most epochs (${c.epochs})` });
    }
    if (c.cutmix && c.cutmix.offEpochs > c.epochs) {
      ctx.addIssue({ code: 'custom', path: ['cutmix', 'offEpochs'], message: `must be at most epochs (${c.epochs})` });
    }
    if (c.parallel === 'data' && c.workers > c.batchSize) {
      ctx.addIssue({
        code: 'custom',
        path: ['workers'],
        message: `${c.workers} data-parallel replicas need a batch of at least ${c.workers} images (batchSize is ${c.batchSize}); lower workers or raise batchSize`,
      });
    }
    if (c.precision === 'bfloat16' && (c.backend === 'cpu' || c.backend === 'tensorflow')) {
      ctx.addIssue({
        code: 'custom',
        path: ['precision'],
        message: `bfloat16 runs only in the native kernels on the wasm backend (Node, AVX512_BF16 CPU), not on backend '${c.backend}'; use backend 'wasm' (or 'auto'), or precision 'float32'`,
      });
    }
    if (c.parallel === 'data' && c.workers > 1 && c.backend === 'tensorflow') {
      ctx.addIssue({
        code: 'custom',
        path: ['parallel'],
        message: "data-parallel replicas run on wasm or cpu; tfjs-node already uses every core: set workers: 1 with backend 'tensorflow', or backend 'wasm'",
      });
    }
    if (c.init && c.init.backboneLrScale !== 1 && c.optimizer.kind === 'adam') {
      ctx.addIssue({
        code: 'custom',
        path: ['init', 'backboneLrScale'],
        message: "Adam's step does not change with gradient scale, so a backbone lr scale has no effect; use optimizer 'nag' or 'sgd', or backboneLrScale: 1",
      });
    }
    if (c.init && c.init.freeze !== 'none' && c.parallel === 'data' && c.workers > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['init', 'freeze'],
        message: 'frozen layers are not passed to data-parallel replicas; set workers: 1 (or parallel: "threads") when freezing',
      });
    }
    // Cosine decays over the epochs after the warmup, so it needs some (warmupCosine's rule, found here before start-up).
    if (c.schedule.kind === 'cosine' ? c.warmupEpochs >= c.epochs : c.warmupEpochs > c.epochs) {
      const rule = c.schedule.kind === 'cosine' ? 'be less than epochs' : 'be at most epochs';
      ctx.addIssue({ code: 'custom', path: ['warmupEpochs'], message: `must ${rule} (${c.epochs}): lower warmupEpochs or raise epochs` });
    }
  });

/** A config as written in JSON (defaults optional). */
export type TrainConfigInput = z.input<typeof trainConfigSchema>;
/** A validated config with every default filled in. */
export type TrainConfig = z.output<typeof trainConfigSchema>;

/** Thrown for an invalid config; `issues` lists each bad field as `path: message`. */
export class ConfigError extends Error {
  constructor(
    readonly issues: readonly string[],
    source?: string,
  ) {
    super(`Invalid training config${source ? ` (${source})` : ''}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') : '(root)';
  switch (issue.code) {
    case 'invalid_type':
      return `${path}: expected ${issue.expected}${issue.input === undefined ? ' (required, missing)' : `, got ${JSON.stringify(issue.input)}`}`;
    case 'invalid_value':
      return `${path}: got ${JSON.stringify(issue.input)}; allowed: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `${path}: unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    case 'invalid_union': {
      // A discriminated union names the allowed tags in its message: "… Expected 'a' | 'b'".
      const allowed = /Expected (.*)$/.exec(issue.message)?.[1];
      const input = 'input' in issue ? (issue.input as unknown) : undefined;
      const disc = (issue as { discriminator?: string }).discriminator;
      const value = disc && input && typeof input === 'object' ? (input as Record<string, unknown>)[disc] : input;
      const got = value !== undefined ? `got ${JSON.stringify(value)}; ` : '';
      return allowed ? `${path}: ${got}allowed: ${allowed}` : `${path}: ${issue.message}`;
    }
    default:
      return `${path}: ${issue.message}${'input' in issue && issue.input !== undefined ? ` (got ${JSON.stringify(issue.input)})` : ''}`;
  }
}

/** Validates a config object (parsed JSON) and fills defaults; throws a {@link ConfigError} naming every bad field. */
export function parseConfig(input: unknown, source?: string): TrainConfig {
  const result = trainConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue), source);
  return result.data;
}
