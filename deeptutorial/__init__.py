"""deeptutorial: the Theano autoencoder tutorials (dA, SdA) and their family, on PyTensor.

Importing the package switches on the fast path (``deeptutorial.fastpath``: PyTensor's C
backend linked to BLAS, as Theano compiled the tutorials) before anything compiles;
``DEEPTUTORIAL_FASTPATH=0`` leaves PyTensor as it comes. Before that, the environment's
settings are checked (``deeptutorial.environment``): a value that cannot be used is one line.
"""

from deeptutorial import environment, fastpath

environment.check_or_exit()  # the environment's settings, and PyTensor's, before anything
fastpath.enable()

from deeptutorial.autoencoder import Autoencoder, TiedAutoencoder, UntiedAutoencoder  # noqa: E402
from deeptutorial.cA import cA  # noqa: E402
from deeptutorial.classifier import PretrainableClassifier  # noqa: E402
from deeptutorial.dA import dA  # noqa: E402
from deeptutorial.data import DataError, load_data, load_mnist  # noqa: E402
from deeptutorial.denoising_autoencoder import DenoisingAutoencoder  # noqa: E402
from deeptutorial.layers import HiddenLayer, LogisticRegression  # noqa: E402
from deeptutorial.linear_autoencoder import LinearAutoencoder  # noqa: E402
from deeptutorial.SdA import SdA  # noqa: E402
from deeptutorial.sparse_autoencoder import SparseAutoencoder  # noqa: E402
from deeptutorial.stacked_autoencoder import StackedAutoencoder  # noqa: E402
from deeptutorial.utils import scale_to_unit_interval, tile_raster_images  # noqa: E402
from deeptutorial.vae import VAE  # noqa: E402

__all__ = ["Autoencoder", "TiedAutoencoder", "UntiedAutoencoder", "dA", "SdA", "cA",
           "DenoisingAutoencoder", "SparseAutoencoder", "VAE", "LinearAutoencoder",
           "StackedAutoencoder", "PretrainableClassifier", "HiddenLayer", "LogisticRegression",
           "DataError", "load_data", "load_mnist", "scale_to_unit_interval",
           "tile_raster_images"]
__version__ = "0.2.0"
