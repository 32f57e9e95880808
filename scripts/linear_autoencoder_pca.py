"""A linear autoencoder with 2-D codings learns PCA's plane on a noisy tilted 3-D sheet.

    python scripts/linear_autoencoder_pca.py

makes a 3-D data set in the script (points near a tilted plane: no MNIST is read, so the
script has no ``--dataset``), trains a 3-2-3 linear autoencoder with a mean-squared-error
loss by Adam, and compares the subspace spanned by its decoder's weights with PCA's
top-2 principal directions. It writes ``data_and_codings.png`` and ``results.json``
(with ``principal_angles_degrees``) into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.cli import check_batch_size, make_parser, new_results, parse_args, \
    positive_float, positive_int, run_script
from deeptutorial.linear_autoencoder import LinearAutoencoder, pca_basis, principal_angles_degrees
from deeptutorial.nn import shared_floatX
from deeptutorial.optimizers import adam
from deeptutorial.plotting import scatter_plot
from deeptutorial.results import save_image, write_results
from deeptutorial.training import compile_step, train
from deeptutorial.utils import side_by_side


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="linear_autoencoder_pca_plots",
                         seed=42, dataset=False)
    parser.add_argument("--n-points", type=positive_int, default=500,
                        help="points in the synthetic 3-D data set")
    parser.add_argument("--noise", type=positive_float, default=0.1,
                        help="standard deviation of the noise off the plane")
    parser.add_argument("--epochs", type=positive_int, default=3000, help="training epochs")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="minibatch size (default: the whole data set)")
    parser.add_argument("--learning-rate", type=positive_float, default=0.01,
                        help="Adam's step size")
    parser.add_argument("--log-every", type=positive_int, default=500,
                        help="print the cost every this many epochs")
    return parser


def make_tilted_sheet(rng: np.random.RandomState, n_points: int, noise: float) -> np.ndarray:
    """Points ``c + s u + t v + noise * e`` near a plane tilted in 3-D, with the spread
    along ``u`` larger than along ``v`` and ``e`` standard normal; float64, one per row."""
    angle = np.radians(30.0)
    u = np.array([np.cos(angle), np.sin(angle), 0.5])
    u /= np.linalg.norm(u)
    v = np.cross(u, [0.0, 0.3, 1.0])
    v = np.cross(v, u)  # in the plane of u and (0, 0.3, 1), orthogonal to u
    v /= np.linalg.norm(v)
    s = rng.uniform(-1.5, 1.5, n_points)
    t = rng.uniform(-0.7, 0.7, n_points) + 0.3 * np.sin(2 * s)  # a slightly wavy sheet
    e = rng.normal(size=(n_points, 3))
    return np.array([0.5, -0.2, 1.0]) + np.outer(s, u) + np.outer(t, v) + noise * e


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    rng = np.random.RandomState(args.seed)
    data = make_tilted_sheet(rng, args.n_points, args.noise)
    batch_size = args.batch_size or args.n_points
    check_batch_size(batch_size, args.n_points, what="points")

    x = pt.matrix("x")
    model = LinearAutoencoder(rng, input=x, n_inputs=3, n_codings=2)
    cost, _ = model.training_cost()
    step, compile_seconds = compile_step(
        cost, adam(cost, model.params, learning_rate=args.learning_rate), x,
        shared_floatX(data, "data"), batch_size, name="train_linear")

    epochs_logged = iter(range(args.epochs))

    def log(line: str) -> None:  # train() calls this once per epoch
        epoch = next(epochs_logged)
        if epoch % args.log_every == 0 or epoch == args.epochs - 1:
            print(line)

    history = train(step, args.n_points // batch_size, args.epochs, log=log,
                    log_format="Training epoch {epoch}, cost {cost:.6f}")
    codings = pytensor.function([x], model.encode(x))(data.astype(pytensor.config.floatX))

    pca = pca_basis(data, 2)
    angles = principal_angles_degrees(model.decoder_basis(), pca)
    centred = data - data.mean(axis=0)
    pca_mse = float(np.mean((centred - centred @ pca @ pca.T) ** 2))
    print(f"Principal angles between the decoder's plane and PCA's: "
          f"{', '.join(f'{a:.3f}' for a in angles)} degrees")
    print(f"Final MSE {history.epoch_costs[-1]:.6f}; PCA's best rank-2 MSE {pca_mse:.6f}")

    # Colour each point by its position along PCA's first direction, the same in every panel.
    along = centred @ pca[:, 0]
    shade = (along - along.min()) / (np.ptp(along) or 1.0)
    colours = np.stack([255 * shade, 60 + 0 * shade, 255 * (1 - shade)], axis=1)
    panels = [scatter_plot(data[:, :2], colors=colours, title="3-D data seen from above",
                           xlabel="x1", ylabel="x2"),
              scatter_plot(data[:, [0, 2]], colors=colours, title="3-D data seen from the side",
                           xlabel="x1", ylabel="x3"),
              scatter_plot(codings, colors=colours, title="learnt 2-D codings",
                           xlabel="coding 1", ylabel="coding 2")]
    results = new_results(
        __file__, args, n_points=args.n_points, principal_angles_degrees=angles.tolist(),
        final_mse=history.epoch_costs[-1], pca_rank2_mse=pca_mse,
        epoch_costs=history.epoch_costs, train_seconds=sum(history.epoch_seconds),
        compile_seconds=compile_seconds,
        image=save_image(args.output_folder, "data_and_codings.png", side_by_side(panels)))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
