r"""Histogram distances: the paper's L2 (eq. 6), DeepHist's EMD, HistoGAN's Hellinger.

All take histograms of shape ``(B, C, K)`` (or ``(C, K)``), compute one
distance per channel, sum over channels and average over the batch, so that
``kind="l2"`` is eq. (6) exactly:

.. math:: L_{hist} = \sum_{c \in \{R,G,B\}} \lVert h^c_{fake} - h^c_{ref} \rVert_2 .

Each is zero when the histograms are equal, with a finite (zero) gradient there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf

from ._checks import check_choice, check_histogram, check_tensor

LOSS_KINDS = ("l2", "emd", "hellinger")


def _safe_norm(v: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Euclidean norm whose gradient at the origin is 0 instead of NaN."""
    sq = (v * v).sum(dim)
    positive = sq > 0
    return torch.where(
        positive,
        torch.sqrt(torch.where(positive, sq, torch.ones_like(sq))),
        torch.zeros_like(sq),
    )


def histogram_distance(
    h_fake: torch.Tensor, h_ref: torch.Tensor, kind: str = "l2"
) -> torch.Tensor:
    """Per-image, per-channel distances, shape ``(B, C)`` (or ``(C,)``). See
    :func:`kdehist.histogram_loss` for the kinds."""
    # Finite and non-negative: a negative "histogram" (e.g. a difference of two) has
    # no meaning as a distribution and would give a wrong but finite distance.
    check_histogram("h_fake", h_fake, ndims=(2, 3))
    check_histogram("h_ref", h_ref, ndims=(2, 3))
    check_choice("kind", kind, LOSS_KINDS)
    # Only the batch may broadcast: channels and bins must match exactly (a (1, K)
    # or (C, 1) histogram broadcast over the other would return a meaningless number).
    if tuple(h_ref.shape[-2:]) != tuple(h_fake.shape[-2:]):
        raise ValueError(
            f"h_ref: expected {h_fake.shape[-2]} channels of {h_fake.shape[-1]} bins "
            f"like h_fake (shape {tuple(h_fake.shape)}; only the batch may broadcast), "
            f"got shape {tuple(h_ref.shape)}"
        )
    for name, h in (("h_fake", h_fake), ("h_ref", h_ref)):
        if h.numel() == 0:
            raise ValueError(
                f"{name}: expected at least one histogram of at least one bin, "
                f"got shape {tuple(h.shape)}"
            )
    if (
        h_fake.dim() == 3
        and h_ref.dim() == 3
        and h_ref.shape[0] != h_fake.shape[0]
        and 1 not in (h_ref.shape[0], h_fake.shape[0])
    ):
        raise ValueError(
            f"h_ref: expected a batch of 1 or {h_fake.shape[0]} histograms "
            f"to match h_fake, got {h_ref.shape[0]}"
        )
    h_fake, h_ref = torch.broadcast_tensors(h_fake, h_ref.to(h_fake.dtype))
    if kind == "l2":
        return _safe_norm(h_fake - h_ref)
    if kind == "emd":
        # 1-D Wasserstein-1 distance between the two masses, in units of the value range
        # (multiply by hi - lo for value units): the L1 distance between the CDFs.
        bins = h_fake.shape[-1]
        return (h_fake.cumsum(-1) - h_ref.cumsum(-1)).abs().sum(-1) / bins

    # Hellinger, as HistoGAN: ||sqrt(h1) - sqrt(h2)||_2 / sqrt(2). Clamping keeps the
    # sqrt's gradient finite at empty bins (it is zero there).
    def root(h):
        return torch.sqrt(h.clamp_min(1e-12))

    return _safe_norm(root(h_fake) - root(h_ref)) / 2**0.5


def histogram_loss(
    h_fake: torch.Tensor, h_ref: torch.Tensor, kind: str = "l2"
) -> torch.Tensor:
    """Histogram-matching loss: per-channel distance, summed over channels, batch mean.

    Args:
        h_fake: ``(B, C, K)`` or ``(C, K)`` histogram of the generated image (from
            :func:`kdehist.soft_histogram`): finite, non-negative bin masses (a bin
            more than ``1e-6`` below 0 is an error).
        h_ref: the reference histogram, same shape; only the batch may broadcast (e.g.
            ``(1, C, K)`` or ``(C, K)``), channels and bins must match.
        kind: ``"l2"`` (default, eq. 6: the Euclidean norm, not squared), ``"emd"`` (the
            1-D earth mover's distance through CDFs, as in DeepHist, in units of the
            value range) or ``"hellinger"`` (as in HistoGAN).

    Returns:
        A scalar tensor. Symmetric in its arguments and zero when they are equal.
    """
    distance = histogram_distance(h_fake, h_ref, kind)
    return distance.sum(-1).mean() if distance.dim() == 2 else distance.sum(-1)


# ----------------------------------------------------------- CycleGAN losses (eq. 9-11)


def gan_loss(
    logits: torch.Tensor, target_is_real: bool, mode: str = "lsgan"
) -> torch.Tensor:
    """Adversarial loss of patch logits against an all-real or all-fake target.

    ``"lsgan"``: mean squared error to 1 or 0 (the reference's default). ``"vanilla"``:
    the binary cross-entropy of eq. (9) on logits; as a generator loss it is the usual
    non-saturating form, ``-log D(G(x))``.
    """
    logits = logits.float()  # losses in float32 even under autocast
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    if mode == "lsgan":
        return nnf.mse_loss(logits, target)
    return nnf.binary_cross_entropy_with_logits(logits, target)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error in float32: cycle (eq. 10) and identity (eq. 11) losses."""
    return nnf.l1_loss(a.float(), b.float())


# ----------------------------------------------------------------------------- shading

# Rec. 601 luma weights, the luminance that carries a knee's shading.
_LUMA = (0.299, 0.587, 0.114)
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def luminance_gradients(
    images: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-3
) -> torch.Tensor:
    """Sobel gradients ``(B, 2, H, W)`` of each image's luminance, standardised.

    Standardising (zero mean, unit standard deviation over ``mask``, or over the whole
    image) makes the gradients blind to a global change of brightness or contrast: a
    translation to a darker or paler skin tone keeps its gradients, a washed-out shading
    does not.

    Args:
        images: ``(B, 3, H, W)`` RGB in [-1, 1].
        mask: optional ``(B, 1, H, W)`` weights in [0, 1] for the statistics.
        eps: added to the standard deviation, so that a flat image has zero gradients.

    >>> flat = torch.zeros(1, 3, 8, 8)
    >>> luminance_gradients(flat).abs().max().item()
    0.0
    """
    check_tensor("images", images, ndims=(4,))
    if images.shape[1] != 3:
        raise ValueError(
            f"images: expected 3 (RGB) channels, got {tuple(images.shape)}"
        )
    # float32 at least (autocast may hand in half precision); float64 stays.
    x = images if images.dtype == torch.float64 else images.float()
    weights = x.new_tensor(_LUMA).view(1, 3, 1, 1)
    luma = (x * weights).sum(1, keepdim=True)
    w = torch.ones_like(luma) if mask is None else mask.to(luma.dtype)
    total = w.sum((2, 3), keepdim=True).clamp_min(1.0)
    mean = (luma * w).sum((2, 3), keepdim=True) / total
    var = ((luma - mean) ** 2 * w).sum((2, 3), keepdim=True) / total
    luma = (luma - mean) / (var.sqrt() + eps)
    sobel_x = x.new_tensor(_SOBEL_X).view(1, 1, 3, 3) / 8
    kernels = torch.cat([sobel_x, sobel_x.transpose(-1, -2)])
    return nnf.conv2d(nnf.pad(luma, (1, 1, 1, 1), mode="replicate"), kernels)


def structure_loss(
    source: torch.Tensor, translated: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean absolute difference of :func:`luminance_gradients` of an input and its
    translation, over ``mask`` (the input's foreground) or the whole image.

    Zero when the translation keeps the input's shading up to a brightness and contrast
    change, whatever colours it paints.

    >>> x = torch.rand(2, 3, 16, 16) * 2 - 1
    >>> float(structure_loss(x, 0.5 * x - 0.2)) < 0.01  # darker and paler: same shading
    True
    """
    if source.shape != translated.shape:
        raise ValueError(
            f"source, translated: expected the same shape, got {tuple(source.shape)} "
            f"and {tuple(translated.shape)}"
        )
    difference = (
        luminance_gradients(source, mask) - luminance_gradients(translated, mask)
    ).abs()
    if mask is None:
        return difference.mean()
    w = mask.to(difference.dtype)
    return (difference * w).sum() / (2 * w.sum()).clamp_min(1.0)


def _luma(images: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` Rec. 601 luma in float32 at least (autocast may hand in half
    precision; float64 stays)."""
    x = images if images.dtype == torch.float64 else images.float()
    return (x * x.new_tensor(_LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with zero padding, differentiable."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    images = nnf.conv2d(images, kernel.view(1, 1, 1, -1), padding=(0, radius))
    return nnf.conv2d(images, kernel.view(1, 1, -1, 1), padding=(radius, 0))


def relief_loss(
    source: torch.Tensor,
    translated: torch.Tensor,
    mask: torch.Tensor | None = None,
    sigma: float | None = None,
    erosion: int | None = None,
) -> torch.Tensor:
    """One minus the correlation of an input's and its translation's luminance relief
    inside the input's leg, averaged over the batch: in [0, 2], 0 when the relief is
    kept up to a brightness and contrast change.

    The relief is luma minus its Gaussian blur of width ``sigma``, the blur normalised
    over ``mask`` eroded by ``erosion`` pixels, and correlated over that eroded mask:
    the differentiable twin of :func:`kdehist.shading.shading_score` against the input
    (luma for L*, which a correlation does not mind on a leg of one hue).

    Args:
        source: ``(B, 3, H, W)`` inputs in [-1, 1].
        translated: their translations, the same shape.
        mask: ``(B, 1, H, W)`` the inputs' foregrounds in [0, 1]. Default: the whole
            image.
        sigma: blur width in pixels. Default ``kdehist.shading.default_sigma``.
        erosion: pixels eroded off the mask. Default
            ``kdehist.shading.default_erosion``.

    >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    >>> mask = torch.ones(2, 1, 32, 32)
    >>> float(relief_loss(x, 0.5 * x - 0.2, mask)) < 1e-6  # darker and paler
    True
    >>> float(relief_loss(x, torch.zeros_like(x), mask))  # flat: no relief kept
    1.0
    """
    if source.shape != translated.shape:
        raise ValueError(
            f"source, translated: expected the same shape, got {tuple(source.shape)} "
            f"and {tuple(translated.shape)}"
        )
    if mask is None:
        mask = torch.ones_like(source[:, :1])
    check_tensor("mask", mask, ndims=(4,), floating=False)
    if tuple(mask.shape) != (source.shape[0], 1, *source.shape[2:]):
        raise ValueError(
            f"mask: expected shape {(source.shape[0], 1, *source.shape[2:])}, "
            f"got {tuple(mask.shape)}"
        )
    size = min(source.shape[-2:])
    sigma = 3.0 * size / 64 if sigma is None else float(sigma)
    erosion = max(1, round(2 * size / 64)) if erosion is None else int(erosion)
    if not sigma > 0:
        raise ValueError(f"sigma: expected a number > 0, got {sigma}")
    if erosion < 0:
        raise ValueError(f"erosion: expected an int >= 0, got {erosion}")
    a, b = _luma(source), _luma(translated)
    m = (mask > 0.5).to(a.dtype)
    if erosion:
        m = -nnf.max_pool2d(-m, 2 * erosion + 1, stride=1, padding=erosion)
    support = _blur(m, sigma).clamp_min(1e-6)

    def relief(luma: torch.Tensor) -> torch.Tensor:
        r = (luma - _blur(luma * m, sigma) / support) * m
        total = m.sum((2, 3), keepdim=True).clamp_min(1.0)
        return (r - (r.sum((2, 3), keepdim=True) / total)) * m

    ra, rb = relief(a), relief(b)
    covariance = (ra * rb).sum((1, 2, 3))
    # The small constant keeps the gradient finite at a flat translation.
    spread = (ra.square().sum((1, 2, 3)) + 1e-8).sqrt() * (
        rb.square().sum((1, 2, 3)) + 1e-8
    ).sqrt()
    return (1 - covariance / spread).mean()
