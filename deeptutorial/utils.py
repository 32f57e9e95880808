"""Turning weights and digits into images: the tutorial's ``tile_raster_images`` and friends.

The helpers return a ``Picture``: the uint8 array every image of the project is (saved by
``results.save_image``, joined by ``side_by_side``), which a Jupyter notebook also shows.
"""

from __future__ import annotations

import io

import numpy as np


class Picture(np.ndarray):
    """A uint8 image, grey ``(height, width)`` or RGB ``(height, width, 3)``: a NumPy array
    in every way, which a Jupyter notebook displays as a PNG."""

    def _repr_png_(self) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.asarray(self)).save(buffer, format="PNG")
        return buffer.getvalue()


def picture(pixels) -> Picture:
    """``pixels`` (a uint8 array) as a ``Picture``, without a copy."""
    return np.asarray(pixels).view(Picture)


def scale_to_unit_interval(ndar: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Shift and scale ``ndar`` so that its values span [0, 1] (a constant array maps to 0)."""
    ndar = np.array(ndar, dtype=np.float64)
    ndar -= ndar.min()
    ndar *= 1.0 / (ndar.max() + eps)
    return ndar


def tile_raster_images(X, img_shape: tuple[int, int], tile_shape: tuple[int, int],
                       tile_spacing: tuple[int, int] = (0, 0),
                       scale_rows_to_unit_interval: bool = True,
                       output_pixel_vals: bool = True) -> np.ndarray:
    """Lay the rows of ``X`` out as a grid of images, e.g. to see learnt filters.

    ``X`` is a 2-D array whose rows are flattened images of ``img_shape``; the first
    ``tile_shape[0] * tile_shape[1]`` rows are drawn row by row, separated by
    ``tile_spacing`` pixels of black. Each row is rescaled to [0, 1] first when
    ``scale_rows_to_unit_interval``. With ``output_pixel_vals`` the result is uint8
    in [0, 255], ready for ``PIL.Image.fromarray``; otherwise it keeps ``X``'s dtype.

    ``X`` may instead be a 4-tuple of such arrays (or ``None``) giving the red,
    green, blue and alpha channels; the result then has shape (H, W, 4). A ``None``
    colour channel is black and a ``None`` alpha channel fully opaque.
    """
    if len(img_shape) != 2 or len(tile_shape) != 2 or len(tile_spacing) != 2:
        raise ValueError(f"img_shape, tile_shape and tile_spacing must be pairs, got "
                         f"{img_shape!r}, {tile_shape!r}, {tile_spacing!r}")
    if min(img_shape) < 1 or min(tile_shape) < 1 or min(tile_spacing) < 0:
        raise ValueError(f"img_shape and tile_shape must be positive and tile_spacing >= 0, got "
                         f"{img_shape!r}, {tile_shape!r}, {tile_spacing!r}")
    out_shape = tuple((ishp + tsp) * tshp - tsp
                      for ishp, tshp, tsp in zip(img_shape, tile_shape, tile_spacing))

    if isinstance(X, tuple):
        if len(X) != 4:
            raise ValueError(f"a tuple X must hold 4 channels (R, G, B, A), got {len(X)}")
        dtype = "uint8" if output_pixel_vals else next(
            (np.asarray(c).dtype for c in X if c is not None), np.float64)
        full = 255 if output_pixel_vals else 1
        out = np.zeros(out_shape + (4,), dtype=dtype)
        for i, channel in enumerate(X):
            if channel is None:
                out[:, :, i] = full if i == 3 else 0
            else:
                out[:, :, i] = tile_raster_images(channel, img_shape, tile_shape, tile_spacing,
                                                  scale_rows_to_unit_interval, output_pixel_vals)
        return out

    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != img_shape[0] * img_shape[1]:
        raise ValueError(f"X must be 2-D with rows of {img_shape[0]}x{img_shape[1]} = "
                         f"{img_shape[0] * img_shape[1]} values, got shape {X.shape}")
    H, W = img_shape
    Hs, Ws = tile_spacing
    out = np.zeros(out_shape, dtype="uint8" if output_pixel_vals else X.dtype)
    for row in range(tile_shape[0]):
        for col in range(tile_shape[1]):
            index = row * tile_shape[1] + col
            if index >= X.shape[0]:
                return out
            image = X[index].reshape(img_shape)
            if scale_rows_to_unit_interval:
                image = scale_to_unit_interval(image)
            if output_pixel_vals:
                image = image * 255
            out[row * (H + Hs): row * (H + Hs) + H, col * (W + Ws): col * (W + Ws) + W] = image
    return out


def side_by_side(images: list[np.ndarray], gap: int = 8, fill: int = 255) -> Picture:
    """Join uint8 images of equal height left to right with a ``gap`` of ``fill``."""
    if len({im.shape[0] for im in images}) != 1:
        raise ValueError(f"images must share a height, got {[im.shape for im in images]}")
    spacer = np.full((images[0].shape[0], gap) + images[0].shape[2:], fill, dtype=np.uint8)
    parts = []
    for im in images:
        parts += [np.asarray(im), spacer]
    return picture(np.concatenate(parts[:-1], axis=1))


def image_shape(n_pixels: int) -> tuple[int, int]:
    """The side x side shape of square images of ``n_pixels`` (MNIST: 28 x 28)."""
    side = int(round(np.sqrt(n_pixels)))
    if side * side != n_pixels:
        raise ValueError(f"rows of {n_pixels} values are not square images")
    return side, side


def filters_image(W: np.ndarray, tiles: tuple[int, int] = (10, 10), scale: int = 1) -> Picture:
    """The first ``tiles[0] * tiles[1]`` filters (columns of ``W``, one per hidden unit) as
    square tiles, each scaled to the full grey range: how the tutorials show what a layer
    learnt. ``scale`` enlarges every pixel to a ``scale x scale`` block, for small filters."""
    W = np.asarray(W)
    tiled = tile_raster_images(W.T, img_shape=image_shape(W.shape[0]), tile_shape=tiles,
                               tile_spacing=(1, 1))
    return picture(np.kron(tiled, np.ones((scale, scale), dtype=tiled.dtype)))


def digits_image(rows: np.ndarray, per_row: int = 10, spacing: int = 1) -> Picture:
    """Images (pixel values in [0, 1], one per row of ``rows``) laid out ``per_row`` to a
    line, unscaled, so that the grey levels are the model's own."""
    rows = np.asarray(rows)
    n_lines = -(-len(rows) // per_row)
    return picture(tile_raster_images(rows, img_shape=image_shape(rows.shape[1]),
                                      tile_shape=(n_lines, per_row),
                                      tile_spacing=(spacing, spacing),
                                      scale_rows_to_unit_interval=False))


def in_chunks(fn, data: np.ndarray, size: int = 1000) -> np.ndarray:
    """``fn`` applied to ``data`` ``size`` rows at a time, the results joined: for
    evaluating a compiled function on a whole split without one huge call."""
    return np.concatenate([fn(data[i:i + size]) for i in range(0, len(data), size)])
