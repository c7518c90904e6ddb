#!/usr/bin/env bash
# log Z estimators on cold RBMs against exact enumeration (docs/likelihood.md, "Cold models"): a family of
# 784-visible models with 10-25 hidden units trained for 5 epochs at a high learning rate on fashion-mnist and mnist
# (sigma_max of W in the tens), and a 784 x 500 PCD-1 model on mnist where no exact value exists. For each model one
# `rbm eval --exact` per estimator setting, all in one run: AIS on the hidden layer (marginalised AIS, the default for
# these shapes) and on the visible layer, each with the data base and the mean-field base, BAR over parallel
# tempering, and the rigorous lower bound from the best hidden states. Prints a markdown table.
#
#   bench/bench_cold_models.sh [BUILD_DIR] [OUT_DIR]     (defaults: build, a temporary directory)
# Needs the data sets (scripts/setup.sh). About 15 minutes on a 2-core machine.
set -euo pipefail
build="${1:-build}"
bin="$build/onsager"
py=/usr/bin/python3
out="${2:-}"
if [ -z "$out" ]; then out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"

#     name   data           hidden lr   seed
models=("f10 fashion-mnist 10 0.3 3" "f15 fashion-mnist 15 0.2 4" "f22 fashion-mnist 22 0.2 1" "f25 fashion-mnist 25 0.2 5"
        "m10 mnist 10 0.3 6" "m15 mnist 15 0.2 2" "m20 mnist 20 0.2 7" "m25 mnist 25 0.2 8")
for spec in "${models[@]}"; do
  read -r name data hidden lr seed <<<"$spec"
  [ -f "$out/$name.safetensors" ] ||
    "$bin" rbm train --data "$data" --hidden "$hidden" --epochs 5 --lr "$lr" --seed "$seed" --quiet \
      --out "$out/$name.safetensors" >"$out/$name.train.txt"
  "$bin" rbm eval "$out/$name.safetensors" --exact --ais-runs 100 --quiet --json "$out/$name.default.json" >/dev/null 2>&1
  # rbm eval with no method named (exact enumeration for these shapes), timed end to end.
  t0=$EPOCHREALTIME
  "$bin" rbm eval "$out/$name.safetensors" --quiet --json "$out/$name.plain.json" >/dev/null 2>&1
  echo "$t0 $EPOCHREALTIME" >"$out/$name.plain.seconds"
  "$bin" rbm eval "$out/$name.safetensors" --ais-layer visible --no-ais-check --quiet \
    --json "$out/$name.visible.json" >/dev/null 2>&1
  "$bin" rbm eval "$out/$name.safetensors" --ais-base mean-field --no-ais-check --quiet \
    --json "$out/$name.mf.json" >/dev/null 2>&1
  "$bin" rbm eval "$out/$name.safetensors" --ais-layer visible --ais-base mean-field --no-ais-check --quiet \
    --json "$out/$name.visible-mf.json" >/dev/null 2>&1
done
[ -f "$out/m500.safetensors" ] ||
  "$bin" rbm train --data mnist --hidden 500 --epochs 10 --lr 0.05 --seed 1 --quiet --out "$out/m500.safetensors" \
    >"$out/m500.train.txt"
"$bin" rbm eval "$out/m500.safetensors" --quiet --json "$out/m500.default.json" >/dev/null 2>&1
"$bin" rbm eval "$out/m500.safetensors" --ais-layer visible --quiet --json "$out/m500.visible.json" >/dev/null 2>&1

"$py" - "$out" <<'PYEOF'
import json, re, sys
out = sys.argv[1]
def load(name, kind):
    return json.load(open(f"{out}/{name}.{kind}.json"))
def sigma(name):
    m = re.search(r"sigma_max ([0-9.]+)", open(f"{out}/{name}.train.txt").read())
    return float(m.group(1))
def ais(d):
    z = d["log_z"]; e = d["details"]["ais"]
    err = "" if z["ais_err"] is None else f" ± {z['ais_err']:.2f}"
    return z["ais"], f"{z['ais']:.2f}{err} (ESS {e['ess']:.1f}, {e['seconds']:.1f} s)"
print("| model | σ_max | exact | `rbm eval` (no method named) | lower bound | AIS hidden, data | AIS visible, data "
      "| AIS hidden, mean-field | AIS visible, mean-field | BAR | verdict |")
print("| --- | ---: | ---: | --- | ---: | --- | --- | --- | --- | --- | --- |")
names = ["f10", "f15", "f22", "f25", "m10", "m15", "m20", "m25"]
for n in names:
    d = load(n, "default"); z = d["log_z"]; ex = z["exact"]
    cells = []
    for kind in ["default", "visible", "mf", "visible-mf"]:
        v, s = ais(load(n, kind))
        cells.append(f"{s}, {v - ex:+.2f}")
    b = d["details"]["bar"]
    bar = f"{z['bar']:.2f} ± {z['bar_err']:.2f} ({b['seconds']:.1f} s), {z['bar'] - ex:+.2f}"
    p = load(n, "plain")["log_z"]
    method = "exact" if p["exact"] is not None else "AIS"
    plain = (f"{method} {p['exact'] if p['exact'] is not None else p['ais']:.2f} "
             f"({(lambda a, b: b - a)(*map(float, open(f'{out}/{n}.plain.seconds').read().split())):.1f} s)")
    print(f"| {n} | {sigma(n):.1f} | {ex:.2f} | {plain} | {z['lower_bound']:.2f} ({z['lower_bound'] - ex:+.3f}) | "
          + " | ".join(cells) + f" | {bar} | {z['verdict']} |")
print()
print("| 784 x 500 PCD | AIS (hidden layer) | BAR | verdict | AIS (visible layer) | BAR | verdict |")
print("| --- | --- | --- | --- | --- | --- | --- |")
row = []
for kind in ["default", "visible"]:
    d = load("m500", kind); z = d["log_z"]
    _, s = ais(d)
    row += [s, f"{z['bar']:.2f} ± {z['bar_err']:.2f} ({d['details']['bar']['seconds']:.1f} s)", z["verdict"]]
print(f"| m500 (σ_max {sigma('m500'):.1f}) | " + " | ".join(row) + " |")
PYEOF
