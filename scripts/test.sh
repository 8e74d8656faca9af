#!/usr/bin/env bash
# The test suite: builds (installing what is missing), then runs
#   1. the C++ suite (GoogleTest via ctest) against the TFLite 2.9 C library,
#   2. the Python suite (pytest) through tflite-runtime 2.14 and ai-edge-litert,
#   3. the C++ suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
#   NONSTICK_SKIP_SANITIZERS=1  skip step 3 (quicker local runs)
#   NONSTICK_DATA=dir           models/images (default ../shared)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export NONSTICK_DATA=${NONSTICK_DATA:-$root/../shared}
jobs=$(nproc)

bash scripts/setup.sh

echo "== C++ tests (TFLite 2.9 C library as the CPU reference)"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== Python tests (tflite-runtime 2.14, ai-edge-litert)"
NONSTICK_LIB="$root/build/libnonstick.so" .venv/bin/python -m pytest -q tests/python

if [ "${NONSTICK_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNONSTICK_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
