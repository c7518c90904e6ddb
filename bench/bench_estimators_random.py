#!/usr/bin/python3
"""log Z estimators on random 784 x H RBMs across weight scales, against exact enumeration (docs/likelihood.md,
"Where each estimator wins"): W ~ N(0, s^2), biases N(0, 0.5^2), for s from weak to strong coupling. For each model,
in one run: exact log Z, AIS annealing the visible and the hidden layer (uniform base: random models have no data),
BAR over parallel tempering, the rigorous lower bound (summing the bound's states exactly in AIS when they hold
most of Z, as `rbm eval` does), and their seconds. Prints a markdown table.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_estimators_random.py [--hidden 20] [--runs 100]
"""
import argparse
import time

import numpy as np

import onsager._onsager as O

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--hidden", type=int, default=20)
p.add_argument("--visible", type=int, default=784)
p.add_argument("--runs", type=int, default=100)
p.add_argument("--scales", default="0.02,0.05,0.1,0.2,0.5,1.0")
a = p.parse_args()

none = np.zeros(0, np.float32)
print(f"| W std | exact | AIS visible | AIS hidden | BAR | lower bound | AIS hidden + bound's states |")
print("| ---: | ---: | --- | --- | --- | --- | --- |")
for s in [float(x) for x in a.scales.split(",")]:
    rng = np.random.default_rng(int(s * 1000) + a.hidden)
    W = (rng.standard_normal((a.hidden, a.visible)) * s).astype(np.float32)
    b = (rng.standard_normal(a.visible) * 0.5).astype(np.float32)
    c = (rng.standard_normal(a.hidden) * 0.5).astype(np.float32)
    ex = O.log_partition_exact(W, b, c, 30)
    cells = []
    for layer in ["visible", "hidden"]:
        r = O.log_partition_ais(W, b, c, none, a.runs, 0, 1, False, False, layer, "uniform", none)["main"]
        hi = r["log_z_hi"] - r["log_z"]
        cells.append(f"{r['log_z'] - ex:+.3f} (±{hi:.3f}, ESS {r['ess']:.0f}, {r['seconds']:.1f} s)")
    t = O.log_partition_bar(W, b, c, none, 10, 100, 1000, 200, 2, False, "automatic", "uniform", none)
    cells.append(f"{t['log_z'] - ex:+.3f} (±{t['log_z_err']:.3f}, {t['seconds']:.1f} s)")
    mb = O.log_partition_mode_bound(W, b, c, np.zeros((0, a.visible), np.float32), 100, 1)
    cells.append(f"{mb['log_z_lower'] - ex:+.3f} ({mb['states']} states)")
    r = O.log_partition_ais(W, b, c, none, a.runs, 0, 1, False, False, "hidden", "uniform", none,
                            np.asarray(mb["state_matrix"], np.float32))["main"]
    used = "used" if r["exact_states_used"] else "not used"
    cells.append(f"{r['log_z'] - ex:+.3f} ({used})")
    print(f"| {s:g} | {ex:.2f} | " + " | ".join(cells) + " |")
print(f"\n{a.visible} x {a.hidden}, AIS {a.runs} runs x 14,501 temperatures; BAR 10 ladders x 100 temperatures x 1,000 "
      "sweeps; entries are estimate - exact (± the upper half-width).")
