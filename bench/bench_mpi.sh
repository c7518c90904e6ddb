#!/usr/bin/env bash
# `onsager analyze` shared among MPI ranks (docs/analyze.md, "Many machines"): on this machine, one process
# against `mpirun -n 2` at the same thread budget, median of REPEATS runs each, every run's JSON checked equal to
# the single process's; then the speed-up that `onsager inspect --ranks R` predicts from the layers' costs for a
# LLaMA-7B-shaped BF16 checkpoint (a sparse file: the header is real, the values are never read).
#
#   bench/bench_mpi.sh [BUILD_DIR] [REPEATS]     (defaults: build, 3)
set -euo pipefail
build="${1:-build}"
repeats="${2:-3}"
bin="$build/onsager"
py=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
command -v mpirun >/dev/null || { echo "bench_mpi: needs mpirun (openmpi-bin)" >&2; exit 1; }
"$bin" --version | grep -q '^MPI: [^n]' || { echo "bench_mpi: $bin was built without MPI" >&2; exit 1; }
launch=(mpirun -q --oversubscribe)
[ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
export OMPI_MCA_btl_vader_single_copy_mechanism=none

# 12 dense layers 4096 x 2048 of Student-t entries (3 d.o.f.), F32 safetensors: 101 M parameters.
"$py" - "$tmp/m.npz" <<'EOF'
import sys
import numpy as np
rng = np.random.default_rng(1)
np.savez(sys.argv[1], **{f"l{i}.weight": rng.standard_t(3, size=(4096, 2048)).astype(np.float32) for i in range(12)})
EOF
"$bin" convert "$tmp/m.npz" --out "$tmp/m.safetensors" --quiet >/dev/null
"$bin" analyze "$tmp/m.safetensors" --quiet --json "$tmp/ref.json" >/dev/null

# median_seconds NAME CMD...: runs CMD REPEATS times (its JSON into $tmp/run.json), prints the median wall time.
median_seconds() {
  local name="$1"; shift
  local times=()
  for _ in $(seq "$repeats"); do
    rm -f "$tmp/run.json"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" --quiet --json "$tmp/run.json" >/dev/null
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
    "$py" -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); b.pop('ranks', None);
assert a == b, 'the report differs from the single process one'" "$tmp/ref.json" "$tmp/run.json"
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v name="$name" '{t[NR]=$1} END {printf "%-44s %7.2f s  (runs:", name, t[int((NR+1)/2)]; for (i=1;i<=NR;i++) printf " %.2f", t[i]; print ")"}'
}

echo "12 x 4096x2048 F32 layers, $(nproc) cores, median of $repeats runs; every report equals the single process's"
median_seconds "1 process, --threads 1" "$bin" analyze "$tmp/m.safetensors" --threads 1
median_seconds "mpirun -n 2, --threads 1 per rank" "${launch[@]}" -n 2 "$bin" analyze "$tmp/m.safetensors" --threads 1
median_seconds "1 process, --threads $(nproc)" "$bin" analyze "$tmp/m.safetensors"
median_seconds "mpirun -n 2, default threads (cores / ranks)" "${launch[@]}" -n 2 "$bin" analyze "$tmp/m.safetensors"
median_seconds "mpirun -n 1 (startup cost of MPI)" "${launch[@]}" -n 1 "$bin" analyze "$tmp/m.safetensors"

# A LLaMA-7B-shaped BF16 checkpoint as a sparse file: 32 blocks of q, k, v, o (4096 x 4096), gate, up
# (11008 x 4096), down (4096 x 11008), their norms, and the two 32000 x 4096 embeddings.
"$py" - "$tmp/llama.safetensors" <<'EOF'
import json, struct, sys
shapes = {"model.embed_tokens.weight": [32000, 4096], "lm_head.weight": [32000, 4096], "model.norm.weight": [4096]}
for b in range(32):
    p = f"model.layers.{b}."
    for n in "qkvo":
        shapes[p + f"self_attn.{n}_proj.weight"] = [4096, 4096]
    shapes[p + "mlp.gate_proj.weight"] = [11008, 4096]
    shapes[p + "mlp.up_proj.weight"] = [11008, 4096]
    shapes[p + "mlp.down_proj.weight"] = [4096, 11008]
    shapes[p + "input_layernorm.weight"] = [4096]
    shapes[p + "post_attention_layernorm.weight"] = [4096]
header, offset = {}, 0
for name, shape in shapes.items():
    size = 2
    for d in shape:
        size *= d
    header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
    offset += size
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text)
    f.truncate(8 + len(text) + offset)
EOF
echo
echo "LLaMA-7B shapes (226 matrices): speed-up over one process predicted by onsager inspect --ranks R"
for r in 2 4 8 16 32 64 128; do
  "$bin" inspect "$tmp/llama.safetensors" --ranks "$r" --json "$tmp/r.json" >/dev/null
  "$py" -c "import json,sys; r=json.load(open(sys.argv[1]))['ranks']; print(f\"  R = {r['count']:4d}: largest share {100*max(r['shares']):5.2f}% of the work, speed-up {r['speedup']:6.2f}x ({100*r['speedup']/r['count']:.0f}% efficiency)\")" "$tmp/r.json"
done
