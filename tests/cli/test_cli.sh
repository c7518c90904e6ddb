#!/usr/bin/env bash
# End-to-end tests of the onsager command: real data sets, model files read back by an independent
# (Python/numpy) reader, and the error contract: bad input -> exit 1, one line on stderr, no output file.
#   tests/cli/test_cli.sh PATH/TO/onsager
set -uo pipefail
bin="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; }
json_get() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$1" "$2"; }

# expect_error NAME FILE_THAT_MUST_NOT_EXIST CMD...: exit status 1, exactly one line on stderr, no file.
expect_error() {
  local name="$1" nofile="$2"; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 1 ]; then bad "$name" "exit $rc, expected 1; stderr: $(cat "$tmp/err")"
  elif [ "$lines" -ne 1 ]; then bad "$name" "stderr has $lines lines: $(cat "$tmp/err")"
  elif [ -n "$nofile" ] && compgen -G "$nofile*" >/dev/null; then bad "$name" "wrote $nofile"
  else ok "$name: $(cat "$tmp/err")"; fi
}

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

# divergence: lr·l2 = 100 makes W overflow in a few epochs; the file keeps the last good epoch
expect_error "diverging run" "" "$bin" rbm train --data digits --hidden 16 --epochs 10 --lr 100 --l2 1 --quiet --out "$tmp/div.safetensors"
if grep -q "diverged" "$tmp/err" && "$bin" rbm info "$tmp/div.safetensors" --json "$tmp/div.json" >/dev/null 2>&1 &&
   [ "$(json_get "$tmp/div.json" "['epochs_done']")" -ge 1 ] && [ "$(json_get "$tmp/div.json" "['epochs_done']")" -lt 10 ]
then ok "divergence keeps the last good model"; else bad "divergence keeps the last good model" "$(cat "$tmp/err")"; fi

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
assert abs(z['ais_schedule_gap'] - (z['ais'] - z['ais_check'])) < 1e-9, z
lo, hi = d['details']['ais_check']['log_z_lo'], d['details']['ais_check']['log_z_hi']
assert (lo is None or lo <= z['exact'] + 1e-6) and hi >= z['exact'] - 1e-6, d['details']
assert d['details']['ais_check']['temperatures'] == 1000, d['details']
assert d['n_samples'] == 360 and d['log_z']['tap2'] is None and d['warnings'] == []" "$tmp/ev.json"
then ok "rbm eval: AIS and its check run within their error bars of exact"; else bad "rbm eval" "$(cat "$tmp/err")"; fi
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
assert 1 <= e['tap_sweeps'] <= 3, e" "$tmp/tap-train.json" &&
   "$bin" rbm train --resume "$tmp/tap.safetensors" --epochs 2 --quiet --out "$tmp/tap2.safetensors" >/dev/null 2>>"$tmp/err" &&
   "$py" "$here/read_safetensors.py" "$tmp/tap2.safetensors" --check weight=16,64 train_state.tap_m_v=20,64 train_state.tap_m_h=20,16 >/dev/null
then ok "rbm train --method tap2, resume"; else bad "rbm train --method tap2" "$(cat "$tmp/err")"; fi
expect_error "train: bad --tap-damping" "$tmp/e14" "$bin" rbm train --data digits --method tap2 --tap-damping 1.5 --out "$tmp/e14.safetensors"

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

"$bin" --help >"$tmp/help" 2>&1 && grep -q "rbm" "$tmp/help" && ok "--help" || bad "--help"
"$bin" rbm train --help >"$tmp/help" 2>&1 && grep -q -- "--resume" "$tmp/help" && ok "rbm train --help" || bad "rbm train --help"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
