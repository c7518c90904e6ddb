#!/usr/bin/python3
"""One epoch of MLP3 (784-300-100-10, relu, softmax cross-entropy, SGD lr 0.01 momentum 0.9) on fashion-mnist's
60,000 training images, `onsager mlp train` against PyTorch (Debian's python3-torch, CPU) in one run.

    /usr/bin/python3 bench/bench_mlp_vs_torch.py [--onsager build/onsager] [--batches 8,32,1024] [--repeats 3]
                                                 [--threads 2] [--json FILE]

Both train the same architecture, loss and optimiser (PyTorch's SGD form, v <- mu v + g, theta <- theta - lr v) on
the same rows (pixels / 255), shuffled every epoch, with the same thread count (torch.set_num_threads; onsager
--threads). PyTorch gets its fastest plain loop: the data are one float32 tensor indexed by a random permutation
per minibatch (no DataLoader), zero_grad(set_to_none=True). Only the epoch is timed: onsager's train_seconds (its
--json, which excludes the per-epoch scoring) and the same span of PyTorch's loop; data loading and start-up are
not. Each run is a fresh process, the two interleaved (torch, onsager, torch, ...) so a noisy machine slows both
alike. Prints every time, the medians and the ratio per batch size, and each model's test accuracy after the
epoch as a check that the faster run learns as much.
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

ROOT = pathlib.Path(__file__).resolve().parents[1]


def data_dir():
    return pathlib.Path(os.environ.get("ONSAGER_DATA", ROOT / "data")) / "fashion-mnist"


def torch_worker(a):
    import gzip

    import numpy as np
    import torch

    def idx(path, offset):
        with gzip.open(path, "rb") as f:
            return np.frombuffer(f.read()[offset:], dtype=np.uint8)

    d = data_dir()
    x = torch.from_numpy(idx(d / "train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
    y = torch.from_numpy(idx(d / "train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    xt = torch.from_numpy(idx(d / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
    yt = torch.from_numpy(idx(d / "t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU(),
                                torch.nn.Linear(100, 10))
    for m in model:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_normal_(m.weight)
            torch.nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x.shape[0]
    t0 = time.perf_counter()
    perm = torch.randperm(n)
    for lo in range(0, n, a.worker_batch):
        i = perm[lo:lo + a.worker_batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[i]), y[i])
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    print(json.dumps({"seconds": seconds, "test_accuracy": acc}))


def run_onsager(a, batch, seed):
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "mlp.safetensors"
        cmd = [a.onsager, "mlp", "train", "--data", "fashion-mnist", "--split", "trainval", "--test-split", "test",
               "--arch", "784-300-100-10", "--activation", "relu", "--loss", "ce", "--optimizer", "sgd",
               "--lr", "0.01", "--momentum", "0.9", "--batch", str(batch), "--epochs", "1", "--no-spectra",
               "--seed", str(seed), "--threads", str(a.threads), "--quiet", "--out", str(out), "--json"]
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        j = json.loads(r.stdout)
        return {"seconds": j["train_seconds"], "test_accuracy": j["test_accuracy"]}


def run_torch(a, batch, seed):
    cmd = [sys.executable, __file__, "--worker-batch", str(batch), "--threads", str(a.threads), "--seed", str(seed)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--onsager", default=str(ROOT / "build" / "onsager"))
    p.add_argument("--batches", default="8,32,1024")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results here as JSON")
    p.add_argument("--worker-batch", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker_batch:
        return torch_worker(a)
    import torch

    print(f"MLP 784-300-100-10, fashion-mnist 60,000 rows, one epoch, {a.threads} threads, "
          f"torch {torch.__version__}, {a.repeats} repeats")
    results = []
    for batch in [int(b) for b in a.batches.split(",")]:
        runs = {"torch": [], "onsager": []}
        for r in range(a.repeats):
            runs["torch"].append(run_torch(a, batch, a.seed + r))
            runs["onsager"].append(run_onsager(a, batch, a.seed + r))
        med = {k: statistics.median(x["seconds"] for x in v) for k, v in runs.items()}
        acc = {k: statistics.median(x["test_accuracy"] for x in v) for k, v in runs.items()}
        ratio = med["torch"] / med["onsager"]
        print(f"batch {batch:>5}: torch {med['torch']:7.2f} s  onsager {med['onsager']:7.2f} s  "
              f"ratio {ratio:5.2f}x  (test accuracy torch {acc['torch']:.4f}, onsager {acc['onsager']:.4f}; "
              f"times torch {[round(x['seconds'], 2) for x in runs['torch']]}, "
              f"onsager {[round(x['seconds'], 2) for x in runs['onsager']]})", flush=True)
        results.append({"batch": batch, "torch_seconds": med["torch"], "onsager_seconds": med["onsager"],
                        "ratio": ratio, "torch_test_accuracy": acc["torch"], "onsager_test_accuracy": acc["onsager"],
                        "runs": runs})
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"threads": a.threads, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
