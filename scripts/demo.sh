#!/usr/bin/env bash
# The demo, end to end on a bundled series: sets up, builds, trains a forecaster on AirPassengers
# with the default settings, scores it on the held-out months against the naive and
# seasonal-naive forecasts, forecasts the next year, and writes HTML reports. Then brings a model
# trained in PyTorch over and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
data=data/timeseries/AirPassengers.csv
out=demo
mkdir -p "$out"
run() {
  echo
  echo "\$ lstm $*"
  ./build/lstm "$@"
}
run train --data "$data" --model "$out/air.safetensors" --report "$out/train-report.html" --verbose 2
run evaluate --model "$out/air.safetensors" --data "$data" --report "$out/evaluate-report.html"
run forecast --model "$out/air.safetensors" --data "$data" --steps 12

# A model trained in PyTorch and saved as a plain state_dict runs as it is.
run run --model examples/airpassengers/model.safetensors --input examples/airpassengers/input.npy \
  --output "$out/pytorch_model_output.npy"
echo
echo "Reports: $(pwd)/$out/train-report.html and $(pwd)/$out/evaluate-report.html"
echo "(open them in a browser; the trained model is $out/air.safetensors)"
