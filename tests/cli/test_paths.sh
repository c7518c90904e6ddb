#!/usr/bin/env bash
# Files a model names (ONNX external data, TF.js shards, safetensors and PyTorch shards) stay inside the model's directory,
# also through symbolic links, while a Hugging Face cache snapshot (files linked to ../../blobs/<hash>) still
# works; a FIFO named like a model is refused instead of blocking; a TF.js group listing one shard twice is refused.
#   tests/cli/test_paths.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# An ONNX model whose external data is "data/w.bin".
"$py" - "$tmp" <<'PY'
import os, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data
root = sys.argv[1]
w = np.arange(64 * 60, dtype=np.float32).reshape(64, 60) / 100
t = numpy_helper.from_array(w, "fc.weight")
set_external_data(t, location="data/w.bin")
t.ClearField("raw_data")
g = helper.make_graph([helper.make_node("Gemm", ["x", "fc.weight"], ["y"], transB=1)], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 60])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [t])
model = helper.make_model(g)
for d in ("outside", "blobs", "model/data", "escape"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
open(os.path.join(root, "model/model.onnx"), "wb").write(model.SerializeToString())
w.tofile(os.path.join(root, "model/data/w.bin"))
w.tofile(os.path.join(root, "outside/w.bin"))
open(os.path.join(root, "escape/model.onnx"), "wb").write(model.SerializeToString())
# Hugging Face cache: blobs by hash, a snapshot of links
open(os.path.join(root, "blobs/1111"), "wb").write(model.SerializeToString())
w.tofile(os.path.join(root, "blobs/2222"))
PY
"$bin" inspect "$tmp/model/model.onnx" >/dev/null 2>"$tmp/err" && ok "external data in the model's directory" \
  || bad "external data in the model's directory" "$(cat "$tmp/err")"
ln -s "$tmp/outside" "$tmp/escape/data"
expect_error_matching "external data through a directory link out of the model's directory" "outside the model's directory" \
  "$bin" convert "$tmp/escape/model.onnx" --out "$tmp/escape.safetensors" --quiet
[ ! -e "$tmp/escape.safetensors" ] && ok "nothing written" || bad "escape: a file was written"
mkdir -p "$tmp/snapshots/rev/data"
ln -s ../../blobs/1111 "$tmp/snapshots/rev/model.onnx"
ln -s ../../../blobs/2222 "$tmp/snapshots/rev/data/w.bin"
if "$bin" convert "$tmp/snapshots/rev/model.onnx" --out "$tmp/hf.safetensors" --quiet 2>"$tmp/err" &&
   "$py" "$here/read_safetensors.py" "$tmp/hf.safetensors" --check fc.weight=64,60 >/dev/null
then ok "Hugging Face snapshot links into blobs/ are followed"; else bad "Hugging Face snapshot" "$(cat "$tmp/err")"; fi

# TF.js: a shard that links out of the directory; a shard listed twice.
mkdir -p "$tmp/tfjs"
"$py" -c "import numpy as np, sys; np.arange(24, dtype=np.float32).tofile(sys.argv[1])" "$tmp/outside/s.bin"
cp "$tmp/outside/s.bin" "$tmp/tfjs/s.bin"
ln -s "$tmp/outside/s.bin" "$tmp/tfjs/link.bin"
echo '[{"paths": ["link.bin"], "weights": [{"name": "w", "shape": [4, 6], "dtype": "float32"}]}]' >"$tmp/tfjs/link.json"
echo '[{"paths": ["s.bin", "s.bin"], "weights": [{"name": "w", "shape": [8, 6], "dtype": "float32"}]}]' >"$tmp/tfjs/twice.json"
echo '[{"paths": ["s.bin"], "weights": [{"name": "w", "shape": [4, 6], "dtype": "float32"}]}]' >"$tmp/tfjs/plain.json"
"$bin" inspect "$tmp/tfjs/plain.json" >/dev/null 2>"$tmp/err" && ok "TF.js shard in the directory" || bad "TF.js plain" "$(cat "$tmp/err")"
expect_error_matching "TF.js shard linking out of the directory" "outside the model's directory" "$bin" inspect "$tmp/tfjs/link.json"
expect_error_matching "TF.js group listing a shard twice" "twice" "$bin" inspect "$tmp/tfjs/twice.json"

# safetensors index whose shard links out of the directory.
mkdir -p "$tmp/st"
"$bin" convert "$tmp/model/model.onnx" --out "$tmp/outside/shard.safetensors" --quiet 2>/dev/null
ln -s "$tmp/outside/shard.safetensors" "$tmp/st/model-00001-of-00001.safetensors"
echo '{"weight_map": {"fc.weight": "model-00001-of-00001.safetensors"}}' >"$tmp/st/model.safetensors.index.json"
expect_error_matching "safetensors shard linking out of the directory" "outside the model's directory" "$bin" inspect "$tmp/st"

# PyTorch index whose shard links out of the directory.
mkdir -p "$tmp/pt"
"$py" -c "import torch, sys; torch.save({'w': torch.ones(3, 4)}, sys.argv[1])" "$tmp/outside/pytorch_model-00001-of-00001.bin"
ln -s "$tmp/outside/pytorch_model-00001-of-00001.bin" "$tmp/pt/pytorch_model-00001-of-00001.bin"
echo '{"weight_map": {"w": "pytorch_model-00001-of-00001.bin"}}' >"$tmp/pt/pytorch_model.bin.index.json"
expect_error_matching "PyTorch shard linking out of the directory" "outside the model's directory" "$bin" inspect "$tmp/pt"

# A FIFO named like a model file.
mkfifo "$tmp/fifo.onnx"
expect_error_matching "a FIFO is not read" "not a regular file" "$bin" inspect "$tmp/fifo.onnx"

finish
