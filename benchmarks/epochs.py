"""Whole training epochs as a learner waits for them, against the same network's in PyTorch.

    python benchmarks/epochs.py --models conv dA --rounds 5 --profile

Each round runs, for every model, one epoch of the project's own script (its ``main``, in
this process: the script's compiled step, its minibatch slicing, noise, progress bar and
per-epoch work) and then one whole epoch of the same network in PyTorch (eager, its default
threads, the same minibatches in the same order), alternating, so that the machine's drift
falls on both alike. The library's figure is the script's own ``epoch_seconds``; compiling
and the evaluation after training are not in it (they are reported apart, as the script's
whole run). Reports the median epoch of each and the median of each round's ratio
("paired").

Models: ``conv`` and ``conv-denoising`` (``scripts/convolutional_autoencoder.py``, batch
128, Adam), ``dA`` (``scripts/test_dA.py``, batch 20, SGD: one epoch at 0% and one at 30%
corruption, reported apart). With ``--profile``, each script runs once more under
PyTensor's profiler (``PYTENSOR_FLAGS=profile=True`` does the same for any script) and its
training function's time is printed by op class, by op and by node, with the share of the
epoch spent outside the compiled function (the Python loop, the progress bar).

``--reference`` only times PyTorch's dA epoch three times and prints the median as JSON:
the host's speed, which ``tools/record.py`` stores in every record it makes.

Run it on an otherwise idle machine: it warns when the load average says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import deeptutorial  # noqa: E402, F401  (first: it checks the settings before PyTensor reads them)
import pytensor  # noqa: E402

from deeptutorial import load_mnist  # noqa: E402

MODELS = ("conv", "conv-denoising", "dA")
DA_LEVELS = (0.0, 0.3)


@functools.cache
def script(name: str):
    """The module of ``scripts/<name>.py``, imported from its file."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def library_epoch(model: str, dataset: str | None, folder: str) -> tuple[dict, float, dict]:
    """One epoch of ``model``'s script: ``({part: epoch seconds}, whole run's seconds,
    results)``; the script's printing is kept out of this benchmark's log."""
    data = ["--dataset", dataset] if dataset else []
    if model == "dA":
        argv = ["--epochs", "1", "--corruption-levels", *map(str, DA_LEVELS)]
        name = "test_dA"
    else:
        variant = "denoising" if model == "conv-denoising" else "plain"
        argv = ["--epochs", "1", "--variants", variant]
        name = "convolutional_autoencoder"
    main = script(name).main
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        results = main([*argv, *data, "--output-folder", folder])
    whole = time.perf_counter() - start
    parts = {part: run["epoch_seconds"][0] for part, run in runs_by_part(results).items()}
    return parts, whole, results


def runs_by_part(results: dict) -> dict:
    """``{part: run}`` of a script's results: the dA's runs by corruption level (a list),
    the convolutional autoencoder's by variant (a dict), named as ``MODELS`` parts."""
    if isinstance(results["runs"], list):
        return {f"dA {run['corruption_level']:.0%}": run for run in results["runs"]}
    return {("conv-denoising" if variant == "denoising" else "conv"): run
            for variant, run in results["runs"].items()}


def torch_conv_epoch(train_x: np.ndarray, noise_std: float, seed: int):
    """A function running one whole epoch of the convolutional autoencoder in PyTorch, from
    the weights the script starts from (its ``--seed``); it returns the epoch's costs."""
    from conv_bench import torch_step

    from deeptutorial.conv_autoencoder import ConvAutoencoder

    model = ConvAutoencoder(np.random.RandomState(seed))
    weights = {p.name: p.get_value().copy() for p in model.params}
    step = torch_step(train_x, 128, weights, noise_std=noise_std)
    n = len(train_x) // 128
    return lambda: [step(i) for i in range(n)]


def torch_dA_epoch(train_x: np.ndarray, level: float, seed: int = 123, batch: int = 20,
                   lr: float = 0.1):
    """One whole epoch of the dA tutorial's network in PyTorch, from the weights
    ``scripts/test_dA.py`` starts from: tied weights, sigmoid code and reconstruction,
    cross-entropy summed over pixels and averaged over the minibatch, plain SGD; at
    ``level > 0`` each input pixel is zeroed with that probability. Returns the costs."""
    import torch
    import torch.nn.functional as F

    from pytensor.tensor.random import shared_rng

    from deeptutorial import dA

    rng = np.random.RandomState(seed)  # as the script: the noise seed drawn first, then W
    model = dA(numpy_rng=rng, pytensor_rng=shared_rng(seed=rng.randint(2 ** 30)),
               n_visible=train_x.shape[1], n_hidden=500)
    W, b, b_prime = (torch.tensor(p.get_value().astype(np.float32), requires_grad=True)
                     for p in model.params)
    x_all = torch.from_numpy(train_x)
    n = len(train_x) // batch

    def epoch() -> list[float]:
        costs = []
        for i in range(n):
            x = x_all[i * batch:(i + 1) * batch]
            x_tilde = x * (torch.rand(x.shape) >= level) if level > 0 else x
            h = torch.sigmoid(x_tilde @ W + b)
            cost = F.binary_cross_entropy_with_logits(h @ W.T + b_prime, x,
                                                      reduction="sum") / batch
            cost.backward()
            with torch.no_grad():
                for p in (W, b, b_prime):
                    p.add_(p.grad, alpha=-lr)
                    p.grad = None
            costs.append(cost.item())
        return costs
    return epoch


def torch_epochs(model: str, train_x: np.ndarray) -> dict:
    """``{part: function running that whole epoch in PyTorch}``, parts as ``library_epoch``'s,
    each from the script's initial weights (its default seed)."""
    if model == "dA":
        seed = script("test_dA").flags().get_default("seed")
        return {f"dA {level:.0%}": torch_dA_epoch(train_x, level, seed) for level in DA_LEVELS}
    seed = script("convolutional_autoencoder").flags().get_default("seed")
    return {model: torch_conv_epoch(train_x, 0.4 if model == "conv-denoising" else 0.0, seed)}


def epoch_costs(results: dict) -> dict:
    """``{part: the first epoch's mean cost}`` of a script's results."""
    return {part: run["epoch_costs"][0] for part, run in runs_by_part(results).items()}


def check_same_network(ours: dict, theirs: dict, rtol: float = 1e-5) -> None:
    """Refuse to compare dA networks whose first epochs' mean costs differ: without noise
    (``dA 0%``) the SGD steps of both agree to float32 rounding. (With noise the two libraries
    draw different masks.)"""
    for part, cost in ours.items():
        print(f"first epoch's mean cost, {part}: deeptutorial {cost:.6f}, "
              f"PyTorch {theirs[part]:.6f}")
        if part == "dA 0%" and abs(cost - theirs[part]) > rtol * abs(theirs[part]):
            raise SystemExit(f"{part}: the two networks do not compute the same costs")


def check_same_conv_network(train_x: np.ndarray, seed: int, rtol: float = 1e-4) -> None:
    """Refuse to compare convolutional networks whose first training step's cost differs,
    from the script's initial weights on its first minibatch. (An epoch's mean cost differs
    by about a percent: PyTorch's Adam adds epsilon to sqrt(v) after the bias correction, this
    library before it, as Kingma & Ba write it, and small gradients then take other steps.)"""
    from conv_bench import library_step, torch_step

    with pytensor.config.change_flags(floatX="float32"):
        ours, weights = library_step(train_x, 128, seed=seed)
    first = float(ours(np.asarray(0, dtype=np.int64))), torch_step(train_x, 128, weights)(0)
    print(f"first step's cost, conv: deeptutorial {first[0]:.6f}, PyTorch {first[1]:.6f}")
    if abs(first[0] - first[1]) > rtol * abs(first[1]):
        raise SystemExit("conv: the two networks do not compute the same cost")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def profile(model: str, dataset: str | None, nodes: int) -> dict:
    """Run ``model``'s script once under PyTensor's profiler; print its training functions'
    summaries and return, per training function, the epoch's seconds and those spent in it."""
    from pytensor.compile.debug import profiling

    with tempfile.TemporaryDirectory() as folder, pytensor.config.change_flags(profile=True):
        parts, _, _ = library_epoch(model, dataset, folder)
    stats = [s for s in profiling._atexit_print_list if (s.message or "").startswith("train")]
    profiling._atexit_print_list.clear()  # printed here, not again at exit
    shares = {}
    for (part, epoch_seconds), stat in zip(parts.items(), stats):
        print(f"\n===== profile: {part}, one epoch of the script ({stat.message}) =====")
        stat.summary(n_ops_to_print=nodes, n_apply_to_print=nodes)
        inside = stat.fct_call_time
        shares[part] = {"epoch_seconds": epoch_seconds, "seconds_in_function": inside,
                        "calls": stat.fct_callcount,
                        "seconds_by_op_class": {str(cls): t for cls, t in
                                                sorted(stat.class_time().items(),
                                                       key=lambda kv: -kv[1])}}
        print(f"{part}: epoch {epoch_seconds:.2f} s under the profiler, "
              f"{inside:.2f} s of it in {stat.fct_callcount} calls of the compiled step, "
              f"{epoch_seconds - inside:.2f} s outside it")
    return shares


def reference(dataset: str | None, repeats: int = 3) -> dict:
    """The host's speed: the median of ``repeats`` whole PyTorch epochs of the dA tutorial's
    network at 0% corruption (one warm-up epoch first)."""
    import torch

    epoch = torch_dA_epoch(load_mnist(dataset)[0][0], 0.0)
    epoch()
    seconds = statistics.median(timed(epoch) for _ in range(repeats))
    return {"torch_dA_epoch_seconds": round(seconds, 3), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=["conv", "dA"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dataset", default=None, help="MNIST (default: $DEEPTUTORIAL_DATA)")
    parser.add_argument("--profile", action="store_true",
                        help="then profile one epoch of each script, per op class")
    parser.add_argument("--nodes", type=int, default=12, help="ops and nodes listed")
    parser.add_argument("--output", default=None, help="write the numbers as JSON here")
    parser.add_argument("--reference", action="store_true",
                        help="only print the host's speed (PyTorch's dA epoch) as JSON")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # each line as it comes, into a record's log
    if args.reference:
        result = reference(args.dataset)
        print(json.dumps(result))
        return result
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f}: the machine is not idle", file=sys.stderr)
    import torch

    train_x = load_mnist(args.dataset)[0][0]
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"PyTensor {pytensor.__version__}")
    theirs = {model: torch_epochs(model, train_x) for model in args.models}
    if {"conv", "conv-denoising"} & set(args.models):
        check_same_conv_network(train_x,
                                script("convolutional_autoencoder").flags().get_default("seed"))
    for model in args.models:  # first epochs: the compile cache warm, the same costs checked
        with tempfile.TemporaryDirectory() as folder:
            _, _, results = library_epoch(model, args.dataset, folder)
        check_same_network(epoch_costs(results),
                           {part: float(np.mean(epoch())) for part, epoch in
                            theirs[model].items()})
    ours_s: dict[str, list] = {}
    torch_s: dict[str, list] = {}
    whole: dict[str, list] = {}
    for rnd in range(args.rounds):
        for model in args.models:
            with tempfile.TemporaryDirectory() as folder:
                parts, seconds, _ = library_epoch(model, args.dataset, folder)
            whole.setdefault(model, []).append(seconds)
            for part, epoch_seconds in parts.items():
                ours_s.setdefault(part, []).append(epoch_seconds)
                torch_s.setdefault(part, []).append(timed(theirs[model][part]))
                print(f"round {rnd}: {part}: deeptutorial {epoch_seconds:.2f} s, "
                      f"PyTorch {torch_s[part][-1]:.2f} s per epoch", flush=True)
    summary = {}
    print()
    for part in ours_s:
        ours, them = statistics.median(ours_s[part]), statistics.median(torch_s[part])
        paired = statistics.median(a / b for a, b in zip(ours_s[part], torch_s[part]))
        summary[part] = {"deeptutorial_epoch_seconds": ours_s[part],
                         "torch_epoch_seconds": torch_s[part],
                         "median_deeptutorial": ours, "median_torch": them,
                         "ratio": ours / them, "paired_ratio": paired}
        print(f"{part}: median epoch deeptutorial {ours:.2f} s, PyTorch {them:.2f} s: "
              f"ratio {ours / them:.2f} (paired {paired:.2f})")
    for model, seconds in whole.items():
        print(f"{model}: the script's whole run (compile from the cache, one epoch per part, "
              f"evaluation, images) median {statistics.median(seconds):.1f} s")
    result = {"rounds": args.rounds, "epochs": summary,
              "script_seconds": whole, "torch": torch.__version__,
              "torch_threads": torch.get_num_threads(), "pytensor": pytensor.__version__,
              "load_average_at_start": load}
    if args.profile:
        result["profile"] = {part: share for model in args.models
                             for part, share in profile(model, args.dataset, args.nodes).items()}
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
