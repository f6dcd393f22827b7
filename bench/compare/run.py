#!/usr/bin/python3
"""The side-by-side comparison of docs/performance.md (bench/compare/run.sh builds the programs and
calls this).

For every suite configuration, cell and mode it times the contenders in turn, ROUNDS times,
rotating which goes first: `lstm bench` (the library; in infer mode with --freeze, its weights
packed once before the timing as oneDNN's are reordered once, unless --no-freeze; with --bf16 its
inference uses bf16 weights, for a table of that option), onednn_rnn
(oneDNN's primitive, with the threads asked and, beside it, with 1 thread) and torch_rnn.py
(PyTorch, one long-lived process so that importing torch is paid once). Each measurement is the median of the runs of one --min-time
burst. The table gives, per contender, the median over the rounds; as ratios (throughput ours /
theirs) the median over the rounds of the per-round ratio (their time / our time in the same
round), so that load from other processes hits both sides of a ratio alike; and, as a
load-robust check, "best/best": our fastest run against oneDNN's fastest run at either thread
count. The roof is oneDNN's sgemm on large squares (gemm_roof).

After the tables, for the rows of batch 4 or less, a lower bound on their time from the machine's
limits measured in the same run (bound_ms below), a model of W_hh streamed at every step, and the
time of their products at the cores' FMA peak, beside issue 5's target of half oneDNN's time;
last, issue 5's targets as the run measured them (report_targets).

Prints a markdown report on stdout; --json-out keeps every measurement, and --report FILE prints
the report of such a file again without measuring.
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LABEL = {"ours": "ours", "onednn": "oneDNN 2t", "onednn1": "oneDNN 1t", "pytorch": "PyTorch 2t",
         "onednn_faster": "oneDNN faster of 2t/1t"}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def read_suite(path):
    configs = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 5:
                sys.exit(f"{path}:{number}: expected 'name input hidden batch steps'")
            name, *sizes = fields
            configs.append(dict(name=name, **dict(zip(("input", "hidden", "batch", "steps"), map(int, sizes)))))
    return configs


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


class Torch:
    """PyTorch contender: one torch_rnn.py --serve process answering JSON requests."""

    def __init__(self, python, threads):
        self.proc = subprocess.Popen([python, os.path.join(HERE, "torch_rnn.py"), "--serve", "--threads", str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit("torch_rnn.py stopped")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def fmt_ms(ms):
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:.0f}"


def measure_roof(roof_program):
    log("measuring the GEMM roof (dnnl_sgemm, 1 and 2 threads) ...")
    roof = {"sizes": [], "stream": []}
    out = subprocess.run([roof_program, "--rounds", "3", "--min-time", "0.3"], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        j = json.loads(line)
        if "roof_gflops_2t" in j:
            roof.update(j)
        elif "stream_mib_per_thread" in j:
            roof["stream"].append(j)
        elif "handover_ns" in j:
            roof["handover"] = j
        elif "fma_peak_gflops_2t" in j:
            roof["fma_peak"] = j
        else:
            roof["sizes"].append(j)
    return roof


def measure(a):
    configs = read_suite(a.suite)
    if a.only:
        wanted = a.only.split(",")
        configs = [c for c in configs if c["name"] in wanted]
    cells, modes = a.cells.split(","), a.modes.split(",")
    data = dict(started=str(datetime.datetime.now()), load_start=os.getloadavg(), commit=a.commit,
                frozen=not a.no_freeze, bf16=a.bf16,
                rounds=a.rounds, min_time=a.min_time, min_repeats=a.min_repeats, cells=cells, modes=modes)
    data["roof"] = measure_roof(a.roof) if not a.roof_gflops else {"roof_gflops_2t": a.roof_gflops, "sizes": []}

    torch_proc = None if a.no_torch else Torch(a.python, a.threads)
    contenders = ["ours", "onednn"] + ([] if a.no_onednn_1t else ["onednn1"]) + ([] if a.no_torch else ["pytorch"])
    data["contenders"] = contenders
    threads_seen = {c: set() for c in contenders}
    results = []  # one dict per (cell, config, mode)
    for cell in cells:
        for cfg in configs:
            for mode in modes:
                per = {c: [] for c in contenders}
                for r in range(a.rounds):
                    order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
                    for who in order:
                        common = ["--input", str(cfg["input"]), "--hidden", str(cfg["hidden"]), "--batch", str(cfg["batch"]),
                                  "--steps", str(cfg["steps"]), "--cell", cell, "--mode", mode, "--threads", str(a.threads),
                                  "--min-time", str(a.min_time), "--min-repeats", str(a.min_repeats), "--name", cfg["name"]]
                        if who == "ours":
                            freeze = ["--freeze"] if mode == "infer" and not a.no_freeze else []
                            bf16 = ["--bf16"] if mode == "infer" and a.bf16 else []
                            j = run_json([a.lstm, "bench", "--json"] + freeze + bf16 + common)
                            if bf16 and not j["bf16"]:
                                sys.exit("run.py: --bf16, but lstm bench could not use bf16 weights here "
                                         "(no AVX-512 BF16, or another kernel path forced)")
                            threads_seen[who].add(f"{j['threads_used']} (asked {j['threads']}; {j['isa']} kernels)")
                        elif who in ("onednn", "onednn1"):
                            j = run_json([a.onednn] + common + (["--threads", "1"] if who == "onednn1" else []))
                            threads_seen[who].add(f"{j['threads']} (OpenMP; {j['isa']}; oneDNN {j['version']})")
                        else:
                            j = torch_proc(dict(cfg, cell=cell, mode=mode, min_time=a.min_time, min_repeats=a.min_repeats))
                            threads_seen[who].add(f"{j['threads']} (torch {j['version']}; OpenBLAS threads {j['blas_threads']})")
                        per[who].append(j)
                row = dict(cell=cell, mode=mode, **cfg, load=os.getloadavg()[0], raw=per)
                summarize(row, contenders)
                results.append(row)
                log(f"{cell} {cfg['name']:20s} {mode:5s} " + "  ".join(f"{c} {fmt_ms(row['ms'][c])} ms" for c in contenders)
                    + "  " + "  ".join(f"x{row['ratio'][c]:.2f} vs {c}" for c in row["ratio"]))
    if torch_proc:
        torch_proc.close()
    data.update(finished=str(datetime.datetime.now()), load_end=os.getloadavg(), results=results,
                threads={c: sorted(s) for c, s in threads_seen.items()})
    return data


def summarize(row, contenders):
    """Medians, per-round ratios and best/best of one (cell, config, mode) from its raw runs."""
    per = row["raw"]
    rounds = len(per["ours"])
    row["ms"] = {c: statistics.median(x["ms"] for x in per[c]) for c in contenders}
    row["ratio"] = {c: statistics.median(per[c][r]["ms"] / per["ours"][r]["ms"] for r in range(rounds))
                    for c in contenders if c != "ours"}
    def against_faster_onednn(cost):
        """The median over the rounds of oneDNN's cost(run) at whichever thread count was faster in
        that round, over ours: load that stalls its two threads then cannot flatter us."""
        return statistics.median(
            min(cost(per[c][r]) for c in ("onednn", "onednn1")) / per["ours"][r]["ms"] for r in range(rounds))
    if "onednn1" in per:
        row["ratio"]["onednn_faster"] = against_faster_onednn(lambda run: run["ms"])
    if row["mode"] == "train" and "onednn1" in per and "reorder_ms" in per["onednn"][0]:
        # With oneDNN paying its weight reorders at every call, as our training pays its packing:
        # what a training step whose weights change at every step costs each.
        row["ratio_with_reorders"] = against_faster_onednn(lambda run: run["ms"] + run["reorder_ms"])
        row["reorder_ms"] = statistics.median(x["reorder_ms"] for x in per["onednn"])
    best = {c: min(x["ms_min"] for x in per[c]) for c in contenders}
    onednn_best = min(best[c] for c in contenders if c.startswith("onednn"))
    row["best_vs_onednn"] = onednn_best / best["ours"]
    row["gflop"] = per["ours"][0]["gflop"]
    row["gflops"] = {c: row["gflop"] / (row["ms"][c] * 1e-3) for c in contenders}
    row["peak_rss_mb"] = max(x["peak_rss_mb"] for x in per["ours"])


def roof_for_share(roof):
    """The 2-thread roof the "% roof" column and the roof target count against: the one given
    with --roof-gflops, else the run's own."""
    return roof.get("given_gflops_2t") or roof["roof_gflops_2t"]


def report(data):
    contenders, roof = data["contenders"], data["roof"]
    roof2 = roof_for_share(roof)
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"Measured {data['started'][:16]} to {data['finished'][11:16]} on {cpu}, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()}; library at {data['commit'] or 'unknown commit'}.")
    loads = [r["load"] for r in data["results"]]
    print(f"Load average (1 min) {data['load_start'][0]:.1f} at the start, {data['load_end'][0]:.1f} at the end, "
          f"{min(loads):.1f} to {max(loads):.1f} during the rows: the machine is shared.")
    print(f"{data['rounds']} rounds, contenders rotated each round, bursts of {data['min_time']} s (at least "
          f"{data['min_repeats']} run) after a warm-up; times are medians; ratios are throughput ours/theirs, the median "
          "of the per-round ratios; best/best is our fastest run against oneDNN's fastest at either thread count.")
    if data.get("frozen"):
        print("Our inference runs with its weights frozen (`lstm bench --freeze`: packed once before the timing, "
              "as oneDNN's weights are reordered once outside it); training packs at every call.")
    if data.get("bf16"):
        print("**Our inference runs with bf16 weights** (`lstm bench --bf16`: h_{t-1} W_hh^T in bfloat16, summed in "
              "float32; see docs/performance.md for its error); every other contender computes in float32.")
    print()
    print("Threads: " + "; ".join(f"{LABEL[c]}: {', '.join(data['threads'][c])}" for c in contenders) + ".")
    print()
    if roof["sizes"]:
        print("GEMM roof, dnnl_sgemm on n×n, median (best) GFLOP/s: " + ", ".join(
            f"n={s['size']} {s['threads']}t {s['gflops']:.1f} ({s['gflops_best']:.1f})" for s in roof["sizes"]) + ".")
        print(f"Best 2-thread round {roof['roof_gflops_2t']:.1f} GFLOP/s, best 1-thread round {roof['roof_gflops_1t']:.1f}.")
        if roof["roof_gflops_2t"] < 1.5 * roof["roof_gflops_1t"]:
            print("(The 2-thread figure is far below twice the 1-thread one: the other core was busy with other work.)")
        print(f"Roof used for %: {roof2:.1f} GFLOP/s" + (" (given with --roof-gflops)." if roof.get("given_gflops_2t") else "."))
        if roof.get("stream"):
            print("Read bandwidth of 2 threads, each streaming a buffer of its own, median (best) GB/s: " + ", ".join(
                f"{s['stream_mib_per_thread']:g} MiB a thread {s['gbs']:.1f} ({s['gbs_best']:.1f})" for s in roof["stream"])
                + " (the bound of the batch-1 rows: 0.5 MiB a thread stays in the L2s, 2 and 8 MiB do not).")
        if roof.get("handover"):
            print(f"A write on one core seen by the other after {roof['handover']['handover_ns']:.0f} ns "
                  f"(median; least {roof['handover']['handover_ns_best']:.0f}).")
        if roof.get("fma_peak"):
            peak = roof["fma_peak"]
            print(f"FMA peak, twelve chains of {peak['fma_vector_bits']}-bit FMAs a thread, best round: "
                  f"{peak['fma_peak_gflops_1t']:.1f} GFLOP/s on 1 thread, {peak['fma_peak_gflops_2t']:.1f} on 2; "
                  f"the roof is {100 * roof['roof_gflops_2t'] / peak['fma_peak_gflops_2t']:.0f}% of it.")
    else:
        print(f"Roof used for %: {roof2:.1f} GFLOP/s (given).")
    print()
    others = [c for c in contenders if c != "ours"]
    ratios = others + (["onednn_faster"] if "onednn1" in contenders else [])
    for cell in data["cells"]:
        rows = [r for r in data["results"] if r["cell"] == cell]
        if not rows:
            continue
        print(f"#### {cell.upper()}")
        print()
        head = ("| config | mode | " + " | ".join(f"{LABEL[c]} ms" for c in contenders) + " | "
                + " | ".join(f"ours/{LABEL[c]}" for c in ratios)
                + " | best/best vs oneDNN | ours GFLOP/s | ours % roof | peak RSS MiB |")
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for r in rows:
            stalled = "onednn1" in r["ms"] and r["ms"]["onednn"] > r["ms"]["onednn1"]
            print(f"| {r['name']} | {r['mode']} | " + " | ".join(fmt_ms(r["ms"][c]) + ("†" if c == "onednn" and stalled else "")
                                                                 for c in contenders) + " | "
                  + " | ".join(f"{r['ratio'][c]:.2f}×" for c in ratios)
                  + f" | {r['best_vs_onednn']:.2f}× | {r['gflops']['ours']:.1f} | {100 * r['gflops']['ours'] / roof2:.1f}%"
                  + f" | {r['peak_rss_mb']:.0f} |")
        for mode in data["modes"]:
            sel = [r for r in rows if r["mode"] == mode]
            if sel:
                g = geomean([r["gflops"]["ours"] for r in sel])
                print(f"| **geomean** | {mode} | " + " | ".join("" for _ in contenders) + " | "
                      + " | ".join(f"**{geomean([r['ratio'][c] for r in sel]):.2f}×**" for c in ratios)
                      + f" | **{geomean([r['best_vs_onednn'] for r in sel]):.2f}×** | {g:.1f} | {100 * g / roof2:.1f}% | |")
        print()
    if "onednn1" in contenders and any(r["ms"]["onednn"] > r["ms"]["onednn1"] for r in data["results"]):
        print("†: oneDNN was slower on 2 threads than on 1 (threading overhead on tiny shapes, or load from other "
              "processes stalling one of its threads at the per-step barriers); the \"faster of 2t/1t\" ratio "
              "compares with its better setting in each round.")
        print()
    report_reorders(data)
    report_bounds(data)
    report_targets(data)


def report_reorders(data):
    """Training rows again, with oneDNN's weight reorders counted in its time."""
    rows = [r for r in data["results"] if "ratio_with_reorders" in r]
    if not rows:
        return
    print("Training with oneDNN's weight reorders counted: its time above excludes them (the weights are reordered "
          "into its layouts once, before the timing), ours includes the packing of the weights at every call. "
          "Counted, as a training step whose weights change at every step pays them (onednn_rnn's reorder_ms, "
          "timed after the primitives):")
    print()
    print("| cell | config | oneDNN 2t reorders ms | share of oneDNN 2t's time | ours/oneDNN faster of 2t/1t | the same, reorders counted |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['cell'].upper()} | {r['name']} | {fmt_ms(r['reorder_ms'])} | {100 * r['reorder_ms'] / r['ms']['onednn']:.0f}% | "
              f"{r['ratio']['onednn_faster']:.2f}× | {r['ratio_with_reorders']:.2f}× |")
    for cell in data["cells"]:
        sel = [r for r in rows if r["cell"] == cell]
        if sel:
            print(f"| **{cell.upper()} geomean** | | | | **{geomean([r['ratio']['onednn_faster'] for r in sel]):.2f}×** | "
                  f"**{geomean([r['ratio_with_reorders'] for r in sel]):.2f}×** |")
    print()


def bound_ms(row, roof, threads, l2_keeps_part=True):
    """A lower bound on the time of one of our runs of `row` on `threads` cores, in ms: every
    product at the GEMM roof, every byte at the read bandwidth measured for where it lies, no
    packing and nothing else, and on 2 threads one hand-over between the cores a loop step.

    For G gates (4 LSTM, 3 GRU), a loop step (the forward's h W_hhᵀ; in training also the
    backward's dA W_hh) does 2·G·B·H² flop on W_hh's 4·G·H² bytes. At best each core keeps up to
    an L2 (1 MiB) of its share there from step to step, read at the bandwidth of 0.5 MiB a
    thread (measured on two cores, each reading its own L2: half of it a core), and the cores
    read the rest of W_hh from the L3 or memory together, at the bandwidth measured for the
    next size up from a core's share (all of it for one core alone):
        step = max(2·G·B·H² / roof, L2 part / L2 bandwidth, the rest / its bandwidth) + hand-over
    With l2_keeps_part=False a share larger than the L2 keeps no part there (what the L2 does
    with a share streamed in the same order at every step, measured: docs/performance-log.md), so
    the cores stream all of W_hh at every step. That is a model, not a bound: where a chunk of
    W_hh fits in half of the L2 the library alternates the order of a member's chunks, so that a
    step starts on what the step before read last, and the bandwidth is measured apart from the
    layer, at another moment.
    The products over all steps (Gx; in training also dW_hh, dW_ih and dX) do
        F = 2·G·T·B·H·I  (inference),  2·G·T·B·H·(3·I + H)  (training)
    flop and read W_ih once; training also reads and writes the weight gradients once:
        all = max(F / roof, (4·G·H·I + 2·4·G·H·(I + H)·training) / bandwidth of 8 MiB)
        bound = loops·T·step + all,  loops = 1 (inference) or 2 (training)
    """
    G = 4 if row["cell"] == "lstm" else 3
    I, H, B, T = row["input"], row["hidden"], row["batch"], row["steps"]
    training = row["mode"] == "train"
    peak = (roof["roof_gflops_2t"] if threads == 2 else roof["roof_gflops_1t"]) * 1e9
    gbs = {s["stream_mib_per_thread"]: s["gbs"] * 1e9 for s in roof["stream"]}
    w_hh, w_ih = 4 * G * H * H, 4 * G * H * I
    share = w_hh / threads
    in_l2 = share if share <= 2**20 else (2**20 if l2_keeps_part else 0)
    l2_bandwidth = gbs[min(gbs)] / 2
    beyond_bandwidth = gbs[min((m for m in gbs if m * 2**20 >= share), default=max(gbs))]
    hand_over = roof["handover"]["handover_ns"] * 1e-9 if threads == 2 else 0.0
    step = max(2 * G * B * H * H / peak, in_l2 / l2_bandwidth,
               (share - in_l2) * threads / beyond_bandwidth) + hand_over
    flop = 2 * G * T * B * H * (3 * I + H if training else I)
    traffic = w_ih + (2 * (w_hh + w_ih) if training else 0)
    all_steps = max(flop / peak, traffic / gbs[max(gbs)])
    return ((2 if training else 1) * T * step + all_steps) * 1e3


def report_bounds(data):
    """The rows of batch ≤ 4 against issue 5's target (half of oneDNN's time at its faster thread
    count), against bound_ms on 1 and 2 threads, against bound_ms's model of W_hh streamed at
    every step, and, where the run measured the cores' FMA peak, against the time of the row's
    products with every FMA unit busy at every cycle: no code does the products faster."""
    roof = data["roof"]
    rows = [r for r in data["results"] if r["batch"] <= 4 and "onednn1" in r["ms"]]
    # bf16 weights are half the bytes, and their pair products are not bound by the float32 roof
    if data.get("bf16") or not rows or not roof.get("stream") or not roof.get("handover"):
        return
    fma_peak = roof.get("fma_peak", {}).get("fma_peak_gflops_2t")
    print("Bounds of the rows of batch ≤ 4 (bench/compare/run.py, bound_ms): every product at the roof; W_hh read at "
          "every step, up to 1 MiB of a core's share from its L2 and the rest from beyond, at the bandwidths measured "
          "above; nothing packed; one hand-over between the cores a step on 2 threads. The target is half of oneDNN's "
          "median at its faster thread count. \"Streamed\" is the same on 2 threads with no part of a share larger "
          "than the L2 kept there, all of W_hh streamed at every step: a model, not a bound (the library alternates the "
          "order of its chunks where they fit in half of the L2, and the bandwidth is measured apart from the layer), "
          "but where ours is near it, what is left is the bandwidth."
          + (" \"At the FMA peak\" is the row's products (its GFLOP) at the 2 cores' FMA peak measured above: where "
             "it reaches the target, 2× oneDNN was out of reach in this run whatever the code." if fma_peak else ""))
    print()
    peak_head, peak_rule = ("| at the FMA peak ms | FMA peak / target ", "|---|---") if fma_peak else ("", "")
    print("| cell | config | mode | ours ms | target ms | bound ms, 2 threads | bound ms, 1 thread | bound / target "
          "| streamed ms | ours / streamed " + peak_head + "|")
    print("|---|---|---|---|---|---|---|---|---|---" + peak_rule + "|")
    for r in rows:
        target = min(r["ms"]["onednn"], r["ms"]["onednn1"]) / 2
        two, one = bound_ms(r, roof, 2), bound_ms(r, roof, 1)
        streamed = bound_ms(r, roof, 2, l2_keeps_part=False)
        at_peak = r["gflop"] / fma_peak * 1e3 if fma_peak else None
        print(f"| {r['cell'].upper()} | {r['name']} | {r['mode']} | {fmt_ms(r['ms']['ours'])} | {fmt_ms(target)} | "
              f"{fmt_ms(two)} | {fmt_ms(one)} | {min(one, two) / target:.2f} | {fmt_ms(streamed)} | "
              f"{r['ms']['ours'] / streamed:.2f} |"
              + (f" {fmt_ms(at_peak)} | {at_peak / target:.2f} |" if fma_peak else ""))
    print()


# Issue 5, item 4: the targets, on 2 threads, against oneDNN at its faster thread count in each
# round (the stricter reading: on the smallest rows its second thread slows it down).
TARGET_AT_LEAST = 1.0          # on every configuration, both modes
TARGET_GEOMEAN = 1.25          # over the suite, each cell and mode
TARGET_SMALL_BATCH = 2.0       # on every row of batch ≤ 4
TARGET_PYTORCH = 10.0          # geomean against PyTorch
TARGET_ROOF_SHARE = 0.85       # of the GEMM roof, on the named configurations
ROOF_TARGET_CONFIGS = ("db-h512-b64-t25", "db-h1024-b32-t25")


def report_targets(data):
    """Issue 5's targets as this run measured them, counted from the unrounded ratios (a row at
    0.997× is below 1, though the tables print it as 1.00×). The roof is the one the % column
    uses, so that --report with --roof-gflops counts against another run's roof."""
    rows = [r for r in data["results"] if "onednn_faster" in r["ratio"]]
    if not rows or data.get("bf16"):
        return
    roof2 = roof_for_share(data["roof"])
    def label(r):
        return f"{r['cell'].upper()} {r['mode']} {r['name']}"
    def vs_onednn(r):
        return r["ratio"]["onednn_faster"]
    configs = len({r["name"] for r in rows})
    print(f"Issue 5's targets in this run ({configs} configurations; against oneDNN at its faster thread count; "
          f"roof {roof2:.1f} GFLOP/s):")
    print()
    print("| target | this run | met |")
    print("|---|---|---|")
    # at least oneDNN on every row
    ordered = sorted(rows, key=vs_onednn)
    below = [r for r in ordered if vs_onednn(r) < TARGET_AT_LEAST]
    detail = (("below: " if below else "none below; lowest ")
              + ", ".join(f"{label(r)} {vs_onednn(r):.3f}×" for r in (below or ordered[:2])))
    print(f"| at least {TARGET_AT_LEAST:g}× oneDNN on every row ({len(rows)} rows) | {detail} | "
          f"{'no' if below else 'yes'} |")
    # geomeans, against oneDNN and PyTorch
    groups = [(cell, mode) for cell in data["cells"] for mode in data["modes"]
              if any(r["cell"] == cell and r["mode"] == mode for r in rows)]
    def geomeans(contender):
        return {g: geomean([r["ratio"][contender] for r in rows if (r["cell"], r["mode"]) == g]) for g in groups}
    for contender, least, what in (("onednn_faster", TARGET_GEOMEAN, "oneDNN"),
                                   ("pytorch", TARGET_PYTORCH, "PyTorch")):
        if not all(contender in r["ratio"] for r in rows):
            continue
        means = geomeans(contender)
        print(f"| geomean at least {least:g}× {what} | "
              + ", ".join(f"{cell.upper()} {mode} {m:.2f}×" for (cell, mode), m in means.items()) + " | "
              + ("yes" if all(m >= least for m in means.values()) else "no") + " |")
    # 2× oneDNN at batch ≤ 4
    small = [r for r in rows if r["batch"] <= 4]
    if small:
        met = [r for r in small if vs_onednn(r) >= TARGET_SMALL_BATCH]
        short = sorted((r for r in small if vs_onednn(r) < TARGET_SMALL_BATCH), key=vs_onednn, reverse=True)
        print(f"| at least {TARGET_SMALL_BATCH:g}× oneDNN at batch ≤ 4 | {len(met)} of {len(small)} rows"
              + (": " + ", ".join(f"{label(r)} {vs_onednn(r):.2f}×" for r in met) if met else "")
              + ("; short of it: " + ", ".join(f"{label(r)} {vs_onednn(r):.2f}×" for r in short) if short else "")
              + f" | {'yes' if not short else 'no'} |")
    # share of the roof on the named configurations
    named = [r for r in rows if r["name"] in ROOF_TARGET_CONFIGS]
    if named:
        share = {label(r): r["gflops"]["ours"] / roof2 for r in named}
        at = [k for k, v in share.items() if v >= TARGET_ROOF_SHARE]
        print(f"| at least {100 * TARGET_ROOF_SHARE:.0f}% of the roof on {', '.join(ROOF_TARGET_CONFIGS)} | "
              f"{len(at)} of {len(named)} rows: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in share.items())
              + f" | {'yes' if len(at) == len(named) else 'no'} |")
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lstm", help="the lstm tool")
    p.add_argument("--onednn", help="onednn_rnn")
    p.add_argument("--roof", help="gemm_roof")
    p.add_argument("--python", default="/usr/bin/python3", help="Python with torch (Debian's python3-torch)")
    p.add_argument("--suite", default=os.path.join(HERE, "..", "..", "data", "bench_suite.txt"))
    p.add_argument("--only", default="", help="comma-separated configuration names (default: all)")
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--modes", default="infer,train")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement burst")
    p.add_argument("--min-repeats", type=int, default=1, help="runs per burst at least")
    p.add_argument("--threads", type=int, default=2, help="threads asked of every contender")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--bf16", action="store_true",
                   help="our inference with bf16 weights (lstm bench --bf16); training is float32 as ever")
    p.add_argument("--no-freeze", action="store_true",
                   help="time our inference without --freeze (packing the weights at every call)")
    p.add_argument("--no-onednn-1t", action="store_true",
                   help="leave out oneDNN on 1 thread (timed beside the 2-thread run: the library's thread count "
                        "today, and robust to load from other processes)")
    p.add_argument("--roof-gflops", type=float, default=0,
                   help="the 2-thread roof for the %% column: skip measuring it (or, with --report, replace the measured one)")
    p.add_argument("--commit", default="", help="what the library was built from (for the report)")
    p.add_argument("--json-out", default="", help="write every measurement here")
    p.add_argument("--report", default="", help="print the report of a --json-out file and stop")
    a = p.parse_args()

    if a.report:
        with open(a.report) as f:
            data = json.load(f)
        for row in data["results"]:
            summarize(row, data["contenders"])
        if a.roof_gflops:
            data["roof"]["given_gflops_2t"] = a.roof_gflops
        report(data)
        return
    if not (a.lstm and a.onednn and a.roof):
        p.error("--lstm, --onednn and --roof are required (or --report FILE)")
    data = measure(a)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(data, f, indent=1)
    report(data)


if __name__ == "__main__":
    main()
