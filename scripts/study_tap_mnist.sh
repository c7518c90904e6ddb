#!/usr/bin/env bash
# Compares CD-1, PCD-1 and the deterministic methods (naive mean field, TAP2, TAP3 with merged persistent
# magnetisations re-seeded, the default, and without; TAP2 with a restart fraction of 0.2, with 10 sweeps per
# update, or with magnetisations started from each minibatch) on one data set with the same
# hidden units, epochs, batch and learning rate: AIS test log-likelihood (with error bar) after every checkpoint
# epoch, and at the end the independent BAR check, the TAP2 estimate, pseudo-likelihood, the test accuracy of a logistic
# regression on the hidden features, and seconds per epoch. Writes out/tap-study-DATA-hHIDDEN-lrLR.../ (models,
# JSON, a gnuplot figure) and prints a Markdown table; docs/tap-training.md holds the committed one.
# distinct persistent states (tap_distinct_states) of the last epoch are in the table too.
#   scripts/study_tap_mnist.sh [DATA] [EPOCHS] [HIDDEN] [LR] [FLAGS]    (defaults: mnist 30 500 0.02 "")
# FLAGS go to every method's rbm train (e.g. "--momentum 0.5 --l2 1e-4"); the output directory names them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bin=build/onsager
[ -x "$bin" ] || { bash scripts/setup.sh && bash scripts/build.sh; }
data="${1:-mnist}" epochs="${2:-30}" hidden="${3:-500}" lr="${4:-0.02}" extra="${5:-}"
read -r -a common <<<"$extra"
out="out/tap-study-$data-h$hidden-lr$lr$(echo "$extra" | tr -d ' -')"
mkdir -p "$out"
checkpoints=(1 2 5 10 20 30 50 100)
exact=()
[ "$hidden" -le 25 ] && exact=(--exact)

# NAME METHOD-FLAGS...
methods=(
  "cd1|--method cd --k 1"
  "pcd1|--method pcd --k 1"
  "mf|--method mf"
  "tap2|--method tap2"
  "tap3|--method tap3"
  "tap2-none|--method tap2 --tap-reseed none"
  "tap3-none|--method tap3 --tap-reseed none"
  "tap2-restart|--method tap2 --tap-restart-fraction 0.2"
  "tap2-10|--method tap2 --tap-iters 10"
  "tap2-data|--method tap2 --tap-persist-from -1"
)
for entry in "${methods[@]}"; do
  name="${entry%%|*}"; read -r -a flags <<<"${entry#*|}"
  model="$out/$name.safetensors"
  rm -f "$out/$name.curve.jsonl" "$out/$name.train.jsonl"
  done_epochs=0
  for e in "${checkpoints[@]}" "$epochs"; do
    [ "$e" -le "$epochs" ] && [ "$e" -gt "$done_epochs" ] || continue
    echo "$name: epochs $done_epochs -> $e" >&2
    if [ "$done_epochs" -eq 0 ]; then
      "$bin" rbm train --data "$data" --hidden "$hidden" --epochs "$e" --batch 100 --lr "$lr" --seed 1 "${flags[@]}" "${common[@]}" \
        --quiet --out "$model" --log "$out/$name.train.jsonl" >/dev/null
    else
      "$bin" rbm train --resume "$model" --epochs "$e" --quiet --out "$model" --log "$out/$name.train.jsonl" >/dev/null
    fi
    done_epochs=$e
    # The per-epoch curve: AIS on a shorter schedule (2,000 temperatures, 100 runs), no check run.
    "$bin" rbm eval "$model" --split test --ais-runs 100 --ais-betas 2000 --no-ais-check "${exact[@]}" --quiet --json 2>/dev/null |
      /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(json.dumps({'epoch': $e, 'll': d['avg_log_likelihood'], 'err': d['log_z']['ais_err']}))" \
      >>"$out/$name.curve.jsonl"
  done
  echo "$name: final evaluation" >&2
  "$bin" rbm eval "$model" --split test --ais-runs 100 --tap "${exact[@]}" --quiet --json "$out/$name.eval.json" >/dev/null 2>&1
  "$bin" rbm features "$model" --classify --quiet --json "$out/$name.features.json" >/dev/null
done

/usr/bin/python3 - "$out" "$data" "$epochs" "$hidden" "$lr" "${#exact[@]}" "$extra" <<'PY'
import json, sys
out, data, epochs, hidden, lr, has_exact = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6] == "1"
extra = sys.argv[7]
names = [("cd1", "CD-1"), ("pcd1", "PCD-1"), ("mf", "naive MF"), ("tap2", "TAP2"), ("tap3", "TAP3"),
         ("tap2-none", "TAP2, no re-seeding"), ("tap3-none", "TAP3, no re-seeding"),
         ("tap2-restart", "TAP2, restart fraction 0.2"), ("tap2-10", "TAP2, 10 sweeps"), ("tap2-data", "TAP2, data starts")]
V = 784 if data != "digits" else 64
fmt = lambda x, p=2: "—" if x is None else f"{x:.{p}f}"
print(f"| method | test log-lik. (AIS) | ± (3σ) | BAR check | TAP2 estimate | exact | pseudo-lik. | features: test accuracy | s / epoch | sweeps / update | distinct states | GFLOP/s |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
rows = {}
for key, label in names:
    e = json.load(open(f"{out}/{key}.eval.json"))
    f = json.load(open(f"{out}/{key}.features.json"))
    hist = [json.loads(l) for l in open(f"{out}/{key}.train.jsonl")]
    secs = sorted(h["seconds"] for h in hist)[len(hist) // 2]
    z, ll = e["log_z"], e["avg_log_likelihood"]
    mean_f = e["mean_free_energy"]
    check_ll = ll.get("bar")  # the independent check: BAR over parallel tempering
    sweeps = [h["tap_sweeps"] for h in hist if h.get("tap_sweeps") is not None]
    s = sum(sweeps) / len(sweeps) if sweeps else None
    distinct = hist[-1].get("tap_distinct_states")
    # GEMMs of B x H x V per minibatch: CD-1/PCD-1 5; naive 3 + 2s; TAP2 4 + 4s; TAP3 5 + 6s (s sweeps).
    gemms = {"cd1": 5, "pcd1": 5}.get(key)
    if gemms is None:
        gemms = {"mf": 3 + 2 * s, "tap3": 5 + 6 * s}.get(key, 4 + 4 * s)
    samples = json.load(open(f"{out}/{key}.features.json"))["n_train"]
    gflops = gemms * 2 * samples * hidden * V / 1e9 / secs
    print(f"| {label} | {fmt(ll['ais'])} | {fmt(z['ais_err'])} | {fmt(check_ll)} | {fmt(ll['tap2'])} | {fmt(ll['exact'])} "
          f"| {e['pseudo_likelihood']:.2f} | {100 * f['classify']['test_accuracy']:.2f}% | {secs:.3f} | {fmt(s)} "
          f"| {fmt(distinct, 1)} | {gflops:.1f} |")
    rows[key] = (label, [json.loads(l) for l in open(f"{out}/{key}.curve.jsonl")])
print(f"\n{data}, {hidden} hidden, {epochs} epochs, batch 100, lr {lr} {extra}, seed 1; test split of {e['n_samples']} images.")
for key, _ in names:
    for w in json.load(open(f"{out}/{key}.eval.json"))["warnings"]:
        print(f"- {key}: {w}")
with open(f"{out}/curves.dat", "w") as fh:
    for key, (label, curve) in rows.items():
        fh.write(f'"{label}"\n')
        for c in curve:
            v = c["ll"]["exact"] if has_exact and c["ll"]["exact"] is not None else c["ll"]["ais"]
            fh.write(f"{c['epoch']} {v}\n")
        fh.write("\n\n")
PY

what="AIS, 2,000 temperatures"; [ "${#exact[@]}" -eq 1 ] && what="exact"
gnuplot <<GP
set terminal pngcairo size 900,560 font "sans,11"
set output "$out/curves.png"
set title "$data, $hidden hidden units: test log-likelihood per epoch ($what)"
set xlabel "epoch"
set ylabel "average test log-likelihood (nats)"
set logscale x
set key bottom right
set grid
plot for [i=0:9] "$out/curves.dat" index i using 1:2 with linespoints lw 2 lc (i + 1) dt 1+i/8 pt 7 ps 0.8 title columnheader(1)
GP
echo "figure: $out/curves.png" >&2
