import json
import subprocess
import sys

import numpy as np
import pytensor
import pytest

from conftest import REPO
from deeptutorial.classifier import PretrainableClassifier, classifier_figures, \
    classify_codes, logistic_regression_on
from deeptutorial.optimizers import adam
from deeptutorial.stacked_autoencoder import StackedAutoencoder
from deeptutorial.training import train
from test_dA import assert_gradients_match
from test_scripts import assert_one_line_error


def test_gradients_match_finite_differences(float64):
    rng = np.random.RandomState(0)
    clf = PretrainableClassifier(rng, layer_sizes=(5, 4, 3), n_classes=3, l2_reg=0.1)
    clf.top.W.set_value(rng.normal(size=(3, 3)))
    x_value, y_value = rng.uniform(size=(6, 5)), np.array([0, 1, 2, 2, 1, 0], dtype=np.int32)
    givens = {clf.x: x_value, clf.y: y_value}
    assert_gradients_match(clf.cost, clf.params, givens)


def test_pretrained_layers_are_copies_and_freezing_keeps_them(float64):
    rng = np.random.RandomState(1)
    encoder = StackedAutoencoder(rng, layer_sizes=(5, 4, 3))
    clf = PretrainableClassifier(rng, layer_sizes=(5, 4, 3), n_classes=2, encoder=encoder)
    for mine, theirs in zip(clf.W + clf.b, encoder.W + encoder.b):
        assert mine is not theirs
        np.testing.assert_array_equal(mine.get_value(), theirs.get_value())
    params = clf.trainable_params(freeze_hidden=True)
    assert params == clf.top.params
    x_value, y_value = rng.uniform(size=(6, 5)), np.array([0, 1, 1, 0, 1, 0], dtype=np.int32)
    step = pytensor.function([], clf.cost, updates=adam(clf.cost, params, 0.05),
                             givens={clf.x: x_value, clf.y: y_value})
    costs = [float(step()) for _ in range(20)]
    assert costs[-1] < costs[0]
    for mine, theirs in zip(clf.W + clf.b, encoder.W + encoder.b):
        np.testing.assert_array_equal(mine.get_value(), theirs.get_value())
    assert set(clf.trainable_params()) == set(clf.params)


def noisy_codes(rng, sizes, dim=12, classes=10):
    """Splits of codes a linear classifier can learn, but not perfectly: the same class means
    in every split, plus noise. Returns ``(codes, labels)`` for each of ``sizes``."""
    means = rng.normal(size=(classes, dim))
    splits = []
    for n in sizes:
        labels = rng.randint(classes, size=n).astype(np.int32)
        splits.append(((means[labels] + 0.8 * rng.normal(size=(n, dim))).astype("float32"),
                       labels))
    return splits


def test_classify_codes_reports_the_best_validation_epoch(float32):
    rng = np.random.RandomState(0)
    splits = noisy_codes(rng, (400, 200, 200))
    result = classify_codes([c for c, _ in splits], [y for _, y in splits], 20, 6, 0.01)
    assert len(result["curve"]) == 6 and "refit" not in result
    best = min(result["curve"], key=lambda p: p["validation_error_percent"])
    assert result["best_epoch"] == best["epoch"]
    assert result["test_error_percent"] == best["test_error_percent"] < 60  # chance: 90
    assert set(classifier_figures(result)) == {"classifier_test_error_percent", "classifier"}


def test_the_refit_learns_training_and_validation_codes_for_the_best_epochs(float32):
    """The refit is a classifier trained afresh on the training and validation codes for
    best_epoch + 1 epochs: the same one, trained here by hand, makes the same test errors."""
    rng = np.random.RandomState(1)
    (train_c, train_y), (valid_c, valid_y), (test_c, test_y) = noisy_codes(rng,
                                                                          (400, 200, 300))
    result = classify_codes([train_c, valid_c, test_c], [train_y, valid_y, test_y], 20, 6,
                            0.01, refit=True)
    refit = result["refit"]
    assert refit["epochs"] == result["best_epoch"] + 1 and refit["n_train"] == 600
    step, batches, predict = logistic_regression_on(np.concatenate([train_c, valid_c]),
                                                    np.concatenate([train_y, valid_y]), 20,
                                                    0.01)
    train(step, batches, refit["epochs"], log=lambda line: None)
    assert refit["test_error_percent"] == pytest.approx(100 * np.mean(predict(test_c) != test_y))
    assert classifier_figures(result)["classifier_refit_test_error_percent"] == \
        refit["test_error_percent"]


def test_loss_falls_on_the_bundled_sample(float32):
    from deeptutorial import load_mnist

    (x, y), _, _ = load_mnist("sample")
    x, y = x[:200], y[:200].astype(np.int32)
    clf = PretrainableClassifier(np.random.RandomState(2), layer_sizes=(784, 30, 20))
    params = clf.trainable_params()
    step = pytensor.function([], clf.cost, updates=adam(clf.cost, params, 0.003),
                             givens={clf.x: x, clf.y: y})
    costs = [float(step()) for _ in range(30)]
    assert costs[-1] < 0.5 * costs[0]


@pytest.mark.parametrize("kwargs, word", [
    ({"layer_sizes": (784,)}, "(784,)"),
    ({"n_classes": 1}, "1"),
    ({"l2_reg": -0.5}, "-0.5"),
    ({"encoder": "wrong"}, "layer"),
])
def test_bad_arguments_name_the_value(float64, kwargs, word):
    if kwargs.get("encoder") == "wrong":
        kwargs = {"encoder": StackedAutoencoder(np.random.RandomState(0), layer_sizes=(784, 20))}
    with pytest.raises((ValueError, AttributeError)) as info:
        PretrainableClassifier(np.random.RandomState(0), **kwargs)
    assert info.type is ValueError and word in str(info.value)


def run_script(*args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "unsupervised_pretraining.py"),
                           *map(str, args)], capture_output=True, text=True, timeout=600)


def test_script_end_to_end(tmp_path):
    proc = run_script("--dataset", "sample", "--hidden-sizes", 30, 12, "--pretrain-epochs", 1,
                      "--pretrain-batch-size", 250, "--label-counts", 40, 100, "--seeds", 2,
                      "--epochs", 30, "--batch-size", 20, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    accuracy = results["test_accuracy"]
    assert set(accuracy) == {"40", "100"}
    for by_setting in accuracy.values():
        assert set(by_setting) == {"scratch", "pretrained_frozen", "pretrained_finetuned"}
        for summary in by_setting.values():
            # chance is 0.1 (broken by never calling the training step: accuracy near 0.1)
            assert len(summary["runs"]) == 2 and 0.15 < summary["mean"] <= 1
            assert summary["std"] == pytest.approx(np.std(summary["runs"]))
    for setting in ("scratch", "pretrained_finetuned"):  # everything trained: well above chance
        assert accuracy["100"][setting]["mean"] > 0.5
    assert results["settings"]["label_counts"] == [40, 100]
    # each seed draws its own labelled subset (broken by drawing with args.seed every time)
    for by_seed in results["labelled_subset_first_indices"].values():
        assert len({tuple(first) for first in by_seed.values()}) == 2
    assert (tmp_path / results["image"]).stat().st_size > 0


@pytest.mark.parametrize("args, word", [
    (["--label-counts", "0"], "0"),
    (["--label-counts", "99999"], "99999"),
    (["--seeds", "x"], "x"),
])
def test_script_bad_flags_are_one_line(tmp_path, args, word):
    assert_one_line_error(run_script("--dataset", "sample", "--output-folder", tmp_path, *args),
                          word)
