"""Run profiles in one place: names, training settings, test-set sizes and folders.

``smoke`` runs in seconds (tests and nbval), ``cpu`` produces the book's committed
results on a 2-core CPU (tens of minutes per model), ``gpu`` is a Colab-sized run, and
``paper`` is the paper's 256² setting, trained for 200 epochs: the CycleGAN reference's
default, since the paper does not state its training length. The profile comes from the
``KDEHIST_PROFILE`` environment variable; when it is unset the default is ``gpu`` if
CUDA is available and ``cpu`` otherwise.

Every module asks here: ``kdehist.train.TrainConfig.from_profile`` reads
``PROFILE_SETTINGS``, :mod:`kdehist.reproduce` reads :func:`evaluation_count`, and
training, evaluation and the command line take
:func:`default_device` and :func:`runs_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ._checks import check_choice

__all__ = [
    "PROFILES",
    "PROFILE_SETTINGS",
    "EVALUATION_COUNTS",
    "PROFILE_TIMINGS",
    "current_profile",
    "profile_settings",
    "evaluation_count",
    "default_device",
    "runs_dir",
]

PROFILES = ("smoke", "cpu", "gpu", "paper")
ENV_VAR = "KDEHIST_PROFILE"
RUNS_ENV_VAR = "KDEHIST_RUNS"

#: Each profile's overrides of the ``kdehist.train.TrainConfig`` defaults. Timings are
#: measured on the 2-core development CPU (see
#: ``benchmarks/train_step.py``) or estimated for Colab.
PROFILE_SETTINGS: dict[str, dict[str, Any]] = {
    # Seconds: tiny nets on 32x32 images and a few steps; exercises every code path.
    "smoke": dict(
        image_size=32, ngf=8, n_blocks=2, ndf=8, n_layers=2, hist_bins=16, batch_size=2,
        steps=4, decay_start=2, pool_size=4, max_images=8, threads=1,
        checkpoint_every=2, sample_every=2, log_every=1,
    ),
    # The book's committed results: 64x64, ngf 32, 6 blocks, batch 4. Pinned to float32
    # and two threads whatever the host: bf16 autocast and the thread count both change
    # the weights, and committed results must not depend on which machine trained them.
    "cpu": dict(autocast="none", threads=2),
    # Colab T4/L4: 128x128, the reference's networks, batch 4, mixed precision; 12,000
    # steps are ~100 epochs of 477 images. Estimated (not measured here) from ~2 TFLOP a
    # step: ~0.3-0.5 s/step on a T4 in fp16, i.e. 1-1.7 h; about half that on an L4.
    "gpu": dict(
        image_size=128, ngf=64, n_blocks=9, ndf=64, n_layers=3, batch_size=4,
        steps=12000, decay_start=6000,
        checkpoint_every=1000, sample_every=500, log_every=50,
    ),
    # The reference's: 256x256, batch 1, 100 + 100 epochs of 477 images, float32.
    "paper": dict(
        image_size=256, ngf=64, n_blocks=9, ndf=64, n_layers=3, batch_size=1,
        steps=200 * 477, decay_start=100 * 477, autocast="none",
        checkpoint_every=5000, sample_every=2500, log_every=100,
    ),
}  # fmt: skip

#: How many test inputs and references each profile evaluates (``None``: the whole test
#: split, 28 × 28 pairs). The smoke profile evaluates a 4 × 4 corner of the protocol.
EVALUATION_COUNTS: dict[str, int | None] = {
    "smoke": 4,
    "cpu": None,
    "gpu": None,
    "paper": None,
}

#: Each profile's time per training step and per evaluated pair (seconds), for
#: :func:`kdehist.reproduce.estimate` when it does not time them on the runtime itself,
#: and where each number comes from. Only the cpu profile's are measured (the committed
#: runs); the gpu and paper profiles' are estimates until someone runs
#: ``benchmarks/gpu_check.py`` on a GPU.
PROFILE_TIMINGS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        step=0.05, pair=0.005, source="measured on the 2-core development CPU"
    ),
    # The committed runs: 1,092-1,645 s for 500 steps on two threads, and 570 s for
    # 5 runs x 4 evaluations x 784 pairs.
    "cpu": dict(step=2.6, pair=0.036, source="measured on the 2-core development CPU"),
    # A T4 in float16: ~2 TFLOP a step at an effective ~5 TFLOP/s; a pair is ~25 GFLOP
    # of float32 translation plus the border mask and Canny edges on the CPU.
    "gpu": dict(step=0.4, pair=0.02, source="estimated for a T4, not measured"),
    # Four times the pixels at a quarter of the batch, in float32.
    "paper": dict(step=0.5, pair=0.06, source="estimated for a T4, not measured"),
}


def current_profile() -> str:
    """Return the active profile name (see the module docstring)."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "cpu"
    return check_choice(ENV_VAR, name, PROFILES)


def profile_settings(name: str) -> dict[str, Any]:
    """A copy of profile ``name``'s ``kdehist.train.TrainConfig`` overrides.

    >>> profile_settings("cpu")
    {'autocast': 'none', 'threads': 2}
    """
    return dict(PROFILE_SETTINGS[check_choice("profile", name, PROFILES)])


def evaluation_count(name: str) -> int | None:
    """How many test inputs (and references) profile ``name`` evaluates; ``None``: all.

    >>> evaluation_count("smoke"), evaluation_count("cpu")
    (4, None)
    """
    return EVALUATION_COUNTS[check_choice("profile", name, PROFILES)]


def default_device() -> torch.device:
    """CUDA when present, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def runs_dir(*parts: str) -> Path:
    """The folder for run outputs: ``$KDEHIST_RUNS`` or ``./runs`` (git ignores it)."""
    root = Path(os.environ.get(RUNS_ENV_VAR, "runs"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
