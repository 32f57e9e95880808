"""The one training loop all scripts share: epochs of minibatch steps, timed and guarded."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from deeptutorial.utils import in_chunks


# A minibatch cost this many times the run's first one means the run has diverged. PyTensor
# rewrites log(sigmoid(.)) into a stable softplus, so an exploding dA rarely reaches NaN.
DIVERGENCE_FACTOR = 100.0


def batch_indices(n_batches: int) -> list[np.ndarray]:
    """Minibatch indices ``0..n_batches-1`` as 0-d int64 arrays, the form in which a compiled
    function takes an ``lscalar`` as it is; a Python number would be converted on every call,
    a noticeable part of a batch-size-1 step."""
    return [np.asarray(i, dtype=np.int64) for i in range(n_batches)]


def step_mode(backend: str | None = None):
    """The mode a training step is compiled in: the ``backend``'s (None: the current one,
    ``backends.mode``), and with PyTensor's virtual
    machine (the C and Python linkers) told to keep each intermediate result's memory from one
    call to the next (``allow_gc=False``) unless the user set ``allow_gc``. A step is called
    thousands of times with the same shapes, and a multi-megabyte array allocated afresh at
    every call costs the system's page faults each time; kept, it is written in place."""
    from pytensor.link.vm import VMLinker

    from deeptutorial.backends import mode as backend_mode
    from deeptutorial.fastpath import user_has_set

    mode = backend_mode(backend)
    if isinstance(mode.linker, VMLinker) and not user_has_set("allow_gc"):
        mode = mode.clone(link_kwargs={"allow_gc": False})
    return mode


def compile_step(outputs, updates: list, x, data_x, batch_size: int, y=None, data_y=None,
                 name: str | None = None, backend: str | None = None,
                 excluding: tuple[str, ...] = ()) -> tuple[Callable[[np.ndarray], object], float]:
    """``(step, seconds)``: ``step(index)`` computes ``outputs`` on minibatch ``index`` of the
    shared ``data_x`` (and ``data_y``), standing in for the symbolic ``x`` (and ``y``), and
    applies ``updates``; ``seconds`` is the time PyTensor took to compile it.

    The minibatches are cut by ``data.minibatch`` in ``givens``, as the tutorial did, so the
    data stay in shared variables and the batch size is a static shape of the graph. The
    step is compiled by ``backend`` (None: the current one; ``deeptutorial.backends``) in
    ``step_mode(backend)``, less the rewrites named in ``excluding`` (e.g. the fast path's
    ``use_conv_ops``, to time the ordinary graph).
    """
    import pytensor.tensor as pt

    from deeptutorial import backends
    from deeptutorial.data import minibatch

    problem = backends.graph_problem([outputs, *[value for _, value in updates]], backend)
    if problem:
        raise backends.BackendError(problem)
    index = pt.lscalar("index")
    givens = {x: minibatch(data_x, index, batch_size, backend)}
    if y is not None:
        givens[y] = minibatch(data_y, index, batch_size, backend)
    mode = step_mode(backend)
    if excluding:
        mode = mode.excluding(*excluding)
    start = time.perf_counter()
    step = backends.function([index], outputs, updates=updates, givens=givens,
                             rebuild_strict=False, name=name, mode=mode,
                             backend=backend)
    return step, time.perf_counter() - start


def unchecked_step(fn, *fixed) -> Callable[[np.ndarray], object]:
    """``step(index)``: ``fn(index, *fixed)`` without PyTensor's per-call check of the inputs.

    A compiled function checks and converts every input at every call, a cost that a short
    batch-size-1 step notices. The training loops pass the same kinds of values every
    time (``index`` a 0-d int64 array from ``batch_indices``; ``fixed`` as given here), so
    they are checked once, here, against the function's input types (a wrong dtype or rank
    raises ``TypeError``), and ``fn`` then trusts its inputs (``fn.trust_input``): the
    loop that owns ``fn`` must keep passing such values.
    """
    inputs = [i.variable for i in fn.maker.inputs if not i.implicit]
    if len(inputs) != 1 + len(fixed):
        raise TypeError(f"{fn.name or 'the function'} takes {len(inputs)} inputs, not "
                        f"an index and {len(fixed)} more")
    for variable, value in zip(inputs, [np.asarray(0, dtype=np.int64), *fixed]):
        if not isinstance(value, np.ndarray) or value.dtype != variable.type.dtype or \
                value.ndim != variable.type.ndim:
            raise TypeError(f"input {variable} of {fn.name or 'the function'} needs a "
                            f"{variable.type.ndim}-d {variable.type.dtype} array, got "
                            f"{value!r}")
    fn.trust_input = True

    def step(index):
        return fn(index, *fixed)

    return step


def n_batches(data, batch_size: int) -> int:
    """Whole minibatches of ``batch_size`` rows in the shared array ``data``."""
    return data.get_value(borrow=True).shape[0] // batch_size


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (an IPython shell with a kernel)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def progress(steps: range, description: str):
    """``steps`` with a progress bar, gone when the epoch ends: tqdm's on a terminal, its
    notebook widget in Jupyter (``tqdm.auto``); plain ``steps`` when the output is neither
    (a log file, a test), so logs stay clean, or when ``TQDM_DISABLE`` is set (tqdm's own
    switch; the documentation build sets it: a static page cannot draw the widget)."""
    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no"):
        return steps
    if in_notebook():
        from tqdm.auto import tqdm
    elif sys.stderr.isatty():
        from tqdm import tqdm
    else:
        return steps
    return tqdm(steps, desc=description, leave=False, mininterval=0.5, unit="batch")


class NonFiniteCost(FloatingPointError):
    """A training step returned NaN, infinity, or a cost that exploded; the message says where."""

    def __init__(self, epoch: int, minibatch: int, cost: float, start_cost: float | None = None):
        what = f"cost became {cost:g}"
        if start_cost is not None and np.isfinite(cost):
            what += f" (over {DIVERGENCE_FACTOR:g} times its starting {start_cost:g})"
        super().__init__(f"{what} at epoch {epoch}, minibatch {minibatch}: training diverged; "
                         f"try a smaller learning rate")
        self.epoch, self.minibatch, self.cost = epoch, minibatch, cost


class TrainingInterrupted(Exception):
    """Training stopped on request (Ctrl-C) after a whole minibatch; its state is consistent."""

    def __init__(self, epoch: int, minibatch: int):
        super().__init__(f"interrupted after epoch {epoch}, minibatch {minibatch}")
        self.epoch, self.minibatch = epoch, minibatch


class StopRequest:
    """Set by the first Ctrl-C inside ``stop_on_interrupt``; loops check it between steps."""

    requested = False


@contextlib.contextmanager
def stop_on_interrupt(log: Callable[[str], None] = print):
    """Turn the first Ctrl-C into a request to stop after the current minibatch (a second
    one aborts at once), so that parameters are never left half-updated."""
    request = StopRequest()

    def handler(signum, frame):
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        log("stopping after this minibatch (Ctrl-C again to abort at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class TrainingLog:
    """Per-epoch mean costs and seconds of one run, and where an interrupted epoch stopped."""

    epoch_costs: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    start_cost: float | None = None  # the run's first minibatch cost
    minibatch: int = 0  # next minibatch of the unfinished epoch
    partial_costs: list[float] = field(default_factory=list)
    partial_seconds: float = 0.0

    @property
    def epochs_done(self) -> int:
        return len(self.epoch_costs)


def check_costs(costs, epoch: int, start_cost: float | None = None) -> None:
    """Raise ``NonFiniteCost`` at the first cost that is NaN, infinite or, given the run's
    ``start_cost`` (> 0), more than ``DIVERGENCE_FACTOR`` times it."""
    costs = np.asarray(costs, dtype=np.float64)
    bad = ~np.isfinite(costs)
    if start_cost is not None and start_cost > 0:
        bad |= costs > DIVERGENCE_FACTOR * start_cost
    if bad.any():
        i = int(np.argmax(bad))
        raise NonFiniteCost(epoch, i, float(costs[i]), start_cost)


def check_last_cost(costs: list[float], epoch: int, start_cost: float | None) -> None:
    """``check_costs`` when the latest of ``costs`` is bad, so that a diverged run stops at
    the minibatch it diverged rather than at the end of its epoch; a scalar test otherwise."""
    cost = costs[-1]
    if not math.isfinite(cost) or (start_cost is not None and start_cost > 0
                                   and cost > DIVERGENCE_FACTOR * start_cost):
        check_costs(costs, epoch, start_cost)


def train(step: Callable[[np.ndarray], float], n_batches: int, n_epochs: int,
          log: Callable[[str], None] = print, history: TrainingLog | None = None,
          on_epoch_end: Callable[[int, TrainingLog], None] | None = None,
          stop: StopRequest | None = None,
          log_format: str = "Training epoch {epoch}, cost {cost:.4f}") -> TrainingLog:
    """Run epochs of ``step(i)`` over minibatches ``0..n_batches-1`` (``i`` from
    ``batch_indices``) until ``n_epochs`` are done, printing each epoch's mean cost as the
    tutorial does (``Training epoch 0, cost 63.2892``).

    ``history`` (e.g. from a checkpoint) resumes a run exactly where it stopped;
    ``on_epoch_end(epoch, history)`` runs after each epoch (e.g. to checkpoint); when
    ``stop.requested`` turns true the loop raises ``TrainingInterrupted`` after the
    current minibatch, leaving ``history`` ready to resume from.
    """
    history = history if history is not None else TrainingLog()
    indices = batch_indices(n_batches)
    for epoch in range(history.epochs_done, n_epochs):
        start = time.perf_counter()
        costs = history.partial_costs
        for i in progress(range(history.minibatch, n_batches), f"epoch {epoch}"):
            costs.append(float(step(indices[i])))
            if history.start_cost is None:
                history.start_cost = costs[0]
            check_last_cost(costs, epoch, history.start_cost)
            if stop is not None and stop.requested and i + 1 < n_batches:
                history.minibatch = i + 1
                history.partial_seconds += time.perf_counter() - start
                raise TrainingInterrupted(epoch, i)
        history.epoch_seconds.append(history.partial_seconds + time.perf_counter() - start)
        history.epoch_costs.append(float(np.mean(costs)))
        history.minibatch, history.partial_costs, history.partial_seconds = 0, [], 0.0
        log(log_format.format(epoch=epoch, cost=history.epoch_costs[-1]))
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if stop is not None and stop.requested and epoch + 1 < n_epochs:
            raise TrainingInterrupted(epoch, n_batches - 1)
    return history


def error_percent(predict: Callable, split: tuple, chunk: int = 500) -> float:
    """The percentage of the split ``(x, y)`` that ``predict`` (a matrix of inputs to class
    labels) gets wrong, classified ``chunk`` rows at a time."""
    x, y = split
    return 100 * float(np.mean(in_chunks(predict, x, chunk) != y))


class ErrorCurve:
    """Validation and test error of a classifier after every epoch, and the epoch to report:
    the one with the lowest validation error. Pass ``record`` as ``train``'s ``on_epoch_end``.

    ``predict(x)`` maps a matrix of inputs to class labels; the splits are NumPy arrays,
    classified ``chunk`` rows at a time."""

    def __init__(self, predict: Callable, valid: tuple, test: tuple, log: Callable | None = print,
                 prefix: str = "", chunk: int = 500):
        self.predict, self.valid, self.test = predict, valid, test
        self.log, self.prefix, self.chunk = log, prefix, chunk
        self.points: list[dict] = []

    def error_percent(self, split: tuple) -> float:
        return error_percent(self.predict, split, self.chunk)

    def record(self, epoch: int, history=None) -> None:
        point = {"epoch": epoch, "validation_error_percent": self.error_percent(self.valid),
                 "test_error_percent": self.error_percent(self.test)}
        self.points.append(point)
        if self.log is not None:
            self.log(f"    {self.prefix}validation error {point['validation_error_percent']:.2f} "
                     f"%, test error {point['test_error_percent']:.2f} %")

    def best(self) -> dict:
        """The point of the lowest validation error (the first, on ties)."""
        return min(self.points, key=lambda point: point["validation_error_percent"])


class EarlyStopping:
    """The tutorials' patience rule, kept apart from any model so it can be tested alone.

    Validate every ``validation_frequency`` minibatches; stop once the iteration count
    reaches ``patience``. A validation error below ``improvement_threshold`` times the
    best so far raises patience to ``patience_increase`` times the current iteration.
    """

    def __init__(self, n_train_batches: int, patience_epochs: float = 10,
                 patience_increase: float = 2.0, improvement_threshold: float = 0.995):
        self.patience = patience_epochs * n_train_batches
        self.patience_increase = patience_increase
        self.improvement_threshold = improvement_threshold
        self.validation_frequency = max(1, min(n_train_batches, int(self.patience // 2)))
        self.best_loss = np.inf
        self.best_iter = -1

    def should_validate(self, iteration: int) -> bool:
        return (iteration + 1) % self.validation_frequency == 0

    def record(self, iteration: int, loss: float) -> bool:
        """Take a validation loss; return whether it is the best so far."""
        if loss >= self.best_loss:
            return False
        if loss < self.best_loss * self.improvement_threshold:
            self.patience = max(self.patience, iteration * self.patience_increase)
        self.best_loss, self.best_iter = loss, iteration
        return True

    def should_stop(self, iteration: int) -> bool:
        return self.patience <= iteration

    def state(self) -> dict:
        """What changes while training (for checkpoints)."""
        return {"patience": self.patience, "best_loss": self.best_loss,
                "best_iter": self.best_iter}

    def restore(self, state: dict) -> None:
        self.patience, self.best_loss, self.best_iter = (state["patience"], state["best_loss"],
                                                         state["best_iter"])


@dataclass
class FinetuneLog:
    """What fine-tuning with early stopping saw (every validation, the best model's test
    error), and where an interrupted run stands, so that it can resume exactly."""

    validation_curve: list[dict] = field(default_factory=list)
    best_validation_error: float = np.inf
    best_iter: int = -1
    test_error: float = np.nan
    epochs: int = 0  # epochs finished (the last one possibly cut short by early stopping)
    epoch_costs: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    start_cost: float | None = None
    minibatch: int = 0  # next minibatch of the unfinished epoch
    partial_costs: list[float] = field(default_factory=list)
    partial_seconds: float = 0.0
    stopper_state: dict = field(default_factory=dict)
    finished: bool = False


def train_with_early_stopping(step: Callable[[np.ndarray], float], n_batches: int, max_epochs: int,
                              valid_score: Callable[[], list[float]],
                              test_score: Callable[[], list[float]],
                              stopper: EarlyStopping | None = None,
                              log: Callable[[str], None] = print,
                              history: FinetuneLog | None = None,
                              on_epoch_end: Callable[[int, FinetuneLog], None] | None = None,
                              stop: StopRequest | None = None) -> FinetuneLog:
    """The tutorials' supervised loop: SGD steps, validation by the patience rule, and the
    test error measured each time the validation error reaches a new best.

    ``history``, ``on_epoch_end`` and ``stop`` work as in ``train``.
    """
    stopper = stopper or EarlyStopping(n_batches)
    history = history if history is not None else FinetuneLog()
    if history.stopper_state:
        stopper.restore(history.stopper_state)
    indices = batch_indices(n_batches)
    for epoch in range(history.epochs + 1, max_epochs + 1):
        if history.finished:
            break
        costs = history.partial_costs
        start = time.perf_counter()
        for minibatch in progress(range(history.minibatch, n_batches), f"epoch {epoch}"):
            costs.append(float(step(indices[minibatch])))
            if history.start_cost is None:
                history.start_cost = costs[0]
            check_last_cost(costs, epoch, history.start_cost)
            iteration = (epoch - 1) * n_batches + minibatch
            if stopper.should_validate(iteration):
                error = float(np.mean(valid_score()))
                history.validation_curve.append(
                    {"epoch": epoch, "minibatch": minibatch + 1, "error_percent": 100 * error})
                log(f"epoch {epoch}, minibatch {minibatch + 1}/{n_batches}, "
                    f"validation error {100 * error:f} %")
                if stopper.record(iteration, error):
                    history.test_error = float(np.mean(test_score()))
                    log(f"     epoch {epoch}, minibatch {minibatch + 1}/{n_batches}, "
                        f"test error of best model {100 * history.test_error:f} %")
            if stopper.should_stop(iteration):
                history.finished = True
                break
            if stop is not None and stop.requested and minibatch + 1 < n_batches:
                history.minibatch, history.stopper_state = minibatch + 1, stopper.state()
                history.partial_seconds += time.perf_counter() - start
                raise TrainingInterrupted(epoch, minibatch)
        history.epochs = epoch
        history.epoch_costs.append(float(np.mean(costs)))
        history.epoch_seconds.append(history.partial_seconds + time.perf_counter() - start)
        history.minibatch, history.partial_costs, history.partial_seconds = 0, [], 0.0
        history.stopper_state = stopper.state()
        history.best_validation_error, history.best_iter = stopper.best_loss, stopper.best_iter
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if stop is not None and stop.requested and not history.finished and epoch < max_epochs:
            raise TrainingInterrupted(epoch, n_batches - 1)
    history.finished = True
    return history
