#!/usr/bin/env bash
# The rigorous bracket on log Z (rbm eval --bracket, docs/likelihood.md "A rigorous bracket") on cold RBMs, side by
# side with exact enumeration where it is possible and with AIS (the smaller layer annealed, the bound's states summed
# exactly, no BAR check) everywhere, in one run: 784-visible models with 22 to 40 hidden units trained for 5 epochs
# at lr 0.2 on fashion-mnist (f) and mnist (m), as bench/bench_cold_models.sh trains them, and `rbm eval` with no
# method named timed end to end. Prints a markdown table.
#
#   bench/bench_bracket.sh [BUILD_DIR] [OUT_DIR]     (defaults: build, a temporary directory)
# Needs the data sets (scripts/setup.sh). About 15 minutes on a 2-core machine.
set -euo pipefail
build="${1:-build}"
bin="$build/onsager"
py=/usr/bin/python3
out="${2:-}"
if [ -z "$out" ]; then out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"
#     name   data           hidden lr   seed
models=("f22 fashion-mnist 22 0.2 1" "f25 fashion-mnist 25 0.2 5" "m25 mnist 25 0.2 8" "f30 fashion-mnist 30 0.2 5"
        "m30 mnist 30 0.2 8" "f35 fashion-mnist 35 0.2 5" "f40 fashion-mnist 40 0.2 5" "m40 mnist 40 0.2 8")
for spec in "${models[@]}"; do
  read -r name data hidden lr seed <<<"$spec"
  [ -f "$out/$name.safetensors" ] ||
    "$bin" rbm train --data "$data" --hidden "$hidden" --epochs 5 --lr "$lr" --seed "$seed" --quiet \
      --out "$out/$name.safetensors" >"$out/$name.train.txt"
  if [ "$hidden" -le 25 ]; then
    "$bin" rbm eval "$out/$name.safetensors" --exact --quiet --json "$out/$name.exact.json" >/dev/null 2>&1
  fi
  "$bin" rbm eval "$out/$name.safetensors" --bracket --quiet --json "$out/$name.bracket.json" >/dev/null 2>&1
  "$bin" rbm eval "$out/$name.safetensors" --ais-runs 100 --no-ais-check --quiet \
    --json "$out/$name.ais.json" >/dev/null 2>&1
  t0=$EPOCHREALTIME
  "$bin" rbm eval "$out/$name.safetensors" --quiet --json "$out/$name.plain.json" >/dev/null 2>&1
  echo "$t0 $EPOCHREALTIME" >"$out/$name.plain.seconds"
done
"$py" - "$out" <<'PYEOF'
import json, os, re, sys
out = sys.argv[1]
def load(name, kind):
    path = f"{out}/{name}.{kind}.json"
    return json.load(open(path)) if os.path.exists(path) else None
def sigma(name):
    return float(re.search(r"sigma_max ([0-9.]+)", open(f"{out}/{name}.train.txt").read()).group(1))
print("| model | σ_max | exact (s) | bracket [lo, hi] (nodes, s) | lower bound | AIS (ESS, s) | `rbm eval` (no method named) |")
print("| --- | ---: | --- | --- | ---: | --- | --- |")
for name in ["f22", "f25", "m25", "f30", "m30", "f35", "f40", "m40"]:
    ex, br, ai, pl = (load(name, k) for k in ("exact", "bracket", "ais", "plain"))
    exact = "-" if ex is None else f"{ex['log_z']['exact']:.3f}"
    z, b = br["log_z"], br["details"]["bracket"]
    closed = "" if b["converged"] else ", not closed"
    bracket = f"[{z['bracket_lo']:.3f}, {z['bracket_hi']:.3f}] ({b['nodes']:,}{closed}, {b['seconds']:.1f} s)"
    za, a = ai["log_z"], ai["details"]["ais"]
    hi = "?" if za["ais_hi"] is None else f"{za['ais_hi']:.3f}"
    lo = "?" if za["ais_lo"] is None else f"{za['ais_lo']:.3f}"
    aisr = f"{za['ais']:.3f} in [{lo}, {hi}] (ESS {a['ess']:.1f}, {a['seconds']:.1f} s)"
    bound = "-" if za["lower_bound"] is None else f"{za['lower_bound']:.3f}"
    t0, t1 = map(float, open(f"{out}/{name}.plain.seconds").read().split())
    zp = pl["log_z"]
    if zp["exact"] is not None: what = f"exact {zp['exact']:.3f}"
    elif zp["ais"] is None: what = f"bracket {zp['bracket']:.3f} ± {zp['bracket_err']:.3f}"
    else: what = f"bracket open, AIS {zp['ais']:.3f}, verdict {zp['verdict']}"
    print(f"| {name} | {sigma(name):.1f} | {exact} | {bracket} | {bound} | {aisr} | {what} ({t1 - t0:.1f} s) |")
PYEOF
