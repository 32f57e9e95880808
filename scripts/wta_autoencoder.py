"""Train a winner-take-all autoencoder (lifetime sparsity) on MNIST and classify its codes.

    python scripts/wta_autoencoder.py

trains a ReLU autoencoder with a linear decoder in which every code unit keeps only its
``--sparsity`` fraction of largest activations over each minibatch (Makhzani & Frey's
lifetime sparsity: 5% of a batch of 100 is 5 winners per unit), then trains the tutorials'
logistic regression on the ReLU codes of the frozen encoder, the competition switched off as
the paper does at test time. Writes ``wta_dictionary.png`` (the decoder's first 100 filters),
``wta_reconstructions.png`` (test digits above, their reconstructions from the training-time
sparse code below) and ``results.json`` (the test reconstruction error and the classifier's
test error at its best validation epoch) into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np

from deeptutorial.cli import SPLITS, add_classifier_flags, add_training_flags, load_datasets, \
    make_parser, new_results, open_fraction, parse_args, positive_int, run_script, \
    training_figures
from deeptutorial.optimizers import adam
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import digits_image, filters_image
from deeptutorial.wta_autoencoder import WTAAutoencoder, evaluate, winners_per_unit


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="wta_autoencoder_plots",
                         seed=123)
    add_training_flags(parser, epochs=30, batch_size=100, learning_rate=0.0005,
                       optimiser="Adam", n_hidden=2000)
    parser.add_argument("--sparsity", type=open_fraction, default=0.05,
                        help="the fraction of each minibatch every unit keeps (lifetime "
                             "sparsity)")
    parser.add_argument("--tied", action="store_true",
                        help="tie the decoder to the encoder (W' = W^T), as the paper's "
                             "appendix does")
    add_classifier_flags(parser)
    parser.add_argument("--n-shown", type=positive_int, default=20,
                        help="test digits shown with their reconstructions")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = flags()
    args = parse_args(parser, argv)
    try:
        k = winners_per_unit(args.batch_size, args.sparsity)
    except ValueError as exc:
        parser.error(f"argument --batch-size: {exc}")
    datasets = load_datasets(args, uses=SPLITS, labels=True)
    train_x = datasets[0][0]
    model = WTAAutoencoder(np.random.RandomState(args.seed),
                           n_visible=train_x.get_value(borrow=True).shape[1],
                           n_hidden=args.n_hidden, sparsity=args.sparsity, tied=args.tied)
    terms, _ = model.cost_terms(k=k)
    cost = terms["cost"]
    step, compile_seconds = compile_step(cost, adam(cost, model.params, args.learning_rate),
                                         model.x, train_x, args.batch_size, name="train_wta")
    history = train(step, n_batches(train_x, args.batch_size), args.epochs,
                    log_format="Training epoch {epoch}, cost {cost:.4f}")
    print(f"The winner-take-all autoencoder trained for {sum(history.epoch_seconds) / 60:.2f}m",
          file=sys.stderr)

    splits = [(split_x.get_value(), split_y.get_value()) for split_x, split_y in datasets]
    figures, reconstruction = evaluate(model, k, splits, args.batch_size,
                                       args.classifier_epochs, args.classifier_lr,
                                       refit=args.classifier_refit)
    shown = min(args.n_shown, len(reconstruction))
    results = new_results(
        __file__, args, n_train=len(splits[0][0]), winners_per_unit=k, **figures,
        **training_figures(history, compile_seconds),
        dictionary_image=save_image(args.output_folder, "wta_dictionary.png",
                                    filters_image(model.dictionary())),
        reconstructions_image=save_image(args.output_folder, "wta_reconstructions.png",
                                         digits_image(np.concatenate(
                                             [splits[2][0][:shown],
                                              np.clip(reconstruction[:shown], 0, 1)]))))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
