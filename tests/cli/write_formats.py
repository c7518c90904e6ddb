#!/usr/bin/env python3
"""Writes one small network's weights in every format onsager reads, each with its own library or layout:
safetensors (PyTorch layout), torch.save, ONNX (python3-onnx; Gemm, MatMul and Conv nodes), a TensorFlow.js
weights manifest (TF layouts: in x out, HWIO, k x in x out) and a Keras HDF5 file (h5py, Keras's groups and
attributes, TF layouts). Tensor names are the same everywhere, so `onsager analyze` must report identical layers.

  write_formats.py OUTDIR
"""
import json
import os
import struct
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
# PyTorch layout: dense out x in, conv (out, in, kh, kw), conv1d (out, in, k). Student-t entries: heavy tails.
W = {
    "fc1.weight": rng.standard_t(3, size=(96, 128)).astype(np.float32),
    "fc1.bias": rng.standard_normal(96).astype(np.float32),
    "fc2.weight": rng.standard_t(4, size=(64, 96)).astype(np.float32),
    "conv.weight": rng.standard_normal((64, 32, 3, 3)).astype(np.float32),
    "conv1d.weight": rng.standard_normal((60, 50, 5)).astype(np.float32),
}
# TensorFlow layouts of the same tensors.
TF = {
    "fc1.weight": W["fc1.weight"].T,                       # in x out
    "fc1.bias": W["fc1.bias"],
    "fc2.weight": W["fc2.weight"].T,
    "conv.weight": W["conv.weight"].transpose(2, 3, 1, 0),  # HWIO
    "conv1d.weight": W["conv1d.weight"].transpose(2, 1, 0),  # k x in x out
}
np.savez(os.path.join(out, "reference.npz"), **W)

# safetensors
header, data = {}, b""
for name, a in W.items():
    b = np.ascontiguousarray(a).tobytes()
    header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(b)]}
    data += b
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)

# PyTorch
import torch  # noqa: E402

torch.save({k: torch.from_numpy(v.copy()) for k, v in W.items()}, os.path.join(out, "model.pt"))

# ONNX: fc1 through Gemm (transB=1: out x in as stored), fc2 through MatMul (stored in x out), Conv for both convs.
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

inits = [
    numpy_helper.from_array(W["fc1.weight"], "fc1.weight"),
    numpy_helper.from_array(W["fc1.bias"], "fc1.bias"),
    numpy_helper.from_array(np.ascontiguousarray(W["fc2.weight"].T), "fc2.weight"),
    numpy_helper.from_array(W["conv.weight"], "conv.weight"),
    numpy_helper.from_array(W["conv1d.weight"], "conv1d.weight"),
]
nodes = [
    helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h1"], transB=1),
    helper.make_node("MatMul", ["h1", "fc2.weight"], ["y"]),
    helper.make_node("Conv", ["img", "conv.weight"], ["c"]),
    helper.make_node("Conv", ["seq", "conv1d.weight"], ["s"]),
]
vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
graph = helper.make_graph(nodes, "formats", [vi("x", [1, 128]), vi("img", [1, 32, 10, 10]), vi("seq", [1, 50, 20])],
                          [vi("y", [1, 64]), vi("c", [1, 64, 8, 8]), vi("s", [1, 60, 16])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "model.onnx"))

# TensorFlow.js weights manifest: one group, two shards.
blob = b"".join(np.ascontiguousarray(TF[k]).astype("<f4").tobytes() for k in W)
half = len(blob) // 2
os.makedirs(os.path.join(out, "tfjs"), exist_ok=True)
for i, part in enumerate([blob[:half], blob[half:]]):
    with open(os.path.join(out, "tfjs", f"group1-shard{i + 1}of2.bin"), "wb") as f:
        f.write(part)
manifest = [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
             "weights": [{"name": k, "shape": list(TF[k].shape), "dtype": "float32"} for k in W]}]
with open(os.path.join(out, "tfjs", "weights_manifest.json"), "w") as f:
    json.dump(manifest, f)

# Keras HDF5 (a whole-model file as tf.keras 2 writes it: model_config, model_weights/<layer>/<weight>).
import h5py  # noqa: E402

layers = [("fc1", "Dense", ["fc1.weight", "fc1.bias"]), ("fc2", "Dense", ["fc2.weight"]),
          ("conv", "Conv2D", ["conv.weight"]), ("conv1d", "Conv1D", ["conv1d.weight"])]
config = {"class_name": "Sequential", "config": {"name": "formats", "layers": [
    {"class_name": cls, "config": {"name": name}} for name, cls, _ in layers]}}
with h5py.File(os.path.join(out, "model.h5"), "w") as f:
    f.attrs["model_config"] = json.dumps(config).encode()
    f.attrs["keras_version"] = b"2.11.0"
    f.attrs["backend"] = b"tensorflow"
    mw = f.create_group("model_weights")
    mw.attrs["layer_names"] = np.array([name.encode() for name, _, _ in layers])
    mw.attrs["backend"] = b"tensorflow"
    mw.attrs["keras_version"] = b"2.11.0"
    for name, _, weights in layers:
        g = mw.create_group(name)
        g.attrs["weight_names"] = np.array([f"{w}:0".encode() for w in weights])
        for w in weights:
            g.create_dataset(f"{w}:0", data=TF[w])
print(out)
