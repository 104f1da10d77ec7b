"""The history pool of generated images that the discriminators are shown."""

from __future__ import annotations

import torch

from ._checks import check_positive_int

__all__ = ["ImagePool"]


class ImagePool:
    """The reference's history of generated images (Shrivastava et al. 2017).

    Until the pool is full every fake is stored and passed through. Then each fake is,
    with probability 1/2, swapped with a random stored one (the discriminator sees an
    old fake) or passed through. The randomness comes from the pool's own seeded
    generator, and ``state_dict()`` holds the images and the generator state, so a
    resumed run draws the same swaps as an uninterrupted one.

    Args:
        size: capacity; 0 passes every batch through unchanged.
        seed: seed of the pool's generator.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = check_positive_int("size", size, minimum=0)
        self.images: torch.Tensor | None = None  # (stored, C, H, W), float32
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """Return a batch shaped like ``fakes`` (detached), updating the pool."""
        fakes = fakes.detach().float()
        if self.size == 0:
            return fakes
        out = []
        for image in fakes:
            if len(self) < self.size:
                stored = (
                    image[None]
                    if self.images is None
                    else torch.cat([self.images, image[None]])
                )
                self.images = stored
                out.append(image)
            elif torch.rand((), generator=self.generator) < 0.5:
                index = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, torch.Tensor]:
        images = (
            self.images.cpu().clone() if self.images is not None else torch.zeros(0)
        )
        return {"images": images, "generator": self.generator.get_state()}

    def load_state_dict(
        self, state: dict[str, torch.Tensor], device: torch.device | str = "cpu"
    ) -> None:
        self.images = (
            state["images"].to(device, copy=True) if state["images"].numel() else None
        )
        self.generator.set_state(state["generator"].cpu())
