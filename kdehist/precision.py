"""Where and at which precision training runs: device, autocast, gradient scaler."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from .profiles import default_device

__all__ = ["resolve_device", "resolve_precision", "Precision", "gpu_rehearsal"]

# The CUDA compute capability that the CPU stands in for, inside gpu_rehearsal().
_rehearsed_capability: tuple[int, int] | None = None


@contextlib.contextmanager
def gpu_rehearsal(capability: tuple[int, int] = (7, 5)):
    """Run the precision code of a CUDA device of ``capability`` on the CPU.

    Inside it, autocast ``"auto"`` resolves on the CPU as it would on that device:
    float16 with a gradient scaler below compute capability 8 (a T4 is 7.5), bfloat16
    from 8 on (an A100 or L4); and ``"fp16"`` runs on the CPU, with
    ``torch.amp.GradScaler("cpu")``. The tests and ``benchmarks/gpu_check.py`` use it to
    exercise the gpu profile's code path where there is no GPU: CPU float16 is slow, and
    not for real training.

    >>> with gpu_rehearsal((7, 5)):
    ...     resolve_precision("auto", torch.device("cpu"))
    'fp16'
    """
    global _rehearsed_capability
    major, minor = capability
    previous, _rehearsed_capability = _rehearsed_capability, (int(major), int(minor))
    try:
        yield
    finally:
        _rehearsed_capability = previous


def resolve_device(name: str) -> torch.device:
    """``"auto"`` is CUDA when available, otherwise the CPU."""
    device = default_device() if name == "auto" else torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device: expected an available device, got {name!r} but CUDA is not "
                "available"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: expected one of the {torch.cuda.device_count()} CUDA devices "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}), got {name!r}"
            )
    return device


def _cpu_has_fast_bf16() -> bool:
    """Whether oneDNN has native bfloat16 kernels here (AVX-512 BF16 or AMX). Without
    them, bf16 autocast falls back to reference convolutions many times slower than
    float32 (``benchmarks/train_step.py`` measures it)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _auto_precision(device: torch.device) -> str:
    rehearsed = device.type == "cpu" and _rehearsed_capability is not None
    if device.type == "cuda" or rehearsed:
        capability = (
            _rehearsed_capability
            if rehearsed
            else torch.cuda.get_device_capability(device)
        )
        # bf16 needs no gradient scaler, but only Ampere (compute capability 8) and
        # newer run it natively; a T4 (7.5) gets fp16 with a scaler.
        return "bf16" if capability[0] >= 8 else "fp16"
    return "bf16" if device.type == "cpu" and _cpu_has_fast_bf16() else "none"


def resolve_precision(mode: str, device: torch.device) -> str:
    """The precision that autocast ``mode`` runs at on ``device``: ``"bf16"``,
    ``"fp16"`` or ``"none"`` (``"auto"`` resolved), or a ValueError when ``device``
    cannot run it.

    >>> resolve_precision("none", torch.device("cpu"))
    'none'
    """
    if mode == "auto":
        mode = _auto_precision(device)
    rehearsed = device.type == "cpu" and _rehearsed_capability is not None
    if mode == "fp16" and device.type != "cuda" and not rehearsed:
        raise ValueError(
            f"autocast: 'fp16' needs a CUDA device, got device {str(device)!r}; "
            "use 'bf16' or 'none'"
        )
    return mode


class Precision:
    """Autocast and, for float16 on CUDA, a gradient scaler, behind one interface."""

    def __init__(self, mode: str, device: torch.device):
        self.device_type = device.type
        mode = resolve_precision(mode, device)
        self.mode = mode
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
        self.scaler = None
        if mode == "fp16":
            try:  # torch >= 2.3; "cpu" only in gpu_rehearsal()
                from torch.amp import GradScaler

                self.scaler = GradScaler(device.type)
            except ImportError:  # torch 2.2
                from torch.cuda.amp import GradScaler

                self.scaler = GradScaler()

    def autocast(self):
        # No autocast object at all in float32: older torch warns about unsupported
        # dtypes even for a disabled one.
        return (
            contextlib.nullcontext()
            if self.dtype is None
            else torch.autocast(self.device_type, dtype=self.dtype)
        )

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
