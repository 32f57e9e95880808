"""The dA tutorial: train a denoising autoencoder on MNIST at 0% and 30% corruption.

    python scripts/test_dA.py --dataset ../shared/data/mnist

prints each epoch's mean reconstruction cost (the first 0% epoch: 63.2892), and writes
``filters_corruption_0.png``, ``filters_corruption_30.png``, ``filters_side_by_side.png``
and ``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng

from deeptutorial import dA, load_data, tile_raster_images
from deeptutorial.cli import add_persistence_flags, check_same_settings, fraction, make_parser, \
    positive_float, positive_int, run_script, use_float32
from deeptutorial.losses import LOSSES
from deeptutorial.persistence import load_checkpoint, save_checkpoint
from deeptutorial.results import save_image, write_results
from deeptutorial.training import StopRequest, TrainingInterrupted, TrainingLog, \
    stop_on_interrupt, train
from deeptutorial.utils import side_by_side


def parse_args(argv: list[str] | None):
    parser = make_parser(__doc__.splitlines()[0], output_folder="dA_plots", seed=123)
    parser.add_argument("--epochs", type=positive_int, default=15)
    parser.add_argument("--batch-size", type=positive_int, default=20)
    parser.add_argument("--learning-rate", type=positive_float, default=0.1)
    parser.add_argument("--corruption-levels", type=fraction, nargs="+", default=[0.0, 0.3])
    parser.add_argument("--n-hidden", type=positive_int, default=500)
    parser.add_argument("--loss", choices=LOSSES, default="cross_entropy")
    parser.add_argument("--print-graph", action="store_true",
                        help="print the symbolic cost graph and the compiled training function")
    add_persistence_flags(parser)
    args = parser.parse_args(argv)
    if args.resume and not args.checkpoint_dir:
        parser.error("--resume needs --checkpoint-dir")
    return args


def train_one_level(level: float, args, train_set_x, settings: dict, run: dict,
                    stop: StopRequest) -> dA:
    """Build, compile and train (or load) the dA of one corruption level; fill ``run``."""
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    n_train_batches = n_train // args.batch_size
    index = pt.lscalar("index")  # index of a minibatch
    x = pt.matrix("x")  # the minibatch: one image per row
    # As in the tutorial: a fresh RandomState per run, the noise seed drawn before W.
    rng = np.random.RandomState(args.seed)
    pytensor_rng = shared_rng(seed=rng.randint(2 ** 30))
    da = dA(numpy_rng=rng, pytensor_rng=pytensor_rng, input=x, n_visible=n_visible,
            n_hidden=args.n_hidden, loss=args.loss)
    model_name = f"model_corruption_{round(level * 100)}.npz"
    if args.load_model:
        da.load_params(Path(args.load_model) / model_name)
        print(f"Loaded {Path(args.load_model) / model_name}: no training")
        return da

    cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=args.learning_rate)
    start = time.perf_counter()
    train_da = pytensor.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * args.batch_size: (index + 1) * args.batch_size]})
    run["compile_seconds"] = time.perf_counter() - start
    if args.print_graph:
        print(f"--- symbolic cost graph, corruption {level:g} ---")
        pytensor.dprint(cost)
        print(f"--- compiled training function, corruption {level:g} ---")
        pytensor.dprint(train_da)

    history = TrainingLog()
    checkpoint = None
    if args.checkpoint_dir:
        checkpoint = Path(args.checkpoint_dir) / f"dA_corruption_{round(level * 100)}.npz"
        if args.resume and checkpoint.is_file():
            state = load_checkpoint(checkpoint, da.named_params(), [pytensor_rng])
            check_same_settings(state["settings"], settings, str(checkpoint))
            history = TrainingLog(**state["history"])
            print(f"Resuming from {checkpoint}: {history.epochs_done} epochs done")

    def save(epoch=None, log=None):
        if checkpoint is not None:
            save_checkpoint(checkpoint, da.named_params(), [pytensor_rng],
                            {"settings": settings, "history": asdict(history)})

    run.update(epoch_costs=history.epoch_costs, epoch_seconds=history.epoch_seconds)
    try:
        train(train_da, n_train_batches, args.epochs, history=history, on_epoch_end=save,
              stop=stop)
    except TrainingInterrupted:
        save()
        raise
    minutes = sum(history.epoch_seconds) / 60
    print(f"The {level:.0%} corruption code ran for {minutes:.2f}m", file=sys.stderr)
    if args.save_model:
        run["model"] = da.save_params(Path(args.output_folder) / model_name).name
    return da


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    use_float32()
    train_set_x = load_data(args.dataset)[0][0]
    n_train, n_visible = train_set_x.get_value(borrow=True).shape
    if args.batch_size > n_train:
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {n_train} "
                         f"training images")
    side = int(round(np.sqrt(n_visible)))
    settings = {k: v for k, v in vars(args).items() if k not in ("debug", "print_graph")}
    runs, images = [], []
    results = {"script": "test_dA.py", "settings": settings, "floatX": pytensor.config.floatX,
               "n_train": n_train, "runs": runs}
    with stop_on_interrupt() as stop:
        for level in args.corruption_levels:
            run = {"corruption_level": level}
            runs.append(run)
            try:
                da = train_one_level(level, args, train_set_x, settings, run, stop)
            except TrainingInterrupted:
                results["interrupted"] = True
                write_results(args.output_folder, results)
                raise
            filters = tile_raster_images(da.W.get_value(borrow=True).T, img_shape=(side, side),
                                         tile_shape=(10, 10), tile_spacing=(1, 1))
            images.append(filters)
            run["filters_image"] = save_image(
                args.output_folder, f"filters_corruption_{round(level * 100)}.png", filters)
    if len(images) > 1:
        results["side_by_side_image"] = save_image(args.output_folder, "filters_side_by_side.png",
                                                   side_by_side(images))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
