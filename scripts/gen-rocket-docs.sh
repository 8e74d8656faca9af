#!/usr/bin/env bash
# Regenerates the two RK3588-vs-Mesa documents from Mesa's captured command
# streams (<data>/goldens/rocket) and a run of every model through nonstick's
# rocket backend on the virtual RK3588:
#   docs/rocket-register-diff.md  field-by-field register diff, a reason per field
#   docs/rocket-vs-mesa.md        per-model numbers side by side
# Fails (and writes nothing new) when a differing field has no known reason.
#   NONSTICK_DATA=dir   shared data (default ../shared next to the repository)
#   BUILD_DIR=dir       build directory (default build); configured if needed
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${NONSTICK_DATA:-$root/../shared}
build=${BUILD_DIR:-$root/build}

if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  cmake -S "$root" -B "$build" -G Ninja >/dev/null
fi
cmake --build "$build" --target rocket_mesa_diff -j"$(nproc)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/rocket_mesa_diff" --data "$data" --check \
  --diff-out "$tmp/rocket-register-diff.md" --table-out "$tmp/rocket-vs-mesa.md"
cp "$tmp/rocket-register-diff.md" "$tmp/rocket-vs-mesa.md" "$root/docs/"
echo "wrote docs/rocket-register-diff.md and docs/rocket-vs-mesa.md"
