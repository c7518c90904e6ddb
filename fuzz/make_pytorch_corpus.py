#!/usr/bin/python3
"""Writes the seed corpora of fuzz_pytorch (small torch.save checkpoints) and fuzz_pickle (their data.pkl, whose
storages are float32 "0" with at most 16 elements and "1" with at most 4, as fuzz_pickle.cpp provides).
    /usr/bin/python3 fuzz/make_pytorch_corpus.py SEEDS   (writes SEEDS/pytorch/ and SEEDS/pickle/; needs torch)"""
import io, os, sys, zipfile
import torch

pt, pk = os.path.join(sys.argv[1], "pytorch"), os.path.join(sys.argv[1], "pickle")
os.makedirs(pt, exist_ok=True)
os.makedirs(pk, exist_ok=True)
torch.manual_seed(0)
w = torch.randn(4, 4)
b = torch.randn(4)
objects = {
    "linear": torch.nn.Linear(4, 3).state_dict(),
    "views": {"w": w, "wt": w.t(), "slice": w[1:3, ::2], "b": b},
    "checkpoint": {"epoch": 3, "model": {"enc": {"layer": [{"weight": w}]}, "head.bias": b},
                   "optimizer": {"state": {0: {"exp_avg": b}}, "param_groups": [{"lr": 0.1}]}},
    "dtypes": {"h": w.half(), "bf": w.bfloat16(), "d": b.double(), "n": torch.tensor(7)},
}
for name, obj in objects.items():
    path = os.path.join(pt, name + ".pt")
    torch.save(obj, path)
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        if name in ("views", "checkpoint"):  # storages "0" (16 floats) and "1" (4 floats) only
            open(os.path.join(pk, name + ".pkl"), "wb").write(z.read(pkl))
    assert os.path.getsize(path) < 16384, path
