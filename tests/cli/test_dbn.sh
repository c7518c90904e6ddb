#!/usr/bin/env bash
# onsager dbn train / eval / features / sample end to end on digits: the file's tensors (layers.L.*), analyze
# reading it, greedy layer 0 equal to rbm train's model, the bound's JSON, features and classification, samples;
# bad flags and bad files give exit 1, one line, and no output.
#   tests/cli/test_dbn.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

if ! "$bin" data info digits >/dev/null 2>&1; then
  missing "dbn commands" "digits (scripts/setup.sh)"
  finish
  exit $?
fi
d="$tmp/d.safetensors"
common=(--data digits --layers 24,12 --epochs 15 --lr 0.1 --batch 20 --seed 2 --quiet)
if "$bin" dbn train "${common[@]}" --out "$d" --json "$tmp/t.json" >/dev/null 2>"$tmp/err"; then
  ok "dbn train on digits"
  out=$("$py" "$here/read_safetensors.py" "$d" --check layers.0.weight=24,64 layers.0.visible_bias=64 \
        layers.0.hidden_bias=24 layers.1.weight=12,24 layers.1.visible_bias=24 layers.1.hidden_bias=12 2>&1) \
    && ok "the file holds layers.L.weight/visible_bias/hidden_bias" || bad "dbn file tensors" "$out"
  [ "$(json_get "$tmp/t.json" "['widths']")" = "[64, 24, 12]" ] && ok "dbn train --json widths" || bad "dbn train json"
else
  bad "dbn train" "$(cat "$tmp/err")"
fi
"$bin" analyze "$d" --json >"$tmp/a.json" 2>/dev/null && [ "$(json_get "$tmp/a.json" "['summary']['num_layers']")" = 2 ] \
  && ok "analyze reads the DBN's two weight matrices" || bad "analyze of a DBN file"
# Layer 0 is the RBM rbm train gives with the same settings and seed.
"$bin" rbm train --data digits --hidden 24 --epochs 15 --lr 0.1 --batch 20 --seed 2 --monitor-samples 1000 --quiet \
  --out "$tmp/r.safetensors" >/dev/null 2>&1
same=$(PYTHONPATH="$here" "$py" -c "
import sys
from read_safetensors import load
a = {n: x for n, _, _, x in load(sys.argv[1])[0]}
b = {n: x for n, _, _, x in load(sys.argv[2])[0]}
print((a['layers.0.weight'] == b['weight']).all() and (a['layers.0.hidden_bias'] == b['hidden_bias']).all())
" "$d" "$tmp/r.safetensors" 2>&1)
[ "$same" = True ] && ok "layer 0 equals rbm train's model with the same settings" || bad "layer 0 vs rbm train" "$same"
# Resuming a finished run changes nothing.
cp "$d" "$tmp/again.safetensors"
"$bin" dbn train --resume "$tmp/again.safetensors" --out "$tmp/again.safetensors" --quiet >/dev/null 2>"$tmp/err"
[ "$("$py" "$here/read_safetensors.py" --digest "$d")" = "$("$py" "$here/read_safetensors.py" --digest "$tmp/again.safetensors")" ] \
  && ok "--resume of a finished run leaves the same model" || bad "resume" "$(cat "$tmp/err")"

if "$bin" dbn eval --model "$d" --samples 20 --ais-runs 20 --ais-betas 2000 --quiet --json >"$tmp/e.json" 2>"$tmp/err"; then
  check=$("$py" - "$tmp/e.json" <<'PYEOF'
import json, math, sys
j = json.load(open(sys.argv[1]))
p = []
for k in ("lower_bound", "lower_bound_err", "rbm_log_likelihood"):
    if not isinstance(j.get(k), float) or not math.isfinite(j[k]): p.append(f"{k} {j.get(k)}")
if j["log_z"]["layer1_method"] != "exact": p.append("layer 1 (12 hidden units) should be summed exactly")
if not -64 * math.log(2) - 1 < j["lower_bound"] < 0: p.append(f"bound {j['lower_bound']}")
print("; ".join(p) or "ok")
PYEOF
)
  [ "$check" = ok ] && ok "dbn eval --json: lower_bound, lower_bound_err, rbm_log_likelihood" || bad "dbn eval json" "$check"
else
  bad "dbn eval" "$(cat "$tmp/err")"
fi
if "$bin" dbn features --model "$d" --classify --out "$tmp/f.npy" --json >"$tmp/f.json" 2>"$tmp/err"; then
  acc=$(json_get "$tmp/f.json" "['classify']['test_accuracy']")
  shape=$("$py" -c "import numpy, sys; print(numpy.load(sys.argv[1]).shape)" "$tmp/f.npy")
  "$py" -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.5 and sys.argv[2] == '(360, 12)' else 1)" "$acc" "$shape" \
    && ok "dbn features: 360 x 12 top-layer features, softmax test accuracy $acc" || bad "dbn features" "$acc $shape"
else
  bad "dbn features" "$(cat "$tmp/err")"
fi
"$bin" dbn sample --model "$d" --n 16 --steps 50 --png "$tmp/s.png" --quiet 2>"$tmp/err" && [ -s "$tmp/s.png" ] \
  && ok "dbn sample writes a PNG" || bad "dbn sample" "$(cat "$tmp/err")"

if "$bin" dbn finetune --model "$d" --epochs 3 --quiet --out "$tmp/ft.safetensors" --json >"$tmp/ft.json" 2>"$tmp/err"; then
  check=$("$py" - "$tmp/ft.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
p = []
if j["arch"] != [64, 24, 12, 10]: p.append(f"arch {j['arch']}")
for k in ("pretrained", "random_init"):
    if not 0 <= j[k]["test_accuracy"] <= 1 or j[k]["epochs"] != 3: p.append(f"{k} {j[k]}")
print("; ".join(p) or "ok")
PYEOF
)
  [ "$check" = ok ] && ok "dbn finetune: pretrained and random-init scores" || bad "dbn finetune json" "$check"
  acc=$("$bin" mlp eval --model "$tmp/ft.safetensors" --json 2>/dev/null | "$py" -c "import json,sys; print(json.load(sys.stdin)['accuracy'])")
  [ "$acc" = "$(json_get "$tmp/ft.json" "['pretrained']['test_accuracy']")" ] \
    && ok "mlp eval scores the fine-tuned file as finetune reported ($acc)" || bad "fine-tuned file" "$acc"
else
  bad "dbn finetune" "$(cat "$tmp/err")"
fi

o="$tmp/bad.safetensors"
expect_error_file_matching "zero width" "$o" "--layers" "$bin" dbn train --data digits --layers 24,0 --out "$o"
expect_error_file_matching "method list length" "$o" "--method" "$bin" dbn train --data digits --layers 24,12 --method cd,pcd,pcd --out "$o"
expect_error_file_matching "propagate" "$o" "propagat" "$bin" dbn train --data digits --layers 24 --propagate mean --out "$o"
expect_error_file_matching "resume with --lr" "" "--lr" "$bin" dbn train --resume "$d" --lr 1 --out "$tmp/x.safetensors"
expect_error_file_matching "finetune 0 epochs" "$tmp/ft0.safetensors" "--epochs" "$bin" dbn finetune --model "$d" --epochs 0 --out "$tmp/ft0.safetensors"
expect_error_file_matching "eval of an RBM" "" "not an onsager DBN" "$bin" dbn eval --model "$tmp/r.safetensors"
"$bin" dbn train --data digits --layers 8 --epochs 1 --quiet --out "$tmp/one.safetensors" >/dev/null 2>&1
expect_error_file_matching "eval of one layer" "" "two layers" "$bin" dbn eval --model "$tmp/one.safetensors"
# A DBN file whose second layer does not fit the first.
"$py" - "$d" "$tmp/broken.safetensors" <<'PYEOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
e = h["layers.1.weight"]
# Claim 6 x 48 instead of 12 x 24 (same bytes): layer 1's visible side no longer matches layer 0's 24 hidden units.
e["shape"] = [6, 48]
body = json.dumps(h).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(body)) + body + raw[8 + n:])
PYEOF
expect_error_file_matching "inconsistent layer shapes" "" "layers.1" "$bin" dbn features --model "$tmp/broken.safetensors"

finish
