"""Colab: keep the runs on Google Drive, which outlives the runtime.

Colab wipes its own disk when the runtime disconnects. :func:`use_drive` mounts Drive
and points ``KDEHIST_RUNS`` (:func:`kdehist.profiles.runs_dir`) at a folder there, so
that checkpoints, snapshots and evaluations survive and a re-run resumes from them.
Drive uploads in the background: after a hard disconnect the newest checkpoint may be
missing, and training then resumes from the one before.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .profiles import RUNS_ENV_VAR

__all__ = ["on_colab", "use_drive"]

#: Where Colab mounts Google Drive.
MOUNTPOINT = Path("/content/drive")


def on_colab() -> bool:
    """Whether this is a Colab runtime (its ``google.colab`` module is loaded)."""
    return "google.colab" in sys.modules


def use_drive(folder: str = "kdehist-runs") -> Path | None:
    """On Colab, mount Google Drive and keep the runs in ``MyDrive/<folder>``.

    Sets ``KDEHIST_RUNS`` to that folder (creating it) unless it is set already, and
    returns the runs folder. The first mount asks for permission in a pop-up. Anywhere
    else it does nothing and returns ``None``: the runs go to ``$KDEHIST_RUNS`` or
    ``./runs``. Call it before anything trains.
    """
    if not isinstance(folder, str) or not folder.strip() or Path(folder).is_absolute():
        raise ValueError(
            f"folder: expected a folder name inside MyDrive, got {folder!r}"
        )
    if not on_colab():
        return None
    from google.colab import drive

    drive.mount(str(MOUNTPOINT))
    if os.environ.get(RUNS_ENV_VAR):
        path = Path(os.environ[RUNS_ENV_VAR])
        print(f"{RUNS_ENV_VAR} is set already: the runs go to {path}")
    else:
        path = MOUNTPOINT / "MyDrive" / folder
        os.environ[RUNS_ENV_VAR] = str(path)
        print(f"the runs go to Google Drive: {path}")
    path.mkdir(parents=True, exist_ok=True)
    return path
