#!/usr/bin/env bash
# Makes `/usr/bin/python3 -c "import onsager"` work from anywhere: writes onsager.pth, which names this checkout's
# build/python, into Debian Python's site directory for local packages (/usr/local/lib/python3.X/dist-packages
# as root, the user's site-packages otherwise). Run after scripts/build.sh; a rebuild needs no re-install.
#   scripts/install_python.sh                            the default site directory
#   scripts/install_python.sh --site DIR [--python PY]   another one, e.g. a virtualenv's site-packages, checked
#                                                        with PY (default: DIR's virtualenv's bin/python)
#   scripts/install_python.sh --remove [--site DIR]      remove the onsager.pth that names this checkout
set -euo pipefail
unset CDPATH
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py=/usr/bin/python3
site="" remove=0 check_py=""
die() { echo "install_python: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --site) [ $# -ge 2 ] || die "--site needs a directory"; site="$2"; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs an interpreter"; check_py="$2"; shift 2 ;;
    --remove) remove=1; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[ -x "$py" ] || die "$py is not installed (scripts/setup.sh installs it)"
if [ -z "$site" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    site="$("$py" -c 'import site; print(next((p for p in site.getsitepackages() if p.startswith("/usr/local/")), ""))')"
    [ -n "$site" ] || die "$py has no /usr/local site directory; give one with --site DIR"
  else
    # --user-site exits 1 or 2 when the user site is disabled, printing the path all the same.
    site="$("$py" -m site --user-site || true)"
    "$py" -c 'import site, sys; sys.exit(0 if site.ENABLE_USER_SITE else 1)' ||
      die "$py has its user site-packages disabled (PYTHONNOUSERSITE or -s); give a directory with --site DIR"
  fi
  check_py="${check_py:-$py}"
elif [ -z "$check_py" ]; then
  # A virtualenv's site-packages is VENV/lib/pythonX.Y/site-packages; its interpreter VENV/bin/python.
  check_py="$py"
  if venv="$(cd "$site/../../.." 2>/dev/null && pwd)" && [ -x "$venv/bin/python" ]; then check_py="$venv/bin/python"; fi
fi
# The check runs from /, so a relative interpreter path is made absolute first.
check_py_abs="$(command -v -- "$check_py" || true)"
[ -n "$check_py_abs" ] || die "--python $check_py: no such interpreter"
case "$check_py_abs" in /*) ;; *) check_py_abs="$(pwd)/$check_py_abs" ;; esac
check_py="$check_py_abs"
pth="$site/onsager.pth"
pkg="$here/build/python"
if [ "$remove" -eq 1 ]; then
  if [ -f "$pth" ] && [ "$(cat "$pth")" = "$pkg" ]; then
    rm -f "$pth"; echo "install_python: removed $pth" >&2
  elif [ -f "$pth" ]; then
    die "$pth names $(cat "$pth"), not this checkout's $pkg; left as it is"
  else
    echo "install_python: no $pth to remove" >&2
  fi
  exit 0
fi
ls "$pkg"/onsager/_onsager*.so >/dev/null 2>&1 || die "$pkg/onsager has no built module; run scripts/build.sh first"
mkdir -p "$site" || die "cannot create $site"
# An onsager.pth of another checkout is kept aside and put back if this one does not import.
old=""
if [ -f "$pth" ]; then old="$(cat "$pth")"; fi
undo() { if [ -n "$old" ]; then printf '%s\n' "$old" > "$pth"; else rm -f "$pth"; fi; }
printf '%s\n' "$pkg" > "$pth.tmp.$$" || die "cannot write $pth.tmp.$$"
mv "$pth.tmp.$$" "$pth" || die "cannot write $pth"
err="$(mktemp)"
trap 'rm -f "$err"' EXIT
if ! where="$(cd / && "$check_py" -c 'import onsager; print(onsager.__file__)' 2>"$err")"; then
  undo
  die "$check_py cannot import onsager through $pth (put back as it was): $(tail -n 3 "$err")"
fi
case "$where" in
  "$pkg"/*) ;;
  *) undo; die "$check_py imports onsager from $where, not from $pkg (another installation comes first)" ;;
esac
echo "install_python: $pth -> $pkg ($check_py imports $where)" >&2
