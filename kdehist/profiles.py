"""Which run profile a notebook or command uses.

``smoke`` runs in seconds (tests and nbval), ``cpu`` produces the book's committed results on
a 2-core CPU (15–25 minutes per model), ``gpu`` is a Colab-sized run, and ``paper`` is the
paper's 256² setting, trained for 200 epochs: the CycleGAN reference's default, since the
paper does not state its training length. The profile comes from the ``KDEHIST_PROFILE``
environment variable; when it is unset the default is ``gpu`` if CUDA is available and
``cpu`` otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ._checks import check_choice

PROFILES = ("smoke", "cpu", "gpu", "paper")
ENV_VAR = "KDEHIST_PROFILE"
RUNS_ENV_VAR = "KDEHIST_RUNS"


def current_profile() -> str:
    """Return the active profile name (see the module docstring)."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if not name:
        return "gpu" if torch.cuda.is_available() else "cpu"
    return check_choice(ENV_VAR, name, PROFILES)


def default_device() -> torch.device:
    """CUDA when present, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def runs_dir(*parts: str) -> Path:
    """The folder for run outputs: ``$KDEHIST_RUNS`` or ``./runs`` (git ignores it)."""
    root = Path(os.environ.get(RUNS_ENV_VAR, "runs"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
