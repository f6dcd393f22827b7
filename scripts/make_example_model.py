#!/usr/bin/env python3
"""Trains the bundled example model, examples/airpassengers/, in PyTorch.

A one-step-ahead forecaster for data/timeseries/AirPassengers.csv: nn.LSTM(1 → 32, batch_first)
then nn.Linear(32 → 1) at every step, on the log of the series standardised with the mean and
spread of the first 120 months (the training part). Saved as a plain PyTorch state_dict in
safetensors ("0.weight_ih_l0", ..., "1.weight", "1.bias"), which `lstm run` loads as it is;
the scaling is kept in the file's __metadata__. input.npy holds the last 36 months, scaled,
shaped (1, 36, 1).

Run with Debian's python3-torch: /usr/bin/python3 scripts/make_example_model.py
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_reference import npy_bytes, safetensors_bytes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "examples", "airpassengers")
TRAIN_MONTHS = 120
WINDOW = 24

torch.manual_seed(0)
torch.set_num_threads(1)

series = np.loadtxt(os.path.join(ROOT, "data", "timeseries", "AirPassengers.csv"),
                    delimiter=",", skiprows=1)[:, 2]
log = np.log(series)
mean, std = log[:TRAIN_MONTHS].mean(), log[:TRAIN_MONTHS].std()
scaled = ((log - mean) / std).astype(np.float32)

# Training windows from the first 120 months: inputs x[t..t+W), targets x[t+1..t+W+1).
starts = range(0, TRAIN_MONTHS - WINDOW)
x = torch.tensor(np.stack([scaled[s:s + WINDOW] for s in starts]))[..., None]
y = torch.tensor(np.stack([scaled[s + 1:s + WINDOW + 1] for s in starts]))[..., None]


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.recurrent = nn.LSTM(1, 32, batch_first=True)
        self.dense = nn.Linear(32, 1)

    def forward(self, inputs):
        return self.dense(self.recurrent(inputs)[0])


model = Forecaster()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(300):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
print(f"final training MSE (scaled): {loss.item():.5f}")

tensors = [(f"0.{k}", v.detach().numpy()) for k, v in model.recurrent.state_dict().items()]
tensors += [(f"1.{k}", v.detach().numpy()) for k, v in model.dense.state_dict().items()]
metadata = {"scaling": json.dumps({"transform": "log", "mean": float(mean), "std": float(std)}),
            "description": "AirPassengers one-step-ahead forecaster, trained by "
                           "scripts/make_example_model.py"}
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "model.safetensors"), "wb") as f:
    f.write(safetensors_bytes(tensors, metadata))
with open(os.path.join(OUT, "input.npy"), "wb") as f:
    f.write(npy_bytes(scaled[-36:].reshape(1, 36, 1)))
print(f"wrote {os.path.relpath(OUT, ROOT)}/model.safetensors and input.npy")
