#!/usr/bin/env python3
"""AIS for a Bernoulli RBM in NumPy (float64), written from Salakhutdinov & Murray (ICML 2008) §4.1 in the
style of their published MATLAB code: the reference point for bench_ais. Reads a model written by onsager
(safetensors: weight [H, V], visible_bias, hidden_bias) plus the base model's visible bias b_A as the tensor `base_bias`.
Prints one JSON object: log Z estimate, seconds, seconds per temperature."""
import argparse, json, struct, time
import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": np.float32, "F64": np.float64}[info["dtype"]]
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"]).astype(np.float64)
    return out


def schedule(k):
    # Salakhutdinov & Murray: 1e-3 steps to 0.5, 1e-4 to 0.9, 1e-5 to 1; k values spaced along that curve.
    full = np.concatenate([np.linspace(0, 0.5, 501)[:-1], np.linspace(0.5, 0.9, 4001)[:-1], np.linspace(0.9, 1, 10001)])
    if k == 0 or k == full.size:
        return full
    return np.interp(np.linspace(0, full.size - 1, k), np.arange(full.size), full)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--betas", type=int, default=1451)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    m = read_safetensors(a.model)
    W, b, c = m["weight"].T, m["visible_bias"], m["hidden_bias"]  # W: V x H as in the MATLAB code
    bA = m["base_bias"]
    V, H = W.shape
    rng = np.random.default_rng(a.seed)
    betas = schedule(a.betas)
    t0 = time.perf_counter()
    # v ~ base model; log w accumulates log p_k*(v) - log p_{k-1}*(v), then v moves by the transition at β_k.
    # x = vW + c is computed once per temperature and serves both terms (two GEMMs per temperature).
    v = (rng.random((a.runs, V)) < 1.0 / (1.0 + np.exp(-bA))).astype(np.float64)
    x = v @ W + c
    logw = np.zeros(a.runs)

    def log_p(bk):
        return (1 - bk) * (v @ bA) + bk * (v @ b) + np.logaddexp(0, bk * x).sum(1)

    for k in range(1, betas.size):
        logw += log_p(betas[k]) - log_p(betas[k - 1])
        if k + 1 < betas.size:
            bk = betas[k]
            h = (rng.random((a.runs, H)) < 1.0 / (1.0 + np.exp(-bk * x))).astype(np.float64)
            pv = 1.0 / (1.0 + np.exp(-((1 - bk) * bA + bk * (h @ W.T + b))))
            v = (rng.random(pv.shape) < pv).astype(np.float64)
            x = v @ W + c
    seconds = time.perf_counter() - t0
    log_za = np.logaddexp(0, bA).sum() + H * np.log(2.0)
    mx = logw.max()
    log_z = log_za + mx + np.log(np.mean(np.exp(logw - mx)))
    print(json.dumps({"peer": f"numpy {np.__version__} float64", "log_z": float(log_z), "seconds": seconds,
                      "temperatures": int(betas.size), "runs": a.runs,
                      "seconds_per_temperature": seconds / betas.size}))


if __name__ == "__main__":
    main()
