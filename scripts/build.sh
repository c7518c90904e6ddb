#!/usr/bin/env bash
# Configures and builds onsager (Release) into build/, quietly: the compiler's output goes to build/build.log,
# and only its last lines are shown when the build fails.
#   scripts/build.sh [--cli] [CMAKE_ARGS...]
#     --cli   only the command-line tool and the Python module (what the quick start runs): no unit tests, no
#             benchmarks
#   The Python module (build/python/onsager, docs/python.md) is always built, for Debian's /usr/bin/python3.
#   Other arguments go to the CMake configure step (e.g. -DONSAGER_WERROR=ON).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
target=()
args=(-DONSAGER_PYTHON=ON)
for arg in "$@"; do
  case "$arg" in
    --cli) target=(--target onsager_cli onsager_python); args+=(-DONSAGER_BUILD_TESTS=OFF -DONSAGER_BUILD_BENCH=OFF) ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) args+=("$arg") ;;
  esac
done
mkdir -p build
log=build/build.log
start=$(date +%s)
what="onsager"; [ "${#target[@]}" -gt 0 ] && what="the onsager command and Python module"
echo "build: compiling $what on $(nproc) cores (log: $log)" >&2
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${args[@]}" &&
       cmake --build build -j"$(nproc)" "${target[@]}"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "build: failed; the whole log is $log" >&2
  exit 1
fi
warnings=$(grep -c 'warning:' "$log" || true)
note=""; [ "${warnings:-0}" -gt 0 ] && note=", $warnings compiler warnings (see $log)"
echo "build: done in $(( $(date +%s) - start )) s$note" >&2
