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
from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ._checks import check_choice, check_device, check_positive_int, check_tensor
from .io import atomic_write_bytes, png_bytes
from .folders import (  # folders of photos; re-exported
    IMAGE_EXTENSIONS,
    ImageFolderDomain,
    border_background_mask,
    pil_to_uint8,
)
from .knees import (  # the renderer; its public names are re-exported
    GARMENT_PROBABILITY,
    MAX_SIZE,
    MIN_SIZE,
    MONK_SKIN_TONES,
    RENDER_VERSION,
    SIM_BACKGROUND,
    SIM_MATERIAL,
    as_float,
    batch_length,
    check_size,
    render_batch,
    srgb_to_lab,
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
    "IMAGE_EXTENSIONS",
    "border_background_mask",
    "pil_to_uint8",
    "UnpairedLoader",
]


DOMAINS = ("sim", "real")
#: ``"val"`` is the validation split: every choice (a weight, an attempt, a run to
#: show) is made on it, and the test split is scored after choosing.
SPLITS = ("train", "test", "val")
# The paper's splits (section "Data and protocol").
SPLIT_SIZES = {
    "sim": {"train": 438, "test": 28, "val": 28},
    "real": {"train": 477, "test": 28, "val": 28},
}


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
        self.size = check_size(size)
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
                tone_lab=srgb_to_lab(tone),
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
            return render_batch("sim", poses, self.size)
        tones = torch.stack([monk_tone(position) for _, position, _ in draws])
        looks = [look for _, _, look in draws]
        return render_batch(
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
        step = batch_length(self.size)
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
        images, masks = as_float(*self._render([index]))
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
            chunk_images, chunk_masks = as_float(*self._render(chunk))
            images[row : row + len(chunk)], masks[row : row + len(chunk)] = (
                chunk_images,
                chunk_masks,
            )
            row += len(chunk)
        return images, masks


# -------------------------------------------------------------------- folders of images


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
