"""onsager.analyze and onsager.inspect: the spectral diagnostics of `onsager analyze`, on a file or on weights
in memory (a torch.nn.Module, a state dict, a dict of NumPy arrays), as pandas DataFrames."""

import json
import operator
import os
import sys
from collections.abc import Mapping

import numpy as np

from . import _onsager
from ._rbm import _threads

# onsager's JSON field -> the DataFrame column, WeightWatcher's name where the quantity is the same.
_RENAME = {"mp_num_spikes": "num_spikes", "kind": "layer_type"}
_FIRST = ["layer_id", "name", "longname", "layer_type", "N", "M", "Q", "num_evals", "alpha", "alpha_weighted", "D",
          "xmin", "xmax", "sigma", "lambda_max", "log_norm", "log_spectral_norm", "log_alpha_norm", "stable_rank",
          "entropy", "num_pl_spikes", "mp_softrank", "num_spikes", "phase"]


def _module_name(tensor_name):
    for suffix in (".weight", ".kernel", ".weight_orig"):
        if tensor_name.endswith(suffix):
            return tensor_name[: -len(suffix)]
    return tensor_name


def _memory_tensors(model):
    """(MemoryTensors, the arrays it reads in place, the tensors left out and why) for a module or mapping."""
    # torch only if the caller has it loaded (its tensors and modules imply it): importing it costs seconds and
    # sets the process's OpenMP thread count.
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        model = model.state_dict()
    if not isinstance(model, Mapping):
        raise TypeError("analyze: model must be a path, a torch.nn.Module, or a dict of tensors or arrays "
                        f"(got {type(model).__name__})")
    source = _onsager.MemoryTensors()
    keep, left_out = [], []
    for name, value in model.items():
        name = str(name)
        if torch is not None and isinstance(value, torch.Tensor):
            t = value.detach()
            if t.device.type != "cpu":
                t = t.cpu()  # a copy: only CPU memory is read in place
            t = t.contiguous()
            if t.dtype == torch.bfloat16:
                arr, dtype = t.view(torch.int16).numpy(), "bfloat16"
            else:
                try:
                    arr = t.numpy()
                except (TypeError, RuntimeError) as e:  # complex, quantised, conjugate or negative views, ...
                    left_out.append({"name": name, "reason": f"dtype {t.dtype} ({e})"})
                    continue
                dtype = arr.dtype.name
            keep.append(t)
        else:
            arr = np.asarray(value)
            if not arr.dtype.isnative:  # the library reads little-endian bytes: byte-swap a big-endian array
                arr = arr.astype(arr.dtype.newbyteorder("="))
            if not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr)
            dtype = arr.dtype.name
        if arr.ndim == 0:
            arr = arr.reshape(1)
        try:
            # The library's dtype vocabulary (io/dtype.hpp) decides what is read; NumPy refuses a buffer for
            # some dtypes (datetimes) before it is asked.
            source.add(name, arr, dtype)
        except (ValueError, BufferError) as e:
            left_out.append({"name": name, "reason": str(e)})
            continue
        keep.append(arr)
    return source, keep, left_out


def _report(model, where, from_path, from_memory):
    """(the library's JSON report as a dict, the format, the tensors left out and why) for a path or for weights
    in memory; the arrays stay referenced until the library has read them."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{where}: {path}: no such file or directory")
        text, fmt = from_path(path)
        return json.loads(text), fmt, []
    source, keep, left_out = _memory_tensors(model)
    text = from_memory(source)
    del keep
    return json.loads(text), "memory", left_out


_INTEGER_OPTIONS = ("min_evals", "min_tail", "seed", "threads")


def _options(kw, allowed, where):
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise TypeError(f"{where}: unknown option(s) {', '.join(unknown)}; the options are {', '.join(allowed)}")
    out = {k: v for k, v in kw.items() if v is not None}
    for k in _INTEGER_OPTIONS:
        if k in out:
            try:
                out[k] = operator.index(out[k])
            except TypeError:
                raise TypeError(f"{where}: {k} must be an integer (got {out[k]!r})") from None
            if out[k] < 0:
                raise ValueError(f"{where}: {k} must be >= 0 (got {out[k]})")
    return out


_ANALYZE_OPTIONS = ("layers", "min_evals", "per_slice", "conv_layout", "xmax", "min_tail", "fix_fingers", "randomize",
                    "seed", "esd", "precision", "ww_compat", "plots", "threads", "progress")


def analyze(model, **options):
    """The spectral diagnostics of every layer of `model`, one DataFrame row per layer.

    model: a path to any file `onsager analyze` reads (safetensors, sharded Hugging Face directories, .npy/.npz,
    ONNX, PyTorch checkpoints, TF.js, Keras .h5), a torch.nn.Module, a state dict of torch tensors, or a dict
    of NumPy arrays. CPU tensors and C-order arrays are read where they lie (no copy on the Python side; the
    library converts one tensor at a time to double as it analyses it, as it does with a file).

    Options, named as `onsager analyze`'s flags: layers (regex on tensor names), min_evals (10), per_slice,
    conv_layout ("oihw" or "hwio"), xmax, min_tail (2), fix_fingers, randomize, seed, esd ("gram" or "svd"),
    precision ("auto", "single" or "double"), ww_compat (WeightWatcher's conv2d_norm and rank rule, as
    --ww-compat), plots (a directory that gets one PNG per layer), threads (None: all cores), progress (a bar on
    stderr).

    Columns carry WeightWatcher's names where the quantity is the same (layer_id, name, longname, N, M,
    num_evals, alpha, alpha_weighted, D, xmin, xmax, lambda_max, log_norm, log_spectral_norm, log_alpha_norm,
    stable_rank, entropy, num_pl_spikes, mp_softrank, num_spikes, ...) plus phase and onsager's own fields;
    df.attrs["summary"] holds the means over layers with a valid fit and the phase counts, df.attrs["skipped"]
    the tensors that are not layers.
    """
    import pandas as pd

    opts = _options(options, _ANALYZE_OPTIONS, "analyze")
    threads = opts.pop("threads", None)
    if "plots" in opts:
        opts["plots"] = os.fspath(opts["plots"])
    with _threads(threads):
        report, fmt, left_out = _report(model, "analyze", lambda path: _onsager.analyze_path(path, opts),
                                        lambda source: _onsager.analyze_memory(source, "memory", opts))
    rows = []
    for i, layer in enumerate(report["layers"]):
        row = {"layer_id": i, "name": _module_name(layer["name"]), "longname": layer["name"]}
        for k, v in layer.items():
            if k != "name":
                row[_RENAME.get(k, k)] = v
        rows.append(row)
    df = pd.DataFrame(rows)
    cols = [c for c in _FIRST if c in df.columns] + [c for c in df.columns if c not in _FIRST]
    df = df[cols]
    df = df.fillna(value=np.nan)
    df.attrs["summary"] = report["summary"]
    df.attrs["skipped"] = report["skipped"] + left_out
    df.attrs["source"] = report["source"]
    df.attrs["format"] = fmt
    if "evals" in report:
        df.attrs["evals"] = {layer["name"]: np.asarray(e) for layer, e in zip(report["layers"], report["evals"])}
    return df


def inspect(model, **options):
    """The tensors of `model` (a path, module, state dict or dict of arrays, as analyze takes) and what the
    analysis makes of each, one DataFrame row per tensor: name, dtype, shape, stored_shape, stored_layout, op,
    dequantized (how a quantised ONNX weight was dequantised, as inspect's JSON says it: a dict, or None),
    layers (how many analysis layers it gives), num_evals, becomes (a layer kind, or why it is skipped).
    Options: layers, min_evals, per_slice, conv_layout. Nothing is computed and no values are read."""
    import pandas as pd

    opts = _options(options, ("layers", "min_evals", "per_slice", "conv_layout"), "inspect")
    report, fmt, left_out = _report(model, "inspect", lambda path: _onsager.inspect_path(path, opts),
                                    lambda source: _onsager.inspect_memory(source, opts))
    rows = []
    for t in report["tensors"]:
        layers = t.get("layers") or []
        rows.append({"name": t["name"], "dtype": t["dtype"], "shape": tuple(t["shape"]),
                     "stored_shape": tuple(t.get("stored_shape") or ()), "stored_layout": t.get("stored_layout", ""),
                     "op": t.get("op", ""), "dequantized": t.get("dequantized"), "layers": len(layers),
                     "num_evals": sum(int(l.get("num_evals", 0)) for l in layers),
                     "becomes": layers[0]["kind"] if layers else "skipped: " + str(t.get("skipped", ""))})
    df = pd.DataFrame(rows)
    df.attrs["format"] = fmt
    df.attrs["num_layers"] = report["num_layers"]
    df.attrs["left_out"] = left_out
    return df
