#!/usr/bin/python3
"""An independent safetensors reader (struct + json + numpy only), to show that a non-C++ program loads
the files onsager writes.

    read_safetensors.py FILE                      prints one line per tensor, in data-offset order:
                                                  `name dtype [d0,d1,...] sum` (sum in float64, repr),
                                                  then `metadata: key1 key2 ...` (sorted keys)
    read_safetensors.py FILE --check NAME=H,V ... also checks that each NAME exists with that shape
                                                  (`NAME=` for a scalar) and finite values; exit
                                                  status 1 on a mismatch
    read_safetensors.py --digest FILE             one line: SHA-256 over every tensor's name, dtype,
                                                  shape and bytes, by name (equal files, equal digests)

Exit status 2 when the file is not a valid safetensors file (header length, JSON, dtypes, shapes,
offsets that must cover the data section contiguously), with one line on stderr.
"""

import hashlib
import json
import struct
import sys

import numpy as np

MAX_HEADER = 100_000_000
DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "u1",
}


class FormatError(Exception):
    pass


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise FormatError("duplicate key in the header")
    return dict(pairs)


def load(path):
    """Returns (tensors as [(name, dtype, shape, ndarray)] in offset order, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise FormatError(f"only {len(raw)} bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8 or n > MAX_HEADER:
        raise FormatError(f"header length {n} is impossible for a {len(raw)}-byte file")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise FormatError(f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    data = memoryview(raw)[8 + n:]
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError("__metadata__ must map strings to strings")
    entries = []
    for name, e in header.items():
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= e.keys():
            raise FormatError(f"tensor {name!r}: needs dtype, shape and data_offsets")
        dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if not isinstance(shape, list) or not isinstance(offsets, list) or len(offsets) != 2:
            raise FormatError(f"tensor {name!r}: shape must be a list and data_offsets [begin, end]")
        begin, end = offsets
        if len(shape) > 32:
            raise FormatError(f"tensor {name!r}: {len(shape)} dimensions, more than NumPy's 32")
        if dtype not in DTYPES:
            raise FormatError(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise FormatError(f"tensor {name!r}: bad shape {shape}")
        numel = 1
        for d in shape:
            numel *= d
        if not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets) or not 0 <= begin <= end <= len(data):
            raise FormatError(f"tensor {name!r}: data_offsets {[begin, end]} outside the data section")
        if end - begin != numel * np.dtype(DTYPES[dtype]).itemsize:
            raise FormatError(f"tensor {name!r}: {end - begin} bytes for shape {shape} of {dtype}")
        entries.append((begin, end, name, dtype, shape))
    entries.sort()
    pos = 0
    for begin, end, name, _, _ in entries:
        if begin != pos:
            raise FormatError(f"tensor {name!r} starts at {begin}, expected {pos} (overlap or gap)")
        pos = end
    if pos != len(data):
        raise FormatError(f"{len(data) - pos} trailing bytes belong to no tensor")
    tensors = []
    for begin, end, name, dtype, shape in entries:
        a = np.frombuffer(data[begin:end], dtype=DTYPES[dtype])
        if dtype == "BF16":
            a = (a.astype("<u4") << 16).view("<f4")
        tensors.append((name, dtype, shape, a.reshape(shape)))
    return tensors, metadata


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if argv[1] == "--digest":
        if len(argv) != 3:
            print("read_safetensors.py: usage: --digest FILE", file=sys.stderr)
            return 2
        try:
            tensors, _ = load(argv[2])
        except (OSError, FormatError) as e:
            print(f"read_safetensors.py: {argv[2]}: {e}", file=sys.stderr)
            return 2
        h = hashlib.sha256()
        for name, dtype, shape, a in sorted(tensors, key=lambda t: t[0]):
            h.update(f"{name}:{dtype}:{list(shape)}:".encode())
            h.update(a.tobytes())
        print(h.hexdigest())
        return 0
    path, rest = argv[1], argv[2:]
    checks = []
    if rest:
        if rest[0] != "--check" or len(rest) < 2:
            print(f"read_safetensors.py: expected --check NAME=H,V ..., got {' '.join(rest)}", file=sys.stderr)
            return 2
        for spec in rest[1:]:
            name, sep, dims = spec.rpartition("=")
            if not sep or not name:
                print(f"read_safetensors.py: bad check {spec!r} (expected NAME=H,V)", file=sys.stderr)
                return 2
            checks.append((name, [int(d) for d in dims.split(",")] if dims else []))
    try:
        tensors, metadata = load(path)
    except (OSError, FormatError) as e:
        print(f"read_safetensors.py: {path}: {e}", file=sys.stderr)
        return 2
    for name, dtype, shape, a in tensors:
        with np.errstate(all="ignore"):  # inf + -inf is nan, quietly
            total = float(np.sum(a, dtype=np.float64))
        print(f"{name} {dtype} [{','.join(str(d) for d in shape)}] {total!r}")
    print("metadata:" + "".join(" " + k for k in sorted(metadata)))
    shapes = {name: shape for name, _, shape, _ in tensors}
    arrays = {name: a for name, _, _, a in tensors}
    failed = 0
    for name, want in checks:
        if name not in shapes:
            print(f"read_safetensors.py: {path}: no tensor {name!r}", file=sys.stderr)
            failed = 1
        elif shapes[name] != want:
            print(f"read_safetensors.py: {path}: tensor {name!r} has shape {shapes[name]}, expected {want}",
                  file=sys.stderr)
            failed = 1
        elif arrays[name].dtype.kind == "f" and not np.all(np.isfinite(arrays[name])):
            print(f"read_safetensors.py: {path}: tensor {name!r} has non-finite values", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv))
