r"""Training the four variants: configuration, losses (eq. 7–11), the loop, checkpoints.

Quick start::

    from kdehist.train import TrainConfig, train, load_generators

    config = TrainConfig.from_profile("cpu", variant="proposed_both")
    result = train(config, "runs/proposed_both")        # resumes if interrupted
    G, F, config = load_generators(result.checkpoint)   # eval mode, ready to translate

or ``python -m kdehist train --variant proposed_both --profile cpu --out runs/proposed_both``.

**Losses.** The generators minimise eq. (7),

.. math:: \lambda_{gan} L_{gan} + \lambda_{cycle} L_{cycle}
          + \lambda_{cycle}\lambda_{idt} L_{idt} + \lambda_{hist} L_{hist},

with :math:`L_{gan}` the least-squares GAN loss by default (as the CycleGAN reference;
``gan_mode="vanilla"`` gives the paper's log-loss, eq. 9), :math:`L_{cycle}` and
:math:`L_{idt}` the L1 losses of eq. (10) and (11), and :math:`L_{hist}` eq. (6) summed over
the conditioned generators. **Identity weight convention**: as in the reference, the
identity weight is ``lambda_cycle * lambda_idt`` (default 10 × 0.5 = 5), not ``lambda_idt``
alone. Each discriminator minimises half the sum of its real and fake losses (reference).

**Colour references during training.** Each batch of :class:`kdehist.data.UnpairedLoader`
holds unpaired ``x`` (sim) and ``y`` (real) and references ``y_ref`` (another real image
than ``y``) and, when ``F`` is conditioned, ``x_ref``. ``G`` translates ``x`` conditioned on
``y_ref``'s histogram and ``F`` translates ``y`` conditioned on ``x_ref``'s. Each cycle
returns to its own colours: ``F(G(x))`` is conditioned on ``x``'s histogram and ``G(F(y))``
on ``y``'s, and so are the identity terms ``F(x)`` and ``G(y)``. Histograms are
:func:`kdehist.soft_histogram` with foreground masks: a reference's with its own mask, a
generated image's with the mask of the input it was made from.

**Optimisation** (reference): Adam, lr 2e-4, betas (0.5, 0.999), one optimiser for both
generators and one for both discriminators; the learning rate is constant, then decays
linearly towards 0 from ``decay_start`` to ``steps``; discriminators see fakes through a
history pool of 50 images. Autocast (``autocast="auto"``): bfloat16 on CPUs with native
bf16 kernels and float32 on others (bf16 emulation is many times slower), bfloat16 on
recent GPUs and float16 with a gradient scaler on older ones. Never ``channels_last``
(its InstanceNorm backward is broken on some builds, and it was slower on CPU).

**Outputs** in ``out_dir``: ``config.json``; ``checkpoint.pt`` (everything needed to resume
exactly, loadable with ``torch.load(weights_only=True)``), rewritten atomically every
``checkpoint_every`` steps, at the end and on Ctrl-C, with the one before it kept as
``checkpoint.prev.pt`` (a resume falls back to it, with a warning, when ``checkpoint.pt`` is
missing or damaged); ``metrics.jsonl``, one JSON object per logged step (a line cut short
by a kill is dropped with a warning); ``samples/step_NNNNNN.png`` grids of translations.
A NaN or infinite loss stops training with :class:`NonFiniteLossError`, naming the step;
nothing non-finite is ever saved.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as nnf
from torch import nn

from ._checks import _describe, check_choice, check_positive_float, check_positive_int
from .knees import MAX_SIZE, MIN_SIZE
from .histogram import soft_histogram
from .io import CheckpointError, _atomic_write, atomic_torch_save, atomic_write_bytes, atomic_write_json, load_checkpoint
from .losses import LOSS_KINDS, histogram_loss
from .models import CONDITIONS, VARIANT_SPECS, VARIANTS, CycleGAN, ResnetGenerator, build_cyclegan
from .profiles import PROFILE_SETTINGS, PROFILES, default_device  # PROFILE_SETTINGS: re-exported

GAN_MODES = ("lsgan", "vanilla")
AUTOCAST_MODES = ("auto", "bf16", "fp16", "none")
CHECKPOINT_NAME = "checkpoint.pt"
#: The checkpoint before the last one: kept by every save, used when ``checkpoint.pt`` is
#: missing (a kill between the two renames of a save) or damaged.
PREVIOUS_CHECKPOINT_NAME = "checkpoint.prev.pt"
#: Where a damaged ``checkpoint.pt`` is moved when a resume falls back to the previous one.
DAMAGED_CHECKPOINT_NAME = "checkpoint.damaged.pt"
METRICS_NAME = "metrics.jsonl"
CHECKPOINT_FORMAT = 1
_CHECKPOINT_KEYS = ("config", "step", "nets", "opt_G", "opt_D", "pool_X", "pool_Y", "loader", "scaler", "torch_rng")
_RESUME_ADVICE = "delete it, or start over with resume=False (--restart on the command line)"

#: The mask folder of each image folder (a mask folder needs its image folder).
_MASK_FOLDERS = {"data_x_masks": "data_x", "data_y_masks": "data_y"}
# Fields that change only the bookkeeping, not the weights: they may differ on resume.
# Data folders may move between machines (e.g. a Colab Drive mount). ``threads`` is not
# one: 1 and 2 CPU threads give different weights.
_BOOKKEEPING = ("profile", "device", "checkpoint_every", "sample_every", "log_every", "data_x", "data_y",
                "data_x_masks", "data_y_masks", "data_cache")


class NonFiniteLossError(FloatingPointError):
    """Training diverged: a loss or a weight became NaN or infinite. Nothing non-finite was
    saved; the message names the step and the last good checkpoint."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during :func:`train`: the step in progress was finished and saved.

    Attributes:
        step: the step reached and saved.
        checkpoint: the checkpoint written at that step.
    """

    def __init__(self, step: int, checkpoint: Path):
        super().__init__(f"interrupted: saved step {step} to {checkpoint}; run the same command again to resume")
        self.step, self.checkpoint = step, checkpoint


# --------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """Everything that defines a training run. Build it from a named profile::

        TrainConfig.from_profile("cpu", variant="proposed_one", lambda_hist=20.0)

    Profiles (:data:`kdehist.profiles.PROFILE_SETTINGS`): ``"smoke"`` (32², seconds, for tests), ``"cpu"`` (64²,
    the book's committed results: 500 steps in float32 on two threads, 15–25 min per model
    on a 2-core CPU), ``"gpu"`` (128², a Colab T4/L4 run; its timings are estimates) and
    ``"paper"`` (256², 200 epochs: the CycleGAN reference's default, since the paper does
    not state its training length). The defaults below are the ``"cpu"`` profile's, except
    ``autocast`` and ``threads``, which that profile pins.

    Attributes:
        variant: ``"cyclegan"``, ``"cyclegan_sn"``, ``"proposed_one"`` or ``"proposed_both"``.
        profile: the profile this config came from (a label; it changes nothing itself).
        data_x, data_y: folders of domain X (sim) and Y (real) training images, read with
            :class:`kdehist.data.ImageFolderDomain`; both ``None`` (default) for the
            synthetic knee datasets of :mod:`kdehist.data`.
        data_x_masks, data_y_masks: optional folders of foreground masks for those images
            (same file stems); without them masks are estimated from the border colour.
        data_cache: folder for the synthetic datasets' PNG cache (``None``: render each
            time; rendering the 915 training images at 64² takes under a minute).
        max_images: use only the first ``max_images`` training images of each domain
            (``None``: all).
        image_size: side of the square images, a multiple of 4, large enough for the
            discriminator (``>= 3 · 2**n_layers``). Default 64.
        ngf, n_blocks: generator width and residual blocks. Defaults 32, 6.
        ndf, n_layers: discriminator width and stride-2 layers. Defaults 64, 3 (70×70).
        hist_bins: bins per channel of the histograms (conditioning and loss). Default 32.
        condition: ``"film"`` (default), ``"concat"`` or ``"concat_norm"`` (the trap).
        hist_loss: ``"l2"`` (eq. 6, default), ``"emd"`` or ``"hellinger"``.
        batch_size: images per domain per step. Default 4.
        steps: optimisation steps (one generator and one discriminator update each).
        decay_start: step at which the linear learning-rate decay to 0 begins.
        lr, betas: Adam's. Defaults 2e-4, (0.5, 0.999).
        pool_size: fake-image history shown to the discriminators; 0 disables. Default 50.
        gan_mode: ``"lsgan"`` (default, reference) or ``"vanilla"`` (the paper's eq. 9).
        lambda_gan, lambda_cycle, lambda_idt, lambda_hist: loss weights of eq. (7).
            Defaults 1, 10, 0.5 (identity weight = lambda_cycle · lambda_idt = 5) and 10.
            ``lambda_hist`` applies only to conditioned generators.
        seed: seeds the weights, the batch order and the pool. Default 0.
        autocast: ``"auto"`` (default: bf16 on CPUs with native bf16 kernels, AVX-512 BF16
            or AMX, else float32; bf16 on CUDA GPUs of compute capability 8+, fp16 with a
            gradient scaler on older ones), ``"bf16"``, ``"fp16"`` (CUDA only) or ``"none"``.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: CPU threads for torch during training (``None``: leave torch's setting).
            On a small shared CPU, 1 thread can be several times faster than 2: with
            another busy process, threads wait for each other at every operation.
        checkpoint_every, sample_every, log_every: periods in steps.
    """

    variant: str = "proposed_both"
    profile: str = "cpu"
    data_x: str | None = None
    data_y: str | None = None
    data_x_masks: str | None = None
    data_y_masks: str | None = None
    data_cache: str | None = None
    max_images: int | None = None
    image_size: int = 64
    ngf: int = 32
    n_blocks: int = 6
    ndf: int = 64
    n_layers: int = 3
    hist_bins: int = 32
    condition: str = "film"
    hist_loss: str = "l2"
    batch_size: int = 4
    steps: int = 500
    decay_start: int = 250
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    pool_size: int = 50
    gan_mode: str = "lsgan"
    lambda_gan: float = 1.0
    lambda_cycle: float = 10.0
    lambda_idt: float = 0.5
    lambda_hist: float = 10.0
    seed: int = 0
    autocast: str = "auto"
    device: str = "auto"
    threads: int | None = None
    checkpoint_every: int = 100
    sample_every: int = 50
    log_every: int = 10

    def __post_init__(self):
        check_choice("variant", self.variant, VARIANTS)
        check_choice("profile", self.profile, PROFILES)
        if (self.data_x is None) != (self.data_y is None):
            raise ValueError(
                f"data_x, data_y: expected both folders or neither (synthetic data), "
                f"got data_x={self.data_x!r} and data_y={self.data_y!r}"
            )
        for name, images in _MASK_FOLDERS.items():
            if getattr(self, name) is not None and getattr(self, images) is None:
                raise ValueError(f"{name}: expected None without {images} (synthetic data has exact masks), got {getattr(self, name)!r}")
        if self.max_images is not None:
                check_positive_int("max_images", self.max_images, minimum=2)  # a reference must be another image
        for name in ("ngf", "ndf", "n_layers", "hist_bins", "batch_size", "steps"):
            check_positive_int(name, getattr(self, name))
        if self.threads is not None:
            check_positive_int("threads", self.threads)
        for name in ("checkpoint_every", "sample_every", "log_every"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("n_blocks", self.n_blocks, minimum=0)
        check_positive_int("pool_size", self.pool_size, minimum=0)
        check_positive_int("seed", self.seed, minimum=0)
        check_positive_int("image_size", self.image_size)
        # The generator halves the size twice and doubles it back; the PatchGAN needs
        # 3 * 2**n_layers pixels for one output; the datasets render 32 to 512 pixels.
        smallest = max(MIN_SIZE, 3 * 2**self.n_layers)
        smallest += -smallest % 4
        if self.image_size % 4 or not smallest <= self.image_size <= MAX_SIZE:
            raise ValueError(
                f"image_size: expected a multiple of 4 between {smallest} and {MAX_SIZE} (a generator with two "
                f"downsamplings, a discriminator with n_layers={self.n_layers}), got {self.image_size}"
            )
        check_positive_int("decay_start", self.decay_start, minimum=0)
        if self.decay_start > self.steps:
            raise ValueError(f"decay_start: expected at most steps={self.steps}, got {self.decay_start}")
        check_choice("condition", self.condition, CONDITIONS)
        check_choice("hist_loss", self.hist_loss, LOSS_KINDS)
        check_choice("gan_mode", self.gan_mode, GAN_MODES)
        check_choice("autocast", self.autocast, AUTOCAST_MODES)
        self.lr = check_positive_float("lr", self.lr)
        betas = self.betas
        if (
            isinstance(betas, (str, bytes))
            or not isinstance(betas, (tuple, list))
            or len(betas) != 2
            or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in betas)
        ):
            raise TypeError(f"betas: expected a pair of numbers in [0, 1), got {_describe(betas)}")
        self.betas = tuple(float(b) for b in betas)
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {self.betas}")
        for name in ("lambda_gan", "lambda_cycle", "lambda_idt", "lambda_hist"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name}: expected a finite number >= 0, got {_describe(value)}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
            setattr(self, name, float(value))
        for name in ("data_x", "data_y", "data_x_masks", "data_y_masks", "data_cache"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise TypeError(f"{name}: expected a folder path (str) or None, got {_describe(value)}")
            if isinstance(value, os.PathLike):
                setattr(self, name, os.fspath(value))
        if not isinstance(self.device, str):
            raise TypeError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N' (a str), got {_describe(self.device)}")
        if self.device != "auto":
            try:
                kind = torch.device(self.device).type
            except (RuntimeError, TypeError, ValueError):
                kind = None
            if kind not in ("cpu", "cuda"):
                raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        conditioned = VARIANT_SPECS[self.variant].condition_G or VARIANT_SPECS[self.variant].condition_F
        if self.condition == "film" and self.n_blocks == 0 and conditioned:
            raise ValueError(
                f"n_blocks: expected at least 1 with condition='film' (FiLM lives in the residual blocks) "
                f"for variant {self.variant!r}, got 0"
            )

    @classmethod
    def from_profile(cls, name: str, variant: str = "proposed_both", **overrides) -> "TrainConfig":
        """The named profile's settings for ``variant``, with ``overrides`` on top.

        Overriding ``steps`` alone moves ``decay_start`` to ``steps // 2``, as in every
        profile (the reference decays over the second half).

        Raises:
            ValueError: unknown profile, variant or field value.
            TypeError: an override that is not a field (the message lists the fields).
        """
        check_choice("name", name, PROFILES)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"overrides: expected fields of TrainConfig ({', '.join(sorted(fields))}), got {unknown}")
        settings = {**PROFILE_SETTINGS[name], "profile": name, "variant": variant, **overrides}
        steps = settings.get("steps")
        if "steps" in overrides and "decay_start" not in overrides and isinstance(steps, int) and not isinstance(steps, bool):
            settings["decay_start"] = steps // 2  # every profile decays over its second half
        return cls(**settings)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; ignores keys that are not fields (older or newer runs)."""
        if not isinstance(values, dict):
            raise TypeError(f"values: expected a dict of TrainConfig fields, got {_describe(values)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in fields})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON- and ``weights_only``-compatible values."""
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        return values

    @property
    def identity_weight(self) -> float:
        """The weight of L_idt in eq. (7), ``lambda_cycle * lambda_idt`` (the reference's convention)."""
        return self.lambda_cycle * self.lambda_idt




# --------------------------------------------------------------------------- losses (eq. 7-11)


def gan_loss(logits: torch.Tensor, target_is_real: bool, mode: str = "lsgan") -> torch.Tensor:
    """Adversarial loss of a discriminator's patch logits against an all-real/all-fake target.

    ``"lsgan"``: mean squared error to 1 or 0 (the reference's default). ``"vanilla"``: the
    binary cross-entropy of eq. (9) on logits; as a generator loss it is the usual
    non-saturating form, ``-log D(G(x))``.
    """
    logits = logits.float()  # losses in float32 even under autocast
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    if mode == "lsgan":
        return nnf.mse_loss(logits, target)
    return nnf.binary_cross_entropy_with_logits(logits, target)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error in float32: the cycle (eq. 10) and identity (eq. 11) losses."""
    return nnf.l1_loss(a.float(), b.float())


class ImagePool:
    """The reference's history of generated images (Shrivastava et al. 2017).

    Until the pool is full every fake is stored and passed through. Then each fake is, with
    probability 1/2, swapped with a random stored one (the discriminator sees an old fake)
    or passed through. The randomness comes from the pool's own seeded generator, and
    ``state_dict()`` holds the images and the generator state, so a resumed run draws the
    same swaps as an uninterrupted one.

    Args:
        size: capacity; 0 passes every batch through unchanged.
        seed: seed of the pool's generator.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = check_positive_int("size", size, minimum=0)
        self.images: torch.Tensor | None = None  # (stored, C, H, W), float32
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """Return a batch shaped like ``fakes`` (detached), updating the pool."""
        fakes = fakes.detach().float()
        if self.size == 0:
            return fakes
        out = []
        for image in fakes:
            if len(self) < self.size:
                stored = image[None] if self.images is None else torch.cat([self.images, image[None]])
                self.images = stored
                out.append(image)
            elif torch.rand((), generator=self.generator) < 0.5:
                index = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, torch.Tensor]:
        images = self.images.cpu().clone() if self.images is not None else torch.zeros(0)
        return {"images": images, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> None:
        self.images = state["images"].to(device, copy=True) if state["images"].numel() else None
        self.generator.set_state(state["generator"].cpu())


# --------------------------------------------------------------------------- data


class DomainTensors(NamedTuple):
    """One domain's training images in memory: ``images`` ``(N, 3, H, W)`` in ``[-1, 1]`` and
    foreground ``masks`` ``(N, 1, H, W)`` in ``{0, 1}``."""

    images: torch.Tensor
    masks: torch.Tensor


# The last synthetic training set read, by (image_size, max_images): chunked training
# (train(..., stop_at=...) called repeatedly, as kdehist.reproduce does) renders it once.
_synthetic_cache: dict[tuple[int, int | None], tuple[DomainTensors, DomainTensors]] = {}


def load_training_data(config: TrainConfig, progress: bool = False) -> tuple[DomainTensors, DomainTensors]:
    """The training split of each domain at ``config.image_size``, kept in memory.

    The synthetic knees of :class:`kdehist.data.SyntheticKnees` (a pure function of their
    arguments: kept in memory for the next call, and cached as PNG in ``config.data_cache``
    when set), or the folders ``config.data_x`` and ``config.data_y`` read with
    :class:`kdehist.data.ImageFolderDomain`. Only the first ``config.max_images`` images of
    each domain when that is set. ``progress`` shows a bar while rendering.

    Raises:
        FileNotFoundError: a data or mask folder is missing (the message names the field).
    """
    from . import data

    check_data_folders(config)
    if config.data_x is None:
        key = (config.image_size, config.max_images)
        if key not in _synthetic_cache:
            _synthetic_cache.clear()  # one set at a time: a 256 px one is about 1 GB
            domains = []
            for domain in ("sim", "real"):
                source = data.SyntheticKnees(domain, "train", size=config.image_size, cache_dir=config.data_cache)
                count = len(source) if config.max_images is None else min(config.max_images, len(source))
                domains.append(DomainTensors(*source.tensors(range(count), progress=progress)))
            _synthetic_cache[key] = (domains[0], domains[1])
        return _synthetic_cache[key]
    domains = []
    for name in ("data_x", "data_y"):
        source = data.ImageFolderDomain(getattr(config, name), getattr(config, f"{name}_masks"), size=config.image_size)
        images, masks = source.tensors()
        domains.append(DomainTensors(images[: config.max_images], masks[: config.max_images]))
    return domains[0], domains[1]


def check_data_folders(config: TrainConfig) -> None:
    """Fail early, naming the field, when a configured data or mask folder does not exist."""
    for name in ("data_x", "data_y", "data_x_masks", "data_y_masks"):
        folder = getattr(config, name)
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{name}: expected an existing folder of images, got {folder!r}")


def make_loader(config: TrainConfig, data: tuple[DomainTensors, DomainTensors], device: torch.device):
    """The :class:`kdehist.data.UnpairedLoader` of a run: batch ``t`` is a pure function of
    ``(seed, t)``, which is what makes resuming exact. ``x_ref`` is drawn only when ``F``
    is conditioned."""
    from .data import UnpairedLoader

    # The whole set moves to the device once (at most ~1 GB at 256 px), so that batches are
    # gathered and augmented there rather than copied over every step.
    (x, mask_x), (y, mask_y) = (tuple(t.to(device) for t in domain) for domain in data)
    both = VARIANT_SPECS[config.variant].condition_F
    return UnpairedLoader(x, mask_x, y, mask_y, batch_size=config.batch_size, seed=config.seed, both=both)


# --------------------------------------------------------------------------- one step


def _cpu_has_fast_bf16() -> bool:
    """Whether oneDNN has native bfloat16 kernels here (AVX-512 BF16 or AMX). Without them,
    bf16 autocast falls back to slow reference convolutions: a ``cpu``-profile step took
    44 s instead of 2 s (22x) on the AVX2-only development CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _auto_precision(device: torch.device) -> str:
    if device.type == "cuda":
        # bf16 needs no gradient scaler, but only Ampere (compute capability 8) and newer
        # run it natively; a T4 (7.5) gets fp16 with a scaler.
        return "bf16" if torch.cuda.get_device_capability(device)[0] >= 8 else "fp16"
    return "bf16" if device.type == "cpu" and _cpu_has_fast_bf16() else "none"


class Precision:
    """Autocast and, for float16 on CUDA, a gradient scaler, behind one small interface."""

    def __init__(self, mode: str, device: torch.device):
        self.device_type = device.type
        if mode == "auto":
            mode = _auto_precision(device)
        if mode == "fp16" and device.type != "cuda":
            raise ValueError(f"autocast: 'fp16' needs a CUDA device, got device {str(device)!r}; use 'bf16' or 'none'")
        self.mode = mode
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
        self.scaler = None
        if mode == "fp16":
            try:  # torch >= 2.3
                from torch.amp import GradScaler

                self.scaler = GradScaler("cuda")
            except ImportError:  # torch 2.2
                from torch.cuda.amp import GradScaler

                self.scaler = GradScaler()

    def autocast(self):
        # No autocast object at all in float32: older torch warns about unsupported dtypes
        # even for a disabled one.
        return contextlib.nullcontext() if self.dtype is None else torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step() if self.scaler is None else self.scaler.step(optimizer)

    def update(self) -> None:
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


@dataclass
class TrainState:
    """Everything that changes during training; ``state_dict()`` is the checkpoint."""

    config: TrainConfig
    nets: CycleGAN
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    pool_X: ImagePool
    pool_Y: ImagePool
    loader: Any  # kdehist.data.UnpairedLoader
    precision: Precision
    step: int = 0
    seconds: float = 0.0  # training time so far, over all resumed sessions

    @classmethod
    def create(cls, config: TrainConfig, data: tuple[DomainTensors, DomainTensors], device: torch.device) -> "TrainState":
        torch.manual_seed(config.seed)
        nets = build_nets(config).to(device)
        adam = dict(lr=config.lr, betas=config.betas)
        return cls(
            config=config,
            nets=nets,
            opt_G=torch.optim.Adam(nets.generator_parameters(), **adam),
            opt_D=torch.optim.Adam(nets.discriminator_parameters(), **adam),
            # Separate, seeded streams: the pools and the batch order never share randomness.
            pool_X=ImagePool(config.pool_size, seed=config.seed + 1),
            pool_Y=ImagePool(config.pool_size, seed=config.seed + 2),
            loader=make_loader(config, data, device),
            precision=Precision(config.autocast, device),
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "step": self.step,
            "seconds": self.seconds,
            "nets": self.nets.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "pool_X": self.pool_X.state_dict(),
            "pool_Y": self.pool_Y.state_dict(),
            "loader": {**self.loader.state_dict(), "step": self.step},  # its position is the step
            "scaler": self.precision.state_dict(),
            "torch_rng": torch.get_rng_state(),
            # Resolved on the host that trained: both change the weights (checked on resume).
            "precision": self.precision.mode,
            "threads": torch.get_num_threads(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = next(self.nets.parameters()).device
        self.step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))
        self.nets.load_state_dict(state["nets"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.pool_X.load_state_dict(state["pool_X"], device)
        self.pool_Y.load_state_dict(state["pool_Y"], device)
        self.loader.load_state_dict(state["loader"])
        self.precision.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"].cpu())


def build_nets(config: TrainConfig) -> CycleGAN:
    """The four networks of ``config.variant`` at the config's sizes."""
    return build_cyclegan(
        config.variant,
        ngf=config.ngf,
        n_blocks=config.n_blocks,
        ndf=config.ndf,
        n_layers=config.n_layers,
        hist_bins=config.hist_bins,
        condition=config.condition,
    )


def learning_rate(step: int, config: TrainConfig) -> float:
    """Constant ``lr`` until ``decay_start``, then linear decay (reference): at the last step
    it is ``lr · 2 / (steps - decay_start + 1)``, never 0."""
    decayed = max(0, step - config.decay_start) / (config.steps - config.decay_start + 1)
    return config.lr * (1.0 - decayed)


def _condition(generator: ResnetGenerator, hist: torch.Tensor) -> torch.Tensor | None:
    return hist if generator.conditioned else None


def _requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def train_step(state: TrainState, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One generator update, then one discriminator update; returns the detached losses.

    ``batch`` is a :class:`kdehist.data.UnpairedLoader` batch: ``x``, ``y``, ``y_ref`` (and
    ``x_ref`` when ``F`` is conditioned), ``(B, 3, H, W)`` in ``[-1, 1]``, each with its
    ``*_mask`` ``(B, 1, H, W)``. ``y_ref`` is another real image than ``y``, so the colour
    target is never the very sample shown to ``D_Y``.
    """
    cfg, amp = state.config, state.precision
    G, F, D_X, D_Y = state.nets
    x, y, mask_x, mask_y = batch["x"], batch["y"], batch["x_mask"], batch["y_mask"]
    with torch.no_grad():  # histograms of data: constants of the loss

        def hist(key: str) -> torch.Tensor:
            return soft_histogram(batch[key], cfg.hist_bins, mask=batch[f"{key}_mask"])

        # Conditions: G paints x in y_ref's colours, F paints y in x_ref's; the cycle and
        # identity translations keep their input's own colours.
        cond_G = (hist("y_ref"), hist("y")) if G.conditioned else (None, None)
        cond_F = (hist("x_ref"), hist("x")) if F.conditioned else (None, None)
    (G_ref, G_own), (F_ref, F_own) = cond_G, cond_F

    # Generators. The discriminators are frozen so that backward skips their weights.
    _requires_grad(D_X, False)
    _requires_grad(D_Y, False)
    with amp.autocast():
        fake_y, fake_x = G(x, G_ref), F(y, F_ref)
        losses = {
            "gan_G": gan_loss(D_Y(fake_y), True, cfg.gan_mode),
            "gan_F": gan_loss(D_X(fake_x), True, cfg.gan_mode),
            "cycle_X": l1(F(fake_y, F_own), x),
            "cycle_Y": l1(G(fake_x, G_own), y),
        }
        if cfg.identity_weight > 0:  # the reference skips these two forwards when unused
            losses["idt_X"] = l1(F(x, F_own), x)
            losses["idt_Y"] = l1(G(y, G_own), y)
        # A fake's histogram over its input's foreground, against the reference's.
        if G.conditioned:
            losses["hist_G"] = histogram_loss(soft_histogram(fake_y, cfg.hist_bins, mask=mask_x), G_ref, cfg.hist_loss)
        if F.conditioned:
            losses["hist_F"] = histogram_loss(soft_histogram(fake_x, cfg.hist_bins, mask=mask_y), F_ref, cfg.hist_loss)
    weight = {"gan": cfg.lambda_gan, "cycle": cfg.lambda_cycle, "idt": cfg.identity_weight, "hist": cfg.lambda_hist}
    loss_G = sum(weight[name.split("_")[0]] * value for name, value in losses.items())
    state.opt_G.zero_grad(set_to_none=True)
    amp.backward(loss_G)
    amp.step(state.opt_G)

    # Discriminators: real images against fakes drawn partly from the history pools.
    _requires_grad(D_X, True)
    _requires_grad(D_Y, True)
    mode = cfg.gan_mode
    with amp.autocast():
        losses["D_Y"] = 0.5 * (gan_loss(D_Y(y), True, mode) + gan_loss(D_Y(state.pool_Y.query(fake_y)), False, mode))
        losses["D_X"] = 0.5 * (gan_loss(D_X(x), True, mode) + gan_loss(D_X(state.pool_X.query(fake_x)), False, mode))
    state.opt_D.zero_grad(set_to_none=True)
    amp.backward(losses["D_X"] + losses["D_Y"])
    amp.step(state.opt_D)
    amp.update()
    losses["G"] = loss_G
    return {name: value.detach() for name, value in losses.items()}


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What :func:`train` returns: where things are, and the logged metrics."""

    checkpoint: Path
    out_dir: Path
    step: int
    steps: int
    metrics: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0  # training time of the run so far (all sessions)

    @property
    def finished(self) -> bool:
        """Whether the run reached ``config.steps`` (not stopped early by ``stop_at``)."""
        return self.step >= self.steps


def resolve_device(name: str) -> torch.device:
    """``"auto"`` is CUDA when available, otherwise the CPU."""
    device = default_device() if name == "auto" else torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: expected an available device, got {name!r} but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: expected one of the {torch.cuda.device_count()} CUDA devices (cuda:0 to "
                f"cuda:{torch.cuda.device_count() - 1}), got {name!r}"
            )
    return device


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = True,
    stop_at: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train one variant, or resume it from ``out_dir/checkpoint.pt``.

    Args:
        config: the run's settings (:meth:`TrainConfig.from_profile`).
        out_dir: folder for the checkpoint, metrics, samples and ``config.json``.
        resume: continue from an existing checkpoint in ``out_dir`` (default). Its config
            must equal ``config`` except for bookkeeping fields (periods, device, label),
            and it must have been trained at the same resolved autocast precision and,
            on a CPU, with the same number of threads; a finished run returns at once.
            ``False`` starts over and overwrites.
        stop_at: stop (with a checkpoint) after this step, as if interrupted there; the
            learning-rate schedule still runs to ``config.steps``. For training in chunks,
            e.g. on Colab. Default: run to ``config.steps``.
        progress: show a tqdm progress bar with running losses.

    Returns:
        :class:`TrainResult` with the checkpoint path, the step reached, the whole metrics
        log of the run and its training seconds (all sessions, without sampling and
        checkpointing).

    What survives what: every save is atomic and keeps the checkpoint before it as
    ``checkpoint.prev.pt``. A damaged or missing ``checkpoint.pt`` falls back to it with a
    warning. Ctrl-C (SIGINT) finishes the step in progress, saves it and raises
    :class:`TrainingInterrupted` (a ``KeyboardInterrupt``; a second Ctrl-C stops at once).
    A NaN or infinite loss stops training with :class:`NonFiniteLossError` naming the
    step, and nothing non-finite is ever saved.

    Raises:
        TypeError, ValueError: a bad argument, or a checkpoint that cannot be resumed (the
            message names it and says what to do); all before any data is loaded.
        FileNotFoundError: a configured data folder is missing.
        NonFiniteLossError: training diverged.
        TrainingInterrupted: Ctrl-C, after saving.
    """
    # Every configuration error surfaces here, before any data is rendered or step taken.
    try:
        device, out_dir, saved, end = _prepare_run(config, out_dir, resume, stop_at)
    except (ValueError, TypeError, OSError) as error:
        error.before_training = True  # the command line prints these as one line, exit 2
        raise
    checkpoint_path = out_dir / CHECKPOINT_NAME
    if saved is not None and int(saved["step"]) >= end:  # nothing left to do: skip loading the data
        seconds = float(saved.get("seconds", 0.0))
        return TrainResult(checkpoint_path, out_dir, int(saved["step"]), config.steps, _read_metrics_if_any(out_dir), seconds)

    with _torch_threads(config.threads):
        return _train_loop(config, out_dir, device, saved, end, progress)


def _prepare_run(config, out_dir, resume, stop_at) -> tuple[torch.device, Path, dict | None, int]:
    """Check everything that can be checked before any work; load the checkpoint to resume."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
    if not isinstance(resume, bool):
        raise TypeError(f"resume: expected True or False, got {_describe(resume)}")
    device = resolve_device(config.device)
    precision = Precision(config.autocast, device)
    check_data_folders(config)
    end = config.steps if stop_at is None else min(check_positive_int("stop_at", stop_at), config.steps)
    out_dir = check_out_dir(out_dir)
    saved = _load_resume_checkpoint(out_dir) if resume else None
    if saved is not None:
        threads = config.threads if config.threads is not None else torch.get_num_threads()
        _check_same_run(saved, config, out_dir / CHECKPOINT_NAME, precision.mode, threads if device.type == "cpu" else None)
    return device, out_dir, saved, end


def check_out_dir(out_dir) -> Path:
    """``out_dir`` as a folder that exists and can be written, or a ValueError naming it."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir: expected a folder path (str or Path), got {_describe(out_dir)}")
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out_dir: expected a folder, got the file {str(path)!r}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(
            f"out_dir: expected a writable folder, got {str(path)!r} ({type(error).__name__}: {error.strerror or error})"
        ) from None
    return path


def _read_train_checkpoint(path: Path) -> dict:
    """A checkpoint written by :func:`train`, or a CheckpointError naming the file."""
    saved = load_checkpoint(path, advice=_RESUME_ADVICE)
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: expected a checkpoint written by kdehist.train.train (a dict), got {_describe(saved)}; {_RESUME_ADVICE}")
    missing = [key for key in _CHECKPOINT_KEYS if key not in saved]
    if missing:
        raise CheckpointError(f"{path}: expected a checkpoint written by kdehist.train.train, got one without {missing}; {_RESUME_ADVICE}")
    try:
        TrainConfig.from_dict(saved["config"])
        int(saved["step"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: the checkpoint's config or step is not valid ({error}); {_RESUME_ADVICE}") from None
    return saved


def _load_resume_checkpoint(out_dir: Path) -> dict | None:
    """The checkpoint to resume from: ``checkpoint.pt``, or the previous one (with a warning)
    when it is missing or damaged. The previous one is copied back to ``checkpoint.pt`` so
    that everything downstream reads a good file; a damaged one is kept aside."""
    path, previous = out_dir / CHECKPOINT_NAME, out_dir / PREVIOUS_CHECKPOINT_NAME
    if path.is_file():
        try:
            return _read_train_checkpoint(path)
        except CheckpointError as error:
            if not previous.is_file():
                raise
            try:
                saved = _read_train_checkpoint(previous)
            except CheckpointError:
                raise error from None
            damaged = out_dir / DAMAGED_CHECKPOINT_NAME
            os.replace(path, damaged)
            reason = f"{error} It was moved to {damaged}"
    elif previous.is_file():
        saved = _read_train_checkpoint(previous)
        reason = f"{path} is missing (a save was cut short)"
    else:
        return None
    with open(previous, "rb") as source:
        _atomic_write(path, lambda handle: shutil.copyfileobj(source, handle))
    warnings.warn(f"{reason}; resuming from the previous checkpoint {previous} (step {int(saved['step'])})", stacklevel=3)
    return saved


@contextlib.contextmanager
def _deferred_sigint():
    """Turn the first SIGINT (Ctrl-C) into a flag the loop checks at each step boundary; a
    second one raises at once. Only in the main thread (signals go nowhere else)."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)
    restore = previous if previous is not None else signal.default_int_handler

    def handler(signum, frame):
        flag["set"] = True
        signal.signal(signal.SIGINT, restore)
        print("\ninterrupt: saving a checkpoint after this step (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, restore)


def _nonfinite_weights(nets: nn.Module) -> list[str]:
    tensors = [(name, t) for name, t in nets.state_dict().items() if t.is_floating_point()]
    if not tensors or bool(torch.stack([torch.isfinite(t).all() for _, t in tensors]).all()):
        return []
    return [name for name, t in tensors if not bool(torch.isfinite(t).all())]


def _train_loop(
    config: TrainConfig, out_dir: Path, device: torch.device, saved: dict | None, end: int, progress: bool
) -> TrainResult:
    """The loop itself: build (or restore) the state, then step, log, sample, checkpoint."""
    from tqdm.auto import tqdm

    checkpoint_path = out_dir / CHECKPOINT_NAME
    previous_path = out_dir / PREVIOUS_CHECKPOINT_NAME
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    data = load_training_data(config, progress=progress)
    state = TrainState.create(config, data, device)
    if saved is not None:
        state.load_state_dict(saved)
        good_step = state.step
    else:
        good_step = None
        for stale in (previous_path, out_dir / DAMAGED_CHECKPOINT_NAME):  # starting over: not this run's
            if stale.is_file():
                stale.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "config.json", config.to_dict())
    metrics_log = MetricsLog(out_dir / METRICS_NAME, keep_until=state.step)
    preview = _preview_batch(data, device)

    def diverged(what: str, step: int) -> NonFiniteLossError:
        kept = (
            f"the last good checkpoint, step {good_step}, is kept in {checkpoint_path}"
            if good_step is not None
            else "no checkpoint was written"
        )
        return NonFiniteLossError(
            f"training diverged: {what} at step {step}; stopped without saving it, and {kept}. "
            f"Try a lower lr, autocast='none' or another seed"
        )

    def check_finite(pending: list) -> None:
        if not pending or bool(torch.stack([flag for _, flag, _ in pending]).all()):
            return
        step, _, losses = next(entry for entry in pending if not bool(entry[1]))
        values = ", ".join(f"{k} {v.item():.4g}" for k, v in losses.items() if not math.isfinite(v.item()))
        raise diverged(f"non-finite losses ({values})", step)

    bar = tqdm(total=config.steps, initial=state.step, disable=not progress, desc=config.variant, unit="step")
    state.nets.train()
    window, pending = [], []
    interrupted = False
    with _deferred_sigint() as sigint:
        while state.step < end:
            lr = learning_rate(state.step, config)
            for group in state.opt_G.param_groups + state.opt_D.param_groups:
                group["lr"] = lr
            started = time.perf_counter()
            losses = train_step(state, state.loader.batch(state.step))
            state.seconds += time.perf_counter() - started  # training time: no sampling or saving
            state.step += 1
            window.append(losses)
            # One flag per step, left on the device: synchronised only when something is written.
            pending.append((state.step, torch.stack([v.float() for v in losses.values()]).isfinite().all(), losses))
            bar.update(1)

            step = state.step
            interrupted = sigint["set"]
            last = step == end or interrupted
            log = step % config.log_every == 0 or last
            sample = step % config.sample_every == 0 or step == config.steps
            save = step % config.checkpoint_every == 0 or last
            if log or sample or save:
                check_finite(pending)
                pending = []
            if log:
                means = {k: torch.stack([w[k] for w in window if k in w]).mean().item() for k in window[-1]}
                metrics_log.write({"step": step, "lr": lr, "seconds": state.seconds, **means})
                bar.set_postfix({k: f"{means[k]:.3f}" for k in ("G", "D_X", "D_Y", "hist_G") if k in means})
                window = []
            if sample:
                save_samples(state.nets, preview, out_dir / "samples" / f"step_{step:06d}.png", config.hist_bins)
            if save:
                bad = _nonfinite_weights(state.nets)
                if bad:
                    raise diverged(f"non-finite weights ({', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''})", step)
                # The first save of a fresh run replaces nothing of this run: keep no previous.
                atomic_torch_save(checkpoint_path, state.state_dict(), previous=previous_path if good_step is not None else None)
                good_step = step
            if interrupted:
                break
    bar.close()
    if interrupted:
        raise TrainingInterrupted(state.step, checkpoint_path)
    return TrainResult(checkpoint_path, out_dir, state.step, config.steps, read_metrics(out_dir), state.seconds)


@contextlib.contextmanager
def _torch_threads(count: int | None):
    """Use ``count`` CPU threads inside the block, then restore the previous setting."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_same_run(saved: dict, config: TrainConfig, path: Path, precision: str, threads: int | None) -> None:
    """Refuse to resume with settings that change the weights (the checkpoint names the old ones)."""
    old, new = TrainConfig.from_dict(saved["config"]).to_dict(), config.to_dict()
    differ = [f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in new if k not in _BOOKKEEPING and old.get(k) != new[k]]
    # Resolved on the host; checkpoints written before these were recorded are not checked.
    if saved.get("precision") is not None and saved["precision"] != precision:
        differ.append(f"resolved autocast precision: {saved['precision']!r} -> {precision!r}")
    if threads is not None and saved.get("threads") is not None and int(saved["threads"]) != threads:
        differ.append(f"CPU threads: {int(saved['threads'])} -> {threads}")
    if differ:
        raise ValueError(
            f"config: expected the settings of the run being resumed ({path}), got changes in {', '.join(differ)}; "
            f"use another out_dir, or start over with resume=False (--restart on the command line)"
        )


def _parse_metrics(path: Path) -> list[dict[str, float]]:
    """The records of a metrics file; damaged lines (a write cut short) are dropped with a warning."""
    records, damaged = [], []
    for number, line in enumerate(path.read_bytes().decode("utf-8", errors="replace").split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or isinstance(record.get("step"), bool) or not isinstance(record.get("step"), int):
            damaged.append(number)
            continue
        records.append(record)
    if damaged:
        warnings.warn(
            f"{path}: dropped {len(damaged)} damaged line(s) (line {', '.join(map(str, damaged[:5]))}"
            f"{' ...' if len(damaged) > 5 else ''}), e.g. a write cut short by a kill or a full disk",
            stacklevel=3,
        )
    return records


class MetricsLog:
    """``metrics.jsonl``: one JSON object per line, each written whole and flushed.

    On resume, lines logged after the checkpoint's step (work that was lost) are dropped,
    and so are damaged lines (with a warning), by rewriting the file atomically, so the
    log matches the weights.
    """

    def __init__(self, path: Path, keep_until: int = 0):
        self.path = path
        self.written: list[dict[str, float]] = []
        kept = []
        if keep_until > 0 and path.is_file():
            kept = [record for record in _parse_metrics(path) if record["step"] <= keep_until]
        text = "".join(json.dumps(record, allow_nan=True) + "\n" for record in kept)
        atomic_write_bytes(path, text.encode())

    def write(self, record: dict[str, float]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, allow_nan=True) + "\n")
        self.written.append(record)


def read_metrics(out_dir: str | Path) -> list[dict[str, float]]:
    """All records of ``out_dir/metrics.jsonl``, in order. A damaged line (a write cut
    short) is dropped with a warning that names the file."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir: expected a run folder (str or Path), got {_describe(out_dir)}")
    path = Path(out_dir) / METRICS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"out_dir: expected a run folder holding {METRICS_NAME}, got {str(out_dir)!r} without one")
    return _parse_metrics(path)


def _read_metrics_if_any(out_dir: Path) -> list[dict[str, float]]:
    if not (out_dir / METRICS_NAME).is_file():
        warnings.warn(f"{out_dir / METRICS_NAME} is missing: the run's metrics are lost (the weights are not)", stacklevel=3)
        return []
    return read_metrics(out_dir)


# --------------------------------------------------------------------------- samples


def _preview_batch(data: tuple[DomainTensors, DomainTensors], device, count: int = 4) -> tuple[torch.Tensor, ...]:
    """A fixed handful of training images of each domain, for the sample grids."""
    (x, mask_x), (y, mask_y) = data
    n = min(count, len(x), len(y))
    return tuple(t[:n].to(device) for t in (x, mask_x, y, mask_y))


@torch.no_grad()
def translate_grid(nets: CycleGAN, preview: tuple[torch.Tensor, ...], bins: int) -> torch.Tensor:
    """Rows of ``x | y (reference) | G(x) | F(G(x)) | F(y) | G(F(y))``, a ``(3, H', W')`` image in [0, 1].

    Runs the generators in eval mode (no power iteration) and restores training mode.
    """
    from torchvision.utils import make_grid

    x, mask_x, y, mask_y = preview
    G, F = nets.G, nets.F
    was_training = nets.training
    nets.eval()
    hist_x, hist_y = soft_histogram(x, bins, mask=mask_x), soft_histogram(y, bins, mask=mask_y)
    fake_y, fake_x = G(x, _condition(G, hist_y)), F(y, _condition(F, hist_x))
    rec_x, rec_y = F(fake_y, _condition(F, hist_x)), G(fake_x, _condition(G, hist_y))
    nets.train(was_training)
    tiles = torch.stack([x, y, fake_y, rec_x, fake_x, rec_y], dim=1).flatten(0, 1).float()
    return make_grid((tiles.cpu() + 1) / 2, nrow=6, padding=2, pad_value=1.0).clamp(0, 1)


def save_samples(nets: CycleGAN, preview: tuple[torch.Tensor, ...], path: Path, bins: int) -> Path:
    """Write :func:`translate_grid` as a PNG, atomically."""
    from PIL import Image

    grid = translate_grid(nets, preview, bins)
    pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())


# --------------------------------------------------------------------------- evaluation


class GeneratorPair(NamedTuple):
    """``G``: X → Y and ``F``: Y → X in eval mode, and the config they were trained with."""

    G: ResnetGenerator
    F: ResnetGenerator
    config: TrainConfig


def load_generators(checkpoint: str | Path, device: str | torch.device = "cpu") -> GeneratorPair:
    """Rebuild the trained generators of a checkpoint written by :func:`train`.

    Loads with ``weights_only=True`` (no code runs from the file). The generators are in
    eval mode: spectral normalisation uses its stored estimate without further updates.

    Example::

        G, F, config = load_generators("runs/proposed_both/checkpoint.pt")
        with torch.no_grad():
            fake = G(x, kdehist.soft_histogram(ref, config.hist_bins, mask=ref_mask))
    """
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint: expected a checkpoint path (str or Path), got {_describe(checkpoint)}")
    path = Path(checkpoint)
    previous = path.with_name(PREVIOUS_CHECKPOINT_NAME)
    advice = "delete it and train again" + (
        f" (train resumes from the previous checkpoint {previous})" if path.name == CHECKPOINT_NAME and previous.is_file() else ""
    )
    saved = load_checkpoint(path, advice=advice)
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: expected a checkpoint written by kdehist.train.train (a dict), got {_describe(saved)}; {advice}")
    for key in ("config", "nets"):
        if key not in saved:
            raise CheckpointError(f"{path}: expected a checkpoint written by kdehist.train.train, got no {key!r} entry; {advice}")
    try:
        config = TrainConfig.from_dict(saved["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: the checkpoint's config is not valid ({error}); {advice}") from None
    nets = build_nets(config)
    # Full checkpoints hold all four networks; evaluation snapshots only the generators.
    for name in ("G", "F"):
        prefix = f"{name}."
        weights = {k[len(prefix):]: v for k, v in saved["nets"].items() if k.startswith(prefix)}
        try:
            getattr(nets, name).load_state_dict(weights)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise CheckpointError(f"{path}: the weights of {name} do not fit its config ({first}); {advice}") from None
    nets.to(device).eval()
    return GeneratorPair(nets.G, nets.F, config)
