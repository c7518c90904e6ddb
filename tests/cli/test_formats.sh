#!/usr/bin/env bash
# The same weights in every format onsager reads (written by each format's own library: safetensors, NumPy .npz,
# torch.save, python3-onnx, a TF.js manifest, h5py in Keras's layout; tests/cli/write_formats.py) give the same
# tensors after `onsager convert` (bit for bit: equal SHA-256 digests) and identical `onsager analyze` and
# `onsager inspect` layers.
#   tests/cli/test_formats.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

"$py" "$here/write_formats.py" "$tmp/w" >/dev/null || { echo "FAIL writing the files"; exit 1; }
declare -A files=([safetensors]=model.safetensors [npz]=reference.npz [pytorch]=model.pt [onnx]=model.onnx
                  [tfjs]=tfjs/weights_manifest.json [keras]=model.h5)
order=(safetensors npz pytorch onnx tfjs keras)

# The analysis, without the fields that name the file, layers sorted by name.
normalise() {
  "$py" -c '
import json, sys
j = json.load(open(sys.argv[1]))
layers = sorted(j["layers"], key=lambda l: l["name"])
print(json.dumps({"layers": layers, "summary": j["summary"]}, sort_keys=True))' "$1"
}
inspect_layers() {
  "$py" -c '
import json, sys
j = json.load(open(sys.argv[1]))
rows = sorted((t["name"], tuple(t["shape"]), json.dumps(t["layers"], sort_keys=True)) for t in j["tensors"] if t["layers"])
print(rows)' "$1"
}

ref_digest=$("$py" "$here/read_safetensors.py" --digest "$tmp/w/model.safetensors")
for f in "${order[@]}"; do
  path="$tmp/w/${files[$f]}"
  if ! "$bin" convert "$path" --out "$tmp/$f.safetensors" --quiet >"$tmp/out" 2>"$tmp/err"; then
    bad "$f: convert" "$(cat "$tmp/err")"; continue
  fi
  d=$("$py" "$here/read_safetensors.py" --digest "$tmp/$f.safetensors")
  [ "$d" = "$ref_digest" ] && ok "$f: converted tensors equal the reference bit for bit" \
    || bad "$f: converted tensors differ" "$("$py" "$here/read_safetensors.py" "$tmp/$f.safetensors")"
  if "$bin" analyze "$path" --json "$tmp/$f.json" >/dev/null 2>"$tmp/err" &&
     "$bin" inspect "$path" --json "$tmp/$f.inspect.json" >/dev/null 2>>"$tmp/err"; then
    normalise "$tmp/$f.json" >"$tmp/$f.norm"
    inspect_layers "$tmp/$f.inspect.json" >"$tmp/$f.layers"
  else
    bad "$f: analyze/inspect" "$(cat "$tmp/err")"
  fi
done
for f in "${order[@]:1}"; do
  [ -s "$tmp/$f.norm" ] || continue
  if cmp -s "$tmp/safetensors.norm" "$tmp/$f.norm"; then ok "$f: analyze output identical to safetensors'"
  else bad "$f: analyze output differs" "$(diff <(tr ',' '\n' <"$tmp/safetensors.norm") <(tr ',' '\n' <"$tmp/$f.norm") | head -6)"; fi
  if cmp -s "$tmp/safetensors.layers" "$tmp/$f.layers"; then ok "$f: inspect plans the same layers"
  else bad "$f: inspect layers differ" "$(diff "$tmp/safetensors.layers" "$tmp/$f.layers" | head -4)"; fi
done
# The analysis found the layers the weights were built with (4 layers, 3 of them with M >= 50 and a valid fit).
[ -s "$tmp/safetensors.json" ] && "$py" -c '
import json, sys
j = json.load(open(sys.argv[1]))
names = sorted(l["name"] for l in j["layers"])
assert names == ["conv.weight", "conv1d.weight", "fc1.weight", "fc2.weight"], names
assert j["summary"]["num_valid"] == 3, j["summary"]' "$tmp/safetensors.json" && ok "reference analysis: 4 layers, 3 valid fits" \
  || bad "reference analysis"

finish
