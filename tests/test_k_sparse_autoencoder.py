import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from deeptutorial import load_data
from deeptutorial.k_sparse_autoencoder import KSparseAutoencoder, keep_k_largest
from deeptutorial.optimizers import adam

from test_dA import assert_gradients_match
from test_scripts import assert_one_line_error, run


def test_exactly_the_k_largest_units_are_kept(float64):
    """(Broken by keeping the k smallest, ``pt.sort(h)[:, k - 1]`` with ``pt.le``: other
    units survive.)"""
    rng = np.random.default_rng(0)
    h = pt.matrix("h")
    k = pytensor.shared(np.asarray(3, dtype="int64"))
    keep = pytensor.function([h], keep_k_largest(h, k))
    values = rng.normal(size=(5, 10))
    kept = keep(values)
    for row, out in zip(values, kept):
        top = np.argsort(row)[-3:]
        np.testing.assert_array_equal(np.flatnonzero(out), np.sort(top))
        np.testing.assert_array_equal(out[top], row[top])
    k.set_value(np.asarray(7, dtype="int64"))  # the same graph follows a new k
    assert (np.count_nonzero(keep(values), axis=1) == 7).all()


def test_gradients_flow_through_the_kept_units_only(float64):
    rng = np.random.RandomState(0)
    model = KSparseAutoencoder(rng, n_visible=6, n_hidden=5, k=2)
    model.b.set_value(rng.normal(size=5))
    x_value = rng.uniform(size=(4, 6))
    cost, _ = model.training_cost()
    assert_gradients_match(cost, model.params, {model.x: x_value})
    # a unit never among the top 2 of any example gets no encoder gradient
    codes = x_value @ model.W.get_value() + model.b.get_value()
    never = [j for j in range(5) if not any(j in np.argsort(row)[-2:] for row in codes)]
    grad_b = pytensor.function([], pytensor.grad(cost, model.b), givens={model.x: x_value})()
    assert all(grad_b[j] == 0 for j in never)


def test_training_lowers_the_reconstruction_error_on_real_digits(float32):
    train_x = load_data("sample")[0][0]
    index = pt.lscalar("index")
    model = KSparseAutoencoder(np.random.RandomState(1), n_hidden=100, k=10)
    cost, _ = model.training_cost()
    step = pytensor.function([index], cost, updates=adam(cost, model.params, 0.003),
                             givens={model.x: train_x[index * 50:(index + 1) * 50]})
    costs = [float(step(i % 50)) for i in range(150)]
    assert np.mean(costs[-20:]) < 0.5 * np.mean(costs[:5])


def test_a_centred_model_is_the_model_of_centred_data(float64):
    """(Broken by centring the encoder but starting the decoder's bias at zero: the
    reconstructions differ by the mean.)"""
    rng = np.random.RandomState(0)
    x_value, mean = rng.uniform(size=(4, 6)), rng.uniform(size=6)
    centred = KSparseAutoencoder(np.random.RandomState(1), n_visible=6, n_hidden=5, k=2,
                                 input_mean=mean)
    plain = KSparseAutoencoder(np.random.RandomState(1), n_visible=6, n_hidden=5, k=2)
    x = pt.matrix("x")
    for fn, shift in ((lambda m: m.encode(x), 0), (lambda m: m.reconstruct(x), mean)):
        np.testing.assert_allclose(pytensor.function([x], fn(centred))(x_value),
                                   pytensor.function([x], fn(plain))(x_value - mean) + shift)
    cost, _ = centred.training_cost()
    assert_gradients_match(cost, centred.params, {centred.x: x_value})


def test_centring_keeps_the_units_alive(float32):
    """Uncentred, the mean digit's projection decides the competition and about half the
    units never win; centred, nearly all do."""
    train_x = load_data("sample")[0][0]
    digits = train_x.get_value()
    index = pt.lscalar("index")
    alive = {}
    for mean in (None, digits.mean(axis=0)):
        model = KSparseAutoencoder(np.random.RandomState(1), n_hidden=200, k=10,
                                   input_mean=mean)
        cost, _ = model.training_cost()
        step = pytensor.function([index], cost, updates=adam(cost, model.params, 0.003),
                                 givens={model.x: train_x[index * 50:(index + 1) * 50]})
        for i in range(300):
            step(i % 50)
        codes = pytensor.function([model.x], model.encode(model.x))(digits)
        alive[mean is not None] = int(np.sum(np.any(codes != 0, axis=0)))
    assert alive[True] > 0.9 * 200 and alive[False] < 0.7 * 200, alive


def test_an_input_mean_of_the_wrong_size_is_named():
    with pytest.raises(ValueError, match="input_mean"):
        KSparseAutoencoder(np.random.RandomState(0), n_visible=6, n_hidden=5, k=2,
                           input_mean=np.zeros(5))


@pytest.mark.parametrize("k", [0, 101, 2.5, True])
def test_k_outside_the_hidden_units_is_named(k):
    with pytest.raises(ValueError, match=f"got {k!r}"):
        KSparseAutoencoder(np.random.RandomState(0), n_hidden=100, k=k)


def test_script_end_to_end(tmp_path):
    """(Broken by never calling anneal: k stays at --k-start and 40 units stay active.)"""
    proc = run("k_sparse_autoencoder.py", "--dataset", "sample", "--epochs", 3, "--n-hidden", 200,
               "--k", 10, "--k-start", 40, "--anneal-epochs", 2, "--classifier-epochs", 5,
               "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["k_per_epoch"] == [40, 25, 10]
    assert results["mean_active_units"] == 10
    assert 0 <= results["units_never_active"] <= 200 - 10  # at least k units win somewhere
    assert results["classifier_test_error_percent"] < 40  # chance: 90
    assert (tmp_path / results["filters_image"]).stat().st_size > 0


def test_script_refuses_a_k_above_the_units(tmp_path):
    assert_one_line_error(run("k_sparse_autoencoder.py", "--dataset", "sample", "--n-hidden", 50,
                              "--k", 60, "--output-folder", tmp_path), "--k")


def test_the_count_update_counts_each_units_selections(float64):
    rng = np.random.RandomState(0)
    model = KSparseAutoencoder(rng, n_visible=6, n_hidden=5, k=2)
    x_value = rng.uniform(size=(4, 6))
    step = pytensor.function([model.x], [], updates=model.selection_count_update())
    step(x_value)
    step(x_value)
    codes = x_value @ model.W.get_value() + model.b.get_value()
    expected = np.zeros(5, dtype=int)
    for row in codes:
        expected[np.argsort(row)[-2:]] += 2
    np.testing.assert_array_equal(model.selected.get_value(), expected)


def test_dead_units_restart_along_a_training_example(float64):
    """(Broken by restarting the living units, or leaving the counts as they were.)"""
    rng = np.random.RandomState(0)
    model = KSparseAutoencoder(rng, n_visible=6, n_hidden=5, k=2)
    data = rng.uniform(size=(20, 6))
    W_before, b_before = model.W.get_value(), model.b.get_value()
    model.selected.set_value(np.array([3, 0, 5, 0, 1]))
    assert model.revive_dead_units(data, np.random.RandomState(1)) == 2
    W, b = model.W.get_value(), model.b.get_value()
    alive, dead = [0, 2, 4], [1, 3]
    np.testing.assert_array_equal(W[:, alive], W_before[:, alive])
    np.testing.assert_array_equal(b[alive], b_before[alive])
    length = 0.2 * np.linalg.norm(W_before[:, alive], axis=0).mean()
    for j in dead:
        np.testing.assert_allclose(np.linalg.norm(W[:, j]), length)
        cosines = data @ W[:, j] / np.linalg.norm(data, axis=1) / length
        assert np.isclose(cosines.max(), 1.0)  # the direction of one of the examples
        assert b[j] == 0
    assert not model.selected.get_value().any()
    # nothing dead: nothing changes
    model.selected.set_value(np.ones(5, dtype="int64"))
    assert model.revive_dead_units(data, np.random.RandomState(1)) == 0
    np.testing.assert_array_equal(model.W.get_value(), W)


def test_script_restarts_dead_units(tmp_path):
    proc = run("k_sparse_autoencoder.py", "--dataset", "sample", "--epochs", 3, "--n-hidden", 200,
               "--k", 5, "--k-start", 10, "--anneal-epochs", 2, "--classifier-epochs", 2,
               "--revive-dead", "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["units_revived"]) == 2  # after every epoch but the last
    assert sum(results["units_revived"]) > 0  # 200 units, 5-10 kept: some lose every time
