#!/usr/bin/env python3
"""Times two `lstm` binaries against each other, alternating them, as docs/performance.md's
"alternations" do: for each configuration and mode, `--rounds` rounds of `lstm bench --json`
with A then B (the order swapped every other round), and prints the median times and the median
of the per-round ratios A/B (above 1: B is faster), so that load from other processes hits both
sides of a ratio alike.

    python3 bench/compare/ab.py --a old/lstm --b build/lstm --rounds 7 \
        --only db-h512-b64-t25,char-h256-b16-t150 --modes infer,train [--cell gru] [--freeze]

Configurations come from the suite file (name input hidden batch steps; default
data/bench_suite.txt); --config NAME:I:H:B:T adds one that is not there.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def read_suite(path):
    configs = []
    for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        name, *sizes = fields
        if len(sizes) != 4 or not all(size.isdigit() and int(size) > 0 for size in sizes):
            sys.exit(f"ab.py: {path}:{number}: expected 'name input hidden batch steps' "
                     f"(four positive integers), got '{line.strip()}'")
        configs.append((name, *map(int, sizes)))
    return configs


def time_once(binary, config, mode, args):
    name, i, h, b, t = config
    command = [binary, "bench", "--name", name, "--input", str(i), "--hidden", str(h),
               "--batch", str(b), "--steps", str(t), "--mode", mode, "--cell", args.cell,
               "--threads", str(args.threads), "--min-time", str(args.min_time), "--json"]
    if args.freeze and mode == "infer":
        command.append("--freeze")
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, help="the `lstm` binary before")
    parser.add_argument("--b", required=True, help="the `lstm` binary after")
    parser.add_argument("--suite", default=str(ROOT / "data/bench_suite.txt"))
    parser.add_argument("--only", default="", help="comma-separated names of the suite")
    parser.add_argument("--config", action="append", default=[], help="NAME:I:H:B:T, repeatable")
    parser.add_argument("--modes", default="infer,train")
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--freeze", action="store_true", help="inference with --freeze")
    args = parser.parse_args()

    configs = [] if args.config and not args.only else read_suite(args.suite)
    if args.only:
        wanted = set(args.only.split(","))
        configs = [c for c in configs if c[0] in wanted]
    for spec in args.config:
        name, *sizes = spec.split(":")
        if len(sizes) != 4 or not all(size.isdigit() and int(size) > 0 for size in sizes):
            parser.error(f"--config {spec}: expected NAME:I:H:B:T with four positive integers")
        configs.append((name, *map(int, sizes)))
    if not configs:
        sys.exit("ab.py: no configuration to run")

    print(f"A = {args.a}\nB = {args.b}\n{args.cell}, {args.threads} threads, {args.rounds} rounds"
          f"{', inference frozen' if args.freeze else ''}\n")
    print("| config | mode | A ms | B ms | A/B (median of rounds) | A/B range |")
    print("|---|---|---|---|---|---|")
    ratios = []
    for config in configs:
        for mode in args.modes.split(","):
            a_ms, b_ms, round_ratios = [], [], []
            for r in range(args.rounds):
                order = [("a", args.a), ("b", args.b)]
                if r % 2:
                    order.reverse()
                got = {side: time_once(binary, config, mode, args) for side, binary in order}
                a_ms.append(got["a"])
                b_ms.append(got["b"])
                round_ratios.append(got["a"] / got["b"])
            ratio = statistics.median(round_ratios)
            ratios.append(ratio)
            print(f"| {config[0]} | {mode} | {statistics.median(a_ms):.4g} | "
                  f"{statistics.median(b_ms):.4g} | {ratio:.3f} | "
                  f"{min(round_ratios):.3f}–{max(round_ratios):.3f} |", flush=True)
    print(f"\ngeomean A/B: {statistics.geometric_mean(ratios):.3f}")


if __name__ == "__main__":
    main()
