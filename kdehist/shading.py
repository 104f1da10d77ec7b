"""Shading measures with ground truth, and the corruptions that show what they measure.

The paper's limitation is that shading fades while colour improves. ΔE of the mean
colours and the segmenter's silhouette score cannot see that, so this module measures
the leg's *relief*: L* minus its Gaussian blur of width ``sigma``, the blur taken over
the target's leg mask eroded by ``erosion`` pixels (a normalised convolution, so neither
the background nor the anti-aliased outline leaks in). Subtracting the blur keeps the
bumps (kneecap, condyles, tuberosity) and drops the slow gradient across the leg.

:func:`shading_score` correlates two reliefs inside that eroded mask. A correlation
ignores any affine change of L*: brightness (an offset), contrast (a factor) and,
nearly, a change of skin tone (linear-light gains scale L* + 16 where a pixel's
chromaticity is uniform). SSIM's structure term is the same idea in local windows; one
correlation over the leg has no constants to tune. Being a correlation, it sees the
*pattern* of the shading, not its depth: :func:`relief_ratio` gives the depth.
Silhouette errors of up to ``erosion`` pixels do not reach either, by design; the
segmenter's ``shape_score`` stays the silhouette measure.

**Which target.** The oracle renders the input's pose in the reference's look, lighting
included, which a colour histogram cannot tell a generator: the input render itself
scores only about 0.5 against it. Relief against the input is what a translation can
keep, so it is the primary measure; against the oracle it is the ideal's view.

:func:`validity_table` corrupts images (oracles) in controlled ways and reports how far
each measure moves; :data:`CLAIMS` lists what each measure claims to ignore, which may
move it by at most :data:`CLAIM_TOLERANCE`. Nothing here is differentiable (L*a*b* comes
from :func:`kdehist.to_lab`, on NumPy); every result is a float64 or float32 CPU tensor.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as nnf
from scipy import ndimage

from ._checks import _describe, check_positive_float, check_tensor
from .color import delta_e, to_lab

__all__ = [
    "shading_score",
    "kneecap_score",
    "relief_ratio",
    "spread_ratio",
    "default_sigma",
    "default_erosion",
    "change_tone",
    "change_brightness",
    "change_contrast",
    "blur",
    "flatten_shading",
    "erase_kneecap",
    "dilate_silhouette",
    "erode_silhouette",
    "CORRUPTIONS",
    "CLAIMS",
    "CLAIM_TOLERANCE",
    "FLAT_RELIEF",
    "validity_table",
    "broken_claims",
]

#: The standard deviation of L* below which a relief is flat, with no shading.
FLAT_RELIEF = 0.01
#: The most that a corruption a measure claims to ignore may move the measure's mean.
CLAIM_TOLERANCE = 0.05

# ----------------------------------------------------------------------------- checks


def _check_images(name: str, images, like=None, like_name: str = "") -> torch.Tensor:
    check_tensor(name, images, ndims=(4,))
    if images.shape[1] != 3 or 0 in images.shape:
        raise ValueError(
            f"{name}: expected (N, 3, H, W) images with N, H, W >= 1, "
            f"got {_describe(images)}"
        )
    if like is not None and images.shape != like.shape:
        raise ValueError(
            f"{name}: expected shape {tuple(like.shape)} like {like_name}, "
            f"got {tuple(images.shape)}"
        )
    return images


def _check_mask(name: str, mask, images_name: str, images: torch.Tensor):
    """A ``(N, 1, H, W)`` mask with values in [0, 1] -> bool (values above 0.5)."""
    check_tensor(name, mask, ndims=(4,), floating=False)
    expected = (images.shape[0], 1, *images.shape[2:])
    if tuple(mask.shape) != expected:
        raise ValueError(
            f"{name}: expected shape {expected} to match {images_name}, "
            f"got {tuple(mask.shape)}"
        )
    values = mask.detach().cpu().double()
    if values.min() < 0 or values.max() > 1:
        raise ValueError(
            f"{name}: expected values in [0, 1], "
            f"got [{values.min().item():.4g}, {values.max().item():.4g}]"
        )
    return values > 0.5


def _pixels(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int >= 0, got {_describe(value)}")
    if value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value}")
    return value


def _side(images: torch.Tensor) -> int:
    return min(images.shape[-2:])


def default_sigma(size: int) -> float:
    """The relief's blur width in pixels: 3 at 64 px, in proportion to ``size``."""
    return 3.0 * size / 64


def default_erosion(size: int) -> int:
    """Pixels eroded off the leg mask: 2 at 64 px, in proportion (at least 1)."""
    return max(1, round(2 * size / 64))


# ----------------------------------------------------------------------- image helpers


def _gaussian(images: torch.Tensor, sigma: float, support=None) -> torch.Tensor:
    """Gaussian blur of ``(N, C, H, W)`` float64, normalised over ``support``
    (``(N, 1, H, W)`` weights; default every pixel), so that neither the frame nor the
    pixels outside the support pull values towards zero; 0 where there is no support."""
    radius = max(1, math.ceil(3 * sigma))
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1.0) / sigma) ** 2)
    kernel = (kernel / kernel.sum()).double()
    images = images.detach().cpu().double()
    support = torch.ones_like(images[:, :1]) if support is None else support.double()
    stacked = torch.cat([images * support, support], dim=1)
    flat = stacked.reshape(-1, 1, *stacked.shape[2:])
    flat = nnf.conv2d(flat, kernel.view(1, 1, 1, -1), padding=(0, radius))
    flat = nnf.conv2d(flat, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    blurred = flat.reshape(stacked.shape)
    weight = blurred[:, -1:]
    return torch.where(weight > 1e-12, blurred[:, :-1] / weight.clamp(min=1e-12), 0.0)


def _erode(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """``(N, 1, H, W)`` bool eroded by a disk of radius ``pixels``; beyond the frame
    counts as leg, since the leg runs on past it."""
    if pixels == 0:
        return mask
    grid = torch.arange(-pixels, pixels + 1.0).double()
    disk = ((grid.view(-1, 1) ** 2 + grid.view(1, -1) ** 2) <= pixels**2).double()
    hits = nnf.conv2d((~mask).double(), disk[None, None], padding=pixels)
    return mask & (hits < 0.5)


def _from_lab(lab: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` L*a*b* -> sRGB in [-1, 1] in ``like``'s dtype (colours out of
    the sRGB gamut are clipped)."""
    from skimage.color import lab2rgb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "negative Z values clipped": expected here
        rgb = lab2rgb(lab.permute(0, 2, 3, 1).numpy(), channel_axis=-1)
    return (torch.from_numpy(rgb).permute(0, 3, 1, 2) * 2 - 1).to(like.dtype)


# ---------------------------------------------------------------------------- measures


def _reliefs(output, target, mask, sigma, erosion, part=None, part_name=""):
    """Check the arguments; the L* reliefs ``(N, 1, H, W)`` of output and target, and
    the bool region where they are compared."""
    _check_images("output", output)
    _check_images("target", target, output, "output")
    leg = _check_mask("mask", mask, "output", output)
    side = _side(output)
    sigma = (
        default_sigma(side) if sigma is None else check_positive_float("sigma", sigma)
    )
    erosion = default_erosion(side) if erosion is None else _pixels("erosion", erosion)
    region = None if part is None else _check_mask(part_name, part, "output", output)
    leg = _erode(leg, erosion)
    reliefs = []
    for images in (output, target):
        lightness = to_lab(images)[:, :1]
        reliefs.append(lightness - _gaussian(lightness, sigma, leg))
    return *reliefs, leg if region is None else leg & region


def _per_image(relief_out, relief_target, region, compare) -> torch.Tensor:
    """``compare(a, b)`` of the centred reliefs in each image's region; NaN where the
    region has fewer than 2 pixels or the target's relief there is flat."""
    scores = torch.full((len(region),), math.nan, dtype=torch.float64)
    for k, inside in enumerate(region[:, 0]):
        if int(inside.sum()) >= 2:
            a, b = relief_out[k, 0][inside], relief_target[k, 0][inside]
            a, b = a - a.mean(), b - b.mean()
            spread_a, spread_b = a.pow(2).mean().sqrt(), b.pow(2).mean().sqrt()
            if spread_b >= FLAT_RELIEF:
                scores[k] = compare(a, b, spread_a, spread_b)
    return scores


def _correlation(a, b, spread_a, spread_b) -> float:
    if spread_a < FLAT_RELIEF:
        return 0.0  # the output has no shading: it kept none
    return float((a * b).mean() / (spread_a * spread_b))


def shading_score(output, target, mask, *, sigma=None, erosion=None) -> torch.Tensor:
    """How well ``output`` keeps the shading of ``target``: the correlation of their
    relief of L* (L* minus its blur) inside the target's eroded leg mask.

    Invariant to any affine change of L* (brightness, contrast) and nearly so to a
    change of skin tone; it falls as the relief is flattened, replaced or moved. See
    the module docstring for the choice.

    Args:
        output: ``(N, 3, H, W)`` sRGB in [-1, 1] (values outside are clipped).
        target: ``(N, 3, H, W)`` like ``output``: the input render (the primary
            measure) or the oracle.
        mask: ``(N, 1, H, W)`` in [0, 1], the target's foreground (above 0.5 is leg).
        sigma: blur width in pixels (default :func:`default_sigma`: 3 px at 64 px).
        erosion: pixels eroded off ``mask`` by a disk (default :func:`default_erosion`:
            2 px at 64 px); the blur and the correlation use only what is left.

    Returns:
        ``(N,)`` float64 in [-1, 1]: 1 for identical shading, about 0 for unrelated
        shading. NaN where the eroded mask has fewer than 2 pixels or the target's
        relief there is flat (standard deviation below :data:`FLAT_RELIEF` L*); 0 where
        only the output's relief is flat.

    Example:
        >>> from kdehist.data import SyntheticKnees
        >>> images, masks = SyntheticKnees("real", "test", size=64).tensors(range(2))
        >>> shading_score(images, images, masks).round(decimals=6)
        tensor([1., 1.], dtype=torch.float64)
        >>> darker = change_brightness(images, -10.0)  # L* - 10 everywhere
        >>> (shading_score(darker, images, masks) - 1).abs().max() < 1e-3
        tensor(True)
        >>> shading_score(flatten_shading(images, masks), images, masks)
        tensor([0., 0.], dtype=torch.float64)
    """
    return _per_image(*_reliefs(output, target, mask, sigma, erosion), _correlation)


def kneecap_score(
    output, target, kneecap_mask, mask, *, sigma=None, erosion=None
) -> torch.Tensor:
    """:func:`shading_score` on the kneecap: does the output keep its bump?

    The reliefs are the leg's, as in :func:`shading_score`; only the pixels compared
    are the kneecap's (``kneecap_mask``, from :func:`kdehist.knees.kneecap_mask`:
    ``(N, 1, H, W)`` in [0, 1]) within the eroded ``mask``. Arguments, defaults and
    the NaN rule are :func:`shading_score`'s. A kneecap covers about 8 to 110 pixels
    at 64 px, so one score is noisier than the leg's.

    Returns:
        ``(N,)`` float64 in [-1, 1], 1 for an identical kneecap.
    """
    reliefs = _reliefs(
        output, target, mask, sigma, erosion, kneecap_mask, "kneecap_mask"
    )
    return _per_image(*reliefs, _correlation)


def relief_ratio(output, target, mask, *, sigma=None, erosion=None) -> torch.Tensor:
    """How deep the output's relief is: the standard deviation of its relief over the
    target's, where :func:`shading_score` compares them.

    :func:`shading_score` sees the pattern of the shading, not its depth: relief kept
    at a tenth of its depth still correlates. This ratio is the depth: 1 as deep, 0
    flat. It ignores brightness but not contrast, which changes the depth. Arguments
    and the NaN rule are :func:`shading_score`'s.

    Returns:
        ``(N,)`` float64 >= 0.
    """
    reliefs = _reliefs(output, target, mask, sigma, erosion)
    return _per_image(*reliefs, lambda a, b, spread_a, spread_b: spread_a / spread_b)


def spread_ratio(output, target, mask_out, mask_target) -> torch.Tensor:
    """Does the colour distribution keep its spread, or collapse to one flat colour?

    Args:
        output, target: ``(N, 3, H, W)`` sRGB in [-1, 1] (their sizes may differ).
        mask_out, mask_target: ``(N, 1, H, W)`` in [0, 1], their foregrounds.

    Returns:
        ``(N, 3)`` float64: per channel L*, a*, b*, the standard deviation over the
        output's foreground divided by the target's; 1 keeps the spread, 0 is one flat
        colour. NaN where a foreground has fewer than 2 pixels or the target's channel
        is constant.
    """
    spreads = []
    for name, images, mask_name, mask in (
        ("output", output, "mask_out", mask_out),
        ("target", target, "mask_target", mask_target),
    ):
        _check_images(name, images)
        if len(images) != len(output):
            raise ValueError(
                f"target: expected {len(output)} images like output, got {len(images)}"
            )
        inside = _check_mask(mask_name, mask, name, images).flatten(1)
        lab = to_lab(images).flatten(2)
        spread = torch.full((len(images), 3), math.nan, dtype=torch.float64)
        for k in range(len(images)):
            if int(inside[k].sum()) >= 2:
                spread[k] = lab[k][:, inside[k]].std(dim=1, unbiased=False)
        spreads.append(spread)
    out, ref = spreads
    return torch.where(ref > 0, out / ref.clamp(min=1e-300), math.nan)


# ------------------------------------------------------------------------- corruptions
# Each takes (N, 3, H, W) images in [-1, 1] and returns them corrupted, on the CPU.


def change_tone(images, gains=(0.55, 0.45, 0.38)) -> torch.Tensor:
    """A global change of skin tone: linear-light R, G, B times ``gains`` over the
    whole image (default: a light skin towards a deep, warm one)."""
    _check_images("images", images)
    if not isinstance(gains, (tuple, list, torch.Tensor)) or len(gains) != 3:
        raise ValueError(f"gains: expected 3 positive numbers, got {_describe(gains)}")
    gains = torch.tensor([check_positive_float("gains", float(g)) for g in gains])
    rgb = (images.detach().cpu().double().clamp(-1, 1) + 1) / 2
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    linear = (linear * gains.double().view(1, 3, 1, 1)).clamp(0, 1)
    curve = 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055
    srgb = torch.where(linear <= 0.0031308, linear * 12.92, curve)
    return (srgb * 2 - 1).to(images.dtype)


def change_brightness(images, offset: float = -8.0) -> torch.Tensor:
    """A global change of brightness: L* + ``offset`` over the whole image."""
    _check_images("images", images)
    lab = to_lab(images)
    lab[:, 0] += float(offset)
    return _from_lab(lab, images)


def change_contrast(images, masks, factor: float = 0.75) -> torch.Tensor:
    """A global change of contrast: L* scaled by ``factor`` about the mean L* of the
    foreground (``masks``, ``(N, 1, H, W)``), so the mean colour stays."""
    _check_images("images", images)
    leg = _check_mask("masks", masks, "images", images).double()
    lab = to_lab(images)
    mean = (lab[:, :1] * leg).sum((2, 3), True) / leg.sum((2, 3), True).clamp(min=1)
    lab[:, :1] = mean + check_positive_float("factor", factor) * (lab[:, :1] - mean)
    return _from_lab(lab, images)


def blur(images, sigma=None) -> torch.Tensor:
    """A Gaussian blur of every channel of width ``sigma`` px (default 1 at 64 px)."""
    _check_images("images", images)
    sigma = (
        _side(images) / 64 if sigma is None else check_positive_float("sigma", sigma)
    )
    return _gaussian(images, sigma).to(images.dtype)


def flatten_shading(images, masks) -> torch.Tensor:
    """Shading flattened: L* inside the leg (``masks``) set to its mean there; a* and
    b* kept."""
    _check_images("images", images)
    leg = _check_mask("masks", masks, "images", images)
    lab, weight = to_lab(images), leg.double()
    mean = (lab[:, :1] * weight).sum((2, 3), True) / weight.sum((2, 3), True).clamp(1)
    lab[:, :1] = torch.where(leg, mean, lab[:, :1])
    return _from_lab(lab, images)


def erase_kneecap(images, masks, kneecap_masks, *, sigma=None, grow=None):
    """The kneecap erased: inside it, grown by ``grow`` px (default 1 at 64 px) with
    a soft edge, every L*a*b* channel is replaced by its blur over the leg of width
    ``sigma`` (default twice :func:`default_sigma`), which removes its relief."""
    _check_images("images", images)
    leg = _check_mask("masks", masks, "images", images)
    kneecap = _check_mask("kneecap_masks", kneecap_masks, "images", images)
    side = _side(images)
    sigma = 2 * default_sigma(side) if sigma is None else sigma
    grow = max(1, round(side / 64)) if grow is None else _pixels("grow", grow)
    region = (~_erode(~kneecap, grow) & leg).double()
    weight = torch.maximum(region, 2 * _gaussian(region, max(grow, 1))).clamp(max=1)
    lab = to_lab(images)
    fill = _gaussian(lab, check_positive_float("sigma", sigma), leg)
    return _from_lab(lab + weight * leg * (fill - lab), images)


def _move_silhouette(images, masks, pixels, grow: bool) -> torch.Tensor:
    """The leg grown or shrunk by ``pixels``: the ring gained or lost, and the
    anti-aliased rim beside it, take the colour of the nearest pixel that is wholly
    leg (growing) or wholly background (shrinking)."""
    _check_images("images", images)
    leg = _check_mask("masks", masks, "images", images)
    pixels = max(1, round(_side(images) / 32)) if pixels is None else pixels
    pixels = _pixels("pixels", pixels)
    out = images.detach().cpu().clone()
    for k, inside in enumerate(leg[:, 0].numpy()):
        core = ndimage.binary_erosion(inside, border_value=1)  # the leg runs on
        outer = ndimage.binary_dilation(inside)
        if grow:
            source = core
            ring = ndimage.binary_dilation(inside, iterations=pixels) & ~core
        else:
            source = ~outer
            ring = outer & ~ndimage.binary_erosion(
                inside, iterations=pixels, border_value=1
            )
        if pixels and ring.any() and source.any():
            _, index = ndimage.distance_transform_edt(~source, return_indices=True)
            nearest = out[k][:, torch.from_numpy(index[0]), torch.from_numpy(index[1])]
            out[k] = torch.where(torch.from_numpy(ring), nearest, out[k])
    return out


def dilate_silhouette(images, masks, pixels=None) -> torch.Tensor:
    """The leg (``masks``) grown by ``pixels`` (default 2 at 64 px)."""
    return _move_silhouette(images, masks, pixels, grow=True)


def erode_silhouette(images, masks, pixels=None) -> torch.Tensor:
    """The leg (``masks``) shrunk by ``pixels`` (default 2 at 64 px)."""
    return _move_silhouette(images, masks, pixels, grow=False)


#: The corruptions of :func:`validity_table`, each ``fn(images, masks, kneecap_masks)``.
CORRUPTIONS: dict[str, Callable] = {
    "tone": lambda x, m, k: change_tone(x),
    "brightness": lambda x, m, k: change_brightness(x),
    "contrast": lambda x, m, k: change_contrast(x, m),
    "blur": lambda x, m, k: blur(x),
    "shading_flattened": lambda x, m, k: flatten_shading(x, m),
    "kneecap_erased": lambda x, m, k: erase_kneecap(x, m, k),
    "silhouette_dilated": lambda x, m, k: dilate_silhouette(x, m),
    "silhouette_eroded": lambda x, m, k: erode_silhouette(x, m),
}
_LIGHTING = ("tone", "brightness", "contrast")
_SILHOUETTE = ("silhouette_dilated", "silhouette_eroded")  # within ``erosion``

#: The corruptions that each measure of :func:`validity_table` claims to ignore.
CLAIMS: dict[str, tuple[str, ...]] = {
    "shading_score": _LIGHTING + _SILHOUETTE,
    "kneecap_score": _LIGHTING + _SILHOUETTE,
    "relief_ratio": ("brightness",) + _SILHOUETTE,
    "spread_l": ("brightness",),
    # not brightness: L* - 8 pushes the darkest skins out of the sRGB gamut, and the
    # clipping moves a* and b* (by up to 0.09 in the spread of b*)
    "spread_a": ("contrast", "shading_flattened"),
    "spread_b": ("contrast", "shading_flattened"),
    "delta_e76": ("contrast", "shading_flattened"),
    "shape": _LIGHTING + ("shading_flattened", "kneecap_erased"),
}


def validity_table(
    images,
    masks,
    kneecap_masks,
    *,
    shape: Callable | None = None,
    measures: Mapping[str, Callable] | None = None,
    corruptions: Mapping[str, Callable] | None = None,
) -> dict[str, dict[str, float]]:
    """How far each measure moves under each controlled corruption of ``images``.

    Each corrupted image is measured against its uncorrupted self under the
    uncorrupted masks: ``shading_score``, ``kneecap_score``, ``relief_ratio``, the
    three channels of :func:`spread_ratio` (``spread_l``, ``spread_a``, ``spread_b``)
    and ``delta_e76`` of the mean foreground colours (:func:`kdehist.delta_e`).

    Args:
        images: ``(N, 3, H, W)`` in [-1, 1], for example oracle renders.
        masks, kneecap_masks: ``(N, 1, H, W)`` in {0, 1}, their legs and kneecaps.
        shape: optional silhouette measure ``fn(images, masks) -> (N,)``, reported as
            ``shape``; for example ``lambda x, m: shape_score(x, m, segmenter)`` with
            :mod:`kdehist.segment`'s.
        measures: optional more ``{name: fn(output, target, mask) -> (N,)}``.
        corruptions: ``{name: fn(images, masks, kneecap_masks) -> images}`` (default
            :data:`CORRUPTIONS`).

    Returns:
        ``{corruption: {measure: change}}``: the mean over images (NaN skipped) of the
        measure of the corrupted image minus that of the uncorrupted one, whose scores
        and ratios are 1 and ΔE 0. :func:`broken_claims` checks it against
        :data:`CLAIMS`.
    """
    _check_images("images", images)
    _check_mask("masks", masks, "images", images)
    _check_mask("kneecap_masks", kneecap_masks, "images", images)

    def measure(output) -> dict[str, torch.Tensor]:
        spreads = spread_ratio(output, images, masks, masks)
        scores = {
            "shading_score": shading_score(output, images, masks),
            "kneecap_score": kneecap_score(output, images, kneecap_masks, masks),
            "relief_ratio": relief_ratio(output, images, masks),
            "spread_l": spreads[:, 0],
            "spread_a": spreads[:, 1],
            "spread_b": spreads[:, 2],
            "delta_e76": delta_e(output, images, masks, masks),
        }
        if shape is not None:
            scores["shape"] = torch.as_tensor(shape(output, masks))
        for name, fn in (measures or {}).items():
            scores[name] = torch.as_tensor(fn(output, images, masks))
        return {name: s.detach().double().cpu() for name, s in scores.items()}

    before = measure(images)
    table = {}
    for name, corrupt in (CORRUPTIONS if corruptions is None else corruptions).items():
        after = measure(corrupt(images, masks, kneecap_masks))
        table[name] = {
            key: float(np.nanmean((after[key] - before[key]).numpy())) for key in before
        }
    return table


def broken_claims(table, claims=None, tolerance: float = CLAIM_TOLERANCE) -> list:
    """The claims (default :data:`CLAIMS`) that a :func:`validity_table` breaks:
    ``(measure, corruption, change)`` for each change larger than ``tolerance`` in
    size (or NaN); measures or corruptions missing from the table are skipped."""
    return [
        (measure, corruption, table[corruption][measure])
        for measure, ignored in (CLAIMS if claims is None else claims).items()
        for corruption in ignored
        if measure in table.get(corruption, {})
        and not abs(table[corruption][measure]) <= tolerance
    ]
