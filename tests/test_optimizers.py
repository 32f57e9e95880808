import numpy as np
import pytensor
import pytest

from deeptutorial.optimizers import adam, sgd


def quadratic(float_dtype="float64"):
    w = pytensor.shared(np.array([3.0, -2.0], dtype=float_dtype), name="w")
    return w, ((w - np.array([1.0, 1.0])) ** 2).sum()


def test_sgd_step_is_minus_lr_times_gradient(float64):
    w, cost = quadratic()
    pytensor.function([], cost, updates=sgd(cost, [w], 0.25))()
    np.testing.assert_allclose(w.get_value(), [3 - 0.25 * 4, -2 + 0.25 * 6])


def test_adam_matches_a_numpy_reference(float64):
    w, cost = quadratic()
    step = pytensor.function([], cost, updates=adam(cost, [w], learning_rate=0.1))
    ref, m, v = np.array([3.0, -2.0]), 0.0, 0.0
    for t in range(1, 6):
        step()
        g = 2 * (ref - 1)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g ** 2
        ref = ref - 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(w.get_value(), ref, rtol=1e-10)


def test_adam_converges(float64):
    w, cost = quadratic()
    step = pytensor.function([], cost, updates=adam(cost, [w], learning_rate=0.05))
    for _ in range(2000):
        step()
    np.testing.assert_allclose(w.get_value(), [1.0, 1.0], atol=1e-3)


@pytest.mark.parametrize("kwargs, word", [(dict(learning_rate=0), "learning_rate"),
                                          (dict(beta1=1.0), "beta1")])
def test_adam_bad_arguments(float64, kwargs, word):
    w, cost = quadratic()
    with pytest.raises(ValueError, match=word):
        adam(cost, [w], **kwargs)
