#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install everything, build, run ctest.
#   scripts/test.sh           every test (what CI runs)
#   scripts/test.sh --fast    skip the tests labelled slow (the fuzzing campaign among them)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
ctest_args=()
[ "${1:-}" = "--fast" ] && ctest_args+=(-LE slow)
bash scripts/setup.sh
# Everything (library, tool, Python module, unit tests, benchmarks), warnings as errors.
bash scripts/build.sh -DONSAGER_BUILD_TESTS=ON -DONSAGER_BUILD_BENCH=ON -DONSAGER_WERROR=ON
bash scripts/install_python.sh
# ctest runs the model readers' libFuzzer campaign too (the test "fuzz": scripts/fuzz.sh, fuzz/README.md).
(cd build && ctest --output-on-failure -j2 "${ctest_args[@]}")
