"""The driver skeleton every script follows, and what it shares.

A script's ``main(argv)`` reads top to bottom in the same steps::

    args = parse_args(parser, argv)        # flags and output folders checked, float32 on
    datasets = load_datasets(args)         # MNIST (or the sample), batch size checked
    ...build the model...
    step, seconds = compile_step(...)      # deeptutorial.training: through data.minibatch
    history = train(step, ...)             # deeptutorial.training: the shared loop
    results = new_results(__file__, args, ...)  # settings, floatX, then figures
    write_results(args.output_folder, results)

and ends with ``sys.exit(run_script(main))``, which prints any expected error as one line.
Nothing is loaded or trained before the flags and the folders it will write have been checked.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Callable

from deeptutorial import backends
from deeptutorial.backends import BACKENDS
from deeptutorial.checks import SEED_LIMIT, check_float_type
from deeptutorial.data import N_CLASSES, SPLITS, DataError, as_shared, check_splits, \
    describe_source, load_mnist
from deeptutorial.info import slow_path_reason
from deeptutorial.results import PARTIAL_RESULTS, abandon_runs, begin_run
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
    if cast is float:
        try:
            check_float_type("the value", value, "float32")
        except ValueError:
            where = "0" if value != 0 and abs(value) < 1 else "infinite"
            raise argparse.ArgumentTypeError(f"{text} is {where} in float32, the type the "
                                             f"scripts compute in: expected {expected}") from None
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


def non_negative_int(text: str) -> int:
    """A count or an index: 0, 1, 2, ..."""
    return _typed(text, int, lambda v: v >= 0, "an integer >= 0")


def seed_int(text: str) -> int:
    """A seed of ``numpy.random.RandomState``: 0 to 2**32 - 1."""
    return _typed(text, int, lambda v: 0 <= v < SEED_LIMIT, "an integer in [0, 2**32)")


def derived_seed(seed: int, k: int) -> int:
    """The ``k``-th seed a run derives from its ``--seed``, for a generator of its own (the
    noise, a second network): ``seed + k``, wrapped into the range every generator takes."""
    return (seed + k) % SEED_LIMIT


def make_parser(description: str, output_folder: str, seed: int | None,
                dataset: bool = True) -> OneLineParser:
    """A parser with the flags every script has: data (unless ``dataset`` is false: a script
    that makes its own), seed (unless ``seed`` is None: a script that draws nothing at
    random), output folder, backend, debug."""
    parser = OneLineParser(description=description,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    if dataset:
        parser.add_argument("--dataset", default=None,
                            help="folder of MNIST IDX files, an mnist.pkl.gz, or 'sample' (the "
                                 "bundled sample); by default $DEEPTUTORIAL_DATA or the user's "
                                 "cache folder, downloaded there if missing")
    if seed is not None:
        parser.add_argument("--seed", type=seed_int, default=seed,
                            help="seed of numpy.random.RandomState")
    parser.add_argument("--output-folder", default=output_folder,
                        help="where images and results.json are written")
    parser.add_argument("--backend", default=None, metavar="{" + ",".join(BACKENDS) + "}",
                        help="what compiles the graphs (deeptutorial.backends); by default "
                             "$DEEPTUTORIAL_BACKEND, else c")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def add_training_flags(parser: argparse.ArgumentParser, epochs: int, batch_size: int,
                       learning_rate: float, optimiser: str = "SGD",
                       n_hidden: int | None = None) -> None:
    """The flags of every training run: ``--epochs``, ``--batch-size``, ``--learning-rate``
    (the ``optimiser``'s step size) and, for one-hidden-layer models, ``--n-hidden``."""
    parser.add_argument("--epochs", type=positive_int, default=epochs, help="training epochs")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help="minibatch size")
    parser.add_argument("--learning-rate", type=positive_float, default=learning_rate,
                        help=f"{optimiser}'s step size")
    if n_hidden is not None:
        parser.add_argument("--n-hidden", type=positive_int, default=n_hidden,
                            help="hidden units")


def add_classifier_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of a linear classifier trained on an autoencoder's frozen codes
    (``classifier.classify_codes``)."""
    parser.add_argument("--classifier-epochs", type=positive_int, default=30,
                        help="epochs of the logistic regression on the frozen codes")
    parser.add_argument("--classifier-lr", type=positive_float, default=0.001,
                        help="Adam's step size for the logistic regression")
    parser.add_argument("--classifier-refit", action="store_true",
                        help="then train the logistic regression afresh on the training and "
                             "validation codes together (all 60,000 training digits) for the "
                             "epochs the first one took to its best validation error, and "
                             "report its test error too")


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
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh over the checkpoints an earlier run left in "
                             "--checkpoint-dir (without it, or --resume, they are kept and the "
                             "run refused)")


def check_writable_folder(flag: str, folder: str | os.PathLike,
                          files: tuple[str, ...] = ()) -> None:
    """``folder`` must be a folder that exists and is writable, or one that can be created
    (its nearest existing parent is a writable folder), and each of the ``files`` the run
    will write in it must be a file or not there yet: not a folder, not a link to nothing.
    Nothing is created here."""
    path = os.path.abspath(os.fspath(folder))
    if os.path.islink(path) and not os.path.exists(path):
        raise ValueError(f"{flag} {folder} is a link to {os.readlink(path)}, which does not "
                         f"exist")
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ValueError(f"{flag} {folder} is not a folder (a file of that name exists)")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{flag} {folder} is not writable")
        for name in files:
            file = os.path.join(path, name)
            if os.path.isdir(file):
                raise ValueError(f"{flag} {folder}: {name} there is a folder, where the run "
                                 f"writes a file")
            if os.path.islink(file) and not os.path.exists(file):
                raise ValueError(f"{flag} {folder}: {name} there is a link to "
                                 f"{os.readlink(file)}, which does not exist")
        return
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{flag} {folder} cannot be created: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {folder} cannot be created: {parent} is not writable")


def check_earlier_checkpoints(args: argparse.Namespace) -> None:
    """A checkpoint folder holding another run's checkpoints is resumed (``--resume``) or
    explicitly started over (``--overwrite``), never silently replaced; a checkpoint that is
    a folder is refused either way."""
    folder = Path(args.checkpoint_dir)
    found = sorted(folder.glob("*.npz"))
    for path in found:
        if not path.is_file():
            raise ValueError(f"--checkpoint-dir {args.checkpoint_dir}: {path.name} there is not "
                             f"a file")
    if found and not args.resume and not args.overwrite:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"--checkpoint-dir {args.checkpoint_dir} holds an earlier run's "
                         f"checkpoints ({names}): --resume it, or --overwrite to start over")


# open lock files by folder: released when the process ends, however it ends
_locks: dict[str, object] = {}


def lock_folder(flag: str, folder: str | os.PathLike) -> None:
    """Take the lock of a checkpoint folder for this process, or refuse in one line if another
    live run holds it. The lock is the operating system's (``flock``): a killed run does not
    leave it stuck."""
    try:
        import fcntl
    except ImportError:  # no flock here: runs are not guarded against each other
        return
    os.makedirs(folder, exist_ok=True)
    if os.path.realpath(folder) in _locks:  # this process holds it already (a second main)
        return
    path = os.path.join(folder, ".lock")
    handle = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise ValueError(f"{flag} {folder} is in use by another run (process {owner}): wait "
                         f"for it to end or choose another folder") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _locks[os.path.realpath(folder)] = handle


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse and check the flags, and the folders the run will write, before anything is
    loaded; then build graphs in float32. A problem ends the script with one line."""
    args = parser.parse_args(argv)
    if getattr(args, "resume", False) and not args.checkpoint_dir:
        parser.error("--resume needs --checkpoint-dir")
    if getattr(args, "resume", False) and args.overwrite:
        parser.error("--resume and --overwrite: choose one")
    try:
        check_writable_folder("--output-folder", args.output_folder,
                              files=("results.json", PARTIAL_RESULTS))
        if getattr(args, "checkpoint_dir", None):
            check_writable_folder("--checkpoint-dir", args.checkpoint_dir)
            lock_folder("--checkpoint-dir", args.checkpoint_dir)
            check_earlier_checkpoints(args)
        args.backend = backends.use(backends.requested(args.backend))
    except ValueError as exc:
        parser.error(str(exc))
    checkpoints = getattr(args, "checkpoint_dir", None)
    if not checkpoints or os.path.realpath(checkpoints) != os.path.realpath(args.output_folder):
        begin_run(args.output_folder)  # a finished run there is replaced only by a finished one
    use_float32()
    return args


NOT_SETTINGS = ("debug", "print_graph")


def settings_of(args: argparse.Namespace) -> dict:
    """The flags that define a run (for ``results.json`` and checkpoints)."""
    return {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}


def new_results(script: str, args: argparse.Namespace, **figures) -> dict:
    """``results.json``'s common head: the script's file name, its settings and floatX,
    then ``figures``."""
    import pytensor

    return {"script": os.path.basename(script), "settings": settings_of(args),
            "floatX": pytensor.config.floatX, **figures}


def training_figures(history, compile_seconds: float) -> dict:
    """What ``results.json`` records of every training run: per-epoch mean costs and seconds,
    and the compile time."""
    return {"epoch_costs": history.epoch_costs, "epoch_seconds": history.epoch_seconds,
            "compile_seconds": compile_seconds}


def check_batch_size(batch_size: int, n_rows: int, flag: str = "--batch-size",
                     what: str = "training images") -> None:
    """A minibatch cannot be larger than the data it is cut from."""
    if batch_size > n_rows:
        raise ValueError(f"{flag} {batch_size} is larger than the {n_rows} {what}")


def load_datasets(args: argparse.Namespace, batch_size: int | None = None,
                  uses: tuple[str, ...] = ("training",),
                  batched: tuple[str, ...] = ("training",), labels: bool = False,
                  side: int | None = None) -> list:
    """The tutorial's three splits of ``args.dataset`` as shared variables (as ``load_data``
    gives them), checked as a whole before anything compiles (``data.check_splits``): each split the run
    ``uses`` holds an image, each it reads in minibatches (``batched``) a minibatch of
    ``batch_size`` (default ``args.batch_size``), the labels are classes 0..9 when the run
    reads ``labels``, and the images are square (``side`` x ``side`` when the model was
    built for one size)."""
    splits = load_mnist(args.dataset)
    batch_size = getattr(args, "batch_size", None) if batch_size is None else batch_size
    if batch_size is not None:
        check_batch_size(batch_size, len(splits[0][0]))
    check_splits(splits, describe_source(args.dataset), uses=uses, batched=batched,
                 batch_size=batch_size, n_classes=N_CLASSES if labels else None, side=side)
    return as_shared(splits)


def check_same_settings(saved: dict, current: dict, source: str) -> None:
    """A checkpoint may only be resumed by a run with the same training settings."""
    ignored = {"output_folder", "checkpoint_dir", "resume", "overwrite", "save_model", "load_model",
               "debug"}
    differ = sorted(k for k in set(saved) | set(current)
                    if k not in ignored and saved.get(k) != current.get(k))
    if differ:
        details = ", ".join(f"{k}={saved.get(k)!r} there, {current.get(k)!r} now" for k in differ)
        raise ValueError(f"{source} was made with other settings: {details}")


def run_script(main: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run ``main(argv)``; print expected errors as one line and return an exit code. A run
    that stops early keeps its files apart from a finished run's (``results.abandon_runs``)."""
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
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in str(message):
            message = f"{exc.filename}: {message}"
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 130 if isinstance(exc, TrainingInterrupted) else 1
    except MemoryError as exc:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"{prog}: error: out of memory ({exc or 'an allocation failed'}): choose a "
              f"smaller model or batch", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once, the last checkpoint kept
        if "--debug" in argv:
            traceback.print_exc()
        print(f"{prog}: error: aborted at once (the last checkpoint, if any, is intact)",
              file=sys.stderr)
        return 130
    finally:  # a run that did not finish never mixes its files with a finished run's
        abandon_runs()
    return 0


__all__ = ["DataError", "SPLITS", "add_classifier_flags", "add_persistence_flags",
           "add_training_flags", "check_batch_size", "check_same_settings",
           "check_writable_folder", "derived_seed", "fraction", "fraction_below_one",
           "load_datasets", "make_parser", "new_results", "non_negative_float", "non_negative_int",
           "open_fraction", "parse_args", "positive_float", "positive_int", "run_script",
           "seed_int", "settings_of", "training_figures", "use_float32"]
