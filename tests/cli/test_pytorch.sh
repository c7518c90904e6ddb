#!/usr/bin/env bash
# End-to-end tests of PyTorch checkpoints: files written by torch.save itself (state dicts of Linear, Conv2d,
# Conv1d and Embedding layers in float32/float64/float16/bfloat16, views sharing a storage, a nested
# checkpoint, a sharded checkpoint with its index) read by `onsager inspect` and `onsager convert` and compared
# with what torch.load returns; `onsager analyze` of a checkpoint against the same weights in a safetensors file
# written by Python; and the error contract for a malicious pickle (it must not run), the legacy format and a
# whole pickled model: exit 1, one line on stderr, no output file.
#   tests/cli/test_pytorch.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# torch writes the files these tests compare against; without it nothing here is checked, so that is a failure,
# not a skip (ctest would count a skip as passed). scripts/setup.sh installs python3-torch.
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "FAIL $py cannot import torch, which writes this test's checkpoints; run scripts/setup.sh (python3-torch)"
  exit 1
fi

# --- the files, written by torch.save; truth.json holds torch.load's view of each (names, shapes, dtypes)
"$py" - "$tmp" <<'EOF' || { echo "FAIL writing the checkpoints"; exit 1; }
import json, os, pickle, struct, sys, zipfile
import numpy as np, torch
d = sys.argv[1]
torch.manual_seed(1)
net = torch.nn.ModuleDict({'fc': torch.nn.Linear(40, 30), 'conv': torch.nn.Conv2d(8, 16, 3),
                           'c1': torch.nn.Conv1d(12, 20, 5), 'emb': torch.nn.Embedding(50, 24)})
truth = {}
def record(name, sd):
    truth[name] = [[k, str(v.dtype).replace('torch.', ''), list(v.shape)] for k, v in sd.items()]
for dt in ['float32', 'float64', 'float16', 'bfloat16']:
    sd = {k: v.to(getattr(torch, dt)) for k, v in net.state_dict().items()}
    sd['view.t'] = sd['fc.weight'].t()
    sd['view.slice'] = sd['fc.weight'][5:25, ::2]
    torch.save(sd, f'{d}/{dt}.pt')
    record(f'{dt}.pt', torch.load(f'{d}/{dt}.pt'))
ck = {'epoch': 3, 'model': {'encoder': net.state_dict(), 'head': {'weight': torch.randn(10, 30)}},
      'optimizer': {'state': {0: {'exp_avg': torch.zeros(30, 40)}}, 'param_groups': [{'lr': 0.1}]}}
torch.save(ck, f'{d}/ckpt.pt')
loaded = torch.load(f'{d}/ckpt.pt')['model']
record('ckpt.pt', {**{'encoder.' + k: v for k, v in loaded['encoder'].items()}, 'head.weight': loaded['head']['weight']})
os.mkdir(f'{d}/sharded')
sd = net.state_dict()
parts = [['fc.weight', 'fc.bias', 'emb.weight'], ['conv.weight', 'conv.bias', 'c1.weight', 'c1.bias']]
wm = {}
for i, names in enumerate(parts):
    f = f'pytorch_model-0000{i + 1}-of-00002.bin'
    torch.save({k: sd[k] for k in names}, f'{d}/sharded/{f}')
    wm.update({k: f for k in names})
json.dump({'metadata': {'total_size': 0}, 'weight_map': wm}, open(f'{d}/sharded/pytorch_model.bin.index.json', 'w'))
record('sharded', {k: sd[k] for k in sorted(wm)})
# The same float32 weights as a safetensors file, written here (struct + json), for analyze to compare.
header, blobs, off = {}, [], 0
for k, v in net.state_dict().items():
    b = v.contiguous().numpy().astype('<f4').tobytes()
    header[k] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode()
open(f'{d}/ref.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
torch.save(net.state_dict(), f'{d}/sd.pt')
# Pickle protocols 4 and 5 (FRAME, MEMOIZE, STACK_GLOBAL), a Parameter; NumPy and torch values beside the model.
sd = {'fc.weight': torch.nn.Parameter(net.fc.weight.detach().clone()), 'fc.bias': net.fc.bias.detach()}
torch.save(sd, f'{d}/p4.pt', pickle_protocol=4)
record('p4.pt', sd)
torch.save(sd, f'{d}/p5.pt', pickle_protocol=5)
record('p5.pt', sd)
torch.save({'model': {'conv.weight': net.conv.weight}, 'best_acc': np.float64(0.9), 'arr': np.arange(3),
            'size': torch.Size([2, 3]), 'device': torch.device('cpu'), 'dtype': torch.float16}, f'{d}/extras.pt')
record('extras.pt', {'conv.weight': net.conv.weight})
torch.jit.save(torch.jit.script(torch.nn.Linear(3, 4)), f'{d}/script.pt')
# Hostile and unsupported files.
class Evil:
    def __reduce__(self):
        return (os.system, (f'touch {d}/MARKER',))
with zipfile.ZipFile(f'{d}/evil.pt', 'w') as z:
    z.writestr('archive/data.pkl', pickle.dumps({'w': Evil()}, protocol=2))
    z.writestr('archive/version', '3\n')
torch.save(net.state_dict(), f'{d}/legacy.pt', _use_new_zipfile_serialization=False)
torch.save(net, f'{d}/whole.pt')
json.dump(truth, open(f'{d}/truth.json', 'w'))
EOF

# --- inspect: names, dtypes and shapes as torch.load gives them
for f in float32.pt float64.pt float16.pt bfloat16.pt ckpt.pt sharded p4.pt p5.pt extras.pt; do
  if "$bin" inspect "$tmp/$f" --json "$tmp/$f.json" >/dev/null 2>"$tmp/err" &&
     msg=$("$py" - "$tmp/truth.json" "$f" "$tmp/$f.json" <<'EOF'
import json, sys
want = json.load(open(sys.argv[1]))[sys.argv[2]]
got = [[t['name'], t['dtype'], t['shape']] for t in json.load(open(sys.argv[3]))['tensors']]
if got != want:
    print(f'got {got}\nwant {want}'); sys.exit(1)
print(f'{len(got)} tensors')
EOF
     ); then ok "inspect $f: names, dtypes, shapes as torch.load ($msg)"
  else bad "inspect $f" "$(cat "$tmp/err") $msg"; fi
done

# --- convert: every value as torch.load gives it (exactly, in float64)
for f in float32.pt float64.pt float16.pt bfloat16.pt ckpt.pt sharded p4.pt; do
  if "$bin" convert "$tmp/$f" --dtype f64 --out "$tmp/$f.safetensors" --quiet >/dev/null 2>"$tmp/err" &&
     msg=$("$py" - "$here" "$tmp" "$f" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, torch, read_safetensors
d, f = sys.argv[2], sys.argv[3]
if f == 'sharded':
    want = {}
    for i in (1, 2):
        want.update(torch.load(f'{d}/sharded/pytorch_model-0000{i}-of-00002.bin'))
elif f == 'ckpt.pt':
    m = torch.load(f'{d}/ckpt.pt')['model']
    want = {**{'encoder.' + k: v for k, v in m['encoder'].items()}, 'head.weight': m['head']['weight']}
else:
    want = torch.load(f'{d}/{f}')
tensors, _ = read_safetensors.load(f'{d}/{f}.safetensors')
got = {name: arr for name, _, _, arr in tensors}
assert sorted(got) == sorted(want), (sorted(got), sorted(want))
for k, v in want.items():
    ref = v.detach().to(torch.float64).numpy()
    assert got[k].shape == ref.shape and np.array_equal(got[k], ref), k
print(f'{len(got)} tensors equal')
EOF
     ); then ok "convert $f: values equal torch.load's ($msg)"
  else bad "convert $f" "$(cat "$tmp/err") $msg"; fi
done

# --- analyze: a checkpoint and the same weights as safetensors give the same layers and metrics
if "$bin" analyze "$tmp/sd.pt" --json "$tmp/a_pt.json" --quiet >/dev/null 2>"$tmp/err" &&
   "$bin" analyze "$tmp/ref.safetensors" --json "$tmp/a_st.json" --quiet >/dev/null 2>>"$tmp/err" &&
   msg=$("$py" - "$tmp/a_pt.json" "$tmp/a_st.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
la, lb = a['layers'], b['layers']
if la != lb or not la:
    print('layers differ or are empty'); sys.exit(1)
print(f"{len(la)} layers identical")
EOF
   ); then ok "analyze sd.pt = analyze of the same weights in safetensors ($msg)"
else bad "analyze sd.pt" "$(cat "$tmp/err") $msg"; fi

# --- errors
expect_error_file_matching "malicious pickle refused" "$tmp/evil.safetensors" "posix.system, which onsager does not run" \
  "$bin" convert "$tmp/evil.pt" --out "$tmp/evil.safetensors"
if [ -e "$tmp/MARKER" ]; then bad "malicious pickle: MARKER was created"; else ok "malicious pickle: MARKER not created"; fi
expect_error_file_matching "legacy format: re-save advice" "$tmp/legacy.safetensors" "legacy.*torch.save" \
  "$bin" convert "$tmp/legacy.pt" --out "$tmp/legacy.safetensors"
expect_error_file_matching "whole pickled model: save the state dict" "" "state_dict()" "$bin" inspect "$tmp/whole.pt"
expect_error_file_matching "TorchScript archive: save the state dict" "" "__torch__.*state_dict()" "$bin" inspect "$tmp/script.pt"
head -c 3000 "$tmp/float32.pt" >"$tmp/cut.pt"
expect_error_file_matching "truncated checkpoint" "$tmp/cut.safetensors" "cut.pt" "$bin" convert "$tmp/cut.pt" --out "$tmp/cut.safetensors"

finish
