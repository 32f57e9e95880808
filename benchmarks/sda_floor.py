"""Each step of the SdA tutorial at batch size 1 against its memory floor, on one and two cores.

    python benchmarks/sda_floor.py                       # full MNIST, about 3 minutes
    python benchmarks/sda_floor.py --dataset sample --rounds 2 --steps 200   # smoke run

At batch size 1 a step is a few matrix-vector products and rank-1 updates: it does little
arithmetic on a lot of weights, so what bounds it is how fast the weights move between the
core and its caches. For each step the tutorial runs (pretraining layer 0, 784 x 1000;
layers 1 and 2, 1000 x 1000, reading cached inputs as ``--cached-pretraining`` does;
fine-tuning, 784-1000-1000-1000-10) this prints and writes as JSON:

* the bytes that must move per step: every parameter read once and written once (float32),
  since an SGD step changes every weight;
* the passes over the weights today's graph makes (reads and read-writes, from the maths of
  the step as compiled: see ``PASSES``);
* the machine's rate for reading and writing back an array of that size in place (``a *= c``,
  what an update does; repeated so that the array stays in cache when it fits), with one
  thread and with two threads taking a half each;
* the floor, bytes / rate, on one and on two cores;
* the time of a call of a compiled function that does nothing, the per-call overhead every
  step pays;
* the step's median time over ``--rounds`` blocks of ``--steps`` steps, with BLAS on one
  core and on two (each in a subprocess with ``OMP_NUM_THREADS`` and
  ``OPENBLAS_NUM_THREADS`` set), and its multiple of the floor.

Run it on an otherwise idle machine; it warns when the load average says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from bench import machine_info  # noqa: E402

HIDDEN = [1000, 1000, 1000]
STEPS = {"pretrain layer 0": (784, 1000), "pretrain layer 1": (1000, 1000),
         "pretrain layer 2": (1000, 1000), "finetune": None}
# Passes over each weight matrix per step, as the maths of the compiled step goes (with the
# fast path's row passes, deeptutorial/fastpath/row_pass.py):
# tied dA: x~ W (encode) reads only the rows of W whose input is not zero (a minority for
# MNIST pixels, less the corrupted ones; all but the corrupted ones above the first layer);
# h W^T (decode) and dz W (hidden gradient) read W; the rank-2 update W -= lr (x~^T dh + dz^T h)
# reads and writes it once. Fine-tuning, per layer: the forward product reads W (the first
# layer: the rows of non-zero pixels only); the backward product W d (all layers but the
# first) and the rank-1 update share one read-write pass; the first layer's update writes the
# rows of non-zero pixels only.
PASSES = {"pretrain": {"reads": "2 + the rows of non-zero inputs", "read_writes": 1},
          "finetune": {"reads": "1 (the first layer: the rows of non-zero pixels)",
                       "read_writes": "1 (the first layer: the rows of non-zero pixels)"}}


def in_place_rate_gbs(nbytes: int, threads: int, repeats: int = 7) -> float:
    """Best rate of ``a *= c`` over a float32 array of ``nbytes``, counting its read and its
    write; with ``threads`` > 1 each thread scales its own slice (NumPy lets go of the GIL).
    Each timing makes enough passes to last about 50 ms."""
    import threading

    a = np.ones(nbytes // 4, dtype=np.float32)
    scale = np.float32(1.0)
    parts = [a[len(a) * t // threads:len(a) * (t + 1) // threads] for t in range(threads)]
    passes = max(1, int(50e-3 * 10e9 / (2 * nbytes)))

    def scale_part(part):
        for _ in range(passes):
            np.multiply(part, scale, out=part)

    def all_parts():
        workers = [threading.Thread(target=scale_part, args=(part,)) for part in parts]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    all_parts()  # pages, caches and threads warmed up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        all_parts()
        best = min(best, (time.perf_counter() - start) / passes)
    return 2 * a.nbytes / best / 1e9


def parameter_count(step: str) -> int:
    if step == "finetune":
        sizes = [784, *HIDDEN, 10]
        return sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    n_in, n_out = STEPS[step]
    return n_in * n_out + n_out + n_in  # W, the hidden and the visible bias


def worker(args: argparse.Namespace) -> dict:
    """Times every step in this process, with the BLAS threads its environment sets."""
    import pytensor

    pytensor.config.floatX = "float32"
    from deeptutorial import SdA, load_data

    datasets = load_data(args.dataset)
    train_x = datasets[0][0]
    n_rows = train_x.get_value(borrow=True).shape[0]
    sda = SdA(numpy_rng=np.random.RandomState(89677), n_ins=784, hidden_layers_sizes=HIDDEN,
              n_outs=10, corruption_levels=[0.1, 0.2, 0.3])
    pretrain = sda.pretraining_functions(train_x, batch_size=1, cached=True)
    for k in (1, 2):
        sda.cache_layer_input(k, train_x)
    finetune = sda.build_finetune_functions(datasets, batch_size=1, learning_rate=0.1)[0]
    f32 = np.float32
    calls = {f"pretrain layer {k}": (lambda i, fn=fn, c=f32(level): fn(i, corruption=c,
                                                                        lr=f32(0.001)))
             for k, (fn, level) in enumerate(zip(pretrain, (0.1, 0.2, 0.3)))}
    calls["finetune"] = finetune
    # The cost of calling a compiled function at all: one that adds 1 to its index input.
    index = pytensor.tensor.lscalar("index")
    calls["empty call"] = pytensor.function([index], index + 1)
    indices = [np.asarray(i % n_rows, dtype="int64") for i in range(args.steps)]
    times = {name: [] for name in calls}
    for name, call in calls.items():
        for i in indices[:min(200, args.steps)]:  # warm up caches and pages
            call(i)
    for _ in range(args.rounds):  # rounds alternate the steps, so drift hits all alike
        for name, call in calls.items():
            start = time.perf_counter()
            for i in indices:
                call(i)
            times[name].append((time.perf_counter() - start) / args.steps)
    return {name: {"median_s": float(np.median(t)), "min_s": float(np.min(t)), "rounds_s": t}
            for name, t in times.items()}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="MNIST folder, file or 'sample'")
    parser.add_argument("--rounds", type=int, default=5, help="timed blocks per step")
    parser.add_argument("--steps", type=int, default=3000, help="steps per timed block")
    parser.add_argument("--output", default=None, help="also write the JSON record here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return None

    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"WARNING: load average {load:.2f}: the machine is not idle, the times will "
              f"be too long", file=sys.stderr)
    measured = {}
    for threads in (1, 2):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads),
               "OPENBLAS_NUM_THREADS": str(threads)}
        command = [sys.executable, __file__, "--worker", "--rounds", str(args.rounds),
                   "--steps", str(args.steps)] + (["--dataset", args.dataset]
                                                   if args.dataset else [])
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        measured[threads] = json.loads(out.stdout.strip().splitlines()[-1])

    overhead = {t: measured[t].pop("empty call")["median_s"] for t in (1, 2)}
    print(f"a compiled function's call, doing nothing: {overhead[1] * 1e6:.1f} us (1 core), "
          f"{overhead[2] * 1e6:.1f} us (2 cores)")
    rows = []
    print(f"{'step':18s} {'MB moved':>9s} {'rate 1c':>8s} {'rate 2c':>8s} {'floor 1c':>9s} "
          f"{'floor 2c':>9s} {'time 1c':>8s} {'time 2c':>8s} {'x floor 1c':>10s} "
          f"{'x floor 2c':>10s}")
    for step in STEPS:
        moved = 2 * 4 * parameter_count(step)  # read once and written once, float32
        rates = {t: in_place_rate_gbs(moved // 2, threads=t) for t in (1, 2)}
        floors = {t: moved / (rates[t] * 1e9) for t in (1, 2)}
        times = {t: measured[t][step]["median_s"] for t in (1, 2)}
        row = {"step": step, "bytes_moved": moved,
               "passes": PASSES["finetune" if step == "finetune" else "pretrain"],
               "rate_gbs": rates, "floor_s": floors, "median_step_s": times,
               "rounds_s": {t: measured[t][step]["rounds_s"] for t in (1, 2)},
               "times_floor": {t: times[t] / floors[t] for t in (1, 2)}}
        rows.append(row)
        print(f"{step:18s} {moved / 1e6:9.2f} {rates[1]:8.1f} {rates[2]:8.1f} "
              f"{floors[1] * 1e6:7.0f}us {floors[2] * 1e6:7.0f}us {times[1] * 1e6:6.0f}us "
              f"{times[2] * 1e6:6.0f}us {row['times_floor'][1]:10.2f} "
              f"{row['times_floor'][2]:10.2f}")
    # The whole tutorial run at these rates: 15 epochs of each layer, 36 fine-tuning epochs
    # (where the tutorial's early stopping ended), 50,000 steps an epoch.
    epochs = {"pretrain layer 0": 15, "pretrain layer 1": 15, "pretrain layer 2": 15,
              "finetune": 36}
    whole = {}
    for t in (1, 2):
        whole[t] = {"minutes": 50_000 * sum(epochs[r["step"]] * r["median_step_s"][t]
                                            for r in rows) / 60,
                    "floor_minutes": 50_000 * sum(epochs[r["step"]] * r["floor_s"][t]
                                                  for r in rows) / 60}
        print(f"{t} core(s): the tutorial's run (15 epochs per layer, 36 fine-tuning epochs) "
              f"takes {whole[t]['minutes']:.1f} min at these step times; its floor is "
              f"{whole[t]['floor_minutes']:.1f} min")
    machine = machine_info()
    machine.pop("pytensor_blas__ldflags", None)  # a link line full of this machine's paths
    record = {"machine": machine, "load_average_at_start": load, "rounds": args.rounds,
              "steps_per_round": args.steps, "dataset": args.dataset or "full MNIST",
              "steps": rows, "whole_run": whole, "empty_call_s": overhead}
    if args.output:
        Path(args.output).write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
