"""An undercomplete linear autoencoder, which learns the same subspace as PCA."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from deeptutorial.autoencoder import UntiedAutoencoder
from deeptutorial.checks import check_positive
from deeptutorial.losses import mse
from deeptutorial.nn import identity


class LinearAutoencoder(UntiedAutoencoder):
    """Autoencoder with no activation functions and a mean-squared-error loss.

    Each row ``x`` (``n_inputs`` values) is encoded and decoded by affine maps::

        c = x W + b                  (the codings, n_codings < n_inputs values)
        r = c W_prime + b_prime      (the reconstruction)

    and the loss is ``mean over rows and columns of (r - x)^2``. Every reconstruction
    ``r`` lies in the affine subspace ``b_prime + rowspace(W_prime)`` of dimension
    ``n_codings``, so the best such model projects the data orthogonally onto the
    ``n_codings``-dimensional subspace that keeps the most variance: PCA's top principal
    directions (Baldi & Hornik, 1989). The learnt ``W`` and ``W_prime`` need not be
    orthonormal; only the subspace spanned by the rows of ``W_prime`` is determined
    (``decoder_basis``). Both start in Glorot's range for linear layers.
    """

    activation = staticmethod(identity)
    output_activation = staticmethod(identity)

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_inputs: int = 3, n_codings: int = 2):
        check_positive("n_inputs", n_inputs, integer=True)
        check_positive("n_codings", n_codings, integer=True)
        if n_codings >= n_inputs:
            raise ValueError(f"n_codings must be smaller than n_inputs ({n_inputs}) for an "
                             f"undercomplete autoencoder, got {n_codings!r}")
        super().__init__(numpy_rng, input=input, n_visible=n_inputs, n_hidden=n_codings,
                         encoder_scale=0.25, decoder_scale=0.25)
        self.n_inputs, self.n_codings = n_inputs, n_codings

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """The mean squared reconstruction error over rows and columns."""
        x = self.input_or_default(x)
        return {"cost": mse(self.reconstruct(x), x)}, []

    def decoder_basis(self) -> np.ndarray:
        """An orthonormal basis (as columns, ``n_inputs x n_codings``) of the rows of
        ``W_prime``."""
        return orthonormal_basis(self.W_prime.get_value().T)


def orthonormal_basis(vectors: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning the columns of ``vectors`` (which must be independent)."""
    q, r = np.linalg.qr(np.asarray(vectors, dtype=np.float64))
    if np.min(np.abs(np.diag(r))) < 1e-12 * max(np.max(np.abs(r)), 1e-300):
        raise ValueError("the columns are linearly dependent: no subspace of full dimension")
    return q


def pca_basis(data: np.ndarray, n_components: int) -> np.ndarray:
    """The top ``n_components`` principal directions of ``data`` (rows = points) as columns."""
    data = np.asarray(data, dtype=np.float64)
    check_positive("n_components", n_components, integer=True)
    if data.ndim != 2 or n_components > data.shape[1]:
        raise ValueError(f"n_components must be at most the data's {data.shape[-1]} columns, "
                         f"got {n_components!r}")
    _, _, vt = np.linalg.svd(data - data.mean(axis=0), full_matrices=False)
    return vt[:n_components].T


def principal_angles_degrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The principal angles, in degrees and increasing, between the subspaces spanned by
    the columns of ``a`` and of ``b``: ``arccos`` of the singular values of ``Qa^T Qb``."""
    qa, qb = orthonormal_basis(a), orthonormal_basis(b)
    if qa.shape[0] != qb.shape[0]:
        raise ValueError(f"the subspaces live in spaces of different dimension: {qa.shape[0]} "
                         f"and {qb.shape[0]}")
    cosines = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1.0, 1.0)
    return np.sort(np.degrees(np.arccos(cosines)))
