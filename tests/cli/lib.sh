# Shared helpers of the command tests, sourced by every tests/cli/test_*.sh after it sets nothing:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
# It sets bin (the onsager binary, the script's first argument), here (tests/cli), root (the source tree),
# py (Debian's Python, which has NumPy and the format libraries), tmp (a directory removed on exit), and
# counts results for finish.

bin="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; return 0; }

# A prerequisite that is missing: a failure in CI (CI=true), where scripts/setup.sh installed everything,
# and a visible skip elsewhere.
missing() {
  if [ "${CI:-}" = true ]; then bad "$1" "missing: $2"; else echo "SKIP $1 (missing: $2)"; fi
}

# json_get FILE EXPR: prints d<EXPR> of the JSON in FILE, e.g. json_get out.json "['layers'][0]['alpha']".
json_get() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$1" "$2"; }

# expect_error NAME FILE_THAT_MUST_NOT_EXIST CMD...: exit status 1 within 60 s, exactly one line on stderr,
# and no file (nor FILE.tmp.*, FILE.lock) left at FILE; give "" when the command writes nothing.
expect_error() {
  local name="$1" nofile="$2"; shift 2
  local rc=0
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 1 ]; then bad "$name" "exit $rc, expected 1; stderr: $(cat "$tmp/err")"
  elif [ "$lines" -ne 1 ]; then bad "$name" "stderr has $lines lines: $(cat "$tmp/err")"
  elif [ -n "$nofile" ] && compgen -G "$nofile*" >/dev/null; then bad "$name" "wrote $(compgen -G "$nofile*" | head -1)"
  else ok "$name: $(cat "$tmp/err")"; fi
}

# expect_error_matching NAME PATTERN CMD...: exit 1 within 60 s, one stderr line, matching the grep PATTERN.
expect_error_matching() {
  local name="$1" pattern="$2"; shift 2
  local rc=0
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [ "$rc" -ne 1 ]; then bad "$name" "exit $rc, expected 1; stderr: $(cat "$tmp/err")"
  elif [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q -- "$pattern" "$tmp/err"; then
    bad "$name" "stderr (expected '$pattern'): $(cat "$tmp/err")"
  else ok "$name: $(cat "$tmp/err")"; fi
}

# expect_error_file_matching NAME FILE_THAT_MUST_NOT_EXIST PATTERN CMD...: expect_error's checks, and the one
# stderr line must match the grep PATTERN.
expect_error_file_matching() {
  local name="$1" nofile="$2" pattern="$3"; shift 3
  local rc=0
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 1 ]; then bad "$name" "exit $rc, expected 1; stderr: $(cat "$tmp/err")"
  elif [ "$lines" -ne 1 ]; then bad "$name" "stderr has $lines lines: $(cat "$tmp/err")"
  elif ! grep -q -- "$pattern" "$tmp/err"; then bad "$name" "stderr lacks '$pattern': $(cat "$tmp/err")"
  elif [ -n "$nofile" ] && compgen -G "$nofile*" >/dev/null; then bad "$name" "wrote $(compgen -G "$nofile*" | head -1)"
  else ok "$name: $(cat "$tmp/err")"; fi
}

# finish: prints the counts; the script's exit status is 0 only when nothing failed.
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
