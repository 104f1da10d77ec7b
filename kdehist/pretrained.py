"""The trained generator in the reader's hands: :func:`pretrained_generator` and
:func:`translate`, with no training and no GPU.

The package ships one generator, ``G`` (simulator → real, colour-conditioned), of Table
2's *proposed (both)* in the cpu profile (64 px, 500 steps, seed 0), in float16
(``kdehist/assets/``, 5 MB). Its SHA-256 is recorded here (:data:`WEIGHTS_SHA256`) and
checked before every load. It is a demonstration of the method, not a result: nothing
was chosen among runs. It is a retrain of that run on another host (an Intel Xeon
instead of the AMD EPYC of the committed results): CPU training is not bit-identical
across instruction sets, so it has its own scores, committed beside it
(:data:`SCORES_FILE`: the per-pair ΔE76 and shape measures of the float32 weights on the
784 test pairs; :func:`committed_scores`). Translating the test pairs with the float16
weights reproduces that ΔE76 array within :data:`DELTA_E_TOLERANCE` per pair
(``tests/test_pretrained.py``). The model card is :data:`MODEL_CARD_FILE`.

:func:`translate` takes two images of any size and does the rest: centre-crop and
resize to 64 px, the reference's foreground (from ``reference_mask``, its alpha
channel, the frozen segmenter of :mod:`kdehist.segment`, or the border heuristic of
:func:`kdehist.data.border_background_mask`, and it says which), the masked 32-bin soft
histogram, the translation, and ΔE76 with its JIS class.

Example::

    import kdehist
    from kdehist.data import SyntheticKnees

    sim, real = SyntheticKnees("sim", "test"), SyntheticKnees("real", "test")
    result = kdehist.translate(sim[0]["image"], real[5]["image"])
    result.output.shape, result.reference_mask_source, round(result.delta_e76, 1)
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as nnf

from ._checks import _describe
from .io import CheckpointError, load_checkpoint

__all__ = [
    "DELTA_E_TOLERANCE",
    "HIST_BINS",
    "IMAGE_SIZE",
    "MODEL_CARD_FILE",
    "SCORES_FILE",
    "Translation",
    "WEIGHTS_FILE",
    "WEIGHTS_SHA256",
    "as_pixels",
    "asset_path",
    "committed_scores",
    "export_generator",
    "fit_to_model",
    "load_pretrained",
    "pretrained_generator",
    "pretrained_record",
    "reference_foreground",
    "translate",
]

#: The shipped generator's file in ``kdehist/assets/``.
WEIGHTS_FILE = "generator_proposed_both_seed0_64px_fp16.pt"
#: Its SHA-256, checked before every load.
WEIGHTS_SHA256 = "2b7602e25b7fb3d1e87fe84854194b1d4da53df7237d5c30d7f429ec6e8991fd"
#: The per-pair scores of the float32 weights on the 28 × 28 test pairs (float32
#: ``(28, 28)`` arrays keyed like :func:`kdehist.evaluate.pair_metrics`).
SCORES_FILE = "generator_proposed_both_seed0_64px_scores.npz"
#: The model card (Markdown).
MODEL_CARD_FILE = "generator_proposed_both_seed0_64px.md"
#: The model's side in pixels and the bins per channel of its reference histogram.
IMAGE_SIZE, HIST_BINS = 64, 32
#: The largest per-pair ΔE76 difference allowed between the float16 weights and
#: :data:`SCORES_FILE` (float16 rounding: 0.007 measured).
DELTA_E_TOLERANCE = 0.05
#: The scores kept in :data:`SCORES_FILE` (those of
#: :func:`kdehist.evaluate.pair_metrics`).
SCORE_KEYS = (
    "delta_e76",
    "delta_e00",
    "delta_e76_whole",
    "delta_e00_whole",
    "shape_score",
    "shape_iou",
    "ssim",
    "edge_f1",
)
WEIGHTS_FORMAT = 1
WEIGHTS_KIND = "kdehist.pretrained_generator"
#: The smallest share of the image the segmenter must find as leg; below it, the
#: border heuristic is used.
MIN_FOREGROUND_SHARE = 0.02
#: The smallest side accepted by :func:`translate`.
MIN_SIDE = 8
_REINSTALL = "reinstall kdehist (pip install --force-reinstall kdehist)"


def asset_path(name: str) -> Path:
    """The path of a file shipped in ``kdehist/assets/``."""
    return Path(str(resources.files("kdehist") / "assets" / name))


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -------------------------------------------------------------------------- the weights


@functools.lru_cache(maxsize=4)
def _checked_payload(path: str, sha256: str, stamp: tuple[int, int]) -> dict:
    del stamp  # part of the cache key: a file changed on disk is checked again
    actual = sha256_of(path)
    if actual != sha256:
        raise CheckpointError(
            f"{path}: expected the generator weights with SHA-256 {sha256}, got a "
            f"file with SHA-256 {actual} (damaged or replaced); {_REINSTALL}"
        )
    payload = load_checkpoint(path, advice=_REINSTALL)
    if not (
        isinstance(payload, dict)
        and payload.get("kind") == WEIGHTS_KIND
        and payload.get("format") == WEIGHTS_FORMAT
        and isinstance(payload.get("weights"), dict)
        and isinstance(payload.get("architecture"), dict)
    ):
        raise CheckpointError(
            f"{path}: expected {WEIGHTS_KIND} weights of format {WEIGHTS_FORMAT}, "
            f"got {_describe(payload)}; {_REINSTALL}"
        )
    return payload


def load_pretrained(
    path: str | os.PathLike,
    sha256: str = WEIGHTS_SHA256,
    device: str | torch.device = "cpu",
):
    """Rebuild a generator saved by :func:`export_generator`, after checking that the
    file's SHA-256 is ``sha256``: a ``ResnetGenerator`` in eval mode, float32.

    Loads with ``torch.load(weights_only=True)``: no code runs from the file.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        kdehist.io.CheckpointError: the hash differs (the message names the file and
            both hashes), or the file is not such weights.
    """
    from .models import ResnetGenerator

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path: expected the generator weights file, got {str(path)!r} "
            f"(missing); {_REINSTALL}"
        )
    stat = path.stat()
    payload = _checked_payload(str(path), sha256, (stat.st_mtime_ns, stat.st_size))
    G = ResnetGenerator(**payload["architecture"])
    try:
        G.load_state_dict({k: v.float() for k, v in payload["weights"].items()})
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(
            f"{path}: the weights do not fit their architecture ({first}); {_REINSTALL}"
        ) from None
    return G.to(device).eval()


def pretrained_generator(device: str | torch.device = "cpu"):
    """The shipped generator ``G`` (simulator → real, conditioned on a reference's
    32-bin foreground histogram): a :class:`kdehist.models.ResnetGenerator` in eval
    mode, float32, on ``device``.

    The weights (float16 in the package) are checked against :data:`WEIGHTS_SHA256`
    first; a mismatch raises :class:`kdehist.io.CheckpointError` naming the file. See
    :data:`MODEL_CARD_FILE` for what the model is and how well it does.

    Example::

        G = kdehist.pretrained_generator()
        with torch.no_grad():
            fake = G(x, kdehist.soft_histogram(ref, 32, mask=ref_mask))  # 64 × 64
    """
    return load_pretrained(asset_path(WEIGHTS_FILE), WEIGHTS_SHA256, device)


def pretrained_record() -> dict[str, Any]:
    """What the shipped weights record about themselves: ``architecture``, ``config``
    (the training :class:`kdehist.config.TrainConfig` as a dict), ``step``,
    ``provenance`` (host, torch, training time) and ``scores`` (the means of
    :func:`committed_scores`)."""
    path = asset_path(WEIGHTS_FILE)
    stat = path.stat()
    payload = _checked_payload(
        str(path), WEIGHTS_SHA256, (stat.st_mtime_ns, stat.st_size)
    )
    return {k: v for k, v in payload.items() if k != "weights"}


def committed_scores() -> dict[str, np.ndarray]:
    """The shipped model's per-pair scores on the 28 × 28 test pairs (float32 weights):
    ``delta_e76``, ``delta_e00``, ``shape_score``, ... each ``(28, 28)``."""
    with np.load(asset_path(SCORES_FILE)) as saved:
        return {key: saved[key] for key in saved.files}


@functools.lru_cache(maxsize=1)
def _default_generator():
    return pretrained_generator("cpu")


@functools.lru_cache(maxsize=1)
def _segmenter():
    from .segment import load_segmenter

    return load_segmenter()[0]


def export_generator(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Write a trained run's ``G`` as the package ships it, and its scores.

    How the shipped files were made (once)::

        export_generator("runs/cpu/proposed_both/seed0/snapshots/step000500.pt",
                         "kdehist/assets")

    Writes :data:`WEIGHTS_FILE` (``G``'s weights in float16, its architecture, its
    training config and provenance) and :data:`SCORES_FILE` (the per-pair measures
    of the float32 ``G`` on the 28 × 28 test pairs, with the oracle and the frozen
    segmenter, as :func:`kdehist.evaluate.evaluate_generator` computes them).

    Returns:
        ``{"sha256", "scores"}``: the hash to record in :data:`WEIGHTS_SHA256` and the
        mean of each score.
    """
    import json

    from .checkpoint import load_generators
    from .evaluate import evaluate_generator, load_test_set, oracle_pairs
    from .io import atomic_torch_save, atomic_write

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    G, _, config = load_generators(checkpoint)
    saved = load_checkpoint(checkpoint)
    test = load_test_set(config.image_size)
    _, metrics, _ = evaluate_generator(
        G,
        test,
        config.hist_bins,
        oracle=oracle_pairs(test),
        device="cpu",
        segmenter=_segmenter(),
        progress=progress,
    )
    metrics = {k: metrics[k] for k in SCORE_KEYS}
    scores = {k: float(np.mean(v)) for k, v in metrics.items()}
    provenance_file = checkpoint.parent.parent / "provenance.json"
    provenance = (
        json.loads(provenance_file.read_text()) if provenance_file.is_file() else {}
    )
    payload = {
        "kind": WEIGHTS_KIND,
        "format": WEIGHTS_FORMAT,
        "architecture": {
            "ngf": G.ngf,
            "n_blocks": G.n_blocks,
            "hist_bins": G.hist_bins,
            "condition": G.condition,
            "spectral_norm": G.spectral_norm,
        },
        "config": config.to_dict(),
        "step": int(saved.get("step", config.steps)),
        "provenance": {
            **{k: v for k, v in provenance.items() if v is not None},
            "checkpoint": f"{config.profile}/{config.variant}/seed{config.seed}/"
            f"{checkpoint.name}",
        },
        "scores": scores,
        "weights": {k: v.detach().half() for k, v in G.state_dict().items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(out_dir / WEIGHTS_FILE, payload)
    atomic_write(
        out_dir / SCORES_FILE,
        lambda handle: np.savez_compressed(
            handle, **{k: v.astype(np.float32) for k, v in metrics.items()}
        ),
    )
    return {"sha256": sha256_of(out_dir / WEIGHTS_FILE), "scores": scores}


# ------------------------------------------------------------------------------ images


def as_pixels(value: Any, argument: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """An image as ``(3, H, W)`` float32 pixels in [-1, 1] and its alpha mask.

    Accepts a float tensor ``(3, H, W)`` or ``(1, 3, H, W)`` in [-1, 1] (no mask), a
    uint8 NumPy array ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, or a PIL image of any
    mode (16-bit greys scaled, palettes expanded). With four channels, an alpha channel
    that is not fully opaque becomes the mask ``(1, H, W)`` (alpha above 127).

    Raises:
        TypeError, ValueError: naming ``argument``, what was expected and what came.
    """
    expected = (
        "a (3, H, W) float tensor in [-1, 1], a uint8 array (H, W), (H, W, 3) "
        "or (H, W, 4), or a PIL image"
    )
    mask = None
    try:
        from PIL import Image as PILImage
    except ImportError:  # pragma: no cover - Pillow is a dependency
        PILImage = None
    if PILImage is not None and isinstance(value, PILImage.Image):
        from .folders import pil_to_uint8

        value = pil_to_uint8(value, alpha="keep", where=argument)
    if isinstance(value, np.ndarray):
        if (
            value.dtype != np.uint8
            or value.ndim not in (2, 3)
            or (value.ndim == 3 and value.shape[2] not in (3, 4))
        ):
            raise ValueError(f"{argument}: expected {expected}, got {_describe(value)}")
        array = value if value.ndim == 3 else np.repeat(value[..., None], 3, axis=2)
        if array.shape[2] == 4:
            alpha = array[..., 3]
            if alpha.min() < 255:
                mask = torch.from_numpy((alpha > 127).astype(np.float32))[None]
            array = array[..., :3]
        pixels = torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1)
        pixels = pixels.float() / 127.5 - 1
    elif isinstance(value, torch.Tensor):
        if value.dim() == 4 and value.shape[0] == 1:
            value = value[0]
        if value.dim() != 3 or value.shape[0] != 3 or not value.is_floating_point():
            raise ValueError(f"{argument}: expected {expected}, got {_describe(value)}")
        if value.device.type == "meta":
            raise ValueError(f"{argument}: expected {expected}, got {_describe(value)}")
        pixels = value.detach().float().cpu()
        if not bool(torch.isfinite(pixels).all()):
            raise ValueError(
                f"{argument}: expected finite values in [-1, 1], got NaN or inf in "
                f"a {_describe(value)}"
            )
        low, high = float(pixels.min()), float(pixels.max())
        if low < -1.001 or high > 1.001:
            raise ValueError(
                f"{argument}: expected values in [-1, 1] (x / 127.5 - 1 for 8-bit "
                f"levels x), got values from {low:.4g} to {high:.4g}"
            )
        pixels = pixels.clamp(-1, 1)
    else:
        raise TypeError(f"{argument}: expected {expected}, got {_describe(value)}")
    if min(pixels.shape[1:]) < MIN_SIDE:
        raise ValueError(
            f"{argument}: expected an image at least {MIN_SIDE} pixels on each side, "
            f"got {pixels.shape[2]}×{pixels.shape[1]}"
        )
    return pixels.contiguous(), mask


def _as_mask(value: Any, argument: str, size: tuple[int, int]) -> torch.Tensor:
    """A mask given by the reader as ``(1, H, W)`` float32 in {0, 1}."""
    expected = (
        f"a mask of the image's size {size[1]}×{size[0]}: a (H, W) or (1, H, W) "
        "tensor or array (> 0.5 or True is foreground), or a PIL image (> 127)"
    )
    try:
        from PIL import Image as PILImage

        if isinstance(value, PILImage.Image):
            value = np.asarray(value.convert("L")) > 127
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{argument}: expected {expected}, got {_describe(value)}")
        value = torch.from_numpy(np.ascontiguousarray(value).astype(np.float32))
        if value.max() > 1:  # an 8-bit mask (0 and 255)
            value = value / 255
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{argument}: expected {expected}, got {_describe(value)}")
    mask = value.detach().float().cpu()
    if mask.dim() == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.dim() != 2 or tuple(mask.shape) != tuple(size):
        raise ValueError(f"{argument}: expected {expected}, got {_describe(value)}")
    if not bool(torch.isfinite(mask).all()):
        raise ValueError(f"{argument}: expected finite values, got NaN or inf")
    return (mask > 0.5).float()[None]


def fit_to_model(
    pixels: torch.Tensor, mask: torch.Tensor | None = None, size: int = IMAGE_SIZE
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Centre-crop ``(3, H, W)`` pixels (and a ``(1, H, W)`` mask) to a square and
    resize to ``size`` (antialiased bilinear; the mask by area, then > 0.5), as
    :class:`kdehist.data.ImageFolderDomain` prepares photos."""
    height, width = pixels.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    pixels = pixels[:, top : top + side, left : left + side]
    if side != size:
        pixels = nnf.interpolate(
            pixels[None], size=(size, size), mode="bilinear", antialias=True
        )[0].clamp(-1, 1)
    if mask is not None:
        mask = mask[:, top : top + side, left : left + side]
        if side != size:
            mask = nnf.interpolate(mask[None], size=(size, size), mode="area")[0]
        mask = (mask > 0.5).float()
    return pixels.contiguous(), mask


def reference_foreground(
    reference: torch.Tensor, segmenter=None
) -> tuple[torch.Tensor, str]:
    """The foreground of a ``(3, S, S)`` reference photo with no mask of its own:
    ``((1, S, S) float32 mask, source)``.

    ``source`` is ``"segmenter"`` when the frozen segmenter (:mod:`kdehist.segment`)
    finds a leg covering at least :data:`MIN_FOREGROUND_SHARE` of the image;
    otherwise ``"border"`` (:func:`kdehist.data.border_background_mask`, for a photo on
    a plain light or dark background), or ``"whole image"`` when the border heuristic
    finds nothing either.
    """
    from .folders import border_background_mask
    from .segment import own_foreground

    segmenter = _segmenter() if segmenter is None else segmenter
    with torch.no_grad():
        found = (own_foreground(segmenter, reference[None]) > 0.5).float()[0]
    if float(found.mean()) >= MIN_FOREGROUND_SHARE:
        return found, "segmenter"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        border = border_background_mask(reference)
    if caught or float(border.mean()) < MIN_FOREGROUND_SHARE:
        return torch.ones_like(border), "whole image"
    return border, "border"


# --------------------------------------------------------------------------- translate


@dataclass(frozen=True)
class Translation:
    """What :func:`translate` did, all at the model's 64 px.

    Attributes:
        output: the translation ``(3, 64, 64)`` in [-1, 1].
        image, image_mask: the input as fed to ``G`` and its foreground ``(1, 64, 64)``
            (the mask under which the output's colour is measured).
        reference, reference_mask: the reference at 64 px and its foreground.
        reference_histogram: the soft 32-bin histogram ``(3, 32)`` of the reference's
            foreground, ``G``'s condition.
        output_histogram: the same histogram of the output under ``image_mask``.
        delta_e76: ΔE (CIE76) between the mean L*a*b* colours of the output's and the
            reference's foregrounds; ``jis_class``: its JIS class.
        reference_mask_source: ``"reference_mask"`` (given), ``"alpha"`` (the
            reference's alpha channel), ``"segmenter"``, ``"border"`` or
            ``"whole image"`` (see :func:`reference_foreground`).
        image_mask_source: ``"image_mask"`` (given), ``"alpha"``, ``"border"`` (the
            simulator's dark background) or ``"whole image"``.
    """

    output: torch.Tensor
    image: torch.Tensor
    image_mask: torch.Tensor
    reference: torch.Tensor
    reference_mask: torch.Tensor
    reference_histogram: torch.Tensor
    output_histogram: torch.Tensor
    delta_e76: float
    jis_class: str
    reference_mask_source: str
    image_mask_source: str


def _input_foreground(image: torch.Tensor) -> tuple[torch.Tensor, str]:
    from .folders import border_background_mask

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mask = border_background_mask(image)
    if caught or float(mask.mean()) < MIN_FOREGROUND_SHARE:
        return torch.ones_like(mask), "whole image"
    return mask, "border"


@torch.no_grad()
def translate(
    image: Any,
    reference: Any,
    reference_mask: Any = None,
    *,
    image_mask: Any = None,
    generator=None,
) -> Translation:
    """Translate a simulator render into a real-looking knee in the reference's skin
    colour, with the shipped generator: one call, two images of any size.

    Both images are centre-cropped to a square and resized to 64 px (the model's size).
    The reference's foreground is ``reference_mask`` when given, else its alpha channel
    (a PNG with transparency), else what the frozen segmenter finds, else the border
    heuristic (:func:`reference_foreground`); ``Translation.reference_mask_source``
    says which. Its soft 32-bin histogram (:func:`kdehist.soft_histogram`) conditions
    ``G``, as in training.

    Args:
        image: the simulator-style input: a ``(3, H, W)`` float tensor in [-1, 1], a
            uint8 array ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, or a PIL image.
        reference: the reference photo, in the same forms.
        reference_mask: the reference's foreground, ``(H, W)`` or ``(1, H, W)`` at the
            reference's own size (tensor, array or PIL image; > 0.5 is foreground).
        image_mask: the input's foreground, likewise (default: its alpha channel, else
            the border heuristic, which suits the simulator's dark background); ΔE is
            measured under it.
        generator: a conditioned generator to use instead of the shipped one (a
            ``ResnetGenerator`` with ``hist_bins=32`` working at 64 px).

    Returns:
        A :class:`Translation`.

    Raises:
        TypeError, ValueError: an argument is not an image or mask of the forms above;
            the message names the argument, what was expected and what came; an empty
            ``reference_mask`` or ``image_mask`` is refused.
    """
    from .color import delta_e, jis_class
    from .histogram import soft_histogram

    pixels, alpha = as_pixels(image, "image")
    ref_pixels, ref_alpha = as_pixels(reference, "reference")
    if image_mask is not None:
        alpha = _as_mask(image_mask, "image_mask", tuple(pixels.shape[1:]))
        if not bool(alpha.any()):
            raise ValueError("image_mask: expected some foreground, got none")
    if reference_mask is not None:
        ref_alpha = _as_mask(reference_mask, "reference_mask", ref_pixels.shape[1:])
        if not bool(ref_alpha.any()):
            raise ValueError(
                "reference_mask: expected some foreground (the skin whose colour to "
                "copy), got none"
            )
    x, x_mask = fit_to_model(pixels, alpha)
    y, y_mask = fit_to_model(ref_pixels, ref_alpha)
    for name, given, fitted in (
        ("image_mask", image_mask, x_mask),
        ("reference_mask", reference_mask, y_mask),
    ):
        if given is not None and not bool(fitted.any()):
            raise ValueError(
                f"{name}: expected some foreground inside the centre square that the "
                "model sees, got none there"
            )
    if x_mask is not None and bool(x_mask.any()):
        x_source = "image_mask" if image_mask is not None else "alpha"
    else:
        x_mask, x_source = _input_foreground(x)
    if y_mask is not None and bool(y_mask.any()):
        y_source = "reference_mask" if reference_mask is not None else "alpha"
    else:
        y_mask, y_source = reference_foreground(y)
    G = _default_generator() if generator is None else generator
    device = next(G.parameters()).device
    bins = getattr(G, "hist_bins", None) or HIST_BINS
    hist = soft_histogram(y[None], bins, mask=y_mask[None])
    output = G(x[None].to(device), hist.to(device)).float().cpu()[0]
    output_hist = soft_histogram(output[None], bins, mask=x_mask[None])[0]
    error = float(delta_e(output[None], y[None], x_mask[None], y_mask[None])[0])
    return Translation(
        output=output,
        image=x,
        image_mask=x_mask,
        reference=y,
        reference_mask=y_mask,
        reference_histogram=hist[0],
        output_histogram=output_hist,
        delta_e76=error,
        jis_class=str(jis_class(error)),
        reference_mask_source=y_source,
        image_mask_source=x_source,
    )
