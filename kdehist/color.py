"""Colour science for evaluation: CIE L*a*b*, ΔE (eq. 12) and JIS tolerance classes.

Conversions and ΔE formulas are scikit-image's (sRGB with a D65 white point). They run
on NumPy, so nothing here is differentiable; they are metrics, not losses.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from skimage import color as skcolor  # ΔE formulas

from ._checks import _describe, check_choice, check_mask_weights, check_tensor

DELTA_E_FORMULAS = ("cie76", "ciede2000")

# Table 1 of the paper (JIS Z 8729/8730 tolerance classes of colour
# difference). The report starts class A at 1.6; the two finer classes below
# it, AA and AAA, halve that range.
JIS_CLASSES = (
    ("AAA", 0.0, 0.8),
    ("AA", 0.8, 1.6),
    ("A", 1.6, 3.2),
    ("B", 3.2, 6.5),
    ("C", 6.5, 13.0),
    ("D", 13.0, 25.0),
    ("beyond D", 25.0, float("inf")),
)


def _check_image(name: str, img) -> torch.Tensor:
    check_tensor(name, img, ndims=(3, 4))
    if img.dim() == 3:
        img = img.unsqueeze(0)
    if img.shape[1] != 3:
        raise ValueError(
            f"{name}: expected 3 colour channels (B, 3, H, W), "
            f"got shape {tuple(img.shape)}"
        )
    if img.shape[0] == 0 or img.shape[2] == 0 or img.shape[3] == 0:
        raise ValueError(
            f"{name}: expected at least one image of at least one pixel, "
            f"got shape {tuple(img.shape)}"
        )
    return img


def _check_mask(
    name: str, mask, image_name: str, image_shape: tuple[int, ...]
) -> torch.Tensor:
    """A mask of weights for ``image_shape`` ``(B, 3, H, W)``, as
    ``(B, 1, H, W)`` float64.
    """
    check_tensor(name, mask, ndims=(2, 3, 4), floating=False)
    batch, _, height, width = image_shape
    shape = tuple(mask.shape)
    accepted = {(batch, 1, height, width), (batch, height, width)} | (
        {(height, width)} if batch == 1 else set()
    )
    if shape not in accepted:
        forms = " or ".join(str(s) for s in sorted(accepted, key=len, reverse=True))
        raise ValueError(
            f"{name}: expected shape {forms} to match {image_name} "
            f"of shape {image_shape}, got {shape}"
        )
    return check_mask_weights(
        name, mask.detach().double().cpu().reshape(batch, 1, height, width)
    )


# scikit-image's sRGB (D65, 2° observer) to XYZ matrix and white point, so that
# :func:`lab` agrees with ``skimage.color.rgb2lab`` to float64 rounding.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)


def lab(images: torch.Tensor) -> torch.Tensor:
    """sRGB images ``(B, 3, H, W)`` in [-1, 1] to CIE L*a*b* (D65), float64, on the
    images' own device: the one sRGB → L*a*b* conversion of the package. Unchecked
    (hot paths); :func:`to_lab` is the checked, CPU form."""
    rgb = (images.detach().double().clamp(-1, 1) + 1) / 2
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64, device=images.device)
    white = torch.tensor(_D65_WHITE, dtype=torch.float64, device=images.device)
    xyz = torch.einsum("kc,bchw->bkhw", matrix, linear) / white.view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.pow(1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def to_lab(img: torch.Tensor) -> torch.Tensor:
    """sRGB images in [-1, 1] to CIE L*a*b* (D65).

    Args:
        img: ``(B, 3, H, W)`` or ``(3, H, W)`` float tensor in [-1, 1]
            (values outside are clipped).

    Returns:
        A float64 tensor of the same shape on the CPU, with L* in [0, 100] and a*,
        b* roughly in [-128, 127].

    >>> round(float(to_lab(torch.ones(3, 1, 1))[0]), 6)  # white's L*
    100.0
    """
    squeeze = img.dim() == 3
    img = _check_image("img", img)
    out = lab(img.detach().cpu())
    return out[0] if squeeze else out


def mean_lab(img: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel-averaged L*a*b* colour of each image's foreground: ``(B, 3)`` float64.

    ``mask`` is ``(B, 1, H, W)`` or ``(B, H, W)`` (``(H, W)`` for one image)
    non-negative weights with some foreground in every image (``None``: every pixel).
    """
    return _mean_lab(img, mask, "img", "mask")


def _mean_lab(img, mask, img_name: str, mask_name: str) -> torch.Tensor:
    img = _check_image(img_name, img)
    m = (
        None
        if mask is None
        else _check_mask(mask_name, mask, img_name, tuple(img.shape))
    )
    lab = to_lab(img)
    if m is None:
        return lab.mean(dim=(2, 3))
    return (lab * m).sum(dim=(2, 3)) / m.sum(dim=(1, 2, 3))[:, None]


def delta_e(
    img: torch.Tensor,
    ref: torch.Tensor,
    mask: torch.Tensor | None = None,
    ref_mask: torch.Tensor | None = None,
    formula: str = "cie76",
) -> torch.Tensor:
    """The paper's colour difference (eq. 12) between two images' mean L*a*b* colours.

    Args:
        img: generated images ``(B, 3, H, W)`` in [-1, 1].
        ref: reference images ``(B, 3, H, W)``, or a single ``(3, H, W)``
            / ``(1, 3, H, W)`` reference broadcast over the batch; sizes
            may differ from ``img``'s.
        mask: foreground weights of ``img`` (``None``: whole image).
        ref_mask: foreground weights of ``ref`` (``None``: whole image).
        formula: ``"cie76"`` (Euclidean distance in L*a*b*, eq. 12) or ``"ciede2000"``.

    Returns:
        ``(B,)`` float64 tensor of ΔE values.
    """
    check_choice("formula", formula, DELTA_E_FORMULAS)
    a = _mean_lab(img, mask, "img", "mask")
    b = _mean_lab(ref, ref_mask, "ref", "ref_mask")
    if b.shape[0] not in (1, a.shape[0]):
        raise ValueError(
            f"ref: expected 1 or {a.shape[0]} images to match img, got {b.shape[0]}"
        )
    return delta_e_of_means(a, b.expand_as(a), formula)


def delta_e_of_means(
    lab: torch.Tensor, lab_ref: torch.Tensor, formula: str = "cie76"
) -> torch.Tensor:
    """ΔE between rows of L*a*b* colours (``(N, 3)`` each, e.g. from
    :func:`kdehist.mean_lab`): ``(N,)`` float64.
    """
    check_choice("formula", formula, DELTA_E_FORMULAS)
    for name, value in (("lab", lab), ("lab_ref", lab_ref)):
        check_tensor(name, value, ndims=(2,))
        if value.shape[1] != 3:
            raise ValueError(
                f"{name}: expected (N, 3) L*a*b* rows, got shape {tuple(value.shape)}"
            )
    if lab.shape != lab_ref.shape:
        raise ValueError(
            f"lab_ref: expected shape {tuple(lab.shape)} like lab, "
            f"got {tuple(lab_ref.shape)}"
        )
    fn = skcolor.deltaE_cie76 if formula == "cie76" else skcolor.deltaE_ciede2000
    a, b = lab.detach().double().cpu().numpy(), lab_ref.detach().double().cpu().numpy()
    return torch.from_numpy(np.asarray(fn(a, b, channel_axis=-1), dtype=np.float64))


def jis_class(delta_e):
    """JIS tolerance class (Table 1) of a colour difference.

    Args:
        delta_e: a number, or an array/tensor of numbers, ≥ 0.

    Returns:
        ``"AAA"`` (< 0.8), ``"AA"`` (< 1.6), ``"A"`` (< 3.2), ``"B"`` (< 6.5), ``"C"``
        (< 13), ``"D"`` (< 25) or ``"beyond D"``; a list of those for array input
        (a 0-d tensor or array is a number). Each class includes its lower bound.
    """
    if isinstance(delta_e, torch.Tensor):
        if delta_e.is_complex() or delta_e.dtype == torch.bool:
            raise TypeError(
                "delta_e: expected a number or an array of real numbers, "
                f"got {_describe(delta_e)}"
            )
        delta_e = delta_e.detach().cpu().numpy()
    if isinstance(delta_e, np.ndarray):
        if delta_e.dtype.kind not in "iuf":
            raise TypeError(
                "delta_e: expected a number or an array of real numbers, "
                f"got {_describe(delta_e)}"
            )
        # a 0-d tensor or array is a scalar: one class, not a list
        if delta_e.ndim == 0:
            return jis_class(float(delta_e))
        return [jis_class(float(v)) for v in delta_e.ravel()]
    if isinstance(delta_e, (list, tuple)):
        return [jis_class(v) for v in delta_e]
    if isinstance(delta_e, bool) or not isinstance(delta_e, numbers.Real):
        raise TypeError(
            "delta_e: expected a number or an array of numbers, "
            f"got {_describe(delta_e)}"
        )
    value = float(delta_e)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"delta_e: expected a finite value >= 0, got {value!r}")
    for name, lo, hi in JIS_CLASSES:
        if lo <= value < hi:
            return name
    raise AssertionError("unreachable: the classes cover [0, inf)")
