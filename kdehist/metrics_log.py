"""The training metrics log, ``metrics.jsonl``: written by :func:`kdehist.train.train`,
read back with :func:`read_metrics` (re-exported by :mod:`kdehist.train`).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from ._checks import _describe
from .io import atomic_write_bytes

__all__ = ["METRICS_NAME", "MetricsLog", "read_metrics"]

METRICS_NAME = "metrics.jsonl"


def _parse_metrics(path: Path) -> list[dict[str, float]]:
    """The records of a metrics file; damaged lines (a write cut short)
    are dropped with a warning.
    """
    records, damaged = [], []
    text = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if (
            not isinstance(record, dict)
            or isinstance(record.get("step"), bool)
            or not isinstance(record.get("step"), int)
        ):
            damaged.append(number)
            continue
        records.append(record)
    if damaged:
        numbers = ", ".join(map(str, damaged[:5])) + (
            " ..." if len(damaged) > 5 else ""
        )
        warnings.warn(
            f"{path}: dropped {len(damaged)} damaged line(s) (line {numbers}), "
            "e.g. a write cut short by a kill or a full disk",
            stacklevel=3,
        )
    return records


class MetricsLog:
    """``metrics.jsonl``: one JSON object per line, each written whole and flushed.

    On resume, lines logged after the checkpoint's step (work that was lost) are
    dropped, and so are damaged lines (with a warning), by rewriting the file
    atomically, so the log matches the weights.
    """

    def __init__(self, path: Path, keep_until: int = 0):
        self.path = path
        kept = []
        if keep_until > 0 and path.is_file():
            kept = [
                record
                for record in _parse_metrics(path)
                if record["step"] <= keep_until
            ]
        text = "".join(json.dumps(record, allow_nan=True) + "\n" for record in kept)
        atomic_write_bytes(path, text.encode())

    def write(self, record: dict[str, float]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, allow_nan=True) + "\n")


def read_metrics(out_dir: str | Path) -> list[dict[str, float]]:
    """All records of ``out_dir/metrics.jsonl``, in order. A damaged line (a write cut
    short) is dropped with a warning that names the file."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(
            f"out_dir: expected a run folder (str or Path), got {_describe(out_dir)}"
        )
    path = Path(out_dir) / METRICS_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"out_dir: expected a run folder holding {METRICS_NAME}, "
            f"got {str(out_dir)!r} without one"
        )
    return _parse_metrics(path)


def read_metrics_if_any(out_dir: Path) -> list[dict[str, float]]:
    if not (out_dir / METRICS_NAME).is_file():
        warnings.warn(
            f"{out_dir / METRICS_NAME} is missing: the run's metrics are lost "
            "(the weights are not)",
            stacklevel=3,
        )
        return []
    return read_metrics(out_dir)
