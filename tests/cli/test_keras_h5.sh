#!/usr/bin/env bash
# End-to-end tests of Keras HDF5 files: files written by h5py in Keras's layout (fuzz/make_keras_h5.py), read
# by `onsager inspect --json`, `onsager convert` (the safetensors read back by an independent NumPy reader) and
# `onsager analyze --json`, compared with h5py's own view moved into PyTorch's layout by NumPy; the same weights
# as a safetensors file must give identical analyze output; hostile files: exit 1, one line, no output file.
#   tests/cli/test_keras_h5.sh PATH/TO/onsager
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

if ! "$py" -c "import h5py" 2>/dev/null; then echo "FAIL /usr/bin/python3 has no h5py (scripts/setup.sh installs python3-h5py)"; exit 1; fi
"$py" "$root/fuzz/make_keras_h5.py" "$tmp/fx" --hostile

# 1. inspect --json and convert against h5py's view (names in order, shapes, layouts, values bit-exact in f64).
for f in whole weights split plain; do
  if "$bin" inspect "$tmp/fx/$f.h5" --json "$tmp/$f.inspect.json" >/dev/null 2>"$tmp/err" &&
     "$bin" convert "$tmp/fx/$f.h5" --out "$tmp/$f.safetensors" --dtype f64 --quiet >/dev/null 2>>"$tmp/err" &&
     "$py" - "$tmp/fx/$f.expect.json" "$tmp/$f.inspect.json" "$tmp/$f.safetensors" >"$tmp/cmp" 2>&1 <<'EOF'
import json, struct, sys
import numpy as np
exp = json.load(open(sys.argv[1]))
ins = json.load(open(sys.argv[2]))
raw = open(sys.argv[3], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
assert [t["name"] for t in ins["tensors"]] == [e["name"] for e in exp], "names/order"
for t, e in zip(ins["tensors"], exp):
    assert t["shape"] == e["shape"], (t["name"], t["shape"], e["shape"])
    assert t["dtype"] == e["dtype"], (t["name"], t["dtype"], e["dtype"])
    assert t["stored_layout"] == e["stored_layout"], (t["name"], t["stored_layout"])
    assert t["op"] == e["op"], (t["name"], t["op"], e["op"])
    if not e["floating"]:
        assert e["name"] not in header, "integer tensor converted"
        continue
    h = header[e["name"]]
    assert h["dtype"] == "F64" and h["shape"] == e["shape"], (e["name"], h)
    b, end = h["data_offsets"]
    v = np.frombuffer(data[b:end], "<f8")
    assert np.array_equal(v, np.array(e["values"], np.float64)), e["name"]
print(len(exp))
EOF
  then ok "$f.h5: inspect + convert equal h5py's view ($(cat "$tmp/cmp") tensors)"
  else bad "$f.h5: inspect/convert" "$(cat "$tmp/err" "$tmp/cmp")"; fi
done

# 2. A model big enough to analyse, in Keras's layout, and the same weights as PyTorch-layout safetensors:
#    analyze must give identical layers (Dense 120x80 float32 and Conv2D 3x3x24x48 float64).
"$py" - "$tmp" <<'EOF'
import json, struct, sys
import h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
dense = rng.standard_normal((120, 80)).astype(np.float32)        # Keras (in, out)
conv = rng.standard_t(3, (3, 3, 24, 48)).astype(np.float64)       # Keras HWIO
cfg = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
    {"class_name": "Conv2D", "config": {"name": "conv2d"}}, {"class_name": "Dense", "config": {"name": "dense"}}]}}
with h5py.File(f"{d}/model.h5", "w") as f:
    f.attrs["model_config"] = json.dumps(cfg).encode("utf8")
    f.attrs["keras_version"] = b"2.11.0"
    f.attrs["backend"] = b"tensorflow"
    mw = f.create_group("model_weights")
    mw.attrs["layer_names"] = [b"conv2d", b"dense"]
    for layer, w in (("conv2d", conv), ("dense", dense)):
        g = mw.create_group(layer)
        g.attrs["weight_names"] = [f"{layer}/kernel:0".encode()]
        g.create_dataset(f"{layer}/kernel:0", data=w)
tensors = {"conv2d/kernel": (np.ascontiguousarray(conv.transpose(3, 2, 0, 1)), "F64"),
           "dense/kernel": (np.ascontiguousarray(dense.T), "F32")}
header, blob = {}, b""
for name, (a, dt) in tensors.items():
    header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [len(blob), len(blob) + a.nbytes]}
    blob += a.tobytes()
h = json.dumps(header).encode()
open(f"{d}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + blob)
EOF
if "$bin" analyze "$tmp/model.h5" --json "$tmp/a_h5.json" --quiet --threads 2 >/dev/null 2>"$tmp/err" &&
   "$bin" analyze "$tmp/model.safetensors" --json "$tmp/a_st.json" --quiet --threads 2 >/dev/null 2>>"$tmp/err" &&
   "$py" - "$tmp/a_h5.json" "$tmp/a_st.json" >"$tmp/cmp" 2>&1 <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert len(a["layers"]) == 2, len(a["layers"])
assert a["layers"] == b["layers"], "layers differ"
print([(l["name"], l["shape"]) for l in a["layers"]])
EOF
then ok "analyze model.h5 == analyze model.safetensors: $(cat "$tmp/cmp")"
else bad "analyze h5 vs safetensors" "$(cat "$tmp/err" "$tmp/cmp")"; fi

# 3. Hostile files: exit 1, one line naming the file, no output file left.
for f in "$tmp"/fx/bad_*.h5; do
  expect_error "convert $(basename "$f")" "$tmp/bad_out.safetensors" "$bin" convert "$f" --out "$tmp/bad_out.safetensors"
  grep -q "$(basename "$f")" "$tmp/err" || bad "$(basename "$f"): message names the file" "$(cat "$tmp/err")"
done
head -c 3000 "$tmp/fx/whole.h5" >"$tmp/cut.h5"
expect_error "truncated whole.h5" "$tmp/cut_out.safetensors" "$bin" convert "$tmp/cut.h5" --out "$tmp/cut_out.safetensors"
expect_error "inspect missing file" "" "$bin" inspect "$tmp/none.h5"

finish
