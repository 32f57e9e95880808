"""What every script shares: float32, common flags, typed flag values, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Callable

from deeptutorial.data import DataError
from deeptutorial.training import NonFiniteCost


def use_float32() -> None:
    """Build graphs in float32, as the tutorials did (PyTensor's default is float64)."""
    import pytensor

    pytensor.config.floatX = "float32"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like the scripts' other errors."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a value in [0, 1], got {text}")
    return value


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


def run_script(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run ``main(argv)``; print expected errors as one line and return an exit code."""
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0])
    try:
        main(argv)
    except (ValueError, NonFiniteCost, OSError) as exc:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["DataError", "make_parser", "positive_int", "positive_float", "fraction",
           "run_script", "use_float32"]
