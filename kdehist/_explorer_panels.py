"""The panels of the histogram explorer (:mod:`kdehist.widgets`): the histograms it
shows, the image thumbnail, and the two plots (the channel histograms and the kernel
window), drawn with matplotlib's Agg canvas into PNG bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from PIL import Image as PILImage

from ._explorer_images import _ExplorerImage, _resample
from .io import png_bytes


CHANNEL_LABELS = ("R", "G", "B")
CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")

VALUE_RANGE = (-1.0, 1.0)

# A distinct-value table only pays when it is much shorter than the image (8-bit images
# have at most 256 values per channel); otherwise histogram the pixels themselves.
_COMPRESSION_GAIN = 4
# Points on which the kernel window is drawn: enough to resolve the narrowest window.
_KERNEL_POINTS = 401


@dataclass(frozen=True)
class _ValueTable:
    """Each channel's distinct pixel values with their total weight.

    A KDE is linear in the pixels, so a histogram of the distinct values weighted by how
    many pixels (or how much mask weight) hold each value is the histogram of the image.
    For an 8-bit image this shrinks the work from ``H * W`` values to at most 256 per
    channel, which keeps even a bandwidth of 10 bins interactive.
    """

    values: torch.Tensor  # (3, 1, 1, U), padded with zeros
    weights: torch.Tensor  # (3, 1, 1, U), zero for the padding


# --------------------------------------------------------------------------- histograms


def _value_table(pixels: torch.Tensor, mask: torch.Tensor | None) -> _ValueTable | None:
    """The distinct values of each channel with their weights,
    or ``None`` when too many.
    """
    rows = []
    weights_flat = None if mask is None else mask.reshape(-1)
    for channel in pixels:
        values, inverse = torch.unique(channel.reshape(-1), return_inverse=True)
        weight = torch.zeros(values.numel(), dtype=torch.float32)
        weight.index_add_(
            0,
            inverse,
            torch.ones_like(channel.reshape(-1))
            if weights_flat is None
            else weights_flat,
        )
        keep = weight > 0
        rows.append((values[keep], weight[keep]))
    longest = max(values.numel() for values, _ in rows)
    if longest * _COMPRESSION_GAIN > pixels[0].numel():
        return None
    values = torch.zeros(len(rows), 1, 1, longest)
    weights = torch.zeros(len(rows), 1, 1, longest)
    for row, (v, w) in enumerate(rows):
        values[row, 0, 0, : v.numel()] = v
        weights[row, 0, 0, : w.numel()] = w
    return _ValueTable(values, weights)


def _channel_histograms(
    histogram: Callable[..., torch.Tensor],
    image: _ExplorerImage,
    table: _ValueTable | None,
    use_mask: bool,
    bins: int,
    bandwidth: float,
    boundary: str,
) -> torch.Tensor:
    """``(3, bins)`` histogram of every channel of ``image``,
    through ``table`` when given.
    """
    if table is not None:
        out = histogram(
            table.values,
            bins,
            bandwidth,
            VALUE_RANGE,
            mask=table.weights,
            boundary=boundary,
        )
        return out.reshape(3, bins)
    mask = image.mask[None] if use_mask and image.mask is not None else None
    return histogram(
        image.pixels[None], bins, bandwidth, VALUE_RANGE, mask=mask, boundary=boundary
    )[0]


def _thumbnail_png(image: _ExplorerImage, use_mask: bool, side: int) -> bytes:
    """A PNG of the image for display, at most ``side`` pixels wide or tall.

    With the mask on, the background is dimmed so that the
    class sees which pixels count.
    """
    rgb = (image.pixels.clamp(-1, 1) + 1) * 127.5
    if use_mask and image.mask is not None:
        rgb = rgb * (0.25 + 0.75 * image.mask)
    array = rgb.round().to(torch.uint8).permute(1, 2, 0).numpy()
    picture = PILImage.fromarray(np.ascontiguousarray(array))
    picture.thumbnail((side, side), _resample("BILINEAR"))
    return png_bytes(picture, compress_level=1)


# ----------------------------------------------------------------------------- the plot


class _BlittedFigure:
    """A matplotlib figure redrawn by blitting onto cached backgrounds.

    Text (ticks, labels, legends) is most of the cost of drawing a matplotlib
    figure. So the static part of the figure is drawn once per ``key`` (the axis
    limits) and kept as a bitmap; a redraw restores that bitmap and draws only the
    data artists on top (matplotlib's "blitting"), which takes a few milliseconds
    instead of a hundred or more.
    """

    _BACKGROUNDS_KEPT = 12  # bitmaps of about 1 MiB each

    def __init__(self, width_px: int, height_px: int, dpi: int = 80):
        self.figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.dynamic: list = []
        self._backgrounds: dict[Any, Any] = {}

    def _set_dynamic(self, artists: list) -> None:
        self.dynamic = artists
        for artist in artists:
            # Animated artists are left out of canvas.draw(),
            # i.e. out of the background.
            artist.set_animated(True)

    def render(self, key) -> bytes:
        """Draw the data on the background for ``key`` and
        return the figure as PNG bytes.
        """
        background = self._backgrounds.get(key)
        if background is None:
            self.canvas.draw()
            background = self.canvas.copy_from_bbox(self.figure.bbox)
            if len(self._backgrounds) >= self._BACKGROUNDS_KEPT:
                self._backgrounds.pop(next(iter(self._backgrounds)))  # the oldest
            self._backgrounds[key] = background
        self.canvas.restore_region(background)
        for artist in self.dynamic:
            artist.axes.draw_artist(artist)
        rgb = np.ascontiguousarray(np.asarray(self.canvas.buffer_rgba())[..., :3])
        # Fast zlib level: a plot compresses well anyway, and
        # encoding time is redraw time.
        return png_bytes(rgb, compress_level=1)


class _HistogramPanels(_BlittedFigure):
    """One panel per shown channel: the hard histogram (grey) under the soft (colour).

    Histograms are plotted as densities :math:`P(k) / L`, which keep their scale as
    ``K`` changes, on one y-axis shared by the panels (which also makes the channels
    comparable), whose upper limit snaps to a ladder of round numbers: the background,
    keyed by that limit, rarely has to be redrawn.
    """

    # Round upper limits at most 1.5 times apart: the data fill at
    # least two thirds of a panel.
    _MANTISSAS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0)

    def __init__(self, channels: tuple[int, ...], width_px: int, height_px: int):
        super().__init__(width_px, height_px)
        self.channels = channels
        self.figure.subplots_adjust(
            left=0.07, right=0.99, top=0.9, bottom=0.16, wspace=0.06
        )
        self.panels = []
        for column, channel in enumerate(channels):
            shared = self.panels[0]["axes"] if self.panels else None
            axes = self.figure.add_subplot(1, len(channels), column + 1, sharey=shared)
            colour = CHANNEL_COLOURS[channel]
            hard = axes.stairs(
                np.zeros(1),
                np.array(VALUE_RANGE),
                fill=True,
                color="0.78",
                label="hard (counts)",
            )
            (soft,) = axes.plot(
                [], [], color=colour, lw=1.6, markersize=3, label="soft (KDE)"
            )
            chosen = Rectangle(
                (0, 0),
                0,
                1,
                transform=axes.get_xaxis_transform(),
                color=colour,
                alpha=0.15,
                lw=0,
                label="bin k",
            )
            axes.add_patch(chosen)
            axes.set_xlim(VALUE_RANGE[0] - 0.03, VALUE_RANGE[1] + 0.03)
            # Labels only at -1, 0, 1: longer ones would run into
            # the neighbouring panel's.
            axes.set_xticks([-1, 0, 1], ["−1", "0", "1"])
            axes.set_xticks([-0.5, 0.5], minor=True)
            axes.yaxis.set_major_locator(MaxNLocator(4))
            axes.tick_params(labelsize=8)
            axes.set_xlabel(f"{CHANNEL_LABELS[channel]} value", fontsize=8, labelpad=1)
            if column == 0:
                axes.set_ylabel("density  P(k) / L", fontsize=8)
                # Above the panels, where no data can hide it.
                self.figure.legend(
                    handles=[hard, soft, chosen],
                    loc="upper center",
                    ncol=3,
                    fontsize=8,
                    frameon=False,
                    borderaxespad=0.2,
                )
            else:
                axes.tick_params(labelleft=False)
            self.panels.append(
                {"axes": axes, "hard": hard, "soft": soft, "chosen": chosen}
            )
        self._set_dynamic(
            [
                a
                for panel in self.panels
                for a in (panel["chosen"], panel["hard"], panel["soft"])
            ]
        )

    @classmethod
    def round_up(cls, value: float) -> float:
        """The smallest ladder value at or above ``value``."""
        scale = 10.0 ** math.floor(math.log10(max(value, 1e-12)))
        return next(
            m * scale for m in cls._MANTISSAS if m * scale >= value * (1 - 1e-9)
        )

    def draw(
        self, *, edges: np.ndarray, soft: np.ndarray, hard: np.ndarray, kernel_bin: int
    ) -> bytes:
        """PNG of the densities ``soft`` and ``hard``,
        ``(panels, K)``, on the bins ``edges``.
        """
        centres = 0.5 * (edges[:-1] + edges[1:])
        for panel, soft_row, hard_row in zip(self.panels, soft, hard):
            panel["hard"].set_data(hard_row, edges)
            panel["soft"].set_data(centres, soft_row)
            # Few bins: mark the bin masses, so that the line between
            # them is not read as data.
            panel["soft"].set_marker("o" if len(centres) <= 32 else "None")
            panel["chosen"].set_x(edges[kernel_bin])
            panel["chosen"].set_width(edges[kernel_bin + 1] - edges[kernel_bin])
        limit = self.round_up(1.04 * max(float(soft.max()), float(hard.max()), 1e-6))
        self.panels[0]["axes"].set_ylim(0, limit)  # shared by all the panels
        return self.render(limit)


class _KernelPanel(_BlittedFigure):
    r"""The window :math:`\Pi_k` of one bin, with its neighbours' and the hard bin's.

    The x-axis counts bin widths from the centre of bin ``k``, over a
    half-width chosen from a ladder by ``B / L``: the background depends on the
    bandwidth's order of magnitude only.
    """

    HALF_WIDTHS = (3, 6, 12, 25, 50, 100, 200)  # in bin widths

    def __init__(self, width_px: int, height_px: int):
        super().__init__(width_px, height_px)
        self.figure.subplots_adjust(left=0.07, right=0.99, top=0.84, bottom=0.3)
        axes = self.axes = self.figure.add_subplot(1, 1, 1)
        axes.tick_params(labelsize=8)
        # Outside [lo, hi] a window's mass leaks with boundary="none": shade it.
        self.outside = [
            Rectangle(
                (0, 0), 0, 1, transform=axes.get_xaxis_transform(), color="0.88", lw=0
            )
            for _ in range(2)
        ]
        for patch in self.outside:
            axes.add_patch(patch)
        self.indicator = axes.stairs(
            np.zeros(3),
            np.arange(4.0),
            color="0.45",
            ls="--",
            lw=1,
            label="bin k (hard)",
        )
        (self.neighbours,) = axes.plot(
            [], [], color="0.6", lw=1, label="windows of bins k ± 1"
        )
        (self.window,) = axes.plot(
            [], [], color="black", lw=1.8, label="window of bin k"
        )
        axes.set_ylim(-0.04, 1.12)
        axes.set_yticks([0, 0.5, 1])
        axes.set_xlabel(
            "distance from the centre of bin k, in bin widths  (z − μ_k) / L;   "
            "shaded: outside [−1, 1]",
            fontsize=8,
            labelpad=1,
        )
        self.figure.legend(
            handles=[self.window, self.neighbours, self.indicator],
            loc="upper center",
            ncol=3,
            fontsize=8,
            frameon=False,
            borderaxespad=0.2,
        )
        self._set_dynamic([*self.outside, self.indicator, self.neighbours, self.window])

    @classmethod
    def half_width(cls, ratio: float) -> int:
        """The panel's half-width in bin widths for a bandwidth of ``ratio`` bin widths.

        The window is 0 or 1 to within 1e-5 beyond about 12
        bandwidths from the bin's edges.
        """
        needed = 0.5 + max(2.0, 12.0 * ratio)
        return next(
            (half for half in cls.HALF_WIDTHS if half >= needed), cls.HALF_WIDTHS[-1]
        )

    def draw(
        self,
        *,
        offsets: np.ndarray,
        window: np.ndarray,
        neighbours,
        kernel_bin: int,
        bins: int,
        boundary: str,
    ) -> bytes:
        """PNG of ``window`` on ``offsets`` (bin widths from the
        centre of bin ``kernel_bin``).
        """
        half = float(offsets[-1])
        self.axes.set_xlim(-half, half)
        self.window.set_data(offsets, window)
        self.neighbours.set_data(*neighbours)
        # The hard bin; with boundary="reflect" the end bins reach out to infinity.
        lower = -half if boundary == "reflect" and kernel_bin == 0 else -0.5
        upper = half if boundary == "reflect" and kernel_bin == bins - 1 else 0.5
        self.indicator.set_data(
            np.array([0.0, 1.0, 0.0]), np.array([-half - 1, lower, upper, half + 1])
        )
        # The range [lo, hi] covers bins 0..K-1, i.e. offsets -(k + 1/2) .. K - k - 1/2.
        below, above = -(kernel_bin + 0.5), bins - kernel_bin - 0.5
        self.outside[0].set_bounds(-2 * half, 0, max(0.0, below + 2 * half), 1)
        self.outside[1].set_bounds(above, 0, max(0.0, 2 * half - above), 1)
        return self.render(half)
