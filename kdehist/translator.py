r"""Try the trained model: a translation explorer (ipywidgets) and a static gallery,
both with the shipped generator (:func:`kdehist.pretrained.pretrained_generator`).

:func:`explore_translations` builds the app. Pick an input (a test simulator render,
or a new pose rendered on the spot) and a reference: a test reference photo, a Monk
skin tone under one of the renderer's lightings, or a photo of your own (with an
optional mask upload). The app shows the translation, the reference's and the
output's foreground histograms (the 32-bin soft histograms of
:func:`kdehist.soft_histogram` that condition and measure the model), ΔE76 and its JIS
class, and which foreground
it used for the reference: the test set's or the renderer's exact mask, your mask, the
photo's alpha channel, the frozen segmenter, or, where the segmenter finds no leg (it
was trained on renders), the border-colour heuristic.

Like the histogram explorer (:mod:`kdehist.widgets`), it draws with matplotlib's Agg
canvas into PNG bytes, so it runs wherever ipywidgets 7.7 (Colab) or 8 runs, and a bad
upload shows a message, never a traceback. A redraw takes well under 300 ms on a
2-core CPU (``python benchmarks/translator.py``).

:func:`gallery_figure` draws inputs × references translated by the shipped model, for
pages without a kernel.

Example::

    from kdehist.translator import explore_translations
    app = explore_translations()
    app                                   # display it
    app.controls["tone"].value = 10       # with reference kind "Monk tone"
    app.current()["delta_e76"]
"""

from __future__ import annotations

import contextlib
import html
import time
from typing import Any

import ipywidgets as widgets
import torch

from ._checks import check_positive_int
from ._torch_utils import torch_threads
from ._translator_panels import _HistogramPlot, _picture_png
from ._translator_sources import (
    LIGHTINGS,
    MASK_SOURCES,
    _decode_mask,
    _decode_photo,
    _new_pose,
    _Picture,
    _reference_lightness,
    _test_input,
    _test_reference,
    _Upload,
    _monk_reference,
)
from .pretrained import HIST_BINS, IMAGE_SIZE, Translation, translate
from .uploads import UploadError, uploaded_files

__all__ = [
    "CONTROL_NAMES",
    "LIGHTINGS",
    "REFERENCE_KINDS",
    "TranslationExplorer",
    "explore_translations",
    "gallery_figure",
    "gallery_pairs",
]

CONTROL_NAMES = (
    "input",
    "new_pose",
    "reference_kind",
    "reference",
    "tone",
    "lighting",
    "upload",
    "mask_upload",
)
"""Keys of ``TranslationExplorer.controls``."""
REFERENCE_KINDS = ("test reference", "Monk tone", "your photo")
TEST_COUNT = 28
#: The seed of the first pose drawn by "render a new pose"; each press adds one.
FIRST_NEW_POSE_SEED = 10_000


class TranslationExplorer(widgets.VBox):
    """The translation explorer; build it with :func:`explore_translations`.

    Controls (``controls``, a dict of widgets):

    - ``"input"``: the simulator render to translate: test inputs 0–27 and new poses;
    - ``"new_pose"``: a button that renders a new random pose and selects it;
    - ``"reference_kind"``: ``"test reference"``, ``"Monk tone"`` or ``"your photo"``;
    - ``"reference"``: the test reference (0–27, with the L* of its skin);
    - ``"tone"``, ``"lighting"``: the Monk Skin Tone swatch (1 light to 10 deep) and the
      renderer's lighting (``LIGHTINGS``) of a rendered reference;
    - ``"upload"``, ``"mask_upload"``: a photo of your own and, optionally, its mask
      (white is skin). A file that is not an image, too large, of another size than
      the photo (a mask), or with no foreground, is refused with a message.

    Args:
        side: size in pixels of the displayed images (default 192: the 64-px model
            output enlarged three times).
        max_upload_bytes, max_upload_pixels: the largest accepted upload (default
            10 MiB and 40 megapixels).
        generator: a generator to use instead of the shipped one.
    """

    def __init__(
        self,
        *,
        side: int = 192,
        max_upload_bytes: int = 10 * 2**20,
        max_upload_pixels: int = 40_000_000,
        generator=None,
    ):
        super().__init__()
        from .pretrained import pretrained_generator

        self._side = check_positive_int("side", side, minimum=64)
        self._max_bytes = check_positive_int("max_upload_bytes", max_upload_bytes)
        self._max_pixels = check_positive_int("max_upload_pixels", max_upload_pixels)
        self._generator = pretrained_generator() if generator is None else generator
        self._inputs: dict[str, _Picture] = {}
        self._next_seed = FIRST_NEW_POSE_SEED
        self._upload: _Upload | None = None
        self._translations: dict[tuple, Translation] = {}
        self._pngs: dict[tuple, bytes] = {}
        self._plot = _HistogramPlot(HIST_BINS)
        self._holding = 0
        self._snapshot: dict[str, Any] = {}
        self._message_text = ""
        self.message = widgets.HTML(value="")
        self._build()
        self.add_class("kdehist-translator")
        self.redraw()
        for name in ("input", "reference_kind", "reference", "tone", "lighting"):
            self.controls[name].observe(self._on_control_change, names="value")
        self.controls["new_pose"].on_click(lambda _: self.new_pose())
        self.controls["upload"].observe(
            lambda change: self.add_upload(change["new"]), names="value"
        )
        self.controls["mask_upload"].observe(
            lambda change: self.add_mask_upload(change["new"]), names="value"
        )

    # ------------------------------------------------------------------ construction

    def _build(self) -> None:
        wide = widgets.Layout(width="330px")
        label = {"description_width": "80px"}
        lightness = _reference_lightness()
        self.controls: dict[str, widgets.Widget] = {
            "input": widgets.Dropdown(
                options=[(f"test input {i}", f"test {i}") for i in range(TEST_COUNT)],
                value="test 0",
                description="input",
                layout=wide,
                style=label,
            ),
            "new_pose": widgets.Button(
                description="render a new pose", layout=widgets.Layout(width="160px")
            ),
            "reference_kind": widgets.ToggleButtons(
                options=list(REFERENCE_KINDS),
                value="test reference",
                description="reference",
                style={**label, "button_width": "105px"},
            ),
            "reference": widgets.Dropdown(
                options=[
                    (f"test reference {j} (L* {lightness[j]:.0f})", j)
                    for j in range(TEST_COUNT)
                ],
                value=0,
                description="test photo",
                layout=wide,
                style=label,
            ),
            "tone": widgets.IntSlider(
                value=5,
                min=1,
                max=10,
                description="Monk tone",
                continuous_update=False,
                layout=wide,
                style=label,
            ),
            "lighting": widgets.Dropdown(
                options=list(LIGHTINGS),
                value="studio",
                description="lighting",
                layout=wide,
                style=label,
            ),
            "upload": widgets.FileUpload(
                accept="image/*",
                multiple=False,
                description="your photo",
                layout=widgets.Layout(width="160px"),
            ),
            "mask_upload": widgets.FileUpload(
                accept="image/*",
                multiple=False,
                description="its mask",
                layout=widgets.Layout(width="160px"),
            ),
        }
        for name, control in self.controls.items():
            control.add_class(f"kdehist-{name.replace('_', '-')}")
        side = widgets.Layout(width=f"{self._side}px", height=f"{self._side}px")
        self.input_view = widgets.Image(format="png", layout=side)
        self.reference_view = widgets.Image(format="png", layout=side)
        self.output_view = widgets.Image(format="png", layout=side)
        self.output_view.add_class("kdehist-output")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(width="720px"))
        self.plot.add_class("kdehist-plot")
        self.readout = widgets.HTML(value="")
        self.readout.add_class("kdehist-readout")
        self.message.add_class("kdehist-message")
        c = self.controls
        left = widgets.VBox(
            [
                c["input"],
                c["new_pose"],
                c["reference_kind"],
                c["reference"],
                c["tone"],
                c["lighting"],
                widgets.HBox([c["upload"], c["mask_upload"]]),
            ],
            layout=widgets.Layout(width="360px"),
        )
        pictures = widgets.HBox(
            [
                widgets.VBox([widgets.HTML(f"<b>{title}</b>"), view])
                for title, view in (
                    ("input (simulator)", self.input_view),
                    ("reference (foreground lit)", self.reference_view),
                    ("translation", self.output_view),
                )
            ]
        )
        self.children = [
            widgets.HBox([left, widgets.VBox([pictures, self.readout])]),
            self.plot,
            self.message,
        ]

    # ------------------------------------------------------------------ choices

    def _input(self) -> tuple[str, _Picture]:
        key = self.controls["input"].value
        if key not in self._inputs:
            kind, number = key.split(" ")
            self._inputs[key] = (
                _test_input(int(number)) if kind == "test" else _new_pose(int(number))
            )
        return key, self._inputs[key]

    def _reference(self) -> tuple[tuple, _Picture]:
        c = self.controls
        kind = c["reference_kind"].value
        if kind == "your photo" and self._upload is not None:
            picture = self._upload.picture()
            return ("upload", id(self._upload), picture.source), picture
        if kind == "Monk tone":
            tone, lighting = int(c["tone"].value), c["lighting"].value
            return ("monk", tone, lighting), _monk_reference(tone, lighting)
        index = int(c["reference"].value)
        return ("test", index), _test_reference(index)

    # ------------------------------------------------------------------ events

    @contextlib.contextmanager
    def _hold_redraws(self):
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1

    def _show_message(self, text: str, error: bool = True) -> None:
        self._message_text = text
        colour = "#b00020" if error else "#555555"
        self.message.value = (
            f'<span style="color: {colour}">{html.escape(text)}</span>' if text else ""
        )

    def _on_control_change(self, change) -> None:
        if self._holding:
            return
        self._show_message("")
        self._safe_redraw()

    def _safe_redraw(self) -> None:
        try:
            self.redraw()
        except Exception as error:  # a class must never see a traceback
            self._show_message(f"redraw failed: {type(error).__name__}: {error}")

    def new_pose(self) -> str:
        """Render a new random pose (the next seed), add it to the inputs and show it;
        returns its key."""
        seed = self._next_seed
        self._next_seed += 1
        key = f"pose {seed}"
        control = self.controls["input"]
        with self._hold_redraws():
            control.options = [*control.options, (f"new pose (seed {seed})", key)]
            control.value = key
        self._show_message("")
        self._safe_redraw()
        return key

    def add_upload(self, value: Any) -> str | None:
        """Use an uploaded photo as the reference; never raises.

        Args:
            value: a :class:`ipywidgets.FileUpload` value, as ipywidgets 8 (a tuple of
                dicts) or 7 (a dict by file name, as on Colab) sets it.

        Returns:
            The photo's file name, or ``None`` when the value is empty or the file was
            refused (the app's message says why).
        """
        try:
            files = uploaded_files(value)
            if not files:
                return None
            name, content = files[-1]
            upload = _decode_photo(name, content, self._max_bytes, self._max_pixels)
            self._upload = upload
            with self._hold_redraws():
                self.controls["reference_kind"].value = "your photo"
            self.redraw()
            source = upload.picture().source
            self._show_message(
                f"loaded {upload.note}; its foreground: {MASK_SOURCES[source]}",
                error=False,
            )
            return name
        except UploadError as error:
            self._show_message(f"upload refused: {error}")
        except Exception as error:  # never let a bad file raise into the notebook
            self._show_message(f"upload refused: {type(error).__name__}: {error}")
        return None

    def add_mask_upload(self, value: Any) -> str | None:
        """Use an uploaded mask (white is skin, the photo's size) for the uploaded
        photo; never raises. Returns the mask's file name, or ``None`` when refused."""
        try:
            files = uploaded_files(value)
            if not files:
                return None
            name, content = files[-1]
            if self._upload is None:
                raise UploadError(f"{name}: upload the photo first, then its mask")
            self._upload.uploaded_mask = _decode_mask(
                name, content, self._max_bytes, self._max_pixels, self._upload
            )
            with self._hold_redraws():
                self.controls["reference_kind"].value = "your photo"
            self.redraw()
            self._show_message(f"loaded the mask {name!r}", error=False)
            return name
        except UploadError as error:
            self._show_message(f"mask refused: {error}")
        except Exception as error:
            self._show_message(f"mask refused: {type(error).__name__}: {error}")
        return None

    # ------------------------------------------------------------------ drawing

    def redraw(self) -> None:
        """Translate the chosen pair (cached) and update the display."""
        # One thread: a 64-px translation gains nothing from more, and waits on a
        # busy machine (as the histogram explorer found).
        with torch_threads(1):
            self._redraw()

    def _png(self, key: tuple, pixels: torch.Tensor, mask=None) -> bytes:
        if key not in self._pngs:
            if len(self._pngs) > 256:
                self._pngs.clear()
            self._pngs[key] = _picture_png(pixels, self._side, mask)
        return self._pngs[key]

    def _redraw(self) -> None:
        start = time.perf_counter()
        c = self.controls
        kind = c["reference_kind"].value
        if kind == "your photo" and self._upload is None:
            self._show_message(
                "upload a photo with the 'your photo' button; until then the "
                "test reference is shown",
                error=False,
            )
        input_key, picture = self._input()
        reference_key, reference = self._reference()
        key = (input_key, reference_key)
        if key not in self._translations:
            if len(self._translations) > 512:
                self._translations.clear()
            self._translations[key] = translate(
                picture.pixels,
                reference.pixels,
                reference.mask,
                image_mask=picture.mask,
                generator=self._generator,
            )
        result = self._translations[key]
        self.input_view.value = self._png(("in", input_key), picture.pixels)
        self.reference_view.value = self._png(
            ("ref", reference_key), reference.pixels, reference.mask
        )
        self.output_view.value = self._png(("out", *key), result.output)
        self.plot.value = self._plot.draw(
            result.reference_histogram.numpy(), result.output_histogram.numpy()
        )
        for name, enabled in (
            ("reference", kind == "test reference"),
            ("tone", kind == "Monk tone"),
            ("lighting", kind == "Monk tone"),
        ):
            c[name].disabled = not enabled
        elapsed_ms = 1000 * (time.perf_counter() - start)
        e = html.escape
        self.readout.value = (
            "<div style='font-size: 95%; line-height: 1.4'>"
            f"<b>ΔE76 {result.delta_e76:.2f}</b>, JIS class "
            f"<b>{e(result.jis_class)}</b> (mean L*a*b* of the translation's "
            "foreground against the reference's)<br>"
            f"input: {e(picture.note)}<br>reference: {e(reference.note)}<br>"
            f"reference foreground: {e(MASK_SOURCES[reference.source])}<br>"
            f"<span style='color: #777'>model: proposed (both), cpu profile, seed 0, "
            f"{IMAGE_SIZE} px · redraw {elapsed_ms:.0f} ms</span></div>"
        )
        drawn_reference, drawn_output = self._plot.drawn()
        self._snapshot = {
            "input": input_key,
            "reference": reference_key,
            "reference_kind": kind if reference_key[0] != "test" else "test reference",
            "input_pixels": picture.pixels.clone(),
            "input_mask": picture.mask.clone(),
            "reference_pixels": reference.pixels.clone(),
            "reference_mask": reference.mask.clone(),
            "mask_source": reference.source,
            "output": result.output.clone(),
            "reference_histogram": torch.from_numpy(drawn_reference).float(),
            "output_histogram": torch.from_numpy(drawn_output).float(),
            "delta_e76": result.delta_e76,
            "jis_class": result.jis_class,
            "redraw_ms": elapsed_ms,
        }

    # ------------------------------------------------------------------ public surface

    def current(self) -> dict[str, Any]:
        """What the app shows now: ``"input"`` and ``"reference"`` (keys),
        ``"reference_kind"`` (what the reference really is: ``"test reference"`` when
        "your photo" is chosen with no photo yet), ``"input_pixels"``,
        ``"input_mask"``, ``"reference_pixels"``, ``"reference_mask"`` (64 px),
        ``"mask_source"`` (where the reference's foreground came from:
        ``"test"``, ``"render"``, ``"reference_mask"``, ``"alpha"``, ``"segmenter"``,
        ``"border"`` or ``"whole image"``), ``"output"``, the plotted
        ``"reference_histogram"`` and ``"output_histogram"`` (``(3, 32)``, read back
        from the plot), ``"delta_e76"``, ``"jis_class"``, ``"redraw_ms"`` and
        ``"message"`` (the app's message line, empty when all is well)."""
        state = {
            k: v.clone() if isinstance(v, torch.Tensor) else v
            for k, v in self._snapshot.items()
        }
        state["message"] = self._message_text
        return state

    def close(self) -> None:
        """Close the app and every widget in it."""
        pending = list(self.children)
        while pending:
            widget = pending.pop()
            pending.extend(getattr(widget, "children", ()))
            widget.close()
        super().close()


def explore_translations(**options: Any) -> TranslationExplorer:
    """Build the translation explorer; show it as the last expression of a cell.

    Args:
        **options: passed on to :class:`TranslationExplorer` (``side``,
            ``max_upload_bytes``, ``max_upload_pixels``, ``generator``).
    """
    return TranslationExplorer(**options)


# ----------------------------------------------------------------------------- gallery


def gallery_pairs(inputs: int = 4, references: int = 5) -> tuple[list, list]:
    """The test inputs (the first ``inputs``) and references (``references`` of them,
    from the lightest skin to the darkest, both extremes included) of the gallery."""
    inputs = check_positive_int("inputs", inputs)
    references = check_positive_int("references", references, minimum=2)
    lightness = torch.tensor(_reference_lightness())
    order = torch.argsort(lightness, descending=True)
    picks = [
        int(order[round(k * (len(order) - 1) / (references - 1))])
        for k in range(references)
    ]
    return list(range(min(inputs, TEST_COUNT))), picks


@torch.no_grad()
def gallery_figure(inputs: int = 4, references: int = 5, generator=None):
    """Test inputs (rows) translated by the shipped model for test references
    (columns) from the lightest skin to the darkest: a
    :class:`matplotlib.figure.Figure` (no pyplot). Each translation is labelled with
    its ΔE76 against its reference; the top row shows the references, the left column
    the inputs.
    """
    from matplotlib.figure import Figure

    rows, columns = gallery_pairs(inputs, references)
    lightness = _reference_lightness()
    fig = Figure(figsize=(1.45 * (len(columns) + 1), 1.5 * (len(rows) + 1)))
    axes = fig.subplots(len(rows) + 1, len(columns) + 1)
    fig.subplots_adjust(
        left=0.02, right=0.98, top=0.93, bottom=0.02, wspace=0.06, hspace=0.3
    )

    def show(ax, pixels, title=""):
        image = ((pixels.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])

    axes[0, 0].axis("off")
    axes[0, 0].text(
        0.5, 0.5, "input ↓\nreference →", ha="center", va="center", fontsize=8
    )
    for column, j in enumerate(columns, start=1):
        show(
            axes[0, column],
            _test_reference(j).pixels,
            f"ref {j}, L* {lightness[j]:.0f}",
        )
    with torch_threads(1):
        for row, i in enumerate(rows, start=1):
            picture = _test_input(i)
            show(axes[row, 0], picture.pixels, f"input {i}")
            for column, j in enumerate(columns, start=1):
                reference = _test_reference(j)
                result = translate(
                    picture.pixels,
                    reference.pixels,
                    reference.mask,
                    image_mask=picture.mask,
                    generator=generator,
                )
                show(axes[row, column], result.output, f"ΔE76 {result.delta_e76:.1f}")
    fig.suptitle(
        "The shipped generator: test inputs × test references, light to deep skin",
        fontsize=9,
    )
    return fig
