"""Uploaded image files: reading an :class:`ipywidgets.FileUpload` value (ipywidgets 7
and 8) and decoding its bytes safely, for the apps of :mod:`kdehist.widgets` and
:mod:`kdehist.translator`.

A file that is empty, too large (in bytes or in pixels, checked before its pixels are
decoded) or not an image that Pillow can read raises :class:`UploadError`, whose
message the apps show as it is. Any Pillow mode is converted to 8 bits
(``kdehist.folders.pil_to_uint8``: 16-bit greys scaled, not clipped; palettes
expanded); :func:`describe_mode` says what was converted, so an app can tell the reader.

Example::

    >>> value = {"x.png": {"metadata": {"name": "x.png"}, "content": b"abc"}}  # 7.x
    >>> uploaded_files(value)
    [('x.png', b'abc')]
"""

from __future__ import annotations

import io
import warnings
from typing import Any, Mapping

import numpy as np

__all__ = [
    "UploadError",
    "decode_image_bytes",
    "describe_mode",
    "uploaded_files",
]


class UploadError(ValueError):
    """An uploaded file cannot be used; the message is shown in the app."""


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``(name, content)`` of each file in a :class:`ipywidgets.FileUpload` value.

    ipywidgets 8 gives a tuple of dicts ``{"name", "type", "size", "content", ...}``;
    ipywidgets 7 (Colab) gives a dict ``{name: {"metadata": {...}, "content": bytes}}``.
    Anything else raises :class:`UploadError`.
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
                raise UploadError(
                    f"unexpected upload entry of type {type(entry).__name__}"
                )
            entries.append(
                (
                    entry.get("name")
                    or entry.get("metadata", {}).get("name", "upload"),
                    entry,
                )
            )
    else:
        raise UploadError(f"unexpected upload value of type {type(value).__name__}")
    files = []
    for name, entry in entries:
        if not isinstance(entry, Mapping) or "content" not in entry:
            raise UploadError(f"{name}: the upload carries no content")
        content = entry["content"]
        # 8.x hands over a memoryview, 7.x bytes.
        content = (
            content.tobytes() if isinstance(content, memoryview) else bytes(content)
        )
        files.append((str(name), content))
    return files


def describe_mode(mode: str) -> str:
    """What converting a Pillow ``mode`` to 8-bit sRGB does, or ``""`` when nothing
    worth telling (8-bit RGB, RGBA and grey)."""
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return f"16-bit {mode} grey, scaled to 8 bits"
    if mode == "F":
        return "floating-point grey, scaled from [0, 1] to 8 bits"
    if mode in ("P", "PA"):
        return "palette image, expanded to RGB"
    if mode == "1":
        return "1-bit image, expanded to RGB"
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return f"{mode} image, converted to RGB"
    return ""


def decode_image_bytes(
    name: str, content: bytes, max_bytes: int, max_pixels: int
) -> tuple[np.ndarray, str, tuple[int, int]]:
    """Decode an uploaded image file, refusing what is not an image or is too large.

    Args:
        name: the file name, used in messages.
        content: the file's bytes.
        max_bytes, max_pixels: the largest accepted file and image.

    Returns:
        ``(array, mode, (width, height))``: the pixels as 8-bit sRGB ``(H, W, 3)``, or
        ``(H, W, 4)`` when the image has transparency, upright (EXIF orientation
        applied); the file's Pillow mode; its size as stored.

    Raises:
        UploadError: empty, too large, or not an image Pillow can read.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps

    if not content:
        raise UploadError(f"{name} is empty: expected an image file (PNG, JPEG, ...)")
    if len(content) > max_bytes:
        raise UploadError(
            f"{name} is too large: {len(content) / 2**20:.1f} MiB, "
            f"the limit is {max_bytes / 2**20:.0f} MiB"
        )
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own pixel limit; a
            # huge image must not load.
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(content))
            width, height = image.size
            if width * height > max_pixels:
                raise UploadError(
                    f"{name} is too large: {width}×{height} = "
                    f"{width * height / 1e6:.1f} megapixels, "
                    f"the limit is {max_pixels / 1e6:.0f}"
                )
            image.load()
    except UploadError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise UploadError(f"{name} is too large to decode safely") from None
    except Exception as error:  # Pillow raises several types for undecodable data
        raise UploadError(
            f"{name} is not an image that Pillow can read ({type(error).__name__})"
        ) from None
    mode = image.mode
    # Phone photos store their orientation in EXIF; show them the way they were taken.
    image = ImageOps.exif_transpose(image)
    from .folders import pil_to_uint8

    # any mode; 16-bit scaled, not clipped
    array = pil_to_uint8(image, alpha="keep", where=name)
    return array, mode, (width, height)
