#!/usr/bin/env bash
# Builds the model readers' libFuzzer targets with clang (build-fuzz/) and runs them (fuzz/README.md).
#   scripts/fuzz.sh                 every target, a fixed campaign: seed 1, 50,000 inputs each, starting from the
#                                   seed files alone (what CI runs: the same inputs on every machine)
#   scripts/fuzz.sh --time 300 onnx one target (fuzz_onnx) for 300 s, growing build-fuzz/corpus/onnx/ (exploring)
# Fails, naming the target and leaving the crashing input in build-fuzz/artifacts/, if any input crashes a
# reader, trips a sanitizer, runs longer than 10 s, or allocates beyond the limits below.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
seconds=""
if [ "${1:-}" = "--time" ]; then seconds="${2:?--time needs seconds}"; shift 2; fi
only="${1:-}"
runs="${ONSAGER_FUZZ_RUNS:-50000}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DONSAGER_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
mkdir -p build-fuzz/artifacts
# Seed files (small valid models of each format) written by the fuzz/make_*.py scripts with each format's own
# library, into build-fuzz/seeds/<format>/.
py=/usr/bin/python3
seeds=build-fuzz/seeds
rm -rf "$seeds" && mkdir -p "$seeds"
"$py" fuzz/make_basic_corpus.py "$seeds"
"$py" fuzz/make_onnx_corpus.py "$seeds" >/dev/null
"$py" fuzz/make_pytorch_corpus.py "$seeds"
"$py" fuzz/make_tfjs_corpus.py "$seeds"
"$py" fuzz/make_keras_h5.py --corpus "$seeds/keras_h5"
status=0
found=0
for bin in build-fuzz/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name="$(basename "$bin")"; fmt="${name#fuzz_}"
  [ -z "$only" ] || [ "$only" = "$fmt" ] || continue
  found=1
  if [ -n "$seconds" ]; then
    corpus="build-fuzz/corpus/$fmt"
    budget=(-max_total_time="$seconds")
  else
    corpus="$(mktemp -d)"
    budget=(-seed=1 -runs="$runs" -max_total_time=300)
  fi
  mkdir -p "$corpus"
  [ -d "$seeds/$fmt" ] && cp -n "$seeds/$fmt"/* "$corpus"/ 2>/dev/null || true
  log="build-fuzz/$name.log"
  start=$SECONDS
  if "$bin" "$corpus" "${budget[@]}" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=512 \
      -artifact_prefix="build-fuzz/artifacts/$name-" -print_final_stats=1 >"$log" 2>&1; then
    n="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    echo "fuzz: $name: $n inputs in $((SECONDS - start)) s, no crash" >&2
  else
    echo "fuzz: $name FAILED; log $log, input in build-fuzz/artifacts/:" >&2
    grep -E "ERROR|SUMMARY|==[0-9]+==" "$log" | head -5 >&2 || true
    status=1
  fi
  [ -n "$seconds" ] || rm -rf "$corpus"
done
[ "$found" -eq 1 ] || { echo "fuzz: no target fuzz_$only (see build-fuzz/fuzz/)" >&2; exit 1; }
exit "$status"
