"""Small scatter and line plots drawn with Pillow alone (no matplotlib), as uint8 RGB arrays.

Both functions return an ``(height, width, 3)`` uint8 array ready for
``deeptutorial.results.save_image``: a white canvas with a framed plotting area, a few
tick labels on each axis, an optional title and axis labels, and a legend.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# A colour cycle with enough contrast on white (the usual "tab10" hues).
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]

_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 58, 14, 28, 40


def _check_size(size) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be a (width, height) pair, got {size!r}") from None
    if width < 120 or height < 100:
        raise ValueError(f"size must be at least (120, 100) pixels, got {size!r}")
    return width, height


def nice_ticks(low: float, high: float, n: int = 5) -> list[float]:
    """Up to about ``n`` round tick values in [low, high], in steps of 1, 2 or 5 times a
    power of ten."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"axis limits must be finite, got {low!r}, {high!r}")
    if high <= low:
        return [low]
    raw = (high - low) / max(n, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(0.0 if abs(value) < 1e-12 * step else value)
        value += step
    return ticks


def _format(value: float) -> str:
    return f"{value:.4g}"


def _limits(values: np.ndarray) -> tuple[float, float]:
    low, high = float(np.min(values)), float(np.max(values))
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = 0.05 * (high - low)
    return low - pad, high + pad


class _Canvas:
    """A white image with a plotting rectangle and data-to-pixel mapping."""

    def __init__(self, size, xlim, ylim, title: str, xlabel: str, ylabel: str):
        from PIL import Image, ImageDraw, ImageFont

        self.width, self.height = _check_size(size)
        self.image = Image.new("RGB", (self.width, self.height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default()
        self.left, self.top = _MARGIN_LEFT, _MARGIN_TOP
        self.right, self.bottom = self.width - _MARGIN_RIGHT, self.height - _MARGIN_BOTTOM
        self.xlim, self.ylim = xlim, ylim
        self._axes(title, xlabel, ylabel)

    def text_size(self, text: str) -> tuple[int, int]:
        box = self.draw.textbbox((0, 0), text, font=self.font)
        return box[2] - box[0], box[3] - box[1]

    def to_pixels(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        px = self.left + (np.asarray(x, dtype=float) - x0) / (x1 - x0) * (self.right - self.left)
        py = self.bottom - (np.asarray(y, dtype=float) - y0) / (y1 - y0) * (self.bottom - self.top)
        return px, py

    def _axes(self, title: str, xlabel: str, ylabel: str) -> None:
        d = self.draw
        d.rectangle([self.left, self.top, self.right, self.bottom], outline="black")
        for tick in nice_ticks(*self.xlim):
            px = float(self.to_pixels(tick, self.ylim[0])[0])
            d.line([px, self.bottom, px, self.bottom + 4], fill="black")
            w, _ = self.text_size(_format(tick))
            d.text((px - w / 2, self.bottom + 6), _format(tick), fill="black", font=self.font)
        for tick in nice_ticks(*self.ylim):
            py = float(self.to_pixels(self.xlim[0], tick)[1])
            d.line([self.left - 4, py, self.left, py], fill="black")
            w, h = self.text_size(_format(tick))
            d.text((self.left - 6 - w, py - h / 2 - 2), _format(tick), fill="black", font=self.font)
        if title:
            w, _ = self.text_size(title)
            d.text(((self.width - w) / 2, 8), title, fill="black", font=self.font)
        if xlabel:
            w, h = self.text_size(xlabel)
            d.text(((self.left + self.right - w) / 2, self.height - h - 8), xlabel, fill="black",
                   font=self.font)
        if ylabel:
            self._vertical_text(ylabel)

    def _vertical_text(self, text: str) -> None:
        from PIL import Image, ImageDraw

        w, h = self.text_size(text)
        label = Image.new("RGB", (w + 4, h + 6), "white")
        ImageDraw.Draw(label).text((2, 0), text, fill="black", font=self.font)
        label = label.rotate(90, expand=True)
        y = int((self.top + self.bottom - label.height) / 2)
        self.image.paste(label, (2, max(y, 0)))

    def legend(self, entries: list[tuple[str, tuple[int, int, int]]]) -> None:
        if not entries:
            return
        d = self.draw
        line_h = max(self.text_size(name)[1] for name, _ in entries) + 6
        box_w = max(self.text_size(name)[0] for name, _ in entries) + 28
        x0, y0 = self.right - box_w - 6, self.top + 6
        d.rectangle([x0, y0, x0 + box_w, y0 + line_h * len(entries) + 4], fill="white",
                    outline=(120, 120, 120))
        for k, (name, colour) in enumerate(entries):
            y = y0 + 4 + k * line_h
            d.rectangle([x0 + 5, y + 2, x0 + 17, y + line_h - 6], fill=colour)
            d.text((x0 + 22, y), name, fill="black", font=self.font)

    def pixels(self) -> np.ndarray:
        return np.asarray(self.image, dtype=np.uint8).copy()


def scatter_plot(points_2d, colors=None, title: str = "", xlabel: str = "", ylabel: str = "",
                 size: tuple[int, int] = (480, 360)) -> np.ndarray:
    """A scatter plot of ``points_2d`` (shape ``(n, 2)``) as a uint8 RGB array.

    ``colors`` may be ``None`` (one colour), a sequence of ``n`` integer labels (one
    palette colour per label, with a legend of the labels), or an ``(n, 3)`` array of
    RGB values in 0..255.
    """
    points = np.asarray(points_2d, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"points_2d must have shape (n, 2) with n >= 1, got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("points_2d must be finite")
    canvas = _Canvas(size, _limits(points[:, 0]), _limits(points[:, 1]), title, xlabel, ylabel)
    entries: list[tuple[str, tuple[int, int, int]]] = []
    if colors is None:
        rgb = np.tile(PALETTE[0], (len(points), 1))
    else:
        c = np.asarray(colors)
        if c.ndim == 2 and c.shape == (len(points), 3):
            rgb = np.clip(c, 0, 255).astype(int)
        elif c.ndim == 1 and len(c) == len(points) and np.issubdtype(c.dtype, np.integer):
            labels = sorted(set(c.tolist()))
            lookup = {label: PALETTE[k % len(PALETTE)] for k, label in enumerate(labels)}
            rgb = np.array([lookup[v] for v in c.tolist()])
            if len(labels) <= 12:
                entries = [(str(label), lookup[label]) for label in labels]
        else:
            raise ValueError(f"colors must be None, {len(points)} integer labels or an "
                             f"({len(points)}, 3) RGB array, got shape {c.shape}")
    px, py = canvas.to_pixels(points[:, 0], points[:, 1])
    for x, y, colour in zip(px, py, rgb):
        canvas.draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=tuple(int(v) for v in colour))
    canvas.legend(entries)
    return canvas.pixels()


def line_plot(xs, series: dict[str, Sequence[float]], title: str = "", xlabel: str = "",
              ylabel: str = "", size: tuple[int, int] = (480, 360)) -> np.ndarray:
    """Lines ``ys`` against the shared ``xs``, one per entry of ``series`` (name -> ys),
    with a legend of the names, as a uint8 RGB array. Non-finite values are skipped."""
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
    finite = np.concatenate([y[np.isfinite(y)] for y in ys.values()])
    if len(finite) == 0 or not np.all(np.isfinite(x)):
        raise ValueError("xs must be finite and the series must hold finite values")
    xlim = (float(x.min()), float(x.max())) if x.max() > x.min() else _limits(x)
    canvas = _Canvas(size, xlim, _limits(finite), title, xlabel, ylabel)
    entries = []
    for k, (name, y) in enumerate(ys.items()):
        colour = PALETTE[k % len(PALETTE)]
        px, py = canvas.to_pixels(x, y)
        ok = np.isfinite(y)
        segment: list[tuple[float, float]] = []
        for good, a, b in zip(ok, px, py):
            if good:
                segment.append((float(a), float(b)))
            else:  # a gap: draw what came before it
                _draw_segment(canvas, segment, colour)
                segment = []
        _draw_segment(canvas, segment, colour)
        entries.append((str(name), colour))
    canvas.legend(entries)
    return canvas.pixels()


def _draw_segment(canvas: _Canvas, segment: list[tuple[float, float]], colour) -> None:
    if len(segment) >= 2:
        canvas.draw.line(segment, fill=colour, width=2)
    elif len(segment) == 1:
        x, y = segment[0]
        canvas.draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
