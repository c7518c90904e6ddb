#!/usr/bin/env bash
# onsager lab batch-size / random-labels / rbm-temperature on small inputs: each runs in seconds and writes valid
# JSON, CSV and PNGs; bad flags give exit 1, one line and no file.
#   tests/cli/test_lab.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# png_ok FILE: a PNG signature and a non-trivial size.
png_ok() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

if ! "$bin" data info digits >/dev/null 2>&1; then
  missing "lab commands" "digits (scripts/setup.sh)"
  finish
  exit $?
fi
if ! command -v gnuplot >/dev/null 2>&1; then missing "lab figures" "gnuplot (scripts/setup.sh)"; fi

start=$(date +%s)
if timeout 120 "$bin" lab batch-size --data digits --arch 64-32-10 --batch 4,64 --seeds 2 --epochs 3 --quiet \
     --json "$tmp/bs.json" --csv "$tmp/bs.csv" --plots "$tmp/bs" >"$tmp/out" 2>"$tmp/err"; then
  check=$("$py" - "$tmp/bs.json" "$tmp/bs.csv" <<'PYEOF'
import csv, json, sys
j = json.load(open(sys.argv[1]))
p = []
if len(j["runs"]) != 4: p.append(f"{len(j['runs'])} runs")
for r in j["runs"]:
    for k in ("batch", "seed", "epochs", "train_accuracy", "test_accuracy", "layers"):
        if k not in r: p.append(f"run lacks {k}")
    for l in r["layers"]:
        for k in ("name", "alpha", "phase", "mp_softrank", "num_spikes", "stable_rank", "lambda_max"):
            if k not in l: p.append(f"layer lacks {k}")
if sorted({(s["batch"], s["layer"]) for s in j["summary"]}) != [(4, "layers.0.weight"), (4, "layers.1.weight"),
                                                                 (64, "layers.0.weight"), (64, "layers.1.weight")]:
    p.append("summary rows")
for s in j["summary"]:
    if s["alpha"]["n"] != 2: p.append("summary over 2 seeds")
rows = list(csv.DictReader(open(sys.argv[2])))
if len(rows) != 8: p.append(f"{len(rows)} csv rows")
if not any(c["metric"] == "alpha" for c in j["correlations"]): p.append("no correlations")
if len(j.get("plots", [])) != 6: p.append(f"plots {j.get('plots')}")
print("; ".join(p) or "ok")
PYEOF
)
  [ "$check" = ok ] && ok "lab batch-size writes JSON, CSV and figures" || bad "lab batch-size output" "$check"
  for f in alpha spikes mp_softrank accuracy esd_first_layer phases; do
    png_ok "$tmp/bs/$f.png" && ok "batch-size figure $f.png" || bad "batch-size figure $f.png"
  done
else
  bad "lab batch-size" "$(cat "$tmp/err")"
fi

if timeout 120 "$bin" lab random-labels --data digits --arch 64-32-10,64-32-32-10 --fractions 0,1 --subset 300 \
     --epochs 5 --quiet --json "$tmp/rl.json" --csv "$tmp/rl.csv" --plots "$tmp/rl" >"$tmp/out" 2>"$tmp/err"; then
  check=$("$py" - "$tmp/rl.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
p = []
if len(j["runs"]) != 4: p.append(f"{len(j['runs'])} runs")
if sorted({(r["arch"], r["fraction"]) for r in j["runs"]}) != [("64-32-10", 0), ("64-32-10", 1), ("64-32-32-10", 0), ("64-32-32-10", 1)]:
    p.append("runs' arch and fraction")
if j["train_rows"] != 300: p.append(f"train rows {j['train_rows']}")
if len(j.get("plots", [])) != 4: p.append(f"plots {j.get('plots')}")
print("; ".join(p) or "ok")
PYEOF
)
  [ "$check" = ok ] && ok "lab random-labels writes JSON, CSV and figures" || bad "lab random-labels output" "$check"
  for f in accuracy epochs alpha phases; do
    png_ok "$tmp/rl/$f.png" && ok "random-labels figure $f.png" || bad "random-labels figure $f.png"
  done
else
  bad "lab random-labels" "$(cat "$tmp/err")"
fi

if timeout 120 "$bin" lab rbm-temperature --data digits --hidden 16 --epochs 3 --quiet --json "$tmp/t.json" \
     --csv "$tmp/t.csv" --plots "$tmp/t" >"$tmp/out" 2>"$tmp/err"; then
  check=$("$py" - "$tmp/t.json" "$tmp/t.csv" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
p = []
if [s["name"] for s in j["settings"]] != ["none", "l2", "max-norm"]: p.append("settings")
for s in j["settings"]:
    if [e["epoch"] for e in s["epochs"]] != [0, 1, 2, 3]: p.append(f"{s['name']} epochs")
    for e in s["epochs"]:
        if not 0 <= e["saturated"] <= 1 or not 0 <= e["hidden_entropy"] <= 1: p.append("measures out of range")
if len(open(sys.argv[2]).read().splitlines()) != 1 + 3 * 4: p.append("csv rows")
print("; ".join(p) or "ok")
PYEOF
)
  [ "$check" = ok ] && ok "lab rbm-temperature writes JSON, CSV and the figure" || bad "lab rbm-temperature output" "$check"
  png_ok "$tmp/t/rbm_temperature.png" && ok "rbm-temperature figure" || bad "rbm-temperature figure"
else
  bad "lab rbm-temperature" "$(cat "$tmp/err")"
fi
if timeout 120 "$bin" lab ising-rg --L 8 --temperatures 2.0,3.5 --samples 200 --held-out 50 --layers 16,4 --epochs 3 \
     --generated 20 --gibbs-steps 20 --windows 2,4 --quiet --json "$tmp/rg.json" --plots "$tmp/rg" >"$tmp/out" 2>"$tmp/err"; then
  check=$("$py" - "$tmp/rg.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
p = []
if [round(t["temperature"], 3) for t in j["temperatures"]] != [2.0, 3.5]: p.append("temperatures")
for t in j["temperatures"]:
    if len(t["layers"]) != 2: p.append("layers")
    if [l["k"] for l in t["locality"]] != [2, 4]: p.append("windows")
    if len(t["data"]["correlation"]) != 4: p.append("G(r) length")
    if abs(t["data"]["energy"] - t["exact_energy"]) > 0.2: p.append(f"data energy {t['data']['energy']} vs {t['exact_energy']}")
if len(j.get("plots", [])) != 6: p.append(f"plots {j.get('plots')}")
print("; ".join(p) or "ok")
PYEOF
)
  [ "$check" = ok ] && ok "lab ising-rg writes JSON and figures" || bad "lab ising-rg output" "$check"
  for f in correlation locality filters_T2.000 samples_T3.500; do
    png_ok "$tmp/rg/$f.png" && ok "ising-rg figure $f.png" || bad "ising-rg figure $f.png"
  done
else
  bad "lab ising-rg" "$(cat "$tmp/err")"
fi
# --json to stdout with figures: stdout is the JSON alone (gnuplot's messages go to stderr).
if "$bin" lab batch-size --data digits --arch 64-10 --batch 4,8 --seeds 1 --epochs 1 --quiet --plots "$tmp/bs2" --json \
     >"$tmp/stdout.json" 2>"$tmp/err" && "$py" -c "import json,sys; json.load(open(sys.argv[1]))" "$tmp/stdout.json" 2>/dev/null; then
  ok "lab --json on stdout with --plots is valid JSON"
else
  bad "lab --json on stdout with --plots" "$(head -c 300 "$tmp/stdout.json")"
fi
elapsed=$(( $(date +%s) - start ))
[ "$elapsed" -lt 60 ] && ok "the three small experiments ran in ${elapsed} s" || bad "small experiments took ${elapsed} s"

# Bad input: exit 1, one line, nothing written.
j="$tmp/bad.json"
expect_error_file_matching "batch list" "$j" "--batch" "$bin" lab batch-size --data digits --arch 64-10 --batch 4,,8 --json "$j"
expect_error_file_matching "batch zero" "$j" "--batch" "$bin" lab batch-size --data digits --arch 64-10 --batch 0 --json "$j"
expect_error_file_matching "seeds zero" "$j" "--seeds" "$bin" lab batch-size --data digits --arch 64-10 --seeds 0 --json "$j"
expect_error_file_matching "arch mismatch" "$j" "columns" "$bin" lab batch-size --data digits --arch 784-10 --batch 4 --json "$j"
expect_error_file_matching "fraction 2" "$j" "--fractions" "$bin" lab random-labels --data digits --arch 64-10 --fractions 0,2 --json "$j"
expect_error_file_matching "archs differ" "$j" "--arch" "$bin" lab random-labels --data digits --arch 64-10,32-10 --json "$j"
expect_error_file_matching "unknown loss" "$j" "--loss" "$bin" lab batch-size --data digits --arch 64-10 --loss l1 --json "$j"
expect_error_file_matching "temperature max-norm" "$j" "--max-norm" "$bin" lab rbm-temperature --data digits --max-norm 0 --json "$j"
expect_error_file_matching "temperature no held-out" "$j" "--valid-split" "$bin" lab rbm-temperature --data digits --valid-split none --json "$j"
expect_error_file_matching "ising-rg window" "$j" "--windows" "$bin" lab ising-rg --L 8 --windows 9 --json "$j"
expect_error_file_matching "ising-rg temperature" "$j" "--temperatures" "$bin" lab ising-rg --temperatures 2,-1 --json "$j"
printf 'x' >"$tmp/file"
expect_error_matching "plots is a file" "--plots" "$bin" lab batch-size --data digits --arch 64-10 --batch 4 --epochs 1 --plots "$tmp/file"

finish
