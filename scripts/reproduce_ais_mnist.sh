#!/usr/bin/env bash
# Reproduces the ordering of Salakhutdinov & Murray (ICML 2008), Table 1, on onsager's mnist split:
# 500-hidden RBMs trained by CD-1, CD-3, CD-10, CD-25 and PCD-1, their AIS test log-likelihoods with error bars,
# the independent BAR check and the TAP2 estimate, and a 20-hidden RBM whose estimates are checked against
# exact enumeration.
# Writes out/ais-mnist/*.safetensors, *.json and prints a Markdown table (docs/likelihood-mnist.md holds
# the committed one). About 10 minutes on 2 cores.
#   scripts/reproduce_ais_mnist.sh [EPOCHS]     (default 50)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bin=build/onsager
[ -x "$bin" ] || { bash scripts/setup.sh && bash scripts/build.sh; }
epochs="${1:-50}"
out=out/ais-mnist
mkdir -p "$out"

train() {  # NAME METHOD K HIDDEN EXTRA...
  local name=$1 method=$2 k=$3 hidden=$4; shift 4
  "$bin" rbm train --data mnist --hidden "$hidden" --method "$method" --k "$k" --epochs "$epochs" --batch 100 \
    --seed 1 --quiet --out "$out/$name.safetensors" --json "$out/$name.train.json" "$@" >/dev/null
}
evaluate() {  # NAME EVAL-FLAGS...
  local name=$1; shift
  "$bin" rbm eval "$out/$name.safetensors" --split test --quiet --json "$out/$name.eval.json" "$@" >/dev/null
}

common=(--lr 0.05 --momentum hinton --l2 2e-4)
echo "training (epochs: $epochs) ..." >&2
train cd1 cd 1 500 "${common[@]}"
train cd3 cd 3 500 "${common[@]}"
train cd10 cd 10 500 "${common[@]}"
train cd25 cd 25 500 "${common[@]}"
train pcd1 pcd 1 500 --lr 0.05 --lr-schedule linear --lr-final 0.001 --l2 2e-4
train cd1-h20 cd 1 20 "${common[@]}"
echo "evaluating (AIS: 100 runs x 14,501 temperatures, and the BAR check; TAP) ..." >&2
for m in cd1 cd3 cd10 cd25 pcd1; do evaluate "$m" --ais-runs 100 --seed 2 --tap; done
evaluate cd1-h20 --ais-runs 100 --seed 2 --tap --exact

/usr/bin/python3 - "$out" "$epochs" <<'PY'
import json, sys
out, epochs = sys.argv[1], sys.argv[2]
warnings = []
rows = [("cd1", "CD-1", 500), ("cd3", "CD-3", 500), ("cd10", "CD-10", 500), ("cd25", "CD-25", 500),
        ("pcd1", "PCD-1", 500), ("cd1-h20", "CD-1", 20)]
print(f"| model | hidden | epochs | AIS log Z | ± (3σ) | ESS | BAR log Z | test log-lik. (AIS) | test log-lik. (TAP2) "
      f"| exact log Z | test log-lik. (exact) | train s | AIS s |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for key, name, hidden in rows:
    e = json.load(open(f"{out}/{key}.eval.json"))
    t = json.load(open(f"{out}/{key}.train.json"))
    z, ll, ais = e["log_z"], e["avg_log_likelihood"], e["details"]["ais"]
    fmt = lambda x, p=2: "—" if x is None else f"{x:.{p}f}"
    print(f"| {name} | {hidden} | {epochs} | {fmt(z['ais'])} | {fmt(z['ais_err'])} | {ais['ess']:.1f} | {fmt(z['bar'])} "
          f"| {fmt(ll['ais'])} | {fmt(ll['tap2'])} | {fmt(z['exact'])} | {fmt(ll['exact'])} | {t['train_seconds']:.1f} "
          f"| {ais['seconds']:.1f} |")
    for w in e["warnings"]:
        warnings.append(f"{name}({hidden}): {w}")
n = json.load(open(f"{out}/cd1.eval.json"))["n_samples"]
for w in warnings:
    print(f"\n- {w}", end="")
print()
print(f"\nTest split: {n} mnist images (binarized at 0.5); AIS base model from the training split's pixel marginals.")
PY
