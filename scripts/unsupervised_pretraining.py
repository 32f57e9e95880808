"""Unsupervised pretraining: a stacked autoencoder's encoder helps a classifier with few labels.

    python scripts/unsupervised_pretraining.py --dataset ../shared/data/mnist

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

import sys
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial import load_mnist
from deeptutorial.classifier import PretrainableClassifier
from deeptutorial.cli import make_parser, positive_float, positive_int, run_script, use_float32
from deeptutorial.optimizers import adam
from deeptutorial.plotting import line_plot
from deeptutorial.results import save_image, write_results
from deeptutorial.stacked_autoencoder import StackedAutoencoder
from deeptutorial.training import train

SETTINGS = ("scratch", "pretrained_frozen", "pretrained_finetuned")


def parse_args(argv: list[str] | None):
    parser = make_parser(__doc__.splitlines()[0], output_folder="unsupervised_pretraining_plots",
                         seed=42)
    parser.add_argument("--hidden-sizes", type=positive_int, nargs=2, default=[300, 150],
                        metavar=("N_HIDDEN1", "N_CODINGS"))
    parser.add_argument("--pretrain-epochs", type=positive_int, default=2)
    parser.add_argument("--pretrain-batch-size", type=positive_int, default=150)
    parser.add_argument("--pretrain-lr", type=positive_float, default=0.002)
    parser.add_argument("--l2-reg", type=positive_float, default=0.00001,
                        help="L2 penalty of the autoencoder's and the classifiers' weights")
    parser.add_argument("--label-counts", type=positive_int, nargs="+", default=[500, 2000],
                        help="how many labelled training images the classifiers see")
    parser.add_argument("--seeds", type=positive_int, default=3,
                        help="runs per label count and setting (labelled subset and "
                             "initialisation change with the seed)")
    parser.add_argument("--epochs", type=positive_int, default=15,
                        help="classifier training epochs over the labelled subset")
    parser.add_argument("--batch-size", type=positive_int, default=50)
    parser.add_argument("--learning-rate", type=positive_float, default=0.001)
    parser.add_argument("--frozen-learning-rate", type=positive_float, default=0.01,
                        help="learning rate of pretrained_frozen, which trains only the "
                             "(convex) softmax layer and needs larger steps")
    return parser.parse_args(argv)


def shared(array: np.ndarray, dtype=None):
    return pytensor.shared(np.asarray(array, dtype=dtype or pytensor.config.floatX), borrow=True)


def pretrain(args, train_x) -> tuple[StackedAutoencoder, dict]:
    x, index = pt.matrix("x"), pt.lscalar("index")
    sizes = (train_x.get_value(borrow=True).shape[1], *args.hidden_sizes)
    model = StackedAutoencoder(np.random.RandomState(args.seed), input=x, layer_sizes=sizes,
                               l2_reg=args.l2_reg)
    bs = args.pretrain_batch_size
    step = pytensor.function(
        [index], model.cost, updates=adam(model.cost, model.params, learning_rate=args.pretrain_lr),
        givens={x: train_x[index * bs: (index + 1) * bs]})
    n_batches = train_x.get_value(borrow=True).shape[0] // bs
    history = train(step, n_batches, args.pretrain_epochs,
                    log_format="Pretraining epoch {epoch}, cost {cost:.5f}")
    return model, {"epoch_costs": history.epoch_costs, "epoch_seconds": history.epoch_seconds}


class SettingRunner:
    """One setting's classifier, its Adam step and its test error, compiled once; ``run``
    re-initialises parameters and optimiser state for each seed and labelled subset."""

    def __init__(self, setting: str, encoder: StackedAutoencoder, labelled_x, labelled_y,
                 test_x, test_y, args):
        self.setting, self.encoder, self.args = setting, encoder, args
        self.labelled_x = labelled_x
        index, bs = pt.lscalar("index"), args.batch_size
        self.clf = clf = self.fresh(args.seed)
        frozen = setting == "pretrained_frozen"
        params = clf.trainable_params(freeze_hidden=frozen)
        updates = adam(clf.cost, params, learning_rate=args.frozen_learning_rate if frozen
                       else args.learning_rate)
        self.optimizer_state = [var for var, _ in updates if var not in clf.params]
        self.step = pytensor.function(
            [index], clf.cost, updates=updates,
            givens={clf.x: labelled_x[index * bs: (index + 1) * bs],
                    clf.y: labelled_y[index * bs: (index + 1) * bs]})
        self.test_error = pytensor.function([], clf.errors,
                                            givens={clf.x: test_x, clf.y: test_y})

    def fresh(self, seed: int) -> PretrainableClassifier:
        return PretrainableClassifier(
            np.random.RandomState(seed), layer_sizes=self.encoder.layer_sizes,
            encoder=None if self.setting == "scratch" else self.encoder, l2_reg=self.args.l2_reg)

    def run(self, seed: int) -> float:
        """Train from a fresh start on the current labelled subset; return test accuracy."""
        for mine, new in zip(self.clf.params, self.fresh(seed).params):
            mine.set_value(new.get_value())
        for var in self.optimizer_state:
            var.set_value(np.zeros_like(var.get_value()))
        n_batches = self.labelled_x.get_value(borrow=True).shape[0] // self.args.batch_size
        epochs_done = iter(range(self.args.epochs))

        def quiet(line: str) -> None:  # only the last epoch of each run is printed
            if next(epochs_done) == self.args.epochs - 1:
                print(f"  {self.setting}: {line}")

        train(self.step, n_batches, self.args.epochs, log=quiet,
              log_format="epoch {epoch}, training cost {cost:.4f}")
        return 1.0 - float(self.test_error())


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    use_float32()
    (train_x, train_y), _, (test_x, test_y) = load_mnist(args.dataset)
    n_train = len(train_x)
    too_many = [n for n in args.label_counts if n > n_train]
    if too_many:
        raise ValueError(f"--label-counts {too_many[0]} is larger than the {n_train} "
                         f"training images")
    too_few = [n for n in args.label_counts if n < args.batch_size]
    if too_few:
        raise ValueError(f"--label-counts {too_few[0]} is smaller than --batch-size "
                         f"{args.batch_size}")
    if args.pretrain_batch_size > n_train:
        raise ValueError(f"--pretrain-batch-size {args.pretrain_batch_size} is larger than the "
                         f"{n_train} training images")
    start = time.perf_counter()
    encoder, pretraining = pretrain(args, shared(train_x))
    pretraining["seconds"] = time.perf_counter() - start
    test_xs, test_ys = shared(test_x), shared(test_y, np.int32)
    # The labelled subset lives in shared variables whose values change between runs, so
    # each setting's functions are compiled once.
    labelled_x, labelled_y = shared(train_x[:1]), shared(train_y[:1], np.int32)
    runners = [SettingRunner(s, encoder, labelled_x, labelled_y, test_xs, test_ys, args)
               for s in SETTINGS]
    accuracy: dict = {}
    for n_labels in args.label_counts:
        accuracy[str(n_labels)] = runs = {s: [] for s in SETTINGS}
        for seed in range(args.seed, args.seed + args.seeds):
            pick = np.random.RandomState(seed).permutation(n_train)[:n_labels]
            labelled_x.set_value(np.asarray(train_x[pick], dtype=pytensor.config.floatX))
            labelled_y.set_value(np.asarray(train_y[pick], dtype=np.int32))
            print(f"{n_labels} labels, seed {seed}:")
            for runner in runners:
                acc = runner.run(seed)
                print(f"  {runner.setting}: test accuracy {100 * acc:.2f}%")
                runs[runner.setting].append(acc)
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
    settings = {k: v for k, v in vars(args).items() if k != "debug"}
    results = {"script": "unsupervised_pretraining.py", "settings": settings,
               "floatX": pytensor.config.floatX, "n_train": n_train,
               "n_test": len(test_x), "pretraining": pretraining, "test_accuracy": summary,
               "image": save_image(args.output_folder, "test_accuracy.png", image)}
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
