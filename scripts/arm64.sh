#!/usr/bin/env bash
# Cross-builds nonstick for arm64 (the boards' architecture) and runs the C++
# test binary under qemu-aarch64 against the arm64 TFLite 2.9 C library.
#   scripts/arm64.sh               install, build, run every test
#   scripts/arm64.sh build         install and build only
#   scripts/arm64.sh test [ARGS]   run the tests (ARGS go to gtest, e.g. --gtest_filter=Reference*)
#   scripts/arm64.sh run PROG ...  run any arm64 program under qemu (e.g. build-arm64/nonstick)
#   NONSTICK_SKIP_APT=1   do not touch system packages
#   BUILD_DIR=build-arm64 where to build
#   JOBS=N                build parallelism (default: nproc)
#   BUILD_TYPE=...        CMake build type (default RelWithDebInfo, as setup.sh;
#                         GCC 12's -O3 reports false -Wrestrict errors here as on x86)
# Idempotent like setup.sh; the host packages setup.sh installs (cmake, ninja,
# flatc, GoogleTest sources, npm) are needed here too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_dir=${BUILD_DIR:-build-arm64}
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
jobs=${JOBS:-$(nproc)}
sysroot=/usr/aarch64-linux-gnu      # Debian's arm64 C library for the cross toolchain
toolchain="$root/cmake/aarch64-linux-gnu.cmake"
tfl=third_party/tflite-arm64
deps="$build_dir/_deps/prefix"       # arm64 builds of GoogleTest and stb_image

log() { printf '\033[1m[arm64]\033[0m %s\n' "$*"; }

install_packages() {
  [ "${NONSTICK_SKIP_APT:-0}" = 1 ] && return
  local wanted=(g++-aarch64-linux-gnu qemu-user g++ cmake ninja-build pkg-config libgtest-dev
    libgmock-dev flatbuffers-compiler libflatbuffers-dev libstb-dev python3 npm) missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if command -v npm >/dev/null; then missing=("${missing[@]/npm}"); fi
  if [ -n "$(echo "${missing[@]}" | tr -d ' ')" ]; then
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ${missing[*]} >/dev/null
  fi
}

# The linux_arm64 build of the same npm package setup.sh takes the x86 one from.
fetch_tflite() {
  [ -f "$tfl/lib/libtensorflowlite_c.so" ] && return
  log "fetching arm64 TFLite 2.9 C library (npm: tfjs-tflite-node)"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent tfjs-tflite-node@0.0.2 >/dev/null && tar xzf tfjs-tflite-node-0.0.2.tgz)
  mkdir -p "$tfl/lib"
  cp -r "$tmp/package/cc_deps/include" "$tfl/"
  cp "$tmp/package/cc_deps/linux_arm64/"*.so "$tfl/lib/"
  rm -rf "$tmp"
}

# Debian ships GoogleTest as sources: build them with the cross compiler.
build_gtest() {
  [ -f "$deps/lib/libgtest.a" ] && return
  log "building GoogleTest for arm64"
  cmake -S /usr/src/googletest -B "$build_dir/_deps/googletest-build" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$deps" -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
  cmake --build "$build_dir/_deps/googletest-build" -j"$jobs" >/dev/null
  cmake --install "$build_dir/_deps/googletest-build" >/dev/null
}

# The nonstick CLI links Debian's libstb, which exists for the build machine
# only; stb_image is the one part it uses.
build_stb() {
  [ -f "$deps/lib/libstb.a" ] && return
  log "building stb_image for arm64"
  mkdir -p "$deps/lib"
  printf '#define STB_IMAGE_IMPLEMENTATION\n#include <stb_image.h>\n' |
    aarch64-linux-gnu-gcc -O2 -fPIC -I/usr/include/stb -x c -c - -o "$deps/lib/stb_image.o"
  aarch64-linux-gnu-ar rcs "$deps/lib/libstb.a" "$deps/lib/stb_image.o"
  rm "$deps/lib/stb_image.o"
}

build() {
  install_packages
  fetch_tflite
  build_gtest
  build_stb
  log "building in $build_dir"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DNONSTICK_ARM64_DEPS="$deps" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} \
    -DNONSTICK_DATA="${NONSTICK_DATA:-$root/../shared}" ${CMAKE_ARGS:-} >/dev/null
  cmake --build "$build_dir" -j"$jobs"
}

run() {
  QEMU_LD_PREFIX=$sysroot exec qemu-aarch64 "$@"
}

run_tests() {
  export NONSTICK_DATA=${NONSTICK_DATA:-$root/../shared}
  log "running $build_dir/tests/nonstick_tests under qemu-aarch64"
  run "$build_dir/tests/nonstick_tests" "$@"
}

case "${1:-all}" in
  build) build ;;
  test) shift; run_tests "$@" ;;
  run) shift; run "$@" ;;
  all) build; run_tests ;;
  *) echo "usage: $0 [all|build|test [gtest args]|run PROG [ARGS]]" >&2; exit 2 ;;
esac
