"""Argument validation shared by the whole package.

Every public function checks its inputs here so that bad input fails early with a
message that names the argument, what was expected and what was received.
"""

from __future__ import annotations

import math
import reprlib
from typing import Sequence

import numpy as np
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
        where = {"cpu": "", "meta": " on the meta device"}.get(
            value.device.type, f" on {value.device}"
        )
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}{where}"
    shape = getattr(value, "shape", None)
    # NumPy arrays and the like
    if isinstance(shape, tuple) and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {_short_repr(value)}"


def _scalar(value):
    """A number given as a NumPy scalar, a 0-d array or a 0-d tensor, as a Python
    ``int`` or ``float``; anything else (booleans included) is returned unchanged, for
    the caller to refuse.

    A 0-d CUDA tensor is read back to the host (a sync), as any number that must be a
    Python number is; a meta tensor, which holds no value, is returned unchanged.

    >>> _scalar(np.int64(16)), _scalar(torch.tensor(0.5)), _scalar(np.array(3))
    (16, 0.5, 3)
    >>> isinstance(_scalar(np.bool_(True)), np.bool_), _scalar(torch.ones(2)).shape
    (True, torch.Size([2]))
    """
    if isinstance(value, (int, float)):  # the usual case first: Python numbers
        return value
    if isinstance(value, torch.Tensor):
        if (
            value.dim() == 0
            and value.device.type != "meta"
            and not value.is_complex()
            and value.dtype != torch.bool
        ):
            return value.item()
        return value
    if (
        isinstance(value, (np.generic, np.ndarray))
        and np.ndim(value) == 0
        and value.dtype.kind in "iuf"
    ):
        return value.item()
    return value


def _require_data(name: str, value: torch.Tensor) -> None:
    """Refuse a meta tensor where its values are needed: it has a shape but no data."""
    if value.device.type == "meta":
        raise ValueError(
            f"{name}: expected a tensor holding values (on the CPU or a GPU), got a "
            f"{_describe(value)}, which has a shape but no data"
        )


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
    if finite and value.numel():
        _require_data(name, value)
    if finite and value.numel() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(
            f"{name}: expected finite values, "
            f"got {bad} NaN or inf entries in a {_describe(value)}"
        )
    return value


def check_positive_int(name: str, value, *, minimum: int = 1) -> int:
    """An int ``>= minimum``, returned as a Python ``int``: NumPy integers and 0-d
    integer arrays or tensors are ints too (see :func:`_scalar`).

    >>> check_positive_int("bins", np.int64(16)), check_positive_int("bins", 16)
    (16, 16)
    """
    number = _scalar(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {_describe(value)}")
    if number < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {number}")
    return number


def _check_real(name: str, value, expected: str) -> float:
    number = _scalar(value)
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise TypeError(f"{name}: expected {expected}, got {_describe(value)}")
    return number


def check_positive_float(name: str, value) -> float:
    """A finite number ``> 0``, returned as a Python ``float``; NumPy scalars and 0-d
    arrays or tensors are numbers too (see :func:`_scalar`).

    >>> check_positive_float("bandwidth", torch.tensor(0.25))
    0.25
    """
    number = _check_real(name, value, "a positive number")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {number!r}")
    return float(number)


def check_nonnegative_float(name: str, value) -> float:
    """A finite number ``>= 0``, returned as a Python ``float`` (numbers as in
    :func:`check_positive_float`)."""
    number = _check_real(name, value, "a finite number >= 0")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {number!r}")
    return float(number)


def check_range(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError, RuntimeError, NotImplementedError):
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
    _require_data(name, weights)
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


# Rounding may leave a bin a few ulps below 0 (float64 sums in another order on a GPU);
# anything further below 0 is not a histogram.
_HISTOGRAM_TOLERANCE = 1e-6


def check_histogram(name: str, value, *, ndims: Sequence[int]) -> torch.Tensor:
    """Check a batch of histograms: a floating-point tensor of finite, non-negative
    bin masses (a bin may be ``1e-6`` below 0: rounding).

    One reduction, hence one device sync, like :func:`check_tensor`'s finite check.

    >>> check_histogram("h", torch.full((3, 4), 0.25), ndims=(2,)).shape
    torch.Size([3, 4])
    >>> check_histogram("h", torch.tensor([[0.5, -0.5]]), ndims=(2,))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: h: expected non-negative bin masses ... entries (min -0.5) in a...
    """
    check_tensor(name, value, ndims=ndims, finite=False)
    if not value.numel():
        return value  # the caller says what an empty histogram means
    _require_data(name, value)
    # One reduction for both checks: a NaN makes both ends NaN, which fail either
    # comparison; -inf is below the tolerance and +inf fails the second.
    low, high = torch.aminmax(value.detach())
    if not bool((low >= -_HISTOGRAM_TOLERANCE) & (high < math.inf)):
        check_tensor(name, value)  # NaN or inf: the usual message
        negative = value < -_HISTOGRAM_TOLERANCE
        raise ValueError(
            f"{name}: expected non-negative bin masses (a histogram), got "
            f"{int(negative.sum())} negative entries (min {value.min().item():.4g}) "
            f"in a {_describe(value)}"
        )
    return value


def check_device(name: str, value, *, advice: str = "") -> torch.device:
    """A ``torch.device`` from anything ``torch.device`` takes; a CUDA device must
    exist here, else the message says so (ending with ``advice``, if given) instead of
    the driver's error at the first tensor moved there.

    >>> check_device("device", "cpu")
    device(type='cpu')
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, torch.device)):
        raise TypeError(
            f"{name}: expected a device such as 'cpu' or 'cuda' (a str or "
            f"torch.device), got {_describe(value)}"
        )
    shown = repr(str(value)) if isinstance(value, torch.device) else repr(value)
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{name}: expected a device such as 'cpu', 'cuda' or 'cuda:N', got {shown}"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}: expected an available device, got {shown} but CUDA is not "
                f"available here (torch.cuda.is_available() is False){advice}"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"{name}: expected one of the {count} CUDA devices "
                f"(cuda:0 to cuda:{count - 1}), got {shown}{advice}"
            )
    return device
