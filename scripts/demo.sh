#!/usr/bin/env bash
# The main job: install and build everything, then classify grace_hopper.bmp
# with MobileNet V2 on TFLite's CPU path and through the nonstick delegate.
#   NONSTICK_DATA=dir   models/images/labels (default ../shared)
#   DEVICE=auto         delegate device (auto, reference, ...)
#   ITERATIONS=10
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data=${NONSTICK_DATA:-$root/../shared}
bash scripts/setup.sh
echo
exec build/nonstick classify \
  --model "$data/models/mobilenet_v2_1.0_224_quant.tflite" \
  --image "$data/images/grace_hopper.bmp" \
  --labels "$data/labels/imagenet_labels.txt" \
  --iterations "${ITERATIONS:-10}" --device "${DEVICE:-auto}"
