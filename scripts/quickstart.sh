#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install everything, build, train a 500-hidden RBM by
# PCD-1 on mnist, and print its report. Writes out/mnist-rbm.safetensors and out/mnist-rbm.jsonl; afterwards
# /usr/bin/python3 -c "import onsager" works too (scripts/install_python.sh, docs/python.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
bash scripts/build.sh --cli
bash scripts/install_python.sh
mkdir -p out
build/onsager data info mnist --split train
build/onsager rbm train --data mnist --hidden 500 --method pcd --k 1 --epochs 20 --batch 100 --lr 0.05 \
  --l2 1e-4 --seed 1 --out out/mnist-rbm.safetensors --log out/mnist-rbm.jsonl
