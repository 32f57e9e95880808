"""The cA tutorial: train a contractive autoencoder on MNIST and draw its filters.

    python scripts/test_cA.py

prints, per epoch, the mean reconstruction cross-entropy and the mean Frobenius norm of the
encoder's Jacobian (as the Theano tutorial did), and writes ``cA_filters.png`` and
``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
import pytensor.tensor as pt

from deeptutorial.cA import cA
from deeptutorial.cli import add_training_flags, load_datasets, make_parser, new_results, \
    non_negative_float, parse_args, run_script, training_figures
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, n_batches, train
from deeptutorial.utils import filters_image


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="cA_plots", seed=123)
    add_training_flags(parser, epochs=20, batch_size=10, learning_rate=0.01, n_hidden=500)
    parser.add_argument("--contraction-level", type=non_negative_float, default=0.1,
                        help="weight of the squared Frobenius norm of the Jacobian")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    train_set_x = load_datasets(args)[0][0]
    n_train, n_visible = train_set_x.get_value(borrow=True).shape

    x = pt.matrix("x")
    ca = cA(numpy_rng=np.random.RandomState(args.seed), input=x, n_visible=n_visible,
            n_hidden=args.n_hidden)
    outputs, updates = ca.get_cost_updates(args.contraction_level, args.learning_rate)
    train_ca, compile_seconds = compile_step(outputs, updates, x, train_set_x, args.batch_size,
                                             name="train_cA")

    reconstruction, jacobian = [], []  # this epoch's per-minibatch terms
    epoch_reconstruction, epoch_jacobian_norm = [], []

    def step(i) -> float:
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

    history = train(step, n_batches(train_set_x, args.batch_size), args.epochs,
                    on_epoch_end=end_epoch)
    print(f"The cA code ran for {sum(history.epoch_seconds) / 60:.2f}m", file=sys.stderr)

    results = new_results(
        __file__, args, n_train=n_train, **training_figures(history, compile_seconds),
        epoch_reconstruction_costs=epoch_reconstruction,
        epoch_jacobian_norms=epoch_jacobian_norm,
        jacobian_norm_note="per epoch, the mean over minibatches of sqrt(mean over the "
                           "minibatch of ||dh/dx||_F^2)",
        filters_image=save_image(args.output_folder, "cA_filters.png",
                                 filters_image(ca.W.get_value(borrow=True))))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
