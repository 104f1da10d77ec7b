"""A training run's checkpoints: their names and format, reading one back to resume
(falling back to the previous one when the last is damaged), refusing a resume with
settings that would change the weights, and rebuilding the trained generators.

Everything is loaded with ``torch.load(..., weights_only=True)``: no code runs from a
checkpoint file.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from ._checks import _describe
from .config import BOOKKEEPING, TrainConfig
from .io import CheckpointError, atomic_write, load_checkpoint
from .models import ResnetGenerator, build_nets

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "DAMAGED_CHECKPOINT_NAME",
    "PREVIOUS_CHECKPOINT_NAME",
    "GeneratorPair",
    "check_same_run",
    "load_generators",
    "load_resume_checkpoint",
    "read_train_checkpoint",
]

CHECKPOINT_NAME = "checkpoint.pt"
#: The checkpoint before the last one: kept by every save, used when ``checkpoint.pt``
#: is missing (a kill between the two renames of a save) or damaged.
PREVIOUS_CHECKPOINT_NAME = "checkpoint.prev.pt"
#: Where a damaged ``checkpoint.pt`` is moved when a resume falls back to the previous
#: one.
DAMAGED_CHECKPOINT_NAME = "checkpoint.damaged.pt"
CHECKPOINT_FORMAT = 1
CHECKPOINT_KEYS = (
    "config",
    "step",
    "nets",
    "opt_G",
    "opt_D",
    "pool_X",
    "pool_Y",
    "loader",
    "scaler",
    "torch_rng",
)
RESUME_ADVICE = (
    "delete it, or start over with resume=False (--restart on the command line)"
)


def read_train_checkpoint(path: Path) -> dict:
    """A checkpoint written by :func:`kdehist.train.train`, or a CheckpointError
    naming the file."""
    saved = load_checkpoint(path, advice=RESUME_ADVICE)
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{path}: expected a checkpoint written by kdehist.train.train (a dict), "
            f"got {_describe(saved)}; {RESUME_ADVICE}"
        )
    missing = [key for key in CHECKPOINT_KEYS if key not in saved]
    if missing:
        raise CheckpointError(
            f"{path}: expected a checkpoint written by kdehist.train.train, "
            f"got one without {missing}; {RESUME_ADVICE}"
        )
    try:
        TrainConfig.from_dict(saved["config"])
        int(saved["step"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: the checkpoint's config or step is not valid "
            f"({error}); {RESUME_ADVICE}"
        ) from None
    return saved


def load_resume_checkpoint(out_dir: Path) -> dict | None:
    """The checkpoint to resume from: ``checkpoint.pt``, or the previous one (with a
    warning) when it is missing or damaged. The previous one is copied back to
    ``checkpoint.pt`` so that everything downstream reads a good file; a damaged one is
    kept aside."""
    path, previous = out_dir / CHECKPOINT_NAME, out_dir / PREVIOUS_CHECKPOINT_NAME
    if path.is_file():
        try:
            return read_train_checkpoint(path)
        except CheckpointError as error:
            if not previous.is_file():
                raise
            try:
                saved = read_train_checkpoint(previous)
            except CheckpointError:
                raise error from None
            damaged = out_dir / DAMAGED_CHECKPOINT_NAME
            os.replace(path, damaged)
            reason = f"{error} It was moved to {damaged}"
    elif previous.is_file():
        saved = read_train_checkpoint(previous)
        reason = f"{path} is missing (a save was cut short)"
    else:
        return None
    with open(previous, "rb") as source:
        atomic_write(path, lambda handle: shutil.copyfileobj(source, handle))
    warnings.warn(
        f"{reason}; resuming from the previous checkpoint {previous} "
        f"(step {int(saved['step'])})",
        stacklevel=3,
    )
    return saved


def check_same_run(
    saved: dict, config: TrainConfig, path: Path, precision: str, threads: int | None
) -> None:
    """Refuse to resume with settings that change the weights (the checkpoint names the
    old ones)."""
    old, new = TrainConfig.from_dict(saved["config"]).to_dict(), config.to_dict()
    differ = [
        f"{k}: {old.get(k)!r} -> {new[k]!r}"
        for k in new
        if k not in BOOKKEEPING and old.get(k) != new[k]
    ]
    # Resolved on the host; checkpoints written before these were recorded are not
    # checked.
    if saved.get("precision") is not None and saved["precision"] != precision:
        differ.append(
            f"resolved autocast precision: {saved['precision']!r} -> {precision!r}"
        )
    if (
        threads is not None
        and saved.get("threads") is not None
        and int(saved["threads"]) != threads
    ):
        differ.append(f"CPU threads: {int(saved['threads'])} -> {threads}")
    if differ:
        raise ValueError(
            f"config: expected the settings of the run being resumed ({path}), "
            f"got changes in {', '.join(differ)}; use another out_dir, "
            "or start over with resume=False (--restart on the command line)"
        )


class GeneratorPair(NamedTuple):
    """``G``: X → Y and ``F``: Y → X in eval mode, and the config they were trained
    with."""

    G: ResnetGenerator
    F: ResnetGenerator
    config: TrainConfig


def load_generators(
    checkpoint: str | Path, device: str | torch.device = "cpu"
) -> GeneratorPair:
    """Rebuild the trained generators of a checkpoint that
    :func:`kdehist.train.train` wrote.

    Loads with ``weights_only=True`` (no code runs from the file). The generators are in
    eval mode: spectral normalisation uses its stored estimate without further updates.

    Example: a checkpoint of an untrained smoke-profile model, and its generators.

    >>> import tempfile
    >>> from kdehist.config import TrainConfig
    >>> from kdehist.io import atomic_torch_save
    >>> from kdehist.models import build_nets
    >>> config = TrainConfig.from_profile("smoke", variant="proposed_both")
    >>> folder = tempfile.mkdtemp()
    >>> saved = {"config": config.to_dict(), "nets": build_nets(config).state_dict()}
    >>> path = atomic_torch_save(f"{folder}/checkpoint.pt", saved)
    >>> G, F, loaded = load_generators(path)
    >>> loaded == config, G.conditioned, G.training
    (True, True, False)
    """
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(
            "checkpoint: expected a checkpoint path (str or Path), "
            f"got {_describe(checkpoint)}"
        )
    path = Path(checkpoint)
    previous = path.with_name(PREVIOUS_CHECKPOINT_NAME)
    advice = "delete it and train again" + (
        f" (train resumes from the previous checkpoint {previous})"
        if path.name == CHECKPOINT_NAME and previous.is_file()
        else ""
    )
    saved = load_checkpoint(path, advice=advice)
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{path}: expected a checkpoint written by kdehist.train.train (a dict), "
            f"got {_describe(saved)}; {advice}"
        )
    for key in ("config", "nets"):
        if key not in saved:
            raise CheckpointError(
                f"{path}: expected a checkpoint written by kdehist.train.train, "
                f"got no {key!r} entry; {advice}"
            )
    try:
        config = TrainConfig.from_dict(saved["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: the checkpoint's config is not valid ({error}); {advice}"
        ) from None
    nets = build_nets(config)
    # Full checkpoints hold all four networks; evaluation snapshots only the generators.
    for name in ("G", "F"):
        prefix = f"{name}."
        weights = {
            k[len(prefix) :]: v
            for k, v in saved["nets"].items()
            if k.startswith(prefix)
        }
        try:
            getattr(nets, name).load_state_dict(weights)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise CheckpointError(
                f"{path}: the weights of {name} do not fit its config "
                f"({first}); {advice}"
            ) from None
    nets.to(device).eval()
    return GeneratorPair(nets.G, nets.F, config)
