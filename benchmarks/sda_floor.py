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
* the step's median time over ``--rounds`` blocks of ``--steps`` steps, called as
  ``scripts/test_SdA.py`` calls it (``training.unchecked_step``), with BLAS on one core and
  on two (each in a subprocess with ``OMP_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set),
  and its multiple of the floor;
* what a step costs whatever its size: the time of a call of a compiled function that does
  nothing, and of the same step on an SdA of 4-unit layers (the same graph, nodes and random
  draws, on weights too small to take time), and their share of the real step;
* the first layer's pretraining run as ``--scan-steps`` steps inside one compiled call
  (``pytensor.scan`` over the library's own step graph, checked to give the same weights),
  per step: what running many steps per call would save.

Run it on an otherwise idle machine; it warns when the load average says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
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


def sda_steps(dataset, n_ins: int, hidden: list[int], n_outs: int,
              checked: bool = False) -> tuple[dict, object, object]:
    """The tutorial's steps of an SdA of these sizes on ``dataset`` (its training images, or
    for a smaller ``n_ins`` their ``n_ins`` most varied pixels), each ``step(index)`` as
    ``test_SdA.py`` calls it;
    the SdA and the shared array of its training images. ``checked=True`` calls them the
    plain way instead, PyTensor checking the inputs at every call."""
    import pytensor

    from deeptutorial import SdA
    from deeptutorial.training import unchecked_step

    (train_x, train_y), *_ = dataset
    images = train_x.get_value(borrow=True)
    if n_ins < images.shape[1]:  # not the blank border: pixels that digits do cover
        images = images[:, np.sort(np.argsort(images.var(axis=0))[-n_ins:])]
    pixels = np.ascontiguousarray(images)
    labels = train_y.get_value(borrow=True) % n_outs
    split = (pytensor.shared(pixels, borrow=True), pytensor.shared(labels, borrow=True))
    sda = SdA(numpy_rng=np.random.RandomState(89677), n_ins=n_ins,
              hidden_layers_sizes=hidden, n_outs=n_outs, corruption_levels=[0.1, 0.2, 0.3])
    pretrain = sda.pretraining_functions(split[0], batch_size=1, cached=True)
    for k in (1, 2):
        sda.cache_layer_input(k, split[0])
    finetune = sda.build_finetune_functions([split] * 3, batch_size=1, learning_rate=0.1)[0]
    lr = np.asarray(0.001, dtype=pytensor.config.floatX)

    def call(fn, *fixed):
        return (lambda i: fn(i, *fixed)) if checked else unchecked_step(fn, *fixed)

    steps = {f"pretrain layer {k}": call(fn, np.asarray(level, dtype=pytensor.config.floatX), lr)
             for k, (fn, level) in enumerate(zip(pretrain, (0.1, 0.2, 0.3)))}
    steps["finetune"] = call(finetune)
    return steps, sda, split[0]


def scanned_pretraining(sda, train_x, n_steps: int, learning_rate: float = 0.001):
    """``run(start)``: layer 0's pretraining steps ``start .. start + n_steps - 1`` inside one
    compiled call, ``pytensor.scan`` over the library's own step graph (the dA's cost and
    updates with its parameters and random generator made the loop's state)."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.replace import clone_replace

    from deeptutorial.data import minibatch

    layer = sda.dA_layers[0]
    with warnings.catch_warnings():  # the generator's second use: its draws are replaced below
        warnings.filterwarnings("ignore", "RandomGeneratorVariable .* has already been used")
        cost, updates = layer.get_cost_updates(np.float32(0.1), np.float32(learning_rate))
    state = [shared for shared, _ in updates]

    def one_step(i, *values):
        replace = dict(zip(state, values))
        replace[sda.x] = minibatch(train_x, i, 1)  # one row, a static shape as in the step
        new = clone_replace([new for _, new in updates] + [cost], replace=replace,
                            rebuild_strict=False)
        return tuple(new)

    start = pt.lscalar("start")
    *finals, costs = pytensor.scan(one_step, sequences=[pt.arange(start, start + n_steps)],
                                   outputs_info=[*state, None], return_updates=False)
    # a tensor state comes back as its values after every step; the generator as its last
    last = [f[-1] if isinstance(f.type, pt.TensorType) else f for f in finals]
    run = pytensor.function([start], costs[-1], updates=list(zip(state, last)),
                            name="pretrain_layer_0_scanned")
    return run


def check_scan_same_maths(sda, step, scanned, n_steps: int) -> float:
    """Runs ``n_steps`` plain steps and one scanned call from the same weights and random
    state; the largest difference between the weights they end with (float32 rounding)."""
    layer = sda.dA_layers[0]
    shared = [layer.W, layer.b, layer.b_prime, layer.pytensor_rng]
    start = [s.get_value(borrow=False) for s in shared]
    for i in range(n_steps):
        step(np.asarray(i, dtype="int64"))
    plain = layer.W.get_value()
    for s, v in zip(shared, start):
        s.set_value(v)
    scanned(np.asarray(0, dtype="int64"))
    return float(np.max(np.abs(layer.W.get_value() - plain)))


def worker(args: argparse.Namespace) -> dict:
    """Times every step in this process, with the BLAS threads its environment sets."""
    import pytensor

    pytensor.config.floatX = "float32"
    from deeptutorial import load_data

    datasets = load_data(args.dataset)
    calls, sda, train_x = sda_steps(datasets, 784, HIDDEN, 10)
    n_rows = train_x.get_value(borrow=True).shape[0]
    scanned = scanned_pretraining(sda, train_x, args.scan_steps)
    difference = check_scan_same_maths(sda, calls["pretrain layer 0"], scanned, args.scan_steps)
    if difference > 1e-5:
        raise AssertionError(f"the scanned steps end with other weights (by {difference:g})")
    tiny, _, _ = sda_steps(datasets, 4, [4, 4, 4], 2)
    calls.update({f"{name}, 4-unit layers": step for name, step in tiny.items()})
    tiny, _, _ = sda_steps(datasets, 4, [4, 4, 4], 2, checked=True)
    calls.update({f"{name}, 4-unit layers, inputs checked": step for name, step in tiny.items()})
    # The cost of calling a compiled function at all: one that adds 1 to its index input.
    index = pytensor.tensor.lscalar("index")
    calls["empty call"] = pytensor.function([index], index + 1)
    scanned_steps = args.scan_steps * (args.steps // args.scan_steps)
    scan_starts = [np.asarray(i % (n_rows - args.scan_steps), dtype="int64")
                   for i in range(0, scanned_steps, args.scan_steps)]
    indices = [np.asarray(i % n_rows, dtype="int64") for i in range(args.steps)]
    times = {name: [] for name in [*calls, "pretrain layer 0, scanned"]}
    for name, call in calls.items():
        for i in indices[:min(200, args.steps)]:  # warm up caches and pages
            call(i)
    scanned(scan_starts[0])
    for _ in range(args.rounds):  # rounds alternate the steps, so drift hits all alike
        for name, call in calls.items():
            start = time.perf_counter()
            for i in indices:
                call(i)
            times[name].append((time.perf_counter() - start) / args.steps)
        start = time.perf_counter()
        for i in scan_starts:
            scanned(i)
        times["pretrain layer 0, scanned"].append((time.perf_counter() - start) / scanned_steps)
    return {"scan_max_weight_difference": difference,
            **{name: {"median_s": float(np.median(t)), "min_s": float(np.min(t)),
                      "rounds_s": t} for name, t in times.items()}}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="MNIST folder, file or 'sample'")
    parser.add_argument("--rounds", type=int, default=5, help="timed blocks per step")
    parser.add_argument("--steps", type=int, default=3000, help="steps per timed block")
    parser.add_argument("--scan-steps", type=int, default=100,
                        help="steps inside one call of the scanned pretraining step")
    parser.add_argument("--output", default=None, help="also write the JSON record here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.scan_steps <= args.steps:
        parser.error(f"--scan-steps must be between 1 and --steps ({args.steps}), "
                     f"got {args.scan_steps}")
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
                   "--steps", str(args.steps), "--scan-steps", str(args.scan_steps)]
        command += ["--dataset", args.dataset] if args.dataset else []
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
    # What a step pays whatever its size, and what many steps per call would change.
    overheads = []
    print(f"{'step':18s} {'4-unit layers 1c':>17s} {'2c':>6s} {'share 1c':>9s} {'share 2c':>9s} "
          f"{'checked 1c':>15s} {'2c':>6s}")
    for row in rows:
        step = row["step"]
        fixed = {t: measured[t][f"{step}, 4-unit layers"]["median_s"] for t in (1, 2)}
        checked = {t: measured[t][f"{step}, 4-unit layers, inputs checked"]["median_s"]
                   for t in (1, 2)}
        share = {t: fixed[t] / row["median_step_s"][t] for t in (1, 2)}
        overheads.append({"step": step, "four_unit_layers_s": fixed, "share": share,
                          "four_unit_layers_inputs_checked_s": checked})
        print(f"{step:18s} {fixed[1] * 1e6:15.1f}us {fixed[2] * 1e6:4.1f}us {share[1]:9.1%} "
              f"{share[2]:9.1%} {checked[1] * 1e6:13.1f}us {checked[2] * 1e6:4.1f}us")
    scanned = {t: measured[t]["pretrain layer 0, scanned"]["median_s"] for t in (1, 2)}
    plain = rows[0]["median_step_s"]
    scan = {"steps_per_call": args.scan_steps, "median_step_s": scanned,
            "times_plain_step": {t: scanned[t] / plain[t] for t in (1, 2)},
            "max_weight_difference": max(measured[t]["scan_max_weight_difference"]
                                         for t in (1, 2))}
    print(f"pretrain layer 0 as {args.scan_steps} steps per call (scan): "
          f"{scanned[1] * 1e6:.0f} us (1 core), {scanned[2] * 1e6:.0f} us (2 cores) a step, "
          f"{scan['times_plain_step'][1]:.2f}x and {scan['times_plain_step'][2]:.2f}x the "
          f"step called alone")
    machine = machine_info()
    machine.pop("pytensor_blas__ldflags", None)  # a link line full of this machine's paths
    record = {"machine": machine, "load_average_at_start": load, "rounds": args.rounds,
              "steps_per_round": args.steps, "dataset": args.dataset or "full MNIST",
              "steps": rows, "whole_run": whole, "empty_call_s": overhead,
              "fixed_cost": overheads, "scanned": scan}
    if args.output:
        Path(args.output).write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
