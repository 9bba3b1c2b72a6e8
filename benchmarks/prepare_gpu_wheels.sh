#!/usr/bin/env bash
# Fills .whl/ with the wheels the GPU machine's image lacks, for benchmarks/gpu_suite.sh.
#
#   bash benchmarks/prepare_gpu_wheels.sh [PYTHON_VERSION]     # default 3.12, the image's
#
# Run it where pip can reach the package index (the GPU machine cannot). The image has
# JAX (CUDA), flax, optax, orbax, torch, torchvision, absl-py and PyYAML, but not
# ml_collections, which configs/ needs; TensorFlow and clu are not needed by the suite
# (it never runs the input pipeline or writes TensorBoard events). The version is the
# one requirements.txt pins. .whl/ is ignored by git; carry it to the machine with the
# working tree.
set -eu -o pipefail
cd "$(dirname "$0")/.."
PYTHON_VERSION="${1:-3.12}"
PIN=$(grep -E '^ml-collections==' requirements.txt)
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" \
  --implementation py --platform any -d .whl "$PIN"
ls .whl
