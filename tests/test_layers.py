import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from deeptutorial import HiddenLayer, LogisticRegression

from test_dA import numeric_grad


def softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logistic_layer(rng, n_in=5, n_out=4):
    x = pt.matrix("x")
    layer = LogisticRegression(x, n_in, n_out)
    layer.W.set_value(rng.normal(size=(n_in, n_out)))
    layer.b.set_value(rng.normal(size=n_out))
    return x, layer


def test_logistic_regression_is_the_softmax_of_x_W_plus_b(float64):
    rng = np.random.default_rng(0)
    x, layer = logistic_layer(rng)
    y = pt.ivector("y")
    x_value, y_value = rng.normal(size=(6, 5)), np.array([0, 1, 2, 3, 0, 1], dtype="int32")
    p, pred, nll, err = pytensor.function(
        [x, y], [layer.p_y_given_x, layer.y_pred, layer.negative_log_likelihood(y),
                 layer.errors(y)])(x_value, y_value)
    expected = softmax(x_value @ layer.W.get_value() + layer.b.get_value())
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_array_equal(pred, expected.argmax(axis=1))
    np.testing.assert_allclose(nll, -np.mean(np.log(expected[np.arange(6), y_value])))
    assert err == np.mean(expected.argmax(axis=1) != y_value)


def test_negative_log_likelihood_gradients_match_finite_differences(float64):
    rng = np.random.default_rng(1)
    x, layer = logistic_layer(rng)
    y = pt.ivector("y")
    givens = {x: rng.normal(size=(3, 5)), y: np.array([2, 0, 3], dtype="int32")}
    cost = layer.negative_log_likelihood(y)
    f_cost = pytensor.function([], cost, givens=givens)
    f_grads = pytensor.function([], pytensor.grad(cost, layer.params), givens=givens)
    for param, symbolic in zip(layer.params, f_grads()):
        value = param.get_value(borrow=True)
        np.testing.assert_allclose(symbolic, numeric_grad(f_cost, value), rtol=1e-6, atol=1e-8)


def test_negative_log_likelihood_stays_finite_for_confident_mistakes(float32):
    x = pt.matrix("x")
    layer = LogisticRegression(x, 2, 2)
    layer.W.set_value(np.array([[500.0, -500.0], [0.0, 0.0]], dtype="float32"))
    y = pt.ivector("y")
    nll = pytensor.function([x, y], layer.negative_log_likelihood(y))
    assert np.isclose(nll(np.array([[1.0, 0.0]], dtype="float32"), np.array([1], "int32")), 1000)


def test_hidden_layer_output_and_initial_range(float64):
    rng = np.random.RandomState(2)
    x = pt.matrix("x")
    for activation, scale, fn in (("tanh", 1, np.tanh), ("sigmoid", 4, lambda a: 1 / (1 + np.exp(-a)))):
        layer = HiddenLayer(rng, x, 30, 20, activation=activation)
        W = layer.W.get_value()
        assert np.abs(W).max() <= scale * np.sqrt(6 / 50) and np.abs(W).max() > 0.9 * scale * np.sqrt(6 / 50)
        x_value = rng.normal(size=(2, 30))
        np.testing.assert_allclose(pytensor.function([x], layer.output)(x_value),
                                   fn(x_value @ W + layer.b.get_value()))
    with pytest.raises(ValueError, match="relu"):
        HiddenLayer(rng, x, 3, 2, activation="relu")
