import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from deeptutorial import dA, load_data


def numeric_grad(f, value, eps=1e-6):
    grad = np.zeros_like(value)
    for i in np.ndindex(value.shape):
        old = value[i]
        value[i] = old + eps
        up = f()
        value[i] = old - eps
        down = f()
        value[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def assert_gradients_match(cost, params, givens=None, rtol=1e-5, atol=1e-7):
    """``pytensor.grad(cost, params)`` equals central finite differences of ``cost``."""
    f_cost = pytensor.function([], cost, givens=givens)
    f_grads = pytensor.function([], pytensor.grad(cost, params), givens=givens)
    for param, symbolic in zip(params, f_grads()):
        value = param.get_value(borrow=True)  # edited in place by numeric_grad
        np.testing.assert_allclose(symbolic, numeric_grad(f_cost, value), rtol=rtol, atol=atol)


@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
def test_gradients_match_finite_differences(float64, loss):
    rng = np.random.RandomState(0)
    da = dA(numpy_rng=rng, n_visible=6, n_hidden=4, loss=loss)
    da.b.set_value(rng.normal(size=4))
    da.b_prime.set_value(rng.normal(size=6))
    x_value = rng.uniform(size=(3, 6))
    cost, _ = da.get_cost_updates(0.0, 0.1)
    assert_gradients_match(cost, da.params, {da.x: x_value})


def test_decoder_is_tied_to_encoder(float64):
    da = dA(numpy_rng=np.random.RandomState(1), n_visible=5, n_hidden=3)
    h = pt.matrix("h")
    decode = pytensor.function([h], da.get_reconstructed_input(h))
    code = np.random.RandomState(2).uniform(size=(2, 3))
    before = decode(code)
    W = da.W.get_value()
    W[0, 0] += 1.0
    da.W.set_value(W)
    after = decode(code)
    assert not np.allclose(before, after)
    expected = 1 / (1 + np.exp(-(code @ W.T + da.b_prime.get_value())))
    np.testing.assert_allclose(after, expected)


def test_initial_weights_follow_the_tutorial(float64):
    da = dA(numpy_rng=np.random.RandomState(3), n_visible=784, n_hidden=500)
    W = da.W.get_value()
    bound = 4 * np.sqrt(6.0 / 1284)
    assert W.shape == (784, 500)
    assert -bound <= W.min() < -0.95 * bound and 0.95 * bound < W.max() <= bound
    assert not da.b.get_value().any() and not da.b_prime.get_value().any()
    assert da.params == [da.W, da.b, da.b_prime]


def test_given_shared_variables_are_used_not_copied(float64):
    W = pytensor.shared(np.zeros((4, 3)))
    b = pytensor.shared(np.zeros(3))
    da = dA(numpy_rng=np.random.RandomState(0), n_visible=4, n_hidden=3, W=W, bhid=b)
    assert da.W is W and da.b is b
    cost, updates = da.get_cost_updates(0.0, 0.5)
    step = pytensor.function([], cost, updates=updates,
                             givens={da.x: np.random.RandomState(1).uniform(size=(2, 4))})
    step()
    assert np.abs(W.get_value()).sum() > 0  # trained through the caller's variable


@pytest.mark.parametrize("level", [0.1, 0.3, 0.75])
def test_corruption_zeroes_about_the_asked_fraction(float64, level):
    da = dA(numpy_rng=np.random.RandomState(0), n_visible=50, n_hidden=5)
    x = pt.matrix("x")
    tilde_x, rng_updates = da.corrupt(x, level)
    corrupt = pytensor.function([x], tilde_x, updates=rng_updates)
    ones = np.ones((400, 50))
    first, second = corrupt(ones), corrupt(ones)
    assert set(np.unique(first)) <= {0.0, 1.0}
    assert abs((first == 0).mean() - level) < 0.01
    assert not np.array_equal(first, second)  # the noise generator advances


def test_no_corruption_at_zero(float64):
    da = dA(numpy_rng=np.random.RandomState(0), n_visible=10, n_hidden=5)
    x = pt.matrix("x")
    assert da.get_corrupted_input(x, 0.0) is x
    level = pt.scalar("level")
    corrupt = pytensor.function([x, level], da.get_corrupted_input(x, level))
    data = np.random.RandomState(1).uniform(size=(20, 10))
    np.testing.assert_array_equal(corrupt(data, 0.0), data)


def train_costs(train_set_x, level, epochs=3, batch_size=20, seed=123, n_batches=40):
    index = pt.lscalar("index")
    x = pt.matrix("x")
    da = dA(numpy_rng=np.random.RandomState(seed), input=x, n_visible=784, n_hidden=50)
    cost, updates = da.get_cost_updates(level, 0.1)
    step = pytensor.function([index], cost, updates=updates,
                             givens={x: train_set_x[index * batch_size:(index + 1) * batch_size]})
    return [float(np.mean([step(i) for i in range(n_batches)])) for _ in range(epochs)]


@pytest.mark.parametrize("level", [0.0, 0.3])
def test_cost_falls_on_real_digits_and_is_reproducible(float32, level):
    train_set_x = load_data("sample")[0][0]
    costs = train_costs(train_set_x, level)
    assert costs[-1] < costs[0] * 0.9
    assert train_costs(train_set_x, level) == costs  # same seed, same costs


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_visible=0), "n_visible"),
    (dict(n_hidden=2.5), "n_hidden"),
    (dict(loss="hinge"), "hinge"),
])
def test_bad_constructor_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        dA(numpy_rng=np.random.RandomState(0), **kwargs)


@pytest.mark.parametrize("level, lr, word", [(1.5, 0.1, "1.5"), (-0.1, 0.1, "-0.1"),
                                             (0.1, 0.0, "learning_rate"),
                                             (0.1, -2, "-2")])
def test_bad_training_arguments_are_named(level, lr, word):
    da = dA(numpy_rng=np.random.RandomState(0), n_visible=4, n_hidden=2)
    with pytest.raises(ValueError, match=word):
        da.get_cost_updates(level, lr)
