"""Train a sparse autoencoder on MNIST: a KL-divergence penalty keeps its code mostly silent.

    python scripts/sparse_autoencoder.py

prints each epoch's mean training cost, measures on the test set the mean activation of
the code (to compare with ``--sparsity-target``) and the reconstruction error, and writes
``sparsity_penalties.png`` (the KL and the squared-error penalties against the actual mean
activation), ``sparse_filters.png`` and ``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.cli import add_training_flags, load_datasets, make_parser, new_results, \
    non_negative_float, open_fraction, parse_args, run_script, training_figures
from deeptutorial.nn import bernoulli_kl
from deeptutorial.optimizers import adam
from deeptutorial.plotting import line_plot
from deeptutorial.results import save_image, write_results
from deeptutorial.sparse_autoencoder import SparseAutoencoder
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import filters_image, in_chunks


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="sparse_autoencoder_plots",
                         seed=123)
    add_training_flags(parser, epochs=10, batch_size=100, learning_rate=0.001, optimiser="Adam",
                       n_hidden=500)
    parser.add_argument("--sparsity-target", type=open_fraction, default=0.1,
                        help="the mean activation each code unit should have")
    parser.add_argument("--sparsity-weight", type=non_negative_float, default=5.0,
                        help="weight of the KL sparsity loss against the reconstruction loss")
    return parser


def penalty_curves(target: float, n: int = 199) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The chapter's figure: both penalties of one unit against its actual mean activation."""
    q = pt.vector("q")
    kl = pytensor.function([q], bernoulli_kl(target, q))
    xs = np.linspace(0.005, 0.995, n).astype(pytensor.config.floatX)
    return xs, {"KL divergence": kl(xs), "squared error": (xs - target) ** 2}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    (train_set_x, _), _, (test_set_x, _) = load_datasets(args, uses=("training", "test"))
    n_train, n_visible = train_set_x.get_value(borrow=True).shape

    x = pt.matrix("x")
    model = SparseAutoencoder(numpy_rng=np.random.RandomState(args.seed), input=x,
                              n_visible=n_visible, n_hidden=args.n_hidden,
                              sparsity_target=args.sparsity_target,
                              sparsity_weight=args.sparsity_weight)
    cost, _ = model.training_cost()
    step, compile_seconds = compile_step(cost, adam(cost, model.params, args.learning_rate), x,
                                         train_set_x, args.batch_size, name="train_sparse")
    encode = pytensor.function([x], model.encode(x))
    reconstruct = pytensor.function([x], model.reconstruct(x))

    history = train(step, n_batches(train_set_x, args.batch_size), args.epochs)
    print(f"The sparse autoencoder trained for {sum(history.epoch_seconds) / 60:.2f}m",
          file=sys.stderr)

    test_x = test_set_x.get_value()
    codes, outputs = in_chunks(encode, test_x), in_chunks(reconstruct, test_x)
    unit_means = codes.mean(axis=0)
    mean_activation = float(codes.mean())
    test_mse = float(np.mean((test_x - outputs) ** 2))
    print(f"test set: mean coding activation {mean_activation:.4f} "
          f"(target {args.sparsity_target:g}), MSE {test_mse:.5f}")

    xs, curves = penalty_curves(args.sparsity_target)
    plot = line_plot(xs, curves, title=f"sparsity penalties, target p = {args.sparsity_target:g}",
                     xlabel="actual mean activation q", ylabel="penalty")
    results = new_results(
        __file__, args, n_train=n_train, n_test=len(test_x),
        sparsity_target=args.sparsity_target, mean_coding_activation=mean_activation,
        mean_coding_activation_note="mean over test images and code units",
        unit_mean_activation_range=[float(unit_means.min()), float(unit_means.max())],
        test_mse=test_mse, test_mse_note="mean over test images and pixels of (x - z)^2",
        **training_figures(history, compile_seconds),
        penalties_image=save_image(args.output_folder, "sparsity_penalties.png", plot),
        filters_image=save_image(args.output_folder, "sparse_filters.png",
                                 filters_image(model.W.get_value(borrow=True))))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
