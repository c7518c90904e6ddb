#!/usr/bin/python3
"""onsager.BernoulliRBM against scikit-learn's BernoulliRBM, in one run, on the same data.

    /usr/bin/python3 bench/python_rbm_vs_sklearn.py [--rows 60000] [--repeats 3] [--dtype float64] [--json FILE]

Fashion-MNIST's 60,000 training images, binarised at x/255 > 0.5, fit with n_components=500, batch_size=100,
learning_rate=0.05, n_iter=1 by both classes. Each fit runs in a fresh Python process, as a user's script
would, and the processes are interleaved (scikit-learn, onsager, scikit-learn, ...) so that a noisy machine
slows both alike; data loading is not timed. A third variant runs scikit-learn with glibc's malloc told not to
return memory to the kernel between minibatches (GLIBC_TUNABLES mmap/trim thresholds): in a fresh process
scikit-learn's per-minibatch temporaries (a few MB each) are mmapped and unmapped again, and the page faults
that follow can cost several times the arithmetic. Prints every time, the medians, the ratios, and each model's
mean pseudo-likelihood on the 10,000 test images (score_samples with the same random flips) as a check that the
faster fit is as good. Needs PYTHONPATH at build/python or scripts/install_python.sh.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from sklearn_rbm_epoch import read_idx_images  # noqa: E402  (the IDX reader bench_pcd_epoch's peer script uses)
TUNED_MALLOC = "glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456"


def worker(a):
    """One fit in this process; prints {"seconds", "score"} as JSON."""
    if a.worker == "onsager":
        import onsager

        cls = onsager.BernoulliRBM
    else:
        from sklearn.neural_network import BernoulliRBM as cls
    d = pathlib.Path(a.data_dir) / "fashion-mnist"
    # As a user's script: the training data, then the fit (the test data only afterwards, for the check).
    X = (read_idx_images(d / "train-images-idx3-ubyte.gz")[: a.rows] / 255.0 > 0.5).astype(a.dtype)
    m = cls(n_components=a.hidden, batch_size=100, learning_rate=0.05, n_iter=1, random_state=a.seed)
    t0 = time.perf_counter()
    m.fit(X)
    seconds = time.perf_counter() - t0
    T = (read_idx_images(d / "t10k-images-idx3-ubyte.gz") / 255.0 > 0.5).astype(a.dtype)
    m.random_state = 1234  # the same flipped features for every model
    print(json.dumps({"seconds": seconds, "score": float(m.score_samples(T).mean())}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("ONSAGER_DATA", str(ROOT / "data")))
    p.add_argument("--rows", type=int, default=60000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--json", default=None, help="also write the results to this file")
    p.add_argument("--worker", choices=["onsager", "scikit-learn"], help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a)
        return

    import sklearn

    variants = [("scikit-learn", "scikit-learn", {}), ("onsager", "onsager", {}),
                ("scikit-learn, tuned malloc", "scikit-learn", {"GLIBC_TUNABLES": TUNED_MALLOC})]
    times = {v[0]: [] for v in variants}
    scores = {v[0]: [] for v in variants}
    for r in range(a.repeats):
        for label, which, env in variants:
            cmd = [sys.executable, __file__, "--worker", which, "--seed", str(r), "--rows", str(a.rows), "--dtype",
                   a.dtype, "--hidden", str(a.hidden), "--data-dir", a.data_dir]
            out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **env))
            if out.returncode != 0:
                sys.exit(f"{label} failed:\n{out.stderr[-3000:]}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            times[label].append(res["seconds"])
            scores[label].append(res["score"])
            print(f"repeat {r + 1}: {label:27s} fit {res['seconds']:7.2f} s, test pseudo-likelihood "
                  f"{res['score']:8.2f}", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {k: med[k] / med["onsager"] for k in med if k != "onsager"}
    print(f"\n{a.rows} rows x 784, {a.dtype}, n_components={a.hidden}, scikit-learn {sklearn.__version__}, "
          f"{os.cpu_count()} cores; medians of {a.repeats}:")
    for k in med:
        ratio = "" if k == "onsager" else f"   onsager is {ratios[k]:.1f}x faster"
        print(f"  {k:27s} {med[k]:7.2f} s{ratio}")
    if a.json:
        out = {"rows": a.rows, "dtype": a.dtype, "hidden": a.hidden, "seconds": times, "median_seconds": med,
               "ratios": ratios, "test_pseudo_likelihood": scores, "sklearn": sklearn.__version__}
        pathlib.Path(a.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
