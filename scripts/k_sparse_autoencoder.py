"""Train a k-sparse autoencoder on MNIST and classify digits from its frozen codes.

    python scripts/k_sparse_autoencoder.py

trains a linear, tied-weight autoencoder whose code keeps only the k largest of its units
(k annealed from ``--k-start`` down to ``--k`` over the first epochs, as Makhzani & Frey do),
then trains the tutorials' logistic regression on the codes of the frozen encoder (alpha * k
units kept); writes ``k_sparse_filters.png`` and ``results.json`` (the test reconstruction
error, and the classifier's test error at its best validation epoch) into ``--output-folder``.
The encoder sees each digit's difference from the training digits' mean (``--no-centering``:
the raw pixels); ``--revive-dead`` restarts, after each epoch, the units that no training
example selected.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.classifier import classifier_figures, classify_codes
from deeptutorial.cli import SPLITS, add_classifier_flags, add_training_flags, derived_seed, \
    load_datasets, make_parser, new_results, parse_args, positive_int, run_script, \
    training_figures
from deeptutorial.k_sparse_autoencoder import KSparseAutoencoder
from deeptutorial.optimizers import adam
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import filters_image, in_chunks


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="k_sparse_autoencoder_plots",
                         seed=123)
    add_training_flags(parser, epochs=20, batch_size=100, learning_rate=0.001,
                       optimiser="Adam", n_hidden=1000)
    parser.add_argument("--k", type=positive_int, default=25,
                        help="code units kept per example at the end of training")
    parser.add_argument("--k-start", type=positive_int, default=100,
                        help="code units kept at the start; lowered linearly to --k")
    parser.add_argument("--anneal-epochs", type=positive_int, default=5,
                        help="epochs over which k goes from --k-start to --k")
    parser.add_argument("--output", choices=("linear", "sigmoid"), default="linear",
                        help="the decoder's output units")
    parser.add_argument("--alpha", type=positive_int, default=3,
                        help="the classifier sees the codes with alpha * k units kept")
    parser.add_argument("--no-centering", action="store_true",
                        help="feed the encoder raw pixels, not their difference from the "
                             "training digits' mean")
    parser.add_argument("--revive-dead", action="store_true",
                        help="after each epoch, restart the units no example selected in it")
    add_classifier_flags(parser)
    return parser


def k_schedule(epoch: int, args) -> int:
    """Units kept during ``epoch``: linear from --k-start to --k over --anneal-epochs."""
    if epoch >= args.anneal_epochs:
        return args.k
    return int(round(args.k_start + (args.k - args.k_start) * epoch / args.anneal_epochs))


def main(argv: list[str] | None = None) -> dict:
    parser = flags()
    args = parse_args(parser, argv)
    for flag, k in (("--k", args.k), ("--k-start", args.k_start)):
        if k > args.n_hidden:
            parser.error(f"argument {flag}: expected at most --n-hidden {args.n_hidden}, got {k}")
    datasets = load_datasets(args, uses=SPLITS, labels=True)
    train_x = datasets[0][0]
    model = KSparseAutoencoder(np.random.RandomState(args.seed),
                               n_visible=train_x.get_value(borrow=True).shape[1],
                               n_hidden=args.n_hidden, k=k_schedule(0, args), output=args.output,
                               input_mean=None if args.no_centering
                               else train_x.get_value(borrow=True).mean(axis=0))
    cost, _ = model.training_cost()
    counting = model.selection_count_update() if args.revive_dead else []
    step, compile_seconds = compile_step(cost, adam(cost, model.params, args.learning_rate)
                                         + counting, model.x, train_x, args.batch_size,
                                         name="train_k_sparse")
    revived, revive_rng = [], np.random.RandomState(derived_seed(args.seed, 1))

    def anneal(epoch, history):
        if args.revive_dead and epoch + 1 < args.epochs:
            revived.append(model.revive_dead_units(train_x.get_value(borrow=True), revive_rng))
            print(f"epoch {epoch}: {revived[-1]} units restarted")
        model.set_k(k_schedule(epoch + 1, args))

    history = train(step, n_batches(train_x, args.batch_size), args.epochs, on_epoch_end=anneal,
                    log_format="Training epoch {epoch}, cost {cost:.4f}")
    print(f"The k-sparse autoencoder trained for {sum(history.epoch_seconds) / 60:.2f}m",
          file=sys.stderr)
    x = pt.matrix("x")
    reconstruct = pytensor.function([x], model.reconstruct(x))
    features = pytensor.function([x], model.encode_for_features(x, args.alpha))
    arrays = [(split_x.get_value(), split_y.get_value()) for split_x, split_y in datasets]
    test_x = arrays[2][0]
    reconstruction = in_chunks(reconstruct, test_x)
    codes = [in_chunks(features, split_x) for split_x, _ in arrays]
    sparse_code = pytensor.function([x], model.encode(x))
    test_codes = in_chunks(sparse_code, test_x)
    active = float(np.mean(np.sum(test_codes != 0, axis=1)))
    # units among the k kept for no test digit: filters that lost every competition
    never_active = int(np.sum(~np.any(test_codes != 0, axis=0)))
    classifier = classify_codes(codes, [split_y for _, split_y in arrays], args.batch_size,
                                args.classifier_epochs, args.classifier_lr,
                                refit=args.classifier_refit)
    results = new_results(
        __file__, args, n_train=len(arrays[0][0]),
        test_mse=float(np.mean((test_x - reconstruction) ** 2)),
        test_squared_error=float(np.mean(np.sum((test_x - reconstruction) ** 2, axis=1))),
        mean_active_units=active, units_never_active=never_active, units_revived=revived,
        **classifier_figures(classifier),
        k_per_epoch=[k_schedule(e, args) for e in range(args.epochs)],
        **training_figures(history, compile_seconds),
        filters_image=save_image(args.output_folder, "k_sparse_filters.png",
                                 filters_image(model.W.get_value(borrow=True))))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
