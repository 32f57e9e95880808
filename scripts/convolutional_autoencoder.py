"""Train a convolutional autoencoder on MNIST, plain and as a denoising autoencoder.

    python scripts/convolutional_autoencoder.py

trains the shape of the best-known framework example (two 3x3 convolutions with 2x2 max
pooling, two stride-2 transposed convolutions, a 3x3 convolution to one channel; 28,353
parameters) with the per-pixel cross-entropy and Adam, once on clean digits and once on digits
with Gaussian noise (clipped to [0, 1]); prints each epoch's mean cost, measures the test set's
reconstruction error, and writes ``reconstructions_<variant>.png`` (test digits, the inputs the
model saw, their reconstructions), ``filters_<variant>.png`` (the first layer's 3x3 filters)
and ``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng

from deeptutorial import backends
from deeptutorial.cli import add_training_flags, check_batch_size, derived_seed, load_datasets, \
    make_parser, new_results, non_negative_float, parse_args, positive_int, run_script
from deeptutorial.conv_autoencoder import UPSAMPLING, ConvAutoencoder
from deeptutorial.optimizers import adam
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import digits_image, filters_image, in_chunks

VARIANTS = ("plain", "denoising")


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="convolutional_autoencoder_plots",
                         seed=123)
    add_training_flags(parser, epochs=10, batch_size=128, learning_rate=0.001,
                       optimiser="Adam")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="train on clean digits (plain), on noisy ones (denoising), or both")
    parser.add_argument("--upsampling", choices=UPSAMPLING, default="transpose",
                        help="the decoder's way back up: stride-2 transposed convolutions, or "
                             "nearest-neighbour upsampling followed by convolutions")
    parser.add_argument("--channels", type=positive_int, default=32,
                        help="channels of every hidden convolution")
    parser.add_argument("--noise-std", type=non_negative_float, default=0.4,
                        help="standard deviation of the denoising variant's Gaussian noise")
    parser.add_argument("--n-shown", type=positive_int, default=10,
                        help="test digits shown in each image")
    return parser


def filters_mosaic(W: np.ndarray, scale: int = 8) -> np.ndarray:
    """The first layer's 3x3 kernels (3, 3, 1, F) as tiles, each pixel ``scale`` times larger."""
    kernels = W[:, :, 0, :].reshape(-1, W.shape[-1])  # one column of 9 weights per filter
    columns = min(8, kernels.shape[1])
    return filters_image(kernels, tiles=(-(-kernels.shape[1] // columns), columns), scale=scale)


def train_variant(variant: str, args, train_x, test_x: np.ndarray, run: dict) -> None:
    noise = args.noise_std if variant == "denoising" else 0.0
    model = ConvAutoencoder(np.random.RandomState(args.seed), channels=args.channels,
                            upsampling=args.upsampling, noise_std=noise)
    run["parameters"] = int(sum(p.get_value(borrow=True).size for p in model.params))
    terms, rng_updates = model.cost_terms()
    step, run["compile_seconds"] = compile_step(
        terms["cost"], adam(terms["cost"], model.params, args.learning_rate) + rng_updates,
        model.x, train_x, args.batch_size, name=f"train_{variant}")
    x = pt.matrix("x")
    reconstruct = backends.function_of_rows(model.reconstruct)
    print(f"--- {variant}: {run['parameters']} parameters, upsampling {args.upsampling} ---")
    history = train(step, n_batches(train_x, args.batch_size), args.epochs,
                    log_format=f"{variant}: epoch {{epoch}}, cost {{cost:.5f}}")
    print(f"The {variant} autoencoder trained for {sum(history.epoch_seconds) / 60:.2f}m",
          file=sys.stderr)
    clean = in_chunks(reconstruct, test_x, 500)
    eps = 1e-7
    run.update(epoch_costs=history.epoch_costs, epoch_seconds=history.epoch_seconds,
               test_mse=float(np.mean((test_x - clean) ** 2)),
               test_cross_entropy=float(np.mean(-(test_x * np.log(clean + eps)
                                                  + (1 - test_x) * np.log(1 - clean + eps)))))
    shown = test_x[:args.n_shown]
    seen = shown
    if noise > 0:  # the test digits with noise drawn from a stream of their own
        noisy_x, noise_updates = model.add_noise(x, shared_rng(seed=derived_seed(args.seed, 1)))
        noisy_test = pytensor.function([x], noisy_x, updates=noise_updates)(test_x)
        denoised = in_chunks(reconstruct, noisy_test, 500)
        run["noisy_test_mse"] = float(np.mean((test_x - denoised) ** 2))
        seen = noisy_test[:args.n_shown]
        print(f"{variant}: test MSE {run['test_mse']:.5f} on clean digits, "
              f"{run['noisy_test_mse']:.5f} on noisy ones")
    else:
        print(f"{variant}: test MSE {run['test_mse']:.5f}")
    rows = np.concatenate([shown, seen, reconstruct(seen)]) if noise > 0 else \
        np.concatenate([shown, reconstruct(shown)])
    run["reconstructions_image"] = save_image(args.output_folder,
                                              f"reconstructions_{variant}.png",
                                              digits_image(rows, per_row=len(shown)))
    run["filters_image"] = save_image(args.output_folder, f"filters_{variant}.png",
                                      filters_mosaic(model.W[0].get_value()))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    (train_x, _), _, (test_set_x, _) = load_datasets(args, uses=("training", "test"), side=28)
    test_x = test_set_x.get_value()
    check_batch_size(args.n_shown, len(test_x), "--n-shown", "test images")
    runs: dict[str, dict] = {}
    for variant in dict.fromkeys(args.variants):
        train_variant(variant, args, train_x, test_x, runs.setdefault(variant, {}))
    results = new_results(
        __file__, args, n_train=train_x.get_value(borrow=True).shape[0], n_test=len(test_x),
        test_mse={v: r["test_mse"] for v, r in runs.items()},
        test_cross_entropy={v: r["test_cross_entropy"] for v, r in runs.items()},
        test_note="mean over test images and pixels, reconstructing clean digits; the "
                  "cross-entropy is per pixel, as the framework examples report it",
        runs=runs)
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
