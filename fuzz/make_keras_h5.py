#!/usr/bin/python3
"""Writes Keras HDF5 files with h5py, laid out exactly as Keras 2 (tf.keras hdf5_format.py) writes them, and next
to each FILE.h5 a FILE.expect.json: h5py's own view of every weight (names in file order, dtype, stored shape)
and the values in PyTorch's layout (NumPy's transpose of what h5py reads back), for onsager's tests.

    /usr/bin/python3 fuzz/make_keras_h5.py OUTDIR [--hostile]
    /usr/bin/python3 fuzz/make_keras_h5.py --corpus SEEDS/keras_h5    (the fuzzer's seed files, < 16 KB)

--hostile also writes malformed-but-HDF5-valid files (bad_*.h5) that the reader must refuse with one error.
Keras's attribute conventions: string lists are NumPy arrays of bytes (fixed-length HDF5 strings), split into
NAME0, NAME1, ... when over 64 KB; an empty list is np.asarray([]) (an empty float64 array); model_config is
one bytes string of JSON.
"""
import json
import os
import sys

import h5py
import numpy as np

rng = np.random.default_rng(1234)


def rand(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def save_attr(obj, name, data):
    """Keras's save_attributes_to_hdf5_group (64512-byte chunks)."""
    data_npy = np.asarray(data)
    num_chunks = 1
    chunked = np.array_split(data_npy, num_chunks)
    while any(x.nbytes > 64512 for x in chunked):
        num_chunks += 1
        chunked = np.array_split(data_npy, num_chunks)
    if num_chunks > 1:
        for i, c in enumerate(chunked):
            obj.attrs[f"{name}{i}"] = c
    else:
        obj.attrs[name] = data


# Layer: (name, class_name, [(weight_name, array)]).  PERM[class, rank] is the move into PyTorch's layout
# (LSTM: by variable name).
PERM = {
    ("Dense", 2): ((1, 0), "in x out"),
    ("Conv1D", 3): ((2, 1, 0), "k x in x out"),
    ("Conv2D", 4): ((3, 2, 0, 1), "HWIO"),
    ("Conv2DTranspose", 4): ((2, 3, 0, 1), "HWOI"),
    ("DepthwiseConv2D", 4): ((2, 3, 0, 1), "kh x kw x in x mult"),  # then (in * mult, 1, kh, kw), PyTorch's
    ("LSTM", 2, "kernel"): ((1, 0), "in x gates*units"),
    ("LSTM", 2, "recurrent_kernel"): ((1, 0), "units x gates*units"),
    ("Embedding", 2): (None, None),
}
GUESS = {2: ((1, 0), "in x out", "Dense"), 3: ((2, 1, 0), "k x in x out", "Conv1D"),
         4: ((3, 2, 0, 1), "HWIO", "Conv2D")}


def write_layers(group, layers):
    save_attr(group, "layer_names", [name.encode("utf8") for name, _, _ in layers])
    for name, _, weights in layers:
        g = group.create_group(name)
        save_attr(g, "weight_names", [w.encode("utf8") for w, _ in weights])
        for w, value in weights:
            d = g.create_dataset(w, value.shape, dtype=value.dtype)
            if not value.shape:
                d[()] = value
            else:
                d[:] = value


def expectations(path, layers, have_config, group_prefix, classes):
    """h5py's view of the written file, moved into PyTorch's layout by NumPy."""
    out = []
    with h5py.File(path, "r") as f:
        for name, cls, weights in layers:
            for w, _ in weights:
                arr = f[f"{group_prefix}{name}/{w}"][()]
                tname = w[:-2] if w.endswith(":0") else w
                if sum((x[:-2] if x.endswith(":0") else x) == tname for _, _, ws in layers for x, _ in ws) > 1:
                    tname = f"{name}/{tname}"
                var = tname.split("/")[-1]
                inner = tname.split("/")[:-1]
                c = next((classes[p] for p in reversed(inner) if p in classes), cls if have_config else None)
                e = {"name": tname, "dtype": arr.dtype.name, "stored_shape": list(arr.shape),
                     "floating": bool(np.issubdtype(arr.dtype, np.floating)), "op": None, "stored_layout": None,
                     "canonical": False}
                perm = None
                if have_config and c:
                    e["op"] = c
                    key = (c, arr.ndim, var) if (c, arr.ndim, var) in PERM else (c, arr.ndim)
                    if key in PERM:
                        perm, e["stored_layout"] = PERM[key]
                        e["canonical"] = True
                    e["canonical"] = e["canonical"] or arr.ndim <= 1
                elif not have_config and var == "kernel" and arr.ndim in GUESS:
                    perm, e["stored_layout"], e["op"] = GUESS[arr.ndim]
                    e["canonical"] = True
                elif not have_config and var == "recurrent_kernel" and arr.ndim == 2:
                    perm, e["stored_layout"], e["op"] = (1, 0), "units x gates*units", "RNN"
                    e["canonical"] = True
                moved = np.transpose(arr, perm) if perm else arr
                if perm and c == "DepthwiseConv2D":
                    moved = moved.reshape(moved.shape[0] * moved.shape[1], 1, *moved.shape[2:])
                if not perm:
                    e["stored_layout"] = None
                e["shape"] = list(moved.shape)
                e["values"] = [float(x) for x in moved.astype(np.float64).ravel()]
                out.append(e)
    with open(path[:-3] + ".expect.json", "w") as fh:
        json.dump(out, fh)


def keras_config(layers, nested):
    def layer_cfg(name, cls):
        return {"class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32"}}
    inner = [layer_cfg(n, c) for n, c in nested]
    top = []
    for name, cls, _ in layers:
        if cls == "Sequential":
            top.append({"class_name": "Sequential", "config": {"name": name, "layers": inner}, "name": name,
                        "inbound_nodes": []})
        else:
            d = layer_cfg(name, cls)
            d["name"] = name
            d["inbound_nodes"] = []
            top.append(d)
    return {"class_name": "Functional", "config": {"name": "model", "layers": top, "input_layers": [],
                                                    "output_layers": []}}


def write_corpus(out):
    os.makedirs(out, exist_ok=True)
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Conv2D", "config": {"name": "c"}}, {"class_name": "Dense", "config": {"name": "d"}}]}}
    with h5py.File(os.path.join(out, "whole.h5"), "w") as f:
        f.attrs["model_config"] = json.dumps(cfg).encode("utf8")
        mw = f.create_group("model_weights")
        write_layers(mw, [("c", "Conv2D", [("c/kernel:0", rand((2, 2, 1, 2), np.float32))]),
                          ("d", "Dense", [("d/kernel:0", rand((3, 2), np.float16))])])
    with h5py.File(os.path.join(out, "weights.h5"), "w") as f:
        write_layers(f, [("d", "Dense", [("d/kernel:0", rand((3, 2), np.float64)), ("d/bias:0", rand((2,), np.float32))])])
    with h5py.File(os.path.join(out, "fixed_strings.h5"), "w") as f:  # h5py 2.x / np.array: fixed-length strings
        f.attrs["layer_names"] = np.array([b"d"])
        g = f.create_group("d")
        g.attrs["weight_names"] = np.array([b"d/kernel:0"])
        g.create_dataset("d/kernel:0", data=rand((2, 3), np.float32))
    with h5py.File(os.path.join(out, "plain.h5"), "w") as f:
        f.create_dataset("a/kernel", data=rand((3, 2), np.float32), compression="gzip", shuffle=True)
        f.create_dataset("b", data=np.arange(4, dtype=np.int16))


def main():
    if sys.argv[1] == "--corpus":
        write_corpus(sys.argv[2])
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    nested = [("embedding", "Embedding"), ("lstm", "LSTM")]
    classes = {"embedding": "Embedding", "lstm": "LSTM"}
    whole_layers = [
        ("input_1", "InputLayer", []),
        ("conv2d", "Conv2D", [("conv2d/kernel:0", rand((3, 3, 2, 4), np.float32)),
                              ("conv2d/bias:0", rand((4,), np.float32))]),
        ("depthwise_conv2d", "DepthwiseConv2D", [("depthwise_conv2d/depthwise_kernel:0", rand((3, 3, 4, 2), np.float32))]),
        ("conv2d_transpose", "Conv2DTranspose", [("conv2d_transpose/kernel:0", rand((2, 2, 5, 8), np.float32))]),
        ("conv1d", "Conv1D", [("conv1d/kernel:0", rand((3, 2, 5), np.float16)),
                              ("conv1d/bias:0", rand((5,), np.float16))]),
        ("flatten", "Flatten", []),
        ("dense", "Dense", [("dense/kernel:0", rand((6, 5), np.float64)), ("dense/bias:0", rand((5,), np.float64))]),
        ("dense_2", "Dense", [("dense_2_W:0", rand((7, 3), np.float32)), ("dense_2_b:0", rand((3,), np.float32))]),
        ("sequential", "Sequential", [("embedding/embeddings:0", rand((10, 4), np.float32)),
                                      ("lstm/lstm_cell/kernel:0", rand((4, 12), np.float32)),
                                      ("lstm/lstm_cell/recurrent_kernel:0", rand((3, 12), np.float32)),
                                      ("lstm/lstm_cell/bias:0", rand((12,), np.float32))]),
        ("counter", "StepCounter", [("counter/steps:0", np.arange(6, dtype=np.int32).reshape(2, 3))]),
    ]
    path = os.path.join(out, "whole.h5")
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow".encode("utf8")
        f.attrs["keras_version"] = "2.11.0".encode("utf8")
        f.attrs["model_config"] = json.dumps(keras_config(whole_layers, nested)).encode("utf8")
        f.attrs["training_config"] = json.dumps({"loss": "mse"}).encode("utf8")
        mw = f.create_group("model_weights")
        mw.attrs["backend"] = "tensorflow".encode("utf8")
        mw.attrs["keras_version"] = "2.11.0".encode("utf8")
        write_layers(mw, whole_layers)
        ow = f.create_group("optimizer_weights")
        save_attr(ow, "weight_names", [b"Adam/iter:0"])
        ow.create_dataset("Adam/iter:0", data=np.int64(3))
    expectations(path, whole_layers, True, "model_weights/", {**classes, **{n: c for n, c, _ in whole_layers}})

    weights_layers = [
        ("dense_1", "Dense", [("dense_1/kernel:0", rand((8, 3), np.float32)), ("dense_1/bias:0", rand((3,), np.float32))]),
        ("conv2d_1", "Conv2D", [("conv2d_1/kernel:0", rand((2, 2, 3, 4), np.float64))]),
        ("lstm_1", "LSTM", [("lstm_1/lstm_cell_1/kernel:0", rand((5, 8), np.float16)),
                            ("lstm_1/lstm_cell_1/recurrent_kernel:0", rand((2, 8), np.float16))]),
        ("dropout", "Dropout", []),
    ]
    path = os.path.join(out, "weights.h5")
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.11.0"
        write_layers(f, weights_layers)
    expectations(path, weights_layers, False, "", {})

    # Keras's split attribute: layer_names0, layer_names1 (forced small here), Keras-3-style bare weight names.
    split_layers = [("d0", "Dense", [("kernel", rand((3, 2), np.float32))]),
                    ("d1", "Dense", [("kernel", rand((2, 2), np.float32))])]
    path = os.path.join(out, "split.h5")
    with h5py.File(path, "w") as f:
        write_layers(f, split_layers)
        del f.attrs["layer_names"]
        f.attrs["layer_names0"] = np.array([b"d0"])
        f.attrs["layer_names1"] = np.array([b"d1"])
    expectations(path, split_layers, False, "", {})

    # No layer_names at all: every dataset is walked (names sorted by HDF5), kernels by TF's rank convention.
    path = os.path.join(out, "plain.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("block/dense/kernel:0", data=rand((4, 3), np.float32))
        f.create_dataset("block/dense/bias:0", data=rand((3,), np.float32))
        f.create_dataset("matrix", data=rand((5, 4), np.float64), compression="gzip")
        f.create_dataset("notes", data=np.array([b"text"]))
        f.create_dataset("z_big_endian", data=rand((2, 3), ">f4"))
        f.create_dataset("z_int8", data=np.array([[-128, 5], [7, 127]], np.int8))
        f["z_soft"] = h5py.SoftLink("/matrix")
    walked = ["block/dense/bias:0", "block/dense/kernel:0", "matrix", "z_big_endian", "z_int8"]
    exp = []
    with h5py.File(path, "r") as f:
        for n in walked:
            arr = f[n][()]
            name = n[:-2] if n.endswith(":0") else n
            e = {"name": name, "dtype": arr.dtype.name, "stored_shape": list(arr.shape),
                 "floating": bool(np.issubdtype(arr.dtype, np.floating)), "op": None,
                 "stored_layout": None, "canonical": False}
            perm = None
            if name.split("/")[-1] == "kernel" and arr.ndim in GUESS:
                perm, e["stored_layout"], e["op"] = GUESS[arr.ndim]
                e["canonical"] = True
            moved = np.transpose(arr, perm) if perm else arr
            e["shape"] = list(moved.shape)
            e["values"] = [float(x) for x in moved.astype(np.float64).ravel()]
            exp.append(e)
    with open(path[:-3] + ".expect.json", "w") as fh:
        json.dump(exp, fh)

    if "--hostile" in sys.argv:
        write_hostile(out)


def write_hostile(out):
    def base(name, **kw):
        f = h5py.File(os.path.join(out, name), "w")
        save_attr(f, "layer_names", [b"dense"])
        g = f.create_group("dense")
        save_attr(g, "weight_names", [b"dense/kernel:0"])
        g.create_dataset("dense/kernel:0", data=rand((3, 2), np.float32), **kw)
        return f, g
    with h5py.File(os.path.join(out, "bad_missing_layer.h5"), "w") as f:
        save_attr(f, "layer_names", [b"dense", b"ghost"])
        g = f.create_group("dense")
        save_attr(g, "weight_names", [])
    f, g = base("bad_weight_is_group.h5")
    g.attrs["weight_names"] = np.array([b"dense"])
    f.close()
    f, g = base("bad_weight_missing.h5")
    g.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
    f.close()
    f, g = base("bad_layer_names_int.h5")
    f.attrs["layer_names"] = np.array([1, 2, 3])
    f.close()
    f, g = base("bad_weight_names_2d.h5")
    g.attrs["weight_names"] = np.array([[b"a", b"b"], [b"c", b"d"]])
    f.close()
    f, g = base("bad_model_config.h5")
    f.attrs["model_config"] = b"{not json"
    f.close()
    f, g = base("bad_deep_config.h5")
    f.attrs["model_config"] = b"[" * 100000 + b"]" * 100000
    f.close()
    f, g = base("bad_soft_link.h5")
    g["dense/other"] = h5py.SoftLink("/dense/dense/kernel:0")
    g.attrs["weight_names"] = np.array([b"dense/other"])
    f.close()
    f, g = base("bad_external_link.h5")
    g["dense/ext"] = h5py.ExternalLink("/etc/passwd", "/x")
    g.attrs["weight_names"] = np.array([b"dense/ext"])
    f.close()
    with open(os.path.join(out, "raw.bin"), "wb") as fh:
        fh.write(np.zeros(6, np.float32).tobytes())
    f, g = base("bad_external_storage.h5")
    g.create_dataset("dense/bias:0", shape=(6,), dtype=np.float32, external=[(os.path.join(out, "raw.bin"), 0, 24)])
    g.attrs["weight_names"] = np.array([b"dense/bias:0"])
    f.close()
    f, g = base("bad_huge_chunked.h5")
    g.create_dataset("dense/bias:0", shape=(2**40,), dtype=np.float32, chunks=(1024,))
    g.attrs["weight_names"] = np.array([b"dense/bias:0"])
    f.close()
    f, g = base("bad_huge_contiguous.h5")
    g.create_dataset("dense/bias:0", shape=(10**6, 10**6), dtype=np.float32)
    g.attrs["weight_names"] = np.array([b"dense/bias:0"])
    f.close()
    f, g = base("bad_lzf.h5")
    g.create_dataset("dense/bias:0", data=rand((64,), np.float32), compression="lzf")
    g.attrs["weight_names"] = np.array([b"dense/bias:0"])
    f.close()
    f, g = base("bad_string_weight.h5")
    g.create_dataset("dense/bias:0", data=np.array([b"abc", b"def"]))
    g.attrs["weight_names"] = np.array([b"dense/bias:0"])
    f.close()
    f, g = base("bad_compound_weight.h5")
    g.create_dataset("dense/bias:0", data=np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]))
    g.attrs["weight_names"] = np.array([b"dense/bias:0"])
    f.close()
    f, g = base("bad_dotdot.h5")
    g.attrs["weight_names"] = np.array([b"../dense/dense/kernel:0"])
    f.close()


if __name__ == "__main__":
    main()
