#!/usr/bin/env bash
# The installed package as a consumer sees it: install the build tree into a temporary prefix, build
# examples/ against it with default compiler flags (no -march=native: a mismatch of Eigen's alignment once
# made such programs abort with "double free"), run both programs and check what they print.
#   tests/examples/run_examples.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
# Nothing from the source tree is baked into the installed program (the data directory is found at run time).
if grep -q -a -F "$here" "$tmp/prefix/bin/onsager"; then echo "FAIL installed onsager contains the source path $here"; exit 1; fi
# Default flags only: CXXFLAGS and the toolchain's defaults, whatever this script's caller set.
env -u CXXFLAGS cmake -S "$here/examples" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cfg.log" 2>&1 ||
  { cat "$tmp/cfg.log"; exit 1; }
if grep -q -- "-march" "$tmp/prefix/lib/cmake/onsager/onsagerTargets.cmake" ||
   grep -rq --include=flags.make -- "-march" "$tmp/build/CMakeFiles"; then
  echo "FAIL a -march flag reached the exported target or the consumer's build"; exit 1
fi
cmake --build "$tmp/build" -j2 >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; exit 1; }
cd "$tmp"
"$tmp/build/train_rbm" | tee "$tmp/train.txt"
"$tmp/build/analyze_model" | tee "$tmp/analyze.txt"
/usr/bin/python3 - "$tmp/train.txt" "$tmp/analyze.txt" <<'PY'
import re, sys
train, analyze = open(sys.argv[1]).read(), open(sys.argv[2]).read()
ais, lo, hi, exact = map(float, re.search(r"AIS (\S+) in \[(\S+), (\S+)\]\s+exact (\S+)", train).groups())
assert abs(ais - exact) < 0.5 and lo <= exact + 0.05 and exact - 0.05 <= hi, (ais, lo, hi, exact)
ll_ais, ll_exact = map(float, re.search(r"AIS (\S+)\s+exact (\S+) nats", train).groups())
assert -40 < ll_exact < -10, ll_exact
layers = {name: (float(alpha), phase) for name, alpha, phase in
          re.findall(r"(layers\.\d\.weight)\s+512 x 256\s+alpha\s+(\S+)\s+(\S+)", analyze)}
# Gaussian entries: a Marchenko-Pastur bulk; Student-t entries with 1.5 degrees of freedom: a power-law ESD tail
# with alpha near 1 + 1.5/2 (Martin & Mahoney's heavy-tailed universality class).
assert layers["layers.0.weight"][1] == "random-like", layers
assert layers["layers.1.weight"][0] < 3 and layers["layers.1.weight"][1].endswith("heavy-tailed"), layers
print("ok   examples built against the installed package with default flags, and their numbers check out")
PY
