#!/usr/bin/env bash
# Installs everything nonstick needs on a fresh Debian 12 machine and builds it.
# Idempotent: a second run only rebuilds what changed.
#   NONSTICK_SKIP_APT=1   do not touch system packages
#   BUILD_DIR=build       where to build (default build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_dir=${BUILD_DIR:-build}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. System packages: compiler, build tools, GoogleTest, flatbuffers, stb_image,
#    python venv, npm (to fetch the TFLite C library from its npm package).
apt_packages=(g++ cmake ninja-build make pkg-config libgtest-dev libgmock-dev
  flatbuffers-compiler libflatbuffers-dev libstb-dev libbenchmark-dev python3 python3-venv npm)
if [ "${NONSTICK_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # npm may come from elsewhere (nodesource, nvm): only ask apt for it when absent.
  if command -v npm >/dev/null; then missing=("${missing[@]/npm}"); fi
  if [ -n "$(echo "${missing[@]}" | tr -d ' ')" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ${missing[*]} >/dev/null
  fi
fi

# 2. TensorFlow Lite 2.9 C library + headers, from the npm package
#    tfjs-tflite-node (cc_deps/), unpacked into third_party/tflite (ignored).
tfl=third_party/tflite
case "$(uname -m)" in
  x86_64) arch=linux_amd64 ;;
  aarch64) arch=linux_arm64 ;;
  *) echo "unsupported architecture $(uname -m); pass -DTFLITE_ROOT= to cmake" >&2; exit 1 ;;
esac
if [ ! -f "$tfl/lib/libtensorflowlite_c.so" ]; then
  log "fetching TFLite 2.9 C library (npm: tfjs-tflite-node)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent tfjs-tflite-node@0.0.2 >/dev/null && tar xzf tfjs-tflite-node-0.0.2.tgz)
  mkdir -p "$tfl/lib"
  cp -r "$tmp/package/cc_deps/include" "$tfl/"
  cp "$tmp/package/cc_deps/$arch/"*.so "$tfl/lib/"
  rm -rf "$tmp"
fi

# 3. Python environment with the runtimes the tests compare against.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import tflite_runtime, ai_edge_litert, PIL, pytest" 2>/dev/null; then
  log "creating .venv (tflite-runtime 2.14, ai-edge-litert, numpy<2, pillow, pytest)"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q "numpy<2" "tflite-runtime==2.14.*" ai-edge-litert pillow pytest
fi

# 4. Build.
log "building in $build_dir"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
log "done: $build_dir/libnonstick.so, $build_dir/nonstick"
