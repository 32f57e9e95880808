"""Reconstruction losses shared by the autoencoders whose decoders end in a sigmoid."""

from __future__ import annotations

import pytensor.tensor as pt

LOSSES = ("cross_entropy", "squared_error")


def cross_entropy(x, logits):
    """Per-row ``-sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]`` with ``z = sigmoid(logits)``.

    Computed as ``sum_k [softplus(a_k) - x_k a_k]`` (``a = logits``), the same value: it
    never takes log(0), and its gradient ``sigmoid(a) - x`` costs one exponential per
    pixel, where PyTensor's rewrite of the log form keeps several.
    """
    return pt.sum(pt.softplus(logits) - x * logits, axis=1)


def mean_pixel_cross_entropy(x, logits):
    """The binary cross-entropy averaged over pixels and images (the per-pixel mean the
    framework examples report), from the logits as ``cross_entropy``."""
    return pt.mean(pt.softplus(logits) - x * logits)


def mse(a, b):
    """Mean over rows and columns of ``(a - b)^2``."""
    return pt.mean((a - b) ** 2)


def squared_error(x, z):
    """Per-row ``sum_k (x_k - z_k)^2``."""
    return pt.sum((x - z) ** 2, axis=1)


def reconstruction_loss(kind: str, x, logits):
    """Per-row loss ``kind`` (one of ``LOSSES``) of the reconstruction ``sigmoid(logits)``."""
    if kind == "cross_entropy":
        return cross_entropy(x, logits)
    if kind == "squared_error":
        return squared_error(x, pt.sigmoid(logits))
    raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
