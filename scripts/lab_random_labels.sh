#!/usr/bin/env bash
# Reproduces the random-labels section of docs/lab.md: Zhang et al.'s experiment with MLP 1x512 and 3x512 (relu,
# cross-entropy, SGD lr 0.01, momentum 0.9, batch 128, no explicit regularisation) on a 10,000-row subset of
# fashion-mnist, 0-100% of the training labels randomised, each trained until 99% training accuracy or 300 epochs.
# About 15 minutes on 2 cores.
#   scripts/lab_random_labels.sh [OUT_DIR]   (default docs/lab/random-labels)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ONSAGER:-$here/build/onsager}"
out="${1:-$here/docs/lab/random-labels}"
[ -x "$bin" ] || { echo "lab_random_labels: $bin is missing; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$out"
"$bin" lab random-labels --data fashion-mnist --subset 10000 --arch 784-512-10,784-512-512-512-10 \
  --fractions 0,0.2,0.4,0.6,0.8,1 --seeds 1 --batch 128 --lr 0.01 --momentum 0.9 --lr-decay 1 --epochs 300 \
  --stop-accuracy 0.99 --json "$out/random_labels.json" --csv "$out/random_labels.csv" --plots "$out"
