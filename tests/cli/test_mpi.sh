#!/usr/bin/env bash
# `mpirun -n R onsager analyze`: the ranks share the layers and rank 0 writes what one process writes (the table,
# the CSV byte for byte, the JSON apart from its "ranks" field), at 2 and 4 ranks on this one machine; a failure
# on any rank ends every rank with one message and no output; --resume is refused across ranks.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# inspect --ranks: the split analyze would make, in any build. Four equal layers over two ranks: half each, 2x;
# over three: two ranks of one layer and one of two (a tensor is never split), 4/2 = 2x.
"$py" -c "import numpy as np; np.savez('$tmp/eq.npz', **{f'w{i}': np.ones((60, 40), np.float32) for i in range(4)})"
if "$bin" inspect "$tmp/eq.npz" --ranks 2 --json "$tmp/i2.json" >/dev/null 2>"$tmp/err" &&
   "$bin" inspect "$tmp/eq.npz" --ranks 3 --json "$tmp/i3.json" >/dev/null 2>>"$tmp/err" &&
   "$bin" inspect "$tmp/eq.npz" --ranks 3 >"$tmp/i3.txt" 2>>"$tmp/err" &&
   "$py" - "$tmp/i2.json" "$tmp/i3.json" <<'EOF'
import json, sys
r2, r3 = (json.load(open(p))["ranks"] for p in sys.argv[1:3])
assert r2 == {"count": 2, "shares": [0.5, 0.5], "layers": [2, 2], "speedup": 2.0}, r2
assert r3["count"] == 3 and sorted(r3["layers"]) == [1, 1, 2] and abs(r3["speedup"] - 2.0) < 1e-12, r3
assert abs(sum(r3["shares"]) - 1) < 1e-12
EOF
   grep -q "expected speed-up 2.00x" "$tmp/i3.txt"
then ok "inspect --ranks: equal layers split evenly, a tensor never split, the predicted speed-up"
else bad "inspect --ranks" "$(cat "$tmp/err" "$tmp/i3.txt" | tail -3)"; fi
expect_error_matching "inspect --ranks 0" "--ranks must be between 1 and 1000000 (got 0)" \
  "$bin" inspect "$tmp/eq.npz" --ranks 0

if ! command -v mpirun >/dev/null 2>&1; then
  missing "analyze under mpirun" "mpirun (openmpi-bin)"; finish; exit
fi
if ! "$bin" --version | grep -q '^MPI: [^n]'; then
  missing "analyze under mpirun" "an onsager built with MPI (libopenmpi-dev); --version says: $("$bin" --version | tail -1)"
  finish; exit
fi
# -q: no help text from mpirun when a rank exits 1; more ranks than cores; root (CI's containers) allowed.
launch=(mpirun -q --oversubscribe)
# Containers often forbid the cross-memory attach that shared-memory transport uses for large messages.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
[ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)

# Dense layers of several sizes (some read in blocks from safetensors), a conv whose slices stay on one rank,
# an all-zero layer, an embedding.
"$py" - "$tmp" <<'EOF'
import sys
import numpy as np
rng = np.random.default_rng(3)
d = {}
for i, rows in enumerate([300, 90, 220, 140, 400, 60]):
    d[f"l{i}.weight"] = rng.standard_t(3, size=(rows, 120)).astype(np.float32)
d["conv.weight"] = rng.standard_t(4, size=(48, 24, 3, 3)).astype(np.float32)
d["zero.weight"] = np.zeros((80, 40), np.float32)
d["emb.weight"] = rng.standard_normal((500, 32)).astype(np.float32)
np.savez(sys.argv[1] + "/m.npz", **d)
d["l3.weight"][7, 7] = np.nan
np.savez(sys.argv[1] + "/nan.npz", **d)
EOF
"$bin" convert "$tmp/m.npz" --out "$tmp/m.safetensors" --quiet >/dev/null
sum="$(md5sum <"$tmp/m.npz")"

same_report() {  # NAME ARGS...: one process, then 2 and 4 ranks
  local name="$1"; shift
  if ! "$bin" analyze "$@" --quiet --json "$tmp/one.json" --csv "$tmp/one.csv" >"$tmp/one.txt" 2>"$tmp/err"; then
    bad "$name: one process" "$(cat "$tmp/err")"; return
  fi
  local n
  for n in 2 4; do
    rm -f "$tmp/r.json" "$tmp/r.csv"
    if ! timeout 300 "${launch[@]}" -n $n "$bin" analyze "$@" --quiet --json "$tmp/r.json" --csv "$tmp/r.csv" \
        >"$tmp/r.txt" 2>"$tmp/err"; then
      bad "$name: $n ranks" "$(cat "$tmp/err")"; continue
    fi
    if cmp -s "$tmp/one.csv" "$tmp/r.csv" && cmp -s "$tmp/one.txt" "$tmp/r.txt" &&
       "$py" - "$tmp/one.json" "$tmp/r.json" $n <<'EOF'
import json, sys
one, shared = (json.load(open(p)) for p in sys.argv[1:3])
assert "ranks" not in one, one.get("ranks")
assert shared.pop("ranks") == int(sys.argv[3])
assert shared == one
EOF
    then ok "$name: $n ranks give the one-process table, CSV and JSON (+ ranks: $n)"
    else bad "$name: $n ranks differ from one process" "$(diff "$tmp/one.txt" "$tmp/r.txt" | head -5)"; fi
  done
}

same_report "npz, conv slices, --randomize" "$tmp/m.npz" --per-slice --min-evals 5 --randomize
same_report "safetensors, pooled conv, --precision double" "$tmp/m.safetensors" --precision double

# JSON to stdout comes from rank 0 alone; one rank still reports "ranks".
if timeout 120 "${launch[@]}" -n 2 "$bin" analyze "$tmp/m.npz" --json >"$tmp/s.json" 2>"$tmp/err" &&
   [ "$(json_get "$tmp/s.json" "['ranks']")" = 2 ] &&
   timeout 120 "${launch[@]}" -n 1 "$bin" analyze "$tmp/m.npz" --json >"$tmp/s1.json" 2>>"$tmp/err" &&
   [ "$(json_get "$tmp/s1.json" "['ranks']")" = 1 ]
then ok "--json to stdout under mpirun: one document, ranks 2 (and 1 for mpirun -n 1)"
else bad "--json to stdout under mpirun" "$(cat "$tmp/err" | head -3)"; fi

# A layer that fails on the rank that owns it (not rank 0): every rank ends, one line, no output file.
expect_error_file_matching "a layer failing on a rank other than 0 ends every rank" "$tmp/nan.json" "rank [1-3] of 4: .*l3.weight" \
  "${launch[@]}" -n 4 "$bin" analyze "$tmp/nan.npz" --quiet --json "$tmp/nan.json"
expect_error_file_matching "a missing model under mpirun" "$tmp/none.json" "no such file" \
  "${launch[@]}" -n 2 "$bin" analyze "$tmp/none.npz" --quiet --json "$tmp/none.json"
expect_error_file_matching "--resume across ranks is refused" "$tmp/j.jsonl" "--resume works in one process" \
  "${launch[@]}" -n 2 "$bin" analyze "$tmp/m.npz" --quiet --resume "$tmp/j.jsonl"
expect_error_file_matching "an output that is the model, under mpirun" "" "same file as the model" \
  "${launch[@]}" -n 2 "$bin" analyze "$tmp/m.npz" --quiet --csv "$tmp/m.npz"
expect_error_matching "a mistyped flag under mpirun: one line, from rank 0" "not expected: --bogus" \
  "${launch[@]}" -n 3 "$bin" analyze "$tmp/m.npz" --bogus
expect_error_matching "another command under mpirun is refused" "only 'onsager analyze' shares its work" \
  "${launch[@]}" -n 2 "$bin" convert "$tmp/m.npz" --out "$tmp/c.safetensors"
[ "$(md5sum <"$tmp/m.npz")" = "$sum" ] && ok "the model is untouched" || bad "the model was changed"

finish
