"""The images of the histogram explorer (:mod:`kdehist.widgets`): bundled photos,
synthetic knees, your tensors and uploaded files, each prepared as ``(3, H, W)`` pixels
in [-1, 1] with an optional mask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
from PIL import Image as PILImage

from ._checks import check_mask_weights
from .uploads import UploadError as _UploadError  # noqa: F401 (widgets imports it)
from .uploads import decode_image_bytes
from .uploads import uploaded_files as _uploaded_files  # noqa: F401 (widgets too)


@dataclass
class _ExplorerImage:
    """One image choice, prepared for analysis and display.

    ``pixels`` is ``(3, H, W)`` float32 in [-1, 1]; ``mask`` is ``(1, H, W)`` float32
    weights or ``None``; ``note`` says where the image came from and how it was resized.
    """

    pixels: torch.Tensor
    mask: torch.Tensor | None
    note: str = ""


# ------------------------------------------------------------------------ image sources


def _uint8_to_pixels(array: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 to pixels in
    [-1, 1] and an alpha mask.
    """
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
    # Pillow >= 9.1 moved the filters to Image.Resampling; older
    # ones keep module constants.
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
        rgb = np.asarray(
            PILImage.fromarray(array[..., :3]).resize(size, _resample("LANCZOS"))
        )
        alpha = np.asarray(
            PILImage.fromarray(array[..., 3]).resize(size, _resample("NEAREST"))
        )
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


def _knee_loader(
    domain: str, index: int, max_side: int
) -> Callable[[], _ExplorerImage]:
    def load() -> _ExplorerImage:
        from .data import MAX_SIZE, MIN_SIZE, SyntheticKnees

        size = min(MAX_SIZE, max(MIN_SIZE, max_side))
        sample = SyntheticKnees(domain, "test", size=size)[index]
        source = f"SyntheticKnees({domain!r}, 'test', size={size})[{index}]"
        note = f"{source} with its foreground mask"
        return _ExplorerImage(sample["image"].float(), sample["mask"].float(), note)

    return load


def _user_image(name: str, spec: Any, max_side: int) -> _ExplorerImage:
    """One entry of ``explore(images=...)`` as an explorer image; see
    :class:`HistogramExplorer`.
    """
    argument = f"images[{name!r}]"
    mask = None
    if isinstance(spec, Mapping):
        if "image" not in spec:
            raise ValueError(
                f"{argument}: expected a dict with an 'image' key "
                f"(and optionally 'mask'), got keys {sorted(spec)}"
            )
        spec, mask = spec["image"], spec.get("mask")
    if isinstance(spec, PILImage.Image):
        from .folders import pil_to_uint8

        # 16-bit and float modes scaled, not clipped
        spec = pil_to_uint8(spec, alpha="keep", where=argument)
    if isinstance(spec, np.ndarray):
        if (
            spec.dtype != np.uint8
            or spec.ndim not in (2, 3)
            or (spec.ndim == 3 and spec.shape[2] not in (3, 4))
        ):
            raise ValueError(
                f"{argument}: expected a uint8 array of shape (H, W), (H, W, 3) "
                f"or (H, W, 4), got {spec.dtype} of shape {spec.shape}"
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
            pixels = torch.nn.functional.interpolate(
                pixels[None], size=size, mode="bilinear", antialias=True
            )[0]
    else:
        raise TypeError(
            f"{argument}: expected a (3, H, W) tensor in [-1, 1], a uint8 array, "
            f"a PIL image, or a dict with 'image' and 'mask', got {type(spec).__name__}"
        )
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            mask = torch.as_tensor(np.asarray(mask))
        mask = mask.detach().float().cpu()
        while mask.dim() > 2 and mask.shape[0] == 1:
            mask = mask[0]
        if mask.dim() != 2:
            raise ValueError(
                f"{argument}: expected a mask of shape (1, H, W) or (H, W), "
                f"got {tuple(mask.shape)}"
            )
        if tuple(mask.shape) != tuple(pixels.shape[-2:]):
            mask = torch.nn.functional.interpolate(
                mask[None, None], size=pixels.shape[-2:], mode="nearest"
            )[0, 0]
        check_mask_weights(argument, mask[None])
        mask = mask[None].contiguous()
    return _ExplorerImage(pixels.contiguous(), mask, f"your image {name!r}")


# ----------------------------------------------------------------------------- uploads


def _decode_upload(
    name: str, content: bytes, max_bytes: int, max_pixels: int, max_side: int
) -> _ExplorerImage:
    """Decode an uploaded image file (:func:`kdehist.uploads.decode_image_bytes`),
    refusing what is not an image or is too large, and prepare it for analysis."""
    array, _, (width, height) = decode_image_bytes(name, content, max_bytes, max_pixels)
    shrunk = _shrink_uint8(array, max_side)
    pixels, mask = _uint8_to_pixels(shrunk)
    note = f"upload {name!r}, {width}×{height}"
    if shrunk.shape[:2] != array.shape[:2]:
        note += f", analysed at {shrunk.shape[1]}×{shrunk.shape[0]}"
    if mask is not None:
        note += ", its alpha channel as the mask"
    return _ExplorerImage(pixels, mask, note)
