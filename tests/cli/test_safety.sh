#!/usr/bin/env bash
# No file is ever lost or lied about: outputs that are inputs are refused, a second writer of the same output
# is stopped, kills during the per-epoch save leave no temporaries and a log that matches the model, inputs
# that are not files are refused before they are read, absurd flag values get one line, and estimates that
# have no error bar say so.
#   tests/cli/test_safety.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

digest() { "$py" "$here/read_safetensors.py" --digest "$1" 2>/dev/null || echo "unreadable"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# A small model and a data file to protect.
"$bin" rbm train --data digits --hidden 8 --epochs 1 --batch 50 --seed 1 --quiet --out "$tmp/m.safetensors" >/dev/null 2>&1 ||
  bad "train the test model"
"$py" -c "import numpy as np; np.save('$tmp/d.npy', (np.random.default_rng(0).random((50, 64)) > 0.5).astype(np.float32))"
model_sha=$(sha "$tmp/m.safetensors") data_sha=$(sha "$tmp/d.npy")
ln -s m.safetensors "$tmp/link.safetensors"

# Outputs that are inputs (through a link, through ./) are refused, and the input is untouched.
expect_error_matching "train --out = --data" "same file as --data" "$bin" rbm train --data "$tmp/d.npy" --split all --hidden 4 --out "$tmp/d.npy"
expect_error_matching "train --log = --resume model" "same file as the --resume model" \
  "$bin" rbm train --resume "$tmp/m.safetensors" --epochs 2 --out "$tmp/m2.safetensors" --log "$tmp/link.safetensors"
expect_error_matching "train --out = --log" "are the same file" "$bin" rbm train --data digits --hidden 4 --out "$tmp/x.st" --log "$tmp/./x.st"
expect_error_matching "features --out = model" "same file as the model" "$bin" rbm features "$tmp/m.safetensors" --out "$tmp/link.safetensors"
expect_error_matching "sample --png = model" "same file as the model" "$bin" rbm sample "$tmp/m.safetensors" --n 4 --steps 1 --png "$tmp/m.safetensors"
expect_error_matching "filters --png = model" "same file as the model" "$bin" rbm filters "$tmp/m.safetensors" --png "$tmp/m.safetensors"
expect_error_matching "convert --out = input" "same file as the input" "$bin" convert "$tmp/m.safetensors" --out "$tmp/m.safetensors"
expect_error_matching "analyze --csv = model" "same file as the model" "$bin" analyze "$tmp/m.safetensors" --csv "$tmp/m.safetensors"
expect_error_matching "eval --json = model" "same file as the model" "$bin" rbm eval "$tmp/m.safetensors" --exact --json "$tmp/m.safetensors"
if [ "$(sha "$tmp/m.safetensors")" = "$model_sha" ] && [ "$(sha "$tmp/d.npy")" = "$data_sha" ]; then ok "the inputs are unchanged"
else bad "an input was overwritten"; fi
# Resuming in place is what --resume is for.
if "$bin" rbm train --resume "$tmp/m.safetensors" --epochs 2 --quiet --out "$tmp/m.safetensors" >/dev/null 2>"$tmp/err" &&
   [ "$("$bin" rbm info "$tmp/m.safetensors" --json | json_get /dev/stdin "['epochs_done']")" = 2 ]; then ok "--resume M --out M continues in place"
else bad "--resume M --out M" "$(cat "$tmp/err")"; fi

# A second writer of the same output is stopped while the first runs; the first finishes normally.
"$bin" rbm train --data mnist --hidden 200 --epochs 200 --batch 100 --seed 3 --quiet --out "$tmp/long.safetensors" \
  --log "$tmp/long.jsonl" >/dev/null 2>"$tmp/long.err" &
first=$!
for _ in $(seq 100); do [ -e "$tmp/long.safetensors.lock" ] && break; sleep 0.1; done
expect_error_matching "second writer of --out" "being written by another run (pid $first" \
  "$bin" rbm train --data digits --hidden 4 --epochs 1 --quiet --out "$tmp/long.safetensors"
expect_error_matching "second writer of --log" "being written by another run (pid $first" \
  "$bin" rbm train --data digits --hidden 4 --epochs 1 --quiet --out "$tmp/other.safetensors" --log "$tmp/long.jsonl"
[ ! -e "$tmp/other.safetensors" ] && ok "the refused run wrote nothing" || bad "the refused run wrote its --out"
for _ in $(seq 200); do [ -e "$tmp/long.safetensors" ] && break; sleep 0.1; done  # its first epoch is saved

# SIGTERM (what timeout and schedulers send) at random moments, many during a save: no temporary survives.
left=0
for i in $(seq 8); do
  sleep "0.$((RANDOM % 9 + 1))"
  kill -TERM "$first" 2>/dev/null; wait "$first" 2>/dev/null
  compgen -G "$tmp/long.safetensors.tmp.*" >/dev/null && left=$((left + 1))
  [ -e "$tmp/long.safetensors.lock" ] && left=$((left + 1))
  "$bin" rbm train --resume "$tmp/long.safetensors" --epochs 200 --quiet --out "$tmp/long.safetensors" \
    --log "$tmp/long.jsonl" >/dev/null 2>>"$tmp/long.err" &
  first=$!
  for _ in $(seq 50); do [ -e "$tmp/long.safetensors.lock" ] && break; sleep 0.05; done
done
[ "$left" -eq 0 ] && ok "8 SIGTERMs left no temporary or lock file" || bad "SIGTERM left $left temporaries or locks"
# SIGKILL cannot be caught: its temporaries are cleared by the next run that writes the same output.
for i in $(seq 6); do
  sleep "0.$((RANDOM % 9 + 1))"
  kill -KILL "$first" 2>/dev/null; wait "$first" 2>/dev/null
  "$bin" rbm train --resume "$tmp/long.safetensors" --epochs 200 --quiet --out "$tmp/long.safetensors" \
    --log "$tmp/long.jsonl" >/dev/null 2>>"$tmp/long.err" &
  first=$!
  sleep 0.3
done
kill -TERM "$first" 2>/dev/null; wait "$first" 2>/dev/null
"$bin" rbm train --resume "$tmp/long.safetensors" --epochs "$(( $("$bin" rbm info "$tmp/long.safetensors" --json | json_get /dev/stdin "['epochs_done']") + 1 ))" \
  --quiet --out "$tmp/long.safetensors" --log "$tmp/long.jsonl" >/dev/null 2>>"$tmp/long.err"
if ! compgen -G "$tmp/long.safetensors.tmp.*" >/dev/null && [ ! -e "$tmp/long.safetensors.lock" ]; then
  ok "stale temporaries of SIGKILLed runs are removed by the next run"
else bad "stale temporaries remain" "$(ls "$tmp")"; fi
# The log holds exactly the model's epochs, 1..n in order, after all those kills.
n=$("$bin" rbm info "$tmp/long.safetensors" --json | json_get /dev/stdin "['epochs_done']")
epochs=$("$py" -c "import json,sys; print(','.join(str(json.loads(l)['epoch']) for l in open(sys.argv[1])))" "$tmp/long.jsonl" 2>&1)
want=$(seq -s, 1 "$n")
if [ "$n" -ge 1 ] && [ "$epochs" = "$want" ]; then ok "after 14 kills the log's epochs are 1..$n, the model's"
else bad "log epochs after kills" "model has $n epochs, log: $epochs"; fi

# Resume keeps the model's data: --data, --split and --valid-split are refused.
expect_error_matching "resume with --data" "--data cannot be set when resuming; .* records its data" "$bin" rbm train --resume "$tmp/m.safetensors" --data mnist --epochs 3 --out "$tmp/r.safetensors"
expect_error_matching "resume with --split" "--split cannot be set when resuming; .* records its data" "$bin" rbm train --resume "$tmp/m.safetensors" --split all --epochs 3 --out "$tmp/r.safetensors"
expect_error_matching "resume with --valid-split" "--valid-split cannot be set when resuming" "$bin" rbm train --resume "$tmp/m.safetensors" --valid-split test --epochs 3 --out "$tmp/r.safetensors"

# Inputs that are not files: refused before they are read, never a hang or an endless read.
mkfifo "$tmp/fifo.npy"
ln -s /dev/zero "$tmp/zero.npy"
expect_error_matching "FIFO as --data" "FIFO" "$bin" rbm train --data "$tmp/fifo.npy" --split all --hidden 4 --out "$tmp/f.safetensors"
expect_error_matching "/dev/zero link as --data" "character device" "$bin" rbm train --data "$tmp/zero.npy" --split all --hidden 4 --out "$tmp/z.safetensors"
expect_error_matching "FIFO as data info" "FIFO" "$bin" data info "$tmp/fifo.npy"
expect_error_matching "FIFO as a model" "" "$bin" analyze "$tmp/fifo.npy"

# --threads: a huge value is one line, not a crash in the thread runtime.
expect_error_matching "train --threads 100000" "--threads must be at most" "$bin" rbm train --data digits --hidden 4 --threads 100000 --out "$tmp/t.safetensors"
expect_error_matching "analyze --threads 100000" "--threads must be at most" "$bin" analyze "$tmp/m.safetensors" --threads 100000
# The analysis options are checked by the library (AnalyzeOptions::validate, parse_conv_layout) and named as flags.
expect_error_matching "analyze --min-tail 1" "--min-tail must be at least 2" "$bin" analyze "$tmp/m.safetensors" --min-tail 1
expect_error_matching "analyze --xmax 0" "--xmax must be finite and > 0" "$bin" analyze "$tmp/m.safetensors" --xmax 0
expect_error_matching "analyze --conv-layout nchw" "--conv-layout must be 'oihw'" "$bin" analyze "$tmp/m.safetensors" --conv-layout nchw
expect_error_matching "eval --exact --threads 100000" "--threads must be at most" "$bin" rbm eval "$tmp/m.safetensors" --exact --threads 100000

# The library's field names become the flags the user typed.
expect_error_matching "bad --hidden names the flag" "--hidden must be in 1" "$bin" rbm train --data digits --hidden 0 --out "$tmp/h.safetensors"
expect_error_matching "bad --split names the flag" "--split test needs a named data set" "$bin" rbm train --data "$tmp/d.npy" --split test --out "$tmp/s.safetensors"

# One AIS run has no error bar: null in the JSON, a warning, never a zero-width interval.
if "$bin" rbm eval "$tmp/m.safetensors" --ais-runs 1 --ais-betas 200 --no-ais-check --json "$tmp/ais1.json" >/dev/null 2>&1 &&
   "$py" - "$tmp/ais1.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
z = d["log_z"]
assert z["ais"] is not None and z["ais_err"] is None and z["ais_lo"] is None and z["ais_hi"] is None, z
assert any("no error bar" in w for w in d["warnings"]), d["warnings"]
PY
then ok "--ais-runs 1: null error bar and a warning"; else bad "--ais-runs 1" "$(cat "$tmp/ais1.json" 2>/dev/null | head -30)"; fi

# A learning rate that saturates the weights is divergence: exit 1, and the file keeps the last good epoch.
"$bin" rbm train --data digits --hidden 8 --epochs 3 --batch 50 --lr 1e6 --method cd --seed 1 --quiet --out "$tmp/sat2.safetensors" >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "blew up" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then ok "--lr 1e6 stops as saturated: $(cat "$tmp/err")"
else bad "--lr 1e6" "exit $rc: $(cat "$tmp/err")"; fi

# Training on the monitor's rows says so.
"$bin" rbm train --data digits --hidden 4 --epochs 1 --split all --out "$tmp/all.safetensors" >/dev/null 2>"$tmp/err"
grep -q "warning: the training split 'all' contains the rows of the monitor's split 'validation'" "$tmp/err" &&
  ok "--split all warns that the monitor's rows are trained on" || bad "--split all warning" "$(cat "$tmp/err")"
"$bin" rbm eval "$tmp/all.safetensors" --exact --no-ais >/dev/null 2>"$tmp/err"
grep -q "warning: the model was trained on the 'all' split of digits, which contains the rows of 'test'" "$tmp/err" &&
  ok "rbm eval on rows the model trained on says so" || bad "eval overlap warning" "$(cat "$tmp/err")"
"$bin" rbm eval "$tmp/m.safetensors" --exact --no-ais >/dev/null 2>"$tmp/err"
[ ! -s "$tmp/err" ] && ok "rbm eval of the held-out test split warns nothing" || bad "eval of held-out split" "$(cat "$tmp/err")"

# The smaller message defects: each bad value gets one line that says what to do.
expect_error_matching "--shape 0x64" "both sides must be at least 1" "$bin" rbm sample "$tmp/m.safetensors" --shape 0x64 --png "$tmp/s0.png"
expect_error_matching "--plots FILE" "is a file; --plots takes a directory" "$bin" analyze "$tmp/m.safetensors" --plots "$tmp/d.npy"
expect_error_matching "misspelt flag" "did you mean --hidden?" "$bin" rbm train --data digits --hiden 4 --out "$tmp/h2.safetensors"
"$bin" rbm sample "$tmp/m.safetensors" >/dev/null 2>"$tmp/err"
grep -q "png is required" "$tmp/err" && ! grep -q "did you mean" "$tmp/err" && ok "a missing required flag gets no suggestion" ||
  bad "suggestion on a required flag" "$(cat "$tmp/err")"
expect_error_matching "an output named like another output's lock" "is the lock file of --out" \
  "$bin" rbm train --data digits --hidden 4 --out "$tmp/lk.safetensors" --log "$tmp/lk.safetensors.lock"
# The data the model records is protected as --data is: eval --json over a model's training .npy is refused.
"$bin" rbm train --data "$tmp/d.npy" --split all --hidden 4 --epochs 1 --quiet --out "$tmp/dm.safetensors" >/dev/null 2>&1
expect_error_matching "eval --json = the model's recorded data" "same file as the data file" \
  "$bin" rbm eval "$tmp/dm.safetensors" --split all --exact --json "$tmp/d.npy"
[ "$(sha "$tmp/d.npy")" = "$data_sha" ] && ok "the recorded data file is unchanged" || bad "the recorded data file was overwritten"
expect_error_matching "--json into a missing directory, before any work" "directory .*nowhere does not exist" \
  "$bin" rbm eval "$tmp/m.safetensors" --exact --json "$tmp/nowhere/e.json"
"$bin" data info mnist >"$tmp/out" 2>&1
grep -q "already in \[0, 1\]" "$tmp/out" && ! grep -q "scaled by 1/1 " "$tmp/out" && ok "data info: no 'scaled by 1/1'" ||
  bad "data info scaling line" "$(grep values "$tmp/out")"
"$py" -c "import numpy as np; np.save('$tmp/h16.npy', (np.random.default_rng(1).random((20, 6)) > 0.5).astype(np.float16))"
if "$bin" data info "$tmp/h16.npy" --json "$tmp/h16.json" >/dev/null 2>"$tmp/err" && [ "$(json_get "$tmp/h16.json" "['features']")" = 6 ]
then ok "float16 .npy data is read (the reader's own advice lists it)"; else bad "float16 data" "$(cat "$tmp/err")"; fi
"$bin" rbm train --data mnist --hidden 100 --epochs 500 --quiet --out "$tmp/p.safetensors" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do [ -e "$tmp/p.safetensors" ] && break; sleep 0.1; done
kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
"$bin" rbm info "$tmp/p.safetensors" >"$tmp/out" 2>&1
grep -q "of 500 epochs done (--resume continues it)" "$tmp/out" && ok "rbm info of a stopped run shows the planned epochs" ||
  bad "rbm info epochs" "$(cat "$tmp/out")"

# Waiting at barriers: the command runs itself again with GOMP_SPINCOUNT=1000 (a short spin, then sleep) unless
# the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, which are kept as given.
spin_env() {  # spin_env ENV_ARGS...: the GOMP_SPINCOUNT and OMP_WAIT_POLICY lines of a running training's environment
  env "$@" "$bin" rbm train --data mnist --hidden 100 --epochs 500 --quiet --out "$tmp/spin.safetensors" >/dev/null 2>&1 &
  local pid=$! seen=""
  for _ in $(seq 100); do
    seen=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -E '^(GOMP_SPINCOUNT|OMP_WAIT_POLICY)=' | sort | tr '\n' ' ')
    [ -n "$seen" ] && break; sleep 0.05
  done
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  echo "$seen"
}
got=$(spin_env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT)
[ "$got" = "GOMP_SPINCOUNT=1000 " ] && ok "default wait: GOMP_SPINCOUNT=1000" || bad "default wait policy" "environment: '$got'"
got=$(spin_env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active)
[ "$got" = "OMP_WAIT_POLICY=active " ] && ok "a user's OMP_WAIT_POLICY is kept" || bad "user's wait policy" "environment: '$got'"

finish
