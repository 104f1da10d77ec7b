"""A frozen knee segmenter and its ``shape_score``: does a translation keep the leg?

Mask IoU from the border colour (:func:`kdehist.data.border_background_mask`) confuses
shape with background colour: an output with a mid-grey background is "all foreground".
In the spirit of the FCN-score of pix2pix and CycleGAN (Isola et al. 2017; Zhu et al.
2017), we instead train a small segmenter on photographic-style renders whose masks are
exact, freeze it, and score a translated image by the IoU of its predicted leg against
the input's mask. The segmenter never sees a generator's output during training; its
training images vary pose, skin tone (the whole Monk scale), lighting, exposure and
background, with colour, contrast, noise and background-replacement jitter on top, so
that colour alone cannot tell it where the leg is: shading and outline must.

Training is deterministic (seeded data, weights and batches; one thread) and takes
minutes on a CPU. The weights used for the book's results ship with the package
(``kdehist/assets/segmenter_64px_v1.pt``, under 0.5 MB) so that every machine scores
with the same network; :func:`load_segmenter` retrains and caches them when absent.

Example::

    >>> import torch
    >>> from kdehist.segment import KneeSegmenter, shape_score
    >>> net = KneeSegmenter(width=4).eval()
    >>> images, masks = torch.zeros(2, 3, 32, 32), torch.ones(2, 1, 32, 32)
    >>> shape_score(images, masks, net).shape
    torch.Size([2])
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as nnf
from torch import nn

from ._checks import check_positive_int
from ._torch_utils import requires_grad, torch_threads
from .io import atomic_torch_save, load_checkpoint

__all__ = [
    "KneeSegmenter",
    "shape_score",
    "train_segmenter",
    "heldout_iou",
    "load_segmenter",
    "SEGMENTER_SIZE",
]

#: The side at which the segmenter works; other sizes are resized to it.
SEGMENTER_SIZE = 64
#: Bumped whenever the training recipe changes (cached weights of
#: another version are ignored).
SEGMENTER_VERSION = 1
ASSET = f"segmenter_{SEGMENTER_SIZE}px_v{SEGMENTER_VERSION}.pt"


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.GroupNorm(min(8, c_out), c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.GroupNorm(min(8, c_out), c_out), nn.ReLU(inplace=True),
    )  # fmt: skip


class KneeSegmenter(nn.Module):
    """Three-level U-Net: images ``(B, 3, H, W)`` in [-1, 1] -> logits ``(B, 1, H, W)``.

    Args:
        width: channels of the first level (doubled at each of the two lower levels).
            Default 16 (about 0.12 M parameters). ``H`` and
            ``W`` must be multiples of 4.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        w = check_positive_int("width", width)
        self.width = w
        self.enc1, self.enc2, self.enc3 = (
            _block(3, w),
            _block(w, 2 * w),
            _block(2 * w, 4 * w),
        )
        self.dec2, self.dec1 = _block(6 * w, 2 * w), _block(3 * w, w)
        self.head = nn.Conv2d(w, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if (
            not isinstance(images, torch.Tensor)
            or images.dim() != 4
            or images.shape[1] != 3
        ):
            shape = (
                tuple(images.shape)
                if isinstance(images, torch.Tensor)
                else type(images).__name__
            )
            raise ValueError(f"images: expected a (B, 3, H, W) tensor, got {shape}")
        if images.shape[-1] % 4 or images.shape[-2] % 4:
            raise ValueError(
                "images: expected H and W multiples of 4, "
                f"got {tuple(images.shape[-2:])}"
            )
        e1 = self.enc1(images.float())
        e2 = self.enc2(nnf.max_pool2d(e1, 2))
        e3 = self.enc3(nnf.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([nnf.interpolate(e3, scale_factor=2.0), e2], 1))
        d1 = self.dec1(torch.cat([nnf.interpolate(d2, scale_factor=2.0), e1], 1))
        return self.head(d1)


def _to_segmenter_size(images: torch.Tensor) -> torch.Tensor:
    if images.shape[-1] == SEGMENTER_SIZE and images.shape[-2] == SEGMENTER_SIZE:
        return images
    return nnf.interpolate(
        images.float(), size=(SEGMENTER_SIZE, SEGMENTER_SIZE), mode="area"
    )


@torch.no_grad()
def shape_score(
    images: torch.Tensor,
    masks: torch.Tensor,
    segmenter: nn.Module,
    batch_size: int = 256,
) -> torch.Tensor:
    """IoU of the segmenter's leg in each image with the given mask: ``(B,)`` in [0, 1].

    Args:
        images: ``(B, 3, H, W)`` in [-1, 1]; larger than 64 px, resized (area) to 64 px
            with their masks; smaller ones are segmented as they are.
        masks: ``(B, 1, H, W)`` in {0, 1}, the leg the image should show (for a
            translation, its input's mask).
        segmenter: a :class:`KneeSegmenter` (put in eval mode here).
    """
    if (
        images.dim() != 4
        or masks.dim() != 4
        or masks.shape[1] != 1
        or images.shape[0] != masks.shape[0]
    ):
        raise ValueError(
            f"images, masks: expected (B, 3, H, W) and (B, 1, H, W) with the same B, "
            f"got {tuple(images.shape)} and {tuple(masks.shape)}"
        )
    segmenter.eval()
    device = next(segmenter.parameters()).device
    scores = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        m = masks[start : start + batch_size].to(device).float()
        # larger images: scored at 64 px
        if x.shape[-1] > SEGMENTER_SIZE or x.shape[-2] > SEGMENTER_SIZE:
            x, m = _to_segmenter_size(x), _to_segmenter_size(m)
        predicted = segmenter(x) > 0
        truth = m > 0.5
        inter = (predicted & truth).flatten(1).sum(1).float()
        union = (predicted | truth).flatten(1).sum(1).float()
        scores.append(
            torch.where(
                union > 0, inter / union.clamp_min(1), torch.ones_like(union)
            ).cpu()
        )
    return torch.cat(scores)


# ------------------------------------------------------------------------ training data


def render_training_set(
    count: int, size: int = SEGMENTER_SIZE, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` renders with exact masks: four in five photographic (random pose, Monk
    tone and look), one in five simulator-style. A pure function of its arguments.
    """
    from .knees import (
        render_batch,
        as_float,
        render_real,
        sample_appearance,
        sample_pose,
    )

    generator = torch.Generator().manual_seed(10_007 * (seed + 1))
    poses = [sample_pose(generator) for _ in range(count)]
    tones = torch.rand(count, generator=generator).tolist()
    looks = [sample_appearance(generator) for _ in range(count)]
    sim = torch.rand(count, generator=generator) < 0.2
    real_idx = [k for k in range(count) if not sim[k]]
    sim_idx = [k for k in range(count) if sim[k]]
    images = torch.empty(count, 3, size, size)
    masks = torch.empty(count, 1, size, size)
    if real_idx:
        im, ma = render_real(
            [poses[k] for k in real_idx],
            [tones[k] for k in real_idx],
            size=size,
            appearance=[looks[k] for k in real_idx],
        )
        images[real_idx], masks[real_idx] = im, ma
    if sim_idx:
        im, ma = as_float(*render_batch("sim", [poses[k] for k in sim_idx], size))
        images[sim_idx], masks[sim_idx] = im, ma
    return images, masks


def jitter(
    images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Photometric jitter so that colour alone cannot find the leg: per-channel gains,
    contrast and brightness, a flat random background in one image of three, sensor
    noise and a horizontal flip (applied to ``masks`` too, in place of a copy)."""
    b = len(images)

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, *shape, generator=generator)

    x = (images + 1) / 2
    x = x * uniform(0.6, 1.4, 3, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(0.5, 1.5, 1, 1, 1) + mean + uniform(-0.25, 0.25, 1, 1, 1)
    swap = (torch.rand(b, 1, 1, 1, generator=generator) < 1 / 3).float()
    replace = swap * (1 - masks)
    x = x * (1 - replace) + uniform(0.0, 1.0, 3, 1, 1) * replace
    x = x + uniform(0.0, 0.08, 1, 1, 1) * torch.randn(x.shape, generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    x[flip] = x[flip].flip(-1)
    masks[flip] = masks[flip].flip(-1)
    return (x.clamp(0, 1) * 2 - 1), masks


def train_segmenter(
    steps: int = 600,
    count: int = 1536,
    batch_size: int = 32,
    seed: int = 0,
    width: int = 16,
    size: int = SEGMENTER_SIZE,
    progress: bool = False,
) -> KneeSegmenter:
    """Train a :class:`KneeSegmenter` deterministically (on the CPU, one thread).

    Args:
        steps: Adam steps (cosine-decayed learning rate from 2e-3). Default 600.
        count: renders in the training set (:func:`render_training_set`). Default 1536.
        batch_size: images per step, each with fresh :func:`jitter`. Default 32.
        seed: seeds the renders, the weights and the batches. Default 0.
        width: see :class:`KneeSegmenter`. size: render side (default 64).
    """
    for name, value in (("steps", steps), ("count", count), ("batch_size", batch_size)):
        check_positive_int(name, value)
    with torch_threads(1):
        images, masks = render_training_set(count, size, seed)
        torch.manual_seed(seed)
        net = KneeSegmenter(width)
        optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
        generator = torch.Generator().manual_seed(seed + 1)
        net.train()
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
            index = torch.randint(count, (batch_size,), generator=generator)
            x, m = jitter(images[index], masks[index].clone(), generator)
            logits = net(x)
            probability = torch.sigmoid(logits)
            dice = 1 - (2 * (probability * m).sum() + 1) / (
                probability.sum() + m.sum() + 1
            )
            loss = nnf.binary_cross_entropy_with_logits(logits, m) + dice
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if progress and (step + 1) % 100 == 0:
                print(
                    f"segmenter step {step + 1}/{steps}: loss {loss.item():.4f}",
                    flush=True,
                )
    return net.eval()


def heldout_iou(
    segmenter: nn.Module, count: int = 256, seed: int = 1000, size: int = SEGMENTER_SIZE
) -> float:
    """Mean :func:`shape_score` on ``count`` fresh renders (another seed
    than training), unjittered.
    """
    images, masks = render_training_set(count, size, seed)
    return float(shape_score(images, masks, segmenter).mean())


def _asset_path() -> Path:
    return Path(str(resources.files("kdehist") / "assets" / ASSET))


def load_segmenter(
    cache_dir: str | Path | None = None, progress: bool = False
) -> tuple[KneeSegmenter, dict]:
    """Frozen segmenter and its record ``{"heldout_iou", "version", "source", ...}``.

    Uses the weights shipped with the package; without them, the copy cached in
    ``cache_dir`` (default ``runs/segmenter``); without that, trains one
    (:func:`train_segmenter`, a few minutes), measures it and caches it atomically.
    """
    from .profiles import runs_dir

    candidates = [_asset_path()]
    cache = (
        Path(cache_dir) if cache_dir is not None else runs_dir("segmenter")
    ) / ASSET
    candidates.append(cache)
    for path in candidates:
        if path.is_file():
            saved = load_checkpoint(path)
            net = KneeSegmenter(int(saved["width"]))
            net.load_state_dict(saved["weights"])
            return net.eval(), {
                **saved["record"],
                "source": "package" if path == candidates[0] else str(path),
            }
    net = train_segmenter(progress=progress)
    record = {
        "heldout_iou": heldout_iou(net),
        "version": SEGMENTER_VERSION,
        "size": SEGMENTER_SIZE,
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    atomic_torch_save(
        cache, {"width": net.width, "weights": net.state_dict(), "record": record}
    )
    return net, {**record, "source": str(cache)}


def frozen_segmenter(device: torch.device) -> nn.Module:
    segmenter = load_segmenter()[0].to(device).eval()
    requires_grad(segmenter, False)
    return segmenter


def own_foreground(segmenter: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The foreground of ``images`` ``(B, 3, H, W)`` as the frozen ``segmenter`` sees
    it: probabilities ``(B, 1, H, W)``, differentiable with respect to ``images``.

    The segmenter works at ``kdehist.segment.SEGMENTER_SIZE``; other sizes are
    resized there and back (bilinear).
    """
    size = images.shape[-2:]
    x = images.float()
    if tuple(size) != (SEGMENTER_SIZE, SEGMENTER_SIZE):
        x = nn.functional.interpolate(
            x, size=(SEGMENTER_SIZE, SEGMENTER_SIZE), mode="bilinear", antialias=True
        )
    probabilities = torch.sigmoid(segmenter(x))
    if tuple(size) != (SEGMENTER_SIZE, SEGMENTER_SIZE):
        probabilities = nn.functional.interpolate(
            probabilities, size=tuple(size), mode="bilinear"
        )
    # A floor keeps every image's mask non-empty (the histogram divides by its sum).
    return probabilities.clamp_min(1e-4)
