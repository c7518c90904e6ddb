#!/usr/bin/python3
"""Writes the seed corpus of fuzz_tfjs into SEEDS/tfjs/: each file is a model.json or weights manifest, a NUL
byte, and the bytes of its shard a.bin.   /usr/bin/python3 fuzz/make_tfjs_corpus.py SEEDS"""
import json, os, struct, sys
import numpy as np

out = os.path.join(sys.argv[1], "tfjs")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)


def write(name, j, shard):
    with open(os.path.join(out, name), "wb") as f:
        f.write(json.dumps(j).encode() + b"\0" + shard)


k = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
q = rng.integers(0, 256, 12, dtype=np.uint8)
q16 = rng.integers(0, 65536, 6, dtype=np.uint16)
h = rng.standard_normal(8).astype(np.float16)
write("manifest.bin", [{"paths": ["a.bin"], "weights": [
    {"name": "c/filters", "shape": [3, 3, 2, 4], "dtype": "float32"},
    {"name": "d/depthwise_filter", "shape": [3, 2, 2, 1], "dtype": "float32",
     "quantization": {"dtype": "uint8", "scale": 0.01, "min": -1.2}},
    {"name": "m", "shape": [3, 2], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 1e-4, "min": -3}},
    {"name": "h", "shape": [2, 2, 2], "dtype": "float32", "quantization": {"dtype": "float16"}}]}],
    k.tobytes() + q.tobytes() + q16.tobytes() + h.tobytes())
dense = rng.standard_normal((4, 3)).astype(np.float32)
emb = rng.standard_normal((5, 2)).astype(np.float32)
write("layers.bin", {"format": "layers-model", "modelTopology": {"class_name": "Sequential", "config": {
    "name": "s", "layers": [{"class_name": "Embedding", "config": {"name": "e"}},
                            {"class_name": "Dense", "config": {"name": "d"}}]}},
    "weightsManifest": [{"paths": ["a.bin", "a.bin"], "weights": [
        {"name": "e/embeddings", "shape": [5, 2], "dtype": "float32"},
        {"name": "s/d/kernel", "shape": [4, 3], "dtype": "float32"},
        {"name": "e/embeddings_again", "shape": [5, 2], "dtype": "float32"},
        {"name": "s/d/kernel_again", "shape": [4, 3], "dtype": "float32"}]}]},
    emb.tobytes() + dense.tobytes())
strings = b"".join(struct.pack("<I", len(s)) + s for s in (b"ab", b"", b"xyz"))
write("graph.bin", {"format": "graph-model", "modelTopology": {"node": [
    {"name": "x", "op": "Placeholder"}, {"name": "w", "op": "Const"}, {"name": "v", "op": "Const"},
    {"name": "mm", "op": "MatMul", "input": ["x", "w:0"], "attr": {"transpose_b": {"b": True}}},
    {"name": "cv", "op": "DepthwiseConv2dNative", "input": ["mm", "v"]}]},
    "weightsManifest": [{"paths": ["a.bin"], "weights": [
        {"name": "w", "shape": [2, 3], "dtype": "float32"},
        {"name": "vocab", "shape": [3], "dtype": "string"},
        {"name": "v", "shape": [1, 1, 2, 1], "dtype": "float32"},
        {"name": "i", "shape": [2], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
        {"name": "b", "shape": [2], "dtype": "bool"}]}]},
    rng.standard_normal(6).astype(np.float32).tobytes() + strings + rng.standard_normal(2).astype(np.float32).tobytes()
    + bytes([3, 4]) + bytes([1, 0]))
