"""The images of the translation explorer (:mod:`kdehist.translator`): test inputs and
new poses, test references, Monk tones under the renderer's lightings, and uploaded
photos with their foreground, each prepared at the model's 64 px."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from .pretrained import IMAGE_SIZE, as_pixels, fit_to_model, reference_foreground
from .uploads import UploadError, decode_image_bytes, describe_mode

#: Named lightings of the photographic renderer (:func:`kdehist.data.render_real`):
#: overrides of :func:`kdehist.knees.default_appearance`, all inside the ranges that
#: :func:`kdehist.knees.sample_appearance` draws the training photos from.
LIGHTINGS = {
    "studio": {},
    "key light from the right": {"key_side": 1.0, "key_azimuth_deg": 50.0},
    "low key": {
        "exposure_ev": -0.4,
        "key_elevation_deg": 18.0,
        "fill_intensity": 0.12,
        "ambient": 0.08,
        "background": 0.87,
    },
    "high key": {
        "exposure_ev": 0.3,
        "fill_intensity": 0.3,
        "ambient": 0.15,
        "background": 0.99,
    },
    "warm room": {"background_tint": 0.9, "key_intensity": 0.75, "shadow": 0.15},
}
#: What the app says about each way of finding a reference's foreground.
MASK_SOURCES = {
    "test": "the test set's exact mask",
    "render": "the renderer's exact mask",
    "reference_mask": "your uploaded mask",
    "alpha": "the photo's alpha channel",
    "segmenter": "the frozen segmenter (kdehist.segment)",
    "border": "the border-colour heuristic (the segmenter found no leg)",
    "whole image": "the whole image (neither the segmenter nor the border "
    "heuristic found a foreground)",
}


@dataclass(frozen=True)
class _Picture:
    """One input or reference at 64 px: ``pixels`` ``(3, 64, 64)`` in [-1, 1],
    ``mask`` ``(1, 64, 64)`` in {0, 1}, the key of :data:`MASK_SOURCES` it came
    from, and a note for the reader."""

    pixels: torch.Tensor
    mask: torch.Tensor
    source: str
    note: str = ""


@functools.lru_cache(maxsize=1)
def _test_set():
    from .evaluate import load_test_set

    return load_test_set(IMAGE_SIZE)


def _test_input(index: int) -> _Picture:
    test = _test_set()
    return _Picture(
        test.inputs[index],
        test.input_masks[index],
        "test",
        f"test input {index} (SyntheticKnees('sim', 'test')[{index}])",
    )


def _new_pose(seed: int) -> _Picture:
    from .knees import render_sim, sample_pose

    pose = sample_pose(torch.Generator().manual_seed(seed))
    image, mask = render_sim(pose, IMAGE_SIZE)
    return _Picture(image, mask, "render", f"a new pose (seed {seed})")


def _test_reference(index: int) -> _Picture:
    test = _test_set()
    return _Picture(
        test.refs[index],
        test.ref_masks[index],
        "test",
        f"test reference {index} (SyntheticKnees('real', 'test')[{index}])",
    )


def _reference_lightness() -> list[float]:
    """The mean L* of each test reference's foreground (light to deep skin)."""
    from .color import mean_lab

    test = _test_set()
    return mean_lab(test.refs, test.ref_masks)[:, 0].tolist()


@functools.lru_cache(maxsize=64)
def _monk_reference(swatch: int, lighting: str) -> _Picture:
    from .knees import monk_tone, render_real

    # One pose for every tone: the first test reference's leg.
    position = (swatch - 1) / 9
    image, mask = render_real(
        _reference_pose(),
        monk_tone(position),
        IMAGE_SIZE,
        appearance=LIGHTINGS[lighting],
    )
    return _Picture(image, mask, "render", f"Monk tone {swatch}, {lighting} lighting")


@functools.lru_cache(maxsize=1)
def _reference_pose() -> dict:
    from .data import SyntheticKnees

    return SyntheticKnees("real", "test", size=IMAGE_SIZE).pose(0)


@dataclass
class _Upload:
    """An uploaded photo at 64 px: its pixels, its own mask (alpha or uploaded), and
    what the segmenter or the border heuristic found when it has none."""

    name: str
    pixels: torch.Tensor
    size: tuple[int, int]  # (height, width) as uploaded, upright
    alpha: torch.Tensor | None
    found: torch.Tensor
    found_source: str
    uploaded_mask: torch.Tensor | None = None
    note: str = ""

    def picture(self) -> _Picture:
        if self.uploaded_mask is not None:
            return _Picture(
                self.pixels, self.uploaded_mask, "reference_mask", self.note
            )
        if self.alpha is not None:
            return _Picture(self.pixels, self.alpha, "alpha", self.note)
        return _Picture(self.pixels, self.found, self.found_source, self.note)


#: Uploads are cropped and shrunk in 8 bits to this side before anything else, so that
#: a 40-megapixel photo never becomes a float tensor.
_WORKING_SIDE = 4 * IMAGE_SIZE


def _centre_square(array: np.ndarray) -> np.ndarray:
    """The centre square of a uint8 image ``(H, W[, C])``, at most ``_WORKING_SIDE``
    pixels on a side (Lanczos for colour, nearest for alpha and masks)."""
    from PIL import Image as PILImage

    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = np.ascontiguousarray(array[top : top + side, left : left + side])
    if side <= _WORKING_SIDE:
        return square
    resampling = getattr(PILImage, "Resampling", PILImage)
    target = (_WORKING_SIDE, _WORKING_SIDE)
    if square.ndim == 2:
        return np.asarray(PILImage.fromarray(square).resize(target, resampling.NEAREST))
    rgb = np.asarray(
        PILImage.fromarray(square[..., :3]).resize(target, resampling.LANCZOS)
    )
    if square.shape[2] == 3:
        return rgb
    alpha = np.asarray(
        PILImage.fromarray(square[..., 3]).resize(target, resampling.NEAREST)
    )
    return np.dstack([rgb, alpha])


def _decode_photo(
    name: str, content: bytes, max_bytes: int, max_pixels: int
) -> _Upload:
    """An uploaded reference photo, or :class:`UploadError` saying why not."""
    array, mode, (width, height) = decode_image_bytes(
        name, content, max_bytes, max_pixels
    )
    size = (int(array.shape[0]), int(array.shape[1]))
    try:
        square, alpha = as_pixels(_centre_square(array), name)
    except (TypeError, ValueError) as error:
        raise UploadError(str(error)) from None
    pixels, alpha = fit_to_model(square, alpha)
    if alpha is not None and not bool(alpha.any()):
        alpha = None  # a fully transparent centre: no mask to use
    found, found_source = reference_foreground(pixels)
    converted = describe_mode(mode)
    note = f"upload {name!r}, {width}×{height}" + (
        f" ({converted})" if converted else ""
    )
    return _Upload(
        name,
        pixels,
        size,
        alpha,
        found,
        found_source,
        note=note,
    )


def _decode_mask(
    name: str, content: bytes, max_bytes: int, max_pixels: int, photo: _Upload
) -> torch.Tensor:
    """An uploaded mask for ``photo``: ``(1, 64, 64)``, white (> 127) is foreground;
    :class:`UploadError` when it is not an image, not the photo's size, or empty."""
    array, _, _ = decode_image_bytes(name, content, max_bytes, max_pixels)
    grey = array[..., :3].astype(np.float32).mean(axis=2)
    if tuple(grey.shape) != photo.size:
        raise UploadError(
            f"{name} is {grey.shape[1]}×{grey.shape[0]}: expected a mask of the "
            f"photo's size, {photo.size[1]}×{photo.size[0]}"
        )
    if not bool((grey > 127).any()):
        raise UploadError(
            f"{name} has no foreground: expected white (> 127) where the skin is"
        )
    square = _centre_square(((grey > 127) * 255).astype(np.uint8))
    mask = torch.from_numpy((square > 127).astype(np.float32))[None]
    _, fitted = fit_to_model(torch.zeros(3, *mask.shape[1:]), mask)
    if not bool(fitted.any()):
        raise UploadError(
            f"{name}: its foreground lies outside the centre square the model sees"
        )
    return fitted
