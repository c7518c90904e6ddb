#!/usr/bin/env bash
# Reproduces the rbm-temperature section of docs/lab.md: a PCD-1 RBM with 100 hidden units on mnist (binarised at
# 0.5), lr 0.1, momentum 0.5, batch 100, 30 epochs, trained with no decay, with L2 decay 1e-3 and with each hidden
# unit's weights bounded to norm 2; measured every epoch on 1,000 held-out rows. About 2 minutes on 2 cores.
#   scripts/lab_rbm_temperature.sh [OUT_DIR]   (default docs/lab/rbm-temperature)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ONSAGER:-$here/build/onsager}"
out="${1:-$here/docs/lab/rbm-temperature}"
[ -x "$bin" ] || { echo "lab_rbm_temperature: $bin is missing; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$out"
"$bin" lab rbm-temperature --data mnist --hidden 100 --method pcd --epochs 30 --batch 100 --lr 0.1 --momentum 0.5 \
  --l2 1e-3 --max-norm 2 --held-out 1000 --json "$out/rbm_temperature.json" --csv "$out/rbm_temperature.csv" \
  --plots "$out"
