"""The pictures of the translation explorer (:mod:`kdehist.translator`): enlarged
64-px images and the plot of the reference's and the output's foreground histograms,
drawn with matplotlib's Agg canvas into PNG bytes (no pyplot, no global state)."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

from .io import png_bytes

CHANNELS = (("R", "#d62728"), ("G", "#2ca02c"), ("B", "#1f77b4"))


def _picture_png(pixels: torch.Tensor, side: int, mask: torch.Tensor | None = None):
    """PNG bytes of a ``(3, S, S)`` image in [-1, 1], enlarged to ``side`` pixels
    (nearest: the model's pixels as they are); with ``mask``, the background is
    dimmed so that the reader sees which pixels count."""
    rgb = (pixels.detach().float().clamp(-1, 1) + 1) * 127.5
    if mask is not None:
        rgb = rgb * (0.3 + 0.7 * mask)
    array = rgb.round().to(torch.uint8).permute(1, 2, 0).numpy()
    picture = PILImage.fromarray(np.ascontiguousarray(array))
    resampling = getattr(PILImage, "Resampling", PILImage)
    picture = picture.resize((side, side), resampling.NEAREST)
    return png_bytes(picture, compress_level=1)


class _HistogramPlot:
    """Three panels (R, G, B): the reference's foreground histogram as filled bars and
    the output's as a line, drawn by blitting onto a cached background.

    The axes (the costly text) are drawn once per y-limit, when the plot is made; the
    y-limit is rounded up to one of a few levels, so that a redraw only blits.
    """

    _LEVELS = (0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)

    def __init__(self, bins: int, width_px: int = 720, height_px: int = 210):
        dpi = 80
        self.figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.subplots(1, 3, sharey=True)
        self.figure.subplots_adjust(
            left=0.07, right=0.98, bottom=0.2, top=0.86, wspace=0.16
        )
        edges = np.linspace(-1, 1, bins + 1)
        self.centres = (edges[:-1] + edges[1:]) / 2
        self.width = edges[1] - edges[0]
        self.bars, self.lines = [], []
        for ax, (label, colour) in zip(self.axes, CHANNELS):
            bars = ax.bar(
                self.centres,
                np.zeros(bins),
                width=self.width,
                color=colour,
                alpha=0.35,
                animated=True,
                label="reference",
            )
            (line,) = ax.plot(
                self.centres,
                np.zeros(bins),
                color=colour,
                lw=2,
                marker="o",
                ms=2.5,
                animated=True,
                label="translation",
            )
            ax.set_xlim(-1, 1)
            ax.set_title(f"{label} (foreground)", fontsize=10)
            ax.set_xlabel("pixel value", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.25)
            self.bars.append(bars)
            self.lines.append(line)
        self.axes[0].set_ylabel("share of pixels P(k)", fontsize=9)
        self.axes[0].legend(fontsize=8, loc="upper left", frameon=False)
        self._backgrounds: dict[float, object] = {}
        for level in self._LEVELS:  # drawn now, so that no redraw has to
            self._background(level)

    def _background(self, level: float):
        if level not in self._backgrounds:
            for ax in self.axes:
                ax.set_ylim(0, level)
            self.canvas.draw()
            self._backgrounds[level] = self.canvas.copy_from_bbox(self.figure.bbox)
        return self._backgrounds[level]

    def _level(self, peak: float) -> float:
        return next((lv for lv in self._LEVELS if peak <= lv * 0.97), 1.0)

    def draw(self, reference: np.ndarray, output: np.ndarray) -> bytes:
        """PNG bytes of the plot of two ``(3, bins)`` histograms."""
        level = self._level(float(max(reference.max(), output.max())))
        background = self._background(level)
        for ax in self.axes:
            ax.set_ylim(0, level)
        self.canvas.restore_region(background)
        for channel, ax in enumerate(self.axes):
            for patch, height in zip(self.bars[channel], reference[channel]):
                patch.set_height(float(height))
                ax.draw_artist(patch)
            self.lines[channel].set_ydata(output[channel])
            ax.draw_artist(self.lines[channel])
        buffer = np.asarray(self.canvas.buffer_rgba())
        return png_bytes(
            PILImage.fromarray(np.ascontiguousarray(buffer[..., :3])),
            compress_level=1,
        )

    def drawn(self) -> tuple[np.ndarray, np.ndarray]:
        """The histograms the plot shows now, read back from its artists."""
        reference = np.array([[p.get_height() for p in bars] for bars in self.bars])
        output = np.array([np.asarray(line.get_ydata()) for line in self.lines])
        return reference, output


def _share(delta_e: float) -> str:
    """ΔE as text, without a misleading number of digits."""
    return "–" if not math.isfinite(delta_e) else f"{delta_e:.2f}"
