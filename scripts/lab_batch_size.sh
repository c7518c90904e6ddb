#!/usr/bin/env bash
# Reproduces the batch-size section of docs/lab.md: Martin & Mahoney's experiment with MLP3 (784-300-100-10,
# relu, cross-entropy) on fashion-mnist's 55,000 training rows, SGD lr 0.01, momentum 0.9, lr x 0.95 per epoch,
# early stopping on the training loss (patience 3, min-delta 1e-3) or 20 epochs, batch sizes 2 ... 1024, three
# seeds each. About 20 minutes on 2 cores.
#   scripts/lab_batch_size.sh [OUT_DIR]   (default docs/lab/batch-size; JSON, CSV and the figures go there)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ONSAGER:-$here/build/onsager}"
out="${1:-$here/docs/lab/batch-size}"
[ -x "$bin" ] || { echo "lab_batch_size: $bin is missing; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$out"
"$bin" lab batch-size --data fashion-mnist --arch 784-300-100-10 --batch 2,4,8,16,32,64,128,256,512,1024 \
  --seeds 3 --epochs 20 --early-stop 3 --min-delta 1e-3 --lr 0.01 --momentum 0.9 --lr-decay 0.95 \
  --json "$out/batch_size.json" --csv "$out/batch_size.csv" --plots "$out"
