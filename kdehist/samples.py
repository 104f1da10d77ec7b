"""The sample grids that training writes to ``out_dir/samples``: a fixed handful of
training images of each domain, translated both ways and back."""

from __future__ import annotations

from pathlib import Path

import torch

from .histogram import soft_histogram
from .io import atomic_write_bytes, png_bytes
from .models import CycleGAN, ResnetGenerator

__all__ = ["translate_grid", "save_samples"]


def _condition(generator: ResnetGenerator, hist: torch.Tensor) -> torch.Tensor | None:
    return hist if generator.conditioned else None


def preview_batch(data, device, count: int = 4) -> tuple[torch.Tensor, ...]:
    """A fixed handful of training images of each domain, for the sample grids."""
    (x, mask_x), (y, mask_y) = data
    n = min(count, len(x), len(y))
    return tuple(t[:n].to(device) for t in (x, mask_x, y, mask_y))


@torch.no_grad()
def translate_grid(
    nets: CycleGAN, preview: tuple[torch.Tensor, ...], bins: int
) -> torch.Tensor:
    """Rows of ``x | y (reference) | G(x) | F(G(x)) | F(y) | G(F(y))`` in one image.

    The image is ``(3, H', W')`` in [0, 1]. Runs the generators in eval mode (no power
    iteration) and restores training mode.
    """
    from torchvision.utils import make_grid

    x, mask_x, y, mask_y = preview
    G, F = nets.G, nets.F
    was_training = nets.training
    nets.eval()
    hist_x, hist_y = (
        soft_histogram(x, bins, mask=mask_x),
        soft_histogram(y, bins, mask=mask_y),
    )
    fake_y, fake_x = G(x, _condition(G, hist_y)), F(y, _condition(F, hist_x))
    rec_x, rec_y = F(fake_y, _condition(F, hist_x)), G(fake_x, _condition(G, hist_y))
    nets.train(was_training)
    tiles = (
        torch.stack([x, y, fake_y, rec_x, fake_x, rec_y], dim=1).flatten(0, 1).float()
    )
    grid = make_grid((tiles.cpu() + 1) / 2, nrow=6, padding=2, pad_value=1.0)
    return grid.clamp(0, 1)


def save_samples(
    nets: CycleGAN, preview: tuple[torch.Tensor, ...], path: Path, bins: int
) -> Path:
    """Write :func:`translate_grid` as a PNG, atomically."""
    grid = translate_grid(nets, preview, bins)
    pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return atomic_write_bytes(path, png_bytes(pixels))
