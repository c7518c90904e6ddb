#!/usr/bin/python3
"""Writes the seed corpora of fuzz_safetensors and fuzz_npz into SEEDS/safetensors/ and SEEDS/npz/ (NumPy only).

    /usr/bin/python3 fuzz/make_basic_corpus.py SEEDS
"""
import json
import os
import struct
import sys

import numpy as np

root = sys.argv[1]
for d in ("safetensors", "npz"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
rng = np.random.default_rng(1)


def safetensors(path, tensors):
    header, data = {}, b""
    for name, arr in tensors:
        dt = {np.float32: "F32", np.float64: "F64", np.float16: "F16"}[arr.dtype.type]
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


safetensors(os.path.join(root, "safetensors", "dense.safetensors"),
            [("weight", rng.standard_normal((12, 8)).astype(np.float32)), ("bias", np.zeros(12, np.float32))])
safetensors(os.path.join(root, "safetensors", "conv.safetensors"),
            [("conv.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float16)), ("w64", rng.standard_normal((5, 6)))])
np.savez(os.path.join(root, "npz", "stored.npz"), w=rng.standard_normal((10, 6)).astype(np.float32),
         b=np.arange(4, dtype=np.int64))
np.savez_compressed(os.path.join(root, "npz", "deflated.npz"), conv=rng.standard_normal((4, 3, 2, 2)))
