#!/usr/bin/python3
"""PyTorch reference numbers for lstm.cpp's losses, metrics, optimizers, learning-rate schedules
and gradient clipping (tests/test_loss.cpp, tests/test_optim.cpp).

Run from anywhere, with Debian's python3 (it has python3-torch):

    /usr/bin/python3 scripts/gen_optim_reference.py

Torch is needed only to regenerate; the C++ tests read the committed files. The script is
deterministic (each case seeds torch from its name) and rewrites exactly the committed files. For
the optimizers it also prints how far PyTorch's float32 run is from the same run in float64: the
rounding noise that any float32 implementation has to live with.

What it writes, under tests/fixtures/optim/ (safetensors, all tensors float32):

* optimizer_<case>.safetensors: K = 5 steps of one torch.optim optimizer on three parameters
  named "0.weight" (4, 3), "0.bias" (5,) and "1.weight" (2, 2, 3).
    __metadata__ "config": {"optimizer": "sgd|adam|adamw|rmsprop|adagrad",
                            "options": the keyword arguments given to torch (the rest are its
                                       defaults; "betas" as a list),
                            "steps": K,
                            "lrs": the learning rate of each step (set on the param group
                                   before the step) when it changes between steps, else absent}
    "param.<name>"            initial values
    "grad.<k>.<name>"         the gradient given at step k (0 ... K-1)
    "after.<k>.<name>"        the parameter after step k
    "state.<buffer>.<name>"   the optimizer's state after the last step, under PyTorch's names
                              (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer,
                              square_avg, grad_avg, sum)

* loss_<case>.safetensors: one loss with reduction "mean".
    __metadata__ "config": {"loss": "mse|mae|huber|cross_entropy|bce", "delta" (huber),
                            "ignore_index" (cross_entropy),
                            "metrics": {"rmse"|"mae"|"accuracy": value in float64}}
    "prediction"   the model output (logits for cross_entropy and bce); cross-entropy logits are
                   (N, C) or (B, T, C), the latter given to torch as (B, C, T)
    "target"       same shape (regression, bce), or class indices as floats without the last
                   axis (cross_entropy)
    "value"        (1,) PyTorch's loss (NaN when every target is ignored)
    "grad"         d value / d prediction by autograd
  RMSE and MAE are computed in float64 from the float32 prediction and target; accuracy is
  argmax over the last axis against the targets that are not ignore_index.

* clip_<case>.safetensors: torch.nn.utils.clip_grad_norm_ or clip_grad_value_ on gradients of the
  three parameters above.
    __metadata__ "config": {"function": "norm"|"value", "max_norm" | "clip_value"}
    "grad.<name>", "clipped.<name>"   gradients before and after
    "total_norm"   (1,) the norm clip_grad_norm_ returned (norm cases)

* schedules.json: a list of {"name", "schedule": "step|exponential|cosine|plateau",
  "options": the scheduler's keyword arguments, "base_lr", "metrics" (plateau: the value given
  to step() after each epoch), "lrs": the optimizer's learning rate in epochs 0 ... 20}, from a
  loop that, each epoch, steps an SGD optimizer and then the scheduler.
"""

import json
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_reference import safetensors_bytes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim")
STEPS = 5
EPOCHS = 20
PARAM_SHAPES = [("0.weight", (4, 3)), ("0.bias", (5,)), ("1.weight", (2, 2, 3))]
# Gradients of the parameters differ in scale, so that updates differ in kind.
GRAD_SCALES = {"0.weight": 1.0, "0.bias": 10.0, "1.weight": 0.05}

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def seed(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def f32(t):
    return t.detach().to(torch.float32).numpy().copy()


written = []


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    written.append(name)
    print(f"wrote tests/fixtures/optim/{name} ({len(data)} bytes)")


def torch_optimizer(kind, params, options):
    classes = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
               "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}
    options = dict(options)
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    if kind == "sgd":
        options.setdefault("lr", 1e-3)  # torch 1.13 has no default; lstm.cpp's is later torch's
    return classes[kind](params, foreach=False, **options)


def run_optimizer(kind, options, initial, grads, lrs, dtype):
    """The parameters after each step and the final state, in `dtype`."""
    params = [torch.nn.Parameter(torch.tensor(v, dtype=dtype)) for v in initial]
    opt = torch_optimizer(kind, params, options)
    after = []
    for k in range(STEPS):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[k]
        for p, g in zip(params, grads[k]):
            p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        after.append([p.detach().clone() for p in params])
    state = [{key: value.detach().clone() for key, value in opt.state[p].items()
              if key != "step" and value is not None} for p in params]
    return after, state


def optimizer_case(name, kind, options, lrs=None):
    seed(name)
    initial = [torch.randn(shape).numpy() for _, shape in PARAM_SHAPES]
    grads = [[(torch.randn(shape) * GRAD_SCALES[pname]).numpy() for pname, shape in PARAM_SHAPES]
             for _ in range(STEPS)]
    after, state = run_optimizer(kind, options, initial, grads, lrs, torch.float32)
    after64, _ = run_optimizer(kind, options, initial, grads, lrs, torch.float64)
    noise = max(float((a.double() - b).abs().max() / b.abs().max())
                for a, b in zip(after[-1], after64[-1]))

    tensors = [(f"param.{n}", v) for (n, _), v in zip(PARAM_SHAPES, initial)]
    for k in range(STEPS):
        tensors += [(f"grad.{k}.{n}", g) for (n, _), g in zip(PARAM_SHAPES, grads[k])]
    for k in range(STEPS):
        tensors += [(f"after.{k}.{n}", f32(p)) for (n, _), p in zip(PARAM_SHAPES, after[k])]
    for (n, _), buffers in zip(PARAM_SHAPES, state):
        tensors += [(f"state.{b}.{n}", f32(t)) for b, t in sorted(buffers.items())]
    config = {"optimizer": kind, "options": options, "steps": STEPS}
    if lrs is not None:
        config["lrs"] = lrs
    write(f"optimizer_{name}.safetensors",
          safetensors_bytes(tensors, {"config": json.dumps(config)}))
    print(f"  {name}: f32 vs f64 after {STEPS} steps {noise:.1e}")


def loss_case(name, loss, prediction, target, **options):
    """prediction, target: float32 tensors; options: delta, ignore_index."""
    x = prediction.clone().requires_grad_(True)
    F = torch.nn.functional
    metrics = {}
    if loss == "cross_entropy":
        ignore_index = options.get("ignore_index", -100)
        classes = target.long()
        logits = x.permute(0, 2, 1) if x.dim() == 3 else x
        value = F.cross_entropy(logits, classes, ignore_index=ignore_index)
        kept = classes != ignore_index
        if kept.any():
            correct = (x.detach().argmax(dim=-1) == classes)[kept]
            metrics["accuracy"] = float(correct.double().mean())
    else:
        if loss == "mse":
            value = F.mse_loss(x, target)
        elif loss == "mae":
            value = F.l1_loss(x, target)
        elif loss == "huber":
            value = F.huber_loss(x, target, delta=options.get("delta", 1.0))
        else:
            value = F.binary_cross_entropy_with_logits(x, target)
        if loss != "bce":
            d = prediction.double() - target.double()
            metrics = {"rmse": float(d.pow(2).mean().sqrt()), "mae": float(d.abs().mean())}
    value.backward()
    tensors = [("prediction", f32(prediction)), ("target", f32(target)),
               ("value", f32(value.reshape(1))), ("grad", f32(x.grad))]
    config = {"loss": loss, **options, "metrics": metrics}
    write(f"loss_{name}.safetensors", safetensors_bytes(tensors, {"config": json.dumps(config)}))


def hint(logits, target):
    """logits with the target class raised by 4 in every other element, so that accuracy is
    neither 0 nor 1."""
    raised = logits.clone()
    flat, labels = raised.reshape(-1, raised.shape[-1]), target.reshape(-1)
    flat[::2].scatter_add_(1, labels[::2, None], torch.full((len(labels[::2]), 1), 4.0))
    return raised


def clip_case(name, function, limit, grad_scale=1.0):
    seed(name)
    grads = [torch.randn(shape) * grad_scale for _, shape in PARAM_SHAPES]
    params = [torch.nn.Parameter(torch.zeros(shape)) for _, shape in PARAM_SHAPES]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    tensors = [(f"grad.{n}", f32(g)) for (n, _), g in zip(PARAM_SHAPES, grads)]
    if function == "norm":
        total = torch.nn.utils.clip_grad_norm_(params, max_norm=limit)
        config = {"function": "norm", "max_norm": limit}
    else:
        torch.nn.utils.clip_grad_value_(params, clip_value=limit)
        config = {"function": "value", "clip_value": limit}
    tensors += [(f"clipped.{n}", f32(p.grad)) for (n, _), p in zip(PARAM_SHAPES, params)]
    if function == "norm":
        tensors.append(("total_norm", f32(total.reshape(1))))
    write(f"clip_{name}.safetensors", safetensors_bytes(tensors, {"config": json.dumps(config)}))


def schedule_case(name, schedule, options, base_lr=0.1, metrics=None):
    p = torch.nn.Parameter(torch.zeros(1))
    p.grad = torch.zeros(1)
    opt = torch.optim.SGD([p], lr=base_lr)
    S = torch.optim.lr_scheduler
    kwargs = dict(options)
    if schedule == "step":
        sched = S.StepLR(opt, **kwargs)
    elif schedule == "exponential":
        sched = S.ExponentialLR(opt, **kwargs)
    elif schedule == "cosine":
        sched = S.CosineAnnealingLR(opt, **kwargs)
    else:
        sched = S.ReduceLROnPlateau(opt, **kwargs)
    lrs = [opt.param_groups[0]["lr"]]
    for epoch in range(EPOCHS):
        opt.step()
        if schedule == "plateau":
            sched.step(metrics[epoch])
        else:
            sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    case = {"name": name, "schedule": schedule, "options": options, "base_lr": base_lr,
            "lrs": lrs}
    if metrics is not None:
        case["metrics"] = metrics
    return case


def main():
    # Optimizers: PyTorch's defaults, then options that exercise each branch of the rules.
    optimizer_case("sgd_plain", "sgd", {"lr": 0.1})
    optimizer_case("sgd_default_lr", "sgd", {})
    optimizer_case("sgd_momentum", "sgd", {"lr": 0.1, "momentum": 0.9})
    optimizer_case("sgd_dampening_weight_decay", "sgd",
                   {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01})
    optimizer_case("sgd_nesterov", "sgd",
                   {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05})
    optimizer_case("adam_default", "adam", {})
    optimizer_case("adam_weight_decay", "adam", {"lr": 0.05, "weight_decay": 0.1})
    optimizer_case("adam_amsgrad", "adam",
                   {"lr": 0.05, "betas": [0.8, 0.9], "eps": 1e-6, "amsgrad": True})
    optimizer_case("adam_lr_changes", "adam", {"lr": 0.1}, lrs=[0.1, 0.05, 0.05, 0.02, 0.2])
    optimizer_case("adamw_default", "adamw", {})
    optimizer_case("adamw_amsgrad", "adamw",
                   {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True})
    optimizer_case("rmsprop_default", "rmsprop", {})
    optimizer_case("rmsprop_centered", "rmsprop", {"lr": 0.01, "alpha": 0.9, "centered": True})
    optimizer_case("rmsprop_momentum", "rmsprop",
                   {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01})
    optimizer_case("rmsprop_centered_momentum", "rmsprop",
                   {"lr": 0.02, "centered": True, "momentum": 0.5, "eps": 1e-4,
                    "weight_decay": 0.1})
    optimizer_case("adagrad_default", "adagrad", {})
    optimizer_case("adagrad_decay", "adagrad",
                   {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.05,
                    "initial_accumulator_value": 0.5, "eps": 1e-6})

    # Losses.
    seed("loss_mse")
    loss_case("mse", "mse", torch.randn(4, 6, 3), torch.randn(4, 6, 3))
    seed("loss_mae")
    prediction, target = torch.randn(5, 7), torch.randn(5, 7)
    target[::2, 1::3] = prediction[::2, 1::3]  # ties: d = 0, where the gradient is 0
    loss_case("mae_ties", "mae", prediction, target)
    seed("loss_huber")
    loss_case("huber_default", "huber", torch.randn(4, 6, 3) * 2, torch.randn(4, 6, 3))
    seed("loss_huber_delta")
    loss_case("huber_delta", "huber", torch.randn(6, 5) * 2, torch.randn(6, 5), delta=0.5)
    seed("loss_ce_2d")
    target = torch.randint(0, 5, (8,))
    loss_case("cross_entropy_2d", "cross_entropy", hint(torch.randn(8, 5) * 3, target),
              target.float())
    seed("loss_ce_steps")
    target = torch.randint(0, 6, (3, 7))
    logits = hint(torch.randn(3, 7, 6) * 2, target)
    target[0, 5:] = -100  # padding past each sequence's length
    target[2, 3:] = -100
    loss_case("cross_entropy_steps_padded", "cross_entropy", logits, target.float())
    seed("loss_ce_ignore_class")
    loss_case("cross_entropy_ignore_class", "cross_entropy", torch.randn(4, 5, 3),
              torch.randint(0, 3, (4, 5)).float(), ignore_index=0)
    seed("loss_ce_large")
    loss_case("cross_entropy_large_logits", "cross_entropy", torch.randn(6, 4) * 60,
              torch.randint(0, 4, (6,)).float())
    seed("loss_ce_all_ignored")
    loss_case("cross_entropy_all_ignored", "cross_entropy", torch.randn(2, 3, 4),
              torch.full((2, 3), -100.0))
    seed("loss_bce")
    loss_case("bce_soft", "bce", torch.randn(4, 6, 2) * 3, torch.rand(4, 6, 2))
    seed("loss_bce_extreme")
    logits = torch.randn(5, 4) * 40
    loss_case("bce_extreme_logits", "bce", logits, (torch.rand(5, 4) < 0.5).float())

    # Clipping.
    clip_case("norm_clips", "norm", 1.0)
    clip_case("norm_within", "norm", 100.0)
    clip_case("norm_large", "norm", 0.5, grad_scale=1e3)
    clip_case("norm_tiny", "norm", 1e-6, grad_scale=1e-6)  # where the 1e-6 in the scale matters
    clip_case("value", "value", 0.5)

    # Schedules.
    schedules = [
        schedule_case("step", "step", {"step_size": 3, "gamma": 0.5}),
        schedule_case("step_default_gamma", "step", {"step_size": 7}, base_lr=0.01),
        schedule_case("exponential", "exponential", {"gamma": 0.9}),
        schedule_case("cosine", "cosine", {"T_max": 8, "eta_min": 0.001}),
        schedule_case("cosine_zero_min", "cosine", {"T_max": 10}, base_lr=0.05),
        schedule_case("plateau_default", "plateau", {},
                      metrics=[1.0, 0.8, 0.7] + [0.69995] * 17),
        schedule_case("plateau_cooldown", "plateau",
                      {"factor": 0.5, "patience": 2, "cooldown": 2, "min_lr": 0.02},
                      metrics=[1.0, 0.9, 0.9, 0.91, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7,
                               0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]),
        schedule_case("plateau_max_abs", "plateau",
                      {"mode": "max", "threshold_mode": "abs", "threshold": 0.01,
                       "patience": 1, "factor": 0.3},
                      metrics=[0.5, 0.6, 0.605, 0.61, 0.7, 0.7, 0.705, 0.71, 0.8, 0.8, 0.8,
                               0.85, 0.855, 0.86, 0.9, 0.9, 0.9, 0.9, 0.95, 0.95]),
    ]
    text = json.dumps(schedules, indent=1) + "\n"
    write("schedules.json", text.encode())

    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in written)
    print(f"{len(written)} files, {total} bytes")


if __name__ == "__main__":
    main()
