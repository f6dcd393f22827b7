#!/usr/bin/env bash
# Sets up, builds and runs every test (ctest). The PyTorch fixtures are committed, so PyTorch
# is not needed to run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build && ctest --output-on-failure -j "$(nproc)"
