#!/usr/bin/env bash
# Builds the model readers' libFuzzer targets with clang (build-fuzz/) and runs each for a fixed time, starting
# from the committed seed corpus fuzz/corpus/<format>/ (fuzz/README.md).
#   scripts/fuzz.sh            every target, 20 s each
#   scripts/fuzz.sh 300 onnx   one target (fuzz_onnx) for 300 s
# Fails, naming the target and leaving the crashing input in build-fuzz/artifacts/, if any input crashes a
# reader, trips a sanitizer, runs longer than 10 s, or allocates beyond the limits below.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
seconds="${1:-20}"
only="${2:-}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DONSAGER_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
mkdir -p build-fuzz/artifacts
status=0
for bin in build-fuzz/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name="$(basename "$bin")"; fmt="${name#fuzz_}"
  [ -z "$only" ] || [ "$only" = "$fmt" ] || continue
  corpus="build-fuzz/corpus/$fmt"
  mkdir -p "$corpus"
  [ -d "fuzz/corpus/$fmt" ] && cp -n fuzz/corpus/"$fmt"/* "$corpus"/ 2>/dev/null || true
  log="build-fuzz/$name.log"
  if "$bin" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=512 \
      -artifact_prefix="build-fuzz/artifacts/$name-" -print_final_stats=1 >"$log" 2>&1; then
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    echo "fuzz: $name: $runs inputs in ${seconds} s, no crash" >&2
  else
    echo "fuzz: $name FAILED; log $log, input in build-fuzz/artifacts/:" >&2
    grep -E "ERROR|SUMMARY|==[0-9]+==" "$log" | head -5 >&2 || true
    status=1
  fi
done
exit "$status"
