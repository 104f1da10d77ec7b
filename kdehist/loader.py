"""A run's training data: each domain's training split in memory, and the batches.

The synthetic knees are rendered once per process and kept (chunked training calls
:func:`load_training_data` again for each chunk); folders of photos are read with
:class:`kdehist.data.ImageFolderDomain`. :func:`make_loader` wraps them in the seeded
:class:`kdehist.data.UnpairedLoader`, whose batch ``t`` is a pure function of
``(seed, t)``: what makes resuming exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from .config import TrainConfig
from .data import ImageFolderDomain, SyntheticKnees, UnpairedLoader
from .models import VARIANT_SPECS

__all__ = [
    "DomainTensors",
    "check_data_folders",
    "load_training_data",
    "make_loader",
    "read_training_data",
]


class DomainTensors(NamedTuple):
    """One domain's training images in memory: ``images`` ``(N, 3, H, W)`` in
    ``[-1, 1]`` and foreground ``masks`` ``(N, 1, H, W)`` in ``{0, 1}``."""

    images: torch.Tensor
    masks: torch.Tensor


# The last synthetic training set read, by (image_size, max_images): chunked training
# (train(..., stop_at=...) called repeatedly, as kdehist.reproduce does) renders it
# once.
_synthetic_cache: dict[tuple[int, int | None], tuple[DomainTensors, DomainTensors]] = {}


def load_training_data(
    config: TrainConfig, progress: bool = False
) -> tuple[DomainTensors, DomainTensors]:
    """The training split of each domain at ``config.image_size``, kept in memory.

    >>> from kdehist.config import TrainConfig
    >>> sim, real = load_training_data(TrainConfig.from_profile("smoke"))
    >>> tuple(sim.images.shape), tuple(real.masks.shape)  # max_images 8, 32 px
    ((8, 3, 32, 32), (8, 1, 32, 32))

    The synthetic knees of :class:`kdehist.data.SyntheticKnees` (a pure function of
    their arguments: kept in memory for the next call), or the folders
    ``config.data_x`` and ``config.data_y`` read with
    :class:`kdehist.data.ImageFolderDomain`. Only the first ``config.max_images``
    images of each domain when that is set. ``progress`` shows a bar while rendering.

    Raises:
        FileNotFoundError: a data or mask folder is missing (the message names the
            field).
    """
    check_data_folders(config)
    return read_training_data(config, progress)


def read_training_data(
    config: TrainConfig, progress: bool
) -> tuple[DomainTensors, DomainTensors]:
    """:func:`load_training_data` once :func:`check_data_folders` has passed (train
    checks the folders before any work, then reads them here)."""
    if config.data_x is None:
        key = (config.image_size, config.max_images)
        if key not in _synthetic_cache:
            _synthetic_cache.clear()  # one set at a time: a 256 px one is about 1 GB
            domains = []
            for domain in ("sim", "real"):
                source = SyntheticKnees(domain, "train", size=config.image_size)
                count = (
                    len(source)
                    if config.max_images is None
                    else min(config.max_images, len(source))
                )
                domains.append(
                    DomainTensors(*source.tensors(range(count), progress=progress))
                )
            _synthetic_cache[key] = (domains[0], domains[1])
        return _synthetic_cache[key]
    domains = []
    for name in ("data_x", "data_y"):
        source = ImageFolderDomain(
            getattr(config, name),
            getattr(config, f"{name}_masks"),
            size=config.image_size,
        )
        images, masks = source.tensors()
        domains.append(
            DomainTensors(images[: config.max_images], masks[: config.max_images])
        )
    return domains[0], domains[1]


def check_data_folders(config: TrainConfig) -> None:
    """Fail early, naming the field, when a configured data or mask folder does not
    exist."""
    for name in ("data_x", "data_y", "data_x_masks", "data_y_masks"):
        folder = getattr(config, name)
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(
                f"{name}: expected an existing folder of images, got {folder!r}"
            )


def make_loader(
    config: TrainConfig, data: tuple[DomainTensors, DomainTensors], device: torch.device
) -> UnpairedLoader:
    """The :class:`kdehist.data.UnpairedLoader` of a run: batch ``t`` is a pure function
    of ``(seed, t)``, which is what makes resuming exact. ``x_ref`` is drawn only when
    ``F`` is conditioned."""
    # The whole set moves to the device once (at most ~1 GB at 256 px), so that batches
    # are gathered and augmented there rather than copied over every step.
    (x, mask_x), (y, mask_y) = (tuple(t.to(device) for t in domain) for domain in data)
    both = VARIANT_SPECS[config.variant].condition_F
    return UnpairedLoader(
        x, mask_x, y, mask_y, batch_size=config.batch_size, seed=config.seed, both=both
    )
