"""onsager.analyze / onsager.inspect: weights in memory give exactly the rows their files give, and the
numbers agree with NumPy's own linear algebra."""

import importlib.util
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import onsager
from conftest import need


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return {"fc1.weight": rng.standard_t(3, (300, 200)).astype(np.float32), "fc1.bias": np.zeros(300, np.float32),
            "fc2.weight": rng.normal(size=(100, 300)).astype(np.float32)}


def _same_rows(a, b):
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


def test_columns_and_numpys_eigenvalues():
    d = _weights()
    df = onsager.analyze(d, precision="double")  # the exact route; the default is checked below
    assert list(df["longname"]) == ["fc1.weight", "fc2.weight"] and list(df["name"]) == ["fc1", "fc2"]
    for col in ["layer_id", "N", "M", "num_evals", "alpha", "alpha_weighted", "D", "xmin", "xmax", "lambda_max",
                "log_norm", "log_spectral_norm", "log_alpha_norm", "stable_rank", "entropy", "num_pl_spikes",
                "mp_softrank", "num_spikes", "phase"]:
        assert col in df.columns, col
    for i, key in enumerate(["fc1.weight", "fc2.weight"]):
        s = np.linalg.svd(d[key].astype(np.float64), compute_uv=False)
        ev = s**2  # the eigenvalues of WᵀW (WeightWatcher's convention)
        row = df.iloc[i]
        assert row["lambda_max"] == pytest.approx(ev.max(), rel=1e-9)
        assert row["N"] == max(d[key].shape) and row["M"] == min(d[key].shape) == row["num_evals"]
        assert row["stable_rank"] == pytest.approx(ev.sum() / ev.max(), rel=1e-9)
        assert row["log_norm"] == pytest.approx(np.log10(ev.sum()), rel=1e-9)
        # alpha_weighted = alpha log10(lambda_max)
        assert row["alpha_weighted"] == pytest.approx(row["alpha"] * np.log10(ev.max()), rel=1e-12)
    auto = onsager.analyze(d)  # float32 weights: single-precision Gram matrices where they resolve the spectrum
    assert set(auto["esd_precision"]) <= {"single", "double"} and set(df["esd_precision"]) == {"double"}
    for col in ["lambda_max", "alpha", "xmin", "stable_rank"]:
        assert list(auto[col]) == pytest.approx(list(df[col]), rel=1e-6), col
    assert list(auto["num_pl_spikes"]) == list(df["num_pl_spikes"])
    summary = df.attrs["summary"]
    assert summary["num_layers"] == 2 and summary["alpha"] == pytest.approx(df["alpha"].mean())
    assert df.attrs["skipped"] == [{"name": "fc1.bias", "reason": "1-D (bias or norm)"}]


def test_ww_compat_halves_conv2d_eigenvalues_as_the_flag_does(tmp_path):
    rng = np.random.default_rng(5)
    d = {"conv.weight": rng.normal(size=(64, 32, 3, 3)), "fc.weight": rng.normal(size=(100, 50))}
    plain, ww = onsager.analyze(d), onsager.analyze(d, ww_compat=True)
    assert list(ww["lambda_max"]) == pytest.approx([plain["lambda_max"][0] / 2, plain["lambda_max"][1]], rel=1e-12)
    np.savez(tmp_path / "w.npz", **d)
    _same_rows(ww, onsager.analyze(tmp_path / "w.npz", ww_compat=True))


def test_a_dict_of_arrays_gives_the_rows_of_its_npz_file(tmp_path):
    d = _weights(1)
    np.savez(tmp_path / "w.npz", **d)
    _same_rows(onsager.analyze(d), onsager.analyze(tmp_path / "w.npz"))


def _torch():
    need(importlib.util.find_spec("torch") is not None, "torch (python3-torch)")
    import torch

    return torch


def test_a_live_module_gives_the_rows_of_its_torch_save_file(tmp_path):
    torch = _torch()
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16, torch.float64):
        model = torch.nn.Sequential(torch.nn.Linear(200, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100)).to(dtype)
        path = tmp_path / f"m-{dtype}.pt"
        torch.save(model.state_dict(), path)
        live = onsager.analyze(model)
        _same_rows(live, onsager.analyze(path))
        _same_rows(live, onsager.analyze(model.state_dict()))
        assert list(live["longname"]) == ["0.weight", "2.weight"]


def test_tensors_are_read_in_place_and_layouts_handled():
    torch = _torch()
    w = torch.randn(256, 128)
    ref = onsager.analyze({"w": w.clone()})
    _same_rows(onsager.analyze({"w": w}), ref)  # a CPU tensor, read where it lies
    # A transposed (non-contiguous) view is made contiguous first: the rows are those of the copy.
    wt = w.t()
    _same_rows(onsager.analyze({"w": wt}), onsager.analyze({"w": wt.contiguous()}))
    # requires_grad tensors are fine.
    _same_rows(onsager.analyze({"w": w.clone().requires_grad_()}), ref)


def test_options_are_the_command_lines():
    d = _weights(2)
    only = onsager.analyze(d, layers="fc2", min_evals=50)
    assert list(only["longname"]) == ["fc2.weight"]
    r = onsager.analyze(d, randomize=True, seed=3)
    assert "rand_lambda_max" in r.columns
    with pytest.raises(TypeError, match="unknown option"):
        onsager.analyze(d, min_eval=3)
    with pytest.raises(ValueError, match="min_tail must be at least 2"):
        onsager.analyze(d, min_tail=1)
    with pytest.raises(ValueError, match="'oihw' \\(PyTorch\\) or 'hwio'"):
        onsager.analyze(d, conv_layout="nchw")
    with pytest.raises(ValueError, match="matches none"):
        onsager.analyze(d, layers="nothing-like-this")


def test_bad_models():
    with pytest.raises(TypeError, match="model must be"):
        onsager.analyze(42)
    with pytest.raises(FileNotFoundError):
        onsager.analyze("/nonexistent/model.safetensors")
    with pytest.raises(ValueError, match="no layer"):
        onsager.analyze({"b": np.zeros(10, np.float32)})


def test_inspect():
    df = onsager.inspect(_weights())
    assert list(df["name"]) == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert list(df["layers"]) == [1, 0, 1] and list(df["num_evals"]) == [200, 0, 100]
    assert df.iloc[1]["becomes"].startswith("skipped")
    assert df.attrs["num_layers"] == 2


def test_quantised_onnx_weights_are_marked(tmp_path):
    """A quantised ONNX weight (tests/cli/quantized_onnx.py) shows how it was dequantised in both DataFrames."""
    need(importlib.util.find_spec("onnx") is not None, "python3-onnx")
    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "tests" / "cli"))
    import quantized_onnx

    path = next(m for m in quantized_onnx.models() if m.name == "qlinear").save(str(tmp_path))
    df = onsager.inspect(path)
    row = df[df["name"] == "conv_c.w"].iloc[0]
    assert row["dequantized"] == {"op": "QLinearConv", "scheme": "per-channel", "axis": 0, "scale": "conv_c.s",
                                  "scale_known": True, "zero_point": "conv_c.z"}
    assert df[df["name"] == "conv_c.s"].iloc[0]["dequantized"] is None
    a = onsager.analyze(path)
    assert list(a["dequantized"]) == ["QLinearConv, per-tensor, scale 'conv_t.s'",
                                      "QLinearConv, per-channel (axis 0), scale 'conv_c.s'",
                                      "QLinearMatMul, per-tensor, scale 'mm_t.s'",
                                      "QLinearMatMul, per-channel (axis 1), scale 'mm_c.s'"]


def test_arrays_are_not_copied_on_the_python_side():
    """tracemalloc sees NumPy's allocations: analysing a 16 MB C-order array allocates far less than that,
    while a Fortran-order one is copied to C order first (which shows the measurement can see a copy)."""
    w = np.random.default_rng(3).normal(size=(2000, 2000)).astype(np.float32)
    for arr, copied in ((w, False), (np.asfortranarray(w), True)):
        tracemalloc.start()
        onsager.analyze({"w": arr})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert (peak > w.nbytes) == copied, (peak, w.nbytes, copied)


def test_big_endian_arrays_are_read_by_value():
    w = np.random.default_rng(4).normal(size=(120, 80))
    _same_rows(onsager.analyze({"w": w.astype(">f8")}), onsager.analyze({"w": w}))
    _same_rows(onsager.analyze({"w": w.astype(">f4")}), onsager.analyze({"w": w.astype("<f4")}))


def test_integer_options_are_checked():
    d = _weights(5)
    with pytest.raises(TypeError, match="min_evals must be an integer"):
        onsager.analyze(d, min_evals=10.5)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        onsager.analyze(d, seed=-1)


def test_tensors_of_dtypes_onsager_does_not_read_are_left_out_with_the_reason():
    d = _weights(6)
    d["c"] = np.zeros((20, 20), np.complex64)
    d["t"] = np.zeros(3, "datetime64[s]")
    df = onsager.analyze(d)
    assert list(df["longname"]) == ["fc1.weight", "fc2.weight"]
    reasons = {s["name"]: s["reason"] for s in df.attrs["skipped"]}
    assert "complex64 is not one onsager reads" in reasons["c"] and "t" in reasons
