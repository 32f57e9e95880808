"""Unsupervised pretraining: a stacked autoencoder's encoder helps a classifier with few labels.

    python scripts/unsupervised_pretraining.py

First a 784-300-150 stacked autoencoder (ELU, He initialisation, L2, Adam) is trained on
all training images, without their labels. Then, for each label count (``--label-counts``)
and seed (``--seeds``), a random labelled subset of that size is drawn and three
784-300-150-10 classifiers are trained on it with Adam for the same number of epochs:
  scratch               all layers from a fresh He initialisation
  pretrained_frozen     hidden layers copied from the encoder and kept fixed; only the
                        softmax layer is trained
  pretrained_finetuned  hidden layers copied from the encoder, then everything trained
It writes ``results.json`` (``test_accuracy``: per label count and setting, the mean, the
standard deviation and each seed's value) and ``test_accuracy.png`` into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys
import time

import numpy as np
import pytensor

from deeptutorial import load_mnist
from deeptutorial.classifier import PretrainableClassifier
from deeptutorial.cli import check_batch_size, derived_seed, make_parser, new_results, \
    parse_args, positive_float, positive_int, run_script
from deeptutorial.data import N_CLASSES, check_splits, describe_source
from deeptutorial.nn import shared_floatX
from deeptutorial.optimizers import adam, optimizer_state, reset
from deeptutorial.plotting import line_plot
from deeptutorial.results import save_image, write_results
from deeptutorial.stacked_autoencoder import StackedAutoencoder
from deeptutorial.training import compile_step, n_batches, train

SETTINGS = ("scratch", "pretrained_frozen", "pretrained_finetuned")


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="unsupervised_pretraining_plots",
                         seed=42)
    parser.add_argument("--hidden-sizes", type=positive_int, nargs=2, default=[300, 150],
                        metavar=("N_HIDDEN1", "N_CODINGS"), help="hidden and coding units")
    parser.add_argument("--pretrain-epochs", type=positive_int, default=2,
                        help="epochs of the stacked autoencoder")
    parser.add_argument("--pretrain-batch-size", type=positive_int, default=150,
                        help="minibatch size of the stacked autoencoder")
    parser.add_argument("--pretrain-lr", type=positive_float, default=0.002,
                        help="Adam's step size for the stacked autoencoder")
    parser.add_argument("--l2-reg", type=positive_float, default=0.00001,
                        help="L2 penalty of the autoencoder's and the classifiers' weights")
    parser.add_argument("--label-counts", type=positive_int, nargs="+", default=[500, 2000],
                        help="how many labelled training images the classifiers see")
    parser.add_argument("--seeds", type=positive_int, default=3,
                        help="runs per label count and setting (labelled subset and "
                             "initialisation change with the seed)")
    parser.add_argument("--epochs", type=positive_int, default=15,
                        help="classifier training epochs over the labelled subset")
    parser.add_argument("--batch-size", type=positive_int, default=50,
                        help="classifier minibatch size")
    parser.add_argument("--learning-rate", type=positive_float, default=0.001,
                        help="Adam's step size for the classifiers")
    parser.add_argument("--frozen-learning-rate", type=positive_float, default=0.01,
                        help="learning rate of pretrained_frozen, which trains only the "
                             "(convex) softmax layer and needs larger steps")
    return parser


def pretrain(args, train_x) -> tuple[StackedAutoencoder, dict]:
    sizes = (train_x.get_value(borrow=True).shape[1], *args.hidden_sizes)
    model = StackedAutoencoder(np.random.RandomState(args.seed), layer_sizes=sizes,
                               l2_reg=args.l2_reg)
    cost, _ = model.training_cost()
    step, _ = compile_step(cost, adam(cost, model.params, learning_rate=args.pretrain_lr),
                           model.x, train_x, args.pretrain_batch_size, name="pretrain")
    history = train(step, n_batches(train_x, args.pretrain_batch_size), args.pretrain_epochs,
                    log_format="Pretraining epoch {epoch}, cost {cost:.5f}")
    return model, {"epoch_costs": history.epoch_costs, "epoch_seconds": history.epoch_seconds}


def new_classifier(setting: str, encoder: StackedAutoencoder, seed: int, args):
    return PretrainableClassifier(np.random.RandomState(seed), layer_sizes=encoder.layer_sizes,
                                  encoder=None if setting == "scratch" else encoder,
                                  l2_reg=args.l2_reg)


def compile_setting(setting: str, encoder, labelled, test, args) -> dict:
    """One setting's classifier, its Adam step and its test error, compiled once: the labelled
    subset changes between runs only through the values of the shared variables."""
    clf = new_classifier(setting, encoder, args.seed, args)
    frozen = setting == "pretrained_frozen"
    params = clf.trainable_params(freeze_hidden=frozen)
    updates = adam(clf.cost, params, learning_rate=args.frozen_learning_rate if frozen
                   else args.learning_rate)
    step, _ = compile_step(clf.cost, updates, clf.x, labelled[0], args.batch_size, y=clf.y,
                           data_y=labelled[1], name=setting)
    test_error = pytensor.function([], clf.errors, givens={clf.x: test[0], clf.y: test[1]})
    return {"setting": setting, "clf": clf, "step": step, "test_error": test_error,
            "state": optimizer_state(updates, clf.params)}


def run_setting(compiled: dict, encoder, seed: int, labelled_x, args) -> float:
    """Train one setting from a fresh start on the current labelled subset; return the test
    accuracy. Only the last epoch's cost is printed."""
    for mine, new in zip(compiled["clf"].params,
                         new_classifier(compiled["setting"], encoder, seed, args).params):
        mine.set_value(new.get_value())
    reset(compiled["state"])
    epochs_done = iter(range(args.epochs))

    def quiet(line: str) -> None:
        if next(epochs_done) == args.epochs - 1:
            print(f"  {compiled['setting']}: {line}")

    train(compiled["step"], n_batches(labelled_x, args.batch_size), args.epochs, log=quiet,
          log_format="epoch {epoch}, training cost {cost:.4f}")
    return 1.0 - float(compiled["test_error"]())


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    splits = load_mnist(args.dataset)
    check_splits(splits, describe_source(args.dataset), uses=("training", "test"),
                 n_classes=N_CLASSES)
    (train_x, train_y), _, (test_x, test_y) = splits
    n_train = len(train_x)
    for n in args.label_counts:
        check_batch_size(n, n_train, "--label-counts", "training images")
        check_batch_size(args.batch_size, n, "--batch-size", f"images of --label-counts {n}")
    check_batch_size(args.pretrain_batch_size, n_train, "--pretrain-batch-size")
    start = time.perf_counter()
    encoder, pretraining = pretrain(args, shared_floatX(train_x, "train_x"))
    pretraining["seconds"] = time.perf_counter() - start
    test = (shared_floatX(test_x, "test_x"), pytensor.shared(test_y.astype(np.int32)))
    # The labelled subset lives in shared variables whose values change between runs.
    labelled = (shared_floatX(train_x[:1], "labelled_x"),
                pytensor.shared(train_y[:1].astype(np.int32)))
    compiled = [compile_setting(s, encoder, labelled, test, args) for s in SETTINGS]
    accuracy: dict = {}
    subsets: dict = {}  # the first labelled images' indices of each run, for the record
    for n_labels in args.label_counts:
        accuracy[str(n_labels)] = runs = {s: [] for s in SETTINGS}
        for seed in (derived_seed(args.seed, k) for k in range(args.seeds)):
            pick = np.random.RandomState(seed).permutation(n_train)[:n_labels]
            subsets.setdefault(str(n_labels), {})[str(seed)] = pick[:5].tolist()
            labelled[0].set_value(np.asarray(train_x[pick], dtype=pytensor.config.floatX))
            labelled[1].set_value(np.asarray(train_y[pick], dtype=np.int32))
            print(f"{n_labels} labels, seed {seed}:")
            for setting in compiled:
                acc = run_setting(setting, encoder, seed, labelled[0], args)
                print(f"  {setting['setting']}: test accuracy {100 * acc:.2f}%")
                runs[setting["setting"]].append(acc)
    summary = {n: {s: {"mean": float(np.mean(v)), "std": float(np.std(v)),
                       "min": float(np.min(v)), "max": float(np.max(v)), "runs": v}
                   for s, v in runs.items()} for n, runs in accuracy.items()}
    for n, by_setting in summary.items():
        print(f"{n} labels: " + "; ".join(
            f"{s} {100 * r['mean']:.2f}% +- {100 * r['std']:.2f}" for s, r in by_setting.items()))
    counts = [int(n) for n in summary]
    order = np.argsort(counts)
    curves = {s: [100 * summary[str(counts[i])][s]["mean"] for i in order] for s in SETTINGS}
    image = line_plot([counts[i] for i in order], curves,
                      title="MNIST test accuracy (mean of seeds)",
                      xlabel="labelled training images", ylabel="accuracy %")
    results = new_results(__file__, args, n_train=n_train, n_test=len(test_x),
                          pretraining=pretraining, test_accuracy=summary,
                          labelled_subset_first_indices=subsets,
                          image=save_image(args.output_folder, "test_accuracy.png", image))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
