"""Train a sparse autoencoder on MNIST: a KL-divergence penalty keeps its code mostly silent.

    python scripts/sparse_autoencoder.py --dataset ../shared/data/mnist

prints each epoch's mean training cost, measures on the test set the mean activation of
the code (to compare with ``--sparsity-target``) and the reconstruction error, and writes
``sparsity_penalties.png`` (the KL and the squared-error penalties against the actual mean
activation), ``sparse_filters.png`` and ``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial import load_data, tile_raster_images
from deeptutorial.cli import make_parser, non_negative_float, open_fraction, positive_float, \
    positive_int, run_script, use_float32
from deeptutorial.optimizers import adam
from deeptutorial.results import save_image, write_results
from deeptutorial.sparse_autoencoder import SparseAutoencoder, kl_divergence
from deeptutorial.training import train


def parse_args(argv: list[str] | None):
    parser = make_parser(__doc__.splitlines()[0], output_folder="sparse_autoencoder_plots",
                         seed=123)
    parser.add_argument("--sparsity-target", type=open_fraction, default=0.1,
                        help="the mean activation each code unit should have")
    parser.add_argument("--sparsity-weight", type=non_negative_float, default=5.0,
                        help="weight of the KL sparsity loss against the reconstruction loss")
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--batch-size", type=positive_int, default=100)
    parser.add_argument("--learning-rate", type=positive_float, default=0.001,
                        help="Adam's step size")
    parser.add_argument("--n-hidden", type=positive_int, default=500)
    return parser.parse_args(argv)


def penalty_curves(target: float, n: int = 199) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The chapter's figure: both penalties of one unit against its actual mean activation."""
    q = pt.vector("q")
    kl = pytensor.function([q], kl_divergence(target, q))
    xs = np.linspace(0.005, 0.995, n).astype(pytensor.config.floatX)
    return xs, {"KL divergence": kl(xs), "squared error": (xs - target) ** 2}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    use_float32()
    from deeptutorial.plotting import line_plot  # written alongside; needs only NumPy/Pillow

    (train_set_x, _), _, (test_set_x, _) = load_data(args.dataset)
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    if args.batch_size > n_train:
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {n_train} "
                         f"training images")
    side = int(round(np.sqrt(n_visible)))
    settings = {k: v for k, v in vars(args).items() if k != "debug"}

    index, x = pt.lscalar("index"), pt.matrix("x")
    model = SparseAutoencoder(numpy_rng=np.random.RandomState(args.seed), input=x,
                              n_visible=n_visible, n_hidden=args.n_hidden,
                              sparsity_target=args.sparsity_target,
                              sparsity_weight=args.sparsity_weight)
    cost, reconstruction, sparsity = model.get_cost_terms()
    start = time.perf_counter()
    step = pytensor.function(
        [index], cost, updates=adam(cost, model.params, args.learning_rate),
        givens={x: train_set_x[index * args.batch_size: (index + 1) * args.batch_size]})
    code_and_output = pytensor.function([x], [model.encode(x), model.reconstruct(x)])
    compile_seconds = time.perf_counter() - start

    history = train(step, n_train // args.batch_size, args.epochs)
    print(f"The sparse autoencoder trained for {sum(history.epoch_seconds) / 60:.2f}m",
          file=sys.stderr)

    test_x = test_set_x.get_value()
    codes, outputs = zip(*(code_and_output(test_x[i:i + 1000])
                           for i in range(0, len(test_x), 1000)))
    codes, outputs = np.concatenate(codes), np.concatenate(outputs)
    unit_means = codes.mean(axis=0)
    mean_activation = float(codes.mean())
    test_mse = float(np.mean((test_x - outputs) ** 2))
    print(f"test set: mean coding activation {mean_activation:.4f} "
          f"(target {args.sparsity_target:g}), MSE {test_mse:.5f}")

    xs, curves = penalty_curves(args.sparsity_target)
    plot = line_plot(xs, curves, title=f"sparsity penalties, target p = {args.sparsity_target:g}",
                     xlabel="actual mean activation q", ylabel="penalty")
    filters = tile_raster_images(model.W.get_value(borrow=True).T, img_shape=(side, side),
                                 tile_shape=(10, 10), tile_spacing=(1, 1))
    results = {"script": "sparse_autoencoder.py", "settings": settings,
               "floatX": pytensor.config.floatX, "n_train": n_train, "n_test": len(test_x),
               "sparsity_target": args.sparsity_target,
               "mean_coding_activation": mean_activation,
               "mean_coding_activation_note": "mean over test images and code units",
               "unit_mean_activation_range": [float(unit_means.min()), float(unit_means.max())],
               "test_mse": test_mse,
               "test_mse_note": "mean over test images and pixels of (x - z)^2",
               "epoch_costs": history.epoch_costs, "epoch_seconds": history.epoch_seconds,
               "compile_seconds": compile_seconds,
               "penalties_image": save_image(args.output_folder, "sparsity_penalties.png", plot),
               "filters_image": save_image(args.output_folder, "sparse_filters.png", filters)}
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
