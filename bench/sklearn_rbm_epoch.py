#!/usr/bin/python3
"""Times scikit-learn's BernoulliRBM (PCD-1) for one epoch on Fashion-MNIST, for bench_pcd_epoch.

Reads the same IDX file onsager reads, binarizes at the same threshold (x/255 > T), and prints one JSON
object with the time of each repeat. Run by bench_pcd_epoch in the same run as onsager's timing.
"""
import argparse
import gzip
import json
import sys
import time

import numpy as np


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 0x803:
        sys.exit(f"{path}: not an IDX image file")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, h * w)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", required=True)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    a = p.parse_args()

    import sklearn
    from sklearn.neural_network import BernoulliRBM

    x = (read_idx_images(a.images) / 255.0 > a.threshold).astype(a.dtype)
    times = []
    for r in range(a.repeats):
        rbm = BernoulliRBM(n_components=a.hidden, learning_rate=a.lr, batch_size=a.batch, n_iter=1,
                           random_state=r, verbose=0)
        t0 = time.perf_counter()
        rbm.fit(x)
        times.append(time.perf_counter() - t0)
    try:
        from threadpoolctl import threadpool_info
        blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} threads={i.get('num_threads')}"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except Exception:  # threadpoolctl is optional
        blas = []
    print(json.dumps({"peer": f"scikit-learn {sklearn.__version__} BernoulliRBM", "dtype": a.dtype,
                      "samples": int(x.shape[0]), "features": int(x.shape[1]), "seconds": times,
                      "blas": blas, "components_dtype": str(rbm.components_.dtype)}))


if __name__ == "__main__":
    main()
