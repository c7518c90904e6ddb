#!/usr/bin/env bash
# onsager data ising: the .npy it writes (shape, 0/1 spins, readable by the data readers), its energy against
# Onsager's, the same bytes for any --threads, and bad flags (exit 1, one line, no file).
#   tests/cli/test_ising.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

if "$bin" data ising --L 32 --T 3.5 --samples 300 --sweeps-between 2 --seed 4 --threads 1 --quiet \
     --out "$tmp/a.npy" --json "$tmp/a.json" >/dev/null 2>"$tmp/err"; then
  check=$("$py" - "$tmp/a.npy" "$tmp/a.json" <<'PYEOF'
import json, sys
import numpy as np
x = np.load(sys.argv[1])
j = json.load(open(sys.argv[2]))
p = []
if x.shape != (300, 32, 32) or x.dtype != np.float32: p.append(f"shape {x.shape} {x.dtype}")
if not set(np.unique(x)) <= {0.0, 1.0}: p.append("spins not 0/1")
s = 2 * x.astype(np.float64) - 1
e = -(s * (np.roll(s, 1, 1) + np.roll(s, 1, 2))).sum(axis=(1, 2)) / 1024  # NumPy's own energy per spin
if abs(e.mean() - j["mean_energy"]) > 1e-9: p.append(f"energy {e.mean()} vs {j['mean_energy']}")
if abs(j["mean_energy"] - j["exact_energy"]) > 0.01 * abs(j["exact_energy"]): p.append(f"energy {j['mean_energy']} vs exact {j['exact_energy']}")
print("; ".join(p) or "ok")
PYEOF
)
  [ "$check" = ok ] && ok "data ising writes (samples, L, L) 0/1 spins whose energy is Onsager's at T = 3.5" || bad "data ising output" "$check"
else
  bad "data ising" "$(cat "$tmp/err")"
fi
"$bin" data ising --L 32 --T 3.5 --samples 300 --sweeps-between 2 --seed 4 --threads 2 --quiet --out "$tmp/b.npy" >/dev/null 2>&1
cmp -s "$tmp/a.npy" "$tmp/b.npy" && ok "the same file for --threads 1 and 2" || bad "data ising depends on --threads"
"$bin" data info "$tmp/a.npy" --json >"$tmp/info.json" 2>/dev/null && [ "$(json_get "$tmp/info.json" "['image_shape']")" = "[32, 32]" ] \
  && ok "data info reads it as 32 x 32 images" || bad "data info of the Ising file"

o="$tmp/bad.npy"
expect_error_file_matching "L 1" "$o" "--L" "$bin" data ising --L 1 --out "$o"
expect_error_file_matching "T 0" "$o" "--T" "$bin" data ising --T 0 --out "$o"
expect_error_file_matching "samples 0" "$o" "--samples" "$bin" data ising --samples 0 --out "$o"
expect_error_file_matching "sweeps 0" "$o" "--sweeps-between" "$bin" data ising --sweeps-between 0 --out "$o"
expect_error_file_matching "chains 0" "$o" "--chains" "$bin" data ising --chains 0 --out "$o"
expect_error_file_matching "too large" "$o" "4e9" "$bin" data ising --L 4096 --samples 1000 --out "$o"
expect_error_file_matching "no --out" "" "--out" "$bin" data ising --L 8

finish
