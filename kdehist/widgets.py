r"""An ipywidgets app for exploring the KDE histogram in class: :func:`explore`.

The app shows one image next to a reference image, the soft histogram
(:func:`kdehist.soft_histogram`) over the hard one (:func:`kdehist.hard_histogram`) for each
shown channel, the window :math:`\Pi_k` of one chosen bin, the total mass of each channel
(what leaks past the ends of the range), and, against the reference, the three histogram
losses of :func:`kdehist.histogram_loss` and the colour difference :func:`kdehist.delta_e`.

It runs wherever ipywidgets 7.7 or 8 runs: JupyterLab 4, the classic notebook, VS Code and
Colab. Plots are drawn with matplotlib's Agg canvas into PNG bytes shown by an
:class:`ipywidgets.Image`, so that no interactive matplotlib backend (ipympl, which Colab
lacks) is needed, and a redraw sends a single small image to the browser.

Example::

    from kdehist.widgets import explore
    app = explore()          # photos, synthetic knees and your uploads
    app                      # display it (last expression of a cell)
    app.controls["bins"].value = 16
    app.current()["soft"]    # what the plot shows now, (channels, 16)
"""
from __future__ import annotations

import contextlib
import html
import io
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from PIL import Image as PILImage
from PIL import ImageOps

from ._checks import check_positive_int
from .color import delta_e as color_delta_e
from .color import jis_class
from .histogram import bin_centers, bin_edges, hard_histogram, soft_histogram
from .losses import LOSS_KINDS, histogram_loss

__all__ = [
    "CONTROL_NAMES",
    "HistogramExplorer",
    "PHOTOS",
    "SYNTHETIC_KNEES",
    "explore",
]

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "colorwheel", "camera")
"""scikit-image's bundled photos offered by default (``camera`` is grey: three equal channels)."""

SYNTHETIC_KNEES = (("sim", 0), ("sim", 1), ("real", 0), ("real", 1), ("real", 2))
"""``(domain, index)`` of the test-split :class:`kdehist.data.SyntheticKnees` offered by default."""

CONTROL_NAMES = ("image", "reference", "upload", "bins", "bandwidth", "channel", "boundary", "mask", "kernel_bin")
"""Keys of :attr:`HistogramExplorer.controls`."""

CHANNEL_CHOICES = {"all": (0, 1, 2), "red": (0,), "green": (1,), "blue": (2,)}
CHANNEL_LABELS = ("R", "G", "B")
CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")

VALUE_RANGE = (-1.0, 1.0)
MIN_BINS, MAX_BINS = 4, 256
# Bandwidth as a fraction B / L of the bin width L, on a log scale: 0.01 is practically the
# hard histogram, DeepHist's default is 1 / 2.5 = 0.4, and 10 smears a pixel over ~40 bins.
MIN_RATIO_EXPONENT, MAX_RATIO_EXPONENT = -2.0, 1.0
DEFAULT_RATIO = 0.4

# A distinct-value table only pays when it is much shorter than the image (8-bit images have
# at most 256 values per channel); otherwise histogram the pixels themselves.
_COMPRESSION_GAIN = 4
# Points on which the kernel window is drawn: enough to resolve the narrowest window.
_KERNEL_POINTS = 401


class _UploadError(ValueError):
    """An uploaded file cannot be used; the message is shown in the app."""


@dataclass
class _ExplorerImage:
    """One image choice, prepared for analysis and display.

    ``pixels`` is ``(3, H, W)`` float32 in [-1, 1]; ``mask`` is ``(1, H, W)`` float32 weights or
    ``None``; ``note`` says where the image came from and how it was resized.
    """

    pixels: torch.Tensor
    mask: torch.Tensor | None
    note: str = ""


@dataclass(frozen=True)
class _ValueTable:
    """Each channel's distinct pixel values with their total weight.

    A KDE is linear in the pixels, so a histogram of the distinct values weighted by how many
    pixels (or how much mask weight) hold each value is the histogram of the image. For an
    8-bit image this shrinks the work from ``H * W`` values to at most 256 per channel,
    which keeps even a bandwidth of 10 bins interactive.
    """

    values: torch.Tensor  # (3, 1, 1, U), padded with zeros
    weights: torch.Tensor  # (3, 1, 1, U), zero for the padding


# ----------------------------------------------------------------------------- image sources


def _uint8_to_pixels(array: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 to pixels in [-1, 1] and an alpha mask."""
    mask = None
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.shape[2] == 4:
        alpha = array[..., 3]
        # A fully opaque alpha channel carries no foreground, so it is not a mask.
        if alpha.min() < 255 and alpha.max() > 127:
            mask = torch.from_numpy((alpha > 127).astype(np.float32))[None]
        array = array[..., :3]
    pixels = torch.from_numpy(np.array(array)).permute(2, 0, 1).float() / 127.5 - 1
    return pixels, mask


def _resample(name: str) -> int:
    # Pillow >= 9.1 moved the filters to Image.Resampling; older ones keep module constants.
    resampling = getattr(PILImage, "Resampling", PILImage)
    return getattr(resampling, name)


def _shrink_uint8(array: np.ndarray, max_side: int) -> np.ndarray:
    """Downsample an 8-bit image so that its longer side is at most ``max_side``.

    Resampling stays in 8 bits, so that the image keeps at most 256 values per channel.
    """
    height, width = array.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return array
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if array.ndim == 3 and array.shape[2] == 4:
        # Colour and alpha resampled apart: alpha as a mask wants crisp edges.
        rgb = np.asarray(PILImage.fromarray(array[..., :3]).resize(size, _resample("LANCZOS")))
        alpha = np.asarray(PILImage.fromarray(array[..., 3]).resize(size, _resample("NEAREST")))
        return np.dstack([rgb, alpha])
    return np.asarray(PILImage.fromarray(array).resize(size, _resample("LANCZOS")))


def _photo_loader(name: str, max_side: int) -> Callable[[], _ExplorerImage]:
    def load() -> _ExplorerImage:
        from skimage import data as skimage_data

        array = np.asarray(getattr(skimage_data, name)())
        shrunk = _shrink_uint8(array, max_side)
        pixels, mask = _uint8_to_pixels(shrunk)
        note = f"scikit-image photo {name!r}, {array.shape[1]}×{array.shape[0]}"
        if shrunk.shape[:2] != array.shape[:2]:
            note += f", analysed at {shrunk.shape[1]}×{shrunk.shape[0]}"
        return _ExplorerImage(pixels, mask, note)

    return load


def _knee_loader(domain: str, index: int, max_side: int) -> Callable[[], _ExplorerImage]:
    def load() -> _ExplorerImage:
        from .data import MAX_SIZE, MIN_SIZE, SyntheticKnees

        size = min(MAX_SIZE, max(MIN_SIZE, max_side))
        sample = SyntheticKnees(domain, "test", size=size)[index]
        note = f"SyntheticKnees({domain!r}, 'test', size={size})[{index}] with its foreground mask"
        return _ExplorerImage(sample["image"].float(), sample["mask"].float(), note)

    return load


def _user_image(name: str, spec: Any, max_side: int) -> _ExplorerImage:
    """One entry of ``explore(images=...)`` as an explorer image; see :class:`HistogramExplorer`."""
    argument = f"images[{name!r}]"
    mask = None
    if isinstance(spec, Mapping):
        if "image" not in spec:
            raise ValueError(
                f"{argument}: expected a dict with an 'image' key (and optionally 'mask'), got keys {sorted(spec)}"
            )
        spec, mask = spec["image"], spec.get("mask")
    if isinstance(spec, PILImage.Image):
        from .data import pil_to_uint8

        spec = pil_to_uint8(spec, alpha="keep", where=argument)  # 16-bit and float modes scaled, not clipped
    if isinstance(spec, np.ndarray):
        if spec.dtype != np.uint8 or spec.ndim not in (2, 3) or (spec.ndim == 3 and spec.shape[2] not in (3, 4)):
            raise ValueError(
                f"{argument}: expected a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), "
                f"got {spec.dtype} of shape {spec.shape}"
            )
        pixels, alpha = _uint8_to_pixels(_shrink_uint8(spec, max_side))
        mask = alpha if mask is None else mask
    elif isinstance(spec, torch.Tensor):
        if spec.dim() == 4 and spec.shape[0] == 1:
            spec = spec[0]
        if spec.dim() != 3 or spec.shape[0] != 3 or not spec.is_floating_point():
            raise ValueError(
                f"{argument}: expected a float tensor of shape (3, H, W) in [-1, 1], "
                f"got {spec.dtype} of shape {tuple(spec.shape)}"
            )
        if not bool(torch.isfinite(spec).all()):
            raise ValueError(f"{argument}: expected finite values, got NaN or inf")
        pixels = spec.detach().float().cpu()
        if max(pixels.shape[1:]) > max_side:
            scale = max_side / max(pixels.shape[1:])
            size = [max(1, round(s * scale)) for s in pixels.shape[1:]]
            pixels = torch.nn.functional.interpolate(pixels[None], size=size, mode="bilinear", antialias=True)[0]
    else:
        raise TypeError(
            f"{argument}: expected a (3, H, W) tensor in [-1, 1], a uint8 array, a PIL image, "
            f"or a dict with 'image' and 'mask', got {type(spec).__name__}"
        )
    if mask is not None:
        mask = (mask if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))).detach().float().cpu()
        while mask.dim() > 2 and mask.shape[0] == 1:
            mask = mask[0]
        if mask.dim() != 2:
            raise ValueError(f"{argument}: expected a mask of shape (1, H, W) or (H, W), got {tuple(mask.shape)}")
        if tuple(mask.shape) != tuple(pixels.shape[-2:]):
            mask = torch.nn.functional.interpolate(mask[None, None], size=pixels.shape[-2:], mode="nearest")[0, 0]
        if bool((mask < 0).any()) or not bool((mask > 0).any()):
            raise ValueError(f"{argument}: expected a non-negative mask with some foreground")
        mask = mask[None].contiguous()
    return _ExplorerImage(pixels.contiguous(), mask, f"your image {name!r}")


# ----------------------------------------------------------------------------- uploads


def _uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``(name, content)`` of each file in a :class:`ipywidgets.FileUpload` value.

    ipywidgets 8 gives a tuple of dicts ``{"name", "type", "size", "content", ...}``;
    ipywidgets 7 (Colab) gives a dict ``{name: {"metadata": {...}, "content": bytes}}``.
    """
    if not value:
        return []
    if isinstance(value, Mapping):
        if "content" in value and "name" in value:  # a single 8.x entry
            entries = [(value["name"], value)]
        else:  # 7.x: keyed by file name
            entries = list(value.items())
    elif isinstance(value, (tuple, list)):
        entries = []
        for entry in value:
            if not isinstance(entry, Mapping):
                raise _UploadError(f"unexpected upload entry of type {type(entry).__name__}")
            entries.append((entry.get("name") or entry.get("metadata", {}).get("name", "upload"), entry))
    else:
        raise _UploadError(f"unexpected upload value of type {type(value).__name__}")
    files = []
    for name, entry in entries:
        if not isinstance(entry, Mapping) or "content" not in entry:
            raise _UploadError(f"{name}: the upload carries no content")
        content = entry["content"]
        # 8.x hands over a memoryview, 7.x bytes.
        content = content.tobytes() if isinstance(content, memoryview) else bytes(content)
        files.append((str(name), content))
    return files


def _decode_upload(name: str, content: bytes, max_bytes: int, max_pixels: int, max_side: int) -> _ExplorerImage:
    """Decode an uploaded image file, refusing what is not an image or is too large."""
    if not content:
        raise _UploadError(f"{name} is empty: expected an image file (PNG, JPEG, ...)")
    if len(content) > max_bytes:
        raise _UploadError(
            f"{name} is too large: {len(content) / 2**20:.1f} MiB, the limit is {max_bytes / 2**20:.0f} MiB"
        )
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own pixel limit; a huge image must not load.
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(content))
            width, height = image.size
            if width * height > max_pixels:
                raise _UploadError(
                    f"{name} is too large: {width}×{height} = {width * height / 1e6:.1f} megapixels, "
                    f"the limit is {max_pixels / 1e6:.0f}"
                )
            image.load()
    except _UploadError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise _UploadError(f"{name} is too large to decode safely") from None
    except Exception as error:  # Pillow raises several types for undecodable data
        raise _UploadError(f"{name} is not an image that Pillow can read ({type(error).__name__})") from None
    # Phone photos store their orientation in EXIF; show them the way they were taken.
    image = ImageOps.exif_transpose(image)
    from .data import pil_to_uint8

    array = pil_to_uint8(image, alpha="keep", where=name)  # any mode; 16-bit scaled, not clipped
    shrunk = _shrink_uint8(array, max_side)
    pixels, mask = _uint8_to_pixels(shrunk)
    note = f"upload {name!r}, {width}×{height}"
    if shrunk.shape[:2] != array.shape[:2]:
        note += f", analysed at {shrunk.shape[1]}×{shrunk.shape[0]}"
    if mask is not None:
        note += ", its alpha channel as the mask"
    return _ExplorerImage(pixels, mask, note)


# ----------------------------------------------------------------------------- histograms


@contextlib.contextmanager
def _one_torch_thread():
    """Run torch on one thread for the duration.

    A redraw works on tensors of at most a few hundred thousand values, too small for
    intra-op threads to pay off; and when another process keeps a core busy (a shared
    teaching machine, a training run), two threads wait on each other at every operation:
    on a loaded 2-core CPU the slowest redraws took 3 to 10 times longer with two threads.
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _value_table(pixels: torch.Tensor, mask: torch.Tensor | None) -> _ValueTable | None:
    """The distinct values of each channel with their weights, or ``None`` when too many."""
    rows = []
    weights_flat = None if mask is None else mask.reshape(-1)
    for channel in pixels:
        values, inverse = torch.unique(channel.reshape(-1), return_inverse=True)
        weight = torch.zeros(values.numel(), dtype=torch.float32)
        weight.index_add_(0, inverse, torch.ones_like(channel.reshape(-1)) if weights_flat is None else weights_flat)
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
    """``(3, bins)`` histogram of every channel of ``image``, through ``table`` when given."""
    if table is not None:
        out = histogram(table.values, bins, bandwidth, VALUE_RANGE, mask=table.weights, boundary=boundary)
        return out.reshape(3, bins)
    mask = image.mask[None] if use_mask and image.mask is not None else None
    return histogram(image.pixels[None], bins, bandwidth, VALUE_RANGE, mask=mask, boundary=boundary)[0]


def _thumbnail_png(image: _ExplorerImage, use_mask: bool, side: int) -> bytes:
    """A PNG of the image for display, at most ``side`` pixels wide or tall.

    With the mask on, the background is dimmed so that the class sees which pixels count.
    """
    rgb = (image.pixels.clamp(-1, 1) + 1) * 127.5
    if use_mask and image.mask is not None:
        rgb = rgb * (0.25 + 0.75 * image.mask)
    array = rgb.round().to(torch.uint8).permute(1, 2, 0).numpy()
    picture = PILImage.fromarray(np.ascontiguousarray(array))
    picture.thumbnail((side, side), _resample("BILINEAR"))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- the plot


class _BlittedFigure:
    """A matplotlib figure redrawn by blitting onto cached backgrounds.

    Text (ticks, labels, legends) is most of the cost of drawing a matplotlib figure. So the
    static part of the figure is drawn once per ``key`` (the axis limits) and kept as a bitmap;
    a redraw restores that bitmap and draws only the data artists on top (matplotlib's
    "blitting"), which takes a few milliseconds instead of a hundred or more.
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
            # Animated artists are left out of canvas.draw(), i.e. out of the background.
            artist.set_animated(True)

    def render(self, key) -> bytes:
        """Draw the data on the background for ``key`` and return the figure as PNG bytes."""
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
        buffer = io.BytesIO()
        # Fast zlib level: a plot compresses well anyway, and encoding time is redraw time.
        PILImage.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()


class _HistogramPanels(_BlittedFigure):
    """One panel per shown channel: the hard histogram (grey) under the soft one (colour).

    Histograms are plotted as densities :math:`P(k) / L`, which keep their scale as ``K``
    changes, on one y-axis shared by the panels (which also makes the channels comparable),
    whose upper limit snaps to a ladder of round numbers: the background, keyed by that
    limit, rarely has to be redrawn.
    """

    # Round upper limits at most 1.5 times apart: the data fill at least two thirds of a panel.
    _MANTISSAS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0)

    def __init__(self, channels: tuple[int, ...], width_px: int, height_px: int):
        super().__init__(width_px, height_px)
        self.channels = channels
        self.figure.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.16, wspace=0.06)
        self.panels = []
        for column, channel in enumerate(channels):
            shared = self.panels[0]["axes"] if self.panels else None
            axes = self.figure.add_subplot(1, len(channels), column + 1, sharey=shared)
            colour = CHANNEL_COLOURS[channel]
            hard = axes.stairs(np.zeros(1), np.array(VALUE_RANGE), fill=True, color="0.78", label="hard (counts)")
            (soft,) = axes.plot([], [], color=colour, lw=1.6, markersize=3, label="soft (KDE)")
            chosen = Rectangle((0, 0), 0, 1, transform=axes.get_xaxis_transform(), color=colour, alpha=0.15, lw=0,
                               label="bin k")
            axes.add_patch(chosen)
            axes.set_xlim(VALUE_RANGE[0] - 0.03, VALUE_RANGE[1] + 0.03)
            # Labels only at -1, 0, 1: longer ones would run into the neighbouring panel's.
            axes.set_xticks([-1, 0, 1], ["−1", "0", "1"])
            axes.set_xticks([-0.5, 0.5], minor=True)
            axes.yaxis.set_major_locator(MaxNLocator(4))
            axes.tick_params(labelsize=8)
            axes.set_xlabel(f"{CHANNEL_LABELS[channel]} value", fontsize=8, labelpad=1)
            if column == 0:
                axes.set_ylabel("density  P(k) / L", fontsize=8)
                # Above the panels, where no data can hide it.
                self.figure.legend(handles=[hard, soft, chosen], loc="upper center", ncol=3, fontsize=8,
                                   frameon=False, borderaxespad=0.2)
            else:
                axes.tick_params(labelleft=False)
            self.panels.append({"axes": axes, "hard": hard, "soft": soft, "chosen": chosen})
        self._set_dynamic([a for panel in self.panels for a in (panel["chosen"], panel["hard"], panel["soft"])])

    @classmethod
    def round_up(cls, value: float) -> float:
        """The smallest ladder value at or above ``value``."""
        scale = 10.0 ** math.floor(math.log10(max(value, 1e-12)))
        return next(m * scale for m in cls._MANTISSAS if m * scale >= value * (1 - 1e-9))

    def draw(self, *, edges: np.ndarray, soft: np.ndarray, hard: np.ndarray, kernel_bin: int) -> bytes:
        """PNG of the densities ``soft`` and ``hard``, ``(panels, K)``, on the bins ``edges``."""
        centres = 0.5 * (edges[:-1] + edges[1:])
        for panel, soft_row, hard_row in zip(self.panels, soft, hard):
            panel["hard"].set_data(hard_row, edges)
            panel["soft"].set_data(centres, soft_row)
            # Few bins: mark the bin masses, so that the line between them is not read as data.
            panel["soft"].set_marker("o" if len(centres) <= 32 else "None")
            panel["chosen"].set_x(edges[kernel_bin])
            panel["chosen"].set_width(edges[kernel_bin + 1] - edges[kernel_bin])
        limit = self.round_up(1.04 * max(float(soft.max()), float(hard.max()), 1e-6))
        self.panels[0]["axes"].set_ylim(0, limit)  # shared by all the panels
        return self.render(limit)


class _KernelPanel(_BlittedFigure):
    r"""The window :math:`\Pi_k` of one bin, with its neighbours' and the hard bin's.

    The x-axis counts bin widths from the centre of bin ``k``, over a half-width chosen from a
    ladder by ``B / L``: the background depends on the bandwidth's order of magnitude only.
    """

    HALF_WIDTHS = (3, 6, 12, 25, 50, 100, 200)  # in bin widths

    def __init__(self, width_px: int, height_px: int):
        super().__init__(width_px, height_px)
        self.figure.subplots_adjust(left=0.07, right=0.99, top=0.84, bottom=0.3)
        axes = self.axes = self.figure.add_subplot(1, 1, 1)
        axes.tick_params(labelsize=8)
        # Outside [lo, hi] a window's mass leaks with boundary="none": shade it.
        self.outside = [Rectangle((0, 0), 0, 1, transform=axes.get_xaxis_transform(), color="0.88", lw=0)
                        for _ in range(2)]
        for patch in self.outside:
            axes.add_patch(patch)
        self.indicator = axes.stairs(np.zeros(3), np.arange(4.0), color="0.45", ls="--", lw=1, label="bin k (hard)")
        (self.neighbours,) = axes.plot([], [], color="0.6", lw=1, label="windows of bins k ± 1")
        (self.window,) = axes.plot([], [], color="black", lw=1.8, label="window of bin k")
        axes.set_ylim(-0.04, 1.12)
        axes.set_yticks([0, 0.5, 1])
        axes.set_xlabel(
            "distance from the centre of bin k, in bin widths  (z − μ_k) / L;   shaded: outside [−1, 1]",
            fontsize=8, labelpad=1,
        )
        self.figure.legend(handles=[self.window, self.neighbours, self.indicator], loc="upper center", ncol=3,
                           fontsize=8, frameon=False, borderaxespad=0.2)
        self._set_dynamic([*self.outside, self.indicator, self.neighbours, self.window])

    @classmethod
    def half_width(cls, ratio: float) -> int:
        """Half-width of the panel in bin widths for a bandwidth of ``ratio`` bin widths.

        The window is 0 or 1 to within 1e-5 beyond about 12 bandwidths from the bin's edges.
        """
        needed = 0.5 + max(2.0, 12.0 * ratio)
        return next((half for half in cls.HALF_WIDTHS if half >= needed), cls.HALF_WIDTHS[-1])

    def draw(self, *, offsets: np.ndarray, window: np.ndarray, neighbours, kernel_bin: int, bins: int,
             boundary: str) -> bytes:
        """PNG of ``window`` on ``offsets`` (bin widths from the centre of bin ``kernel_bin``)."""
        half = float(offsets[-1])
        self.axes.set_xlim(-half, half)
        self.window.set_data(offsets, window)
        self.neighbours.set_data(*neighbours)
        # The hard bin; with boundary="reflect" the end bins reach out to infinity.
        lower = -half if boundary == "reflect" and kernel_bin == 0 else -0.5
        upper = half if boundary == "reflect" and kernel_bin == bins - 1 else 0.5
        self.indicator.set_data(np.array([0.0, 1.0, 0.0]), np.array([-half - 1, lower, upper, half + 1]))
        # The range [lo, hi] covers bins 0..K-1, i.e. offsets -(k + 1/2) .. K - k - 1/2.
        below, above = -(kernel_bin + 0.5), bins - kernel_bin - 0.5
        self.outside[0].set_bounds(-2 * half, 0, max(0.0, below + 2 * half), 1)
        self.outside[1].set_bounds(above, 0, max(0.0, 2 * half - above), 1)
        return self.render(half)


# ----------------------------------------------------------------------------- the app


class HistogramExplorer(widgets.VBox):
    r"""The histogram explorer: an ipywidgets app comparing the soft and hard histograms.

    Build it with :func:`explore`. Every control change recomputes and redraws at once (in
    well under 200 ms for a 256² image on a 2-core CPU; ``python benchmarks/widgets.py``
    measures it): the displayed histograms are exactly :func:`kdehist.soft_histogram` and
    :func:`kdehist.hard_histogram` of the analysed image with the chosen settings.

    Controls (``controls``, a dict of widgets):

    - ``"image"``, ``"reference"``: dropdowns of the image and of the reference it is compared
      with: scikit-image photos, synthetic knees of both domains (with their foreground
      masks), and uploads.
    - ``"upload"``: a :class:`ipywidgets.FileUpload` for an image file; a file that is not an
      image, or is too large, is refused with a message, never an exception.
    - ``"bins"``: the number of bins :math:`K`, 4 to 256.
    - ``"bandwidth"``: :math:`B / L`, the bandwidth as a fraction of the bin width
      :math:`L = 2 / K`, on a log slider from 0.01 to 10 (DeepHist: 0.4).
    - ``"channel"``: ``"all"``, ``"red"``, ``"green"`` or ``"blue"``.
    - ``"boundary"``: ``"none"`` (eq. 3: mass leaks at the ends) or ``"reflect"``.
    - ``"mask"``: use the foreground masks (of the image and of the reference, where they
      have one); disabled when neither has a mask.
    - ``"kernel_bin"``: the bin :math:`k` whose window :math:`\Pi_k` is drawn.

    Args:
        images: ``None`` for the built-in choices (``PHOTOS`` and ``SYNTHETIC_KNEES``),
            or a dict ``{name: image}`` to offer instead, where an image is a ``(3, H, W)``
            float tensor in [-1, 1], a uint8 array ``(H, W)``, ``(H, W, 3)`` or
            ``(H, W, 4)`` (alpha as mask), a PIL image, or a dict ``{"image": ..., "mask":
            ...}`` such as a :class:`kdehist.data.SyntheticKnees` sample.
        max_side: images are analysed with their longer side at most this many pixels
            (default 256, the paper's resolution); larger ones are downsampled first.
        display_side: size in pixels of the displayed thumbnails (default 200).
        plot_width: width of the plots in pixels (default 780).
        max_upload_bytes: largest accepted upload (default 10 MiB).
        max_upload_pixels: largest accepted upload in pixels (default 40 megapixels).

    Example::

        app = HistogramExplorer()
        app.controls["bins"].value = 32
        app.controls["bandwidth"].value = 2.5
        state = app.current()
        state["soft"].shape, state["losses"]["emd"], state["delta_e"]
    """

    def __init__(
        self,
        images: Mapping[str, Any] | None = None,
        *,
        max_side: int = 256,
        display_side: int = 200,
        plot_width: int = 780,
        max_upload_bytes: int = 10 * 2**20,
        max_upload_pixels: int = 40_000_000,
    ):
        super().__init__()
        self._max_side = check_positive_int("max_side", max_side, minimum=8)
        self._display_side = check_positive_int("display_side", display_side, minimum=16)
        self._plot_width = check_positive_int("plot_width", plot_width, minimum=300)
        self._max_upload_bytes = check_positive_int("max_upload_bytes", max_upload_bytes)
        self._max_upload_pixels = check_positive_int("max_upload_pixels", max_upload_pixels)
        self._loaders: dict[str, Callable[[], _ExplorerImage]] = {}
        self._images: dict[str, _ExplorerImage] = {}
        self._tables: dict[tuple[str, bool], _ValueTable | None] = {}
        self._thumbnails: dict[tuple[str, bool, int], bytes] = {}
        self._delta_e: dict[tuple[str, str, bool], float] = {}
        self._histogram_panels: dict[tuple[int, ...], _HistogramPanels] = {}
        self._kernel_panel = _KernelPanel(self._plot_width, round(0.2 * self._plot_width))
        self._holding = 0
        self._snapshot: dict[str, Any] = {}
        self._message_text = ""
        self._shown: tuple | None = None  # (image, reference, mask) whose thumbnails are displayed

        if images is None:
            for name in PHOTOS:
                self._loaders[name] = _photo_loader(name, self._max_side)
            for domain, index in SYNTHETIC_KNEES:
                self._loaders[f"knee {domain} {index}"] = _knee_loader(domain, index, self._max_side)
            first, reference = "astronaut", "coffee"
        else:
            if not isinstance(images, Mapping) or not images:
                raise TypeError(
                    f"images: expected None or a non-empty dict {{name: image}}, got {type(images).__name__}"
                )
            for name, spec in images.items():
                self._images[str(name)] = _user_image(str(name), spec, self._max_side)
                self._loaders[str(name)] = lambda image=self._images[str(name)]: image
            names = list(self._loaders)
            first, reference = names[0], names[1 if len(names) > 1 else 0]

        self.message = widgets.HTML(value="")
        self._build_controls(first, reference)
        self._build_layout()
        self.add_class("kdehist-explorer")
        self.redraw()
        for name in CONTROL_NAMES:
            if name != "upload":
                self.controls[name].observe(self._on_control_change, names="value")
        self.controls["upload"].observe(self._on_upload, names="value")

    # ------------------------------------------------------------------ construction

    def _build_controls(self, first: str, reference: str) -> None:
        choices = list(self._loaders)
        wide = widgets.Layout(width="330px")
        label_width = {"description_width": "80px"}
        # continuous_update=False: a drag would otherwise queue one redraw per pixel moved,
        # and the plot would trail the slider by seconds on a slow kernel.
        self.controls: dict[str, widgets.Widget] = {
            "image": widgets.Dropdown(options=choices, value=first, description="image", layout=wide,
                                      style=label_width),
            "reference": widgets.Dropdown(options=choices, value=reference, description="reference", layout=wide,
                                          style=label_width),
            "upload": widgets.FileUpload(accept="image/*", multiple=False, description="upload image",
                                         layout=widgets.Layout(width="160px")),
            "bins": widgets.IntSlider(value=64, min=MIN_BINS, max=MAX_BINS, step=1, description="bins K",
                                      continuous_update=False, layout=wide, style=label_width),
            "bandwidth": widgets.FloatLogSlider(value=DEFAULT_RATIO, base=10, min=MIN_RATIO_EXPONENT,
                                                max=MAX_RATIO_EXPONENT, step=0.05, description="B / L",
                                                readout_format=".3g", continuous_update=False, layout=wide,
                                                style=label_width),
            "channel": widgets.ToggleButtons(options=[("RGB", "all"), ("R", "red"), ("G", "green"), ("B", "blue")],
                                             value="all", description="channel",
                                             style={**label_width, "button_width": "52px"}),
            "boundary": widgets.ToggleButtons(options=["none", "reflect"], value="none", description="boundary",
                                              style={**label_width, "button_width": "80px"}),
            "mask": widgets.Checkbox(value=False, description="use the foreground mask", indent=False),
            "kernel_bin": widgets.IntSlider(value=32, min=0, max=63, step=1, description="kernel bin k",
                                            continuous_update=False, layout=wide, style=label_width),
        }
        for name, control in self.controls.items():
            control.add_class(f"kdehist-{name.replace('_', '-')}")

    def _build_layout(self) -> None:
        side = f"{self._display_side}px"
        self.image_view = widgets.Image(format="png", layout=widgets.Layout(max_width=side, max_height=side))
        self.reference_view = widgets.Image(format="png", layout=widgets.Layout(max_width=side, max_height=side))
        self.plot = widgets.Image(format="png", layout=widgets.Layout(width=f"{self._plot_width}px"))
        self.plot.add_class("kdehist-plot")
        self.kernel_plot = widgets.Image(format="png", layout=widgets.Layout(width=f"{self._plot_width}px"))
        self.kernel_plot.add_class("kdehist-kernel-plot")
        self.readout = widgets.HTML(value="")
        self.kernel_caption = widgets.HTML(value="")
        self.readout.add_class("kdehist-readout")
        self.message.add_class("kdehist-message")
        c = self.controls
        left = widgets.VBox(
            [c["image"], c["reference"], c["upload"], c["bins"], c["bandwidth"], c["kernel_bin"], c["channel"],
             c["boundary"], c["mask"]],
            layout=widgets.Layout(width="350px"),
        )
        pictures = widgets.HBox([
            widgets.VBox([widgets.HTML("<b>image</b>"), self.image_view]),
            widgets.VBox([widgets.HTML("<b>reference</b>"), self.reference_view]),
        ])
        self.children = [
            widgets.HBox([left, widgets.VBox([pictures, self.readout])]),
            self.plot,
            self.kernel_plot,
            self.kernel_caption,
            self.message,
        ]

    # ------------------------------------------------------------------ state

    @contextlib.contextmanager
    def _hold_redraws(self):
        """Change several controls with one redraw at the end, not one per change."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1

    def _image(self, name: str) -> _ExplorerImage:
        if name not in self._images:
            self._images[name] = self._loaders[name]()
        return self._images[name]

    def _table(self, name: str, use_mask: bool) -> _ValueTable | None:
        key = (name, use_mask)
        if key not in self._tables:
            image = self._image(name)
            self._tables[key] = _value_table(image.pixels, image.mask if use_mask else None)
        return self._tables[key]

    def _thumbnail(self, name: str, use_mask: bool) -> bytes:
        key = (name, use_mask, self._display_side)
        if key not in self._thumbnails:
            self._thumbnails[key] = _thumbnail_png(self._image(name), use_mask, self._display_side)
        return self._thumbnails[key]

    def _colour_difference(self, name: str, reference: str, use_mask: bool) -> float:
        # ΔE depends on neither K nor B: compute it once per pair of images.
        key = (name, reference, use_mask)
        if key not in self._delta_e:
            image, ref = self._image(name), self._image(reference)
            mask = image.mask[None] if use_mask and image.mask is not None else None
            ref_mask = ref.mask[None] if use_mask and ref.mask is not None else None
            self._delta_e[key] = float(color_delta_e(image.pixels[None], ref.pixels[None], mask, ref_mask)[0])
        return self._delta_e[key]

    def _panels(self, channels: tuple[int, ...]) -> _HistogramPanels:
        if channels not in self._histogram_panels:
            height = round(0.34 * self._plot_width)
            self._histogram_panels[channels] = _HistogramPanels(channels, self._plot_width, height)
        return self._histogram_panels[channels]

    def _show_message(self, text: str, error: bool = True) -> None:
        self._message_text = text
        colour = "#b00020" if error else "#555555"
        self.message.value = f'<span style="color: {colour}">{html.escape(text)}</span>' if text else ""

    # ------------------------------------------------------------------ events

    def _on_control_change(self, change) -> None:
        if self._holding:
            return
        name = next((key for key, control in self.controls.items() if control is change["owner"]), "")
        self._show_message("")  # a new action: the last message is no longer news
        try:
            with self._hold_redraws():
                if name in ("image", "reference") and not self._ensure_loaded(name, change["old"]):
                    return
                if name == "bins":
                    # Keep the drawn window at the same place in the range as K changes.
                    old_bins = change["old"]
                    kernel = self.controls["kernel_bin"]
                    position = (kernel.value + 0.5) / old_bins
                    kernel.max = change["new"] - 1
                    kernel.value = min(change["new"] - 1, int(position * change["new"]))
            self.redraw()
        except Exception as error:  # a live class must not see a traceback; the message says what failed
            self._show_message(f"redraw failed: {type(error).__name__}: {error}")

    def _ensure_loaded(self, control_name: str, previous: str) -> bool:
        """Load the newly chosen image; on failure say why and go back to ``previous``."""
        control = self.controls[control_name]
        try:
            self._image(control.value)
            return True
        except Exception as error:
            failed = control.value
            control.value = previous
            self._show_message(f"could not load {failed!r}: {type(error).__name__}: {error}")
            return False

    def _on_upload(self, change) -> None:
        self.add_upload(change["new"])

    def add_upload(self, value: Any) -> str | None:
        """Add an uploaded image to the choices and show it; never raises.

        Called by the upload control; callable directly, e.g. in tests.

        Args:
            value: a :class:`ipywidgets.FileUpload` value: a tuple of dicts with ``"name"``
                and ``"content"`` (ipywidgets 8), or a dict ``{file name: {"metadata": ...,
                "content": bytes}}`` (ipywidgets 7, as on Colab). With several files, the
                last one is used.

        Returns:
            The new choice's name (``"upload: <file name>"``), or ``None`` when the value is
            empty or the file was refused; the app's message then says why.
        """
        try:
            files = _uploaded_files(value)
            if not files:
                return None
            file_name, content = files[-1]
            image = _decode_upload(file_name, content, self._max_upload_bytes, self._max_upload_pixels, self._max_side)
            label = f"upload: {file_name}"
            suffix = 2
            while label in self._loaders:
                label = f"upload: {file_name} ({suffix})"
                suffix += 1
            self._images[label] = image
            self._loaders[label] = lambda image=image: image
            with self._hold_redraws():
                kept = {name: self.controls[name].value for name in ("image", "reference")}
                for name in ("image", "reference"):
                    # Setting options may reset a dropdown's value; restore it.
                    self.controls[name].options = list(self._loaders)
                    self.controls[name].value = kept[name]
                self.controls["image"].value = label
            self.redraw()
            self._show_message(f"loaded {image.note}", error=False)
            return label
        except _UploadError as error:
            self._show_message(f"upload refused: {error}")
        except Exception as error:  # never let a bad file raise into the notebook
            self._show_message(f"upload refused: {type(error).__name__}: {error}")
        return None

    # ------------------------------------------------------------------ drawing

    def redraw(self) -> None:
        """Recompute everything from the controls and update the display."""
        with _one_torch_thread():
            self._redraw()

    def _redraw(self) -> None:
        start = time.perf_counter()
        c = self.controls
        name, reference = c["image"].value, c["reference"].value
        image, ref = self._image(name), self._image(reference)
        has_mask = image.mask is not None or ref.mask is not None
        with self._hold_redraws():
            c["mask"].disabled = not has_mask
            if not has_mask:
                c["mask"].value = False
        use_mask = bool(c["mask"].value)
        use_image_mask = use_mask and image.mask is not None
        use_reference_mask = use_mask and ref.mask is not None
        bins = int(c["bins"].value)
        ratio = float(c["bandwidth"].value)
        width = (VALUE_RANGE[1] - VALUE_RANGE[0]) / bins
        bandwidth = ratio * width
        channels = CHANNEL_CHOICES[c["channel"].value]
        boundary = c["boundary"].value
        kernel_bin = min(int(c["kernel_bin"].value), bins - 1)

        settings = (bins, bandwidth, boundary)
        table = self._table(name, use_image_mask)
        soft_all = _channel_histograms(soft_histogram, image, table, use_image_mask, *settings)
        hard_all = _channel_histograms(hard_histogram, image, table, use_image_mask, *settings)
        ref_table = self._table(reference, use_reference_mask)
        ref_soft_all = _channel_histograms(soft_histogram, ref, ref_table, use_reference_mask, *settings)
        index = list(channels)
        soft, hard, ref_soft = soft_all[index], hard_all[index], ref_soft_all[index]
        mass = soft.sum(-1)
        losses = {kind: float(histogram_loss(soft, ref_soft, kind)) for kind in LOSS_KINDS}
        colour_difference = self._colour_difference(name, reference, use_mask)

        # The window of bin k, evaluated by the package itself: each grid point is a
        # one-pixel image, so its histogram row is (Pi_0(z), ..., Pi_{K-1}(z)).
        edges = bin_edges(bins, VALUE_RANGE)
        centre = float(bin_centers(bins, VALUE_RANGE)[kernel_bin])
        half = _KernelPanel.half_width(ratio)
        offsets = torch.linspace(-half, half, _KERNEL_POINTS)  # odd count: the middle point is the centre
        grid = centre + offsets * width
        windows = soft_histogram(grid.reshape(-1, 1, 1, 1), bins, bandwidth, VALUE_RANGE, boundary=boundary)[:, 0]
        kernel = windows[:, kernel_bin]
        neighbour_x, neighbour_y = [], []
        for neighbour in (kernel_bin - 1, kernel_bin + 1):
            if 0 <= neighbour < bins:
                # NaN breaks the line between the two neighbours' curves.
                neighbour_x += [*offsets.tolist(), math.nan]
                neighbour_y += [*windows[:, neighbour].tolist(), math.nan]

        panels = self._panels(channels)
        # Densities P(k) / L keep their scale whatever K (see _HistogramPanels).
        self.plot.value = panels.draw(
            edges=edges.numpy(), soft=(soft / width).numpy(), hard=(hard / width).numpy(), kernel_bin=kernel_bin
        )
        self.kernel_plot.value = self._kernel_panel.draw(
            offsets=offsets.numpy(), window=kernel.numpy(), neighbours=(neighbour_x, neighbour_y),
            kernel_bin=kernel_bin, bins=bins, boundary=boundary,
        )
        if self._shown != (name, reference, use_mask):
            self.image_view.value = self._thumbnail(name, use_image_mask)
            self.reference_view.value = self._thumbnail(reference, use_reference_mask)
            self._shown = (name, reference, use_mask)

        elapsed_ms = 1000 * (time.perf_counter() - start)
        self.readout.value = self._readout_html(
            name, reference, channels, mass, hard.sum(-1), losses, colour_difference, bins, width, ratio, bandwidth,
            use_image_mask, use_reference_mask, elapsed_ms,
        )
        self.kernel_caption.value = (
            f"<div style='font-size: 90%'>Above: the window Π<sub>k</sub> of bin k = {kernel_bin}, "
            f"[{edges[kernel_bin]:.4f}, {edges[kernel_bin + 1]:.4f}), at B = {ratio:.3g} L. A pixel at the "
            f"bin's centre puts {float(kernel[_KERNEL_POINTS // 2]):.3f} of its mass into bin k.</div>"
        )
        # Read the histograms back from the plotted artists: current() reports what is shown.
        drawn_soft = torch.from_numpy(np.stack([np.asarray(p["soft"].get_ydata()) for p in panels.panels]))
        drawn_hard = torch.from_numpy(np.stack([np.asarray(p["hard"].get_data().values) for p in panels.panels]))
        self._snapshot = {
            "image": name,
            "reference": reference,
            "bins": bins,
            "bandwidth": bandwidth,
            "bandwidth_ratio": ratio,
            "channels": channels,
            "boundary": boundary,
            "mask": use_mask,
            "kernel_bin": kernel_bin,
            "pixels": image.pixels[None],
            "weights": image.mask[None] if use_image_mask else None,
            "reference_pixels": ref.pixels[None],
            "reference_weights": ref.mask[None] if use_reference_mask else None,
            "edges": edges,
            "soft": drawn_soft * width,  # back from densities to bin masses
            "hard": drawn_hard * width,
            "mass": mass.clone(),
            "kernel_grid": grid,  # pixel values z
            "kernel": kernel.clone(),
            "losses": losses,
            "delta_e": colour_difference,
            "redraw_ms": elapsed_ms,
        }

    def _readout_html(self, name, reference, channels, mass, hard_mass, losses, colour_difference, bins, width, ratio,
                      bandwidth, use_image_mask, use_reference_mask, elapsed_ms) -> str:
        header = "".join(f"<th style='padding: 0 8px'>{CHANNEL_LABELS[ch]}</th>" for ch in channels)
        soft_cells = "".join(f"<td style='padding: 0 8px'>{m:.4f}</td>" for m in mass.tolist())
        leak_cells = "".join(f"<td style='padding: 0 8px'>{100 * (1 - m):.2f} %</td>" for m in mass.tolist())
        hard_cells = "".join(f"<td style='padding: 0 8px'>{m:.4f}</td>" for m in hard_mass.tolist())
        shown = "+".join(CHANNEL_LABELS[ch] for ch in channels)
        masks = []
        if use_image_mask:
            masks.append("image")
        if use_reference_mask:
            masks.append("reference")
        mask_note = f"masked: {', '.join(masks)}" if masks else "whole images"
        e = html.escape
        return (
            f"<div style='font-size: 90%; line-height: 1.35'>"
            f"<table><tr><th style='text-align: left'>total mass</th>{header}</tr>"
            f"<tr><td>soft, Σ<sub>k</sub> P(k)</td>{soft_cells}</tr>"
            f"<tr><td>leaked at the ends</td>{leak_cells}</tr>"
            f"<tr><td>hard</td>{hard_cells}</tr></table>"
            f"<b>{e(name)}</b> against <b>{e(reference)}</b> ({mask_note}), soft histograms over {shown}:<br>"
            f"L2 {losses['l2']:.4f} · EMD {losses['emd']:.4f} · Hellinger {losses['hellinger']:.4f}<br>"
            f"ΔE (CIE76, mean L*a*b*) {colour_difference:.2f}, JIS class {e(jis_class(colour_difference))}<br>"
            f"<span style='color: #777'>K = {bins}, L = {width:.4g}, B = {ratio:.3g} L = {bandwidth:.3g}"
            f" · redraw {elapsed_ms:.0f} ms</span></div>"
        )

    # ------------------------------------------------------------------ public surface

    def current(self) -> dict[str, Any]:
        r"""What the app displays now.

        Returns:
            A dict with the settings — ``"image"``, ``"reference"`` (names), ``"bins"``,
            ``"bandwidth"`` (in value units), ``"bandwidth_ratio"`` (:math:`B/L`),
            ``"channels"`` (tuple of channel indices shown), ``"boundary"``, ``"mask"`` (bool,
            masks applied), ``"kernel_bin"`` — and the data drawn from them:

            - ``"pixels"``: the analysed image, ``(1, 3, H, W)`` in [-1, 1]; ``"weights"``:
              its mask ``(1, 1, H, W)`` as applied, or ``None``; likewise
              ``"reference_pixels"`` and ``"reference_weights"``;
            - ``"soft"``, ``"hard"``: ``(len(channels), bins)`` float32, the plotted soft and
              hard histograms (read back from the plot), equal to
              ``kdehist.soft_histogram(pixels, bins, bandwidth, mask=weights,
              boundary=boundary)[0, channels]`` (and the same for ``hard_histogram``);
            - ``"edges"``: the ``bins + 1`` bin edges; ``"mass"``: the soft total mass per
              shown channel, ``1 - mass`` is what leaks at the ends;
            - ``"kernel_grid"``, ``"kernel"``: the drawn window :math:`\Pi_k` on its grid;
            - ``"losses"``: ``{"l2", "emd", "hellinger"}`` floats, ``kdehist.histogram_loss``
              between the soft histograms of the image and of the reference over the shown
              channels; ``"delta_e"``: float, ``kdehist.delta_e`` of the two images;
            - ``"redraw_ms"``: how long the last redraw took; ``"message"``: the text of the
              app's message line (empty when all is well).
        """
        state = dict(self._snapshot)
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                state[key] = value.clone()
        state["losses"] = dict(state["losses"])
        state["message"] = self._message_text
        return state

    def close(self) -> None:
        """Close the app and every widget in it (their views disappear from the notebook)."""
        pending = list(self.children)
        while pending:
            widget = pending.pop()
            pending.extend(getattr(widget, "children", ()))
            widget.close()
        super().close()


def explore(images: Mapping[str, Any] | None = None, **options: Any) -> HistogramExplorer:
    """Build the histogram explorer; display it by making it the last expression of a cell.

    Args:
        images: ``None`` for scikit-image photos and synthetic knees, or a dict ``{name:
            image}`` of your own (see :class:`HistogramExplorer`).
        **options: passed on to :class:`HistogramExplorer` (``max_side``, ``display_side``,
            ``plot_width``, ``max_upload_bytes``, ``max_upload_pixels``).

    Returns:
        The app, a :class:`HistogramExplorer` (an :class:`ipywidgets.VBox`).

    Example::

        import kdehist.widgets
        app = kdehist.widgets.explore()
        app
    """
    return HistogramExplorer(images, **options)
