#!/usr/bin/env bash
# The ladder's background chain on a shared 2-core machine, nice'd so it takes idle CPU only:
#   1. the pilot: rungs 0 and 4, seed 0, at the chosen epoch count (into results/, reused by the ladder);
#   2. side by side: the convergence check, rung 0 at twice the epochs (results-pilot/): does the baseline gain from
#      more? and the PyTorch column: rungs 0, 4, 7 x seeds 0-2 (results-torch/), with its own ResNet-56-D teacher;
#   3. the whole ladder (results/): finished runs are skipped, interrupted ones continue from their checkpoints.
# Two runs at a time, one core each (BN over the whole batch, as in PyTorch; no replica synchronisation).
#   nohup nice -n 15 examples/ablation/background.sh 15 > examples/ablation/logs/background.log 2>&1 &
set -u
cd "$(dirname "$0")/../.."
EPOCHS=${1:-15}
PARALLEL=${PARALLEL:-2}
export BOT_NATIVE_THREADS=${BOT_NATIVE_THREADS:-1}
ladder() { node examples/ablation/ladder.mjs --parallel "$PARALLEL" --workers 1 "$@"; }
echo "[background] $(date -u +%FT%TZ) pilot: rungs 0,4 seed 0, $EPOCHS epochs"
ladder --rungs 0,4 --seeds 0 --epochs "$EPOCHS"
# The convergence check and the PyTorch column side by side, one core each.
echo "[background] $(date -u +%FT%TZ) convergence check: rung 0 seed 0 at $((2 * EPOCHS)) epochs"
node examples/ablation/ladder.mjs --workers 1 --rungs 0 --seeds 0 --epochs "$((2 * EPOCHS))" --results examples/ablation/results-pilot --runs examples/ablation/runs/pilot &
echo "[background] $(date -u +%FT%TZ) PyTorch column: rungs 0,4,7, $EPOCHS epochs"
/usr/bin/python3 examples/ablation/torch_ladder.py --rungs 0,4,7 --seeds 0,1,2 --epochs "$EPOCHS" --threads 1
wait
# Up to 3 passes: a pass retries what failed in the one before (finished runs are skipped).
for pass in 1 2 3; do
  echo "[background] $(date -u +%FT%TZ) the ladder, $EPOCHS epochs (pass $pass)"
  ladder --epochs "$EPOCHS" && break
done
echo "[background] $(date -u +%FT%TZ) done"
