"""Data: procedurally rendered knees, folders of real photos, unpaired batch sampling.

Three pieces, all producing the same sample format (the renderer behind the synthetic
knees lives in :mod:`kdehist.knees`; its public names are re-exported here):

``SyntheticKnees``
    A stand-in for the paper's data that needs no download. Domain ``"sim"`` (X)
    imitates a 3D viewer's render of an MRI-derived knee surface; domain ``"real"`` (Y)
    imitates a product photo of a bare knee, with a skin tone drawn across the Monk Skin
    Tone scale. Both domains share one geometry model, so ``render_real`` can re-render
    the *pose of a simulator image* in the photographic style: the oracle that chapter
    10 uses as the ceiling of shape and colour fidelity. Splits have the paper's sizes:
    sim 438 train / 28 test, real 477 train / 28 test.

``ImageFolderDomain``
    Your own images (for example the paper's knee crops), read from a folder.

``UnpairedLoader``
    Independent, seeded, resumable shuffling of two domains held in memory,
    with a reference image per sample (never the sample itself) and
    colour-preserving augmentation.

Sample format
-------------
Every dataset here returns a dict that
:func:`torch.utils.data.default_collate` can batch:

- ``"image"``: ``(3, H, W)`` float32 sRGB in [-1, 1];
- ``"mask"``: ``(1, H, W)`` float32 in {0, 1}, 1 on the foreground (the visible leg);
- ``"index"``: int, the position in the dataset;
- synthetic knees add ``"pose"`` (a dict of floats, see ``sample_pose``); real-style
  ones also ``"tone_srgb"`` and ``"tone_lab"`` (``(3,)`` float32: the skin albedo as
  sRGB in [0, 1] and as CIE L*a*b*, D65), ``"tone_position"`` (float in [0, 1] along the
  Monk scale) and ``"appearance"`` (a dict of floats, see ``sample_appearance``).

Folder layout for real data
---------------------------
:class:`ImageFolderDomain` reads the image files directly inside one folder (not its
sub-folders), sorted by name. Keep one folder per domain and split, for example::

    data/
      sim/train/*.png      sim/test/*.png
      real/train/*.jpg     real/test/*.jpg
      real_masks/train/*.png   (optional: one mask per photo, same stem,
                                white = foreground)

and build ``ImageFolderDomain("data/real/train", mask_root="data/real_masks/train")``. A
flat folder works just as well. Accepted extensions: .png, .jpg, .jpeg, .bmp, .webp
(any case). Images are centre-cropped to a square and resized to ``size``. Without
masks, the foreground is estimated from the border colour
(:func:`border_background_mask`).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ._checks import check_choice, check_device, check_positive_int, check_tensor
from .io import atomic_write_bytes, png_bytes
from .knees import (  # the renderer; its public names are re-exported
    GARMENT_PROBABILITY,
    MAX_SIZE,
    MIN_SIZE,
    MONK_SKIN_TONES,
    RENDER_VERSION,
    SIM_BACKGROUND,
    SIM_MATERIAL,
    _as_float,
    _batch_length,
    _check_size,
    _render_batch,
    _srgb_to_lab,
    default_appearance,
    monk_tone,
    render_real,
    render_sim,
    sample_appearance,
    sample_pose,
)


__all__ = [
    "DOMAINS",
    "SPLITS",
    "SPLIT_SIZES",
    "MIN_SIZE",
    "MAX_SIZE",
    "MONK_SKIN_TONES",
    "SIM_MATERIAL",
    "SIM_BACKGROUND",
    "GARMENT_PROBABILITY",
    "monk_tone",
    "sample_seed",
    "sample_pose",
    "sample_appearance",
    "default_appearance",
    "render_sim",
    "render_real",
    "SyntheticKnees",
    "ImageFolderDomain",
    "border_background_mask",
    "UnpairedLoader",
]


DOMAINS = ("sim", "real")
SPLITS = ("train", "test")
# The paper's splits (section "Data and protocol").
SPLIT_SIZES = {"sim": {"train": 438, "test": 28}, "real": {"train": 477, "test": 28}}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


# ----------------------------------------------------------------------------- seeds


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__} {seed!r}")
    return seed


def _stable_hash(*parts) -> int:
    """A 63-bit integer from the parts' text; identical on every machine and Python run
    (unlike ``hash()``), so that seeds derived from it are reproducible."""
    text = "|".join(str(part) for part in parts).encode("utf-8")
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def sample_seed(seed: int, domain: str, split: str, index: int) -> int:
    """The seed of one synthetic sample, a 63-bit int hashed from all four arguments.

    Hashing (rather than, say, ``seed + index``) keeps train and test, the two domains
    and neighbouring global seeds from ever sharing a sample.
    """
    return _stable_hash("kdehist.data.SyntheticKnees", seed, domain, split, index)


# -------------------------------------------------------------------- synthetic dataset


class SyntheticKnees(Dataset):
    """Procedurally rendered knees in the simulator or photographic style.

    Every sample is a pure function of ``(domain, split, index, size, seed)``: its pose
    (and, for ``"real"``, tone and appearance) come from a generator seeded with
    :func:`sample_seed`, so train and test never share a sample. See the module
    docstring for the sample dict.

    Geometry (both domains): a thigh and a shin (tapered round cones) meeting at a knee
    flexed 0-45 degrees, with femoral condyles, a kneecap bump, a tibial tuberosity and
    a calf, turned +-35 degrees about the vertical, scaled, shifted and rotated in the
    image plane; ray-cast orthographically, so shading carries the shape.

    - ``"sim"`` (X): a 3D viewer's render of an MRI-derived surface: one neutral
      material (``SIM_MATERIAL``), Lambert plus ambient shading from a fixed
      light, dark uniform background.
    - ``"real"`` (Y): a product photo: skin tone drawn uniformly along the Monk Skin
      Tone scale (Monk 2019; Google's Monk Skin Tone Scale, swatches f6ede4 ... 292420,
      interpolated), exposure variation, soft key and fill light with wrapped diffuse, a
      subtle specular sheen, skin texture and sensor noise, a near-white studio
      background with a soft shadow and vignette, and in a quarter of the images a
      garment hem at the top (which the mask excludes).

    Args:
        domain: ``"sim"`` or ``"real"`` (default ``"sim"``).
        split: ``"train"`` or ``"test"`` (default ``"train"``); sizes are the
            paper's, see ``SPLIT_SIZES``.
        size: image side in pixels, 32 to 512 (default 256).
        seed: int (default 0); a different seed gives a different dataset.
        cache_dir: optional folder for a PNG cache (written atomically, safe
            to share between processes); images are 8-bit, so cached and
            fresh samples are identical.
    """

    def __init__(
        self,
        domain: str = "sim",
        split: str = "train",
        size: int = 256,
        seed: int = 0,
        cache_dir: str | Path | None = None,
    ):
        self.domain = check_choice("domain", domain, DOMAINS)
        self.split = check_choice("split", split, SPLITS)
        self.size = _check_size(size)
        self.seed = _check_seed(seed)
        self.cache_dir = None
        if cache_dir is not None:
            self.cache_dir = (
                Path(cache_dir)
                / f"knees-v{RENDER_VERSION}"
                / f"{domain}-{split}-seed{seed}-{size}px"
            )

    def __len__(self) -> int:
        return SPLIT_SIZES[self.domain][self.split]

    def __repr__(self) -> str:
        return (
            f"SyntheticKnees(domain={self.domain!r}, split={self.split!r}, "
            f"size={self.size}, seed={self.seed}, {len(self)} images)"
        )

    def _index(self, index) -> int:
        if isinstance(index, torch.Tensor) and index.numel() == 1:
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"index: expected an int, got {type(index).__name__} {index!r}"
            )
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"index: expected an int in [-{len(self)}, {len(self)}), got {index}"
            )
        return index % len(self)

    def _draws(self, index: int):
        generator = torch.Generator().manual_seed(
            sample_seed(self.seed, self.domain, self.split, index)
        )
        pose = sample_pose(generator)
        if self.domain == "sim":
            return pose, None, None
        position = float(torch.rand(1, generator=generator, dtype=torch.float64))
        return pose, position, sample_appearance(generator)

    def pose(self, index: int) -> dict[str, float]:
        """The pose of sample ``index`` (a dict of floats); cheap, nothing is rendered.
        ``render_real(sim.pose(i), tone)`` is the oracle for simulator image ``i``."""
        return self._draws(self._index(index))[0]

    def tone_position(self, index: int) -> float:
        """Monk-scale position in [0, 1] of real sample ``index``."""
        self._require_real("tone_position")
        return self._draws(self._index(index))[1]

    def appearance(self, index: int) -> dict[str, float]:
        """Lighting, background and texture of real sample ``index`` (see
        ``sample_appearance``)."""
        self._require_real("appearance")
        return self._draws(self._index(index))[2]

    def _require_real(self, what: str) -> None:
        if self.domain != "real":
            raise ValueError(
                f"{what}: only the 'real' domain has one, "
                f"this dataset's domain is {self.domain!r}"
            )

    def metadata(self, index: int) -> dict:
        """The sample dict without ``"image"`` and ``"mask"``."""
        index = self._index(index)
        pose, position, look = self._draws(index)
        meta = {"index": index, "pose": pose}
        if self.domain == "real":
            tone = monk_tone(position)
            meta.update(
                tone_srgb=tone,
                tone_lab=_srgb_to_lab(tone),
                tone_position=position,
                appearance=look,
            )
        return meta

    def _cache_paths(self, index: int) -> tuple[Path, Path]:
        return (
            self.cache_dir / f"{index:04d}.png",
            self.cache_dir / f"{index:04d}-mask.png",
        )

    def _read_cache(self, index: int):
        from PIL import Image

        image_path, mask_path = self._cache_paths(index)
        if not (image_path.is_file() and mask_path.is_file()):
            return None
        try:
            with Image.open(image_path) as img:
                image = (
                    torch.from_numpy(np.array(img.convert("RGB")))
                    .permute(2, 0, 1)
                    .contiguous()
                )
            with Image.open(mask_path) as img:
                mask = torch.from_numpy(np.array(img.convert("L")) > 127)
        except (OSError, ValueError, SyntaxError):
            return None  # a damaged cache entry is simply rendered again
        if image.shape[-1] != self.size or mask.shape[-1] != self.size:
            return None
        return image, mask

    def _render_uncached(
        self, indices: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        draws = [self._draws(index) for index in indices]
        poses = [pose for pose, _, _ in draws]
        if self.domain == "sim":
            return _render_batch("sim", poses, self.size)
        tones = torch.stack([monk_tone(position) for _, position, _ in draws])
        looks = [look for _, _, look in draws]
        return _render_batch(
            "real", poses, self.size, tones, looks, [True] * len(indices)
        )

    def _render(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images ``(N, 3, H, W)`` and bool masks ``(N, H, W)``, from the cache
        when possible; whatever is rendered is written to the cache.
        """
        images = torch.empty(len(indices), 3, self.size, self.size, dtype=torch.uint8)
        masks = torch.empty(len(indices), self.size, self.size, dtype=torch.bool)
        missing = []
        for row, index in enumerate(indices):
            cached = self._read_cache(index) if self.cache_dir is not None else None
            if cached is None:
                missing.append(row)
            else:
                images[row], masks[row] = cached
        step = _batch_length(self.size)
        for start in range(0, len(missing), step):
            rows = missing[start : start + step]
            rendered_images, rendered_masks = self._render_uncached(
                [indices[row] for row in rows]
            )
            for row, image, mask in zip(rows, rendered_images, rendered_masks):
                images[row], masks[row] = image, mask
                if self.cache_dir is not None:
                    image_path, mask_path = self._cache_paths(indices[row])
                    atomic_write_bytes(
                        image_path,
                        png_bytes(image.permute(1, 2, 0).numpy(), compress_level=1),
                    )
                    atomic_write_bytes(
                        mask_path,
                        png_bytes(
                            mask.numpy().astype(np.uint8) * 255, compress_level=1
                        ),
                    )
        return images, masks

    def __getitem__(self, index: int) -> dict:
        index = self._index(index)
        images, masks = _as_float(*self._render([index]))
        return {"image": images[0], "mask": masks[0], **self.metadata(index)}

    def tensors(self, indices: Sequence[int] | None = None, progress: bool = False):
        """The whole split (or ``indices``) as two tensors, for training from memory.

        Rendering is batched (all 971 images of both domains at 256 px take well under a
        minute on two CPU cores; see ``benchmarks/data.py``).

        Returns:
            ``images`` ``(N, 3, size, size)`` float32 in [-1, 1] and ``masks``
            ``(N, 1, size, size)`` float32 in {0, 1}. At 256 px a full train split takes
            about 0.45 GB (sim) to 0.5 GB (real), masks included.
        """
        indices = (
            list(range(len(self)))
            if indices is None
            else [self._index(i) for i in indices]
        )
        chunks = [indices[i : i + 64] for i in range(0, len(indices), 64)]
        if progress:
            from tqdm.auto import tqdm

            chunks = tqdm(
                chunks, desc=f"{self.domain}/{self.split} {self.size}px", leave=False
            )
        images = torch.empty(len(indices), 3, self.size, self.size)
        masks = torch.empty(len(indices), 1, self.size, self.size)
        row = 0
        for chunk in chunks:
            chunk_images, chunk_masks = _as_float(*self._render(chunk))
            images[row : row + len(chunk)], masks[row : row + len(chunk)] = (
                chunk_images,
                chunk_masks,
            )
            row += len(chunk)
        return images, masks


# -------------------------------------------------------------------- folders of images


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
        self.size = _check_size(size)
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


class UnpairedLoader:
    """Unpaired batches of two domains held in memory, deterministic and resumable.

    Each domain is shuffled independently: sample ``k`` of domain ``d``'s stream is
    entry ``k % N_d`` of a permutation seeded by ``(seed, d, k // N_d)``, and step ``t``
    takes stream samples ``t*batch_size ... (t+1)*batch_size - 1`` of both domains. A
    batch is therefore a pure function of ``(seed, step)``: to resume from a checkpoint,
    save the step and call :meth:`batches` with ``start_step``
    (``state_dict``/``load_state_dict`` wrap this). References come from the same
    domain's other images (never the sample itself). Augmentation keeps colour: a
    horizontal flip and an integer translation of up to ``max_shift`` pixels (edges
    replicated), applied identically to image and mask; no colour jitter.

    Args:
        x_images, x_masks: domain X, ``(N_x, 3, H, W)`` float in [-1, 1] and
            ``(N_x, 1, H, W)`` float in {0, 1}; N_x >= 2 (a reference must differ).
        y_images, y_masks: domain Y, likewise, with images of domain X's ``H, W``.
        batch_size: samples per batch (default 1).
        seed: int (default 0).
        both: also yield ``x_ref`` and ``x_ref_mask`` (default False).
        augment: apply flips and shifts (default True).
        max_shift: largest translation in pixels, less than the image's smaller
            side (default ``H // 16``; 0 disables it).
        device: where batches go (default: wherever the tensors are); a CUDA device
            must be available.

    Each batch is a dict of ``(B, 3, H, W)`` images and ``(B, 1, H, W)`` masks: ``x``,
    ``x_mask``, ``y``, ``y_mask``, ``y_ref``, ``y_ref_mask`` (and ``x_ref``,
    ``x_ref_mask`` when ``both``), plus ``x_index``, ``y_index``, ``x_ref_index``,
    ``y_ref_index`` (int64 ``(B,)``, rows of the input tensors) and ``step`` (int).
    """

    def __init__(
        self,
        x_images: torch.Tensor,
        x_masks: torch.Tensor,
        y_images: torch.Tensor,
        y_masks: torch.Tensor,
        *,
        batch_size: int = 1,
        seed: int = 0,
        both: bool = False,
        augment: bool = True,
        max_shift: int | None = None,
        device: str | torch.device | None = None,
    ):
        self._domains = {
            "x": self._check_domain("x", x_images, x_masks),
            "y": self._check_domain("y", y_images, y_masks),
        }
        height, width = x_images.shape[-2:]
        if tuple(y_images.shape[-2:]) != (height, width):
            raise ValueError(
                f"y_images: expected images of {height} x {width} pixels like "
                "x_images (a step translates each domain into the other), "
                f"got {y_images.shape[-2]} x {y_images.shape[-1]}"
            )
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = _check_seed(seed)
        self.both = bool(both)
        self.augment = bool(augment)
        if max_shift is None:
            max_shift = height // 16
        else:
            max_shift = check_positive_int("max_shift", max_shift, minimum=0)
            if max_shift >= min(height, width):
                # a shift by a whole side would leave only replicated edge pixels
                raise ValueError(
                    f"max_shift: expected at most {min(height, width) - 1} pixels "
                    f"(less than the side of the {height} x {width} images), "
                    f"got {max_shift}"
                )
        self.max_shift = max_shift
        self.device = (
            None
            if device is None
            else check_device(
                "device",
                device,
                advice="; pass device='cpu', or None to keep the tensors' device",
            )
        )
        self.step = 0  # the next step that iterating the loader yields
        self._permutations: OrderedDict = OrderedDict()

    @staticmethod
    def _check_domain(name: str, images, masks) -> tuple[torch.Tensor, torch.Tensor]:
        # NaN or inf would reach the networks and the histograms unnoticed: refused
        # here once (a single pass over the set) rather than at every step.
        check_tensor(f"{name}_images", images, ndims=(4,))
        check_tensor(f"{name}_masks", masks, ndims=(4,))
        if images.shape[1] != 3:
            raise ValueError(
                f"{name}_images: expected shape (N, 3, H, W), got {tuple(images.shape)}"
            )
        expected = (images.shape[0], 1, *images.shape[-2:])
        if tuple(masks.shape) != expected:
            raise ValueError(
                f"{name}_masks: expected shape {expected} to match {name}_images, "
                f"got {tuple(masks.shape)}"
            )
        if images.shape[0] < 2:
            raise ValueError(
                f"{name}_images: expected at least 2 images "
                f"(a reference must be another image), got {images.shape[0]}"
            )
        if masks.device != images.device:
            raise ValueError(
                f"{name}_masks: expected the device of {name}_images "
                f"({images.device}), got {masks.device}"
            )
        return images, masks

    def __len__(self) -> int:
        """Steps per epoch: every image of the larger domain appears once."""
        largest = max(images.shape[0] for images, _ in self._domains.values())
        return math.ceil(largest / self.batch_size)

    def _permutation(self, domain: str, epoch: int) -> torch.Tensor:
        key = (domain, epoch)
        if key not in self._permutations:
            count = self._domains[domain][0].shape[0]
            seed = _stable_hash("kdehist.UnpairedLoader.perm", self.seed, domain, epoch)
            generator = torch.Generator().manual_seed(seed)
            self._permutations[key] = torch.randperm(count, generator=generator)
            # batches straddle at most two epochs per domain
            while len(self._permutations) > 8:
                self._permutations.popitem(last=False)
        return self._permutations[key]

    def _stream(self, domain: str, step: int) -> torch.Tensor:
        count = self._domains[domain][0].shape[0]
        positions = range(step * self.batch_size, (step + 1) * self.batch_size)
        return torch.tensor(
            [int(self._permutation(domain, k // count)[k % count]) for k in positions]
        )

    def _augment(
        self, images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator
    ):
        if not self.augment:
            return images, masks
        stacked = torch.cat([images, masks], dim=1)  # one transform for image and mask
        count, _, height, width = stacked.shape
        flips = torch.rand(count, generator=generator) < 0.5
        shifts = torch.randint(
            -self.max_shift, self.max_shift + 1, (count, 2), generator=generator
        )
        stacked = torch.where(
            flips.to(stacked.device).view(-1, 1, 1, 1), stacked.flip(-1), stacked
        )
        if self.max_shift > 0:
            pad = self.max_shift
            padded = F.pad(stacked, (pad, pad, pad, pad), mode="replicate")
            stacked = torch.stack(
                [
                    padded[
                        i,
                        :,
                        pad - int(dy) : pad - int(dy) + height,
                        pad - int(dx) : pad - int(dx) + width,
                    ]
                    for i, (dy, dx) in enumerate(shifts)
                ]
            )
        return stacked[:, :3], stacked[:, 3:]

    def batch(self, step: int) -> dict:
        """The batch of ``step`` (an int >= 0); the same step
        always gives the same batch.
        """
        step = check_positive_int("step", step, minimum=0)
        generator = torch.Generator().manual_seed(
            _stable_hash("kdehist.UnpairedLoader.draws", self.seed, step)
        )
        out: dict = {"step": step}
        for domain in ("x", "y"):
            images, masks = self._domains[domain]
            count = images.shape[0]
            index = self._stream(domain, step)
            # An offset in [1, N-1] can never map an image onto itself.
            ref_index = (
                index + torch.randint(1, count, index.shape, generator=generator)
            ) % count
            wanted = [(domain, index)]
            if domain == "y" or self.both:
                wanted.append((f"{domain}_ref", ref_index))
            for key, rows in wanted:
                device_rows = rows.to(images.device)
                image, mask = self._augment(
                    images[device_rows], masks[device_rows], generator
                )
                if self.device is not None:
                    image = image.to(self.device, non_blocking=True)
                    mask = mask.to(self.device, non_blocking=True)
                out[key], out[f"{key}_mask"], out[f"{key}_index"] = image, mask, rows
        return out

    def batches(
        self, start_step: int = 0, num_steps: int | None = None
    ) -> Iterator[dict]:
        """Batches for steps ``start_step, start_step + 1, ...``
        (forever when ``num_steps`` is None).
        """
        step = check_positive_int("start_step", start_step, minimum=0)
        end = (
            None
            if num_steps is None
            else step + check_positive_int("num_steps", num_steps, minimum=0)
        )
        while end is None or step < end:
            yield self.batch(step)
            step += 1

    def __iter__(self) -> Iterator[dict]:
        """One epoch (``len(self)`` steps) from :attr:`step`,
        advancing it as batches are taken.
        """
        for _ in range(len(self)):
            batch = self.batch(self.step)
            self.step += 1
            yield batch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "step": self.step}

    def load_state_dict(self, state: Mapping) -> None:
        if int(state["seed"]) != self.seed:
            raise ValueError(
                f"state: expected seed {self.seed} to resume this loader, "
                f"got {state['seed']}"
            )
        self.step = check_positive_int("state['step']", int(state["step"]), minimum=0)
