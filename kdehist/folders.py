"""Folders of photos: your own images, read as the same samples as the synthetic knees.

:class:`ImageFolderDomain` reads the image files directly inside one folder (the folder
layout is in :mod:`kdehist.data`'s docstring), converting any Pillow mode to 8-bit RGB
(:func:`pil_to_uint8`). Without a mask folder, the foreground comes from the border
colour (:func:`kdehist.data.border_background_mask`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ._checks import check_choice, check_tensor
from .knees import check_size

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderDomain",
    "border_background_mask",
    "pil_to_uint8",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def pil_to_uint8(img, *, alpha: str = "keep", where: str = "image") -> np.ndarray:
    """Any Pillow image as 8-bit sRGB: ``(H, W, 3)``, or ``(H, W, 4)`` with
    ``alpha="keep"`` when it has transparency.

    Handles every mode a user may have: ``1``, ``L``, ``LA``, ``P`` (with or without
    transparency), ``RGB``, ``RGBA``, ``CMYK``, ``YCbCr``, the 16-bit greys ``I;16*``
    and ``I`` (scaled from 0-65535, not clipped to 255 as Pillow's ``convert`` does) and
    ``F`` (floats, scaled from 0-1). ``alpha``: ``"keep"``, or ``"white"``/``"black"``
    to composite transparent pixels onto that background. ``where`` names the image in
    errors and warnings (e.g. its path).
    """
    from PIL import Image

    check_choice("alpha", alpha, ("keep", "white", "black"))
    mode = img.mode
    if mode in _SIXTEEN_BIT or mode == "F":
        values = np.asarray(img, dtype=np.float64)
        scale = 1.0 if mode == "F" else 65535.0
        if values.size and (
            not np.isfinite(values).all() or values.min() < 0 or values.max() > scale
        ):
            warnings.warn(
                f"{where}: {mode} pixel values outside [0, {scale:g}] "
                f"(min {np.nanmin(values):.4g}, max {np.nanmax(values):.4g}) "
                "were clipped",
                stacklevel=3,
            )
        grey = np.round(
            np.clip(np.nan_to_num(values, nan=0.0), 0, scale) / scale * 255
        ).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    has_alpha = (
        "A" in img.getbands()
        or (mode == "P" and "transparency" in img.info)
        or (mode in ("L", "RGB") and "transparency" in img.info)
    )
    if not has_alpha:
        return np.asarray(img.convert("RGB"))
    rgba = img.convert("RGBA")
    if alpha == "keep":
        return np.asarray(rgba)
    background = Image.new(
        "RGBA", rgba.size, (255, 255, 255, 255) if alpha == "white" else (0, 0, 0, 255)
    )
    return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))


def _open_image(path: Path, mode: str, size: int, resample: int) -> np.ndarray:
    """Decode (any Pillow mode, see ``pil_to_uint8``), centre-crop to a square and
    resize; errors name the file. ``mode``: ``"RGB"`` for images (transparency
    composited on white), ``"L"`` for masks (transparency is background)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = pil_to_uint8(
                img, alpha="white" if mode == "RGB" else "black", where=str(path)
            )
            img = Image.fromarray(rgb).convert(mode)
            width, height = img.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            img = img.crop((left, top, left + side, top + side))
            if side != size:
                img = img.resize((size, size), resample=resample)
            return np.array(img)
    except Image.DecompressionBombError as error:
        raise ValueError(
            f"{path}: image too large to decode safely ({error}); shrink it first"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ValueError(
            f"{path}: not a readable image ({type(error).__name__}: {error})"
        ) from error


class ImageFolderDomain(Dataset):
    """The images directly inside one folder, as a dataset of sample dicts.

    Images (.png, .jpg, .jpeg, .bmp, .webp, any case; sorted by file name; hidden files
    and other extensions are skipped with a warning) are converted to 8-bit RGB from any
    Pillow mode (16-bit and float images scaled, transparency composited on white: see
    ``pil_to_uint8``), centre-cropped to a square and resized to ``size`` (Lanczos). See
    the module docstring for the folder layout.

    Args:
        root: the folder of images.
        mask_root: optional folder of masks, one per image with the same stem
            (any accepted extension); pixels above 127 in greyscale are foreground.
            Without it, masks come from :func:`border_background_mask`
            (near-white or near-black backgrounds).
        size: output side in pixels, 32 to 512 (default 256).

    Samples: ``{"image": (3, size, size) float32 in [-1, 1], "mask": (1, size, size)
    float32 in {0, 1}, "index": int}``; ``paths[i]`` is the file of sample ``i``.

    >>> import tempfile
    >>> from PIL import Image, ImageDraw
    >>> folder = tempfile.mkdtemp()
    >>> photo = Image.new("RGB", (80, 60), "white")  # a knee-coloured disc on white
    >>> ImageDraw.Draw(photo).ellipse((20, 10, 60, 50), fill=(200, 150, 120))
    >>> photo.save(f"{folder}/knee.png")
    >>> sample = ImageFolderDomain(folder, size=32)[0]
    >>> tuple(sample["image"].shape), 0 < float(sample["mask"].mean()) < 1
    ((3, 32, 32), True)

    Raises:
        FileNotFoundError: ``root`` (or ``mask_root``) is not a
            folder, or an image has no mask.
        ValueError: the folder has no images, or a file cannot be decoded or is too
            large to decode safely (the message names the file; every file is checked
            when the dataset is built); when loading, a mask with no foreground, or an
            image whose border gives none (the message names the file).
    """

    def __init__(
        self, root: str | Path, mask_root: str | Path | None = None, size: int = 256
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"root: expected an existing folder of images, got {str(root)!r}"
            )
        self.size = check_size(size)
        files = sorted(
            p for p in self.root.iterdir() if p.is_file() and not p.name.startswith(".")
        )
        self.paths = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
        skipped = [p.name for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
        if skipped:
            names = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
            warnings.warn(
                f"root: skipping {len(skipped)} file(s) without an image extension "
                f"in {str(self.root)!r}: {names}",
                stacklevel=2,
            )
        if not self.paths:
            raise ValueError(
                f"root: expected image files ({', '.join(IMAGE_EXTENSIONS)}) "
                f"in {str(self.root)!r}, found none"
            )
        self._check_decodable(self.paths)

        self.mask_root = None
        self.mask_paths: list[Path] | None = None
        if mask_root is not None:
            self.mask_root = Path(mask_root)
            if not self.mask_root.is_dir():
                raise FileNotFoundError(
                    "mask_root: expected an existing folder of masks, "
                    f"got {str(mask_root)!r}"
                )
            by_stem = {
                p.stem: p
                for p in sorted(self.mask_root.iterdir())
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            }
            missing = [p.name for p in self.paths if p.stem not in by_stem]
            if missing:
                names = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
                raise FileNotFoundError(
                    "mask_root: expected a mask with the same stem for every image, "
                    f"none in {str(self.mask_root)!r} for {names}"
                )
            self.mask_paths = [by_stem[p.stem] for p in self.paths]
            self._check_decodable(self.mask_paths)

    @staticmethod
    def _check_decodable(paths: Sequence[Path]) -> None:
        from PIL import Image, UnidentifiedImageError

        for path in paths:
            try:
                with Image.open(path) as img:
                    img.verify()
            except Image.DecompressionBombError as error:
                raise ValueError(
                    f"{path}: image too large to decode safely ({error}); "
                    "shrink it first"
                ) from None
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
                raise ValueError(
                    f"{path}: not a readable image ({type(error).__name__}: {error})"
                ) from error

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (
            f"ImageFolderDomain({str(self.root)!r}, size={self.size}, "
            f"{len(self)} images)"
        )

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"index: expected an int, got {type(index).__name__} {index!r}"
            )
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"index: expected an int in [-{len(self)}, {len(self)}), got {index}"
            )
        index = int(index) % len(self)
        from PIL import Image

        pixels = _open_image(
            self.paths[index], "RGB", self.size, Image.Resampling.LANCZOS
        )
        image = torch.from_numpy(pixels).permute(2, 0, 1).float() / 127.5 - 1
        if self.mask_paths is None:
            mask = border_background_mask(image)
        else:
            grey = _open_image(
                self.mask_paths[index], "L", self.size, Image.Resampling.NEAREST
            )
            mask = torch.from_numpy(grey > 127).float().unsqueeze(0)
        return {"image": image, "mask": mask, "index": index}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images and masks, as two float32 tensors.

        Images ``(N, 3, size, size)`` in [-1, 1] and masks ``(N, 1, size, size)``.

        Raises:
            ValueError: a mask without foreground (a black mask file, or a uniform photo
                whose border gives none): training needs some in every image, so it is
                refused here, naming the file, rather than at a random step later.
        """
        samples = [self[i] for i in range(len(self))]
        for index, sample in enumerate(samples):
            if not bool(sample["mask"].any()):
                if self.mask_paths is None:
                    raise ValueError(
                        f"{self.paths[index]}: expected a foreground on a plain light "
                        "or dark background, got none (the image is uniform at "
                        f"{self.size} px); remove it or pass masks (mask_root)"
                    )
                raise ValueError(
                    f"{self.mask_paths[index]}: expected some foreground "
                    f"(pixels above 127) in the mask of {self.paths[index].name}, "
                    f"got none at {self.size} px"
                )
        images = torch.stack([s["image"] for s in samples])
        return images, torch.stack([s["mask"] for s in samples])


# -------------------------------------------------------------------- unpaired sampling


def border_background_mask(
    image: torch.Tensor, *, tolerance: float = 0.07, border: int | None = None
) -> torch.Tensor:
    """Foreground mask of a photo on a plain background, from its border colour.

    The background colour is the per-channel median of a frame of ``border`` pixels
    (default ``max(1, size // 32)``) along the image edges. If it is light
    (mean sRGB above 0.6: white to light-grey studio backgrounds) or dark (below 0.3),
    pixels farther than ``tolerance`` (Euclidean distance in sRGB [0, 1]) from it are
    foreground; then holes in the foreground are filled (a highlight on light skin never
    becomes background) and specks smaller than ~0.1% of the image are dropped. Any
    other background is not separable this way: the whole image is returned as
    foreground, with a warning.

    Args:
        image: ``(3, H, W)`` float in [-1, 1].

    Returns:
        ``(1, H, W)`` float32 in {0, 1}.
    """
    from scipy import ndimage  # a dependency of scikit-image

    check_tensor("image", image, ndims=(3,))
    if image.shape[0] != 3:
        raise ValueError(f"image: expected shape (3, H, W), got {tuple(image.shape)}")
    rgb = ((image.detach().float().cpu() + 1) / 2).clamp(0, 1)
    height, width = rgb.shape[-2:]
    band = border if border is not None else max(1, min(height, width) // 32)
    frame = torch.ones(height, width, dtype=torch.bool)
    frame[band:-band, band:-band] = False
    background = rgb[:, frame].median(dim=1).values
    level = float(background.mean())
    if 0.3 <= level <= 0.6:
        colour = [round(v, 3) for v in background.tolist()]
        warnings.warn(
            f"image: the border colour {colour} is neither light nor dark; "
            "using the whole image as foreground (pass masks instead)",
            stacklevel=2,
        )
        return torch.ones(1, height, width)
    distance = (rgb - background.view(3, 1, 1)).norm(dim=0)
    foreground = ndimage.binary_fill_holes((distance > tolerance).numpy())
    labels, count = ndimage.label(foreground)
    if count:
        areas = ndimage.sum(foreground, labels, index=np.arange(1, count + 1))
        keep = np.concatenate([[False], areas >= 0.001 * height * width])
        foreground = keep[labels]
    return torch.from_numpy(foreground).float().unsqueeze(0)
