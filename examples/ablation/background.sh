#!/usr/bin/env bash
# The ladder's background chain on a shared 2-core machine, nice'd so it takes idle CPU only:
#   1. the pilot: rungs 0 and 4, seed 0, at the chosen epoch count (into results/, reused by the ladder);
#   2. then at once, so no core idles:
#      - the convergence check: rung 0 at twice the epochs (results-pilot/e<2E>/): does the baseline still gain?
#      - the PyTorch column: rungs 0, 4, 7 x seeds 0-2 (results-torch/), with its own ResNet-56-D teacher, 1 thread;
#      - the whole ladder (results/), two single-core runs at a time; up to 3 passes, each retrying what failed
#        (finished runs are skipped, interrupted ones continue from their checkpoints).
# Single-core runs: BN over the whole batch, as in PyTorch, and no replica synchronisation.
#   nohup nice -n 15 examples/ablation/background.sh [EPOCHS] > examples/ablation/logs/background.log 2>&1 &
# TORCH=0 skips the PyTorch column; FIRST="--rungs 4 --seeds 1,2" runs those before the convergence check and the ladder.
set -u
cd "$(dirname "$0")/../.."
EPOCHS=${1:-$(node -e "import('./examples/ablation/rungs.mjs').then((m) => console.log(m.LADDER_EPOCHS))")}
PARALLEL=${PARALLEL:-2}
LOGS=examples/ablation/logs
mkdir -p "$LOGS"
export BOT_NATIVE_THREADS=${BOT_NATIVE_THREADS:-1}
ladder() { node examples/ablation/ladder.mjs --workers 1 "$@"; }
echo "[background] $(date -u +%FT%TZ) pilot: rungs 0,4 seed 0, $EPOCHS epochs"
ladder --parallel "$PARALLEL" --rungs 0,4 --seeds 0 --epochs "$EPOCHS"
if [ -n "${FIRST:-}" ]; then # FIRST='--rungs 4 --seeds 1,2': runs to finish before the rest of the ladder
  echo "[background] $(date -u +%FT%TZ) first: $FIRST"
  # shellcheck disable=SC2086
  ladder --parallel "$PARALLEL" --epochs "$EPOCHS" $FIRST
fi
echo "[background] $(date -u +%FT%TZ) convergence check (rung 0 at $((2 * EPOCHS)) epochs) -> $LOGS/convergence.log"
ladder --rungs 0 --seeds 0 --epochs "$((2 * EPOCHS))" --results "examples/ablation/results-pilot/e$((2 * EPOCHS))" --runs examples/ablation/runs/pilot > "$LOGS/convergence.log" 2>&1 &
if [ "${TORCH:-1}" != 0 ]; then # TORCH=0 when the PyTorch column already runs on its own
  echo "[background] $(date -u +%FT%TZ) PyTorch column (rungs 0,4,7, $EPOCHS epochs) -> $LOGS/torch.log"
  /usr/bin/python3 examples/ablation/torch_ladder.py --rungs 0,4,7 --seeds 0,1,2 --epochs "$EPOCHS" --threads 1 > "$LOGS/torch.log" 2>&1 &
fi
for pass in 1 2 3; do
  echo "[background] $(date -u +%FT%TZ) the ladder, $EPOCHS epochs (pass $pass)"
  ladder --parallel "$PARALLEL" --epochs "$EPOCHS" && break
done
wait
echo "[background] $(date -u +%FT%TZ) done"
