"""deeptutorial: the Theano autoencoder tutorials (dA, SdA) rebuilt on PyTensor."""

from deeptutorial import backend, rewrites

# Before anything compiles: PyTensor's C backend with OpenBLAS or MKL, its calls split over the
# cores (threaded_blas.py), unless the user chose otherwise in PYTENSOR_FLAGS or
# ~/.pytensorrc (see backend.py); one GEMM instead of two
# for a tied weight's update and NumPy's fast path for the corruption noise (rewrites.py;
# PYTENSOR_FLAGS=optimizer_excluding=NAME turns either off).
backend.configure()
rewrites.register()

from deeptutorial.cA import cA
from deeptutorial.dA import dA
from deeptutorial.denoising_autoencoder import DenoisingAutoencoder
from deeptutorial.classifier import PretrainableClassifier
from deeptutorial.layers import HiddenLayer, LogisticRegression
from deeptutorial.linear_autoencoder import LinearAutoencoder
from deeptutorial.SdA import SdA
from deeptutorial.sparse_autoencoder import SparseAutoencoder
from deeptutorial.stacked_autoencoder import StackedAutoencoder
from deeptutorial.data import DataError, load_data, load_mnist
from deeptutorial.utils import scale_to_unit_interval, tile_raster_images
from deeptutorial.vae import VAE

__all__ = ["dA", "SdA", "cA", "DenoisingAutoencoder", "SparseAutoencoder", "VAE", "LinearAutoencoder", "StackedAutoencoder", "PretrainableClassifier", "HiddenLayer", "LogisticRegression", "DataError", "load_data", "load_mnist", "scale_to_unit_interval",
           "tile_raster_images"]
__version__ = "0.1.0"
