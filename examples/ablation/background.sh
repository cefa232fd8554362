#!/usr/bin/env bash
# The ladder's background chain on a shared machine, nice'd so it takes idle CPU only:
#   1. the pilot: rungs 0 and 4, seed 0 (into results/, reused by the ladder);
#   2. the PyTorch column: rungs 0, 4, 7 x seeds 0-2 (results-torch/), with its own ResNet-56-D teacher;
#   3. the whole ladder (results/): finished runs are skipped, interrupted ones continue from their checkpoints.
#   nohup nice -n 15 examples/ablation/background.sh 15 > examples/ablation/logs/background.log 2>&1 &
set -u
cd "$(dirname "$0")/../.."
EPOCHS=${1:-15}
WORKERS=${WORKERS:-2}
echo "[background] $(date -u +%FT%TZ) pilot: rungs 0,4 seed 0, $EPOCHS epochs"
node examples/ablation/ladder.mjs --rungs 0,4 --seeds 0 --epochs "$EPOCHS" --workers "$WORKERS"
echo "[background] $(date -u +%FT%TZ) PyTorch column: rungs 0,4,7, $EPOCHS epochs"
/usr/bin/python3 examples/ablation/torch_ladder.py --rungs 0,4,7 --seeds 0,1,2 --epochs "$EPOCHS" --threads "$WORKERS"
echo "[background] $(date -u +%FT%TZ) the ladder, $EPOCHS epochs"
node examples/ablation/ladder.mjs --epochs "$EPOCHS" --workers "$WORKERS"
echo "[background] $(date -u +%FT%TZ) done"
