"""Train denoising autoencoders on MNIST with Gaussian, dropout or salt-and-pepper input noise.

    python scripts/denoising_autoencoder.py

trains one autoencoder per noise kind (noise in training only), prints each epoch's mean
training cost, measures the noise-free reconstruction error on the test set, and writes
``denoising_<kind>.png`` (clean test digits, their noisy versions, and the reconstructions
of the noisy versions), ``denoising_side_by_side.png`` and ``results.json`` into
``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng

from deeptutorial.cli import add_training_flags, check_batch_size, derived_seed, \
    fraction_below_one, load_datasets, make_parser, new_results, parse_args, positive_float, \
    positive_int, run_script
from deeptutorial.denoising_autoencoder import NOISE_KINDS, DenoisingAutoencoder
from deeptutorial.losses import LOSSES
from deeptutorial.optimizers import adam
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import digits_image, in_chunks, side_by_side


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="denoising_autoencoder_plots",
                         seed=123)
    add_training_flags(parser, epochs=10, batch_size=100, learning_rate=0.001, optimiser="Adam",
                       n_hidden=500)
    parser.add_argument("--noise", choices=NOISE_KINDS, nargs="+",
                        default=["gaussian", "dropout"],
                        help="noise kinds to train with, one autoencoder each")
    parser.add_argument("--gaussian-std", type=positive_float, default=0.5,
                        help="standard deviation of the Gaussian noise added to each pixel")
    parser.add_argument("--dropout-rate", type=fraction_below_one, default=0.3,
                        help="probability that dropout noise zeroes a pixel")
    parser.add_argument("--salt-and-pepper-rate", type=fraction_below_one, default=0.4,
                        help="probability that salt-and-pepper noise sets a pixel to 0 or 1")
    parser.add_argument("--loss", choices=LOSSES, default="cross_entropy",
                        help="reconstruction loss")
    parser.add_argument("--n-shown", type=positive_int, default=10,
                        help="test digits shown in each image")
    return parser


def train_one(kind: str, args, train_set_x, test_x: np.ndarray, run: dict):
    """Train the autoencoder of one noise kind; fill ``run``; return its image."""
    level = {"gaussian": args.gaussian_std, "dropout": args.dropout_rate,
             "salt_and_pepper": args.salt_and_pepper_rate}[kind]
    x = pt.matrix("x")
    model = DenoisingAutoencoder(numpy_rng=np.random.RandomState(args.seed), input=x,
                                 n_visible=train_set_x.get_value(borrow=True).shape[1],
                                 n_hidden=args.n_hidden, noise=kind, noise_level=level,
                                 loss=args.loss)
    cost, rng_updates = model.training_cost()
    step, run["compile_seconds"] = compile_step(
        cost, adam(cost, model.params, args.learning_rate) + rng_updates, x, train_set_x,
        args.batch_size, name=f"train_{kind}")
    reconstruct = pytensor.function([x], model.reconstruct(x))
    # Noise for the pictures comes from its own generator, not the training stream.
    noisy_x, noise_updates = model.add_noise(x, shared_rng(seed=derived_seed(args.seed, 1)))
    make_noisy = pytensor.function([x], noisy_x, updates=noise_updates)

    print(f"--- {kind} noise, level {level:g} ---")
    history = train(step, n_batches(train_set_x, args.batch_size), args.epochs)
    print(f"The {kind} noise code ran for {sum(history.epoch_seconds) / 60:.2f}m",
          file=sys.stderr)
    shown = test_x[:args.n_shown]
    noisy = make_noisy(shown)
    run.update(noise_level=level, epoch_costs=history.epoch_costs,
               epoch_seconds=history.epoch_seconds,
               test_mse=float(np.mean((test_x - in_chunks(reconstruct, test_x)) ** 2)),
               noisy_test_mse=float(np.mean((test_x[:len(noisy)] - reconstruct(noisy)) ** 2)))
    print(f"test MSE without noise: {run['test_mse']:.5f}")
    # Rows: clean digits, noisy inputs (clipped to [0, 1] for display), their reconstructions.
    image = digits_image(np.concatenate([shown, np.clip(noisy, 0, 1), reconstruct(noisy)]),
                         per_row=len(shown))
    run["image"] = save_image(args.output_folder, f"denoising_{kind}.png", image)
    return image


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    (train_set_x, _), _, (test_set_x, _) = load_datasets(args, uses=("training", "test"))
    test_x = test_set_x.get_value()
    check_batch_size(args.n_shown, len(test_x), "--n-shown", "test images")
    kinds = list(dict.fromkeys(args.noise))
    runs: dict[str, dict] = {}
    images = [train_one(kind, args, train_set_x, test_x, runs.setdefault(kind, {}))
              for kind in kinds]
    results = new_results(
        __file__, args, n_train=train_set_x.get_value(borrow=True).shape[0],
        n_test=len(test_x), test_mse={kind: runs[kind]["test_mse"] for kind in kinds},
        test_mse_note="mean over test images and pixels of (x - z)^2, reconstructing the "
                      "clean x without noise",
        runs=runs)
    if len(images) > 1:
        results["side_by_side_image"] = save_image(args.output_folder,
                                                   "denoising_side_by_side.png",
                                                   side_by_side(images))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
