"""Speed of the dA and SdA training steps per backend, against PyTorch and the arithmetic floor.

    python benchmarks/bench.py --output benchmarks/results.json

Times, in interleaved rounds (every configuration and backend once per round, ``--rounds``
rounds, median and minimum reported, and against PyTorch both the ratio of the medians and
the median of each round's ratio, ``paired``, which a machine whose speed drifts during the
run moves less):

* the dA tutorial step (784-500 tied weights, batch 20, 0% corruption, SGD 0.1,
  cross-entropy), as seconds per 2,500-step epoch;
* the SdA pretraining step of one dA layer (784 -> n, corruption ``--pretrain-corruption``,
  learning rate 0.001) and the SdA fine-tuning step of the 784-n-n-n-10 network (SGD 0.1),
  for every ``--batch-sizes`` x ``--hidden-sizes``, as ms per step and us per example;

on PyTensor's C backend (CVM linker) with the BLAS the library chooses (``c``: MKL on an Intel
CPU with the ``mkl`` extra, else OpenBLAS; see ``deeptutorial/fastpath``), the same linked
to OpenBLAS when that is not the library's choice (``c-openblas``), PyTensor's NUMBA mode
(PyTensor 3's own default), JAX when
importable, a hand-written NumPy version and PyTorch eager when importable. Before timing,
each backend's first ``--verify-steps`` costs are checked against the C backend's from the
same weights.
The machine's float32 GEMM rate and memory bandwidth are measured in the same run and turned
into a floor for each configuration. Compile times (cold and warm cache) are measured in
subprocesses. Everything goes to ``--output`` as JSON. This is a script, not a test: run it
on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

from deeptutorial import SdA, dA, load_data  # noqa: E402
from deeptutorial.fastpath.blas import (cpu_model, openblas_ldflags, take_openblas_threads,  # noqa: E402
                                  usable_cores)
from deeptutorial.data import minibatch  # noqa: E402
from deeptutorial.info import backend_info  # noqa: E402
from deeptutorial.optimizers import sgd  # noqa: E402
from deeptutorial.training import batch_indices, step_mode  # noqa: E402
from deeptutorial import backends  # noqa: E402

try:
    import torch
except ImportError:
    torch = None
try:
    import jax  # noqa: F401  (only PyTensor's JAX mode uses it)
except ImportError:
    jax = None

N_VISIBLE = 784
N_CLASSES = 10
DA_HIDDEN, DA_BATCH, DA_LR = 500, 20, 0.1
DA_EPOCH_STEPS = 50_000 // DA_BATCH  # one epoch of the tutorial's 50,000 training images
PRETRAIN_LR, FINETUNE_LR = 0.001, 0.1
SDA_DEPTH = 3  # the tutorial's three hidden layers
ALL_BACKENDS = ("c", "c-openblas", "numba", "jax", "numpy", "torch")
PYTENSOR_BACKENDS = ("c", "c-openblas", "numba", "jax")
REFERENCE = "c"  # the library's default backend


# --------------------------------------------------------------------------- configurations

@dataclass(frozen=True)
class Config:
    kind: str  # "dA", "pretrain" or "finetune"
    batch: int
    hidden: int

    @property
    def name(self) -> str:
        return f"{self.kind} b={self.batch} n={self.hidden}"

    def layer_sizes(self) -> list[int]:
        if self.kind == "finetune":
            return [N_VISIBLE] + [self.hidden] * SDA_DEPTH + [N_CLASSES]
        return [N_VISIBLE, self.hidden]

    def flops(self) -> int:
        """Floating-point operations of the matrix products of one step (2 per multiply-add).

        dA and pretraining (tied W of n_in x n): 5 GEMMs of B x n_in x n multiply-adds:
        forward x W and h W^T; backward dz W (to the hidden layer), dz^T h and x^T dh (the two
        halves of dW). The input's gradient is never needed, so there is no sixth.
        Fine-tuning (layers d0..d4): every layer k does its forward product and its weight
        gradient (B d_{k-1} d_k each); all but the first also pass the gradient down.
        Element-wise work (sigmoids, softmax, updates) is O(B n + params), left out.
        """
        sizes = self.layer_sizes()
        products = [self.batch * a * b for a, b in zip(sizes, sizes[1:])]
        if self.kind == "finetune":
            return 2 * (3 * sum(products) - products[0])
        return 2 * 5 * products[0]

    def weight_bytes(self) -> int:
        """Bytes that an update must move at the very least: every parameter read once and
        written once (float32). A real step reads W more often (the dA needs W for the
        forward pass, the reconstruction and the update), so this is a strict lower bound."""
        sizes = self.layer_sizes()
        n_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
        if self.kind != "finetune":
            n_params += sizes[0]  # the dA's visible bias
        return 2 * 4 * n_params


def make_configs(batch_sizes: list[int], hidden_sizes: list[int]) -> list[Config]:
    configs = [Config("dA", DA_BATCH, DA_HIDDEN)]
    for kind in ("pretrain", "finetune"):
        configs += [Config(kind, b, n) for n in hidden_sizes for b in batch_sizes]
    return configs


def initial_params(config: Config) -> list[np.ndarray]:
    """The tutorial's initial weights, built by the library itself (same seeds)."""
    return [p.get_value().copy() for p in library_model(config)[1]]


# --------------------------------------------------------------------------- PyTensor

def pytensor_mode(backend: str):
    """The library's mode for ``backend`` (``c-openblas`` is C), as ``training.step_mode``."""
    return step_mode("c" if backend == "c-openblas" else backend)


def compile_function(backend: str, *args, **kwargs):
    """``pytensor.function``; for ``c-openblas``, linked to OpenBLAS (one thread, the split of
    ``threaded_blas`` as with MKL) whatever BLAS the library chose for ``c``."""
    if backend != "c-openblas":
        return pytensor.function(*args, **kwargs)
    take_openblas_threads()
    with pytensor.config.change_flags(blas__ldflags=openblas_ldflags()):
        return pytensor.function(*args, **kwargs)


def library_model(config: Config) -> tuple:
    """(model, params, symbolic input x, symbolic labels y or None) from deeptutorial.

    The pretraining step is that of layer 0 of an SdA, whose graph does not depend on the
    layers above: a one-layer SdA builds it without allocating unused weights.
    """
    if config.kind == "dA":
        x = pt.matrix("x")
        model = dA(numpy_rng=np.random.RandomState(123), input=x, n_visible=N_VISIBLE,
                   n_hidden=config.hidden)
        return model, model.params, x, None
    depth = SDA_DEPTH if config.kind == "finetune" else 1
    model = SdA(np.random.RandomState(89677), n_ins=N_VISIBLE,
                hidden_layers_sizes=[config.hidden] * depth, n_outs=N_CLASSES,
                corruption_levels=[0.1, 0.2, 0.3][:depth])
    if config.kind == "pretrain":
        return model, model.dA_layers[0].params, model.x, None
    return model, model.params, model.x, model.y


StepFn = Callable[[int, float], float]  # step(minibatch index, corruption level) -> cost


def build_pytensor_step(backend: str, config: Config, data: dict) -> tuple[StepFn, list]:
    """Compile the training function as the library and scripts do, with ``mode`` added.

    Returns (step(i, level) -> cost, params): ``i`` is the minibatch index. The minibatch
    is cut from the shared training set by ``deeptutorial.data.minibatch``, as in the library
    (a slice on C, a gather of the same rows on the other backends, which JAX needs), with
    its static batch size; for JAX the training set is held on its device.
    """
    model, params, x, y = library_model(config)
    if config.kind == "dA":  # exactly scripts/test_dA.py
        cost, updates = model.get_cost_updates(corruption_level=0.0, learning_rate=DA_LR)
        extra, extra_values = [], (lambda _level: ())
    elif config.kind == "pretrain":  # as SdA.pretraining_functions, layer 0
        corruption, lr = pt.scalar("corruption"), pt.scalar("lr")
        cost, updates = model.dA_layers[0].get_cost_updates(corruption, lr)
        extra = [corruption, lr]
        # 0-d arrays, made once, as scripts/test_SdA.py passes them (no conversion per call)
        lr_value, levels = np.asarray(PRETRAIN_LR, dtype=lr.dtype), {}

        def extra_values(level: float) -> tuple:
            if level not in levels:
                levels[level] = np.asarray(level, dtype=corruption.dtype)
            return levels[level], lr_value
    else:  # as SdA.build_finetune_functions' train_fn
        cost = model.finetune_cost
        updates = sgd(cost, model.params, FINETUNE_LR)
        extra, extra_values = [], (lambda _level: ())
    data_vars = [x] if y is None else [x, y]
    name = "c" if backend == "c-openblas" else backend
    shared = [data["x"], data["y"]][:len(data_vars)]
    if name == "jax":  # the data on the JAX device, as the scripts keep them there
        backends.quiet_jax()
        shared = [backends.on_device(pytensor.shared(a, borrow=True), "jax")
                  for a in (data["x_np"], data["y_np"])[:len(data_vars)]]
    # the minibatches as the library cuts them: a slice on C, a gather elsewhere
    index = pt.lscalar("index")
    givens = {var: minibatch(values, index, config.batch, name)
              for var, values in zip(data_vars, shared)}
    fn = compile_function(backend, [index] + extra, cost, updates=updates, givens=givens,
                          mode=pytensor_mode(backend), rebuild_strict=False)
    indices = batch_indices(len(data["x_np"]) // config.batch)  # as the library's loops
    return (lambda i, level: fn(indices[i], *extra_values(level))), params


# --------------------------------------------------------------------------- NumPy

def sigmoid_(a: np.ndarray) -> np.ndarray:
    """In-place logistic sigmoid (exp overflow to inf gives the right limit 0)."""
    with np.errstate(over="ignore"):
        np.negative(a, out=a)
        np.exp(a, out=a)
    a += 1
    return np.reciprocal(a, out=a)


def numpy_dA_step(params: list[np.ndarray], x: np.ndarray, keep: np.ndarray | None,
                  lr: float) -> float:
    """One SGD step of the tied-weights dA; ``keep`` is the 0/1 corruption mask (None: no
    corruption, as the library's dA at a Python 0, which draws no mask)."""
    W, b, b_prime = params
    batch = np.float32(len(x))
    x_tilde = x if keep is None else x * keep
    h = sigmoid_(x_tilde @ W + b)
    a = h @ W.T
    a += b_prime
    # cross-entropy of sigmoid(a) against x, in the stable form PyTensor also rewrites to
    cost = float((np.logaddexp(np.float32(0), a) - x * a).sum(dtype=np.float64) / batch)
    dz = sigmoid_(a)
    dz -= x
    dz /= batch
    dh = dz @ W
    dh *= h * (1 - h)
    grad_W = x_tilde.T @ dh
    grad_W += dz.T @ h
    grad_W *= np.float32(lr)
    W -= grad_W
    b -= np.float32(lr) * dh.sum(axis=0)
    b_prime -= np.float32(lr) * dz.sum(axis=0)
    return cost


def numpy_finetune_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """One SGD step of the sigmoid MLP + softmax regression, negative log-likelihood."""
    Ws, bs = params[0::2], params[1::2]
    batch = len(x)
    acts = [x]
    for W, b in zip(Ws[:-1], bs[:-1]):
        acts.append(sigmoid_(acts[-1] @ W + b))
    logits = acts[-1] @ Ws[-1] + bs[-1]
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    rows = np.arange(batch)
    cost = float(-log_p[rows, y].mean(dtype=np.float64))
    delta = np.exp(log_p)
    delta[rows, y] -= 1
    delta /= np.float32(batch)
    for k in range(len(Ws) - 1, -1, -1):
        grad_W = acts[k].T @ delta
        grad_b = delta.sum(axis=0)
        if k > 0:  # pass the gradient down with the weights before their update
            delta = delta @ Ws[k].T
            delta *= acts[k] * (1 - acts[k])
        grad_W *= np.float32(lr)
        Ws[k] -= grad_W
        bs[k] -= np.float32(lr) * grad_b
    return cost


def build_numpy_step(config: Config, data: dict, params: list[np.ndarray]) -> StepFn:
    x_all, y_all = data["x_np"], data["y_np"]
    rng = np.random.default_rng(0)

    def step(i: int, level: float) -> float:
        rows = slice(i * config.batch, (i + 1) * config.batch)
        if config.kind == "finetune":
            return numpy_finetune_step(params, x_all[rows], y_all[rows], FINETUNE_LR)
        x = x_all[rows]
        if config.kind == "dA":
            return numpy_dA_step(params, x, None, DA_LR)
        # the SdA's corruption level is a graph input: its mask is drawn even at level 0
        keep = (rng.random(x.shape, dtype=np.float32) < np.float32(1 - level)).astype(np.float32)
        return numpy_dA_step(params, x, keep, PRETRAIN_LR)
    return step


# --------------------------------------------------------------------------- PyTorch

def build_torch_step(config: Config, data: dict, params: list) -> StepFn:
    """Eager PyTorch, autograd for the gradients, in-place SGD under no_grad."""
    F = torch.nn.functional
    x_all = torch.from_numpy(data["x_np"])  # shares memory, like the shared variable
    y_all = torch.from_numpy(data["y_np"].astype(np.int64))
    lr = {"dA": DA_LR, "pretrain": PRETRAIN_LR, "finetune": FINETUNE_LR}[config.kind]
    generator = torch.Generator().manual_seed(0)

    def loss_dA(x, level):
        W, b, b_prime = params
        if config.kind == "pretrain":
            x_tilde = x * (torch.rand(x.shape, generator=generator) < 1 - level)
        else:
            x_tilde = x
        h = torch.sigmoid(x_tilde @ W + b)
        a = h @ W.T + b_prime
        return F.binary_cross_entropy_with_logits(a, x, reduction="sum") / x.shape[0]

    def loss_finetune(x, y):
        h = x
        for W, b in zip(params[0:-2:2], params[1:-2:2]):
            h = torch.sigmoid(h @ W + b)
        return F.cross_entropy(h @ params[-2] + params[-1], y)

    def step(i: int, level: float) -> float:
        rows = slice(i * config.batch, (i + 1) * config.batch)
        if config.kind == "finetune":
            cost = loss_finetune(x_all[rows], y_all[rows])
        else:
            cost = loss_dA(x_all[rows], level)
        cost.backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-lr)
                p.grad = None
        return cost.item()
    return step


# --------------------------------------------------------------------------- runners

@dataclass
class Runner:
    """One (configuration, backend) pair: a step function over its own parameters."""
    config: Config
    backend: str
    step: StepFn
    set_params: Callable[[list[np.ndarray]], None]
    n_batches: int
    compile_seconds: float | None = None
    next_batch: int = 0
    steps_per_block: int = 0
    block_seconds: list[float] = field(default_factory=list)  # seconds per step, one per round
    check: dict = field(default_factory=dict)

    def run(self, steps: int, level: float) -> float:
        """Run ``steps`` consecutive minibatches; seconds per step. Each cost is turned into
        a Python float, as the training loops do: this waits for asynchronous backends (JAX),
        and each step's cost depends on the previous step's updates."""
        start = time.perf_counter()
        for _ in range(steps):
            float(self.step(self.next_batch, level))
            self.next_batch = (self.next_batch + 1) % self.n_batches
        return (time.perf_counter() - start) / steps


def make_runner(backend: str, config: Config, data: dict, init: list[np.ndarray]) -> Runner:
    n_batches = len(data["x_np"]) // config.batch
    start = time.perf_counter()
    if backend in PYTENSOR_BACKENDS:
        step, shared = build_pytensor_step(backend, config, data)

        def set_params(values):
            for var, value in zip(shared, values):
                var.set_value(value.copy())
    elif backend == "numpy":
        arrays = [v.copy() for v in init]
        step = build_numpy_step(config, data, arrays)

        def set_params(values):
            for var, value in zip(arrays, values):
                var[...] = value
    else:
        tensors = [torch.from_numpy(v.copy()).requires_grad_() for v in init]
        step = build_torch_step(config, data, tensors)

        def set_params(values):
            with torch.no_grad():
                for var, value in zip(tensors, values):
                    var.copy_(torch.from_numpy(value))
    runner = Runner(config, backend, step, set_params, n_batches)
    set_params(init)
    float(runner.step(0, 0.0))  # a JIT compiles on its first call: count it as compiling
    if backend in PYTENSOR_BACKENDS:
        runner.compile_seconds = time.perf_counter() - start
    return runner


def available_backends(wanted: list[str]) -> tuple[list[str], list[str]]:
    """The wanted backends that can run here, and a message per skipped one."""
    usable, skipped = [], []
    for backend in wanted:
        if backend == "torch" and torch is None:
            skipped.append("torch: PyTorch is not installed (a CPU build is enough), skipped")
        elif backend == "c-openblas" and (openblas_ldflags() is None or
                                          pytensor.config.blas__ldflags == openblas_ldflags()):
            skipped.append("c-openblas: the library's own choice (c) is OpenBLAS here, skipped")
        elif backend == "jax" and jax is None:
            skipped.append("jax: JAX is not installed, PyTensor's JAX mode skipped")
        else:
            usable.append(backend)
    return usable, skipped


def verify(runners: list[Runner], init: list[np.ndarray], steps: int, rtol: float) -> None:
    """First ``steps`` costs from the same weights on the same minibatches (no corruption),
    against the ``REFERENCE`` backend's; the result goes into each runner's ``check``."""
    costs = {}
    for runner in runners:
        runner.set_params(init)
        costs[runner.backend] = [float(runner.step(i % runner.n_batches, 0.0))
                                 for i in range(steps)]
    ref = costs.get(REFERENCE)
    for runner in runners:
        got = costs[runner.backend]
        if ref is None:
            runner.check = {"costs": got, "reference": None, "ok": None}
            continue
        rel = max(abs(g - r) / max(abs(r), 1e-12) for g, r in zip(got, ref))
        runner.check = {"costs": got, "max_rel_diff": rel, "ok": bool(rel <= rtol)}
        if rel > rtol:
            print(f"WARNING {runner.config.name} {runner.backend}: costs {got} differ from "
                  f"{REFERENCE} {ref} by {rel:.2e} relative (> {rtol:g})", file=sys.stderr)


# --------------------------------------------------------------------------- machine limits

def gemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 np.dot rate on n x n matrices (2 n^3 flops), in GFLOP/s."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.dot(a, b, out=out)  # warm up threads and pages
    best = min(_timed(lambda: np.dot(a, b, out=out)) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def copy_bandwidth_gbs(megabytes: float = 256, repeats: int = 5, threads: int = 1) -> float:
    """Best np.copyto rate of a float32 array, counting the read and the write; with
    ``threads`` > 1 each thread copies its own slice (NumPy lets go of the GIL to copy).
    Small arrays are copied many times per timing, so they stay in cache, as a training
    step's weights do between steps."""
    src = np.ones(max(1, int(megabytes * 2 ** 20) // 4), dtype=np.float32)
    dst = np.zeros_like(src)
    slices = [slice(len(src) * t // threads, len(src) * (t + 1) // threads)
              for t in range(threads)]
    copies = max(1, int(256 / megabytes))

    def copy_slice(part: slice) -> None:
        for _ in range(copies):
            np.copyto(dst[part], src[part])

    def copy_all() -> None:
        workers = [threading.Thread(target=copy_slice, args=(part,)) for part in slices]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    copy_all()  # warm up: pages and caches
    best = min(_timed(copy_all) for _ in range(repeats)) / copies
    return 2 * src.nbytes / best / 1e9


def cache_bandwidths(configs: list[Config]) -> dict:
    """Per configuration: the copy rate of an array the size of its parameters, on all the
    cores this process may use; the rate their read and write could reach while they stay in
    cache between steps."""
    return {c: copy_bandwidth_gbs(c.weight_bytes() / 2 / 2 ** 20, threads=usable_cores())
            for c in configs}


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def floor_seconds(config: Config, gflops: float, gbs: float, cache_gbs: float) -> dict:
    """The floor: the step's products at the GEMM rate, or its parameters read and written
    once at the main-memory copy rate, whichever takes longer. The cache floor puts the
    parameters' read and write at ``cache_gbs`` instead (``cache_bandwidths``)."""
    compute = config.flops() / (gflops * 1e9)
    memory = config.weight_bytes() / (gbs * 1e9)
    cached = config.weight_bytes() / (cache_gbs * 1e9)
    return {"compute_s": compute, "memory_s": memory, "floor_s": max(compute, memory),
            "bound": "memory" if memory > compute else "compute",
            "cache_gbs": cache_gbs, "cache_floor_s": max(compute, cached)}


# --------------------------------------------------------------------------- compile times

def compile_probe(backend: str, kind: str, batch: int, hidden: int, dataset: str) -> dict:
    """In a fresh process: build one training function; seconds to build, first and second call."""
    data = load_dataset(dataset)
    config = Config(kind, batch, hidden)
    start = time.perf_counter()
    step, _ = build_pytensor_step(backend, config, data)
    built = time.perf_counter()
    float(step(0, 0.0))  # float() waits for asynchronous backends
    first = time.perf_counter()
    float(step(1 % (len(data["x_np"]) // batch), 0.0))
    second = time.perf_counter()
    return {"build_s": built - start, "first_call_s": first - built,
            "second_call_s": second - first,
            "compile_s": (built - start) + (first - built) - (second - first)}


def run_probe(backend: str, config: Config, dataset: str, cache_dir: Path) -> dict:
    """Run ``compile_probe`` in a subprocess whose PyTensor and numba caches live in ``cache_dir``.

    PyTensor keeps its C modules in ``compiledir`` and its numba cache in
    ``base_compiledir/numba``: pointing ``base_compiledir`` there moves both.
    """
    env = dict(os.environ)
    flags = f"base_compiledir={cache_dir},compiledir={cache_dir / 'compiledir'}"
    env["PYTENSOR_FLAGS"] = ",".join(f for f in (env.get("PYTENSOR_FLAGS"), flags) if f)
    env["NUMBA_CACHE_DIR"] = str(cache_dir / "numba-cache")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", backend, config.kind,
           "--probe-batch", str(config.batch), "--probe-hidden", str(config.hidden),
           *(["--dataset", dataset] if dataset else [])]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def compile_times(backends: list[str], configs: list[Config], dataset: str) -> list[dict]:
    """Cold (empty caches) then warm (same caches, new process) compile of each kind of
    training function, per PyTensor backend. Shapes are not static, so one batch and hidden
    size per kind stands for all."""
    rows = []
    for kind in ("dA", "pretrain", "finetune"):
        of_kind = [c for c in configs if c.kind == kind]
        if not of_kind:
            continue
        config = next((c for c in of_kind if c.batch == DA_BATCH), of_kind[0])
        for backend in (b for b in backends if b in PYTENSOR_BACKENDS):
            with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
                cold = run_probe(backend, config, dataset, Path(tmp))
                warm = run_probe(backend, config, dataset, Path(tmp))
            rows.append({"kind": kind, "config": config.name, "backend": backend,
                         "cold": cold, "warm": warm})
            print(f"compile {config.name:22s} {backend:6s} cold {_fmt_compile(cold)}, "
                  f"warm {_fmt_compile(warm)}", flush=True)
    return rows


def _fmt_compile(probe: dict) -> str:
    return f"error: {probe['error']}" if "error" in probe else f"{probe['compile_s']:.2f} s"


# --------------------------------------------------------------------------- machine info

def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_model": cpu_model() or None, "nproc": os.cpu_count(),
            "affinity": usable_cores(),
            "loadavg_at_start": os.getloadavg(),
            "numpy": np.__version__, "pytensor": pytensor.__version__,
            # the library folder as SITE_LIB: the record names no one machine's paths
            "pytensor_blas__ldflags": re.sub(r"(-L|-rpath,)\S*?(?=\s|$)", r"\1SITE_LIB",
                                             pytensor.config.blas__ldflags),
            "pytensor_c_blas": backend_info()["blas"].get("pytensor_c"),
            "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                          "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}}
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    info["numpy_blas"] = _numpy_blas()
    try:
        import threadpoolctl
        info["threadpoolctl"] = threadpoolctl.threadpool_info()
    except ImportError:
        info["threadpoolctl"] = None
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_num_threads"] = torch.get_num_threads()
        info["torch_parallel_info"] = torch.__config__.parallel_info()
    else:
        info["torch"] = None
    info["jax"] = getattr(sys.modules.get("jax"), "__version__", None)
    return info


def _numpy_blas():
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # older NumPy: no dict mode
        return None


# --------------------------------------------------------------------------- main

def load_dataset(dataset: str) -> dict:
    (train_x, train_y), _, _ = load_data(dataset)
    return {"x": train_x, "y": train_y, "x_np": train_x.get_value(borrow=True),
            "y_np": train_y.get_value(borrow=True)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None,
                        help="MNIST folder (or 'sample' for a quick check)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=500,
                        help="steps per timed block of the dA (and at most that for the SdA)")
    parser.add_argument("--block-seconds", type=float, default=1.0,
                        help="aim of each SdA block's length; sets its number of steps")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 20, 100, 500])
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--backends", nargs="+", choices=ALL_BACKENDS, default=list(ALL_BACKENDS))
    parser.add_argument("--no-dA", action="store_true", help="leave out the dA tutorial step")
    parser.add_argument("--pretrain-corruption", type=float, default=0.1)
    parser.add_argument("--verify-steps", type=int, default=3)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before each block")
    parser.add_argument("--no-compile-times", action="store_true",
                        help="skip the cold/warm compile measurements (subprocesses)")
    parser.add_argument("--output", default=str(HERE / "results.json"))
    parser.add_argument("--probe", nargs=2, metavar=("BACKEND", "KIND"), help=argparse.SUPPRESS)
    parser.add_argument("--probe-batch", type=int, default=DA_BATCH, help=argparse.SUPPRESS)
    parser.add_argument("--probe-hidden", type=int, default=DA_HIDDEN, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_runners(configs: list[Config], backends: list[str], data: dict,
                  args: argparse.Namespace) -> tuple[list[Runner], list[str]]:
    runners, skipped = [], []
    n_rows = len(data["x_np"])
    for config in configs:
        if config.batch > n_rows:
            skipped.append(f"{config.name}: batch larger than the {n_rows} training rows")
            continue
        init = initial_params(config)
        group = []
        for backend in backends:
            try:
                group.append(make_runner(backend, config, data, init))
            except Exception as exc:  # e.g. an op the JAX backend cannot translate
                skipped.append(f"{config.name} {backend}: {type(exc).__name__}: {exc}"[:300])
        verify(group, init, args.verify_steps, args.rtol)
        for runner in group:
            runner.steps_per_block = block_steps(runner, args)
        print(f"built {config.name:22s} " + ", ".join(
            f"{r.backend}" + (" ok" if r.check.get("ok") else " ?" if r.check.get("ok") is None
                              else " MISMATCH") for r in group), flush=True)
        runners += group
    return runners, skipped


def block_steps(runner: Runner, args: argparse.Namespace) -> int:
    """--steps for the dA; for the SdA as many as fill about --block-seconds (3..--steps)."""
    if runner.config.kind == "dA":
        return args.steps
    per_step = runner.run(1, args.pretrain_corruption)
    return max(3, min(args.steps, math.ceil(args.block_seconds / per_step)))


def time_rounds(runners: list[Runner], args: argparse.Namespace) -> None:
    """Each round runs every runner once; the order of backends rotates between rounds so
    that none always runs right after the same neighbour."""
    for r in range(args.rounds):
        start = time.perf_counter()
        configs = list(dict.fromkeys(run.config for run in runners))
        for config in configs:
            group = [run for run in runners if run.config == config]
            shift = r % len(group)
            for runner in group[shift:] + group[:shift]:
                level = args.pretrain_corruption if config.kind == "pretrain" else 0.0
                runner.run(args.warmup, level)
                runner.block_seconds.append(runner.run(runner.steps_per_block, level))
        print(f"round {r + 1}/{args.rounds}: {time.perf_counter() - start:.1f} s", flush=True)


def summarize(runners: list[Runner], floors: dict) -> list[dict]:
    torch_blocks = {r.config: r.block_seconds for r in runners if r.backend == "torch"}
    torch_median = {c: statistics.median(blocks) for c, blocks in torch_blocks.items()}
    rows = []
    for r in runners:
        median, best = statistics.median(r.block_seconds), min(r.block_seconds)
        floor = floors[r.config]["floor_s"]
        row = {"config": r.config.name, "kind": r.config.kind, "batch": r.config.batch,
               "hidden": r.config.hidden, "backend": r.backend,
               "steps_per_block": r.steps_per_block,
               "seconds_per_step": r.block_seconds, "median_s_per_step": median,
               "min_s_per_step": best, "per_example_us": 1e6 * median / r.config.batch,
               "ratio_to_torch": (median / torch_median[r.config]
                                  if r.config in torch_median else None),
               # each round's time over PyTorch's in the same round: robust to slow drifts
               # of the machine's speed, which move both
               "paired_ratio_to_torch": (statistics.median(
                   a / b for a, b in zip(r.block_seconds, torch_blocks[r.config]))
                   if r.config in torch_blocks else None),
               "ratio_to_floor": median / floor,
               "ratio_to_cache_floor": median / floors[r.config]["cache_floor_s"],
               "compile_in_run_s": r.compile_seconds,
               "verification": r.check}
        if median < floor:
            print(f"WARNING {r.config.name} {r.backend}: {median:.3g} s/step is below the floor "
                  f"{floor:.3g} s (weights held in cache, a noisy peak measurement, or a "
                  f"timing that does not wait for the work)", file=sys.stderr)
        if r.config.kind == "dA":
            row["median_s_per_epoch"] = median * DA_EPOCH_STEPS
            row["min_s_per_epoch"] = best * DA_EPOCH_STEPS
        rows.append(row)
    return rows


def print_table(rows: list[dict], floors: dict) -> None:
    """One row per configuration and backend, then the configuration's floor."""
    head = (f"{'config':22s} {'backend':7s} {'median':>9s} {'min':>9s} {'unit':8s} "
            f"{'us/ex':>8s} {'x torch':>8s} {'paired':>7s} {'x floor':>8s} {'x cache':>8s} check")
    print(head)
    print("-" * len(head))
    for k, row in enumerate(rows):
        if row["kind"] == "dA":
            median, best, unit = row["median_s_per_epoch"], row["min_s_per_epoch"], "s/epoch"
        else:
            median, best = 1e3 * row["median_s_per_step"], 1e3 * row["min_s_per_step"]
            unit = "ms/step"
        ratio = "-" if row["ratio_to_torch"] is None else f"{row['ratio_to_torch']:.2f}"
        paired = ("-" if row["paired_ratio_to_torch"] is None
                  else f"{row['paired_ratio_to_torch']:.2f}")
        ok = row["verification"].get("ok")
        check = ("ref" if row["backend"] == REFERENCE else "ok" if ok
                 else "?" if ok is None else "FAIL")
        print(f"{row['config']:22s} {row['backend']:7s} {median:9.3f} {best:9.3f} {unit:8s} "
              f"{row['per_example_us']:8.1f} {ratio:>8s} {paired:>7s} {row['ratio_to_floor']:8.1f} "
              f"{row['ratio_to_cache_floor']:8.1f} {check}")
        if k + 1 == len(rows) or rows[k + 1]["config"] != row["config"]:
            floor = floors[row["config"]]
            scale = DA_EPOCH_STEPS if row["kind"] == "dA" else 1e3
            print(f"{row['config']:22s} {'floor':7s} {scale * floor['floor_s']:9.3f} {'':9s} "
                  f"{unit:8s} {1e6 * floor['floor_s'] / row['batch']:8.1f} {'':8s} {'':7s} {'':8s} "
                  f"{floor['bound']}-bound")
            print(f"{row['config']:22s} {'cache':7s} {scale * floor['cache_floor_s']:9.3f} "
                  f"{'':9s} {unit:8s} {1e6 * floor['cache_floor_s'] / row['batch']:8.1f} "
                  f"{'':8s} {'':7s} {'':8s} {'':8s} params copied at "
                  f"{floor['cache_gbs']:.0f} GB/s")


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    pytensor.config.floatX = "float32"
    if args.probe:
        print(json.dumps(compile_probe(*args.probe, args.probe_batch, args.probe_hidden,
                                       args.dataset)))
        return None
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    info = machine_info()
    if info["loadavg_at_start"][0] > 0.25 * (info["affinity"] or 1):
        print(f"WARNING: load average {info['loadavg_at_start'][0]:.2f}: other work is running, "
              f"timings will be noisy", file=sys.stderr)
    backends, skipped = available_backends(args.backends)
    if "c" in backends and not info["pytensor_blas__ldflags"]:
        print("note: pytensor.config.blas__ldflags is empty: the C backend has no BLAS of its own",
              file=sys.stderr)
    for message in skipped:
        print(message, file=sys.stderr)
    data = load_dataset(args.dataset)
    configs = make_configs(args.batch_sizes, args.hidden_sizes)
    if args.no_dA:
        configs = configs[1:]

    peaks = {"gemm_gflops": [gemm_gflops()], "copy_gbs": [copy_bandwidth_gbs()]}
    runners, more_skipped = build_runners(configs, backends, data, args)
    skipped += more_skipped
    time_rounds(runners, args)
    peaks["gemm_gflops"].append(gemm_gflops())  # again, to see drift over the run
    peaks["copy_gbs"].append(copy_bandwidth_gbs())
    gflops, gbs = max(peaks["gemm_gflops"]), max(peaks["copy_gbs"])
    cache_gbs = cache_bandwidths(configs)
    floors = {c: floor_seconds(c, gflops, gbs, cache_gbs[c]) for c in configs}
    rows = summarize(runners, floors)
    floors_by_name = {c.name: f for c, f in floors.items()}
    compiles = [] if args.no_compile_times else compile_times(backends, configs, args.dataset)
    info["loadavg_at_end"] = os.getloadavg()

    print(f"\nfloat32 GEMM {gflops:.1f} GFLOP/s (np.dot 2048^2), copy {gbs:.1f} GB/s; "
          f"dA epoch = {DA_EPOCH_STEPS} steps")
    print_table(rows, floors_by_name)
    for message in skipped:
        print("skipped:", message)
    record = {"command": shlex.join(["python"] + sys.argv), "started_utc": started,
              "machine": info, "settings": vars(args), "peaks": peaks,
              "configs": [{"config": c.name, "kind": c.kind, "batch": c.batch, "hidden": c.hidden,
                           "layer_sizes": c.layer_sizes(), "flops": c.flops(),
                           "weight_bytes": c.weight_bytes(), **floors[c]} for c in configs],
              "results": rows, "compile_times": compiles, "skipped": skipped}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(record, f, indent=2, default=str)
    print(f"wrote {args.output}")
    return record


if __name__ == "__main__":
    main()
