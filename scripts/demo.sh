#!/usr/bin/env bash
# The demo: sets up, builds, and runs the bundled AirPassengers forecaster (a model trained in
# PyTorch, loaded from its plain state_dict) on the last 36 months of the series.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
model=examples/airpassengers/model.safetensors
out=build/airpassengers_forecast.npy
echo
echo "\$ lstm info --model $model"
./build/lstm info --model "$model"
echo
echo "\$ lstm run --model $model --input examples/airpassengers/input.npy --output $out"
./build/lstm run --model "$model" --input examples/airpassengers/input.npy --output "$out"
echo
/usr/bin/python3 - "$out" <<'PY'  # Debian's python3 with python3-numpy
import json, struct, sys
import numpy as np
# The model file's metadata holds the scaling (log, then standardised).
with open("examples/airpassengers/model.safetensors", "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
scaling = json.loads(header["__metadata__"]["scaling"])
series = np.loadtxt("data/timeseries/AirPassengers.csv", delimiter=",", skiprows=1)
predicted = np.exp(np.load(sys.argv[1])[0, :, 0] * scaling["std"] + scaling["mean"])
print("1960, one step ahead (thousands of passengers; months 1949-1958 were the training part)")
print("month  actual  predicted  naive (last month)")
for k in range(12):
    month = len(series) - 12 + k
    print(f"{int(series[month, 1]):5d}  {series[month, 2]:6.0f}  {predicted[-13 + k]:9.1f}"
          f"  {series[month - 1, 2]:6.0f}")
PY
