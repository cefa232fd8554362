// The transfer experiment's arms (He et al. 2019, section 6, at Fashion-MNIST scale) as trainer configs. The
// pretraining recipes are the ablation ladder's rungs (examples/ablation/rungs.mjs), read from there, not copied:
//
//   pretrain-<r>            rung r's recipe on the source task, Fashion-MNIST classes 0-4 (embedded subset, 3,000 images)
//   finetune-<r>-<regime>   from pretrain-<r>'s model (new 5-class head) on the target task, classes 5-9
//   scratch-<r>-<regime>    the same run on the target task from a random init (pretrain-<r>'s architecture)
//
// regime 'few': 50 labelled images per target class (250), drawn with the seed; 'all': every target image (3,000).
// Fine-tuning and scratch runs share one recipe, rung 0's (the plain baseline), so an arm differs from its scratch
// pair only in its starting weights. Evaluation: the full 10,000-image test set's classes of the task (5,000 images).
//
//   node examples/transfer/arms.mjs --list
//   node examples/transfer/arms.mjs --print finetune-7-few --seed 0
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FASHION_MNIST_DIR, LADDER_EPOCHS, RUNGS, rungById, rungConfig, TEACHER, teacherConfig } from '../ablation/rungs.mjs';

/** Source task (pretraining) and target task (fine-tuning) classes of Fashion-MNIST. */
export const SOURCE_CLASSES = [0, 1, 2, 3, 4];
export const TARGET_CLASSES = [5, 6, 7, 8, 9];
/** Labelled images per target class in the few-shot regime. */
export const FEW_PER_CLASS = 50;
/** The few-shot regime's batch (250 / 25 = 10 steps per epoch, every image each epoch; lr 0.2 x 25/256 by linear scaling). */
export const FEW_BATCH = 25;
/**
 * The few-shot regime trains this many times the epochs: 10 steps per epoch against 23 for 'all' at batch 128, so
 * 2x gives 400 steps against 460 at the 20-epoch default. Each epoch also evaluates the 5,000 target test images,
 * which costs 7x the training of an epoch of 250 images, so more epochs would mostly buy evaluations.
 */
export const FEW_EPOCH_FACTOR = 2;
/** The fixed fine-tuning recipe: rung 0 (the baseline) of the ladder. */
export const FINETUNE_RECIPE = '0';
/** The pretraining recipes: rung 0 and the ladder's last main rung. */
export const LAST_RUNG = RUNGS.filter((r) => r.main).at(-1).id;
export const RECIPES = [FINETUNE_RECIPE, LAST_RUNG];
export const REGIMES = ['few', 'all'];
/** The teacher of a recipe that distils: rung TEACHER.from's recipe on the source task (one teacher, seed 0). */
export const TRANSFER_TEACHER = { ...TEACHER, arm: 'teacher' };

/** The source or target task's data: the embedded training subset, the full test split for evaluation. */
function taskData(classes, perClass) {
  return { source: 'embedded', classes, ...(perClass ? { perClass } : {}), eval: { source: 'idx', dir: FASHION_MNIST_DIR } };
}

export const needsTeacher = (recipe) => Boolean(rungById(recipe).teacher);

/** The arm ids for some recipes and regimes, pretraining first. */
export function armIds(recipes = RECIPES, regimes = REGIMES) {
  return [
    ...recipes.map((r) => `pretrain-${r}`),
    ...recipes.flatMap((r) => regimes.flatMap((g) => [`finetune-${r}-${g}`, `scratch-${r}-${g}`])),
  ];
}

/** { kind: 'pretrain' | 'finetune' | 'scratch' | 'teacher', recipe, regime } of an arm id. */
export function parseArm(id) {
  if (id === TRANSFER_TEACHER.arm) return { kind: 'teacher', recipe: TRANSFER_TEACHER.from };
  const m = /^(pretrain)-([^-]+)$|^(finetune|scratch)-([^-]+)-(few|all)$/.exec(id);
  if (!m) throw new Error(`unknown arm '${id}'; arms are pretrain-<rung>, finetune-<rung>-<few|all>, scratch-<rung>-<few|all> and teacher`);
  const kind = m[1] ?? m[3];
  const recipe = m[2] ?? m[4];
  rungById(recipe);
  return { kind, recipe, regime: m[5] };
}

/** Pretraining: rung `recipe`'s config on the source classes (rungs 4L/6/7 keep their 1.6x epochs). */
export function pretrainConfig(recipe, { epochs, seed, teacherPath }) {
  return { ...rungConfig(recipe, { epochs, seed, teacherPath }), data: taskData(SOURCE_CLASSES) };
}

/** The teacher for the recipes that distil: the ladder's teacher recipe on the source classes. */
export function transferTeacherConfig({ epochs }) {
  return { ...teacherConfig({ epochs, seed: TRANSFER_TEACHER.seed }), data: taskData(SOURCE_CLASSES) };
}

/**
 * Fine-tuning (`pretrained`: the model folder of pretrain-<recipe> at this seed) or training from scratch (null) on
 * the target classes: rung 0's recipe with pretrain-<recipe>'s architecture; a new classifier for the 5 new classes.
 */
export function targetConfig(recipe, regime, { epochs, seed, pretrained }) {
  const few = regime === 'few';
  const base = rungConfig(FINETUNE_RECIPE, { epochs: few ? epochs * FEW_EPOCH_FACTOR : epochs, seed });
  const c = { ...base, model: rungConfig(recipe, { epochs, seed }).model, data: taskData(TARGET_CLASSES, few ? FEW_PER_CLASS : undefined) };
  if (few) c.batchSize = FEW_BATCH;
  if (pretrained) c.init = { from: pretrained, newHead: true };
  return c;
}

/** An arm's config at a seed. `pretrained(recipe, seed)` names pretrain-<recipe>'s model folder. */
export function armConfig(id, { epochs, seed, teacherPath, pretrained }) {
  const arm = parseArm(id);
  if (arm.kind === 'teacher') return transferTeacherConfig({ epochs });
  if (arm.kind === 'pretrain') return pretrainConfig(arm.recipe, { epochs, seed, teacherPath });
  return targetConfig(arm.recipe, arm.regime, { epochs, seed, pretrained: arm.kind === 'finetune' ? pretrained(arm.recipe, seed) : null });
}

/** A line of text for an arm. */
export function armTitle(id) {
  const arm = parseArm(id);
  const rung = rungById(arm.recipe);
  const target = arm.regime === 'few' ? `classes 5-9, ${FEW_PER_CLASS} images per class` : 'classes 5-9, every image';
  if (arm.kind === 'teacher') return `teacher: ${TRANSFER_TEACHER.model}-D with rung ${arm.recipe}'s recipe on classes 0-4`;
  if (arm.kind === 'pretrain') return `pretrain on classes 0-4 with rung ${arm.recipe}'s recipe (${rung.title})`;
  if (arm.kind === 'finetune') return `fine-tune pretrain-${arm.recipe} on ${target}`;
  return `from scratch (rung ${arm.recipe}'s architecture) on ${target}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { print: { type: 'string' }, epochs: { type: 'string', default: String(LADDER_EPOCHS) }, seed: { type: 'string', default: '0' }, list: { type: 'boolean' } } });
  const epochs = Number(values.epochs);
  const seed = Number(values.seed);
  if (values.list) {
    for (const id of [...(RECIPES.some(needsTeacher) ? [TRANSFER_TEACHER.arm] : []), ...armIds()]) console.log(`${id.padEnd(18)} ${armTitle(id)}`);
  } else if (values.print !== undefined) {
    const config = armConfig(values.print, { epochs, seed, teacherPath: 'runs/teacher/seed-0/model', pretrained: (r, s) => `runs/pretrain-${r}/seed-${s}/model` });
    console.log(JSON.stringify(config, null, 2));
  } else {
    console.error('Usage: node examples/transfer/arms.mjs --list | --print <arm> [--epochs N] [--seed K]');
    process.exit(2);
  }
}
