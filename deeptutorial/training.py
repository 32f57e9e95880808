"""The one training loop all scripts share: epochs of minibatch steps, timed and guarded."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class NonFiniteCost(FloatingPointError):
    """A training step returned NaN or infinity; the message says where."""

    def __init__(self, epoch: int, minibatch: int, cost: float):
        super().__init__(f"cost became {cost} at epoch {epoch}, minibatch {minibatch}: "
                         f"training diverged; try a smaller learning rate")
        self.epoch, self.minibatch, self.cost = epoch, minibatch, cost


@dataclass
class TrainingLog:
    """Per-epoch mean costs and wall-clock seconds of one training run."""

    epoch_costs: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)


def train_epoch(step: Callable[[int], float], n_batches: int, epoch: int = 0) -> float:
    """Call ``step(i)`` for every minibatch index; return the mean cost (in float64)."""
    costs = np.empty(n_batches)
    for i in range(n_batches):
        costs[i] = step(i)
    if not np.all(np.isfinite(costs)):
        bad = int(np.argmin(np.isfinite(costs)))
        raise NonFiniteCost(epoch, bad, float(costs[bad]))
    return float(costs.mean())


def train(step: Callable[[int], float], n_batches: int, n_epochs: int,
          log: Callable[[str], None] = print, first_epoch: int = 0,
          history: TrainingLog | None = None,
          on_epoch_end: Callable[[int, TrainingLog], None] | None = None,
          log_format: str = "Training epoch {epoch}, cost {cost:.4f}") -> TrainingLog:
    """Run ``n_epochs`` epochs of ``step`` over ``n_batches`` minibatches, printing each
    epoch's mean cost as the tutorial does (``Training epoch 0, cost 63.2892``).

    ``first_epoch`` and ``history`` let a resumed run carry on where it stopped;
    ``on_epoch_end(epoch, history)`` is called after each epoch (e.g. to checkpoint).
    """
    history = history if history is not None else TrainingLog()
    for epoch in range(first_epoch, n_epochs):
        start = time.perf_counter()
        cost = train_epoch(step, n_batches, epoch)
        history.epoch_seconds.append(time.perf_counter() - start)
        history.epoch_costs.append(cost)
        log(log_format.format(epoch=epoch, cost=cost))
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history


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


@dataclass
class FinetuneLog:
    """What fine-tuning with early stopping saw: every validation, and the best model's test."""

    validation_curve: list[dict] = field(default_factory=list)
    best_validation_error: float = np.inf
    best_iter: int = -1
    test_error: float = np.nan
    epochs: int = 0
    epoch_costs: list[float] = field(default_factory=list)


def train_with_early_stopping(step: Callable[[int], float], n_batches: int, max_epochs: int,
                              valid_score: Callable[[], list[float]],
                              test_score: Callable[[], list[float]],
                              stopper: EarlyStopping | None = None,
                              log: Callable[[str], None] = print) -> FinetuneLog:
    """The tutorials' supervised loop: SGD steps, validation by the patience rule, and the
    test error measured each time the validation error reaches a new best."""
    stopper = stopper or EarlyStopping(n_batches)
    history = FinetuneLog()
    for epoch in range(1, max_epochs + 1):
        costs = np.empty(n_batches)
        for minibatch in range(n_batches):
            costs[minibatch] = step(minibatch)
            iteration = (epoch - 1) * n_batches + minibatch
            if stopper.should_validate(iteration):
                if not np.all(np.isfinite(costs[:minibatch + 1])):
                    bad = int(np.argmin(np.isfinite(costs[:minibatch + 1])))
                    raise NonFiniteCost(epoch, bad, float(costs[bad]))
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
                break
        history.epochs = epoch
        done = costs[:minibatch + 1]
        if not np.all(np.isfinite(done)):
            bad = int(np.argmin(np.isfinite(done)))
            raise NonFiniteCost(epoch, bad, float(done[bad]))
        history.epoch_costs.append(float(done.mean()))
        if stopper.should_stop(iteration):
            break
    history.best_validation_error, history.best_iter = stopper.best_loss, stopper.best_iter
    return history
