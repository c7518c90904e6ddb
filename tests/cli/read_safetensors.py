#!/usr/bin/python3
"""Reads a safetensors file with the Python standard library and NumPy only, independently of onsager's
C++ reader, to show that other tools can load onsager's files.

  read_safetensors.py FILE                       name, dtype, shape and sum of each tensor; metadata keys
  read_safetensors.py FILE --check NAME=D0,D1    exit 1 unless each named tensor exists with that shape
  read_safetensors.py --digest FILE              one line: SHA-256 of every tensor's name, shape and bytes
"""
import hashlib
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U8": "u1", "BOOL": "?"}


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise SystemExit(f"{path}: too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise SystemExit(f"{path}: header runs past the end")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            u = np.frombuffer(data[b:end], dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]])
        tensors[name] = (e["dtype"], arr.reshape(e["shape"]), data[b:end])
    return tensors, meta


def main(argv):
    if argv and argv[0] == "--digest":
        tensors, _ = load(argv[1])
        h = hashlib.sha256()
        for name in sorted(tensors):
            dtype, arr, raw = tensors[name]
            h.update(f"{name}:{dtype}:{list(arr.shape)}:".encode())
            h.update(raw)
        print(h.hexdigest())
        return 0
    tensors, meta = load(argv[0])
    if len(argv) > 1 and argv[1] == "--check":
        for spec in argv[2:]:
            name, dims = spec.split("=")
            want = [int(d) for d in dims.split(",")]
            if name not in tensors:
                print(f"missing tensor {name}")
                return 1
            got = list(tensors[name][1].shape)
            if got != want:
                print(f"{name}: shape {got}, expected {want}")
                return 1
            if not np.all(np.isfinite(tensors[name][1])):
                print(f"{name}: non-finite values")
                return 1
        return 0
    for name in sorted(tensors):
        dtype, arr, _ = tensors[name]
        print(f"{name} {dtype} {list(arr.shape)} {float(np.sum(arr.astype(np.float64))):.9g}")
    print("metadata:", " ".join(sorted(meta)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
