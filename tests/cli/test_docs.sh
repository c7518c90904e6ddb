#!/usr/bin/env bash
# The docs describe the commands that exist: every flag a command's --help lists (the option registry,
# apps/onsager/options.hpp, and the command's own flags) appears on its docs page, and every `--flag` a page
# names exists in some command's --help (no stale or misspelt flag in the docs).
#   tests/cli/test_docs.sh PATH/TO/onsager
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# command : its page
pages=("data info:data" "data ising:data" "rbm train:rbm-train" "rbm info:rbm-train" "rbm eval:rbm-eval" "rbm features:rbm-features"
       "rbm sample:rbm-pictures" "rbm filters:rbm-pictures" "analyze:analyze" "inspect:model-formats"
       "convert:model-formats" "mlp train:mlp-train" "mlp eval:mlp-train"
       "lab batch-size:lab" "lab random-labels:lab" "lab rbm-temperature:lab"
       "lab ising-rg:lab" "dbn train:dbn" "dbn eval:dbn" "dbn features:dbn" "dbn sample:dbn" "dbn finetune:dbn")
all_flags="$tmp/all_flags"
: >"$all_flags"
for entry in "${pages[@]}"; do
  cmd="${entry%%:*}" page="$root/docs/${entry##*:}.md"
  # shellcheck disable=SC2086
  flags=$("$bin" $cmd --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | grep -v -- '^--help$' | sort -u)
  [ -n "$flags" ] || { bad "$cmd --help lists no flags"; continue; }
  echo "$flags" >>"$all_flags"
  missing=""
  for f in $flags; do grep -q -- "$f\b" "$page" || missing="$missing $f"; done
  [ -z "$missing" ] && ok "$cmd: every flag of --help is on docs/${entry##*:}.md" || bad "$cmd: docs/${entry##*:}.md lacks$missing"
done
# Flags of the top-level program and of the scripts the pages also show.
printf -- '--help\n--version\n--fast\n--no-data\n--cli\n' >>"$all_flags"
# The MPI launchers' flags in docs/analyze.md's cluster examples (mpirun's and Slurm's srun/sbatch).
printf -- '--allow-run-as-root\n--oversubscribe\n--hostfile\n--map-by\n--bind-to\n--mpi\n--nodes\n--ntasks-per-node\n--cpus-per-task\n--time\n' >>"$all_flags"
# The benchmark programs' flags (build/bench/bench_*, built with the rest), read from their help.
for b in "$(dirname "$bin")"/bench/bench_*; do
  [ -x "$b" ] && timeout 10 "$b" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' >>"$all_flags"
done
# scripts/install_python.sh's and the Python benchmarks' own flags (bench/python_*.py), read from their help.
grep -o -- '--[a-z][a-z0-9-]*' "$root"/scripts/install_python.sh >>"$all_flags"
for py in "$root"/bench/python_*.py "$root"/bench/bench_*.py; do
  /usr/bin/python3 "$py" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' >>"$all_flags"
done
stale=""
for page in "$root"/docs/*.md "$root"/README.md; do
  for f in $(grep -o -- '`[^`]*`' "$page" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
    grep -qx -- "$f" "$all_flags" || stale="$stale ${page#"$root"/}:$f"
  done
done
[ -z "$stale" ] && ok "every --flag the docs name exists" || bad "the docs name flags no command has:$stale"

finish
