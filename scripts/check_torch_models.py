#!/usr/bin/env python3
"""End-to-end check against PyTorch: random models through `lstm run`.

For N random models of the kinds lstm.cpp supports — nn.LSTM (layers, bidirectional, proj_size,
bias), nn.GRU or nn.RNN (tanh), batch_first, followed by an nn.Linear applied at every step —
with random sizes, random weights, random inputs and random per-sample lengths, saves the model
as a plain PyTorch state_dict in safetensors, runs `lstm run` on it, and compares the output
with PyTorch's on every valid step (relative to the largest expected magnitude).

Needs Debian's python3-torch and a built `lstm`; not part of CI:
    /usr/bin/python3 scripts/check_torch_models.py [--count 200] [--lstm build/lstm]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_reference import npy_bytes, safetensors_bytes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_model(rng):
    kind = rng.choice(["lstm", "gru", "rnn"])
    hidden = int(rng.integers(1, 40))
    options = dict(input_size=int(rng.integers(1, 20)), hidden_size=hidden,
                   num_layers=int(rng.integers(1, 4)), bias=bool(rng.random() < 0.8),
                   bidirectional=bool(rng.random() < 0.5), batch_first=True)
    if kind == "lstm" and hidden > 1 and rng.random() < 0.3:
        options["proj_size"] = int(rng.integers(1, hidden))
    module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](**options)
    out_size = options.get("proj_size", 0) or hidden
    directions = 2 if options["bidirectional"] else 1
    dense = nn.Linear(directions * out_size, int(rng.integers(1, 6)))
    return module, dense, options


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--lstm", default=os.path.join(ROOT, "build", "lstm"))
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    torch.manual_seed(2026)
    worst, failures = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(args.count):
            module, dense, options = random_model(rng)
            batch, steps = int(rng.integers(1, 6)), int(rng.integers(1, 30))
            lengths = rng.integers(1, steps + 1, size=batch).astype(np.int64)
            x = torch.randn(batch, steps, options["input_size"])
            with torch.no_grad():
                packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True,
                                              enforce_sorted=False)
                hidden, _ = pad_packed_sequence(module(packed)[0], batch_first=True,
                                                total_length=steps)
                expected = dense(hidden).numpy()
            tensors = [(f"0.{k}", v.numpy()) for k, v in module.state_dict().items()]
            tensors += [(f"1.{k}", v.numpy()) for k, v in dense.state_dict().items()]
            paths = {name: os.path.join(tmp, name) for name in
                     ["model.safetensors", "x.npy", "lengths.npy", "y.npy"]}
            with open(paths["model.safetensors"], "wb") as f:
                f.write(safetensors_bytes(tensors))
            with open(paths["x.npy"], "wb") as f:
                f.write(npy_bytes(x.numpy()))
            with open(paths["lengths.npy"], "wb") as f:
                f.write(npy_bytes(lengths))
            run = subprocess.run([args.lstm, "run", "--model", paths["model.safetensors"],
                                  "--input", paths["x.npy"], "--lengths", paths["lengths.npy"],
                                  "--output", paths["y.npy"]], capture_output=True, text=True)
            if run.returncode != 0:
                failures += 1
                print(f"case {case} {type(module).__name__} {options}: lstm run failed: "
                      f"{run.stderr.strip()}")
                continue
            actual = np.load(paths["y.npy"])
            valid = np.arange(steps)[None, :] < lengths[:, None]
            scale = max(np.abs(expected[valid]).max(), 1e-6)
            error = np.abs(actual[valid] - expected[valid]).max() / scale
            worst = max(worst, error)
            if actual.shape != expected.shape or error > args.tolerance:
                failures += 1
                print(f"case {case} {type(module).__name__} {options}: relative error {error:.2e}")
    print(f"{args.count - failures} passed, {failures} failed "
          f"(largest relative error {worst:.2e}, tolerance {args.tolerance:g})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
