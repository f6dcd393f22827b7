#!/usr/bin/python3
"""PyTorch parity fixtures for lstm.cpp's tests (tests/test_pytorch_parity.cpp).

Run from anywhere, with Debian's python3 (it has python3-torch; the `python3` found first on
PATH may not):

    /usr/bin/python3 scripts/gen_reference.py

Torch is needed only to regenerate the fixtures; the C++ tests read the committed files. The
script is deterministic (every case seeds torch.manual_seed from its name, one intra-op thread)
and rewrites exactly the committed files, printing each path it writes. It also prints, per case,
how far PyTorch's float32 result is from the same computation in float64 ("f32 vs f64"): the
rounding noise floor that any float32 implementation, ours included, has to live with.

What it writes, under tests/fixtures/torch/:

* <case>.safetensors, one per layer case (lstm_*, gru_*, rnn_tanh_*, rnn_relu_*, dense_*,
  embedding_*, layernorm_*), all tensors float32 except "lengths" (I64):
    __metadata__ "config": JSON with the case's options. Every case has "layer" ("recurrent",
        "dense", "embedding", "layer_norm"). Recurrent: "cell" (lstm|gru|rnn_tanh|rnn_relu),
        "input_size", "hidden_size", "num_layers", "bias", "bidirectional", "proj_size",
        "batch", "steps", "weight_scale". Dense: "in_features", "out_features", "bias".
        Embedding: "num_embeddings", "embedding_dim", "padding_idx" (-1 = none).
        LayerNorm: "features", "eps", "elementwise_affine".
    "input"          recurrent/dense/layer_norm: (B, T, F) (dense_2d: (B, F)); embedding: ids
                     (B, T) as float32 holding whole numbers
    "h0", "c0"       initial states in PyTorch's layout (L*D, B, H_out) / (L*D, B, H); only in
                     cases that give them (otherwise the initial state is zero)
    "lengths"        (B,) I64, valid steps per sample; only in variable-length cases, which run
                     pack_padded_sequence(enforce_sorted=False) -> module -> pad_packed_sequence
                     (total_length=T)
    "param.<name>"   every parameter under its PyTorch name (weight_ih_l0, bias_hh_l1_reverse,
                     weight_hr_l0, weight, bias, ...)
    "output"         the module's output ((B, T, D*H_out) for recurrent, zero past each length)
    "h_n", "c_n"     final states (recurrent; c_n for LSTM only)
    "d_output", "d_h_n", "d_c_n"   random upstream gradients defining the loss
                     L = sum(d_output*output) + sum(d_h_n*h_n) + sum(d_c_n*c_n)
    "grad.input"     dL/dinput (not for embedding)
    "grad.h0", "grad.c0"  dL/dh0, dL/dc0, always present: without a given h0 they are the
                     gradients with respect to a zero initial state
    "grad.<name>"    dL/d parameter, for every parameter

  Recurrent weights are PyTorch's default initialisation U(-1/sqrt(H), 1/sqrt(H)) multiplied by
  weight_scale = 2, so that gates leave their near-linear range. Inputs are U(-1, 1); given
  initial states and upstream gradients are N(0, 1) (states times 0.5).

* models/<name>/ whole-model fixtures (for Sequential::load and the command-line tool):
    model.safetensors  a plain PyTorch state_dict ("0.weight_ih_l0", ..., "1.weight", "1.bias"),
                       no __metadata__: a recurrent module (batch_first) as layer 0, nn.Linear
                       applied at every step as the last layer (models with two recurrent
                       modules have them as layers 0 and 1)
    x.npy              float32 (B, T, I)
    lengths.npy        optional, int64 (int32 in lstm_int32_lengths)
    y.npy              float32 (B, T, out): nn.Linear applied to the padded recurrent output, so
                       past a sample's length it holds Linear's value on zeros (its bias)
  An RNN with relu cannot be told from one with tanh by its weight names, so plain state_dict
  models use tanh only.
"""

import copy
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "torch")
WEIGHT_SCALE = 2.0

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------------------------
# Files

def safetensors_bytes(tensors, metadata=None):
    """tensors: list of (name, numpy array). Offsets contiguous from 0, in list order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name, array in tensors:
        array = np.ascontiguousarray(array)
        kinds = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64",
                 np.dtype(np.int32): "I32"}
        dtype = kinds[array.dtype]
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    text += b" " * ((-len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


written = []


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    written.append((path, len(data)))
    print(f"wrote {os.path.relpath(path, ROOT)} ({len(data)} bytes)")


def npy_bytes(array):
    import io
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def f32(t):
    return t.detach().to(torch.float32).contiguous().numpy().astype(np.float32)


def rel_error(a, e):
    a = a.detach().double()
    e = e.detach().double()
    scale = max(e.abs().max().item() if e.numel() else 0.0, 1e-6)
    return (a - e).abs().max().item() / scale if e.numel() else 0.0


def leaf(t, dtype):
    """A fresh copy of t in dtype that autograd tracks (never the caller's tensor)."""
    return t.detach().clone().to(dtype).requires_grad_(True)


def seed_of(name):
    return zlib.crc32(name.encode("ascii"))


# --------------------------------------------------------------------------------------------
# Recurrent layers

CELLS = {
    "lstm": lambda **kw: nn.LSTM(**kw),
    "gru": lambda **kw: nn.GRU(**kw),
    "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
}


def run_recurrent(module, x, h0, c0, lengths, d_output, d_h_n, d_c_n, dtype):
    """Forward and backward in `dtype`; returns a dict of tensors (torch, in dtype)."""
    module = copy.deepcopy(module).to(dtype)
    x = leaf(x, dtype)
    h0 = leaf(h0, dtype)
    is_lstm = isinstance(module, nn.LSTM)
    if is_lstm:
        c0 = leaf(c0, dtype)
    state = (h0, c0) if is_lstm else h0
    steps = x.shape[1]
    if lengths is not None:
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out_packed, final = module(packed, state)
        output, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=steps)
    else:
        output, final = module(x, state)
    h_n, c_n = final if is_lstm else (final, None)
    loss = (d_output.to(dtype) * output).sum() + (d_h_n.to(dtype) * h_n).sum()
    if is_lstm:
        loss = loss + (d_c_n.to(dtype) * c_n).sum()
    loss.backward()
    result = {"output": output, "h_n": h_n}
    if is_lstm:
        result["c_n"] = c_n
    result["grad.input"] = x.grad
    result["grad.h0"] = h0.grad
    if is_lstm:
        result["grad.c0"] = c0.grad
    for name, p in module.named_parameters():
        result["grad." + name] = p.grad
    return result


def recurrent_case(name, cell, input_size, hidden_size, num_layers=1, bias=True,
                   bidirectional=False, proj_size=0, batch=2, steps=5, lengths=None,
                   with_h0=False):
    assert name.startswith(cell + "_"), name
    torch.manual_seed(seed_of(name))
    kwargs = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                  bias=bias, batch_first=True, bidirectional=bidirectional)
    if proj_size:
        kwargs["proj_size"] = proj_size
    module = CELLS[cell](**kwargs)
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(WEIGHT_SCALE)
    directions = 2 if bidirectional else 1
    out_size = proj_size or hidden_size
    is_lstm = cell == "lstm"
    x = torch.rand(batch, steps, input_size) * 2 - 1
    h0 = torch.zeros(num_layers * directions, batch, out_size)
    c0 = torch.zeros(num_layers * directions, batch, hidden_size)
    if with_h0:
        h0 = torch.randn(num_layers * directions, batch, out_size) * 0.5
        if is_lstm:
            c0 = torch.randn(num_layers * directions, batch, hidden_size) * 0.5
    d_output = torch.randn(batch, steps, directions * out_size)
    d_h_n = torch.randn(num_layers * directions, batch, out_size)
    d_c_n = torch.randn(num_layers * directions, batch, hidden_size)
    lengths_t = None
    if lengths is not None:
        assert len(lengths) == batch and max(lengths) <= steps
        lengths_t = torch.tensor(lengths, dtype=torch.int64)

    r32 = run_recurrent(module, x, h0, c0, lengths_t, d_output, d_h_n, d_c_n, torch.float32)
    r64 = run_recurrent(module, x, h0, c0, lengths_t, d_output, d_h_n, d_c_n, torch.float64)
    noise = max(rel_error(r32[k], r64[k]) for k in r32)

    config = dict(layer="recurrent", cell=cell, input_size=input_size, hidden_size=hidden_size,
                  num_layers=num_layers, bias=bias, bidirectional=bidirectional,
                  proj_size=proj_size, batch=batch, steps=steps, weight_scale=WEIGHT_SCALE)
    tensors = [("input", f32(x))]
    if with_h0:
        tensors.append(("h0", f32(h0)))
        if is_lstm:
            tensors.append(("c0", f32(c0)))
    if lengths_t is not None:
        tensors.append(("lengths", lengths_t.numpy().astype(np.int64)))
    for pname, p in module.named_parameters():
        tensors.append(("param." + pname, f32(p)))
    tensors.append(("output", f32(r32["output"])))
    tensors.append(("h_n", f32(r32["h_n"])))
    if is_lstm:
        tensors.append(("c_n", f32(r32["c_n"])))
    tensors.append(("d_output", f32(d_output)))
    tensors.append(("d_h_n", f32(d_h_n)))
    if is_lstm:
        tensors.append(("d_c_n", f32(d_c_n)))
    for key in r32:
        if key.startswith("grad."):
            tensors.append((key, f32(r32[key])))
    write_file(os.path.join(OUT, name + ".safetensors"),
               safetensors_bytes(tensors, {"config": json.dumps(config, sort_keys=True)}))
    print(f"    f32 vs f64: {noise:.2e}")


# --------------------------------------------------------------------------------------------
# Dense, Embedding, LayerNorm

def run_module(module, inputs, d_output, dtype, grad_input=True):
    module = copy.deepcopy(module).to(dtype)
    if grad_input:
        inputs = leaf(inputs, dtype)
    output = module(inputs)
    (d_output.to(dtype) * output).sum().backward()
    result = {"output": output}
    if grad_input:
        result["grad.input"] = inputs.grad
    for name, p in module.named_parameters():
        result["grad." + name] = p.grad
    return result


def module_case(name, module, inputs, config, grad_input=True):
    d_output = torch.randn(module(inputs).shape)
    r32 = run_module(module, inputs, d_output, torch.float32, grad_input)
    r64 = run_module(module, inputs, d_output, torch.float64, grad_input)
    noise = max(rel_error(r32[k], r64[k]) for k in r32)
    tensors = [("input", f32(inputs))]
    for pname, p in module.named_parameters():
        tensors.append(("param." + pname, f32(p)))
    tensors.append(("output", f32(r32["output"])))
    tensors.append(("d_output", f32(d_output)))
    for key in r32:
        if key.startswith("grad."):
            tensors.append((key, f32(r32[key])))
    write_file(os.path.join(OUT, name + ".safetensors"),
               safetensors_bytes(tensors, {"config": json.dumps(config, sort_keys=True)}))
    print(f"    f32 vs f64: {noise:.2e}")


def dense_case(name, in_features, out_features, bias, shape):
    torch.manual_seed(seed_of(name))
    module = nn.Linear(in_features, out_features, bias=bias)
    x = torch.rand(*shape, in_features) * 2 - 1
    module_case(name, module, x, dict(layer="dense", in_features=in_features,
                                      out_features=out_features, bias=bias))


def embedding_case(name, num_embeddings, embedding_dim, padding_idx, ids):
    torch.manual_seed(seed_of(name))
    module = nn.Embedding(num_embeddings, embedding_dim, padding_idx=padding_idx)
    ids = torch.tensor(ids, dtype=torch.int64)
    d_output = torch.randn(*ids.shape, embedding_dim)

    def run(dtype):
        m = copy.deepcopy(module).to(dtype)
        out = m(ids)
        (d_output.to(dtype) * out).sum().backward()
        return {"output": out, "grad.weight": m.weight.grad}

    r32, r64 = run(torch.float32), run(torch.float64)
    noise = max(rel_error(r32[k], r64[k]) for k in r32)
    config = dict(layer="embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim,
                  padding_idx=-1 if padding_idx is None else padding_idx)
    tensors = [("input", ids.numpy().astype(np.float32)),
               ("param.weight", f32(module.weight)),
               ("output", f32(r32["output"])),
               ("d_output", f32(d_output)),
               ("grad.weight", f32(r32["grad.weight"]))]
    write_file(os.path.join(OUT, name + ".safetensors"),
               safetensors_bytes(tensors, {"config": json.dumps(config, sort_keys=True)}))
    print(f"    f32 vs f64: {noise:.2e}")


def layernorm_case(name, features, affine, shape, offset=0.0, spread=1.0):
    torch.manual_seed(seed_of(name))
    module = nn.LayerNorm(features, elementwise_affine=affine)
    if affine:
        with torch.no_grad():  # not ones and zeros, so that both gradients matter
            module.weight.copy_(1 + 0.5 * torch.randn(features))
            module.bias.copy_(0.5 * torch.randn(features))
    x = offset + spread * torch.randn(*shape, features)
    module_case(name, module, x, dict(layer="layer_norm", features=features, eps=module.eps,
                                      elementwise_affine=affine))


# --------------------------------------------------------------------------------------------
# Whole models: recurrent module(s), then nn.Linear at every step

class Stack(nn.Module):
    """Children named "0", "1", ...: recurrent modules (batch_first) then one nn.Linear."""

    def __init__(self, layers):
        super().__init__()
        for i, layer in enumerate(layers):
            self.add_module(str(i), layer)

    def forward(self, x, lengths=None):
        steps = x.shape[1]
        for layer in self.children():
            if isinstance(layer, nn.RNNBase):
                if lengths is not None:
                    packed = pack_padded_sequence(x, lengths, batch_first=True,
                                                  enforce_sorted=False)
                    out, _ = layer(packed)
                    x, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
                else:
                    x, _ = layer(x)
            else:
                x = layer(x)
        return x


def model_case(name, layers, batch, steps, lengths=None, lengths_dtype=np.int64):
    torch.manual_seed(seed_of(name))
    model = Stack([build() for build in layers])
    with torch.no_grad():
        for child in model.children():
            if isinstance(child, nn.RNNBase):
                for p in child.parameters():
                    p.mul_(WEIGHT_SCALE)
    input_size = next(iter(model.children())).input_size
    x = torch.rand(batch, steps, input_size) * 2 - 1
    lengths_t = None if lengths is None else torch.tensor(lengths, dtype=torch.int64)
    with torch.no_grad():
        y = model(x, lengths_t)
        y64 = copy.deepcopy(model).double()(x.double(), lengths_t)
    directory = os.path.join(OUT, "models", name)
    state = [(k, f32(v)) for k, v in model.state_dict().items()]
    write_file(os.path.join(directory, "model.safetensors"), safetensors_bytes(state))
    write_file(os.path.join(directory, "x.npy"), npy_bytes(f32(x)))
    if lengths is not None:
        write_file(os.path.join(directory, "lengths.npy"),
                   npy_bytes(np.array(lengths, dtype=lengths_dtype)))
    write_file(os.path.join(directory, "y.npy"), npy_bytes(f32(y)))
    print(f"    f32 vs f64: {rel_error(y, y64):.2e}")


# --------------------------------------------------------------------------------------------

def main():
    if torch.__version__.split(".")[:2] != ["1", "13"]:
        print(f"note: fixtures were made with torch 1.13; this is {torch.__version__}",
              file=sys.stderr)
    rc = recurrent_case
    # LSTM
    rc("lstm_1layer", "lstm", 3, 5)
    rc("lstm_2layer", "lstm", 4, 6, num_layers=2, batch=3, steps=4)
    rc("lstm_3layer", "lstm", 2, 5, num_layers=3, batch=2, steps=4)
    rc("lstm_bi_1layer", "lstm", 3, 5, bidirectional=True)
    rc("lstm_bi_2layer", "lstm", 3, 4, num_layers=2, bidirectional=True, batch=3)
    rc("lstm_proj", "lstm", 3, 6, proj_size=3)
    rc("lstm_proj_bi_2layer", "lstm", 3, 5, num_layers=2, bidirectional=True, proj_size=2)
    rc("lstm_nobias", "lstm", 3, 5, num_layers=2, bias=False)
    rc("lstm_h0", "lstm", 3, 5, num_layers=2, with_h0=True, batch=3)
    rc("lstm_bi_h0", "lstm", 2, 4, num_layers=2, bidirectional=True, with_h0=True)
    rc("lstm_lengths", "lstm", 3, 5, batch=4, steps=5, lengths=[3, 5, 1, 4])
    rc("lstm_lengths_bi", "lstm", 3, 4, num_layers=2, bidirectional=True, batch=3, steps=6,
       lengths=[2, 6, 1])
    rc("lstm_lengths_proj", "lstm", 3, 6, proj_size=4, batch=3, steps=5, lengths=[4, 1, 5],
       with_h0=True)
    rc("lstm_lengths_proj_bi_2layer", "lstm", 2, 5, num_layers=2, bidirectional=True,
       proj_size=3, batch=4, steps=5, lengths=[1, 5, 3, 2], with_h0=True)
    rc("lstm_lengths_short", "lstm", 2, 5, bidirectional=True, batch=3, steps=6,
       lengths=[2, 4, 1])
    rc("lstm_batch1", "lstm", 3, 7, num_layers=2, batch=1, steps=6)
    rc("lstm_batch1_lengths", "lstm", 2, 5, bidirectional=True, batch=1, steps=5, lengths=[3])
    rc("lstm_hidden13", "lstm", 7, 13, batch=3, steps=5)
    rc("lstm_hidden33", "lstm", 5, 33, batch=2, steps=4)
    rc("lstm_input1", "lstm", 1, 8, batch=3, steps=6)
    rc("lstm_input1_hidden1", "lstm", 1, 1, num_layers=2, batch=2, steps=5)
    rc("lstm_long", "lstm", 2, 6, batch=2, steps=40)
    rc("lstm_long_lengths_bi", "lstm", 3, 5, bidirectional=True, batch=3, steps=40,
       lengths=[40, 17, 1])
    # 17 samples, 260 steps: the time loop in row blocks of 8 and 9 samples, whose gradients are
    # gathered 256 or 227 steps at a time (Recurrent's batch_blocks, block_gradients)
    rc("lstm_row_blocks", "lstm", 2, 4, bidirectional=True, batch=17, steps=260,
       lengths=[260, 3, 200, 260, 1, 259, 260, 17, 260, 130, 260, 260, 2, 258, 260, 64, 257],
       with_h0=True)
    # GRU
    rc("gru_1layer", "gru", 3, 5)
    rc("gru_bi_2layer", "gru", 3, 4, num_layers=2, bidirectional=True, batch=3)
    rc("gru_lengths", "gru", 3, 5, batch=4, steps=5, lengths=[3, 5, 1, 4])
    rc("gru_lengths_bi_h0", "gru", 2, 6, num_layers=2, bidirectional=True, batch=3, steps=5,
       lengths=[5, 1, 3], with_h0=True)
    rc("gru_h0", "gru", 4, 7, num_layers=2, with_h0=True)
    rc("gru_nobias", "gru", 3, 5, bias=False)
    rc("gru_hidden13_long", "gru", 5, 13, batch=2, steps=40)
    rc("gru_row_blocks", "gru", 3, 5, batch=16, steps=260, with_h0=True)
    # RNN
    rc("rnn_tanh_1layer", "rnn_tanh", 3, 5)
    rc("rnn_tanh_bi_2layer", "rnn_tanh", 3, 6, num_layers=2, bidirectional=True, batch=3)
    rc("rnn_tanh_lengths", "rnn_tanh", 2, 5, batch=3, steps=5, lengths=[5, 1, 3])
    rc("rnn_tanh_h0_nobias", "rnn_tanh", 3, 4, num_layers=2, bias=False, with_h0=True)
    rc("rnn_relu_1layer", "rnn_relu", 3, 5)
    rc("rnn_relu_bi", "rnn_relu", 3, 5, bidirectional=True, batch=3)
    rc("rnn_relu_2layer_lengths_h0", "rnn_relu", 3, 6, num_layers=2, batch=4, steps=5,
       lengths=[2, 5, 1, 4], with_h0=True)
    rc("rnn_relu_bi_lengths", "rnn_relu", 2, 5, num_layers=2, bidirectional=True, batch=3,
       steps=6, lengths=[6, 1, 4])
    # Dense, Embedding, LayerNorm
    dense_case("dense_bias", 5, 4, True, (2, 3))
    dense_case("dense_nobias", 7, 3, False, (3, 2))
    dense_case("dense_2d", 6, 5, True, (4,))
    embedding_case("embedding_basic", 10, 4, None,
                   [[1, 3, 3, 9, 0], [2, 1, 1, 1, 7], [5, 4, 6, 8, 3]])
    embedding_case("embedding_padding", 8, 5, 0, [[1, 0, 3, 3, 0], [0, 7, 2, 1, 1]])
    layernorm_case("layernorm_affine", 7, True, (2, 3))
    layernorm_case("layernorm_noaffine", 6, False, (3, 2))
    layernorm_case("layernorm_offset", 9, True, (2, 4), offset=10.0, spread=0.5)
    # Whole models
    model_case("lstm_bi2_proj_lengths",
               [lambda: nn.LSTM(3, 6, num_layers=2, batch_first=True, bidirectional=True,
                                proj_size=4),
                lambda: nn.Linear(8, 2)],
               batch=4, steps=6, lengths=[6, 2, 1, 4])
    model_case("gru",
               [lambda: nn.GRU(4, 7, batch_first=True), lambda: nn.Linear(7, 3)],
               batch=3, steps=5)
    model_case("rnn_tanh_bi2_lengths",
               [lambda: nn.RNN(2, 5, num_layers=2, batch_first=True, bidirectional=True),
                lambda: nn.Linear(10, 1)],
               batch=3, steps=5, lengths=[3, 5, 1])
    model_case("lstm_int32_lengths",
               [lambda: nn.LSTM(2, 5, batch_first=True), lambda: nn.Linear(5, 1)],
               batch=3, steps=6, lengths=[6, 1, 4], lengths_dtype=np.int32)
    model_case("lstm_gru_stack_lengths",
               [lambda: nn.LSTM(3, 5, batch_first=True),
                lambda: nn.GRU(5, 4, batch_first=True, bidirectional=True),
                lambda: nn.Linear(8, 2, bias=False)],
               batch=3, steps=5, lengths=[2, 5, 4])

    total = sum(size for _, size in written)
    print(f"{len(written)} files, {total} bytes")


if __name__ == "__main__":
    main()
