#!/usr/bin/python3
"""scikit-learn's example "Restricted Boltzmann Machine features for digit classification", run as published
and with onsager.BernoulliRBM swapped in, in one run.

    /usr/bin/python3 bench/python_rbm_digits_pipeline.py [--seeds 3] [--json FILE]

The example (plot_rbm_logistic_classification.py, scikit-learn 1.2): the 8x8 digits, nudged one pixel in four
directions (5 x 1,797 rows), scaled to [0, 1], split 80/20 (random_state=0); a Pipeline of BernoulliRBM
(n_components=100, learning_rate=0.06, n_iter=10, verbose=True) and LogisticRegression(solver="newton-cg",
tol=1, C=6000). The only change for onsager is the import. For each random_state of the RBM, prints the test
accuracy of both pipelines and the time of each Pipeline.fit (the RBM's fit inside it timed too); the verbose
lines go to a buffer, as both classes print them.
"""
import argparse
import contextlib
import io
import json
import pathlib
import statistics
import time

import numpy as np
from scipy.ndimage import convolve
from sklearn import datasets, linear_model
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM as SkRBM
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import minmax_scale


def nudge_dataset(X, Y):
    """The example's own augmentation: every image shifted by one pixel left, right, down and up."""
    direction_vectors = [[[0, 1, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
                         [[0, 0, 0], [0, 0, 1], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 1, 0]]]

    def shift(x, w):
        return convolve(x.reshape((8, 8)), mode="constant", weights=w).ravel()

    X = np.concatenate([X] + [np.apply_along_axis(shift, 1, X, vector) for vector in direction_vectors])
    Y = np.concatenate([Y for _ in range(5)], axis=0)
    return X, Y


def run(cls, seed, data):
    X_train, X_test, Y_train, Y_test = data
    logistic = linear_model.LogisticRegression(solver="newton-cg", tol=1)
    rbm = cls(random_state=seed, verbose=True)
    pipe = Pipeline(steps=[("rbm", rbm), ("logistic", logistic)])
    rbm.learning_rate = 0.06
    rbm.n_iter = 10
    rbm.n_components = 100
    logistic.C = 6000
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        rbm.fit(X_train)
        rbm_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        pipe.fit(X_train, Y_train)
        pipe_seconds = time.perf_counter() - t0
    return accuracy_score(Y_test, pipe.predict(X_test)), rbm_seconds, pipe_seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    import onsager

    X, y = datasets.load_digits(return_X_y=True)
    X = np.asarray(X, "float32")
    X, Y = nudge_dataset(X, y)
    X = minmax_scale(X, feature_range=(0, 1))
    data = train_test_split(X, Y, test_size=0.2, random_state=0)
    res = {"scikit-learn": [], "onsager": []}
    for seed in range(a.seeds):
        for name, cls in (("scikit-learn", SkRBM), ("onsager", onsager.BernoulliRBM)):
            acc, rs, ps = run(cls, seed, data)
            res[name].append({"random_state": seed, "accuracy": acc, "rbm_fit_seconds": rs, "pipeline_fit_seconds": ps})
            print(f"random_state {seed}: {name:12s} accuracy {acc:.4f}, RBM fit {rs:.3f} s, Pipeline.fit {ps:.3f} s",
                  flush=True)
    print()
    for name, rows in res.items():
        print(f"{name:12s} mean accuracy {statistics.mean(r['accuracy'] for r in rows):.4f}, median RBM fit "
              f"{statistics.median(r['rbm_fit_seconds'] for r in rows):.3f} s, median Pipeline.fit "
              f"{statistics.median(r['pipeline_fit_seconds'] for r in rows):.3f} s")
    ratio = (statistics.median(r["pipeline_fit_seconds"] for r in res["scikit-learn"])
             / statistics.median(r["pipeline_fit_seconds"] for r in res["onsager"]))
    print(f"Pipeline.fit with onsager's RBM is {ratio:.1f}x faster")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
