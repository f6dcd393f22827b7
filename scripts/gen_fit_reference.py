#!/usr/bin/python3
"""PyTorch reference runs for `lstm fit` (tests/fixtures/fit/, read by the C++ tests).

Run from anywhere, with Debian's python3 (it has python3-torch; the `python3` found first on
PATH may not):

    /usr/bin/python3 scripts/gen_fit_reference.py

Torch is needed only to regenerate; the tests read the committed files. The script is
deterministic (each case seeds torch from its name, one intra-op thread) and rewrites exactly
the committed files, byte for byte.

Each case is a model (a plain PyTorch state_dict: layer 0 an nn.LSTM/GRU/RNN(tanh) with
batch_first=True, layer 1 an nn.Linear applied at every step), data, and the options of one
`lstm fit` run. The expected weights are those of the plain PyTorch loop that `lstm fit` computes
(`torch_fit` below): batches x[i:i+bs] in order (--no-shuffle, drop_last false), the loss with
reduction "mean" over the batch (nn.MSELoss, nn.L1Loss, nn.HuberLoss(delta=1),
nn.CrossEntropyLoss on logits reshaped to (-1, C) with targets (-1,), nn.BCEWithLogitsLoss), and
per batch: zero_grad, backward, [clip_grad_norm_(all parameters, clip)], step. With lengths the
recurrent layer runs on pack_padded_sequence(enforce_sorted=False) and pad_packed_sequence
(total_length=T) pads its output with zeros; the Linear and the loss cover every step.

The loop is run in float64, starting from the float32 initial weights and data (exactly
representable), and its result is stored rounded to float32: the fixture is the exact math, not
one float32 implementation's rounding. The same loop in float32 (what PyTorch users get) is also
run, and its distance from the float64 result is recorded: the rounding noise any float32
implementation, ours included, has to live with.

What it writes, under tests/fixtures/fit/:

* <case>/model.safetensors     initial state_dict ("0.weight_ih_l0", ..., "1.weight", "1.bias"),
                               float32, no __metadata__
* <case>/x.npy                 float32 (samples, steps, features)
* <case>/y.npy                 float32 shaped like the model's output (samples, steps, out);
                               cross_entropy: class indices (samples, steps), int64 or int32;
                               bce: probabilities in [0, 1]
* <case>/lengths.npy           int64 (samples,), only in cases with "lengths": true
* <case>/expected.safetensors  the state_dict after training, same names, float32
* cases.json                   a list, one object per case:
    "name"        the directory
    "args"        the training options of `lstm fit`, a list of strings; the test adds
                  --model model.safetensors --x x.npy --y y.npy --out OUT, and
                  --lengths lengths.npy when "lengths" is true
    "lengths"     whether the case has lengths.npy
    "model"       {"cell": "lstm|gru|rnn_tanh", "input_size", "hidden_size", "num_layers",
                   "bidirectional", "proj_size", "bias", "out_features"}
    "samples", "steps", "optimizer_steps" (batches per epoch times epochs)
    "clipped_steps"  (only with --clip-norm) how many steps clip_grad_norm_ scaled down
    "float32_vs_float64": {"of_weights":  max over tensors of |w32 - w64| / |w64|,
                           "of_change":   max over tensors of |w32 - w64| / |w64 - w0|}
                  (Frobenius norms; w32, w64 the float32 and float64 loops' results, w0 the
                  initial weights; 3 significant digits)
"""

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_reference import npy_bytes, safetensors_bytes, seed_of, write_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "fit")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------------------------
# The model and the loop (also used by scripts/check_torch_fit.py)

class Stack(nn.Module):
    """Layer "0" a batch_first recurrent module, layer "1" an nn.Linear at every step."""

    def __init__(self, recurrent, dense):
        super().__init__()
        self.add_module("0", recurrent)
        self.add_module("1", dense)

    def forward(self, x, lengths=None):
        recurrent, dense = self._modules["0"], self._modules["1"]
        if lengths is not None:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = recurrent(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            out, _ = recurrent(x)
        return dense(out)


def build_model(cell, input_size, hidden_size, out_features, num_layers=1, bidirectional=False,
                proj_size=0, bias=True):
    kw = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, bias=bias,
              bidirectional=bidirectional, batch_first=True)
    if cell == "lstm":
        recurrent = nn.LSTM(proj_size=proj_size, **kw)
    elif cell == "gru":
        recurrent = nn.GRU(**kw)
    elif cell == "rnn_tanh":
        recurrent = nn.RNN(nonlinearity="tanh", **kw)
    else:
        raise ValueError(cell)
    features = (2 if bidirectional else 1) * (proj_size or hidden_size)
    return Stack(recurrent, nn.Linear(features, out_features))


DEFAULT_LR = {"sgd": 1e-3, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-2, "adagrad": 1e-2}


def parse_fit_args(args):
    """The training options of `lstm fit` (a list of strings) as a namespace."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--loss", required=True,
                        choices=["mse", "mae", "huber", "cross_entropy", "bce"])
    parser.add_argument("--optimizer", required=True,
                        choices=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--no-shuffle", action="store_true")
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--nesterov", action="store_true")
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--clip-norm", type=float, default=0.0)
    options = parser.parse_args(args)
    if not options.no_shuffle:
        raise ValueError("reference runs are without shuffling")
    return options


def make_optimizer(params, o):
    lr = DEFAULT_LR[o.optimizer] if o.lr is None else o.lr
    wd = o.weight_decay
    if o.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o.momentum, nesterov=o.nesterov,
                               weight_decay=wd or 0.0)
    if o.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd or 0.0)
    if o.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.01 if wd is None else wd)
    if o.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=o.momentum, weight_decay=wd or 0.0)
    if o.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd or 0.0)
    raise ValueError(o.optimizer)


def loss_value(name, output, target):
    if name == "mse":
        return nn.MSELoss()(output, target)
    if name == "mae":
        return nn.L1Loss()(output, target)
    if name == "huber":
        return nn.HuberLoss(delta=1.0)(output, target)
    if name == "cross_entropy":
        return nn.CrossEntropyLoss()(output.reshape(-1, output.shape[-1]),
                                     target.reshape(-1).long())
    if name == "bce":
        return nn.BCEWithLogitsLoss()(output, target)
    raise ValueError(name)


def torch_fit(model, x, y, lengths, args, dtype):
    """The plain PyTorch loop of `lstm fit ARGS` on a copy of `model`, in `dtype`.

    x: float32 tensor (N, T, F); y: float32 tensor, or integer class indices for cross_entropy;
    lengths: int64 tensor (N,) or None. Returns (state_dict of the trained copy in `dtype`,
    number of optimizer steps, number of steps whose gradients clip_grad_norm_ scaled down)."""
    o = parse_fit_args(args)
    model = copy.deepcopy(model).to(dtype)
    model.train()
    x = x.to(dtype)
    if o.loss != "cross_entropy":
        y = y.to(dtype)
    params = list(model.parameters())
    optimizer = make_optimizer(params, o)
    samples = x.shape[0]
    steps = clipped = 0
    for _ in range(o.epochs):
        for start in range(0, samples, o.batch_size):
            batch = slice(start, start + o.batch_size)
            optimizer.zero_grad()
            output = model(x[batch], None if lengths is None else lengths[batch])
            loss = loss_value(o.loss, output, y[batch])
            loss.backward()
            if o.clip_norm > 0:
                total = torch.nn.utils.clip_grad_norm_(params, o.clip_norm)
                clipped += int(total.item() > o.clip_norm)
            optimizer.step()
            steps += 1
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, steps, clipped


def norm(t):
    return torch.linalg.vector_norm(t.double()).item()


def float32_vs_float64(w0, w32, w64):
    """Max over tensors of |w32-w64|/|w64| and of |w32-w64|/|w64-w0|."""
    of_weights = of_change = 0.0
    for k in w64:
        diff = norm(w32[k].double() - w64[k])
        of_weights = max(of_weights, diff / max(norm(w64[k]), 1e-300))
        change = norm(w64[k] - w0[k].double())
        of_change = max(of_change, diff / change if change > 0 else (0.0 if diff == 0 else
                                                                       float("inf")))
    return of_weights, of_change


# --------------------------------------------------------------------------------------------
# Fixtures

def f32(t):
    return t.detach().to(torch.float32).contiguous().numpy().astype(np.float32)


def sig3(v):
    return float(f"{v:.3g}")


manifest = []


def fit_case(name, model_options, samples, steps, args, lengths=None, target_dtype=None):
    """model_options: keyword arguments of build_model. args: the `lstm fit` training options."""
    torch.manual_seed(seed_of(name))
    model = build_model(**model_options)
    o = parse_fit_args(args)
    features = model_options["input_size"]
    out = model_options["out_features"]
    x = torch.rand(samples, steps, features) * 2 - 1
    if o.loss == "cross_entropy":
        y = torch.randint(0, out, (samples, steps))
        y_np = y.numpy().astype(target_dtype or np.int64)
    elif o.loss == "bce":
        y = torch.rand(samples, steps, out)
        y_np = f32(y)
    else:
        y = torch.randn(samples, steps, out) * 1.5
        y_np = f32(y)
    lengths_t = None if lengths is None else torch.tensor(lengths, dtype=torch.int64)
    assert lengths is None or len(lengths) == samples

    w0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    w64, optimizer_steps, clipped = torch_fit(model, x, y, lengths_t, args, torch.float64)
    w32, _, _ = torch_fit(model, x, y, lengths_t, args, torch.float32)
    of_weights, of_change = float32_vs_float64(w0, w32, w64)

    directory = os.path.join(OUT, name)
    write_file(os.path.join(directory, "model.safetensors"),
               safetensors_bytes([(k, f32(v)) for k, v in w0.items()]))
    write_file(os.path.join(directory, "x.npy"), npy_bytes(f32(x)))
    write_file(os.path.join(directory, "y.npy"), npy_bytes(y_np))
    if lengths is not None:
        write_file(os.path.join(directory, "lengths.npy"),
                   npy_bytes(np.array(lengths, dtype=np.int64)))
    write_file(os.path.join(directory, "expected.safetensors"),
               safetensors_bytes([(k, f32(v)) for k, v in w64.items()]))
    change = max(norm(w64[k] - w0[k].double()) / norm(w0[k]) for k in w0)
    print(f"    {optimizer_steps} steps, largest relative change {change:.2e}; "
          f"f32 vs f64: {of_weights:.2e} of the weights, {of_change:.2e} of the change"
          + (f"; clipped {clipped}" if o.clip_norm > 0 else ""))

    model_entry = {"cell": model_options["cell"],
                   "input_size": model_options["input_size"],
                   "hidden_size": model_options["hidden_size"],
                   "num_layers": model_options.get("num_layers", 1),
                   "bidirectional": model_options.get("bidirectional", False),
                   "proj_size": model_options.get("proj_size", 0),
                   "bias": model_options.get("bias", True),
                   "out_features": out}
    entry = {"name": name, "args": args, "lengths": lengths is not None, "model": model_entry,
             "samples": samples, "steps": steps, "optimizer_steps": optimizer_steps}
    if o.clip_norm > 0:
        entry["clipped_steps"] = clipped
    entry["float32_vs_float64"] = {"of_weights": sig3(of_weights), "of_change": sig3(of_change)}
    manifest.append(entry)


def train(loss, optimizer, batch_size, epochs, lr=None, *extra):
    args = ["--loss", loss, "--optimizer", optimizer]
    if lr is not None:
        args += ["--lr", lr]
    return args + ["--batch-size", str(batch_size), "--epochs", str(epochs), "--no-shuffle",
                   *extra]


def main():
    if torch.__version__.split(".")[:2] != ["1", "13"]:
        print(f"note: fixtures were made with torch 1.13; this is {torch.__version__}",
              file=sys.stderr)
    lstm = lambda i, h, c, **kw: dict(cell="lstm", input_size=i, hidden_size=h,  # noqa: E731
                                      out_features=c, **kw)
    gru = lambda i, h, c, **kw: dict(cell="gru", input_size=i, hidden_size=h,  # noqa: E731
                                     out_features=c, **kw)
    rnn = lambda i, h, c, **kw: dict(cell="rnn_tanh", input_size=i, hidden_size=h,  # noqa: E731
                                     out_features=c, **kw)

    # Every optimizer, every loss, LSTM/GRU/RNN. Batch sizes mostly do not divide the samples.
    fit_case("lstm_sgd_mse", lstm(3, 5, 2), 9, 5, train("mse", "sgd", 4, 3, "0.1"))
    fit_case("lstm_sgd_nesterov_wd_mae", lstm(4, 6, 2), 10, 5,
             train("mae", "sgd", 3, 2, "0.05", "--momentum", "0.9", "--nesterov",
                   "--weight-decay", "0.01"))
    fit_case("gru_adam_huber", gru(4, 6, 3), 12, 5, train("huber", "adam", 5, 3, "0.01"))
    fit_case("rnn_adam_wd_mse", rnn(3, 5, 2), 7, 6,
             train("mse", "adam", 4, 3, "0.01", "--weight-decay", "0.05"))
    fit_case("lstm_adamw_ce_int64", lstm(4, 6, 3), 11, 5,
             train("cross_entropy", "adamw", 4, 2, "0.02"), target_dtype=np.int64)
    fit_case("gru_adamw_wd_ce_int32", gru(5, 5, 4), 9, 4,
             train("cross_entropy", "adamw", 2, 2, "0.01", "--weight-decay", "0.1"),
             target_dtype=np.int32)
    fit_case("lstm_rmsprop_bce", lstm(3, 4, 2), 10, 5, train("bce", "rmsprop", 4, 3, "0.005"))
    fit_case("lstm2_rmsprop_momentum_wd_mse", lstm(3, 5, 2, num_layers=2), 8, 5,
             train("mse", "rmsprop", 3, 2, "0.002", "--momentum", "0.5",
                   "--weight-decay", "0.02"))
    fit_case("lstm_bi_adagrad_huber", lstm(3, 4, 2, bidirectional=True), 11, 4,
             train("huber", "adagrad", 4, 3, "0.05"))
    fit_case("rnn_adagrad_default_lr_wd_ce", rnn(4, 7, 3), 13, 4,
             train("cross_entropy", "adagrad", 5, 3, None, "--weight-decay", "0.01"),
             target_dtype=np.int64)
    fit_case("lstm_proj_adam_mse", lstm(4, 6, 2, proj_size=3), 9, 5,
             train("mse", "adam", 4, 3, "0.01"))
    fit_case("lstm_nobias_adam_default_lr_bce", lstm(3, 5, 3, bias=False), 7, 5,
             train("bce", "adam", 3, 4))
    # Lengths, clipping, batches larger than the data or of one sample.
    fit_case("lstm_lengths_sgd_momentum_mse", lstm(3, 5, 2), 9, 6,
             train("mse", "sgd", 4, 3, "0.1", "--momentum", "0.9"),
             lengths=[6, 2, 4, 1, 5, 6, 3, 2, 4])
    fit_case("gru_clip_sgd_mse", gru(3, 6, 2), 10, 5,
             train("mse", "sgd", 3, 3, "0.5", "--clip-norm", "0.5"))
    fit_case("lstm_bi2_lengths_clip_adamw_mae",
             lstm(3, 4, 2, num_layers=2, bidirectional=True), 8, 5,
             train("mae", "adamw", 3, 2, "0.01", "--clip-norm", "0.1"),
             lengths=[5, 1, 3, 5, 2, 4, 4, 1])
    fit_case("rnn_bi_sgd_wd_bce_one_batch", rnn(3, 4, 2, bidirectional=True), 7, 4,
             train("bce", "sgd", 16, 4, "0.3", "--weight-decay", "0.001"))
    fit_case("gru_adam_huber_batch1", gru(3, 4, 1, num_layers=2), 7, 4,
             train("huber", "adam", 1, 2, "0.005"))

    text = "[\n" + ",\n".join(" " + json.dumps(entry) for entry in manifest) + "\n]\n"
    write_file(os.path.join(OUT, "cases.json"), text.encode("ascii"))
    from gen_reference import written
    print(f"{len(manifest)} cases, {len(written)} files, {sum(n for _, n in written)} bytes")


if __name__ == "__main__":
    main()
