"""What each choice behind the default fast path buys, one choice at a time.

    python benchmarks/choices.py --output docs/results/choices_one_thread/results.json

Times the dA tutorial step (784-500 tied, batch 20, 0% corruption, SGD 0.1) and the SdA
tutorial's pretraining step at batch size 1 (784-1000, corruption 0.1, learning rate 0.001)
under each variant below. Every variant runs in a fresh process (PyTensor's configuration
is process-wide), ``--rounds`` times, the variants in turn within a round; the JSON holds
every round's seconds per step and the medians.

dA variants (backend x how the cross-entropy is written x the two C-code choices):

* ``numba/log``: PyTensor 3 out of the box (Numba), the tutorial's
  ``-sum(x log z + (1 - x) log(1 - z))``;
* ``c-noblas/log``: the C backend as pip installs it, with no BLAS to link (its warning);
* ``c-openblas/log``: the C backend linked to scipy-openblas32 (``deeptutorial.backend``);
* ``numba/logits`` and ``c-openblas/logits``: the cost written from the logits,
  ``sum(softplus(a) - x a)`` (``deeptutorial.losses``);
* ``+vector-math``: the last, with exp/log1p vectorised by libmvec
  (``fastpath.compiler.VECTOR_MATH_FLAGS``);
* ``+merged-update``: and the tied weight's two GEMM updates merged into one
  (``deeptutorial.rewrites``): the library's default;
* ``+merged-update/openblas-threads``: the same, but with OpenBLAS's own threading instead of
  ``deeptutorial.threaded_blas`` (the default before it): the rewrite excluded, and OpenBLAS
  given back the threads ``fastpath.enable`` took from it. With one thread (as in the
  single-threaded records) the two are the same.

The C variants other than the last two turn those choices off with ``gcc__cxxflags=`` and
``optimizer_excluding=merge_rank_k_updates``. Every dA variant is called as the library's
training loop calls it, with 0-d int64 array indices (``training.batch_indices``).

SdA variants (C backend with OpenBLAS): ``plain-slice`` gives the minibatch as the
tutorial does, ``static-batch`` through ``deeptutorial.data.minibatch``, which lets batch
size 1 use gemv and ger, both called with Python numbers; ``static-batch/0-d-inputs`` also
passes the index, corruption level and learning rate as 0-d arrays, as ``scripts/test_SdA.py``
does. These three turn off ``scalar_uniform_bounds`` (``deeptutorial.rewrites``), which
``+scalar-bound-noise``, the library's default, adds: the corruption noise drawn through
NumPy's scalar-bound path. ``.../openblas-threads`` is that default with OpenBLAS's own
threading, as for the dA; ``.../gemv-ger-one-thread`` splits only the matrix products, leaving
the batch-size-1 step's gemv and ger calls on one thread.

Every variant runs on OpenBLAS (``DEEPTUTORIAL_BLAS=openblas``) but those ending in ``/mkl``:
the library's default on an Intel CPU with the ``mkl`` extra installed, linked to MKL's
sequential library, with the same threaded split.

``--variants NAME ...`` runs only those (e.g. the threading pair with 2 threads). The table's
``paired`` column is the median over rounds of each round's time over the first variant of the
same kind in that round.

``--alternate`` keeps one process per variant alive and has them run blocks of ``--steps``
steps in turn, ``--pause`` seconds apart, for ``--rounds`` rounds: for differences smaller
than the machine's drift from one fresh process to the next, as on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent

OFF = "gcc__cxxflags=,optimizer_excluding=merge_rank_k_updates"
DA_VARIANTS = {  # name: (PYTENSOR_FLAGS, loss form)
    "numba/log": ("linker=numba", "log"),
    "c-noblas/log": (f"linker=cvm,blas__ldflags=,{OFF}", "log"),
    "c-openblas/log": (f"linker=cvm,{OFF}", "log"),
    "numba/logits": ("linker=numba", "logits"),
    "c-openblas/logits": (f"linker=cvm,{OFF}", "logits"),
    "c-openblas/logits+vector-math": ("linker=cvm,optimizer_excluding=merge_rank_k_updates",
                                      "logits"),
    "c-openblas/logits+vector-math+merged-update": ("linker=cvm", "logits"),
    "c-openblas/logits+vector-math+merged-update/openblas-threads": (
        "linker=cvm,optimizer_excluding=use_threaded_blas", "logits"),
    "c-openblas/logits+vector-math+merged-update/mkl": ("linker=cvm", "logits"),
}
NOISE_OFF = "optimizer_excluding=scalar_uniform_bounds"
SDA_VARIANTS = {  # name: (PYTENSOR_FLAGS, static batch size, 0-d array inputs)
    "plain-slice": (NOISE_OFF, False, False),
    "static-batch": (NOISE_OFF, True, False),
    "static-batch/0-d-inputs": (NOISE_OFF, True, True),
    "static-batch/0-d-inputs+scalar-bound-noise": ("", True, True),
    "static-batch/0-d-inputs+scalar-bound-noise/openblas-threads": (
        "optimizer_excluding=use_threaded_blas", True, True),
    "static-batch/0-d-inputs+scalar-bound-noise/gemv-ger-one-thread": ("", True, True),
    "static-batch/0-d-inputs+scalar-bound-noise/mkl": ("", True, True),
}
MKL_SUFFIX = "/mkl"  # every other variant runs on OpenBLAS, whatever the library would choose
OPENBLAS_THREADS_SUFFIX = "/openblas-threads"
LEVEL2_ONE_THREAD_SUFFIX = "/gemv-ger-one-thread"


def give_openblas_its_threads() -> None:
    """Undo what ``fastpath.enable`` did for ``threaded_blas``: OpenBLAS threads itself."""
    import scipy_openblas32

    from deeptutorial.fastpath import threaded_blas

    scipy_openblas32.dll.scipy_openblas_set_num_threads(threaded_blas.threads)


def keep_gemv_ger_on_one_thread() -> None:
    """Split only the matrix products: PyTensor's gemv and ger ops stay, on OpenBLAS's one
    thread."""
    from pytensor.tensor.blas_c import CGemv, CGer

    from deeptutorial.fastpath import threaded_blas

    for op_class in (CGemv, CGer):
        threaded_blas.THREADED.pop(op_class, None)


Step = Callable[[int], object]


def build_dA(loss_form: str, dataset: str) -> tuple[Step, int, dict]:
    """The dA tutorial step as ``step(i)`` on minibatch i, its number of minibatches, and
    facts about the compiled function (first 3 costs, a check)."""
    import numpy as np
    import pytensor
    import pytensor.tensor as pt

    from deeptutorial import dA, load_data
    from deeptutorial.optimizers import sgd
    from deeptutorial.training import batch_indices

    pytensor.config.floatX = "float32"
    (train_x, _), _, _ = load_data(dataset)
    index, x = pt.lscalar("index"), pt.matrix("x")
    da = dA(numpy_rng=np.random.RandomState(123), input=x, n_visible=784, n_hidden=500)
    if loss_form == "log":  # the tutorial's formula, as written there
        z = da.get_reconstructed_input(da.get_hidden_values(x))
        cost = -pt.mean(pt.sum(x * pt.log(z) + (1 - x) * pt.log(1 - z), axis=1))
        updates = sgd(cost, da.params, 0.1)
    else:
        cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
    start = time.perf_counter()
    fn = pytensor.function([index], cost, updates=updates,
                           givens={x: train_x[index * 20:(index + 1) * 20]})
    costs = [float(fn(i)) for i in range(3)]
    indices = batch_indices(2500)
    info = {"first_costs": costs, "compile_and_3_steps_s": time.perf_counter() - start,
            "linker": pytensor.config.linker,
            "blas__ldflags_set": bool(pytensor.config.blas__ldflags),
            "gcc__cxxflags": pytensor.config.gcc__cxxflags,
            "gemm_nodes": sum("Gemm" in str(node.op) for node in fn.maker.fgraph.toposort())}
    return (lambda i: fn(indices[i])), 2500, info


def build_sda_pretrain(variant: tuple[str, bool, bool], dataset: str) -> tuple[Step, int, dict]:
    """The SdA's batch-size-1 pretraining step of layer 0 as ``step(i)``, as ``build_dA``."""
    import numpy as np
    import pytensor
    import pytensor.tensor as pt

    from deeptutorial import SdA, load_data
    from deeptutorial.data import minibatch
    from deeptutorial.training import batch_indices

    _, static_batch, array_inputs = variant
    pytensor.config.floatX = "float32"
    (train_x, _), _, _ = load_data(dataset)
    sda = SdA(np.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[1000],
              corruption_levels=[0.1])
    index, level, lr = pt.lscalar("index"), pt.scalar("corruption"), pt.scalar("lr")
    cost, updates = sda.dA_layers[0].get_cost_updates(level, lr)
    rows = minibatch(train_x, index, 1) if static_batch else train_x[index:index + 1]
    fn = pytensor.function([index, level, lr], cost, updates=updates, givens={sda.x: rows},
                           rebuild_strict=not static_batch)
    n_rows = train_x.get_value(borrow=True).shape[0]
    if array_inputs:
        indices = batch_indices(n_rows)
        level_value, lr_value = (np.asarray(v, dtype="float32") for v in (0.1, 0.001))
        return (lambda i: fn(indices[i], level_value, lr_value)), n_rows, {}
    return (lambda i: fn(i, 0.1, 0.001)), n_rows, {}


def build_variant(kind: str, name: str, dataset: str) -> tuple[Step, int, dict]:
    """Build one variant in this process (whose PYTENSOR_FLAGS are the variant's)."""
    if name.endswith(OPENBLAS_THREADS_SUFFIX):
        give_openblas_its_threads()
    if name.endswith(LEVEL2_ONE_THREAD_SUFFIX):
        keep_gemv_ger_on_one_thread()
    if kind == "dA":
        return build_dA(DA_VARIANTS[name][1], dataset)
    return build_sda_pretrain(SDA_VARIANTS[name], dataset)


def _timed(step: Step, steps: int, n_batches: int, first: int = 0) -> float:
    """Seconds per step over ``steps`` consecutive minibatches from ``first``."""
    start = time.perf_counter()
    for i in range(first, first + steps):
        float(step(i % n_batches))
    return (time.perf_counter() - start) / steps


def probe(kind: str, name: str, args: argparse.Namespace) -> None:
    """Child process: build, warm up, time ``--steps`` steps, print one JSON line."""
    step, n_batches, info = build_variant(kind, name, args.dataset)
    _timed(step, 3, n_batches)
    print(json.dumps({"seconds_per_step": _timed(step, args.steps, n_batches, 3), **info}))


def serve(kind: str, name: str, args: argparse.Namespace) -> None:
    """Child process of ``--alternate``: build, say "ready", then time one block of
    ``--steps`` steps for every line read, printing its seconds per step."""
    step, n_batches, _ = build_variant(kind, name, args.dataset)
    _timed(step, 3, n_batches)
    print("ready", flush=True)
    done = 3
    for _ in sys.stdin:
        print(_timed(step, args.steps, n_batches, done), flush=True)
        done += args.steps


def child_command(mode: str, kind: str, name: str, args: argparse.Namespace) -> tuple[list, dict]:
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = (DA_VARIANTS if kind == "dA" else SDA_VARIANTS)[name][0]
    env["DEEPTUTORIAL_BLAS"] = "mkl" if name.endswith(MKL_SUFFIX) else "openblas"
    cmd = [sys.executable, str(Path(__file__).resolve()), mode, kind, name,
           "--steps", str(args.steps)]
    if args.dataset is not None:  # otherwise the child reads the default, as this process
        cmd += ["--dataset", args.dataset]
    return cmd, env


def run_variant(kind: str, name: str, args: argparse.Namespace) -> dict:
    cmd, env = child_command("--probe", kind, name, args)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def alternate(variants: list[tuple[str, str]], args: argparse.Namespace) -> dict:
    """One persistent process per variant; ``--rounds`` rounds of one block each, the order
    rotating, ``--pause`` seconds of idle machine before every block (so that no other
    process's threads are still spinning). Seconds per step of every block."""
    children = {}
    for kind, name in variants:
        cmd, env = child_command("--serve", kind, name, args)
        children[(kind, name)] = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                                                  stdout=subprocess.PIPE, text=True)
    for child in children.values():
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("a variant's process did not start (run it with --probe to see why)")
    blocks = {key: [] for key in children}
    keys = list(children)
    for r in range(args.rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            time.sleep(args.pause)
            children[key].stdin.write("go\n")
            children[key].stdin.flush()
            blocks[key].append(float(children[key].stdout.readline()))
    for child in children.values():
        child.stdin.close()
        child.wait()
    return blocks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--output", default=str(HERE / "choices.json"))
    parser.add_argument("--variants", nargs="+", metavar="NAME",
                        help="run only these variants (default: all)")
    parser.add_argument("--alternate", action="store_true",
                        help="one persistent process per variant, blocks of --steps steps in "
                             "turn, --rounds of them (for variants whose difference is smaller "
                             "than the machine's drift between processes)")
    parser.add_argument("--pause", type=float, default=0.2,
                        help="with --alternate: idle seconds before every block")
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    if args.probe or args.serve:
        kind, name = args.probe or args.serve
        (probe if args.probe else serve)("dA" if kind == "dA" else "sda", name, args)
        return
    from deeptutorial.fastpath.blas import cpu_model

    variants = [("dA", n) for n in DA_VARIANTS] + [("SdA pretrain b=1", n) for n in SDA_VARIANTS]
    if args.variants:
        unknown = set(args.variants) - {name for _, name in variants}
        if unknown:
            parser.error(f"unknown variants: {sorted(unknown)}")
        variants = [(kind, name) for kind, name in variants if name in args.variants]
    if args.alternate:
        blocks = alternate(variants, args)
        runs = {f"{k} {n}": [{"seconds_per_step": t} for t in blocks[(k, n)]] for k, n in variants}
    else:
        runs = {f"{k} {n}": [] for k, n in variants}
        for r in range(args.rounds):
            for kind, name in variants:
                runs[f"{kind} {name}"].append(
                    run_variant("dA" if kind == "dA" else "sda", name, args))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    rows, reference = {}, {}  # reference: the first variant of each kind, for paired ratios
    for (kind, _), (key, results) in zip(variants, runs.items()):
        per_step = [res.get("seconds_per_step") for res in results]
        row = {"median_ms_per_step": None, "rounds": results}
        if None not in per_step:
            reference.setdefault(kind, per_step)
            row.update(median_ms_per_step=1e3 * statistics.median(per_step),
                       min_ms_per_step=1e3 * min(per_step),
                       paired_to_first_of_kind=statistics.median(
                           a / b for a, b in zip(per_step, reference[kind])))
            if kind == "dA":
                row["median_s_per_epoch"] = 2500 * statistics.median(per_step)
        rows[key] = row
        if row["median_ms_per_step"] is None:
            print(f"{key:62s} failed: {results}")
            continue
        print(f"{key:62s} {row['median_ms_per_step']:8.3f} ms/step (min {row['min_ms_per_step']:.3f})"
              f"  paired {row['paired_to_first_of_kind']:.3f}"
              + (f"  {row['median_s_per_epoch']:6.2f} s/epoch" if kind == "dA" else ""))
    record = {"command": shlex.join(["python"] + sys.argv),
              "started_loadavg": os.getloadavg(), "nproc": os.cpu_count(),
              "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS",
                                                            "OPENBLAS_NUM_THREADS",
                                                            "MKL_NUM_THREADS")},
              "cpu": cpu_model(),
              "settings": vars(args), "results": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(record, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
