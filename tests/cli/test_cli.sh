#!/usr/bin/env bash
# End-to-end tests of the onsager command: real data sets, model files read back by an independent
# (Python/numpy) reader, and the error contract: bad input -> exit 1, one line on stderr, no output file.
#   tests/cli/test_cli.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# data info
if "$bin" data info digits --json "$tmp/digits.json" >"$tmp/out" 2>&1 &&
   [ "$(json_get "$tmp/digits.json" "['samples']")" = 1797 ] &&
   [ "$(json_get "$tmp/digits.json" "['features']")" = 64 ] &&
   [ "$(json_get "$tmp/digits.json" "['label_counts']['0']")" = 178 ]; then ok "data info digits"
else bad "data info digits" "$(cat "$tmp/out")"; fi
if "$bin" data info mnist --split test --json >"$tmp/mnist.json" 2>"$tmp/err" &&
   [ "$(json_get "$tmp/mnist.json" "['samples']")" = 2000 ] &&
   [ "$(json_get "$tmp/mnist.json" "['image_shape']")" = "[28, 28]" ]; then ok "data info mnist --split test --json"
else bad "data info mnist --json" "$(cat "$tmp/err")"; fi

# train one epoch on digits, reload, check shapes and metadata (C++ and an independent numpy reader)
if "$bin" rbm train --data digits --hidden 16 --epochs 1 --batch 20 --lr 0.05 --seed 1 --quiet \
     --out "$tmp/d.safetensors" --log "$tmp/d.jsonl" --json "$tmp/train.json" >"$tmp/out" 2>"$tmp/err" &&
   "$bin" rbm info "$tmp/d.safetensors" --json "$tmp/info.json" >/dev/null &&
   [ "$(json_get "$tmp/info.json" "['visible']")" = 64 ] &&
   [ "$(json_get "$tmp/info.json" "['hidden']")" = 16 ] &&
   [ "$(json_get "$tmp/info.json" "['epochs_done']")" = 1 ] &&
   [ "$(json_get "$tmp/info.json" "['settings']['method']")" = pcd ] &&
   [ "$(json_get "$tmp/info.json" "['data']['source']")" = digits ] &&
   [ "$(wc -l <"$tmp/d.jsonl")" -eq 1 ] &&
   "$py" "$here/read_safetensors.py" "$tmp/d.safetensors" --check weight=16,64 visible_bias=64 hidden_bias=16 >/dev/null
then ok "rbm train one epoch on digits, reload"
else bad "rbm train digits" "$(cat "$tmp/err" "$tmp/out")"; fi
[ ! -e "$tmp/train.json" ] || "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['last_epoch']['recon_error'] > 0" "$tmp/train.json" \
  && ok "rbm train --json FILE" || bad "rbm train --json FILE"

# resume gives the same tensors as an uninterrupted run
"$bin" rbm train --data digits --hidden 8 --epochs 3 --batch 50 --momentum hinton --seed 4 --quiet --out "$tmp/full.safetensors" >/dev/null 2>&1
"$bin" rbm train --data digits --hidden 8 --epochs 1 --batch 50 --momentum hinton --seed 4 --quiet --out "$tmp/part.safetensors" >/dev/null 2>&1
"$bin" rbm train --resume "$tmp/part.safetensors" --epochs 3 --quiet --out "$tmp/resumed.safetensors" >/dev/null 2>"$tmp/err"
a=$("$py" "$here/read_safetensors.py" --digest "$tmp/full.safetensors") || a=""; b=$("$py" "$here/read_safetensors.py" --digest "$tmp/resumed.safetensors") || b="none"
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "rbm train --resume equals the uninterrupted run"; else bad "resume" "$a | $b | $(cat "$tmp/err")"; fi

# threads do not change the model
"$bin" rbm train --data digits --hidden 32 --epochs 1 --batch 10 --seed 2 --threads 1 --quiet --out "$tmp/t1.safetensors" >/dev/null 2>&1
"$bin" rbm train --data digits --hidden 32 --epochs 1 --batch 10 --seed 2 --threads 2 --quiet --out "$tmp/t2.safetensors" >/dev/null 2>&1
a=$("$py" "$here/read_safetensors.py" --digest "$tmp/t1.safetensors") || a=""; b=$("$py" "$here/read_safetensors.py" --digest "$tmp/t2.safetensors") || b="none"
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "--threads 1 and 2 give identical models"; else bad "threads" "$a | $b"; fi

# the error contract
expect_error "bad --hidden" "$tmp/e1" "$bin" rbm train --data digits --hidden 0 --out "$tmp/e1.safetensors"
expect_error "bad --method" "$tmp/e2" "$bin" rbm train --data digits --method gibbs --out "$tmp/e2.safetensors"
expect_error "unknown flag" "$tmp/e3" "$bin" rbm train --data digits --bogus 3 --out "$tmp/e3.safetensors"
expect_error "non-numeric --lr" "$tmp/e4" "$bin" rbm train --data digits --lr fast --out "$tmp/e4.safetensors"
expect_error "negative --lr" "$tmp/e5" "$bin" rbm train --data digits --lr -1 --out "$tmp/e5.safetensors"
expect_error "missing data set" "$tmp/e6" env ONSAGER_DATA="$tmp/nowhere" "$bin" rbm train --data mnist --out "$tmp/e6.safetensors"
expect_error "missing data file" "$tmp/e7" "$bin" rbm train --data "$tmp/none.npy" --out "$tmp/e7.safetensors"
expect_error "unknown data set" "" "$bin" data info cifar10
expect_error "bad --binarize" "$tmp/e8" "$bin" rbm train --data digits --binarize half --out "$tmp/e8.safetensors"
expect_error "missing --out" "" "$bin" rbm train --data digits
printf 'not a model' >"$tmp/junk.safetensors"
expect_error "corrupt model" "" "$bin" rbm info "$tmp/junk.safetensors"
expect_error "resume a corrupt model" "$tmp/e9" "$bin" rbm train --resume "$tmp/junk.safetensors" --out "$tmp/e9.safetensors"
expect_error "resume with a changed flag" "$tmp/e10" "$bin" rbm train --resume "$tmp/part.safetensors" --lr 0.1 --out "$tmp/e10.safetensors"
expect_error "out directory missing" "" "$bin" rbm train --data digits --epochs 1 --out "$tmp/no/such/dir/m.safetensors"
head -c 100 "$tmp/d.safetensors" >"$tmp/trunc.safetensors"
expect_error "truncated model" "" "$bin" rbm info "$tmp/trunc.safetensors"
expect_error "no subcommand" "" "$bin" rbm

# divergence: a learning rate that climbs from 0.05 to 1e6 saturates the weights after the first epochs; the file
# keeps the last good epoch
expect_error "diverging run" "" "$bin" rbm train --data digits --hidden 16 --epochs 10 --method cd --lr 0.05 \
  --lr-schedule linear --lr-final 1e6 --quiet --out "$tmp/div.safetensors"
if grep -q "blew up" "$tmp/err" && "$bin" rbm info "$tmp/div.safetensors" --json "$tmp/div.json" >/dev/null 2>&1 &&
   [ "$(json_get "$tmp/div.json" "['epochs_done']")" -ge 1 ] && [ "$(json_get "$tmp/div.json" "['epochs_done']")" -lt 10 ]
then ok "divergence keeps the last good model"; else bad "divergence keeps the last good model" "$(cat "$tmp/err")"; fi

# analyze: models written by numpy (npz, and safetensors with F32/BF16/F16 tensors built by hand), checked
# against a numpy transcription of WeightWatcher's fitter (ww_reference.py) on eigenvalues from numpy's full SVD
if "$py" - "$tmp" "$here" <<'PYEOF' 2>"$tmp/err"
import json, struct, sys
import numpy as np
d = sys.argv[1]; sys.path.insert(0, sys.argv[2])
from ww_reference import ww_fit
rng = np.random.default_rng(7)
g = rng.standard_normal((400, 200)) / 20
u, _ = np.linalg.qr(rng.standard_normal((400, 5))); v, _ = np.linalg.qr(rng.standard_normal((200, 5)))
s = rng.standard_normal((400, 200)) / 20 + u @ np.diag([8., 9., 10., 11., 12.]) @ v.T
conv = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
np.savez(d + "/m.npz", **{"g.weight": g, "s.weight": s, "g.bias": np.zeros(200), "conv.weight": conv})
ref = {}
for name, w in [("g.weight", g), ("s.weight", s)]:
    ev = np.linalg.svd(w, compute_uv=False) ** 2
    a, xmin, D, n = ww_fit(ev)
    ref[name] = dict(alpha=a, xmin=xmin, D=D, n=int(n), lambda_max=float(ev.max()))
ev = np.sort(np.linalg.svd(s, compute_uv=False) ** 2)
a, xmin, D, n = ww_fit(ev, xmax=ev[-3] * 1.0000001); ref["s_xmax"] = dict(xmax=ev[-3] * 1.0000001, alpha=a, xmin=xmin, n=int(n))
a, xmin, D, n = ww_fit(ev, min_tail=60); ref["s_tail"] = dict(alpha=a, xmin=xmin, n=int(n))
pooled = np.concatenate([np.linalg.svd(conv[:, :, i, j].astype(np.float64), compute_uv=False) ** 2 for i in range(3) for j in range(3)])
a, xmin, D, n = ww_fit(pooled); ref["conv.weight"] = dict(alpha=a, xmin=xmin, D=D, n=int(n), lambda_max=float(pooled.max()))
# safetensors by hand: F32, BF16 (top half of the f32 bits) and F16
w32 = (rng.standard_normal((300, 100)) / 10).astype(np.float32)
bf = (w32.view(np.uint32) >> 16).astype(np.uint16)
h16 = w32.astype(np.float16)
blobs = [("f32", "F32", w32.tobytes()), ("bf16", "BF16", bf.tobytes()), ("f16", "F16", h16.tobytes())]
hdr, off = {}, 0
for name, dt, b in blobs:
    hdr[name] = {"dtype": dt, "shape": [300, 100], "data_offsets": [off, off + len(b)]}; off += len(b)
h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
open(d + "/h.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(b for _, _, b in blobs))
ref["bf16"] = float(np.linalg.svd((bf.astype(np.uint32) << 16).view(np.float32).astype(np.float64), compute_uv=False).max() ** 2)
ref["f16"] = float(np.linalg.svd(h16.astype(np.float64), compute_uv=False).max() ** 2)
json.dump(ref, open(d + "/ref.json", "w"))
PYEOF
then
  # --precision double: the exact route, compared at rounding level; the default (auto) below within 1e-6.
  if "$bin" analyze "$tmp/m.npz" --precision double --quiet --json "$tmp/an.json" --csv "$tmp/an.csv" >"$tmp/an.txt" 2>"$tmp/err" &&
     "$py" - "$tmp/an.json" "$tmp/ref.json" "$tmp/an.csv" <<'PYEOF' 2>>"$tmp/err"
import csv, json, sys
d = json.load(open(sys.argv[1])); ref = json.load(open(sys.argv[2]))
L = {l["name"]: l for l in d["layers"]}
assert set(L) == {"g.weight", "s.weight", "conv.weight"}, list(L)
for name, r in ref.items():
    if name not in L: continue
    l = L[name]
    assert abs(l["alpha"] - r["alpha"]) < 1e-6 * r["alpha"], (name, l["alpha"], r["alpha"])
    assert abs(l["xmin"] - r["xmin"]) < 1e-9 * r["xmin"] and l["num_pl_spikes"] == r["n"], (name, l["xmin"], r)
    assert abs(l["D"] - r["D"]) < 1e-9 and abs(l["lambda_max"] - r["lambda_max"]) < 1e-9 * r["lambda_max"], (name, l, r)
assert L["g.weight"]["phase"] == "random-like", L["g.weight"]["phase_reason"]
assert L["s.weight"]["phase"] == "bulk+spikes" and L["s.weight"]["mp_num_spikes"] == 5, L["s.weight"]
assert L["conv.weight"]["num_evals"] == 288 and L["conv.weight"]["kind"] == "conv2d"
s = d["summary"]; assert s["num_layers"] == 3 and s["phases"]["random-like"] >= 1, s
assert [x["name"] for x in d["skipped"]] == ["g.bias"], d["skipped"]
rows = list(csv.DictReader(open(sys.argv[3]))); assert len(rows) == 3 and rows[0]["name"] == "g.weight", rows[0]
PYEOF
  then ok "analyze npz: alpha, xmin, D equal WeightWatcher's fitter on numpy's SVD; phases; CSV"
  else bad "analyze npz" "$(cat "$tmp/err")"; fi
  if "$bin" analyze "$tmp/m.npz" --quiet --json "$tmp/auto.json" >/dev/null 2>"$tmp/err" &&
     "$py" - "$tmp/auto.json" "$tmp/ref.json" <<'PYEOF' 2>>"$tmp/err"
import json, sys
d = json.load(open(sys.argv[1])); ref = json.load(open(sys.argv[2])); L = {l["name"]: l for l in d["layers"]}
for name, r in ref.items():
    if name not in L: continue
    l = L[name]
    assert abs(l["alpha"] - r["alpha"]) < 1e-6 * r["alpha"] and l["num_pl_spikes"] == r["n"], (name, l["alpha"], r)
    assert abs(l["xmin"] - r["xmin"]) < 1e-6 * r["xmin"] and abs(l["lambda_max"] - r["lambda_max"]) < 1e-6 * r["lambda_max"], (name, l, r)
    assert l["esd_precision"] in ("single", "double", "mixed"), l["esd_precision"]
assert L["conv.weight"]["esd_precision"] != "double", "float32 conv slices of Q = 2 should stay in single"
PYEOF
  then ok "analyze npz, --precision auto: alpha, xmin and lambda_max within 1e-6 of numpy's SVD, same tail"
  else bad "analyze npz auto" "$(cat "$tmp/err")"; fi
  if "$bin" analyze "$tmp/h.safetensors" --precision double --json >"$tmp/h.json" 2>"$tmp/err" &&
     "$py" -c "
import json, sys
d = json.load(open(sys.argv[1])); r = json.load(open(sys.argv[2])); L = {l['name']: l for l in d['layers']}
assert abs(L['bf16']['lambda_max'] - r['bf16']) < 1e-9 * r['bf16'], (L['bf16']['lambda_max'], r['bf16'])
assert abs(L['f16']['lambda_max'] - r['f16']) < 1e-9 * r['f16'], (L['f16']['lambda_max'], r['f16'])
assert L['f32']['N'] == 300 and L['f32']['M'] == 100 and L['f32']['Q'] == 3.0" "$tmp/h.json" "$tmp/ref.json" 2>>"$tmp/err"
  then ok "analyze safetensors F32/BF16/F16 (JSON to stdout)"; else bad "analyze safetensors" "$(cat "$tmp/err")"; fi
  xm=$("$py" -c "import json, sys; print(repr(json.load(open(sys.argv[1]))['s_xmax']['xmax']))" "$tmp/ref.json")
  if "$bin" analyze "$tmp/m.npz" --layers '^s\.weight$' --xmax "$xm" --quiet --json "$tmp/xm.json" >/dev/null 2>"$tmp/err" &&
     "$bin" analyze "$tmp/m.npz" --layers '^s\.weight$' --min-tail 60 --quiet --json "$tmp/mt.json" >/dev/null 2>>"$tmp/err" &&
     "$bin" analyze "$tmp/m.npz" --layers '^s\.weight$' --fix-fingers --quiet --json "$tmp/ff.json" >/dev/null 2>>"$tmp/err" &&
     "$py" -c "
import json, sys
r = json.load(open(sys.argv[1]))
for f, key in [(sys.argv[2], 's_xmax'), (sys.argv[3], 's_tail')]:
    l = json.load(open(f))['layers'][0]; e = r[key]
    assert abs(l['alpha'] - e['alpha']) < 1e-6 * e['alpha'] and l['num_pl_spikes'] == e['n'], (key, l['alpha'], e)
ff = json.load(open(sys.argv[4]))['layers'][0]; assert ff['num_fingers'] >= 0 and ff['alpha'] is not None
" "$tmp/ref.json" "$tmp/xm.json" "$tmp/mt.json" "$tmp/ff.json" 2>>"$tmp/err"
  then ok "analyze --xmax, --min-tail agree with the transcribed fitter; --fix-fingers runs"; else bad "analyze --xmax/--min-tail" "$(cat "$tmp/err")"; fi
  if "$bin" analyze "$tmp/m.npz" --layers '^conv' --per-slice --min-evals 5 --randomize --quiet --json "$tmp/ps.json" >/dev/null 2>"$tmp/err" &&
     "$py" -c "
import json, sys
d = json.load(open(sys.argv[1])); n = [l['name'] for l in d['layers']]
assert n == ['conv.weight[%d,%d]' % (i, j) for i in range(3) for j in range(3)], n
assert all(l['rand_distance'] is not None and l['rand_num_traps'] == 0 for l in d['layers'])" "$tmp/ps.json" 2>>"$tmp/err"
  then ok "analyze --layers --per-slice --randomize"; else bad "analyze --per-slice" "$(cat "$tmp/err")"; fi
  # inspect: the layers analyze will make, without computing (its layer names must be analyze's)
  if "$bin" inspect "$tmp/m.npz" --json "$tmp/in.json" >"$tmp/in.txt" 2>"$tmp/err" &&
     "$bin" inspect "$tmp/m.npz" --per-slice --min-evals 5 --json >"$tmp/in2.json" 2>>"$tmp/err" &&
     "$bin" analyze "$tmp/m.npz" --quiet --json "$tmp/an3.json" >/dev/null 2>>"$tmp/err" &&
     grep -q "conv2d: 9 slices of 64x32 pooled (288 eigenvalues)" "$tmp/in.txt" &&
     "$py" -c "
import json, sys
d, p, a = (json.load(open(f)) for f in sys.argv[1:4])
t = {x['name']: x for x in d['tensors']}
assert d['format'] == 'npz' and d['num_tensors'] == 4 and d['num_layers'] == 3, d
assert t['g.weight']['layers'] == [{'name': 'g.weight', 'kind': 'dense', 'N': 400, 'M': 200, 'slices': 1, 'num_evals': 200}], t
assert t['conv.weight']['layers'][0]['num_evals'] == 288 and t['conv.weight']['shape'] == [64, 32, 3, 3], t
assert t['g.bias']['layers'] == [] and t['g.bias']['skipped'], t
assert sorted(l['name'] for x in d['tensors'] for l in x['layers']) == sorted(l['name'] for l in a['layers']), a['layers']
assert len([l for x in p['tensors'] for l in x['layers'] if l['name'].startswith('conv.weight[')]) == 9, p" \
       "$tmp/in.json" "$tmp/in2.json" "$tmp/an3.json" 2>>"$tmp/err"
  then ok "inspect lists the layers analyze makes (pooled and per slice)"; else bad "inspect" "$(cat "$tmp/err" "$tmp/in.txt")"; fi
  if command -v gnuplot >/dev/null 2>&1; then
    mkdir -p "$tmp/plots"
    if "$bin" analyze "$tmp/m.npz" --quiet --plots "$tmp/plots" >/dev/null 2>"$tmp/err" &&
       "$py" -c "
import struct, sys, zlib
for f in sys.argv[1:]:
    b = open(f, 'rb').read(); assert b[:8] == b'\x89PNG\r\n\x1a\n' and b[12:16] == b'IHDR', f
    assert struct.unpack('>II', b[16:24]) == (1200, 480), f
    pos, idat = 8, b''
    while pos < len(b):
        n, = struct.unpack('>I', b[pos:pos + 4])
        if b[pos + 4:pos + 8] == b'IDAT': idat += b[pos + 8:pos + 8 + n]
        pos += 12 + n
    assert len(zlib.decompress(idat)) > 1200 * 480, f" "$tmp/plots/s.weight.png" "$tmp/plots/conv.weight.png" 2>>"$tmp/err" &&
       [ "$(ls "$tmp/plots" | wc -l)" -eq 3 ]
    then ok "analyze --plots (one gnuplot PNG per layer)"; else bad "analyze --plots" "$(cat "$tmp/err") $(ls "$tmp/plots")"; fi
  else bad "analyze --plots" "gnuplot is not installed (scripts/setup.sh installs gnuplot-nox)"; fi
else bad "analyze: numpy fixtures" "$(cat "$tmp/err")"; fi
# --ww-compat: every column WeightWatcher reports for conv and dense layers equals ww_reference.py's transcription
# of its code (conv2d_norm, per-slice rank loss, pooled rank and entropy) on weights built to tell the rules apart:
# a float64 3x3 conv with a rank-20 slice (8 zero columns) and a slice whose singular values fall to 1e-12, a
# float32 1x1 conv with a low-rank slice (rounding noise ~1e-8: rank for WeightWatcher, not for onsager's default),
# and a float64 dense layer whose singular values fall to 1e-11 with 20 zero columns.
if "$py" - "$tmp" "$here" <<'PYEOF' 2>"$tmp/err"
import json, sys
import numpy as np
d = sys.argv[1]; sys.path.insert(0, sys.argv[2])
import ww_reference as ww
rng = np.random.default_rng(11)
def with_svals(rows, s, zero_cols):  # rows x (len(s) + zero_cols), singular values s and zero_cols exact zeros
    u, _ = np.linalg.qr(rng.standard_normal((rows, len(s)))); v, _ = np.linalg.qr(rng.standard_normal((len(s), len(s))))
    w = np.concatenate([u @ np.diag(s) @ v.T, np.zeros((rows, zero_cols))], axis=1)
    return np.ascontiguousarray(w[:, rng.permutation(w.shape[1])])
c3 = rng.standard_normal((64, 32, 3, 3)) / 8
c3[:, :, 0, 0] = with_svals(64, np.linspace(1, 3, 24), 8)
c3[:, :, 1, 1] = with_svals(64, np.logspace(0, -12, 32), 0)
c1 = (rng.standard_normal((128, 64, 1, 1)) / 8).astype(np.float32)
c1[:, :, 0, 0] = (rng.standard_normal((128, 20)) @ rng.standard_normal((20, 64)) / 8).astype(np.float32)
dense = with_svals(300, np.logspace(0, -11, 100), 20)
np.savez(d + "/ww.npz", **{"c3.weight": c3, "c1.weight": c1, "dense.weight": dense})
ref = {"c3.weight": ww.layer(*ww.conv2d_mats(c3)[:2], conv2d_count=1),
       "c1.weight": ww.layer(*ww.conv2d_mats(c1)[:2], conv2d_count=1),
       "dense.weight": ww.layer([dense.T], 300)}
mats, N, _ = ww.conv2d_mats(c3)
for k, m in enumerate(mats):
    ref["c3.weight[%d,%d]" % divmod(k, 3)] = ww.layer([m], N, conv2d_count=9)
json.dump({k: {c: float(v) for c, v in r.items()} for k, r in ref.items()}, open(d + "/ww_ref.json", "w"))
PYEOF
then
  cmp_ww='
import json, sys
ref = json.load(open(sys.argv[1])); tol = float(sys.argv[2]); seen = 0
for f in sys.argv[3:]:
    for l in json.load(open(f))["layers"]:
        r = ref[l["name"]]; seen += 1
        for c in ("num_evals", "num_pl_spikes", "matrix_rank", "rank_loss"):
            assert l[c] == r[c], (l["name"], c, l[c], r[c])
        for c in ("lambda_max", "alpha", "xmin", "xmax", "D", "log_norm", "log_spectral_norm", "alpha_weighted",
                  "log_alpha_norm", "stable_rank", "entropy"):
            assert abs(l[c] - r[c]) <= tol * max(1, abs(r[c])), (l["name"], c, l[c], r[c])
assert seen == 12, seen'
  if "$bin" analyze "$tmp/ww.npz" --ww-compat --precision double --quiet --json "$tmp/ww1.json" >/dev/null 2>"$tmp/err" &&
     "$bin" analyze "$tmp/ww.npz" --ww-compat --per-slice --layers '^c3' --precision double --quiet \
       --json "$tmp/ww2.json" >/dev/null 2>>"$tmp/err" &&
     "$py" -c "$cmp_ww" "$tmp/ww_ref.json" 1e-6 "$tmp/ww1.json" "$tmp/ww2.json" 2>>"$tmp/err" &&
     "$py" -c "
import json, sys
ref = json.load(open(sys.argv[1])); L = {l['name']: l for l in json.load(open(sys.argv[2]))['layers']}
for n in ('c3.weight', 'dense.weight'):  # float64 weights: rounding level
    for c in ('lambda_max', 'alpha', 'xmin', 'log_alpha_norm', 'entropy'):
        assert abs(L[n][c] - ref[n][c]) <= 1e-9 * abs(ref[n][c]), (n, c, L[n][c], ref[n][c])" "$tmp/ww_ref.json" "$tmp/ww1.json" 2>>"$tmp/err"
  then ok "analyze --ww-compat (--precision double, pooled and --per-slice): every column equals WeightWatcher's code"
  else bad "analyze --ww-compat" "$(cat "$tmp/err")"; fi
  if "$bin" analyze "$tmp/ww.npz" --ww-compat --quiet --json "$tmp/ww3.json" >/dev/null 2>"$tmp/err" &&
     "$bin" analyze "$tmp/ww.npz" --ww-compat --per-slice --layers '^c3' --quiet --json "$tmp/ww4.json" >/dev/null 2>>"$tmp/err" &&
     "$py" -c "$cmp_ww" "$tmp/ww_ref.json" 1e-6 "$tmp/ww3.json" "$tmp/ww4.json" 2>>"$tmp/err" &&
     "$bin" analyze "$tmp/ww.npz" --quiet --json "$tmp/ww5.json" >/dev/null 2>>"$tmp/err" &&
     "$py" -c "
import json, math, sys
ref = json.load(open(sys.argv[1])); C = {l['name']: l for l in json.load(open(sys.argv[2]))['layers']}
L = {l['name']: l for l in json.load(open(sys.argv[3]))['layers']}
for n in ('c3.weight', 'c1.weight'):  # without --ww-compat: conv eigenvalues twice WeightWatcher's
    assert abs(L[n]['lambda_max'] - 2 * C[n]['lambda_max']) <= 1e-9 * L[n]['lambda_max'], n
    assert abs(L[n]['log_norm'] - C[n]['log_norm'] - math.log10(2)) < 1e-9, n
assert abs(L['dense.weight']['lambda_max'] - C['dense.weight']['lambda_max']) <= 1e-12 * L['dense.weight']['lambda_max']
for n in ('c3.weight', 'c1.weight', 'dense.weight'):  # onsager's own rank rule counts the tiny singular values as lost
    assert L[n]['rank_loss'] > ref[n]['rank_loss'], (n, L[n]['rank_loss'], ref[n]['rank_loss'])" \
       "$tmp/ww_ref.json" "$tmp/ww3.json" "$tmp/ww5.json" 2>>"$tmp/err"
  then ok "analyze --ww-compat, default precision: the same; without it conv lambda_max is 2x and the rank rule differs"
  else bad "analyze --ww-compat (auto)" "$(cat "$tmp/err")"; fi
else bad "analyze --ww-compat: numpy fixtures" "$(cat "$tmp/err")"; fi
expect_error "analyze: --ww-compat takes no value" "$tmp/e26" "$bin" analyze "$tmp/ww.npz" --ww-compat=sometimes --json "$tmp/e26.json"

# the table keeps layers apart whose names differ only at the start or in the middle (middles elided, the column
# widened until rows differ)
if "$py" -c "
import numpy as np, sys
rng = np.random.default_rng(3); tail = '.MultiheadAttention.qkv_transform_single.kernel.part_0'
names = ['StatefulPartitionedCall.transformer.encoder_layer_%d' % i + tail for i in (0, 1)]
names += ['a' * 40 + c + 'b' * 40 for c in 'xy'] + ['%d' % i + 'z' * 70 for i in (1, 2)]
np.savez(sys.argv[1], **{n: rng.standard_normal((60, 30)) for n in names})" "$tmp/names.npz" 2>"$tmp/err" &&
   "$bin" analyze "$tmp/names.npz" --quiet >"$tmp/names.txt" 2>>"$tmp/err" &&
   "$py" -c "
import sys
rows = [l.split('  ')[0] for l in open(sys.argv[1]).read().split('\n\n')[0].splitlines()[1:]]
assert len(rows) == 6 and len(set(rows)) == 6, rows
assert all('...' in r for r in rows) and max(len(r.rstrip()) for r in rows) <= 60, rows" "$tmp/names.txt" 2>>"$tmp/err"
then ok "analyze table: long names that differ only at the start or the middle stay distinct"
else bad "analyze table names" "$(cat "$tmp/err" "$tmp/names.txt")"; fi
expect_error "analyze: --plots into a missing directory" "$tmp/e24" "$bin" analyze "$tmp/d.safetensors" --plots "$tmp/nodir" --json "$tmp/e24.json"
if "$bin" analyze "$tmp/d.safetensors" --quiet >"$tmp/an2.txt" 2>"$tmp/err" && grep -q "too-small" "$tmp/an2.txt"
then ok "analyze an onsager model file (64 x 16: too-small)"; else bad "analyze model file" "$(cat "$tmp/err" "$tmp/an2.txt")"; fi
head -c 100 "$tmp/d.safetensors" >"$tmp/trunc.safetensors"
expect_error "analyze: missing file" "$tmp/e20" "$bin" analyze "$tmp/none.safetensors" --json "$tmp/e20.json"
expect_error "inspect: truncated file" "$tmp/e25" "$bin" inspect "$tmp/trunc.safetensors" --json "$tmp/e25.json"
expect_error "analyze: truncated file, no outputs" "$tmp/e21" "$bin" analyze "$tmp/trunc.safetensors" --json "$tmp/e21.json" --csv "$tmp/e21.csv"
expect_error "analyze: bad regex" "$tmp/e22" "$bin" analyze "$tmp/d.safetensors" --layers '(' --json "$tmp/e22.json"
expect_error "analyze: no layer matches" "$tmp/e23" "$bin" analyze "$tmp/d.safetensors" --layers nothing --csv "$tmp/e23.csv"
expect_error "analyze: bad --esd" "" "$bin" analyze "$tmp/d.safetensors" --esd qr
expect_error "analyze: bad --precision" "" "$bin" analyze "$tmp/d.safetensors" --precision half

# --resume: a run killed midway (SIGKILL, while layers are in flight) and run again with the same journal
# gives byte-identical JSON to an uninterrupted run; a journal of other options or another model is refused.
if "$py" - "$tmp/long.safetensors" <<'PYEOF'
import json, struct, sys
import numpy as np
rng = np.random.default_rng(4)
ts = {f"blocks.{i}.weight": (rng.standard_t(3, (1500, 600)) / 40).astype(np.float32) for i in range(60)}
ts["conv.weight"] = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
hdr, off = {}, 0
for k, v in ts.items():
    hdr[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}; off += v.nbytes
h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(v.tobytes() for v in ts.values()))
PYEOF
then
  "$bin" analyze "$tmp/long.safetensors" --per-slice --threads 1 --quiet --json "$tmp/long_full.json" >/dev/null 2>"$tmp/err"
  "$bin" analyze "$tmp/long.safetensors" --per-slice --threads 1 --quiet --resume "$tmp/long.jsonl" \
    --json "$tmp/long_part.json" >/dev/null 2>>"$tmp/err" &
  pid=$!
  for _ in $(seq 600); do  # until 5 layers are recorded (at most 30 s)
    [ -f "$tmp/long.jsonl" ] && [ "$(wc -l <"$tmp/long.jsonl")" -ge 6 ] && break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  recorded=$(($(wc -l <"$tmp/long.jsonl") - 1))
  if [ ! -e "$tmp/long_part.json" ] && [ "$recorded" -ge 5 ] && [ "$recorded" -lt 69 ] &&
     "$bin" analyze "$tmp/long.safetensors" --per-slice --threads 2 --quiet --resume "$tmp/long.jsonl" \
       --json "$tmp/long_resumed.json" >/dev/null 2>>"$tmp/err" &&
     cmp -s "$tmp/long_full.json" "$tmp/long_resumed.json" &&
     [ "$(wc -l <"$tmp/long.jsonl")" -eq 70 ]; then
    ok "analyze --resume: killed after $recorded of 69 layers, resumed: the same JSON as an uninterrupted run"
  else bad "analyze --resume after a kill (recorded $recorded)" "$(cat "$tmp/err")"; fi
  # A last line cut short is dropped; a complete journal recomputes nothing (and still gives the same JSON).
  head -c -40 "$tmp/long.jsonl" >"$tmp/cut.jsonl"
  if "$bin" analyze "$tmp/long.safetensors" --per-slice --quiet --resume "$tmp/cut.jsonl" --json "$tmp/cut.json" \
       >/dev/null 2>"$tmp/err" && cmp -s "$tmp/long_full.json" "$tmp/cut.json" &&
     "$bin" analyze "$tmp/long.safetensors" --per-slice --quiet --resume "$tmp/long.jsonl" --json "$tmp/again.json" \
       >/dev/null 2>>"$tmp/err" && cmp -s "$tmp/long_full.json" "$tmp/again.json"; then
    ok "analyze --resume: a line cut short by a kill is redone; a finished journal gives the same JSON again"
  else bad "analyze --resume with a cut line" "$(cat "$tmp/err")"; fi
  expect_error_matching "analyze --resume: other options" "written with --per-slice true (now false)" \
    "$bin" analyze "$tmp/long.safetensors" --quiet --resume "$tmp/long.jsonl" --json "$tmp/e_r1.json"
  expect_error_matching "analyze --resume: another model" "written for another model" \
    "$bin" analyze "$tmp/d.safetensors" --per-slice --quiet --resume "$tmp/long.jsonl"
  sed '3s/.*/{"layer": 1/' "$tmp/long.jsonl" >"$tmp/bad.jsonl"
  expect_error_matching "analyze --resume: a corrupt line" "line 3 is not JSON" \
    "$bin" analyze "$tmp/long.safetensors" --per-slice --quiet --resume "$tmp/bad.jsonl"
  printf 'precious data, no newline' >"$tmp/precious.txt"
  expect_error_matching "analyze --resume: another file is not taken for a journal" "not an analysis journal" \
    "$bin" analyze "$tmp/long.safetensors" --quiet --resume "$tmp/precious.txt"
  if [ "$(cat "$tmp/precious.txt")" = "precious data, no newline" ]; then ok "analyze --resume: that file is left as it was"
  else bad "analyze --resume overwrote a file that is not a journal"; fi
  expect_error "analyze --resume: the journal is the --json output" "" \
    "$bin" analyze "$tmp/long.safetensors" --quiet --resume "$tmp/same.jsonl" --json "$tmp/same.jsonl"
else bad "write the --resume test model"; fi

# pictures: PNG files of the right size (read back by Python's zlib, independently of the writer)
png_size() { "$py" -c "
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
w, h = struct.unpack('>II', b[16:24])
pos, idat = 8, b''
while pos < len(b):
    n, = struct.unpack('>I', b[pos:pos + 4]); kind = b[pos + 4:pos + 8]
    if kind == b'IDAT': idat += b[pos + 8:pos + 8 + n]
    pos += 12 + n
assert len(zlib.decompress(idat)) == h * (w + 1), 'pixel data does not match the size'
print(f'{w}x{h}')" "$1"; }
if "$bin" rbm sample "$tmp/d.safetensors" --n 6 --steps 20 --columns 3 --zoom 1 --png "$tmp/s.png" >/dev/null 2>"$tmp/err" &&
   [ "$(png_size "$tmp/s.png")" = "28x19" ]; then ok "rbm sample --png"; else bad "rbm sample" "$(cat "$tmp/err") $(png_size "$tmp/s.png" 2>&1)"; fi
if "$bin" rbm sample "$tmp/d.safetensors" --from data --n 4 --steps 5 --png "$tmp/s2.png" --json >"$tmp/s2.json" 2>"$tmp/err" &&
   [ "$(json_get "$tmp/s2.json" "['n']")" = 4 ]; then ok "rbm sample --from data --json"; else bad "rbm sample --from data" "$(cat "$tmp/err")"; fi
if "$bin" rbm filters "$tmp/d.safetensors" --n 16 --zoom 1 --png "$tmp/f.png" >/dev/null 2>"$tmp/err" &&
   [ "$(png_size "$tmp/f.png")" = "37x37" ]; then ok "rbm filters --png"; else bad "rbm filters" "$(cat "$tmp/err") $(png_size "$tmp/f.png" 2>&1)"; fi
expect_error "sample: bad --shape" "$tmp/e12" "$bin" rbm sample "$tmp/d.safetensors" --shape 5x5 --png "$tmp/e12.png"
expect_error "sample: bad --from" "$tmp/e13" "$bin" rbm sample "$tmp/d.safetensors" --from nowhere --png "$tmp/e13.png"

# rbm eval: AIS agrees with exact enumeration on a 64 x 16 model; exact refuses beyond its limit
if "$bin" rbm eval "$tmp/d.safetensors" --exact --ais-runs 50 --ais-betas 2000 --quiet --json "$tmp/ev.json" >/dev/null 2>"$tmp/err" &&
   "$py" -c "
import json, sys
d = json.load(open(sys.argv[1])); z = d['log_z']
assert z['ais_lo'] is None or z['ais_lo'] <= z['exact'] + 1e-6, z
assert z['ais_hi'] >= z['exact'] - 1e-6, z
assert abs(d['avg_log_likelihood']['exact'] - d['avg_log_likelihood']['ais']) < 0.5, d
assert abs(z['ais_bar_gap'] - (z['ais'] - z['bar'])) < 1e-9, z
assert abs(z['bar'] - z['exact']) <= z['bar_err'], z
assert z['verdict'] == 'agree' and z['lower_bound'] <= z['exact'] + 1e-9, z
assert d['details']['bar']['temperatures'] == 100 and d['details']['ais']['layer'] == 'hidden', d['details']
assert d['n_samples'] == 360 and d['log_z']['tap2'] is None and d['warnings'] == [], d" "$tmp/ev.json"
then ok "rbm eval: AIS and the BAR check within their error bars of exact"; else bad "rbm eval" "$(cat "$tmp/err")"; fi
# With no method named a 16-unit layer is enumerated (exact log Z, no AIS); naming an AIS setting asks for AIS.
if "$bin" rbm eval "$tmp/d.safetensors" --quiet --json "$tmp/ev0.json" >/dev/null 2>"$tmp/err" &&
   "$bin" rbm eval "$tmp/d.safetensors" --ais-betas 500 --no-ais-check --quiet --json "$tmp/ev1.json" >/dev/null 2>>"$tmp/err" &&
   "$py" -c "
import json, sys
z0, z1, ref = (json.load(open(f))['log_z'] for f in sys.argv[1:4])
assert z0['ais'] is None and z0['bar'] is None and abs(z0['exact'] - ref['exact']) < 1e-9, z0
assert z1['exact'] is None and z1['ais'] is not None, z1" "$tmp/ev0.json" "$tmp/ev1.json" "$tmp/ev.json"
then ok "rbm eval with no method: exact enumeration of a small layer; an AIS flag: AIS"; else bad "rbm eval default" "$(cat "$tmp/err")"; fi
# The bracket: it contains exact log Z (64 x 22, enumerable); with no method named a 28-unit layer of a cold model is
# bracketed and AIS skipped once it closes; on a warm 30-unit one it stays open and AIS, checked against it, runs.
if "$bin" rbm train --data digits --hidden 22 --epochs 5 --lr 0.3 --seed 1 --quiet --out "$tmp/b22.safetensors" >/dev/null 2>"$tmp/err" &&
   "$bin" rbm train --data digits --hidden 28 --epochs 10 --lr 1.0 --seed 1 --quiet --out "$tmp/b28.safetensors" >/dev/null 2>>"$tmp/err" &&
   "$bin" rbm train --data digits --hidden 30 --epochs 5 --lr 0.3 --seed 1 --quiet --out "$tmp/b30.safetensors" >/dev/null 2>>"$tmp/err" &&
   "$bin" rbm eval "$tmp/b22.safetensors" --bracket --exact --quiet --json "$tmp/br22.json" >/dev/null 2>>"$tmp/err" &&
   "$bin" rbm eval "$tmp/b28.safetensors" --quiet --json "$tmp/br28.json" >"$tmp/br28.txt" 2>>"$tmp/err" &&
   "$bin" rbm eval "$tmp/b30.safetensors" --quiet --json "$tmp/br30.json" >/dev/null 2>"$tmp/err30" &&
   "$py" -c "
import json, sys
a, b, c = (json.load(open(f)) for f in sys.argv[1:4])
z = a['log_z']
assert z['bracket_lo'] <= z['exact'] + 1e-9 <= z['bracket_hi'] + 2e-9 and a['details']['bracket']['converged'], z
assert abs(a['avg_log_likelihood']['bracket'] - a['avg_log_likelihood']['exact']) <= z['bracket_hi'] - z['bracket_lo'], a
z = b['log_z']
assert z['exact'] is None and z['ais'] is None and b['details']['bracket']['converged'] and z['bracket_err'] <= 0.005, z
z = c['log_z']
assert not c['details']['bracket']['converged'] and z['ais'] is not None, z
assert z['bracket_lo'] <= z['ais_hi'] and z['ais_lo'] <= z['bracket_hi'] and c['details']['bracket']['outside'] == [], z
assert any('bracket: still' in w for w in c['warnings']), c['warnings']" "$tmp/br22.json" "$tmp/br28.json" "$tmp/br30.json" &&
   grep -q "the bracket closed" "$tmp/br28.txt" && grep -q "warning: bracket: still .* (--bracket-nodes)" "$tmp/err30"
then ok "rbm eval --bracket: contains exact; the default brackets a 28-unit layer, AIS only when it stays open"
else bad "rbm eval --bracket" "$(cat "$tmp/err" "$tmp/err30" 2>/dev/null)"; fi
expect_error "eval: bad --bracket-tol" "" "$bin" rbm eval "$tmp/b22.safetensors" --bracket-tol 0
expect_error "eval: bad --bracket-nodes" "" "$bin" rbm eval "$tmp/b22.safetensors" --bracket --bracket-nodes 0
# TAP estimates on a weakly coupled model: naive mean field is a lower bound, TAP2 closer to exact than naive
if "$bin" rbm eval "$tmp/d.safetensors" --exact --tap --quiet --json >"$tmp/tap.json" 2>"$tmp/err" &&
   "$py" -c "
import json, sys
d = json.load(open(sys.argv[1])); z = d['log_z']; ll = d['avg_log_likelihood']
assert z['naive'] <= z['exact'] + 1e-6, z
assert abs(z['tap2'] - z['exact']) < abs(z['naive'] - z['exact']), z
assert abs(ll['tap2'] - (ll['exact'] + z['exact'] - z['tap2'])) < 1e-6, (ll, z)
assert z['ais'] is None and d['details']['tap']['tap2']['converged'] > 0, d" "$tmp/tap.json"
then ok "rbm eval --tap: TAP2 closer to exact than naive mean field"; else bad "rbm eval --tap" "$(cat "$tmp/err") $(cat "$tmp/tap.json")"; fi
expect_error "eval: bad --tap-damping" "" "$bin" rbm eval "$tmp/d.safetensors" --tap --tap-damping 1
expect_error "eval: exact beyond the limit" "" "$bin" rbm eval "$tmp/d.safetensors" --exact --exact-limit 10

# TAP training: one epoch of tap2 on digits, its monitors in the JSON report, resume to a second epoch
if "$bin" rbm train --data digits --hidden 16 --method tap2 --epochs 1 --batch 20 --seed 3 --quiet \
     --out "$tmp/tap.safetensors" --json "$tmp/tap-train.json" >/dev/null 2>"$tmp/err" &&
   "$py" -c "
import json, sys
e = json.load(open(sys.argv[1]))['last_epoch']
assert abs(e['tap_free_energy'] - (-e['tap_entropy'] + e['tap_energy'] + e['tap_onsager'])) < 1e-6 * abs(e['tap_free_energy']), e
assert 1 <= e['tap_sweeps'] <= 3, e
assert 1 <= e['tap_distinct_states'] <= 20 and e['tap_reseeded'] >= 0, e" "$tmp/tap-train.json" &&
   "$bin" rbm train --resume "$tmp/tap.safetensors" --epochs 2 --quiet --out "$tmp/tap2.safetensors" >/dev/null 2>>"$tmp/err" &&
   "$py" "$here/read_safetensors.py" "$tmp/tap2.safetensors" --check weight=16,64 train_state.tap_m_v=20,64 train_state.tap_m_h=20,16 >/dev/null
then ok "rbm train --method tap2, resume"; else bad "rbm train --method tap2" "$(cat "$tmp/err")"; fi
expect_error "train: bad --tap-damping" "$tmp/e14" "$bin" rbm train --data digits --method tap2 --tap-damping 1.5 --out "$tmp/e14.safetensors"
expect_error_matching "train: bad --tap-reseed" "--tap-reseed must be merged or none" \
  "$bin" rbm train --data digits --method tap2 --tap-reseed all --out "$tmp/e14.safetensors"
expect_error_matching "train: bad --tap-restart-fraction" "--tap-restart-fraction must be in \[0, 1\]" \
  "$bin" rbm train --data digits --method tap2 --tap-restart-fraction 2 --out "$tmp/e14.safetensors"
# Re-seeding off: on digits at the initial weights the 20 persistent rows merge and the run warns.
if "$bin" rbm train --data digits --hidden 16 --method tap2 --epochs 1 --batch 20 --tap-reseed none \
     --out "$tmp/tapn.safetensors" >/dev/null 2>"$tmp/err" && grep -q "persistent TAP magnetisations held only" "$tmp/err"
then ok "rbm train --tap-reseed none warns when the persistent rows collapse"; else bad "--tap-reseed none warning" "$(cat "$tmp/err")"; fi

# rbm features --classify against scikit-learn's LogisticRegression on the same features (a peer's fit)
if "$bin" rbm features "$tmp/tap2.safetensors" --split train --out "$tmp/ftr.npy" --labels-out "$tmp/ytr.npy" -q >/dev/null 2>"$tmp/err" &&
   "$bin" rbm features "$tmp/tap2.safetensors" --classify --l2 1e-3 --out "$tmp/fte.npy" --labels-out "$tmp/yte.npy" -q \
     --json "$tmp/feat.json" >/dev/null 2>>"$tmp/err" &&
   "$py" -c "
import json, sys, warnings
import numpy as np
from sklearn.linear_model import LogisticRegression
d = sys.argv[1]
ftr, ytr, fte, yte = (np.load(f'{d}/{n}.npy') for n in ('ftr', 'ytr', 'fte', 'yte'))
j = json.load(open(f'{d}/feat.json'))
assert ftr.shape == (1257, 16) and fte.shape == (360, 16) and j['n_train'] == 1257, (ftr.shape, fte.shape)
warnings.simplefilter('ignore')
m = LogisticRegression(C=1 / (1e-3 * len(ytr)), max_iter=5000, tol=1e-10).fit(ftr, ytr.ravel())
ours, theirs = j['classify']['test_accuracy'], m.score(fte, yte.ravel())
assert abs(ours - theirs) <= 2 / 360, (ours, theirs)
print(f'onsager {ours:.4f} scikit-learn {theirs:.4f}')" "$tmp" >"$tmp/out" 2>>"$tmp/err"
then ok "rbm features --classify matches scikit-learn ($(cat "$tmp/out"))"; else bad "rbm features --classify" "$(cat "$tmp/err" "$tmp/out")"; fi
"$py" -c "import numpy as np, sys; np.save(sys.argv[1], (np.arange(640).reshape(10, 64) % 3 == 0).astype(np.float32))" "$tmp/nolabels.npy"
expect_error "features: no labels for --classify" "$tmp/e15" "$bin" rbm features "$tmp/tap2.safetensors" --data "$tmp/nolabels.npy" --split all --train-split all --classify --out "$tmp/e15.npy"

# convert: any readable file to safetensors (values checked per format in test_formats.sh and test_<format>.sh)
"$py" -c "import numpy as np, sys; np.savez(sys.argv[1], w=np.arange(12, dtype=np.float64).reshape(3, 4), n=np.arange(3))" "$tmp/c.npz"
if "$bin" convert "$tmp/c.npz" --out "$tmp/c.safetensors" --quiet --json "$tmp/c.json" >/dev/null 2>"$tmp/err" &&
   "$py" "$here/read_safetensors.py" "$tmp/c.safetensors" --check w=3,4 >/dev/null &&
   [ "$(json_get "$tmp/c.json" "['tensors'][0]['dtype']")" = F64 ] && [ "$(json_get "$tmp/c.json" "['skipped'][0]['name']")" = n ]
then ok "convert npz: float64 kept as F64, integer array skipped"; else bad "convert npz" "$(cat "$tmp/err")"; fi
expect_error "convert: --out must be .safetensors" "$tmp/c.bin" "$bin" convert "$tmp/c.npz" --out "$tmp/c.bin"
"$py" -c "import numpy as np, sys; np.savez(sys.argv[1], n=np.arange(3))" "$tmp/ints.npz"
expect_error "convert: no floating tensors" "$tmp/ints.safetensors" "$bin" convert "$tmp/ints.npz" --out "$tmp/ints.safetensors" --quiet
expect_error "convert: bad --dtype" "$tmp/c2.safetensors" "$bin" convert "$tmp/c.npz" --out "$tmp/c2.safetensors" --dtype f16

"$bin" --help >"$tmp/help" 2>&1 && grep -q "rbm" "$tmp/help" && ok "--help" || bad "--help"
"$bin" rbm train --help >"$tmp/help" 2>&1 && grep -q -- "--resume" "$tmp/help" && ok "rbm train --help" || bad "rbm train --help"

finish
