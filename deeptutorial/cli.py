"""What every script shares: float32, common flags, typed flag values, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Callable

from deeptutorial.data import DataError
from deeptutorial.info import slow_path_reason
from deeptutorial.training import NonFiniteCost, TrainingInterrupted


def use_float32() -> None:
    """Build graphs in float32, as the tutorials did (PyTensor's default is float64)."""
    import pytensor

    pytensor.config.floatX = "float32"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like the scripts' other errors."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _typed(text: str, cast, valid, expected: str):
    try:
        value = cast(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return value


def positive_int(text: str) -> int:
    return _typed(text, int, lambda v: v >= 1, "a positive integer")


def positive_float(text: str) -> float:
    return _typed(text, float, lambda v: 0 < v < float("inf"), "a positive number")


def fraction(text: str) -> float:
    return _typed(text, float, lambda v: 0 <= v <= 1, "a value in [0, 1]")


def fraction_below_one(text: str) -> float:
    """A rate in [0, 1): dropout, decay."""
    return _typed(text, float, lambda v: 0 <= v < 1, "a value in [0, 1)")


def open_fraction(text: str) -> float:
    """A probability strictly between 0 and 1 (e.g. a sparsity target)."""
    return _typed(text, float, lambda v: 0 < v < 1, "a value in (0, 1)")


def non_negative_float(text: str) -> float:
    return _typed(text, float, lambda v: 0 <= v < float("inf"), "a number >= 0")


def make_parser(description: str, output_folder: str, seed: int) -> OneLineParser:
    """A parser with the flags every script has: data, seed, output folder, debug."""
    parser = OneLineParser(description=description,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default=None,
                        help="folder of MNIST IDX files, an mnist.pkl.gz, or 'sample' "
                             "(default: data/mnist, downloaded if missing)")
    parser.add_argument("--seed", type=int, default=seed, help="seed of numpy.random.RandomState")
    parser.add_argument("--output-folder", default=output_folder,
                        help="where images and results.json are written")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def add_persistence_flags(parser: argparse.ArgumentParser) -> None:
    """Flags for saving and reloading trained models and for checkpoint / resume."""
    parser.add_argument("--save-model", action="store_true",
                        help="save the trained parameters (.npz) in the output folder")
    parser.add_argument("--load-model", metavar="FOLDER", default=None,
                        help="skip training: load the parameters a --save-model run left in "
                             "FOLDER and only make the images")
    parser.add_argument("--checkpoint-dir", metavar="DIR", default=None,
                        help="save a checkpoint there at the end of every epoch and on Ctrl-C")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoints in --checkpoint-dir")


def check_same_settings(saved: dict, current: dict, source: str) -> None:
    """A checkpoint may only be resumed by a run with the same training settings."""
    ignored = {"output_folder", "checkpoint_dir", "resume", "save_model", "load_model", "debug"}
    differ = sorted(k for k in set(saved) | set(current)
                    if k not in ignored and saved.get(k) != current.get(k))
    if differ:
        details = ", ".join(f"{k}={saved.get(k)!r} there, {current.get(k)!r} now" for k in differ)
        raise ValueError(f"{source} was made with other settings: {details}")


def run_script(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run ``main(argv)``; print expected errors as one line and return an exit code."""
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0])
    reason = slow_path_reason()
    if reason:
        print(f"{prog}: warning: slow path: {reason} (see python -m deeptutorial.info)",
              file=sys.stderr)
    try:
        main(argv)
    except (ValueError, NonFiniteCost, OSError, TrainingInterrupted) as exc:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 130 if isinstance(exc, TrainingInterrupted) else 1
    return 0


__all__ = ["DataError", "add_persistence_flags", "check_same_settings", "make_parser",
           "positive_int", "positive_float", "fraction", "fraction_below_one", "open_fraction",
           "non_negative_float", "run_script", "use_float32"]
