#!/usr/bin/python3
"""Every Keras layer class onsager knows, written twice with the same weights: as a Keras HDF5 whole-model file
(h5py, in Keras 2's layout) and as a TensorFlow.js layers model (model.json + one shard), plus the weights in
PyTorch's layout as NumPy moves them (expect.npz), for tests/cli/test_keras_layouts.sh.

    /usr/bin/python3 tests/cli/keras_layouts.py OUTDIR

The expected layout of each class is written here from PyTorch's conventions, independently of onsager's table:
Linear (out, in); ConvNd (out, in, *k); transposed convolutions (out, in, *k) as onsager gives every
convolution; depthwise (in * mult, 1, *k); RNN kernels (gates*units, in) and (gates*units, units); Embedding
(vocab, dim) as stored.
"""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz"))
from make_keras_h5 import keras_config, write_layers  # noqa: E402  (one writer of Keras's HDF5 layout)

rng = np.random.default_rng(7)


def depthwise(a):
    """(k..., in, mult) -> (in * mult, 1, k...)."""
    nk = a.ndim - 2
    moved = np.transpose(a, (nk, nk + 1) + tuple(range(nk)))
    return moved.reshape((moved.shape[0] * moved.shape[1], 1) + moved.shape[2:])


# (class, weight variable, stored shape, the move into PyTorch's layout)
CASES = [
    ("Dense", "kernel", (6, 5), lambda a: a.T),
    ("Conv1D", "kernel", (3, 2, 4), lambda a: np.transpose(a, (2, 1, 0))),
    ("Conv2D", "kernel", (3, 2, 2, 5), lambda a: np.transpose(a, (3, 2, 0, 1))),
    ("Conv3D", "kernel", (2, 2, 3, 2, 4), lambda a: np.transpose(a, (4, 3, 0, 1, 2))),
    ("Conv1DTranspose", "kernel", (3, 4, 2), lambda a: np.transpose(a, (1, 2, 0))),
    ("Conv2DTranspose", "kernel", (3, 2, 4, 5), lambda a: np.transpose(a, (2, 3, 0, 1))),
    ("Conv3DTranspose", "kernel", (2, 2, 3, 4, 5), lambda a: np.transpose(a, (3, 4, 0, 1, 2))),
    ("DepthwiseConv2D", "depthwise_kernel", (3, 3, 4, 2), depthwise),
    ("DepthwiseConv1D", "depthwise_kernel", (3, 4, 2), depthwise),
    ("SeparableConv2D", "depthwise_kernel", (3, 3, 2, 3), depthwise),
    ("SeparableConv2D", "pointwise_kernel", (1, 1, 6, 4), lambda a: np.transpose(a, (3, 2, 0, 1))),
    ("SeparableConv1D", "depthwise_kernel", (3, 2, 3), depthwise),
    ("SeparableConv1D", "pointwise_kernel", (1, 6, 4), lambda a: np.transpose(a, (2, 1, 0))),
    ("Embedding", "embeddings", (10, 4), lambda a: a),
    ("LSTM", "kernel", (4, 12), lambda a: a.T),
    ("LSTM", "recurrent_kernel", (3, 12), lambda a: a.T),
    ("LSTM", "W_i", (4, 3), lambda a: a.T),  # Keras 1 names: told by the class and the rank
    ("GRU", "kernel", (4, 9), lambda a: a.T),
    ("SimpleRNN", "recurrent_kernel", (3, 3), lambda a: a.T),
]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    layers, expect, cases = [], {}, []
    for i, (cls, var, shape, move) in enumerate(CASES):
        name = f"{cls.lower()}_{i}"
        value = rng.standard_normal(shape).astype(np.float32)
        layers.append((name, cls, [(f"{name}/{var}:0", value)]))
        expect[f"{name}/{var}"] = np.ascontiguousarray(move(value)).astype(np.float32)
        cases.append({"name": f"{name}/{var}", "class": cls, "stored_shape": list(shape),
                      "shape": list(expect[f"{name}/{var}"].shape)})

    # Keras HDF5, as Keras 2 writes a whole model.
    with h5py.File(os.path.join(out, "model.h5"), "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.11.0"
        f.attrs["model_config"] = json.dumps(keras_config(layers, [])).encode("utf8")
        mw = f.create_group("model_weights")
        write_layers(mw, layers)

    # TensorFlow.js layers model: the same topology, one float32 shard.
    os.makedirs(os.path.join(out, "tfjs"), exist_ok=True)
    blob, weights = b"", []
    for name, _, ws in layers:
        for w, value in ws:
            weights.append({"name": w[:-2], "shape": list(value.shape), "dtype": "float32"})
            blob += value.astype("<f4").tobytes()
    with open(os.path.join(out, "tfjs", "group1-shard1of1.bin"), "wb") as f:
        f.write(blob)
    model = {"format": "layers-model", "generatedBy": "keras_layouts.py", "convertedBy": None,
             "modelTopology": {"model_config": keras_config(layers, [])},
             "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": weights}]}
    with open(os.path.join(out, "tfjs", "model.json"), "w") as f:
        json.dump(model, f)

    np.savez(os.path.join(out, "expect.npz"), **expect)
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    main()
