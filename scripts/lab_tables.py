#!/usr/bin/python3
"""Markdown tables of a lab report (the JSON of `onsager lab batch-size`, `random-labels` or `rbm-temperature`),
as docs/lab.md shows them.

    /usr/bin/python3 scripts/lab_tables.py REPORT.json
"""
import json
import sys


def f(x, p=2):
    return "–" if x is None else f"{x:.{p}f}"


def ms(m, p=2):
    return "–" if m["mean"] is None else f"{m['mean']:.{p}f} ± {m['sd']:.{p}f}"


def mlp(j):
    labels = j["experiment"] == "random-labels"
    key = "fraction" if labels else "batch"
    print(f"{j['experiment']}: {j['data']['source']}, {j['train_rows']} training rows, {j['test_rows']} test rows, "
          f"{len(j['runs'])} runs, {j['seconds']:.0f} s, {j['threads']} threads\n")
    layers = sorted({s["layer"] for s in j["summary"]}, key=lambda n: int(n.split(".")[1]))
    # The first layer in full; the others by alpha and phase.
    head = ("| arch | fraction |" if labels else "| batch |") + " epochs | train acc | test acc |"
    head += f" {layers[0]}: α | spikes | MP soft rank | stable rank | phase |"
    for l in layers[1:]:
        head += f" {l.split('.')[1]}: α, phase |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    groups = {}
    for s in j["summary"]:
        groups.setdefault((s["arch"], s[key]), {})[s["layer"]] = s
    for (arch, k), by_layer in groups.items():
        first = by_layer[layers[0]]
        row = (f"| {arch} | {k:g} |" if labels else f"| {k} |") + \
            f" {ms(first['epochs'], 1)} | {ms(first['train_accuracy'], 4)} | {ms(first['test_accuracy'], 4)} |"
        row += f" {ms(first['alpha'])} | {ms(first['num_spikes'], 1)} | {ms(first['mp_softrank'], 3)} | " \
               f"{ms(first['stable_rank'], 1)} | {first['phase']} |"
        for l in layers[1:]:
            s = by_layer.get(l)
            row += " – |" if s is None else f" {ms(s['alpha'])}, {s['phase']} |"
        print(row)
    print(f"\nSpearman's ρ with the {key} (over all runs):\n")
    print("| arch | layer | metric | ρ | runs |")
    print("| --- | --- | --- | --- | --- |")
    for c in j["correlations"]:
        print(f"| {c['arch']} | {c['layer'] or '(run)'} | {c['metric']} | {f(c['spearman_rho'], 3)} | {c['n']} |")


def temperature(j):
    print(f"rbm-temperature: {j['data']['source']}, {j['train_rows']} training rows, {j['held_out_rows']} held-out rows, "
          f"{j['seconds']:.0f} s\n")
    print("| setting | epoch | ‖W‖_F | σ_max | saturated | hidden entropy (bits) | F gap | recon error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in j["settings"]:
        eps = s["epochs"]
        picks = sorted({0, 1, len(eps) // 4, len(eps) // 2, len(eps) - 1})
        for i in picks:
            e = eps[i]
            print(f"| {s['name']} | {e['epoch']} | {f(e['weight_norm'])} | {f(e['sigma_max'])} | {f(e['saturated'], 3)} | "
                  f"{f(e['hidden_entropy'], 3)} | {f(e['free_energy_gap'])} | {f(e['recon_error'], 4)} |")


def main():
    j = json.load(open(sys.argv[1]))
    (temperature if j["experiment"] == "rbm-temperature" else mlp)(j)


if __name__ == "__main__":
    main()
