import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.blas import Gemm, Ger

import deeptutorial  # noqa: F401  (registers the rewrite)
from deeptutorial import dA
from deeptutorial.rewrites import NAME


def dA_step(batch_size: int, merge: bool):
    """One dA SGD step on a fresh 12-7 dA (same seed every call), and its compiled graph."""
    x = pt.matrix("x", shape=(batch_size, 12))
    da = dA(numpy_rng=np.random.RandomState(5), input=x, n_visible=12, n_hidden=7)
    cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
    mode = pytensor.compile.get_default_mode()
    if not merge:
        mode = mode.excluding(NAME)
    step = pytensor.function([x], cost, updates=updates, mode=mode)
    return da, step, [node.op for node in step.maker.fgraph.toposort()]


@pytest.mark.skipif(not pytensor.config.blas__ldflags, reason="no BLAS: no GEMM nodes")
def test_tied_weight_update_is_one_gemm_and_the_same_sum(float64):
    batch = np.random.default_rng(0).uniform(size=(6, 12))
    merged, step, ops = dA_step(6, merge=True)
    assert sum(isinstance(op, Gemm) for op in ops) == 1
    separate, step_separate, ops_separate = dA_step(6, merge=False)
    assert sum(isinstance(op, Gemm) for op in ops_separate) == 2
    for _ in range(3):
        np.testing.assert_allclose(step(batch), step_separate(batch), rtol=1e-12)
    np.testing.assert_allclose(merged.W.get_value(), separate.W.get_value(), rtol=1e-12)
    assert not np.allclose(merged.W.get_value(), dA_step(6, True)[0].W.get_value())  # it moved


@pytest.mark.skipif(not pytensor.config.blas__ldflags, reason="no BLAS: no GER nodes")
def test_rank_one_updates_stay_ger(float64):
    _, _, ops = dA_step(1, merge=True)
    assert not any(isinstance(op, Gemm) for op in ops)
    assert sum(isinstance(op, Ger) for op in ops) == 2
