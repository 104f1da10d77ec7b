"""The settings of a training run: :class:`TrainConfig`, built from a named profile.

The profiles themselves (their overrides of the defaults below) live in
:mod:`kdehist.profiles`; :mod:`kdehist.train` re-exports :class:`TrainConfig`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from typing import Any

import torch

from ._checks import (
    _describe,
    _scalar,
    check_choice,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
)
from .knees import MAX_SIZE, MIN_SIZE
from .losses import LOSS_KINDS
from .models import CONDITIONS, VARIANT_SPECS, VARIANTS
from .profiles import PROFILE_SETTINGS, PROFILES

__all__ = ["TrainConfig", "GAN_MODES", "AUTOCAST_MODES", "HIST_MASKS"]

GAN_MODES = ("lsgan", "vanilla")
#: Whose foreground a generated image's histogram is taken over (``hist_mask``).
HIST_MASKS = ("input", "output")
AUTOCAST_MODES = ("auto", "bf16", "fp16", "none")
#: The mask folder of each image folder (a mask folder needs its image folder).
_MASK_FOLDERS = {"data_x_masks": "data_x", "data_y_masks": "data_y"}
# Fields that change only the bookkeeping, not the weights: they may differ on resume.
# Data folders may move between machines (e.g. a Colab Drive mount). ``threads`` is not
# one: 1 and 2 CPU threads give different weights.
BOOKKEEPING = (
    "profile",
    "device",
    "checkpoint_every",
    "sample_every",
    "log_every",
    "data_x",
    "data_y",
    "data_x_masks",
    "data_y_masks",
)


def _near_fields(unknown: list[str], fields: list[str]) -> str:
    """For each unknown name, the fields with a similar name (difflib's matches)."""
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), fields, n=3)
        if close:
            hints.append(f"{name!r}: did you mean {' or '.join(map(repr, close))}?")
        else:
            hints.append(f"no field is named like {name!r}")
    if any(hint.startswith("no field") for hint in hints):
        hints.append("help(TrainConfig) lists the fields")
    return "; ".join(hints)


@dataclass
class TrainConfig:
    """Everything that defines a training run. Build it from a named profile::

        TrainConfig.from_profile("cpu", variant="proposed_one", lambda_hist=20.0)

    Profiles (``kdehist.profiles.PROFILE_SETTINGS``): ``"smoke"`` (32², seconds, for
    tests), ``"cpu"`` (64², the book's committed results: 500 steps in float32 on
    two threads, tens of minutes per model on a 2-core CPU), ``"gpu"`` (128², a Colab
    T4/L4 run; its timings are estimates) and ``"paper"`` (256², 200 epochs: the
    CycleGAN reference's default, since the paper does not state its training
    length). The defaults below are the ``"cpu"`` profile's, except ``autocast`` and
    ``threads``, which that profile pins.

    Attributes:
        variant: ``"cyclegan"``, ``"cyclegan_sn"``,
            ``"proposed_one"`` or ``"proposed_both"``.
        profile: the profile this config came from (a label; it changes nothing itself).
        data_x, data_y: folders of domain X (sim) and Y (real) training images, read
            with :class:`kdehist.data.ImageFolderDomain`; both ``None`` (default) for
            the synthetic knee datasets of :mod:`kdehist.data`.
        data_x_masks, data_y_masks: optional folders of foreground masks
            for those images (same file stems); without them masks are
            estimated from the border colour.
        max_images: use only the first ``max_images`` training images of each domain
            (``None``: all).
        image_size: side of the square images, a multiple of 4, large enough for the
            discriminator (``>= 3 · 2**n_layers``). Default 64.
        ngf, n_blocks: generator width and residual blocks. Defaults 32, 6.
        ndf, n_layers: discriminator width and stride-2 layers. Defaults 64, 3 (70×70).
        hist_bins: bins per channel of the histograms
            (conditioning and loss). Default 32.
        condition: ``"film"`` (default), ``"concat"`` or ``"concat_norm"`` (the trap).
        hist_loss: ``"l2"`` (eq. 6, default), ``"emd"`` or ``"hellinger"``.
        batch_size: images per domain per step. Default 4.
        steps: optimisation steps (one generator and one discriminator update each).
        decay_start: step at which the linear learning-rate decay to 0 begins.
        lr, betas: Adam's. Defaults 2e-4, (0.5, 0.999).
        pool_size: fake-image history shown to the
            discriminators; 0 disables. Default 50.
        gan_mode: ``"lsgan"`` (default, reference) or ``"vanilla"`` (the paper's eq. 9).
        lambda_gan, lambda_cycle, lambda_idt, lambda_hist: loss weights of eq. (7).
            Defaults 1, 10, 0.5 (identity weight = lambda_cycle · lambda_idt = 5) and
            10. ``lambda_hist`` applies only to conditioned generators.
        hist_mask: the foreground a generated image's histogram is taken over:
            ``"input"`` (default, the paper's: the mask of the image it was made from)
            or ``"output"`` (the image's own foreground, as the frozen segmenter of
            :mod:`kdehist.segment` sees it, kept differentiable; for ``G``, whose
            outputs are real-looking knees like the segmenter's training images). With
            ``"output"`` the histogram is the naive one, whose mask gets a gradient
            (:func:`kdehist.train.own_foreground_histogram`: more memory, same values).
        lambda_structure: weight of :func:`kdehist.losses.structure_loss` between each
            input and its translation, the shading that the paper says disappears.
            Default 0 (off, as in the paper).
        lambda_relief: weight of :func:`kdehist.losses.relief_loss` between each input
            and its translation: the correlation of their luminance relief, kept.
            Default 0 (off, as in the paper).
        seed: seeds the weights, the batch order and the pool. Default 0.
        autocast: ``"auto"`` (default: bf16 on CPUs with native bf16 kernels, AVX-512
            BF16 or AMX, else float32; bf16 on CUDA GPUs of compute capability 8+,
            fp16 with a gradient scaler on older ones), ``"bf16"``, ``"fp16"``
            (CUDA only) or ``"none"``.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: CPU threads for torch during training (``None``: leave torch's
            setting). On a small shared CPU, 1 thread can be several times
            faster than 2: with another busy process, threads wait for each
            other at every operation.
        checkpoint_every, sample_every, log_every: periods in steps.
    """

    variant: str = "proposed_both"
    profile: str = "cpu"
    data_x: str | None = None
    data_y: str | None = None
    data_x_masks: str | None = None
    data_y_masks: str | None = None
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
    hist_mask: str = "input"
    lambda_structure: float = 0.0
    lambda_relief: float = 0.0
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
                raise ValueError(
                    f"{name}: expected None without {images} "
                    f"(synthetic data has exact masks), got {getattr(self, name)!r}"
                )
        # Each check returns a Python int, stored back: a NumPy or 0-d tensor integer
        # becomes a plain int, as to_dict's JSON needs.
        if self.max_images is not None:
            # a reference must be another image
            self.max_images = check_positive_int(
                "max_images", self.max_images, minimum=2
            )
        for name in ("ngf", "ndf", "n_layers", "hist_bins", "batch_size", "steps"):
            setattr(self, name, check_positive_int(name, getattr(self, name)))
        if self.threads is not None:
            self.threads = check_positive_int("threads", self.threads)
        for name in ("checkpoint_every", "sample_every", "log_every"):
            setattr(self, name, check_positive_int(name, getattr(self, name)))
        self.n_blocks = check_positive_int("n_blocks", self.n_blocks, minimum=0)
        self.pool_size = check_positive_int("pool_size", self.pool_size, minimum=0)
        self.seed = check_positive_int("seed", self.seed, minimum=0)
        self.image_size = check_positive_int("image_size", self.image_size)
        # The generator halves the size twice and doubles it back; the PatchGAN needs
        # 3 * 2**n_layers pixels for one output; the datasets render 32 to 512 pixels.
        smallest = max(MIN_SIZE, 3 * 2**self.n_layers)
        smallest += -smallest % 4
        if self.image_size % 4 or not smallest <= self.image_size <= MAX_SIZE:
            raise ValueError(
                f"image_size: expected a multiple of 4 between {smallest} and "
                f"{MAX_SIZE} (a generator with two downsamplings, a discriminator "
                f"with n_layers={self.n_layers}), got {self.image_size}"
            )
        self.decay_start = check_positive_int(
            "decay_start", self.decay_start, minimum=0
        )
        if self.decay_start > self.steps:
            raise ValueError(
                f"decay_start: expected at most steps={self.steps}, "
                f"got {self.decay_start}"
            )
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
            or any(
                isinstance(b, bool) or not isinstance(b, (int, float))
                for b in map(_scalar, betas)
            )
        ):
            raise TypeError(
                f"betas: expected a pair of numbers in [0, 1), got {_describe(betas)}"
            )
        self.betas = tuple(float(_scalar(b)) for b in betas)
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {self.betas}")
        check_choice("hist_mask", self.hist_mask, HIST_MASKS)
        for name in (
            "lambda_gan",
            "lambda_cycle",
            "lambda_idt",
            "lambda_hist",
            "lambda_structure",
            "lambda_relief",
        ):
            setattr(self, name, check_nonnegative_float(name, getattr(self, name)))
        for name in ("data_x", "data_y", "data_x_masks", "data_y_masks"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise TypeError(
                    f"{name}: expected a folder path (str) or None, "
                    f"got {_describe(value)}"
                )
            if isinstance(value, os.PathLike):
                setattr(self, name, os.fspath(value))
        if not isinstance(self.device, str):
            raise TypeError(
                "device: expected 'auto', 'cpu', 'cuda' or 'cuda:N' (a str), "
                f"got {_describe(self.device)}"
            )
        if self.device != "auto":
            try:
                kind = torch.device(self.device).type
            except (RuntimeError, TypeError, ValueError):
                kind = None
            if kind not in ("cpu", "cuda"):
                raise ValueError(
                    "device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', "
                    f"got {self.device!r}"
                )
        conditioned = (
            VARIANT_SPECS[self.variant].condition_G
            or VARIANT_SPECS[self.variant].condition_F
        )
        if self.condition == "film" and self.n_blocks == 0 and conditioned:
            raise ValueError(
                "n_blocks: expected at least 1 with condition='film' "
                "(FiLM lives in the residual blocks) "
                f"for variant {self.variant!r}, got 0"
            )

    @classmethod
    def from_profile(
        cls, name: str, variant: str = "proposed_both", **overrides
    ) -> "TrainConfig":
        """The named profile's settings for ``variant``, with ``overrides`` on top.

        Overriding ``steps`` alone moves ``decay_start`` to ``steps // 2``, as in every
        profile (the reference decays over the second half).

        Raises:
            ValueError: unknown profile, variant or field value.
            TypeError: an override that is not a field (the message names the fields
                with a similar name, if any).

        >>> TrainConfig.from_profile("smoke", stepz=3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        TypeError: overrides: ... TrainConfig ('stepz': did you mean 'steps'?), got...
        """
        check_choice("name", name, PROFILES)
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            hints = _near_fields(unknown, fields)
            raise TypeError(
                f"overrides: expected fields of TrainConfig ({hints}), got {unknown}"
            )
        settings = {
            **PROFILE_SETTINGS[name],
            "profile": name,
            "variant": variant,
            **overrides,
        }
        steps = _scalar(settings.get("steps"))
        if (
            "steps" in overrides
            and "decay_start" not in overrides
            and isinstance(steps, int)
            and not isinstance(steps, bool)
        ):
            # every profile decays over its second half
            settings["decay_start"] = steps // 2
        return cls(**settings)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`, ignoring non-field keys (older or newer runs)."""
        if not isinstance(values, dict):
            raise TypeError(
                "values: expected a dict of TrainConfig fields, "
                f"got {_describe(values)}"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in fields})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON- and ``weights_only``-compatible values."""
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        return values

    @property
    def identity_weight(self) -> float:
        """The weight of L_idt in eq. (7), ``lambda_cycle * lambda_idt``
        (the reference's convention).
        """
        return self.lambda_cycle * self.lambda_idt

    def loss_weights(self, step: int | None = None) -> dict[str, float]:
        """The weight of each generator loss term of eq. (7), by the name that
        ``kdehist.train.train_step`` logs it under. ``step`` is accepted for a schedule
        of the weights; every weight is constant today.

        >>> TrainConfig().loss_weights()["idt_X"]  # lambda_cycle * lambda_idt
        5.0
        >>> TrainConfig(lambda_hist=3.0).loss_weights(step=25)["hist_G"]
        3.0
        """
        gan, cycle, idt, hist = (
            self.lambda_gan,
            self.lambda_cycle,
            self.identity_weight,
            self.lambda_hist,
        )
        return {
            "gan_G": gan,
            "gan_F": gan,
            "cycle_X": cycle,
            "cycle_Y": cycle,
            "idt_X": idt,
            "idt_Y": idt,
            "hist_G": hist,
            "hist_F": hist,
            "structure_G": self.lambda_structure,
            "structure_F": self.lambda_structure,
            "relief_G": self.lambda_relief,
            "relief_F": self.lambda_relief,
        }
