"""Small torch helpers shared by the package (and its tests)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["requires_grad", "torch_threads"]


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run torch on ``count`` CPU threads inside the block, then restore the setting.

    ``None`` leaves the setting alone. The renderer, the explorer's redraws and the
    tests run on one thread: their tensors are too small for intra-op threads to pay
    off, and when another process keeps a core busy, two OpenMP threads wait on each
    other at every operation (see ``benchmarks/data.py`` and ``benchmarks/widgets.py``).

    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    if count is not None and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count is not None and torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def requires_grad(module: torch.nn.Module, flag: bool) -> None:
    """Switch gradients of every parameter of ``module`` on or off."""
    for p in module.parameters():
        p.requires_grad_(flag)
