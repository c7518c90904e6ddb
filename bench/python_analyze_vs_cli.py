#!/usr/bin/python3
"""onsager.analyze on a live torch module against `onsager analyze` on a file of the same weights, in one run.

    /usr/bin/python3 bench/python_analyze_vs_cli.py [--layers 24] [--rows 4096] [--cols 1024] [--repeats 3]
                                                      [--cli build/onsager] [--json FILE]

A torch.nn.ModuleList of `layers` bias-free Linear layers (rows x cols, Student-t weights with 3 degrees of
freedom, float32); the same tensors written as one safetensors file. Interleaved repeats time the command line
(a fresh process: start, read the file, analyse, write the JSON) and onsager.analyze(module) in this process
(state dict, tensors read in place, analyse, DataFrame). Prints the medians, the ratio (target: Python at most
1.10x the command line) and whether every layer's alpha, xmin and lambda_max agree exactly.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def write_safetensors(path, tensors):
    """A safetensors file of float32 tensors (the format: a little-endian u64 header size, a JSON header of
    dtype/shape/data_offsets per tensor, then the bytes)."""
    header, offset = {}, 0
    for name, a in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=24)
    p.add_argument("--rows", type=int, default=4096)
    p.add_argument("--cols", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cli", default=os.environ.get("ONSAGER_CLI", str(ROOT / "build" / "onsager")))
    p.add_argument("--json", default=None)
    a = p.parse_args()

    import torch

    import onsager

    rng = np.random.default_rng(0)
    model = torch.nn.ModuleList([torch.nn.Linear(a.cols, a.rows, bias=False) for _ in range(a.layers)])
    with torch.no_grad():
        for layer in model:
            layer.weight.copy_(torch.from_numpy((rng.standard_t(3, (a.rows, a.cols)) / np.sqrt(a.cols)).astype(np.float32)))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="onsager-bench-"))
    path = tmp / "model.safetensors"
    write_safetensors(path, {k: v.numpy() for k, v in model.state_dict().items()})
    cli_t, py_t = [], []
    for r in range(a.repeats):
        out = tmp / f"cli-{r}.json"
        t0 = time.perf_counter()
        subprocess.run([a.cli, "analyze", str(path), "--quiet", "--json", str(out)], check=True, stdout=subprocess.DEVNULL)
        cli_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        df = onsager.analyze(model)
        py_t.append(time.perf_counter() - t0)
        print(f"repeat {r + 1}: command line {cli_t[-1]:.2f} s, onsager.analyze(module) {py_t[-1]:.2f} s", flush=True)
    cli = json.loads(out.read_text())["layers"]
    same = all(row["alpha"] == l["alpha"] and row["xmin"] == l["xmin"] and row["lambda_max"] == l["lambda_max"]
               for row, l in zip(df.to_dict("records"), cli)) and len(cli) == len(df)
    mc, mp = statistics.median(cli_t), statistics.median(py_t)
    print(f"\n{a.layers} layers {a.rows} x {a.cols}, medians of {a.repeats}: command line {mc:.2f} s, "
          f"onsager.analyze {mp:.2f} s, ratio {mp / mc:.3f} (target <= 1.10); identical alpha/xmin/lambda_max: {same}")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"cli_seconds": cli_t, "python_seconds": py_t, "ratio": mp / mc,
                                                     "identical": same, "layers": a.layers, "shape": [a.rows, a.cols]},
                                                    indent=2) + "\n")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
