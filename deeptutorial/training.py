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
          on_epoch_end: Callable[[int, TrainingLog], None] | None = None) -> TrainingLog:
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
        log(f"Training epoch {epoch}, cost {cost:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
