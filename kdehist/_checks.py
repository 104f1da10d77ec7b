"""Argument validation shared by the whole package.

Every public function checks its inputs here so that bad input fails early with a
message that names the argument, what was expected and what was received.
"""

from __future__ import annotations

import math
import reprlib
from typing import Sequence

import torch


_REPR = reprlib.Repr()
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlevel = 2
_REPR.maxstring = _REPR.maxother = 60


def _short_repr(value) -> str:
    text = _REPR.repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _describe(value) -> str:
    """A short description of a value received: never all of a big list or array."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    shape = getattr(value, "shape", None)
    # NumPy arrays and the like
    if isinstance(shape, tuple) and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {_short_repr(value)}"


def check_tensor(
    name: str,
    value,
    *,
    ndims: Sequence[int] | None = None,
    floating: bool = True,
    finite: bool = True,
) -> torch.Tensor:
    """Check that ``value`` is a tensor of an allowed rank and a usable dtype."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {_describe(value)}")
    if ndims is not None and value.dim() not in ndims:
        wanted = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{name}: expected a {wanted} tensor, got {_describe(value)}")
    if floating and not value.is_floating_point():
        raise TypeError(
            f"{name}: expected a floating-point tensor "
            f"(float16, bfloat16, float32 or float64), got {_describe(value)}"
        )
    if finite and value.numel() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(
            f"{name}: expected finite values, "
            f"got {bad} NaN or inf entries in a {_describe(value)}"
        )
    return value


def check_positive_int(name: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value


def check_positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a positive number, got {_describe(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def check_range(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}: expected a pair (low, high) of numbers, got {_describe(value)}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise ValueError(f"{name}: expected finite low < high, got ({lo}, {hi})")
    return lo, hi


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(map(repr, choices))
        raise ValueError(f"{name}: expected one of {allowed}, got {_short_repr(value)}")
    return value


def check_mask_weights(name: str, weights: torch.Tensor) -> torch.Tensor:
    """Check a batch of masks, ``(B, ...)`` with one image per row, already
    shaped by the caller: non-negative weights and some foreground
    (positive weight) in every image.

    >>> check_mask_weights("mask", torch.ones(2, 1, 4, 4)).shape
    torch.Size([2, 1, 4, 4])
    >>> check_mask_weights("mask", torch.zeros(1, 4, 4))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: mask: expected some foreground ... got none in images [0]
    """
    negative = weights < 0
    if bool(negative.any()):
        raise ValueError(
            f"{name}: expected non-negative weights, got {int(negative.sum())} "
            f"negative entries (min {weights.min().item():.4g})"
        )
    totals = weights.flatten(1).sum(1)
    if bool((totals <= 0).any()):
        empty = torch.nonzero(totals <= 0).flatten().tolist()
        raise ValueError(
            f"{name}: expected some foreground (positive weight) in every image, "
            f"got none in images {empty}"
        )
    return weights
