#!/usr/bin/python3
"""Times PyTorch's nn.LSTM / nn.GRU the way `lstm bench` times the library.

infer: the forward pass under torch.no_grad(); train: forward, then backward of the output with a
random gradient (every parameter and the input get gradients). Batch-first input, as the library's
API. Threads: torch.set_num_threads(N) (default 2); Debian's torch does its GEMMs in OpenBLAS
(pthreads, package libopenblas0-pthread: without it libblas.so.3 is the reference BLAS, and the
script refuses to run), whose own thread count is reported beside it.

One configuration from the flags, printing one JSON line, or --serve: read one JSON request per
line on stdin ({"cell", "mode", "input", "hidden", "batch", "steps", "layers", "min_time",
"min_repeats", "name"}) and answer each with one JSON line, so that bench/compare/run.py pays the
import of torch once.
"""
import argparse
import ctypes
import json
import statistics
import sys
import time

import torch


def blas_libraries():
    """The files mapped into this process as libblas.so.3 once torch has run a matrix product
    (Debian's alternatives: .../blas/ for the reference BLAS, .../openblas-pthread/ for OpenBLAS)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "/libblas.so" in line.split()[-1]}
    return sorted(paths)


def require_openblas():
    """Exits unless torch's products run in OpenBLAS. Debian's torch calls libblas.so.3, which
    is the reference BLAS (about 5 GFLOP/s on this machine, 40 times slower) unless an OpenBLAS
    package provides it: then PyTorch's column would measure the wrong library."""
    paths = blas_libraries()
    if not paths or not all("openblas" in path for path in paths):
        sys.exit("torch_rnn.py: torch's BLAS is " + (", ".join(paths) or "unknown") +
                 ", not OpenBLAS; install Debian's libopenblas0-pthread (or run the comparison"
                 " with --no-torch)")


def openblas_threads():
    """OpenBLAS's thread count if torch's BLAS is OpenBLAS, else None."""
    for name in ("libopenblas.so.0", "libopenblasp.so.0"):
        try:
            lib = ctypes.CDLL(name)
            return int(lib.openblas_get_num_threads())
        except (OSError, AttributeError):
            continue
    return None


def bench(req):
    cell, mode = req.get("cell", "lstm"), req.get("mode", "infer")
    I, H, B, T = (int(req[k]) for k in ("input", "hidden", "batch", "steps"))
    L = int(req.get("layers", 1))
    min_time, min_repeats = float(req.get("min_time", 1.0)), int(req.get("min_repeats", 3))
    torch.manual_seed(0)
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H, num_layers=L, batch_first=True)
    train = mode == "train"
    x = torch.rand(B, T, I) * 2 - 1
    if train:
        x.requires_grad_(True)
        dy = torch.rand(B, T, H) * 2 - 1

    def once():
        if train:
            y, _ = module(x)
            y.backward(dy)
        else:
            with torch.no_grad():
                module(x)

    warm_time = min(0.2, min_time / 5)
    start = time.perf_counter()
    once()
    while time.perf_counter() - start < warm_time:
        once()
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        once()
        times.append((time.perf_counter() - t0) * 1e3)
    per_gate = 8.0 if cell == "lstm" else 6.0
    flop = per_gate * T * B * H * (I + H) + per_gate * (L - 1) * T * B * H * 2 * H
    gflop = flop * (3 if train else 1) / 1e9
    ms = statistics.median(times)
    return {
        "contender": "pytorch", "name": req.get("name", ""), "cell": cell, "mode": mode,
        "input": I, "hidden": H, "batch": B, "steps": T, "layers": L,
        "threads": torch.get_num_threads(), "blas_threads": openblas_threads(),
        "ms": ms, "ms_min": min(times), "repeats": len(times), "gflop": gflop,
        "gflops": gflop / (ms * 1e-3), "version": torch.__version__,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--mode", choices=["infer", "train"], default="infer")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--min-repeats", type=int, default=3)
    p.add_argument("--name", default="")
    p.add_argument("--serve", action="store_true", help="answer JSON requests on stdin, one per line")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    require_openblas()
    if a.serve:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(bench(json.loads(line))), flush=True)
        return
    if None in (a.input, a.hidden, a.batch, a.steps):
        p.error("--input, --hidden, --batch and --steps are required (or --serve)")
    print(json.dumps(bench({
        "cell": a.cell, "mode": a.mode, "input": a.input, "hidden": a.hidden, "batch": a.batch,
        "steps": a.steps, "layers": a.layers, "min_time": a.min_time,
        "min_repeats": a.min_repeats, "name": a.name})), flush=True)


if __name__ == "__main__":
    main()
