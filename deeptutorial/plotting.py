"""Scatter and line charts drawn with matplotlib, and pictures of graphs.

The charts render off-screen (matplotlib's Agg canvas) and return an ``(height, width, 3)``
uint8 array (a ``utils.Picture``, which a notebook shows), the form every image of the project
takes, so that a chart is saved by ``results.save_image`` and can be joined to others by
``utils.side_by_side`` like the filter mosaics. ``graph_picture`` draws a symbolic graph or a
compiled function with Graphviz.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from deeptutorial.utils import Picture, picture

# matplotlib's default colour cycle ("tab10"), as 0..255 RGB: label k gets PALETTE[k % 10].
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
DPI = 100


def _check_size(size) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be a (width, height) pair, got {size!r}") from None
    if width < 120 or height < 100:
        raise ValueError(f"size must be at least (120, 100) pixels, got {size!r}")
    return width, height


def _figure(size, title: str, xlabel: str, ylabel: str):
    from matplotlib.figure import Figure

    width, height = _check_size(size)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=9)
    axes.set_xlabel(xlabel, fontsize=8)
    axes.set_ylabel(ylabel, fontsize=8)
    axes.tick_params(labelsize=7)
    return figure, axes


def _pixels(figure) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure.tight_layout()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return picture(np.asarray(canvas.buffer_rgba())[:, :, :3].copy())


def _rgb(colour) -> tuple[float, float, float]:
    return tuple(float(v) / 255 for v in colour)


def _check_points(name: str, points) -> np.ndarray:
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"{name} must have shape (n, 2) with n >= 1, got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} must be finite")
    return points


def scatter_plot(points_2d, colors=None, title: str = "", xlabel: str = "", ylabel: str = "",
                 size: tuple[int, int] = (480, 360), background=None) -> Picture:
    """A scatter plot of ``points_2d`` (shape ``(n, 2)``) as a uint8 RGB array.

    ``colors`` may be ``None`` (one colour), a sequence of ``n`` integer labels (one
    palette colour per label, with a legend of the labels), or an ``(n, 3)`` array of
    RGB values in 0..255. ``background`` points (shape ``(m, 2)``), if given, are drawn
    first in light grey, e.g. samples of a distribution the points are compared with.
    """
    points = _check_points("points_2d", points_2d)
    if background is not None:
        background = _check_points("background", background)
    labels = None
    if colors is None:
        rgb = np.tile(np.array(PALETTE[0]), (len(points), 1))
    else:
        c = np.asarray(colors)
        if c.ndim == 2 and c.shape == (len(points), 3):
            rgb = np.clip(c, 0, 255)
        elif c.ndim == 1 and len(c) == len(points) and np.issubdtype(c.dtype, np.integer):
            labels = sorted(set(c.tolist()))
            lookup = {label: PALETTE[k % len(PALETTE)] for k, label in enumerate(labels)}
            rgb = np.array([lookup[v] for v in c.tolist()])
        else:
            raise ValueError(f"colors must be None, {len(points)} integer labels or an "
                             f"({len(points)}, 3) RGB array, got shape {c.shape}")
    figure, axes = _figure(size, title, xlabel, ylabel)
    if background is not None:
        axes.scatter(background[:, 0], background[:, 1], s=6, linewidths=0, color=(0.82,) * 3)
    if labels is not None:
        for k, label in enumerate(labels):
            mine = np.asarray(colors) == label
            axes.scatter(points[mine, 0], points[mine, 1], s=9, linewidths=0,
                         color=_rgb(PALETTE[k % len(PALETTE)]), label=str(label))
        if len(labels) <= 12:
            axes.legend(fontsize=7, markerscale=2, loc="best")
    else:
        axes.scatter(points[:, 0], points[:, 1], s=9, linewidths=0, c=rgb / 255.0)
    return _pixels(figure)


def line_plot(xs, series: dict[str, Sequence[float]], title: str = "", xlabel: str = "",
              ylabel: str = "", size: tuple[int, int] = (480, 360)) -> Picture:
    """Lines ``ys`` against the shared ``xs``, one per entry of ``series`` (name -> ys),
    with a legend of the names, as a uint8 RGB array. Non-finite values leave gaps."""
    x = np.asarray(xs, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"xs must be a non-empty 1-D sequence, got shape {x.shape}")
    if not series:
        raise ValueError("series must hold at least one name -> ys entry")
    ys = {}
    for name, values in series.items():
        y = np.asarray(values, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"series {name!r} has shape {y.shape}, expected {x.shape} like xs")
        ys[name] = y
    if not np.all(np.isfinite(x)) or not any(np.isfinite(y).any() for y in ys.values()):
        raise ValueError("xs must be finite and the series must hold finite values")
    figure, axes = _figure(size, title, xlabel, ylabel)
    for k, (name, y) in enumerate(ys.items()):
        axes.plot(x, np.where(np.isfinite(y), y, np.nan), color=_rgb(PALETTE[k % len(PALETTE)]),
                  linewidth=2, marker="o" if len(x) < 20 else None, markersize=4,
                  label=str(name))
    axes.legend(fontsize=7)
    return _pixels(figure)


GRAPHVIZ_MISSING = ("drawing a graph needs pydot and Graphviz's dot program: pip install pydot, "
                    "and Graphviz from your system's packages (apt install graphviz, brew install "
                    "graphviz, conda install graphviz)")


def graph_picture(graph, path: str | None = None) -> Picture | None:
    """A picture of ``graph`` (a symbolic variable, or a compiled function: its graph after
    PyTensor's rewrites), drawn by ``pytensor.printing.pydotprint`` with Graphviz; also written
    to ``path`` (a PNG) when given. Where pydot or Graphviz's ``dot`` is missing, prints one
    line saying how to get them and returns None, so a notebook runs on without them."""
    import os
    import shutil
    import tempfile

    try:
        import pydot  # noqa: F401
    except ImportError:
        pydot = None
    if pydot is None or shutil.which("dot") is None:
        print(GRAPHVIZ_MISSING)
        return None
    from PIL import Image
    from pytensor.printing import pydotprint

    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "graph.png")
        pydotprint(graph, outfile=out, format="png", print_output_file=False)
        pixels = np.asarray(Image.open(out).convert("RGB"))
    if path is not None:
        Image.fromarray(pixels).save(path)
    return picture(pixels)
