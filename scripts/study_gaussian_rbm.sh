#!/usr/bin/env bash
# Reproduces the measured tables of docs/gaussian-rbm.md: Gaussian-Bernoulli RBMs (PCD-1, lr 0.001, batch 20) on the
# digits pixels (scaled to [0, 1], not binarised) with 8, 12, 16 and 20 hidden units, each evaluated on the test split
# by exact enumeration of the hidden layer and by AIS (100 runs, the default 14,501 temperatures) from the training
# split's Gaussian base; then one 784 x 500 model each on mnist's and fashion-mnist's pixels (20 epochs, lr 0.0001, batch 100), AIS and
# the test split.
# About 3 minutes on 2 cores.
#   scripts/study_gaussian_rbm.sh [OUT_DIR]   (default docs/gaussian-rbm)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ONSAGER:-$here/build/onsager}"
out="${1:-$here/docs/gaussian-rbm}"
[ -x "$bin" ] || { echo "study_gaussian_rbm: $bin is missing; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for h in 8 12 16 20; do
  "$bin" rbm train --data digits --visible gaussian --hidden "$h" --epochs 30 --batch 20 --lr 0.001 --seed 1 --quiet \
    --out "$work/digits_$h.safetensors" --json "$out/digits_${h}_train.json" >/dev/null
  "$bin" rbm eval "$work/digits_$h.safetensors" --exact --ais-runs 100 --quiet --json "$out/digits_${h}_eval.json" >/dev/null
done
for data in mnist fashion-mnist; do
  "$bin" rbm train --data "$data" --visible gaussian --hidden 500 --epochs 20 --batch 100 --seed 1 --quiet \
    --out "$work/${data}_500.safetensors" --json "$out/${data}_500_train.json" >/dev/null
  "$bin" rbm eval "$work/${data}_500.safetensors" --ais-runs 100 --quiet --json "$out/${data}_500_eval.json" >/dev/null
  "$bin" rbm sample "$work/${data}_500.safetensors" --n 64 --steps 1000 --png "$out/${data}_500_samples.png" --quiet >/dev/null
  "$bin" rbm filters "$work/${data}_500.safetensors" --n 64 --png "$out/${data}_500_filters.png" >/dev/null
done
/usr/bin/python3 - "$out" <<'PYEOF'
import json, sys, os
out = sys.argv[1]
print("| hidden | exact log Z | AIS log Z | AIS interval | ESS | exact - AIS | test log-density (exact) | AIS s |")
print("|---|---|---|---|---|---|---|---|")
for h in (8, 12, 16, 20):
    e = json.load(open(os.path.join(out, f"digits_{h}_eval.json")))
    z, d = e["log_z"], e["details"]["ais"]
    print(f"| {h} | {z['exact']:.3f} | {z['ais']:.3f} | [{d['log_z_lo']:.3f}, {d['log_z_hi']:.3f}] | {d['ess']:.1f} | "
          f"{z['exact'] - z['ais']:+.3f} | {e['avg_log_likelihood']['exact']:.2f} | {d['seconds']:.1f} |")
for data in ("mnist", "fashion-mnist"):
    e = json.load(open(os.path.join(out, f"{data}_500_eval.json")))
    t = json.load(open(os.path.join(out, f"{data}_500_train.json")))
    d = e["details"]["ais"]
    end = lambda x: "unbounded" if x is None else f"{x:.2f}"
    print(f"\n{data} 784 x 500 ({t['data']['samples']} rows): AIS log Z {e['log_z']['ais']:.2f} in "
          f"[{end(d['log_z_lo'])}, {end(d['log_z_hi'])}], ESS {d['ess']:.1f}, "
          f"test log-density {e['avg_log_likelihood']['ais']:.2f} nats per row, {d['seconds']:.1f} s")
PYEOF
