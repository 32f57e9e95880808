"""How much the SdA's cached pretraining saves: seconds per pretraining step, per layer.

    python benchmarks/cached_pretraining.py --output benchmarks/cached_pretraining.json

For each layer of the tutorial's 784-1000-1000-1000 stack, times ``--steps`` calls of the
default pretraining function (every minibatch pushed through the layers below) and of the
cached one (reading the stored outputs of the layer below), alternating over ``--rounds``
rounds; reports medians, the speed-up of the medians and the median of each round's speed-up
("paired": the two blocks of a round run back to back, so a drift in the machine's speed
touches both alike). The one-off cost of filling each cache is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time

import numpy as np
import pytensor

from deeptutorial import SdA, load_data


def time_steps(fn, steps: int, level: float) -> float:
    start = time.perf_counter()
    for i in range(steps):
        fn(i, corruption=level, lr=0.001)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--hidden-layers", type=int, nargs="+", default=[1000, 1000, 1000])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    pytensor.config.floatX = "float32"
    train_set_x = load_data(args.dataset)[0][0]
    levels = [0.1, 0.2, 0.3, 0.3, 0.3][:len(args.hidden_layers)]
    rows = []
    for batch_size in args.batch_sizes:
        steps = min(args.steps, train_set_x.get_value(borrow=True).shape[0] // batch_size)
        default_sda, cached_sda = (SdA(np.random.RandomState(89677), n_ins=784,
                                       hidden_layers_sizes=args.hidden_layers,
                                       corruption_levels=levels) for _ in range(2))
        default_fns = default_sda.pretraining_functions(train_set_x, batch_size)
        cached_fns = cached_sda.pretraining_functions(train_set_x, batch_size, cached=True)
        fill_seconds = [0.0]
        for k in range(1, len(levels)):
            start = time.perf_counter()
            cached_sda.cache_layer_input(k, train_set_x)
            fill_seconds.append(time.perf_counter() - start)
        for fn in default_fns + cached_fns:  # first calls compile lazily: keep them out
            fn(0, corruption=0.1, lr=0.001)
        for k, level in enumerate(levels):
            times = {"default": [], "cached": []}
            for _ in range(args.rounds):
                times["default"].append(time_steps(default_fns[k], steps, level))
                times["cached"].append(time_steps(cached_fns[k], steps, level))
            default_ms = 1000 * statistics.median(times["default"])
            cached_ms = 1000 * statistics.median(times["cached"])
            paired = statistics.median(d / c for d, c in zip(times["default"], times["cached"]))
            rows.append({"batch_size": batch_size, "layer": k, "default_ms_per_step": default_ms,
                         "cached_ms_per_step": cached_ms, "speedup": default_ms / cached_ms,
                         "paired_speedup": paired, "cache_fill_seconds": fill_seconds[k]})
            print(f"batch {batch_size:4d} layer {k}: default {default_ms:7.3f} ms/step, "
                  f"cached {cached_ms:7.3f} ms/step, speed-up {default_ms / cached_ms:5.2f}x "
                  f"(paired {paired:5.2f}x), cache filled in {fill_seconds[k]:.2f} s")
            sys.stdout.flush()
    if args.output:
        record = {"command": shlex.join(["python"] + sys.argv), "machine": {"cpus": os.cpu_count(),
                  "python": platform.python_version(), "pytensor": pytensor.__version__},
                  "settings": vars(args), "rows": rows}
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
