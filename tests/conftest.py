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
