#!/usr/bin/env bash
# End-to-end tests of the TF.js reader:
#  - the real networks of @vladmandic/face-api 1.7.15 ($ONSAGER_DATA/networks/face-api: 7 weights manifests,
#    uint8-quantised weights, .bin shards): tensor names and shapes from `onsager inspect --json` equal the
#    manifests' (counted here in Python from the JSON); the values `onsager convert` writes equal tfjs-core's
#    own tf.io.decodeWeights run under node ($ONSAGER_DATA/node, installed by scripts/setup.sh), or an
#    independent NumPy decoding when node or tfjs-core is missing, moved into PyTorch's layout here;
#    `onsager analyze --json` fits every planned layer, or the test says which layers cannot and why;
#  - a layers-model model.json written by Python with float16-quantised weights over two shards;
#  - the error contract on broken copies: exit status 1, one line on stderr, no output file.
#   tests/cli/test_tfjs.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
data="${ONSAGER_DATA:-$root/data}"
nets="$data/networks/face-api"

# The reference decoder: tfjs-core's tf.io.decodeWeights over each group's concatenated shards; writes each
# tensor's values as little-endian float64 to OUT/<n>.bin and OUT/index.json [{name, shape, dtype, file}].
cat >"$tmp/decode.js" <<'EOF'
const path = require('path'), fs = require('fs');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const [manifestPath, out] = process.argv.slice(2);
let m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
if (!Array.isArray(m)) m = m.weightsManifest;
const dir = path.dirname(manifestPath);
(async () => {
  await tf.setBackend('cpu');
  const index = [];
  for (const group of m) {
    const buf = Buffer.concat(group.paths.map(p => fs.readFileSync(path.join(dir, p))));
    const map = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), group.weights);
    for (const w of group.weights) {
      const t = map[w.name], file = index.length + '.bin';
      fs.writeFileSync(path.join(out, file), Buffer.from(Float64Array.from(t.dataSync()).buffer));
      index.push({name: w.name, shape: t.shape, dtype: t.dtype, file});
    }
  }
  fs.writeFileSync(path.join(out, 'index.json'), JSON.stringify(index));
})().catch(e => { console.error(String(e)); process.exit(1); });
EOF

# The NumPy fallback decoding, same output: value = float32(q * scale + min) (Math.round for int32 targets).
cat >"$tmp/decode.py" <<'EOF'
import json, os, sys
import numpy as np
manifest, out = sys.argv[1], sys.argv[2]
m = json.load(open(manifest))
if isinstance(m, dict): m = m["weightsManifest"]
d = os.path.dirname(manifest)
index = []
for g in m:
    buf = b"".join(open(os.path.join(d, p), "rb").read() for p in g["paths"])
    off = 0
    for w in g["weights"]:
        n = int(np.prod(w["shape"], dtype=np.int64))
        q = w.get("quantization")
        if q and q["dtype"] in ("uint8", "uint16"):
            a = np.frombuffer(buf, np.dtype(q["dtype"]).newbyteorder("<"), n, off); off += a.nbytes
            x = a.astype(np.float64) * q["scale"] + q["min"]
            v = np.floor(x + 0.5) if w["dtype"] == "int32" else x.astype(np.float32).astype(np.float64)
        elif q and q["dtype"] == "float16":
            a = np.frombuffer(buf, "<f2", n, off); off += a.nbytes; v = a.astype(np.float64)
        else:
            a = np.frombuffer(buf, {"float32": "<f4", "int32": "<i4", "bool": "u1"}[w["dtype"]], n, off)
            off += a.nbytes; v = a.astype(np.float64)
        f = "%d.bin" % len(index)
        v.astype("<f8").tofile(os.path.join(out, f))
        index.append({"name": w["name"], "shape": w["shape"], "dtype": w["dtype"], "file": f})
    assert off == len(buf), "group bytes %d != %d" % (off, len(buf))
json.dump(index, open(os.path.join(out, "index.json"), "w"))
EOF

# Compares onsager's inspect JSON and converted safetensors with the manifest and the reference decoding.
cat >"$tmp/compare.py" <<'EOF'
import json, struct, sys
import numpy as np
manifest, inspect, conv, ref = sys.argv[1:5]
m = json.load(open(manifest))
if isinstance(m, dict): m = m["weightsManifest"]
weights = [w for g in m for w in g["weights"]]
ins = json.load(open(inspect))
assert ins["num_tensors"] == len(weights), (ins["num_tensors"], len(weights))
assert [t["name"] for t in ins["tensors"]] == [w["name"] for w in weights], "names differ"
for t, w in zip(ins["tensors"], weights):
    stored = t["stored_shape"] if t["stored_shape"] is not None else t["shape"]
    assert stored == w["shape"], (w["name"], stored, w["shape"])
raw = open(conv, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); body = raw[8 + n:]
hdr.pop("__metadata__", None)
floating = [w for w in weights if w["dtype"] == "float32"]
assert sorted(hdr) == sorted(w["name"] for w in floating), "converted tensors differ from the float32 weights"
index = {e["name"]: e for e in json.load(open(ref + "/index.json"))}
moved = 0
for w in floating:
    e = index[w["name"]]
    v = np.fromfile(ref + "/" + e["file"], "<f8").reshape(w["shape"])
    name = w["name"].rsplit("/", 1)[-1]
    # TensorFlow's layouts, moved into PyTorch's by rank (the manifest says nothing else).
    if v.ndim == 4 and "depthwise" in name:
        v = v.transpose(2, 3, 0, 1).reshape(v.shape[2] * v.shape[3], 1, v.shape[0], v.shape[1])
    elif v.ndim == 4: v = v.transpose(3, 2, 0, 1)
    elif v.ndim == 3: v = v.transpose(2, 1, 0)
    elif v.ndim == 2: v = v.T
    moved += v.ndim >= 2
    h = hdr[w["name"]]
    assert h["dtype"] == "F32", h
    got = np.frombuffer(body[h["data_offsets"][0]:h["data_offsets"][1]], "<f4").astype(np.float64)
    assert list(h["shape"]) == list(v.shape), (w["name"], h["shape"], v.shape)
    bad = np.flatnonzero(got != v.ravel())
    assert bad.size == 0, "%s: %d values differ, first at %d: %r vs %r" % (w["name"], bad.size, bad[0], got[bad[0]], v.ravel()[bad[0]])
print("%d tensors, %d float32 (%d moved into PyTorch's layout), %d other" % (len(weights), len(floating), moved, len(weights) - len(floating)))
EOF

# Every planned layer has a valid power-law fit, or is named with the reason it cannot.
cat >"$tmp/fits.py" <<'EOF'
import json, math, sys
import numpy as np
a, ins, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
planned = [l["name"] for t in ins["tensors"] for l in t["layers"]]
assert len(planned) == ins["num_layers"]
done = {l["name"] for l in a["layers"]}
why = {s["name"]: s["reason"] for s in a["skipped"]}
files = {e["name"]: e["file"] for e in json.load(open(ref + "/index.json"))}
dropped = []
for name in planned:
    if name in done: continue
    # analyze may drop a planned layer only with a reason that holds: an all-zero matrix (checked here on
    # the reference decoding).
    assert why.get(name) == "all zeros", (name, why.get(name))
    assert not np.fromfile(ref + "/" + files[name], "<f8").any(), name + ": not all zeros in the reference"
    dropped.append(name)
small = []
for l in a["layers"]:
    if l["valid_fit"]:
        assert math.isfinite(l["alpha"]) and l["alpha"] > 1 and 0 <= l["D"] <= 1 and l["xmin"] <= l["xmax"], l["name"]
    elif min(l["N"], l["M"]) < 50 and l["phase"] == "too-small":
        small.append("%s (%dx%d)" % (l["name"], l["N"], l["M"]))
    else:
        raise SystemExit("%s: no valid fit, phase %s: %s" % (l["name"], l["phase"], l.get("phase_reason")))
print("%d planned, %d analysed, %d valid fits%s%s" % (len(planned), len(a["layers"]), a["summary"]["num_valid"],
      "; all zeros (no spectrum): " + ", ".join(dropped) if dropped else "",
      "; no reliable fit (M < 50, too small): " + ", ".join(small) if small else ""))
EOF

reference="NumPy"  # ONSAGER_TFJS_REFERENCE=numpy forces the fallback
if [ "${ONSAGER_TFJS_REFERENCE:-}" != numpy ]; then
  if command -v node >/dev/null && [ -d "$data/node/node_modules/@tensorflow/tfjs-core" ] &&
     [ -d "$data/node/node_modules/@tensorflow/tfjs-backend-cpu" ]; then reference="tfjs-core"
  else missing "tfjs-core reference decoding" \
    "node, or @tensorflow/tfjs-core and tfjs-backend-cpu in $data/node/node_modules (scripts/setup.sh); NumPy decodes instead"; fi
fi
echo "#    reference decoding: $reference"

if [ ! -d "$nets" ]; then
  bad "face-api networks" "$nets is missing (run scripts/setup.sh)"
else
  total=0
  for manifest in "$nets"/*-weights_manifest.json; do
    m="$(basename "$manifest" -weights_manifest.json)"
    ref="$tmp/ref-$m"; mkdir -p "$ref"
    if [ "$reference" = tfjs-core ]; then
      NODE_PATH="$data/node/node_modules" node "$tmp/decode.js" "$manifest" "$ref" >/dev/null 2>"$tmp/node.err" ||
        { bad "$m: tfjs-core decodeWeights" "$(tail -3 "$tmp/node.err")"; continue; }
    else
      "$py" "$tmp/decode.py" "$manifest" "$ref" || { bad "$m: NumPy decoding"; continue; }
    fi
    if "$bin" inspect "$manifest" --json >"$tmp/$m.inspect.json" 2>"$tmp/err" &&
       "$bin" convert "$manifest" --out "$tmp/$m.safetensors" --quiet >/dev/null 2>>"$tmp/err" &&
       r=$("$py" "$tmp/compare.py" "$manifest" "$tmp/$m.inspect.json" "$tmp/$m.safetensors" "$ref" 2>&1); then
      ok "$m: names and shapes equal the manifest's, converted values equal $reference's decoding ($r)"
    else bad "$m: inspect/convert against the manifest and $reference" "$(cat "$tmp/err") ${r:-}"; fi
    if "$bin" analyze "$manifest" --json "$tmp/$m.analyze.json" --quiet >/dev/null 2>"$tmp/err" &&
       r=$("$py" "$tmp/fits.py" "$tmp/$m.analyze.json" "$tmp/$m.inspect.json" "$ref" 2>&1); then ok "$m: analyze: $r"
    else bad "$m: analyze" "$(cat "$tmp/err") ${r:-}"; fi
    total=$((total + 1))
  done
  [ "$total" -eq 7 ] && ok "7 face-api manifests checked" || bad "face-api manifests" "found $total, expected 7"

  # Broken copies of the tiny face detector.
  b="$tmp/broken"; mkdir -p "$b"
  cp "$nets/tiny_face_detector_model-weights_manifest.json" "$b/"
  head -c 100000 "$nets/tiny_face_detector_model.bin" >"$b/tiny_face_detector_model.bin"
  expect_error "truncated shard" "$tmp/x.safetensors" "$bin" convert "$b/tiny_face_detector_model-weights_manifest.json" --out "$tmp/x.safetensors"
  cat "$nets/tiny_face_detector_model.bin" "$nets/tiny_face_detector_model.bin" >"$b/tiny_face_detector_model.bin"
  expect_error "shard too long" "$tmp/x.safetensors" "$bin" convert "$b/tiny_face_detector_model-weights_manifest.json" --out "$tmp/x.safetensors"
  rm "$b/tiny_face_detector_model.bin"
  expect_error "missing shard" "$tmp/x.safetensors" "$bin" analyze "$b/tiny_face_detector_model-weights_manifest.json" --json "$tmp/x.safetensors"
  sed 's#"tiny_face_detector_model.bin"#"../tiny_face_detector_model.bin"#' \
    "$nets/tiny_face_detector_model-weights_manifest.json" >"$b/traversal-weights_manifest.json"
  cp "$nets/tiny_face_detector_model.bin" "$tmp/"
  expect_error "path traversal" "$tmp/x.safetensors" "$bin" convert "$b/traversal-weights_manifest.json" --out "$tmp/x.safetensors"
fi

# A layers model written here: Dense + Conv2D, float16-quantised, over two shards; read back through the
# model's directory, in PyTorch's layout.
mkdir -p "$tmp/layers"
if "$py" - "$tmp/layers" <<'EOF'
import json, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(5)
k = rng.standard_normal((3, 3, 4, 8)).astype(np.float16)   # Conv2D kernel, HWIO
w = rng.standard_normal((72, 10)).astype(np.float16)       # Dense kernel, in x out
b = rng.standard_normal(10).astype(np.float32)
blob = k.tobytes() + w.tobytes() + b.tobytes()
open(d + "/group1-shard1of2.bin", "wb").write(blob[:1000]); open(d + "/group1-shard2of2.bin", "wb").write(blob[1000:])
f16 = {"dtype": "float16"}
json.dump({"format": "layers-model", "generatedBy": "test_tfjs.sh", "modelTopology": {"class_name": "Sequential",
  "config": {"name": "seq", "layers": [{"class_name": "Conv2D", "config": {"name": "conv"}},
  {"class_name": "Flatten", "config": {"name": "flat"}}, {"class_name": "Dense", "config": {"name": "out"}}]}},
  "weightsManifest": [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": [
  {"name": "conv/kernel", "shape": [3, 3, 4, 8], "dtype": "float32", "quantization": f16},
  {"name": "out/kernel", "shape": [72, 10], "dtype": "float32", "quantization": f16},
  {"name": "out/bias", "shape": [10], "dtype": "float32"}]}]}, open(d + "/model.json", "w"))
np.save(d + "/conv.npy", k.astype(np.float32).transpose(3, 2, 0, 1)); np.save(d + "/out.npy", w.astype(np.float32).T)
np.save(d + "/bias.npy", b)
EOF
then
  if "$bin" convert "$tmp/layers" --out "$tmp/layers.safetensors" --quiet >/dev/null 2>"$tmp/err" &&
     "$bin" inspect "$tmp/layers" --json >"$tmp/layers.inspect.json" 2>>"$tmp/err" &&
     "$py" - "$tmp/layers" "$tmp/layers.safetensors" "$tmp/layers.inspect.json" <<'EOF' 2>>"$tmp/err"
import json, struct, sys
import numpy as np
d, f, i = sys.argv[1:4]
raw = open(f, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n]); body = raw[8 + n:]
ins = json.load(open(i))
assert ins["format"] == "tfjs layers-model", ins["format"]
ops = {t["name"]: t["op"] for t in ins["tensors"]}
assert ops == {"conv/kernel": "Conv2D", "out/kernel": "Dense", "out/bias": "Dense"}, ops
for name, ref in (("conv/kernel", "conv"), ("out/kernel", "out"), ("out/bias", "bias")):
    e = np.load(d + "/" + ref + ".npy")
    a = np.frombuffer(body[h[name]["data_offsets"][0]:h[name]["data_offsets"][1]], "<f4").reshape(h[name]["shape"])
    assert a.shape == e.shape and np.array_equal(a, e), name
assert h["__metadata__"]["layout.conv/kernel"] == "HWIO" and h["__metadata__"]["layout.out/kernel"] == "in x out"
EOF
  then ok "layers-model directory (float16, two shards): Conv2D and Dense in PyTorch's layout, values exact"
  else bad "layers-model directory" "$(cat "$tmp/err")"; fi
else bad "writing the layers model with NumPy"; fi

finish
