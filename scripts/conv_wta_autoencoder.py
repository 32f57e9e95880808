"""Train a convolutional winner-take-all autoencoder on MNIST and classify its pooled maps.

    python scripts/conv_wta_autoencoder.py

trains Makhzani & Frey's convolutional WTA autoencoder: 5x5 'same' ReLU convolutions to
``--maps`` feature maps, of which, in training, each keeps only its largest pixel per image
(spatial sparsity) and that pixel only for its ``--sparsity`` fraction of largest images in the
minibatch (lifetime sparsity), and a linear 11x11 deconvolution back to the image. Then the
tutorials' logistic regression is trained on the frozen ReLU maps, the competitions switched
off and the maps max-pooled in ``--pool`` x ``--pool`` blocks, as the paper classifies them.
Writes ``conv_wta_dictionary.png`` (the decoder's elements), ``conv_wta_reconstructions.png``
(test digits above, their reconstructions from the training-time sparse code below) and
``results.json`` (the test reconstruction error and the classifier's test error at its best
validation epoch) into ``--output-folder``.
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
from deeptutorial.wta_autoencoder import ConvWTAAutoencoder, evaluate, winners_per_unit


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="conv_wta_autoencoder_plots",
                         seed=123)
    add_training_flags(parser, epochs=20, batch_size=100, learning_rate=0.001,
                       optimiser="Adam")
    parser.add_argument("--maps", type=positive_int, default=16,
                        help="feature maps of the code (the encoder's last layer)")
    parser.add_argument("--hidden-maps", type=positive_int, nargs="*", default=[],
                        help="maps of each of the encoder's 5x5 layers before the last (none "
                             "by default)")
    parser.add_argument("--sparsity", type=open_fraction, default=0.2,
                        help="the fraction of each minibatch every map keeps its winner for "
                             "(lifetime sparsity)")
    parser.add_argument("--pool", type=positive_int, default=4, choices=(1, 2, 4, 7, 14, 28),
                        help="the max-pooling block of the features the classifier reads")
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
    datasets = load_datasets(args, uses=SPLITS, labels=True, side=28)
    train_x = datasets[0][0]
    model = ConvWTAAutoencoder(np.random.RandomState(args.seed), maps=args.maps,
                               hidden_maps=args.hidden_maps, sparsity=args.sparsity,
                               pool=args.pool)
    terms, _ = model.cost_terms(k=k)
    cost = terms["cost"]
    step, compile_seconds = compile_step(cost, adam(cost, model.params, args.learning_rate),
                                         model.x, train_x, args.batch_size,
                                         name="train_conv_wta")
    history = train(step, n_batches(train_x, args.batch_size), args.epochs,
                    log_format="Training epoch {epoch}, cost {cost:.4f}")
    print(f"The convolutional WTA autoencoder trained for "
          f"{sum(history.epoch_seconds) / 60:.2f}m", file=sys.stderr)

    splits = [(split_x.get_value(), split_y.get_value()) for split_x, split_y in datasets]
    figures, reconstruction = evaluate(model, k, splits, args.batch_size,
                                       args.classifier_epochs, args.classifier_lr,
                                       refit=args.classifier_refit)
    shown = min(args.n_shown, len(reconstruction))
    columns = min(8, args.maps)
    results = new_results(
        __file__, args, n_train=len(splits[0][0]), winners_per_map=k, **figures,
        **training_figures(history, compile_seconds),
        dictionary_image=save_image(args.output_folder, "conv_wta_dictionary.png",
                                    filters_image(model.dictionary().T,
                                                  tiles=(-(-args.maps // columns), columns),
                                                  scale=4)),
        reconstructions_image=save_image(args.output_folder, "conv_wta_reconstructions.png",
                                         digits_image(np.concatenate(
                                             [splits[2][0][:shown],
                                              np.clip(reconstruction[:shown], 0, 1)]))))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
