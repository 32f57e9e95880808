import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Full MNIST: the folder $DEEPTUTORIAL_DATA names (as for the library and the benchmarks),
# else the project's shared data folder beside the checkout.
FULL_MNIST = Path(os.environ.get("DEEPTUTORIAL_DATA") or REPO.parent / "shared" / "data" / "mnist")


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


needs_full_mnist = pytest.mark.skipif(
    not (FULL_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"full MNIST not found in {FULL_MNIST} (set DEEPTUTORIAL_DATA to run this test)")
