r"""An ipywidgets app for exploring the KDE histogram in class: :func:`explore`.

The app shows one image next to a reference image, the soft histogram
(:func:`kdehist.soft_histogram`) over the hard one (:func:`kdehist.hard_histogram`)
for each shown channel, the window :math:`\Pi_k` of one chosen bin, the total mass
of each channel (what leaks past the ends of the range), and, against the reference,
the three histogram losses of :func:`kdehist.histogram_loss` and the colour
difference :func:`kdehist.delta_e`.

It runs wherever ipywidgets 7.7 or 8 runs: JupyterLab 4, the classic notebook, VS Code
and Colab. Plots are drawn with matplotlib's Agg canvas into PNG bytes shown by an
:class:`ipywidgets.Image`, so that no interactive matplotlib backend (ipympl, which
Colab lacks) is needed, and a redraw sends a single small image to the browser.

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
import math
import time
from typing import Any, Callable, Mapping

import ipywidgets as widgets
import numpy as np
import torch

from ._checks import check_positive_int
from ._explorer_images import (
    _decode_upload,
    _ExplorerImage,
    _knee_loader,
    _photo_loader,
    _uploaded_files,
    _UploadError,
    _user_image,
)
from ._explorer_panels import (
    _KERNEL_POINTS,
    CHANNEL_COLOURS,  # noqa: F401 (re-exported)
    CHANNEL_LABELS,
    VALUE_RANGE,
    _channel_histograms,
    _HistogramPanels,
    _KernelPanel,
    _thumbnail_png,
    _value_table,
    _ValueTable,
)
from ._torch_utils import torch_threads
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

PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
    "colorwheel",
    "camera",
)
"""scikit-image's bundled photos offered by default (``camera`` is
grey: three equal channels).
"""

SYNTHETIC_KNEES = (("sim", 0), ("sim", 1), ("real", 0), ("real", 1), ("real", 2))
"""``(domain, index)`` of the test-split
:class:`kdehist.data.SyntheticKnees` offered by default.
"""

CONTROL_NAMES = (
    "image",
    "reference",
    "upload",
    "bins",
    "bandwidth",
    "channel",
    "boundary",
    "mask",
    "kernel_bin",
)
"""Keys of :attr:`HistogramExplorer.controls`."""

CHANNEL_CHOICES = {"all": (0, 1, 2), "red": (0,), "green": (1,), "blue": (2,)}
MIN_BINS, MAX_BINS = 4, 256
# Bandwidth as a fraction B / L of the bin width L, on a log scale: 0.01 is
# practically the hard histogram, DeepHist's default is 1 / 2.5 = 0.4, and 10
# smears a pixel over ~40 bins.
MIN_RATIO_EXPONENT, MAX_RATIO_EXPONENT = -2.0, 1.0
DEFAULT_RATIO = 0.4


# ----------------------------------------------------------------------------- the app


class HistogramExplorer(widgets.VBox):
    r"""The histogram explorer, an ipywidgets app comparing soft and hard histograms.

    Build it with :func:`explore`. Every control change recomputes and redraws at once
    (in well under 200 ms for a 256² image on a 2-core CPU;
    ``python benchmarks/widgets.py`` measures it): the displayed histograms are exactly
    :func:`kdehist.soft_histogram` and :func:`kdehist.hard_histogram` of the analysed
    image with the chosen settings.

    Controls (``controls``, a dict of widgets):

    - ``"image"``, ``"reference"``: dropdowns of the image and of the reference it is
      compared with: scikit-image photos, synthetic knees of both domains (with their
      foreground masks), and uploads.
    - ``"upload"``: a :class:`ipywidgets.FileUpload` for an image file; a file that is
      not an image, or is too large, is refused with a message, never an exception.
    - ``"bins"``: the number of bins :math:`K`, 4 to 256.
    - ``"bandwidth"``: :math:`B / L`, the bandwidth as a fraction of the bin width
      :math:`L = 2 / K`, on a log slider from 0.01 to 10 (DeepHist: 0.4).
    - ``"channel"``: ``"all"``, ``"red"``, ``"green"`` or ``"blue"``.
    - ``"boundary"``: ``"none"`` (eq. 3: mass leaks at the ends) or ``"reflect"``.
    - ``"mask"``: use the foreground masks (of the image and of the reference, where
      they have one); disabled when neither has a mask.
    - ``"kernel_bin"``: the bin :math:`k` whose window :math:`\Pi_k` is drawn.

    Args:
        images: ``None`` for the built-in choices (``PHOTOS`` and ``SYNTHETIC_KNEES``),
            or a dict ``{name: image}`` to offer instead, where an image is a
            ``(3, H, W)`` float tensor in [-1, 1], a uint8 array ``(H, W)``,
            ``(H, W, 3)`` or ``(H, W, 4)`` (alpha as mask), a PIL image, or a dict
            ``{"image": ..., "mask": ...}`` such as a
            :class:`kdehist.data.SyntheticKnees` sample.
        max_side: images are analysed with their longer side at most this many pixels
            (default 256, the paper's resolution); larger ones are downsampled first.
        display_side: size in pixels of the displayed thumbnails (default 200).
        plot_width: width of the plots in pixels (default 780).
        max_upload_bytes: largest accepted upload (default 10 MiB).
        max_upload_pixels: largest accepted upload in pixels (default 40 megapixels).

    Example:

    >>> app = HistogramExplorer()
    >>> app.controls["bins"].value = 32
    >>> app.controls["bandwidth"].value = 2.5
    >>> state = app.current()
    >>> state["soft"].shape, sorted(state["losses"])
    (torch.Size([3, 32]), ['emd', 'hellinger', 'l2'])
    >>> app.close()
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
        self._display_side = check_positive_int(
            "display_side", display_side, minimum=16
        )
        self._plot_width = check_positive_int("plot_width", plot_width, minimum=300)
        self._max_upload_bytes = check_positive_int(
            "max_upload_bytes", max_upload_bytes
        )
        self._max_upload_pixels = check_positive_int(
            "max_upload_pixels", max_upload_pixels
        )
        self._loaders: dict[str, Callable[[], _ExplorerImage]] = {}
        self._images: dict[str, _ExplorerImage] = {}
        self._tables: dict[tuple[str, bool], _ValueTable | None] = {}
        self._thumbnails: dict[tuple[str, bool, int], bytes] = {}
        self._delta_e: dict[tuple[str, str, bool], float] = {}
        self._histogram_panels: dict[tuple[int, ...], _HistogramPanels] = {}
        self._kernel_panel = _KernelPanel(
            self._plot_width, round(0.2 * self._plot_width)
        )
        self._holding = 0
        self._snapshot: dict[str, Any] = {}
        self._message_text = ""
        self._shown: tuple | None = (
            None  # (image, reference, mask) whose thumbnails are displayed
        )

        if images is None:
            for name in PHOTOS:
                self._loaders[name] = _photo_loader(name, self._max_side)
            for domain, index in SYNTHETIC_KNEES:
                self._loaders[f"knee {domain} {index}"] = _knee_loader(
                    domain, index, self._max_side
                )
            first, reference = "astronaut", "coffee"
        else:
            if not isinstance(images, Mapping) or not images:
                raise TypeError(
                    "images: expected None or a non-empty dict {name: image}, "
                    f"got {type(images).__name__}"
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
        # continuous_update=False: a drag would otherwise queue one redraw per pixel
        # moved, and the plot would trail the slider by seconds on a slow kernel.
        self.controls: dict[str, widgets.Widget] = {
            "image": widgets.Dropdown(
                options=choices,
                value=first,
                description="image",
                layout=wide,
                style=label_width,
            ),
            "reference": widgets.Dropdown(
                options=choices,
                value=reference,
                description="reference",
                layout=wide,
                style=label_width,
            ),
            "upload": widgets.FileUpload(
                accept="image/*",
                multiple=False,
                description="upload image",
                layout=widgets.Layout(width="160px"),
            ),
            "bins": widgets.IntSlider(
                value=64,
                min=MIN_BINS,
                max=MAX_BINS,
                step=1,
                description="bins K",
                continuous_update=False,
                layout=wide,
                style=label_width,
            ),
            "bandwidth": widgets.FloatLogSlider(
                value=DEFAULT_RATIO,
                base=10,
                min=MIN_RATIO_EXPONENT,
                max=MAX_RATIO_EXPONENT,
                step=0.05,
                description="B / L",
                readout_format=".3g",
                continuous_update=False,
                layout=wide,
                style=label_width,
            ),
            "channel": widgets.ToggleButtons(
                options=[("RGB", "all"), ("R", "red"), ("G", "green"), ("B", "blue")],
                value="all",
                description="channel",
                style={**label_width, "button_width": "52px"},
            ),
            "boundary": widgets.ToggleButtons(
                options=["none", "reflect"],
                value="none",
                description="boundary",
                style={**label_width, "button_width": "80px"},
            ),
            "mask": widgets.Checkbox(
                value=False, description="use the foreground mask", indent=False
            ),
            "kernel_bin": widgets.IntSlider(
                value=32,
                min=0,
                max=63,
                step=1,
                description="kernel bin k",
                continuous_update=False,
                layout=wide,
                style=label_width,
            ),
        }
        for name, control in self.controls.items():
            control.add_class(f"kdehist-{name.replace('_', '-')}")

    def _build_layout(self) -> None:
        side = f"{self._display_side}px"
        self.image_view = widgets.Image(
            format="png", layout=widgets.Layout(max_width=side, max_height=side)
        )
        self.reference_view = widgets.Image(
            format="png", layout=widgets.Layout(max_width=side, max_height=side)
        )
        self.plot = widgets.Image(
            format="png", layout=widgets.Layout(width=f"{self._plot_width}px")
        )
        self.plot.add_class("kdehist-plot")
        self.kernel_plot = widgets.Image(
            format="png", layout=widgets.Layout(width=f"{self._plot_width}px")
        )
        self.kernel_plot.add_class("kdehist-kernel-plot")
        self.readout = widgets.HTML(value="")
        self.kernel_caption = widgets.HTML(value="")
        self.readout.add_class("kdehist-readout")
        self.message.add_class("kdehist-message")
        c = self.controls
        left = widgets.VBox(
            [
                c["image"],
                c["reference"],
                c["upload"],
                c["bins"],
                c["bandwidth"],
                c["kernel_bin"],
                c["channel"],
                c["boundary"],
                c["mask"],
            ],
            layout=widgets.Layout(width="350px"),
        )
        pictures = widgets.HBox(
            [
                widgets.VBox([widgets.HTML("<b>image</b>"), self.image_view]),
                widgets.VBox([widgets.HTML("<b>reference</b>"), self.reference_view]),
            ]
        )
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
            self._tables[key] = _value_table(
                image.pixels, image.mask if use_mask else None
            )
        return self._tables[key]

    def _thumbnail(self, name: str, use_mask: bool) -> bytes:
        key = (name, use_mask, self._display_side)
        if key not in self._thumbnails:
            self._thumbnails[key] = _thumbnail_png(
                self._image(name), use_mask, self._display_side
            )
        return self._thumbnails[key]

    def _colour_difference(self, name: str, reference: str, use_mask: bool) -> float:
        # ΔE depends on neither K nor B: compute it once per pair of images.
        key = (name, reference, use_mask)
        if key not in self._delta_e:
            image, ref = self._image(name), self._image(reference)
            mask = image.mask[None] if use_mask and image.mask is not None else None
            ref_mask = ref.mask[None] if use_mask and ref.mask is not None else None
            self._delta_e[key] = float(
                color_delta_e(image.pixels[None], ref.pixels[None], mask, ref_mask)[0]
            )
        return self._delta_e[key]

    def _panels(self, channels: tuple[int, ...]) -> _HistogramPanels:
        if channels not in self._histogram_panels:
            height = round(0.34 * self._plot_width)
            self._histogram_panels[channels] = _HistogramPanels(
                channels, self._plot_width, height
            )
        return self._histogram_panels[channels]

    def _show_message(self, text: str, error: bool = True) -> None:
        self._message_text = text
        colour = "#b00020" if error else "#555555"
        self.message.value = (
            f'<span style="color: {colour}">{html.escape(text)}</span>' if text else ""
        )

    # ------------------------------------------------------------------ events

    def _on_control_change(self, change) -> None:
        if self._holding:
            return
        name = next(
            (
                key
                for key, control in self.controls.items()
                if control is change["owner"]
            ),
            "",
        )
        self._show_message("")  # a new action: the last message is no longer news
        try:
            with self._hold_redraws():
                if name in ("image", "reference") and not self._ensure_loaded(
                    name, change["old"]
                ):
                    return
                if name == "bins":
                    # Keep the drawn window at the same place in the range as K changes.
                    old_bins = change["old"]
                    kernel = self.controls["kernel_bin"]
                    position = (kernel.value + 0.5) / old_bins
                    kernel.max = change["new"] - 1
                    kernel.value = min(change["new"] - 1, int(position * change["new"]))
            self.redraw()
        except Exception as error:
            # a live class must not see a traceback; the message says what failed
            self._show_message(f"redraw failed: {type(error).__name__}: {error}")

    def _ensure_loaded(self, control_name: str, previous: str) -> bool:
        """Load the chosen image; on failure say why and go back to ``previous``."""
        control = self.controls[control_name]
        try:
            self._image(control.value)
            return True
        except Exception as error:
            failed = control.value
            control.value = previous
            self._show_message(
                f"could not load {failed!r}: {type(error).__name__}: {error}"
            )
            return False

    def _on_upload(self, change) -> None:
        self.add_upload(change["new"])

    def add_upload(self, value: Any) -> str | None:
        """Add an uploaded image to the choices and show it; never raises.

        Called by the upload control; callable directly, e.g. in tests.

        Args:
            value: a :class:`ipywidgets.FileUpload` value: a tuple of dicts with
                ``"name"`` and ``"content"`` (ipywidgets 8), or a dict ``{file name:
                {"metadata": ..., "content": bytes}}`` (ipywidgets 7, as on Colab). With
                several files, the last one is used.

        Returns:
            The new choice's name (``"upload: <file name>"``), or ``None`` when the
            value is empty or the file was refused; the app's message then says why.
        """
        try:
            files = _uploaded_files(value)
            if not files:
                return None
            file_name, content = files[-1]
            image = _decode_upload(
                file_name,
                content,
                self._max_upload_bytes,
                self._max_upload_pixels,
                self._max_side,
            )
            label = f"upload: {file_name}"
            suffix = 2
            while label in self._loaders:
                label = f"upload: {file_name} ({suffix})"
                suffix += 1
            self._images[label] = image
            self._loaders[label] = lambda image=image: image
            with self._hold_redraws():
                kept = {
                    name: self.controls[name].value for name in ("image", "reference")
                }
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
        # A redraw's tensors hold at most a few hundred thousand values: too small for
        # intra-op threads, which only wait on each other when another
        # process keeps a core busy.
        with torch_threads(1):
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
        soft_all = _channel_histograms(
            soft_histogram, image, table, use_image_mask, *settings
        )
        hard_all = _channel_histograms(
            hard_histogram, image, table, use_image_mask, *settings
        )
        ref_table = self._table(reference, use_reference_mask)
        ref_soft_all = _channel_histograms(
            soft_histogram, ref, ref_table, use_reference_mask, *settings
        )
        index = list(channels)
        soft, hard, ref_soft = soft_all[index], hard_all[index], ref_soft_all[index]
        mass = soft.sum(-1)
        losses = {
            kind: float(histogram_loss(soft, ref_soft, kind)) for kind in LOSS_KINDS
        }
        colour_difference = self._colour_difference(name, reference, use_mask)

        # The window of bin k, evaluated by the package itself: each grid point is a
        # one-pixel image, so its histogram row is (Pi_0(z), ..., Pi_{K-1}(z)).
        edges = bin_edges(bins, VALUE_RANGE)
        centre = float(bin_centers(bins, VALUE_RANGE)[kernel_bin])
        half = _KernelPanel.half_width(ratio)
        # odd count: the middle point is the centre
        offsets = torch.linspace(-half, half, _KERNEL_POINTS)
        grid = centre + offsets * width
        windows = soft_histogram(
            grid.reshape(-1, 1, 1, 1), bins, bandwidth, VALUE_RANGE, boundary=boundary
        )[:, 0]
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
            edges=edges.numpy(),
            soft=(soft / width).numpy(),
            hard=(hard / width).numpy(),
            kernel_bin=kernel_bin,
        )
        self.kernel_plot.value = self._kernel_panel.draw(
            offsets=offsets.numpy(),
            window=kernel.numpy(),
            neighbours=(neighbour_x, neighbour_y),
            kernel_bin=kernel_bin,
            bins=bins,
            boundary=boundary,
        )
        if self._shown != (name, reference, use_mask):
            self.image_view.value = self._thumbnail(name, use_image_mask)
            self.reference_view.value = self._thumbnail(reference, use_reference_mask)
            self._shown = (name, reference, use_mask)

        elapsed_ms = 1000 * (time.perf_counter() - start)
        self.readout.value = self._readout_html(
            name,
            reference,
            channels,
            mass,
            hard.sum(-1),
            losses,
            colour_difference,
            bins,
            width,
            ratio,
            bandwidth,
            use_image_mask,
            use_reference_mask,
            elapsed_ms,
        )
        left, right = edges[kernel_bin], edges[kernel_bin + 1]
        centre_share = float(kernel[_KERNEL_POINTS // 2])
        self.kernel_caption.value = (
            "<div style='font-size: 90%'>Above: the window Π<sub>k</sub> of bin "
            f"k = {kernel_bin}, [{left:.4f}, {right:.4f}), "
            f"at B = {ratio:.3g} L. A pixel at the bin's centre puts "
            f"{centre_share:.3f} of its mass into bin k.</div>"
        )
        # Read the histograms back from the plotted artists:
        # current() reports what is shown.
        drawn_soft = torch.from_numpy(
            np.stack([np.asarray(p["soft"].get_ydata()) for p in panels.panels])
        )
        drawn_hard = torch.from_numpy(
            np.stack([np.asarray(p["hard"].get_data().values) for p in panels.panels])
        )
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

    def _readout_html(
        self,
        name,
        reference,
        channels,
        mass,
        hard_mass,
        losses,
        colour_difference,
        bins,
        width,
        ratio,
        bandwidth,
        use_image_mask,
        use_reference_mask,
        elapsed_ms,
    ) -> str:
        header = "".join(
            f"<th style='padding: 0 8px'>{CHANNEL_LABELS[ch]}</th>" for ch in channels
        )
        soft_cells = "".join(
            f"<td style='padding: 0 8px'>{m:.4f}</td>" for m in mass.tolist()
        )
        leak_cells = "".join(
            f"<td style='padding: 0 8px'>{100 * (1 - m):.2f} %</td>"
            for m in mass.tolist()
        )
        hard_cells = "".join(
            f"<td style='padding: 0 8px'>{m:.4f}</td>" for m in hard_mass.tolist()
        )
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
            f"<b>{e(name)}</b> against <b>{e(reference)}</b> ({mask_note}), "
            f"soft histograms over {shown}:<br>"
            f"L2 {losses['l2']:.4f} · EMD {losses['emd']:.4f} · "
            f"Hellinger {losses['hellinger']:.4f}<br>"
            f"ΔE (CIE76, mean L*a*b*) {colour_difference:.2f}, "
            f"JIS class {e(jis_class(colour_difference))}<br>"
            f"<span style='color: #777'>K = {bins}, L = {width:.4g}, "
            f"B = {ratio:.3g} L = {bandwidth:.3g}"
            f" · redraw {elapsed_ms:.0f} ms</span></div>"
        )

    # ------------------------------------------------------------------ public surface

    def current(self) -> dict[str, Any]:
        r"""What the app displays now.

        Returns:
            A dict with the settings — ``"image"``, ``"reference"`` (names), ``"bins"``,
            ``"bandwidth"`` (in value units), ``"bandwidth_ratio"`` (:math:`B/L`),
            ``"channels"`` (tuple of channel indices shown), ``"boundary"``, ``"mask"``
            (bool, masks applied), ``"kernel_bin"`` — and the data drawn from them:

            - ``"pixels"``: the analysed image, ``(1, 3, H, W)`` in [-1, 1];
              ``"weights"``: its mask ``(1, 1, H, W)`` as applied, or ``None``; likewise
              ``"reference_pixels"`` and ``"reference_weights"``;
            - ``"soft"``, ``"hard"``: ``(len(channels), bins)`` float32, the plotted
              soft and hard histograms (read back from the plot), equal to
              ``kdehist.soft_histogram(pixels, bins, bandwidth, mask=weights,
              boundary=boundary)[0, channels]`` (and the same for ``hard_histogram``);
            - ``"edges"``: the ``bins + 1`` bin edges; ``"mass"``: the soft total mass
              per shown channel, ``1 - mass`` is what leaks at the ends;
            - ``"kernel_grid"``, ``"kernel"``: the drawn window
              :math:`\Pi_k` on its grid;
            - ``"losses"``: ``{"l2", "emd", "hellinger"}`` floats,
              ``kdehist.histogram_loss`` between the soft histograms of the image and of
              the reference over the shown channels; ``"delta_e"``: float,
              ``kdehist.delta_e`` of the two images;
            - ``"redraw_ms"``: how long the last redraw took; ``"message"``: the text of
              the app's message line (empty when all is well).
        """
        state = dict(self._snapshot)
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                state[key] = value.clone()
        state["losses"] = dict(state["losses"])
        state["message"] = self._message_text
        return state

    def close(self) -> None:
        """Close the app and every widget in it (their views
        disappear from the notebook).
        """
        pending = list(self.children)
        while pending:
            widget = pending.pop()
            pending.extend(getattr(widget, "children", ()))
            widget.close()
        super().close()


def explore(
    images: Mapping[str, Any] | None = None, **options: Any
) -> HistogramExplorer:
    """Build the histogram explorer; show it as the last expression of a cell.

    Args:
        images: ``None`` for scikit-image photos and synthetic knees, or a dict ``{name:
            image}`` of your own (see :class:`HistogramExplorer`).
        **options: passed on to :class:`HistogramExplorer`
            (``max_side``, ``display_side``, ``plot_width``,
            ``max_upload_bytes``, ``max_upload_pixels``).

    Returns:
        The app, a :class:`HistogramExplorer` (an :class:`ipywidgets.VBox`).

    Example::

        import kdehist.widgets
        app = kdehist.widgets.explore()
        app
    """
    return HistogramExplorer(images, **options)
