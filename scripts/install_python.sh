#!/usr/bin/env bash
# Makes `/usr/bin/python3 -c "import onsager"` work from anywhere: writes onsager.pth, which names this checkout's
# build/python, into Debian Python's site directory for local packages (/usr/local/lib/python3.X/dist-packages
# as root, the user's site-packages otherwise). Run after scripts/build.sh; a rebuild needs no re-install.
#   scripts/install_python.sh               the default site directory
#   scripts/install_python.sh --site DIR    another one, e.g. a virtualenv's site-packages (docs/python.md)
#   scripts/install_python.sh --remove      remove the onsager.pth this script wrote
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py=/usr/bin/python3
site="" remove=0
while [ $# -gt 0 ]; do
  case "$1" in
    --site) site="${2:?install_python: --site needs a directory}"; shift 2 ;;
    --remove) remove=1; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install_python: unknown option '$1' (see --help)" >&2; exit 1 ;;
  esac
done
if [ -z "$site" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    site="$("$py" -c 'import site; print(next(p for p in site.getsitepackages() if p.startswith("/usr/local/")))')"
  else
    site="$("$py" -m site --user-site)"
  fi
fi
pth="$site/onsager.pth"
if [ "$remove" -eq 1 ]; then
  rm -f "$pth"; echo "install_python: removed $pth" >&2; exit 0
fi
pkg="$here/build/python"
if ! ls "$pkg"/onsager/_onsager*.so >/dev/null 2>&1; then
  echo "install_python: $pkg/onsager has no built module; run scripts/build.sh first" >&2; exit 1
fi
mkdir -p "$site"
printf '%s\n' "$pkg" > "$pth.tmp.$$" && mv "$pth.tmp.$$" "$pth"
where="$(cd / && "$py" -c 'import onsager; print(onsager.__file__)')"
echo "install_python: $pth -> $pkg ($py imports $where)" >&2
