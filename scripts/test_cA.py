"""The cA tutorial: train a contractive autoencoder on MNIST and draw its filters.

    python scripts/test_cA.py --dataset ../shared/data/mnist

prints, per epoch, the mean reconstruction cross-entropy and the mean Frobenius norm of the
encoder's Jacobian (as the Theano tutorial did), and writes ``cA_filters.png`` and
``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial import load_data, tile_raster_images
from deeptutorial.cA import cA
from deeptutorial.cli import make_parser, non_negative_float, positive_float, positive_int, \
    run_script, use_float32
from deeptutorial.results import save_image, write_results
from deeptutorial.training import train


def parse_args(argv: list[str] | None):
    parser = make_parser(__doc__.splitlines()[0], output_folder="cA_plots", seed=123)
    parser.add_argument("--epochs", type=positive_int, default=20)
    parser.add_argument("--batch-size", type=positive_int, default=10)
    parser.add_argument("--learning-rate", type=positive_float, default=0.01)
    parser.add_argument("--contraction-level", type=non_negative_float, default=0.1,
                        help="weight of the squared Frobenius norm of the Jacobian")
    parser.add_argument("--n-hidden", type=positive_int, default=500)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    use_float32()
    train_set_x = load_data(args.dataset)[0][0]
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    if args.batch_size > n_train:
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {n_train} "
                         f"training images")
    side = int(round(np.sqrt(n_visible)))
    settings = {k: v for k, v in vars(args).items() if k != "debug"}

    index, x = pt.lscalar("index"), pt.matrix("x")
    ca = cA(numpy_rng=np.random.RandomState(args.seed), input=x, n_visible=n_visible,
            n_hidden=args.n_hidden)
    outputs, updates = ca.get_cost_updates(args.contraction_level, args.learning_rate)
    start = time.perf_counter()
    train_ca = pytensor.function(
        [index], outputs, updates=updates,
        givens={x: train_set_x[index * args.batch_size: (index + 1) * args.batch_size]})
    compile_seconds = time.perf_counter() - start

    reconstruction, jacobian = [], []  # this epoch's per-minibatch terms
    epoch_reconstruction, epoch_jacobian_norm = [], []

    def step(i: int) -> float:
        cost, rec, jac = train_ca(i)
        reconstruction.append(float(rec))
        jacobian.append(float(jac))
        return cost

    def end_epoch(epoch, history):
        epoch_reconstruction.append(float(np.mean(reconstruction)))
        # As the tutorial printed: the mean over minibatches of sqrt(mean ||J||_F^2).
        epoch_jacobian_norm.append(float(np.mean(np.sqrt(jacobian))))
        reconstruction.clear()
        jacobian.clear()
        print(f"    reconstruction cost {epoch_reconstruction[-1]:.4f}, "
              f"jacobian norm {epoch_jacobian_norm[-1]:.4f}")

    history = train(step, n_train // args.batch_size, args.epochs, on_epoch_end=end_epoch)
    print(f"The cA code ran for {sum(history.epoch_seconds) / 60:.2f}m", file=sys.stderr)

    filters = tile_raster_images(ca.W.get_value(borrow=True).T, img_shape=(side, side),
                                 tile_shape=(10, 10), tile_spacing=(1, 1))
    results = {"script": "test_cA.py", "settings": settings, "floatX": pytensor.config.floatX,
               "n_train": n_train,
               "epoch_costs": history.epoch_costs,
               "epoch_reconstruction_costs": epoch_reconstruction,
               "epoch_jacobian_norms": epoch_jacobian_norm,
               "jacobian_norm_note": "per epoch, the mean over minibatches of "
                                     "sqrt(mean over the minibatch of ||dh/dx||_F^2)",
               "epoch_seconds": history.epoch_seconds, "compile_seconds": compile_seconds,
               "filters_image": save_image(args.output_folder, "cA_filters.png", filters)}
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
