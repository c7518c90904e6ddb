#!/usr/bin/env bash
# Reproduces the ising-rg section of docs/lab.md: Mehta & Schwab's setup on 40 x 40 Ising configurations (Wolff,
# 5,000 training and 500 held-out per temperature) at T = 2.0, T_c and 3.0; a DBN 1600-400-100-25 (PCD-1, lr 0.05,
# batch 50, L1 1e-4, 30 epochs a layer); locality of the first layer's filters; samples from each layer (1,000 Gibbs
# sweeps) against the data. A few minutes on 2 cores.
#   scripts/lab_ising_rg.sh [OUT_DIR]   (default docs/lab/ising-rg)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ONSAGER:-$here/build/onsager}"
out="${1:-$here/docs/lab/ising-rg}"
[ -x "$bin" ] || { echo "lab_ising_rg: $bin is missing; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$out"
"$bin" lab ising-rg --L 40 --temperatures 2.0,2.269185,3.0 --samples 5000 --held-out 500 --sweeps-between 5 \
  --layers 400,100,25 --method pcd --epochs 30 --lr 0.05 --batch 50 --l1 1e-4 --generated 500 --gibbs-steps 1000 \
  --json "$out/ising_rg.json" --plots "$out"
