"""The dA tutorial: train a denoising autoencoder on MNIST at 0% and 30% corruption.

    python scripts/test_dA.py --dataset ../shared/data/mnist

prints each epoch's mean reconstruction cost (the first 0% epoch: 63.2892), and writes
``filters_corruption_0.png``, ``filters_corruption_30.png``, ``filters_side_by_side.png``
and ``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng

from deeptutorial import dA, load_data, tile_raster_images
from deeptutorial.cli import fraction, make_parser, positive_float, positive_int, run_script, \
    use_float32
from deeptutorial.results import save_image, write_results
from deeptutorial.training import train
from deeptutorial.utils import side_by_side


def parse_args(argv: list[str] | None):
    parser = make_parser(__doc__.splitlines()[0], output_folder="dA_plots", seed=123)
    parser.add_argument("--epochs", type=positive_int, default=15)
    parser.add_argument("--batch-size", type=positive_int, default=20)
    parser.add_argument("--learning-rate", type=positive_float, default=0.1)
    parser.add_argument("--corruption-levels", type=fraction, nargs="+", default=[0.0, 0.3])
    parser.add_argument("--n-hidden", type=positive_int, default=500)
    parser.add_argument("--loss", choices=["cross_entropy", "squared_error"],
                        default="cross_entropy")
    parser.add_argument("--print-graph", action="store_true",
                        help="print the symbolic cost graph and the compiled training function")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    use_float32()
    train_set_x = load_data(args.dataset)[0][0]
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    if args.batch_size > n_train:
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {n_train} "
                         f"training images")
    n_train_batches = n_train // args.batch_size
    side = int(round(np.sqrt(n_visible)))

    index = pt.lscalar("index")  # index of a minibatch
    x = pt.matrix("x")  # the minibatch: one image per row
    runs, images = [], []
    for level in args.corruption_levels:
        # As in the tutorial: a fresh RandomState per run, the noise seed drawn before W.
        rng = np.random.RandomState(args.seed)
        pytensor_rng = shared_rng(seed=rng.randint(2 ** 30))
        da = dA(numpy_rng=rng, pytensor_rng=pytensor_rng, input=x, n_visible=n_visible,
                n_hidden=args.n_hidden, loss=args.loss)
        cost, updates = da.get_cost_updates(corruption_level=level,
                                            learning_rate=args.learning_rate)
        start = time.perf_counter()
        train_da = pytensor.function(
            [index], cost, updates=updates,
            givens={x: train_set_x[index * args.batch_size: (index + 1) * args.batch_size]})
        compile_seconds = time.perf_counter() - start
        if args.print_graph:
            print(f"--- symbolic cost graph, corruption {level:g} ---")
            pytensor.dprint(cost)
            print(f"--- compiled training function, corruption {level:g} ---")
            pytensor.dprint(train_da)

        log = train(train_da, n_train_batches, args.epochs)
        minutes = sum(log.epoch_seconds) / 60
        print(f"The {level:.0%} corruption code ran for {minutes:.2f}m", file=sys.stderr)

        filters = tile_raster_images(da.W.get_value(borrow=True).T, img_shape=(side, side),
                                     tile_shape=(10, 10), tile_spacing=(1, 1))
        images.append(filters)
        name = save_image(args.output_folder, f"filters_corruption_{round(level * 100)}.png",
                          filters)
        runs.append({"corruption_level": level, "epoch_costs": log.epoch_costs,
                     "epoch_seconds": log.epoch_seconds, "compile_seconds": compile_seconds,
                     "filters_image": name})

    results = {
        "script": "test_dA.py",
        "settings": {k: v for k, v in vars(args).items() if k not in ("debug", "print_graph")},
        "floatX": pytensor.config.floatX,
        "n_train": n_train,
        "runs": runs,
    }
    if len(images) > 1:
        results["side_by_side_image"] = save_image(args.output_folder, "filters_side_by_side.png",
                                                   side_by_side(images))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
