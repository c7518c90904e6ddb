#!/usr/bin/env bash
# onsager rbm train --visible gaussian end to end on digits (pixel values, unbinarised): the file's log_var tensor and
# metadata, rbm info / eval (exact and AIS, agreeing within AIS's error bar) / sample / filters / features, analyze
# reading the weights, resume; a Gaussian model where only Bernoulli ones are handled, and bad flags: exit 1 and one
# line.
#   tests/cli/test_gaussian_rbm.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

if ! "$bin" data info digits >/dev/null 2>&1; then
  missing "Gaussian RBM commands" "digits (scripts/setup.sh)"
  expect_error_matching "rbm eval --bar-ladders of a Gaussian model" "Bernoulli" \
  "$bin" rbm eval "$g" --bar-ladders 5 --quiet
finish
  exit $?
fi
g="$tmp/g.safetensors"
common=(--data digits --visible gaussian --hidden 12 --batch 20 --seed 3 --quiet)
if "$bin" rbm train "${common[@]}" --epochs 10 --out "$g" --json "$tmp/t.json" >/dev/null 2>"$tmp/err"; then
  ok "rbm train --visible gaussian on digits"
  out=$("$py" "$here/read_safetensors.py" "$g" --check weight=12,64 visible_bias=64 hidden_bias=12 visible_log_var=64 2>&1) \
    && ok "the file holds weight, visible_bias, hidden_bias and visible_log_var" || bad "Gaussian file tensors" "$out"
  [ "$(json_get "$tmp/t.json" "['settings']['visible']")" = gaussian ] && ok "the settings record visible gaussian" \
    || bad "settings visible" "$(cat "$tmp/t.json")"
  [ "$(json_get "$tmp/t.json" "['data']['binarize']")" = none ] && ok "--visible gaussian trains on unbinarised values" \
    || bad "binarize default" "$(json_get "$tmp/t.json" "['data']")"
  [ "$(json_get "$tmp/t.json" "['settings']['lr']")" = 0.0001 ] && ok "--visible gaussian's default learning rate 0.0001" \
    || bad "gaussian default lr" "$(json_get "$tmp/t.json" "['settings']['lr']")"
else
  bad "rbm train --visible gaussian" "$(cat "$tmp/err")"
fi
"$bin" rbm info "$g" --json >"$tmp/i.json" 2>/dev/null && [ "$(json_get "$tmp/i.json" "['visible_type']")" = gaussian ] \
  && ok "rbm info: visible_type gaussian" || bad "rbm info of a Gaussian model"
# AIS on either layer: the hidden one by default (the smaller; the Gaussians integrated out), the visible one from
# the fitted Gaussian base when asked.
for layer in automatic visible; do
  want=hidden; [ "$layer" = visible ] && want=visible
  if "$bin" rbm eval "$g" --exact --ais-runs 50 --ais-betas 3000 --ais-layer "$layer" --quiet --json >"$tmp/e.json" 2>"$tmp/err"; then
    check=$("$py" - "$tmp/e.json" "$want" <<'PYEOF'
import json, math, sys
j = json.load(open(sys.argv[1]))
z, d = j["log_z"], j["details"]["ais"]
p = []
if d["layer"] != sys.argv[2]: p.append(f"AIS annealed the {d['layer']} layer, not the {sys.argv[2]} one")
if not (d["log_z_lo"] <= z["exact"] <= d["log_z_hi"]): p.append(f"exact {z['exact']} outside AIS [{d['log_z_lo']}, {d['log_z_hi']}]")
if abs(z["ais"] - z["exact"]) > 0.2: p.append(f"AIS {z['ais']} vs exact {z['exact']}")
if z.get("bar") is not None: p.append("a BAR check on a Gaussian model")
if j["pseudo_likelihood"] is not None: p.append("a pseudo-likelihood for real values")
ll = j["avg_log_likelihood"]["exact"]
if not (isinstance(ll, float) and math.isfinite(ll)): p.append(f"log-likelihood {ll}")
print("; ".join(p) or "ok")
PYEOF
)
    [ "$check" = ok ] && ok "rbm eval --ais-layer $layer: AIS on the $want layer of a Gaussian model covers exact log Z"       || bad "rbm eval --ais-layer $layer of a Gaussian model" "$check"
  else
    bad "rbm eval --exact --ais-layer $layer of a Gaussian model" "$(cat "$tmp/err")"
  fi
done
"$bin" rbm sample "$g" --n 16 --steps 50 --png "$tmp/s.png" --quiet >/dev/null 2>"$tmp/err" && [ -s "$tmp/s.png" ] \
  && ok "rbm sample of a Gaussian model" || bad "rbm sample" "$(cat "$tmp/err")"
"$bin" rbm filters "$g" --png "$tmp/f.png" >/dev/null 2>"$tmp/err" && [ -s "$tmp/f.png" ] \
  && ok "rbm filters of a Gaussian model" || bad "rbm filters" "$(cat "$tmp/err")"
"$bin" rbm features "$g" --classify --json >"$tmp/feat.json" 2>"$tmp/err" \
  && "$py" -c "import json,sys; a=json.load(open(sys.argv[1]))['classify']['test_accuracy']; sys.exit(0 if a > 0.5 else 1)" "$tmp/feat.json" \
  && ok "rbm features --classify of a Gaussian model (test accuracy > 0.5, chance 0.1)" || bad "rbm features" "$(cat "$tmp/err" "$tmp/feat.json")"
"$bin" analyze "$g" --json >"$tmp/a.json" 2>/dev/null && [ "$(json_get "$tmp/a.json" "['summary']['num_layers']")" = 1 ] \
  && ok "analyze reads the weight matrix (log_var skipped as 1-D)" || bad "analyze of a Gaussian model"
# Resume: 5 + 5 epochs equal 10.
"$bin" rbm train "${common[@]}" --epochs 5 --out "$tmp/h.safetensors" >/dev/null 2>&1
"$bin" rbm train --resume "$tmp/h.safetensors" --epochs 10 --out "$tmp/h.safetensors" --quiet >/dev/null 2>"$tmp/err"
[ "$("$py" "$here/read_safetensors.py" --digest "$g")" = "$("$py" "$here/read_safetensors.py" --digest "$tmp/h.safetensors")" ] \
  && ok "a resumed Gaussian run equals the uninterrupted one" || bad "Gaussian resume" "$(cat "$tmp/err")"

expect_error_file_matching "tap2 with Gaussian units" "$tmp/x.safetensors" "cd or pcd" \
  "$bin" rbm train "${common[@]}" --method tap2 --out "$tmp/x.safetensors"
expect_error_file_matching "--min-variance without --visible gaussian" "$tmp/x.safetensors" "min-variance" \
  "$bin" rbm train --data digits --min-variance 0.1 --out "$tmp/x.safetensors"
expect_error_file_matching "--visible nonsense" "$tmp/x.safetensors" "visible" \
  "$bin" rbm train --data digits --visible poisson --out "$tmp/x.safetensors"
expect_error_file_matching "--min-variance 0" "$tmp/x.safetensors" "min-variance" \
  "$bin" rbm train "${common[@]}" --min-variance 0 --out "$tmp/x.safetensors"
expect_error_matching "rbm eval --tap of a Gaussian model" "Bernoulli" "$bin" rbm eval "$g" --tap --quiet
expect_error_matching "rbm eval --ais-base mean-field of a Gaussian model" "mean-field" \
  "$bin" rbm eval "$g" --ais-base mean-field --quiet
expect_error_matching "rbm eval --bar-ladders of a Gaussian model" "Bernoulli" \
  "$bin" rbm eval "$g" --bar-ladders 5 --quiet
finish
