"""The winner-take-all autoencoders. The fully connected one: each unit keeps exactly its k
largest activations over the minibatch. The convolutional one: each map keeps one pixel per
image, and that for its k largest images. In both the gradient reaches the winners only, the
code is the NumPy one, training lowers the cost, and the scripts run end to end."""

import json
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from conftest import REPO
from deeptutorial.wta_autoencoder import ConvWTAAutoencoder, WTAAutoencoder, \
    keep_lifetime_winners, keep_spatial_winners, spatial_winners, winners_per_unit


def numpy_winners(h, k):
    """The reference: in each column, the k largest entries kept, the rest zero."""
    kept = np.zeros_like(h)
    for unit in range(h.shape[1]):
        rows = np.argsort(h[:, unit])[-k:]
        kept[rows, unit] = h[rows, unit]
    return kept


@pytest.mark.parametrize("k", [1, 3, 20])
def test_each_unit_keeps_exactly_its_k_largest_over_the_batch(float64, k):
    """(Broken by sorting along axis 1: each example keeps k units, the k-sparse rule.)"""
    h, kk = pt.matrix("h"), pt.lscalar("k")
    keep = pytensor.function([h, kk], keep_lifetime_winners(h, kk))
    values = np.random.RandomState(k).randn(20, 7)
    kept = keep(values, k)
    assert ((kept != 0).sum(axis=0) == k).all()
    np.testing.assert_array_equal(kept, numpy_winners(values, k))


def test_the_gradient_reaches_the_winners_only(float64):
    h, weights = pt.matrix("h"), pt.matrix("c")
    grad = pytensor.function([h, weights], pytensor.grad(
        pt.sum(keep_lifetime_winners(h, 2) * weights), h))
    values = np.random.RandomState(0).randn(10, 4)
    c = np.random.RandomState(1).randn(10, 4)
    np.testing.assert_allclose(grad(values, c), c * (numpy_winners(values, 2) != 0))


@pytest.mark.parametrize("tied", [False, True])
def test_the_cost_is_the_numpy_cost_of_the_sparse_code(float64, tied):
    """(Tied: broken by leaving the decoder a matrix of its own.)"""
    model = WTAAutoencoder(np.random.RandomState(0), n_visible=12, n_hidden=8, sparsity=0.2,
                           tied=tied)
    terms, updates = model.cost_terms()
    assert updates == []
    cost = pytensor.function([model.x], terms["cost"])
    x = np.random.RandomState(1).rand(10, 12)
    if tied:
        W, b, b_prime = (p.get_value() for p in model.params)
        W_prime = W.T
        assert sorted(model.named_params()) == ["W", "b", "b_prime"]
    else:
        W, b, W_prime, b_prime = (p.get_value() for p in model.params)
    np.testing.assert_array_equal(model.dictionary(), W_prime.T)
    z = np.maximum(0, x @ W + b)
    r = numpy_winners(z, 2) @ W_prime + b_prime  # 20% of 10 examples: 2 per unit
    np.testing.assert_allclose(cost(x), np.mean(np.sum((r - x) ** 2, axis=1)))
    features = pytensor.function([model.x], model.encode(model.x))
    np.testing.assert_allclose(features(x), z)  # no competition outside training


def test_training_lowers_the_cost_on_the_sample(float32):
    from deeptutorial import load_data
    from deeptutorial.optimizers import adam
    from deeptutorial.training import compile_step

    train_x = load_data("sample")[0][0]
    model = WTAAutoencoder(np.random.RandomState(2), n_visible=784, n_hidden=100)
    terms, _ = model.cost_terms(k=winners_per_unit(50, 0.05))
    step, _ = compile_step(terms["cost"], adam(terms["cost"], model.params, 0.001), model.x,
                           train_x, 50)
    costs = [float(step(np.int64(i % 50))) for i in range(100)]
    assert np.mean(costs[-10:]) < 0.6 * np.mean(costs[:5])


@pytest.mark.parametrize("batch, sparsity, k", [(100, 0.05, 5), (128, 0.05, 6), (20, 0.05, 1),
                                                (10, 0.5, 5)])
def test_winners_per_unit(batch, sparsity, k):
    assert winners_per_unit(batch, sparsity) == k


@pytest.mark.parametrize("call, words", [
    (lambda: winners_per_unit(100, 0), "sparsity must be in (0, 1)"),
    (lambda: winners_per_unit(100, 1.0), "sparsity must be in (0, 1)"),
    (lambda: winners_per_unit(100, -0.1), "sparsity must be in (0, 1)"),
    (lambda: winners_per_unit(9, 0.05), "a minibatch of 9 holds no winner per unit"),
    (lambda: WTAAutoencoder(0, n_visible=4, n_hidden=3, sparsity=1.5),
     "sparsity must be in (0, 1)"),
    (lambda: ConvWTAAutoencoder(0, sparsity=0), "sparsity must be in (0, 1)"),
    (lambda: ConvWTAAutoencoder(0, sparsity=1.2), "sparsity must be in (0, 1)"),
    (lambda: ConvWTAAutoencoder(0, decoder_size=10), "decoder_size must be odd"),
    (lambda: ConvWTAAutoencoder(0, maps=0), "maps"),
    (lambda: ConvWTAAutoencoder(0, pool=3), "pool 3 does not divide the side of 28 pixels"),
])
def test_a_bad_setting_is_named(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value)


def run(*args, script="wta_autoencoder.py"):
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def run_conv(*args):
    return run(*args, script="conv_wta_autoencoder.py")


def test_script_end_to_end(tmp_path):
    """(Broken by classifying the sparse training code: it depends on the batch, and the
    features of one digit would change with its neighbours.)"""
    proc = run("--dataset", "sample", "--epochs", 2, "--n-hidden", 60, "--classifier-epochs", 3,
               "--classifier-refit", "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["winners_per_unit"] == 5
    assert results["epoch_costs"][1] < results["epoch_costs"][0]
    assert results["classifier_test_error_percent"] < 60  # chance: 90
    refit = results["classifier"]["refit"]
    assert refit["epochs"] == results["classifier"]["best_epoch"] + 1
    assert results["classifier_refit_test_error_percent"] == refit["test_error_percent"] < 60
    assert 0 < results["active_fraction_of_features"] < 1
    for image in ("dictionary_image", "reconstructions_image"):
        assert (tmp_path / results[image]).stat().st_size > 0


@pytest.mark.parametrize("args, words", [
    (["--sparsity", "1.5"], "argument --sparsity"),
    (["--batch-size", "10", "--sparsity", "0.01"], "a minibatch of 10 holds no winner"),
])
def test_script_bad_flags_are_one_line(tmp_path, args, words):
    proc = run("--dataset", "sample", "--output-folder", tmp_path / "out", *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


# --- the convolutional WTA autoencoder: spatial, then lifetime sparsity -------------------

def numpy_spatial_winners(h):
    """The reference: in each map of each image, the largest pixel kept, the rest zero."""
    kept = np.zeros_like(h)
    for n in range(h.shape[0]):
        for m in range(h.shape[3]):
            i, j = np.unravel_index(np.argmax(h[n, :, :, m]), h.shape[1:3])
            kept[n, i, j, m] = h[n, i, j, m]
    return kept


def numpy_conv_wta_code(h, k):
    """The reference training code: spatial winners, each map's kept for its k images of
    largest winner."""
    spatial = numpy_spatial_winners(h)
    winners = spatial.max(axis=(1, 2))
    return spatial * (numpy_winners(winners, k) != 0)[:, None, None, :]


def test_each_map_keeps_one_winner_per_image(float64):
    """(Broken by taking the maximum over the maps instead of over the image.)"""
    h = pt.tensor4("h")
    keep = pytensor.function([h], keep_spatial_winners(h))
    values = np.random.RandomState(0).randn(5, 6, 7, 3)
    kept = keep(values)
    assert ((kept != 0).sum(axis=(1, 2)) == 1).all()
    np.testing.assert_array_equal(kept, numpy_spatial_winners(values))
    value, place = pytensor.function([h], spatial_winners(h))(values)
    np.testing.assert_array_equal(value, values.max(axis=(1, 2)))
    np.testing.assert_array_equal(place, values.reshape(5, 42, 3).argmax(axis=1))


@pytest.fixture
def conv_model():
    model = ConvWTAAutoencoder(np.random.RandomState(0), side=8, maps=3, hidden_maps=(2,),
                               kernel_size=3, decoder_size=5, sparsity=0.5)
    model.b_prime.set_value(np.array([0.3]))
    return model


def test_the_training_code_is_the_numpy_one(float64, conv_model):
    """Exactly k images per map keep a winner, one pixel each, the largest ones."""
    x = np.random.RandomState(1).rand(6, 64)
    h = pytensor.function([conv_model.x], conv_model.encode(conv_model.x))(x)
    code = pytensor.function([conv_model.x], conv_model.sparse_code(conv_model.x, 3))(x)
    assert ((code != 0).sum(axis=(1, 2)) <= 1).all()
    assert ((code != 0).sum(axis=(0, 1, 2)) == 3).all()  # 3 winners of 6 images per map
    np.testing.assert_array_equal(code, numpy_conv_wta_code(h, 3))


def test_placing_the_winners_is_the_transposed_convolution(float64, conv_model):
    """``decode_winners`` (elements added at the winners' places) and ``decode`` (the
    transposed convolution of the whole code) agree, and so do their gradients.
    (Broken by a canvas offset of one pixel, or by placing the elements flipped.)"""
    x = np.random.RandomState(2).rand(6, 64)
    fast = conv_model.decode_winners(*conv_model.winners(conv_model.x, 3))
    dense = conv_model.decode(conv_model.sparse_code(conv_model.x, 3))
    np.testing.assert_allclose(*pytensor.function([conv_model.x], [fast, dense],
                                                  mode="FAST_COMPILE")(x), atol=1e-12)
    cost = pt.sum((fast - conv_model.x) ** 2)
    dense_cost = pt.sum((dense - conv_model.x) ** 2)
    # (FAST_COMPILE: the gradient of the transposed convolution, itself a gradient, takes
    # the full rewrite pipeline seconds to optimise, for arrays this small)
    grads = pytensor.function([conv_model.x],
                              pytensor.grad(cost, conv_model.params)
                              + pytensor.grad(dense_cost, conv_model.params),
                              mode="FAST_COMPILE")(x)
    n = len(conv_model.params)
    for g_fast, g_dense in zip(grads[:n], grads[n:]):
        np.testing.assert_allclose(g_fast, g_dense, atol=1e-10)


def test_an_element_is_added_at_its_winners_place(float64):
    """One map, one winner: the reconstruction is the dictionary element, scaled by the
    winner and centred on its pixel, plus the bias."""
    model = ConvWTAAutoencoder(np.random.RandomState(3), side=8, maps=1, kernel_size=3,
                               decoder_size=3, sparsity=0.5)
    values, places = pt.matrix("v"), pt.lmatrix("p")
    image = pytensor.function([values, places], model.decode_winners(values, places))(
        np.array([[2.0]]), np.array([[2 * 8 + 5]]))  # row 2, column 5
    expected = np.zeros((8, 8))
    expected[1:4, 4:7] = 2.0 * model.W_prime.get_value()[:, :, 0, 0]
    np.testing.assert_allclose(image.reshape(8, 8), expected)


def test_the_conv_gradient_reaches_the_kept_winners_only(float64, conv_model):
    """The cost's gradient with respect to the code maps is zero but at the kept winners."""
    h = pt.tensor4("h")
    values, places = spatial_winners(h)
    kept = keep_lifetime_winners(values, 2)
    image = conv_model.decode_winners(kept, places)
    c = np.random.RandomState(4).randn(5, 64)
    grad = pytensor.function([h], pytensor.grad(pt.sum(image * c), h))
    maps = np.random.RandomState(5).rand(5, 8, 8, 3)
    kept_code = numpy_conv_wta_code(maps, 2)
    g = grad(maps)
    assert (g[kept_code == 0] == 0).all()
    assert (g[kept_code != 0] != 0).all()


def test_features_are_the_pooled_relu_maps(float64, conv_model):
    x = np.random.RandomState(6).rand(4, 64)
    h = pytensor.function([conv_model.x], conv_model.encode(conv_model.x))(x)
    features = pytensor.function([conv_model.x], conv_model.features(conv_model.x))(x)
    pooled = h.reshape(4, 2, 4, 2, 4, 3).max(axis=(2, 4))
    np.testing.assert_allclose(features, pooled.reshape(4, -1))
    assert (h >= 0).all()


def test_conv_training_lowers_the_cost_on_the_sample(float32):
    from deeptutorial import load_data
    from deeptutorial.optimizers import adam
    from deeptutorial.training import compile_step

    train_x = load_data("sample")[0][0]
    model = ConvWTAAutoencoder(np.random.RandomState(2), maps=8)
    terms, _ = model.cost_terms(k=winners_per_unit(50, 0.2))
    step, _ = compile_step(terms["cost"], adam(terms["cost"], model.params, 0.003), model.x,
                           train_x, 50)
    costs = [float(step(np.int64(i % 50))) for i in range(60)]
    assert np.mean(costs[-10:]) < 0.8 * np.mean(costs[:5])


@pytest.mark.slow  # a real training run of a convolutional script
def test_conv_script_end_to_end(tmp_path):
    proc = run_conv("--dataset", "sample", "--epochs", 2, "--maps", 8, "--classifier-epochs", 3,
                    "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["winners_per_map"] == 20 and results["n_features"] == 8 * 7 * 7
    assert results["epoch_costs"][1] < results["epoch_costs"][0]
    assert results["classifier_test_error_percent"] < 60  # chance: 90
    for image in ("dictionary_image", "reconstructions_image"):
        assert (tmp_path / results[image]).stat().st_size > 0


@pytest.mark.parametrize("args, words", [
    (["--sparsity", "0"], "argument --sparsity"),
    (["--batch-size", "10", "--sparsity", "0.01"], "a minibatch of 10 holds no winner"),
    (["--hidden-maps", "8", "x"], "argument --hidden-maps"),
])
def test_conv_script_bad_flags_are_one_line(tmp_path, args, words):
    proc = run_conv("--dataset", "sample", "--output-folder", tmp_path / "out", *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()
