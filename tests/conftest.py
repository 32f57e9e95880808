"""What every test module shares: paths, the float type fixtures, and the test tiers.

Tiers
    A plain ``python -m pytest`` runs the fast tests, spread over the cores by pytest-xdist
    (``-n auto`` in ``setup.cfg``). Tests marked ``slow`` (real training runs of a script: full
    MNIST, the recorded SdA runs, the killed-and-resumed runs, the convolutional scripts, whose
    graphs take PyTensor seconds to rewrite) are skipped, with one line at the end saying how
    many and how to run them: ``--runslow`` adds them, ``-m slow`` runs only them. CI runs all.

Threads
    With more than one xdist worker, the cores are shared, and an OpenMP thread that waits
    by spinning (libgomp's default) holds a core that another worker needs: the batch-size-1
    SdA steps then run several times slower. ``OMP_WAIT_POLICY=passive`` makes waiting threads
    sleep; it changes no result, and the user's own setting wins. It is set here, before any
    compiled module loads OpenMP, and reaches the scripts the tests start.
"""

import os
from pathlib import Path

import pytest

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")

REPO = Path(__file__).resolve().parent.parent
SLOW_REASON = "slow: run with --runslow (or only the slow tests with -m slow)"
# Full MNIST: the folder $DEEPTUTORIAL_DATA names (as for the library and the benchmarks),
# else the project's shared data folder beside the checkout.
FULL_MNIST = Path(os.environ.get("DEEPTUTORIAL_DATA") or REPO.parent / "shared" / "data" / "mnist")


@pytest.fixture(autouse=True)
def floatX_restored():
    """Every test starts with the process's floatX: a script's ``main`` run in-process sets
    float32 for good (``cli.parse_args``), and the tests a worker runs after it must not
    depend on which ones came first."""
    import pytensor

    before = pytensor.config.floatX
    yield
    pytensor.config.floatX = before


@pytest.fixture
def float32():
    import pytensor

    with pytensor.config.change_flags(floatX="float32"):
        yield


@pytest.fixture
def float64():
    import pytensor

    with pytensor.config.change_flags(floatX="float64"):
        yield


def needs_full_mnist(test):
    """Mark ``test`` slow, and skip it where full MNIST is not found."""
    skip = pytest.mark.skipif(
        not (FULL_MNIST / "train-images-idx3-ubyte.gz").is_file(),
        reason=f"full MNIST not found in {FULL_MNIST} (set DEEPTUTORIAL_DATA to run this test)")
    return pytest.mark.slow(skip(test))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true",
                     help="also run the tests marked slow (real training runs of the scripts)")


def runs_slow_tests(config) -> bool:
    return config.getoption("--runslow") or "slow" in (config.option.markexpr or "")


def pytest_collection_modifyitems(config, items):
    if runs_slow_tests(config):
        return
    skip = pytest.mark.skip(reason=SLOW_REASON)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line naming how many slow tests were skipped and how to run them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple) and SLOW_REASON in str(r.longrepr[-1])]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} slow tests skipped (real training runs of the scripts): "
            f"python -m pytest --runslow runs everything, -m slow only them")


def untrained_test_mse(model) -> float:
    """The mean squared reconstruction error of ``model``, untrained, on the sample's test
    digits: the baseline a trained model's figure must beat."""
    import numpy as np
    import pytensor

    from deeptutorial import load_mnist

    test_x = load_mnist("sample")[2][0]
    with pytensor.config.change_flags(floatX="float32"):
        reconstruct = pytensor.function([model.x], model.reconstruct())
        return float(np.mean((test_x - reconstruct(test_x)) ** 2))
