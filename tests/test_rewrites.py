import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.blas import Gemm, Ger
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.basic import UniformRV

import deeptutorial  # noqa: F401  (registers the rewrite)
from deeptutorial import dA
from deeptutorial.fastpath import row_pass
from deeptutorial.fastpath.rewrites import NAME, UNIFORM_NAME, ScalarBoundsUniformRV


def dA_step(batch_size: int, merge: bool, exclude=()):
    """One dA SGD step on a fresh 12-7 dA (same seed every call), and its compiled graph
    (without the rewrites named in ``exclude``)."""
    x = pt.matrix("x", shape=(batch_size, 12))
    da = dA(numpy_rng=np.random.RandomState(5), input=x, n_visible=12, n_hidden=7)
    cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
    mode = pytensor.compile.get_default_mode().excluding(*exclude)
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
    """At batch size 1 this rewrite leaves the two rank-1 updates to GER (which the row pass,
    when on, then merges: tests/test_row_pass.py)."""
    _, _, ops = dA_step(1, merge=True, exclude=row_pass.NAMES)
    assert not any(isinstance(op, Gemm) for op in ops)
    assert sum(isinstance(op, Ger) for op in ops) == 2


def noise_draw(bounds, mode):
    """A compiled draw of uniform noise of the shape of x, advancing its own generator."""
    rng = shared_rng(seed=3)
    x = pt.matrix("x")
    next_rng, u = rng.uniform(*bounds, size=x.shape)
    draw = pytensor.function([x], u, updates=[(rng, next_rng)], mode=mode)
    return draw, [type(node.op) for node in draw.maker.fgraph.toposort()]


@pytest.mark.parametrize("bounds", [(0, 1), (-2.5, 0.5)])
def test_scalar_bound_uniform_draws_the_same_numbers(bounds):
    mode = pytensor.compile.get_default_mode()
    fast, ops = noise_draw(bounds, mode)
    assert ScalarBoundsUniformRV in ops
    plain, plain_ops = noise_draw(bounds, mode.excluding(UNIFORM_NAME))
    assert ScalarBoundsUniformRV not in plain_ops and UniformRV in plain_ops
    x = np.zeros((3, 50), dtype=pytensor.config.floatX)
    draws = [fast(x) for _ in range(3)]
    for drawn in draws:
        np.testing.assert_array_equal(drawn, plain(x))
        assert drawn.min() >= bounds[0] and drawn.max() < bounds[1]
    assert not np.array_equal(draws[0], draws[1])  # the generator advanced


def test_uniform_with_array_bounds_is_left_alone():
    rng = shared_rng(seed=3)
    low = pt.vector("low")
    next_rng, u = rng.uniform(low, 1.0, size=(2, 4))
    draw = pytensor.function([low], u, updates=[(rng, next_rng)])
    assert not any(isinstance(node.op, ScalarBoundsUniformRV)
                   for node in draw.maker.fgraph.toposort())
    assert draw(np.zeros(4, dtype=low.dtype)).shape == (2, 4)


def two_updates(outer: int, columns: int):
    """The ops of ``z - 0.1 (a b + c d)`` compiled, ``z`` (outer, columns), ``a`` and ``c``
    (outer, 16), ``b`` and ``d`` (16, columns)."""
    z = pt.matrix("z", shape=(outer, columns))
    a, c = (pt.matrix(name, shape=(outer, 16)) for name in "ac")
    b, d = (pt.matrix(name, shape=(16, columns)) for name in "bd")
    fn = pytensor.function([z, a, b, c, d], z - 0.1 * (a @ b + c @ d))
    return [node.op for node in fn.maker.fgraph.toposort()]


@pytest.mark.skipif(not pytensor.config.blas__ldflags, reason="no BLAS: no GEMM nodes")
def test_factors_as_wide_as_the_result_are_not_stacked(float64):
    """Thin factors (inner 2 x 16 against a 100 x 100 result) are stacked into one GEMM;
    against a 32-column result, as a convolution's per-position products have, stacking would
    copy two long factors to save one pass over the result, and the two GEMMs stay."""
    thin = two_updates(100, 100)
    assert sum(isinstance(op, Gemm) for op in thin) == 1
    wide = two_updates(1000, 32)
    assert sum(isinstance(op, Gemm) for op in wide) == 2
