#!/usr/bin/env bash
# onsager mlp train / mlp eval end to end: JSON, log and model file; PyTorch loads the model's tensors into
# nn.Linear layers and gets the accuracy mlp eval reports on the same rows; analyze reads the file; resume equals
# an uninterrupted run; label noise; bad flags give exit 1, one line, and no file.
#   tests/cli/test_mlp.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

fashion="$root/data/fashion-mnist"
[ -n "${ONSAGER_DATA:-}" ] && fashion="$ONSAGER_DATA/fashion-mnist"
if [ ! -e "$fashion/train-images-idx3-ubyte.gz" ]; then
  missing "mlp commands" "fashion-mnist (scripts/setup.sh)"
  finish
  exit $?
fi

# 2,000 training and 500 test images as labelled IDX files of their own (data files, not the named set).
"$py" - "$fashion" "$tmp" <<'PYEOF'
import gzip, struct, sys, pathlib
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for name, part, n in [("train", "train", 2000), ("test", "t10k", 500)]:
    img = gzip.open(src / f"{part}-images-idx3-ubyte.gz").read()
    lab = gzip.open(src / f"{part}-labels-idx1-ubyte.gz").read()
    (out / f"{name}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + img[16:16 + n * 784])
    (out / f"{name}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + lab[8:8 + n])
PYEOF
train="$tmp/train-images-idx3-ubyte" test="$tmp/test-images-idx3-ubyte"
common=(--data "$train" --test-split none --arch 784-64-10 --batch 16 --lr 0.02 --seed 3 --quiet)

if "$bin" mlp train "${common[@]}" --epochs 3 --out "$tmp/m.safetensors" --log "$tmp/m.jsonl" \
     --json "$tmp/m.json" >"$tmp/out" 2>"$tmp/err"; then
  ok "mlp train on a labelled IDX file"
else
  bad "mlp train on a labelled IDX file" "$(cat "$tmp/err")"
fi
check=$("$py" - "$tmp/m.json" "$tmp/m.jsonl" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
log = [json.loads(l) for l in open(sys.argv[2])]
problems = []
if j["epochs"] != 3 or len(log) != 3: problems.append(f"epochs {j['epochs']}, log lines {len(log)}")
if j["outcome"] != "finished": problems.append(f"outcome {j['outcome']}")
if not j["train_accuracy"] > 0.8: problems.append(f"train accuracy {j['train_accuracy']}")
if j["test_accuracy"] is not None: problems.append("a test accuracy without test rows")
names = [l["name"] for l in log[-1]["layers"]]
if names != ["layers.0.weight", "layers.1.weight"]: problems.append(f"layers {names}")
for l in log[-1]["layers"]:
    for k in ("alpha", "phase", "mp_softrank", "num_spikes", "stable_rank", "lambda_max", "spectral_norm"):
        if k not in l: problems.append(f"{l['name']} lacks {k}")
if [e["epoch"] for e in log] != [1, 2, 3]: problems.append("log epochs")
if not log[2]["lr"] == log[0]["lr"] == 0.02: problems.append("lr")
print("; ".join(problems) or "ok")
PYEOF
)
[ "$check" = ok ] && ok "mlp train --json and --log hold the run and every layer's spectra" || bad "mlp train json/log" "$check"

# PyTorch: the model file's layers.* tensors into nn.ModuleList(nn.Linear ...), accuracy on the test rows.
if "$bin" mlp eval --model "$tmp/m.safetensors" --data "$test" --split all --json >"$tmp/eval.json" 2>"$tmp/err"; then
  ours=$(json_get "$tmp/eval.json" "['accuracy']")
  theirs=$(PYTHONPATH="$here" "$py" - "$tmp/m.safetensors" "$test" <<'PYEOF' 2>&1
import sys, struct, json
import numpy as np
import torch
from read_safetensors import load  # the project's independent reader (struct + json + numpy)
entries, meta = load(sys.argv[1])
tensors = {name: array for name, _, _, array in entries}
layers = sorted({int(k.split(".")[1]) for k in tensors if k.startswith("layers.")})
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(tensors[f"layers.{i}.weight"].shape[1], tensors[f"layers.{i}.weight"].shape[0]) for i in layers)
    def forward(self, x):
        for i, l in enumerate(self.layers):
            x = l(x)
            if i + 1 < len(self.layers): x = torch.relu(x)
        return x
net = Net()
net.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items() if k.startswith("layers.")})
raw = open(sys.argv[2], "rb").read()
n = struct.unpack(">I", raw[4:8])[0]
x = torch.from_numpy(np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 784).astype(np.float32) / 255.0)
lab = open(sys.argv[2].replace("images-idx3", "labels-idx1"), "rb").read()
y = torch.from_numpy(np.frombuffer(lab[8:], dtype=np.uint8).astype(np.int64))
with torch.no_grad():
    print((net(x).argmax(1) == y).float().mean().item())
PYEOF
)
  same=$("$py" -c "import sys; print(abs(float(sys.argv[1]) - float(sys.argv[2])) <= 1.5 / 500)" "$ours" "$theirs" 2>&1)
  [ "$same" = True ] && ok "PyTorch loads the model file and gets mlp eval's test accuracy ($ours vs $theirs)" \
                     || bad "PyTorch accuracy" "mlp eval $ours, torch $theirs"
else
  bad "mlp eval" "$(cat "$tmp/err")"
fi

# analyze reads the file like any other model, skipping the optimiser buffers.
if "$bin" analyze "$tmp/m.safetensors" --json >"$tmp/a.json" 2>"$tmp/err"; then
  n=$(json_get "$tmp/a.json" "['summary']['num_layers']")
  [ "$n" = 2 ] && ok "analyze reads the MLP file (2 layers, train_state.* skipped)" || bad "analyze layers" "$n"
else
  bad "analyze of an MLP file" "$(cat "$tmp/err")"
fi

# Resume: 2 epochs, then --resume to 3, equals the uninterrupted 3 epochs tensor for tensor.
"$bin" mlp train "${common[@]}" --epochs 2 --out "$tmp/r.safetensors" 2>"$tmp/err" >/dev/null &&
  "$bin" mlp train --resume "$tmp/r.safetensors" --epochs 3 --out "$tmp/r.safetensors" --quiet >/dev/null 2>"$tmp/err"
d1=$("$py" "$here/read_safetensors.py" --digest "$tmp/m.safetensors" 2>&1)
d2=$("$py" "$here/read_safetensors.py" --digest "$tmp/r.safetensors" 2>&1)
[ -n "$d1" ] && [ "$d1" = "$d2" ] && ok "--resume to 3 epochs equals an uninterrupted 3-epoch run" || bad "resume" "$d1 vs $d2 $(cat "$tmp/err")"

# A named data set with its test split, label noise and a subset.
if "$bin" mlp train --data digits --arch 64-32-10 --batch 8 --epochs 2 --label-noise 1 --subset 500 --quiet \
     --out "$tmp/d.safetensors" --json >"$tmp/d.json" 2>"$tmp/err"; then
  check=$("$py" - "$tmp/d.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
p = []
if j["train_rows"] != 500: p.append(f"train rows {j['train_rows']}")
if not 400 <= j["noisy_labels"] <= 490: p.append(f"noisy labels {j['noisy_labels']} (expected about 450)")
if j["test_accuracy"] is None or j["test_rows"] == 0: p.append("no test accuracy")
print("; ".join(p) or "ok")
PYEOF
)
  [ "$check" = ok ] && ok "digits, --subset 500 --label-noise 1: 500 rows, ~90% labels changed, test scored" || bad "digits run" "$check"
else
  bad "mlp train --data digits" "$(cat "$tmp/err")"
fi

# Bad input: exit 1, one line, nothing written.
o="$tmp/bad.safetensors"
expect_error_file_matching "zero width" "$o" "--arch" "$bin" mlp train --data "$train" --arch 784-0-10 --out "$o"
expect_error_file_matching "batch 0" "$o" "--batch" "$bin" mlp train --data "$train" --test-split none --arch 784-10 --batch 0 --out "$o"
expect_error_file_matching "negative lr" "$o" "--lr" "$bin" mlp train --data "$train" --test-split none --arch 784-10 --lr -1 --out "$o"
expect_error_file_matching "unknown activation" "$o" "--activation" "$bin" mlp train "${common[@]}" --activation gelu --out "$o"
expect_error_file_matching "unknown optimizer" "$o" "--optimizer" "$bin" mlp train "${common[@]}" --optimizer rmsprop --out "$o"
expect_error_file_matching "momentum 1" "$o" "--momentum" "$bin" mlp train "${common[@]}" --momentum 1 --out "$o"
expect_error_file_matching "label noise 2" "$o" "--label-noise" "$bin" mlp train "${common[@]}" --label-noise 2 --out "$o"
expect_error_file_matching "subset too large" "$o" "--subset" "$bin" mlp train "${common[@]}" --subset 5000 --out "$o"
expect_error_file_matching "unknown loss" "$o" "--loss" "$bin" mlp train "${common[@]}" --loss hinge --out "$o"
expect_error_file_matching "inputs mismatch" "$o" "784 columns" "$bin" mlp train --data "$train" --test-split none --arch 100-10 --out "$o"
expect_error_file_matching "test split of a file" "$o" "test-split" "$bin" mlp train --data "$train" --arch 784-10 --out "$o"
expect_error_file_matching "no --out" "" "--out" "$bin" mlp train "${common[@]}"
expect_error_file_matching "no --data" "$o" "--data" "$bin" mlp train --arch 784-10 --out "$o"
expect_error_file_matching "--lr with --resume" "" "--lr" "$bin" mlp train --resume "$tmp/m.safetensors" --lr 1 --out "$tmp/m2.safetensors"
expect_error_file_matching "out is the log" "" "--log" "$bin" mlp train "${common[@]}" --out "$tmp/x.safetensors" --log "$tmp/x.safetensors"
"$bin" rbm train --data digits --hidden 4 --epochs 1 --quiet --out "$tmp/rbm.safetensors" >/dev/null 2>&1
expect_error_file_matching "eval of an RBM file" "" "not an onsager MLP" "$bin" mlp eval --model "$tmp/rbm.safetensors" --data "$test"
expect_error_file_matching "resume from an RBM file" "" "not an onsager MLP" "$bin" mlp train --resume "$tmp/rbm.safetensors" --out "$tmp/m3.safetensors"
expect_error_file_matching "eval of a missing model" "" "no-such" "$bin" mlp eval --model "$tmp/no-such.safetensors" --data "$test"
[ -e "$train" ] && [ "$(stat -c %s "$train")" -eq $((16 + 2000 * 784)) ] && ok "the data file is untouched" || bad "data file changed"

finish
