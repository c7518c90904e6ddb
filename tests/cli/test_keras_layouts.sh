#!/usr/bin/env bash
# One Keras layout table for both readers: every layer class onsager knows, written as a Keras HDF5 file and as a
# TensorFlow.js layers model with the same weights (tests/cli/keras_layouts.py), must come out of `onsager
# convert` in PyTorch's layout, equal to NumPy's own move of the weights, with the same shapes and classes from
# both readers (`onsager inspect --json`).
#   tests/cli/test_keras_layouts.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

if ! "$py" -c "import h5py" 2>/dev/null; then echo "FAIL /usr/bin/python3 has no h5py (scripts/setup.sh installs python3-h5py)"; exit 1; fi
"$py" "$here/keras_layouts.py" "$tmp/k" || { echo "FAIL writing the files"; exit 1; }

for kind in h5 tfjs; do
  src="$tmp/k/model.h5"; [ "$kind" = tfjs ] && src="$tmp/k/tfjs/model.json"
  if "$bin" convert "$src" --out "$tmp/$kind.safetensors" >/dev/null 2>"$tmp/err" &&
     "$bin" inspect "$src" --min-evals 1 --json >"$tmp/$kind.json" 2>>"$tmp/err"; then ok "convert and inspect the $kind file"
  else bad "convert/inspect $kind" "$(cat "$tmp/err")"; fi
done

"$py" - "$tmp" <<'PY'
import json, struct, sys
import numpy as np
tmp = sys.argv[1]
cases = json.load(open(f"{tmp}/k/cases.json"))
expect = np.load(f"{tmp}/k/expect.npz")

def safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        dt = {"F32": "<f4", "F64": "<f8"}[t["dtype"]]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).reshape(t["shape"])
    return out

def tensors(path):
    j = json.load(open(path))
    return {t["name"]: t for t in j["tensors"]}

fails = 0
got = {k: safetensors(f"{tmp}/{k}.safetensors") for k in ("h5", "tfjs")}
seen = {k: tensors(f"{tmp}/{k}.json") for k in ("h5", "tfjs")}
for c in cases:
    name, want = c["name"], expect[c["name"]]
    for k in ("h5", "tfjs"):
        a, t = got[k].get(name), seen[k].get(name, {})
        problems = []
        if a is None:
            problems.append("missing from convert")
        elif a.shape != want.shape or not np.array_equal(a, want):
            problems.append(f"values/shape {None if a is None else a.shape} != NumPy's {want.shape}")
        if t.get("op") != c["class"]:
            problems.append(f"op {t.get('op')!r}")
        if list(t.get("shape", [])) != c["shape"]:
            problems.append(f"inspect shape {t.get('shape')}")
        label = f"{c['class']} {name.split('/')[-1]} {c['stored_shape']} -> {c['shape']} ({k})"
        if problems:
            fails += 1
            print(f"FAIL {label}: {'; '.join(problems)}")
        else:
            print(f"ok   {label}")
sys.exit(1 if fails else 0)
PY
rc=$?
[ "$rc" -eq 0 ] && ok "every layer class: both readers equal NumPy's move into PyTorch's layout" || bad "layer classes through both readers"

finish
