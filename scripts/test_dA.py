"""The dA tutorial: train a denoising autoencoder on MNIST at 0% and 30% corruption.

    python scripts/test_dA.py

prints each epoch's mean reconstruction cost (the first 0% epoch: 63.2892), and writes
``filters_corruption_0.png``, ``filters_corruption_30.png``, ``filters_side_by_side.png``
and ``results.json`` into ``--output-folder``.
"""

from __future__ import annotations

import deeptutorial  # noqa: F401, I001  (first: it checks the settings before PyTensor reads them)

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng

from deeptutorial import dA
from deeptutorial.backends import step_generators
from deeptutorial.cli import add_persistence_flags, add_training_flags, check_same_settings, \
    fraction, load_datasets, make_parser, new_results, parse_args, run_script, settings_of
from deeptutorial.losses import LOSSES
from deeptutorial.persistence import load_checkpoint, restore_log, save_checkpoint
from deeptutorial.results import save_image, write_results
from deeptutorial.training import StopRequest, TrainingInterrupted, TrainingLog, compile_step, \
    n_batches, stop_on_interrupt, train
from deeptutorial.utils import filters_image, side_by_side


def flags() -> argparse.ArgumentParser:
    parser = make_parser(__doc__.splitlines()[0], output_folder="dA_plots", seed=123)
    add_training_flags(parser, epochs=15, batch_size=20, learning_rate=0.1, n_hidden=500)
    parser.add_argument("--corruption-levels", type=fraction, nargs="+", default=[0.0, 0.3],
                        help="one dA is trained per level: the fraction of pixels zeroed")
    parser.add_argument("--loss", choices=LOSSES, default="cross_entropy",
                        help="reconstruction loss")
    parser.add_argument("--print-graph", action="store_true",
                        help="print the symbolic cost graph and the compiled training function")
    add_persistence_flags(parser)
    return parser


def train_one_level(level: float, args, train_set_x, run: dict, stop: StopRequest) -> dA:
    """Build, compile and train (or load) the dA of one corruption level; fill ``run``."""
    x = pt.matrix("x")  # the minibatch: one image per row
    # As in the tutorial: a fresh RandomState per run, the noise seed drawn before W.
    rng = np.random.RandomState(args.seed)
    pytensor_rng = shared_rng(seed=rng.randint(2 ** 30))
    da = dA(numpy_rng=rng, pytensor_rng=pytensor_rng, input=x,
            n_visible=train_set_x.get_value(borrow=True).shape[1], n_hidden=args.n_hidden,
            loss=args.loss)
    model_name = f"model_corruption_{round(level * 100)}.npz"
    if args.load_model:
        da.load_params(Path(args.load_model) / model_name)
        print(f"Loaded {Path(args.load_model) / model_name}: no training")
        return da

    cost, updates = da.get_cost_updates(corruption_level=level, learning_rate=args.learning_rate)
    train_da, run["compile_seconds"] = compile_step(cost, updates, x, train_set_x,
                                                    args.batch_size, name="train_dA")
    if args.print_graph:
        print(f"--- symbolic cost graph, corruption {level:g} ---")
        pytensor.dprint(cost)
        print(f"--- compiled training function, corruption {level:g} ---")
        pytensor.dprint(train_da)

    settings, history, checkpoint = settings_of(args), TrainingLog(), None
    generators = step_generators(train_da, [pytensor_rng])  # on JAX: the step's own copy
    if args.checkpoint_dir:
        checkpoint = Path(args.checkpoint_dir) / f"dA_corruption_{round(level * 100)}.npz"
        if args.resume and checkpoint.is_file():
            state = load_checkpoint(checkpoint, da.named_params(), generators,
                                    fields={"settings": dict, "history": dict})
            check_same_settings(state["settings"], settings, str(checkpoint))
            history = restore_log(TrainingLog, state["history"], str(checkpoint), "history")
            print(f"Resuming from {checkpoint}: {history.epochs_done} epochs done")

    def save(epoch=None, log=None):
        if checkpoint is not None:
            save_checkpoint(checkpoint, da.named_params(), generators,
                            {"settings": settings, "history": asdict(history)})

    run.update(epoch_costs=history.epoch_costs, epoch_seconds=history.epoch_seconds)
    try:
        train(train_da, n_batches(train_set_x, args.batch_size), args.epochs, history=history,
              on_epoch_end=save, stop=stop)
    except TrainingInterrupted:
        save()
        raise
    minutes = sum(history.epoch_seconds) / 60
    print(f"The {level:.0%} corruption code ran for {minutes:.2f}m", file=sys.stderr)
    if args.save_model:
        run["model"] = da.save_params(Path(args.output_folder) / model_name).name
    return da


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(flags(), argv)
    train_set_x = load_datasets(args)[0][0]
    runs, images = [], []
    results = new_results(__file__, args, n_train=train_set_x.get_value(borrow=True).shape[0],
                          runs=runs)
    with stop_on_interrupt() as stop:
        for level in args.corruption_levels:
            run = {"corruption_level": level}
            runs.append(run)
            try:
                da = train_one_level(level, args, train_set_x, run, stop)
            except TrainingInterrupted:
                results["interrupted"] = True
                write_results(args.output_folder, results)
                raise
            images.append(filters_image(da.W.get_value(borrow=True)))
            run["filters_image"] = save_image(
                args.output_folder, f"filters_corruption_{round(level * 100)}.png", images[-1])
    if len(images) > 1:
        results["side_by_side_image"] = save_image(args.output_folder, "filters_side_by_side.png",
                                                   side_by_side(images))
    write_results(args.output_folder, results)
    return results


if __name__ == "__main__":
    sys.exit(run_script(main))
