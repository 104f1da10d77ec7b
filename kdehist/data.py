"""Data: procedurally rendered knees, folders of real photos, and unpaired batch sampling.

Three pieces, all producing the same sample format:

``SyntheticKnees``
    A stand-in for the paper's data that needs no download. Domain ``"sim"`` (X) imitates a 3D
    viewer's render of an MRI-derived knee surface; domain ``"real"`` (Y) imitates a product
    photo of a bare knee, with a skin tone drawn across the Monk Skin Tone scale. Both domains
    share one geometry model, so :func:`render_real` can re-render the *pose of a simulator
    image* in the photographic style: the oracle that chapter 10 uses as the ceiling of shape
    and colour fidelity. Splits have the paper's sizes: sim 438 train / 28 test, real 477
    train / 28 test.

``ImageFolderDomain``
    Your own images (for example the paper's knee crops), read from a folder.

``UnpairedLoader``
    Independent, seeded, resumable shuffling of two domains held in memory, with a reference
    image per sample (never the sample itself) and colour-preserving augmentation.

Sample format
-------------
Every dataset here returns a dict that :func:`torch.utils.data.default_collate` can batch:

- ``"image"``: ``(3, H, W)`` float32 sRGB in [-1, 1];
- ``"mask"``: ``(1, H, W)`` float32 in {0, 1}, 1 on the foreground (the visible leg);
- ``"index"``: int, the position in the dataset;
- synthetic knees add ``"pose"`` (a dict of floats, see :func:`sample_pose`); real-style
  ones also ``"tone_srgb"`` and ``"tone_lab"`` (``(3,)`` float32: the skin albedo as sRGB in
  [0, 1] and as CIE L*a*b*, D65), ``"tone_position"`` (float in [0, 1] along the Monk
  scale) and ``"appearance"`` (a dict of floats, see :func:`sample_appearance`).

Folder layout for real data
---------------------------
:class:`ImageFolderDomain` reads the image files directly inside one folder (not its
sub-folders), sorted by name. Keep one folder per domain and split, for example::

    data/
      sim/train/*.png      sim/test/*.png
      real/train/*.jpg     real/test/*.jpg
      real_masks/train/*.png   (optional: one mask per photo, same stem, white = foreground)

and build ``ImageFolderDomain("data/real/train", mask_root="data/real_masks/train")``. A flat
folder works just as well. Accepted extensions: .png, .jpg, .jpeg, .bmp, .webp (any case).
Images are centre-cropped to a square and resized to ``size``. Without masks, the
foreground is estimated from the border colour (:func:`border_background_mask`).
"""
from __future__ import annotations

import hashlib
import io
import math
import warnings
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ._checks import check_choice, check_positive_int, check_tensor
from .io import atomic_write_bytes

__all__ = [
    "DOMAINS",
    "SPLITS",
    "SPLIT_SIZES",
    "MIN_SIZE",
    "MAX_SIZE",
    "MONK_SKIN_TONES",
    "monk_tone",
    "sample_seed",
    "sample_pose",
    "sample_appearance",
    "default_appearance",
    "render_sim",
    "render_real",
    "SyntheticKnees",
    "ImageFolderDomain",
    "border_background_mask",
    "UnpairedLoader",
]

DOMAINS = ("sim", "real")
SPLITS = ("train", "test")
# The paper's splits (section "Data and protocol").
SPLIT_SIZES = {"sim": {"train": 438, "test": 28}, "real": {"train": 477, "test": 28}}
MIN_SIZE, MAX_SIZE = 32, 512

# Bump whenever rendering changes, so stale PNG caches are never read back.
RENDER_VERSION = 1

# Monk Skin Tone scale, swatches 1 (lightest) to 10 (deepest), as published sRGB hex values.
_MONK_HEX = ("f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96", "a07e56", "825c43", "604134", "3a312a", "292420")
MONK_SKIN_TONES = torch.tensor(
    [[int(code[i : i + 2], 16) / 255.0 for i in (0, 2, 4)] for code in _MONK_HEX], dtype=torch.float32
)
"""``(10, 3)`` float32 sRGB in [0, 1]: the Monk Skin Tone scale (Monk 2019), light to deep."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


# ----------------------------------------------------------------------------- checks and seeds


def _check_size(size) -> int:
    check_positive_int("size", size, minimum=MIN_SIZE)
    if size > MAX_SIZE:
        raise ValueError(f"size: expected an int between {MIN_SIZE} and {MAX_SIZE}, got {size}")
    return size


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__} {seed!r}")
    return seed


def _stable_hash(*parts) -> int:
    """A 63-bit integer from the parts' text; identical on every machine and Python run
    (unlike ``hash()``), so that seeds derived from it are reproducible."""
    text = "|".join(str(part) for part in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & (2**63 - 1)


def sample_seed(seed: int, domain: str, split: str, index: int) -> int:
    """The seed of one synthetic sample, a 63-bit int hashed from all four arguments.

    Hashing (rather than, say, ``seed + index``) keeps train and test, the two domains and
    neighbouring global seeds from ever sharing a sample.
    """
    return _stable_hash("kdehist.data.SyntheticKnees", seed, domain, split, index)


def _uniform(generator: torch.Generator, count: int) -> list[float]:
    return torch.rand(count, generator=generator, dtype=torch.float64).tolist()


def _lerp(lo: float, hi: float, t: float) -> float:
    return lo + (hi - lo) * t


def _plain_floats(name: str, mapping) -> dict[str, float]:
    """Accept a dict of floats, or one row of a collated batch (0-d tensors)."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{name}: expected a dict of floats, got {type(mapping).__name__}")
    out = {}
    for key, value in mapping.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(
                    f"{name}: expected one number per key, got a tensor of shape {tuple(value.shape)} "
                    f"for {key!r} (index a collated batch first)"
                )
            value = value.item()
        out[key] = float(value)
    return out


# ----------------------------------------------------------------------------- tones


def monk_tone(position: float) -> torch.Tensor:
    """The skin colour at ``position`` along the Monk Skin Tone scale.

    The Monk Skin Tone (MST) scale (Ellis Monk, 2019; published by Google as the "Monk Skin
    Tone Scale", skintone.google) has 10 swatches from light to deep. Positions between
    swatches are linear interpolations of their sRGB values.

    Args:
        position: float in [0, 1]; 0 is swatch 1 (f6ede4), 1 is swatch 10 (292420).

    Returns:
        ``(3,)`` float32 sRGB in [0, 1].
    """
    position = float(position)
    if not (0.0 <= position <= 1.0):
        raise ValueError(f"position: expected a number in [0, 1] along the Monk scale, got {position!r}")
    scaled = position * (len(_MONK_HEX) - 1)
    lower = min(int(math.floor(scaled)), len(_MONK_HEX) - 2)
    frac = scaled - lower
    return (1 - frac) * MONK_SKIN_TONES[lower] + frac * MONK_SKIN_TONES[lower + 1]


def _srgb_to_lab(srgb: torch.Tensor) -> torch.Tensor:
    from skimage.color import rgb2lab  # imported late: skimage is slow to import

    lab = rgb2lab(srgb.double().clamp(0, 1).numpy().reshape(1, 1, 3))
    return torch.from_numpy(lab.reshape(3)).float()


def _tone_srgb(tone) -> torch.Tensor:
    """``tone`` as a Monk position (a number) or an sRGB triple in [0, 1] -> ``(3,)`` float32."""
    if isinstance(tone, torch.Tensor) and tone.numel() == 1:
        tone = tone.item()
    if isinstance(tone, (int, float)) and not isinstance(tone, bool):
        return monk_tone(tone)
    try:
        rgb = torch.as_tensor(tone, dtype=torch.float32).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(
            f"tone: expected a Monk-scale position in [0, 1] or an sRGB triple in [0, 1], got {tone!r}"
        ) from None
    if rgb.numel() != 3 or not bool(torch.isfinite(rgb).all()) or rgb.min() < 0 or rgb.max() > 1:
        raise ValueError(
            f"tone: expected a Monk-scale position in [0, 1] or an sRGB triple in [0, 1], got {tone!r}"
        )
    return rgb


# ----------------------------------------------------------------------------- random parameters

# (name, low, high): each pose entry is drawn uniformly in its range.
_POSE_RANGES = (
    ("flex_deg", 0.0, 45.0),  # knee flexion: 0 is a straight leg
    ("yaw_deg", -35.0, 35.0),  # turn about the vertical axis; 0 faces the camera
    ("roll_deg", -12.0, 12.0),  # in-plane rotation
    ("scale", 0.90, 1.20),
    ("shift_x", -0.10, 0.10),  # in-plane translation, in half-widths of the frame
    ("shift_y", -0.12, 0.12),
    ("knee_radius", 0.24, 0.30),  # in half-widths of the frame, before ``scale``
    ("thigh_taper", 1.35, 1.60),  # radius at the hip end over radius at the knee
    ("ankle_taper", 0.45, 0.60),  # radius at the ankle end over radius at the knee
    ("calf", 0.90, 1.15),  # relative size of the calf muscle
    ("patella", 0.85, 1.15),  # relative size of the kneecap
    ("tuberosity", 0.70, 1.30),  # relative size of the tibial tuberosity
)

_APPEARANCE_RANGES = (
    ("exposure_ev", -0.45, 0.35),  # photographic exposure, in stops
    ("key_azimuth_deg", 20.0, 60.0),  # key light, to the left or right (see key_side)
    ("key_elevation_deg", 15.0, 50.0),
    ("key_side", 0.0, 1.0),  # < 0.5: key light from the left
    ("key_intensity", 0.70, 0.90),
    ("fill_intensity", 0.12, 0.30),
    ("ambient", 0.08, 0.15),
    ("specular", 0.02, 0.07),  # strength of the skin's sheen
    ("shininess", 12.0, 30.0),
    ("background", 0.86, 1.0),  # studio background level, sRGB
    ("background_tint", -1.0, 1.0),  # warm (> 0) or cool (< 0) cast of the background
    ("vignette", 0.03, 0.14),
    ("shadow", 0.05, 0.18),  # darkness of the soft shadow on the background
    ("texture", 0.6, 1.4),  # relative strength of the skin texture
    ("garment_draw", 0.0, 1.0),  # < GARMENT_PROBABILITY: a garment hem at the top
    ("hem_height", 0.45, 0.85),  # hem height at the image centre, frame units (top is 1)
    ("hem_slope", -0.25, 0.25),
    ("hem_wave", 0.0, 0.04),
    ("hem_phase", 0.0, 2 * math.pi),
    ("garment_hue", 0.0, 1.0),
    ("garment_saturation", 0.05, 0.7),
    ("garment_value", 0.12, 0.85),
)
GARMENT_PROBABILITY = 0.25


def sample_pose(generator: torch.Generator) -> dict[str, float]:
    """Draw a pose: the geometry of one leg, shared by both domains.

    Args:
        generator: a seeded ``torch.Generator``; exactly ``len(_POSE_RANGES)`` = 12 numbers
            are drawn from it.

    Returns:
        dict of floats: ``flex_deg`` in [0, 45], ``yaw_deg`` in [-35, 35], ``roll_deg`` in
        [-12, 12], ``scale`` in [0.9, 1.2], ``shift_x`` in [-0.1, 0.1], ``shift_y`` in
        [-0.12, 0.12] (frame half-widths), and the body-shape factors ``knee_radius``,
        ``thigh_taper``, ``ankle_taper``, ``calf``, ``patella``, ``tuberosity``.
    """
    draws = _uniform(generator, len(_POSE_RANGES))
    return {name: _lerp(lo, hi, t) for (name, lo, hi), t in zip(_POSE_RANGES, draws)}


def sample_appearance(generator: torch.Generator) -> dict[str, float]:
    """Draw the photographic appearance of one real-style image (everything but pose and tone).

    Returns a dict of floats: exposure, key/fill/ambient lighting, sheen, studio background,
    vignette, shadow, skin-texture strength, the garment hem (drawn with probability 0.25;
    ``garment`` is 1.0 or 0.0) and ``noise_seed``, an int below 2**31 stored as a float,
    which seeds the skin texture and sensor noise.
    """
    draws = _uniform(generator, len(_APPEARANCE_RANGES))
    appearance = {name: _lerp(lo, hi, t) for (name, lo, hi), t in zip(_APPEARANCE_RANGES, draws)}
    appearance["garment"] = 1.0 if appearance.pop("garment_draw") < GARMENT_PROBABILITY else 0.0
    appearance["noise_seed"] = float(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    return appearance


def default_appearance() -> dict[str, float]:
    """A neutral studio appearance (mid-range lighting, no garment); what :func:`render_real`
    uses when given no appearance."""
    appearance = {name: (lo + hi) / 2 for name, lo, hi in _APPEARANCE_RANGES}
    appearance.update(exposure_ev=0.0, key_side=0.0, background_tint=0.0, hem_phase=0.0, garment=0.0, noise_seed=0.0)
    del appearance["garment_draw"]
    return appearance


# ----------------------------------------------------------------------------- geometry


def _rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


@dataclass
class _Cone:
    """A round cone (the convex hull of two spheres): a tapered capsule."""

    start: np.ndarray  # (3,) world centre of the first sphere
    end: np.ndarray
    start_radius: float
    end_radius: float


@dataclass
class _Ellipsoid:
    center: np.ndarray  # (3,)
    to_unit: np.ndarray  # (3, 3): maps world offsets from the centre into the unit sphere


# Segment lengths reach far outside the frame, so the leg always crosses the whole image.
_SEGMENT_LENGTH = 2.4
_PATELLA = 3  # position of the kneecap in _leg_primitives' list (its weight tints the skin)


def _leg_primitives(pose: Mapping[str, float]) -> list:
    """World-space primitives of one leg.

    Frame: x to the right, y up, z towards the (orthographic) camera; the image spans
    [-1, 1] in x and y. In the body frame the knee is at the origin and points to +z; the
    flexion is split evenly between thigh and shin, so both lean back by half of it.
    """
    knee_r = pose["knee_radius"]
    half_flex = math.radians(pose["flex_deg"]) / 2
    thigh_dir = np.array([0.0, math.cos(half_flex), -math.sin(half_flex)])
    shin_dir = np.array([0.0, -math.cos(half_flex), -math.sin(half_flex)])
    shin_front = np.array([0.0, -math.sin(half_flex), math.cos(half_flex)])  # perpendicular, +z side
    ankle_r = knee_r * pose["ankle_taper"]

    def shin_radius(distance: float) -> float:
        return knee_r + (ankle_r - knee_r) * distance / _SEGMENT_LENGTH

    # Local frames of the ellipsoids: columns are their axes in the body frame.
    knee_axes = np.eye(3)
    shin_axes = np.stack([np.array([1.0, 0.0, 0.0]), -shin_dir, shin_front], axis=1)

    tuberosity_at = 1.9 * knee_r
    calf_at = 3.6 * knee_r
    body_cones = [
        (np.zeros(3), thigh_dir * _SEGMENT_LENGTH, knee_r, knee_r * pose["thigh_taper"]),
        (np.zeros(3), shin_dir * _SEGMENT_LENGTH, knee_r, ankle_r),
    ]
    body_ellipsoids = [
        # femoral condyles: the knee is wider than it is deep
        (np.array([0.0, 0.03, -0.02]), knee_axes, knee_r * np.array([1.16, 0.9, 0.98])),
        # Bumps are large ellipsoids sunk deep, so that only a shallow cap shows and it meets
        # the surface at a gentle angle (no crease).
        (
            np.array([0.0, 0.05, (0.96 - 0.45 + 0.12) * knee_r]),
            knee_axes,
            knee_r * pose["patella"] * np.array([0.55, 0.62, 0.45]),
        ),
        (
            shin_dir * tuberosity_at + shin_front * (shin_radius(tuberosity_at) - 0.36 * knee_r),
            shin_axes,
            knee_r * pose["tuberosity"] * np.array([0.35, 0.60, 0.35]),
        ),
        (
            shin_dir * calf_at - shin_front * 0.35 * knee_r,
            shin_axes,
            knee_r * pose["calf"] * np.array([0.80, 2.0, 0.82]),
        ),
    ]

    rotation = _rotation("z", pose["roll_deg"]) @ _rotation("y", pose["yaw_deg"])
    scale = pose["scale"]
    shift = np.array([pose["shift_x"], pose["shift_y"], 0.0])

    def place(point):
        return scale * rotation @ point + shift

    primitives: list = [_Cone(place(a), place(b), scale * ra, scale * rb) for a, b, ra, rb in body_cones]
    for center, axes, semi_axes in body_ellipsoids:
        world_axes = rotation @ axes
        to_unit = np.diag(1.0 / (scale * semi_axes)) @ world_axes.T
        primitives.append(_Ellipsoid(place(center), to_unit))
    return primitives


def _pixel_grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates: x ``(size,)`` left to right, y ``(size,)`` top to bottom."""
    centres = (2 * torch.arange(size, dtype=torch.float64) + 1) / size - 1
    return centres.float(), (-centres).float()


def _crop(x_lo: float, x_hi: float, y_lo: float, y_hi: float, size: int, margin: int = 3):
    """Pixel rows and columns whose centres lie in the box, grown by ``margin`` pixels so
    that anti-aliasing and finite differences near the silhouette see valid values."""
    half = size / 2
    col0 = max(0, int(math.floor((x_lo + 1) * half - 0.5)) - margin)
    col1 = min(size, int(math.ceil((x_hi + 1) * half - 0.5)) + margin + 1)
    row0 = max(0, int(math.floor((1 - y_hi) * half - 0.5)) - margin)
    row1 = min(size, int(math.ceil((1 - y_lo) * half - 0.5)) + margin + 1)
    if col0 >= col1 or row0 >= row1:
        return None
    return slice(row0, row1), slice(col0, col1)


def _column(values) -> torch.Tensor:
    """Per-image numbers as a ``(B, 1, 1)`` float32 tensor that broadcasts over pixels."""
    return torch.tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32).view(-1, 1, 1)


def _columns(rows: Sequence[Mapping[str, float]]) -> dict[str, torch.Tensor]:
    """One dict per image -> one ``(B, 1, 1)`` float32 tensor per key (a single conversion,
    which matters at small sizes where per-call overhead dominates)."""
    keys = list(rows[0])
    table = torch.from_numpy(np.array([[row[key] for key in keys] for row in rows], dtype=np.float64).T).float()
    return {key: table[k].view(-1, 1, 1) for k, key in enumerate(keys)}


def _cone_params(cones: Sequence[_Cone]) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Per-image constants of one round cone in a batch, and bounding boxes ``(B, 4)``."""
    rows, bounds = [], []
    for cone in cones:
        a, b, ra, rb = cone.start, cone.end, cone.start_radius, cone.end_radius
        axis2 = b[:2] - a[:2]
        length2 = float(np.linalg.norm(axis2))
        sin2 = (ra - rb) / length2
        cos2 = math.sqrt(max(1.0 - sin2 * sin2, 0.0))
        axis = b - a
        length = float(np.linalg.norm(axis))
        ux, uy, uz = axis / length
        sin = (ra - rb) / length
        cos_sq = 1.0 - sin * sin
        row = {"ax": a[0], "ay": a[1], "az": a[2], "bx": b[0], "by": b[1], "dz": b[2] - a[2], "ra": ra, "rb": rb}
        row.update(ux2=axis2[0] / length2, uy2=axis2[1] / length2, sin2=sin2, cos2=cos2, end2=length2 * cos2)
        row.update(ux=ux, uy=uy, uz=uz, sin=sin, cos_sq=cos_sq, y_lo=sin * ra, y_hi=sin * ra + length * cos_sq)
        row["quad_a"] = max(cos_sq - uz * uz, 1e-6)  # > 0: the axis never points at the camera
        rows.append(row)
        bounds.append(
            (min(a[0] - ra, b[0] - rb), max(a[0] + ra, b[0] + rb), min(a[1] - ra, b[1] - rb), max(a[1] + ra, b[1] + rb))
        )
    return _columns(rows), np.array(bounds)


def _ellipsoid_params(ellipsoids: Sequence[_Ellipsoid]) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    rows, bounds = [], []
    for ellipsoid in ellipsoids:
        t = ellipsoid.to_unit
        covariance = np.linalg.inv(t.T @ t)
        # The projected outline is d^T Q d = 1, Q the inverse of the covariance's x-y block.
        q = np.linalg.inv(covariance[:2, :2])
        row = {"cx": ellipsoid.center[0], "cy": ellipsoid.center[1], "cz": ellipsoid.center[2]}
        row.update({f"t{i}{j}": t[i, j] for i in range(3) for j in range(3)})
        row.update(mm=float(t[:, 2] @ t[:, 2]), q00=q[0, 0], q01=q[0, 1], q11=q[1, 1])
        rows.append(row)
        half_x, half_y = math.sqrt(covariance[0, 0]), math.sqrt(covariance[1, 1])
        cx, cy = ellipsoid.center[:2]
        bounds.append((cx - half_x, cx + half_x, cy - half_y, cy + half_y))
    return _columns(rows), np.array(bounds)


_MISS = float("-inf")


def _trace_cone(c: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor):
    """Silhouette distance, front depth and normal of a round cone over a pixel block.

    ``c``: :func:`_cone_params` (``(B, 1, 1)`` each); ``x``: ``(1, 1, w)``; ``y``:
    ``(1, h, 1)``. Returns ``sdf`` ``(B, h, w)`` (signed distance to the projected outline,
    negative inside; frame units), ``z`` ``(B, h, w)`` (front surface depth, -inf where the
    ray misses) and ``normal`` ``(B, 3, h, w)`` (unit length where hit).

    Rays are parallel to -z. The projection of a round cone is the 2-D hull of the two
    projected discs, so the outline distance is exact and matches the ray-hit region.
    """
    gx, gy = x - c["ax"], y - c["ay"]  # pixel offsets from the first sphere's centre
    gbx, gby = x - c["bx"], y - c["by"]
    dist_a_sq = gx * gx + gy * gy
    dist_b_sq = gbx * gbx + gby * gby
    dist_a, dist_b = torch.sqrt(dist_a_sq), torch.sqrt(dist_b_sq)

    # Outline: signed distance to the hull of two discs. In the frame of the projected axis,
    # the tangent line touching both discs has unit normal (sin2, cos2).
    along = gx * c["ux2"] + gy * c["uy2"]
    across = (gx * c["uy2"] - gy * c["ux2"]).abs()
    tangent_coord = along * c["cos2"] - across * c["sin2"]
    sdf = torch.where(
        tangent_coord < 0,
        dist_a - c["ra"],
        torch.where(tangent_coord > c["end2"], dist_b - c["rb"], across * c["cos2"] + along * c["sin2"] - c["ra"]),
    )

    # Surface. With q = X - a = (gx, gy, w) and u the unit axis, the body is the set where
    # rho*cos(phi) + y*sin(phi) = ra (y = q.u, rho = distance to the axis, sin(phi) = (ra-rb)/L).
    # Squaring gives a quadratic in w; a root lies on the body when its axial coordinate y is
    # between the two tangent circles: sin*ra <= y <= sin*ra + L*cos^2.
    ux, uy, uz, sin, cos_sq, ra = c["ux"], c["uy"], c["uz"], c["sin"], c["cos_sq"], c["ra"]
    y0 = gx * ux + gy * uy
    quad_b = (sin * ra - y0) * (2 * uz)
    quad_c = (dist_a_sq - y0 * y0) * cos_sq - (ra - sin * y0) ** 2
    disc = quad_b * quad_b - 4 * c["quad_a"] * quad_c
    root = torch.sqrt(disc.clamp(min=0))
    w_body = torch.full_like(root, _MISS)
    for sign in (-1.0, 1.0):  # both roots: either can be the front hit of the true nappe
        w = (sign * root - quad_b) / (2 * c["quad_a"])
        axial = y0 + w * uz
        ok = (disc >= 0) & (axial >= c["y_lo"]) & (axial <= c["y_hi"])
        w_body = torch.maximum(w_body, torch.where(ok, w, _MISS))
    height_a = ra * ra - dist_a_sq
    height_b = c["rb"] * c["rb"] - dist_b_sq
    w_cap_a = torch.where(height_a >= 0, torch.sqrt(height_a.clamp(min=0)), _MISS)
    w_cap_b = torch.where(height_b >= 0, c["dz"] + torch.sqrt(height_b.clamp(min=0)), _MISS)
    # The round cone is convex, so the entry point is the nearest of all surface hits.
    w_caps = torch.maximum(w_cap_a, w_cap_b)
    w = torch.maximum(w_body, w_caps)
    hit = torch.isfinite(w)
    w_safe = torch.where(hit, w, 0.0)

    axial = y0 + w_safe * uz
    # On the body rho = (ra - sin*y) / cos, so the unit normal cos*(q - y u)/rho + sin*u needs
    # no square root; ra - sin*y >= cos^2 * rb > 0 there.
    scale = cos_sq / (ra - sin * axial).clamp(min=1e-6)
    body_normal = (
        (gx - axial * ux) * scale + sin * ux,
        (gy - axial * uy) * scale + sin * uy,
        (w_safe - axial * uz) * scale + sin * uz,
    )
    cap_a_normal = (gx / ra, gy / ra, w_safe / ra)
    cap_b_normal = (gbx / c["rb"], gby / c["rb"], (w_safe - c["dz"]) / c["rb"])
    on_body = w_body >= w_caps
    on_cap_a = w_cap_a >= w_cap_b
    normal = torch.stack(
        [
            torch.where(on_body, nb, torch.where(on_cap_a, na, nc))
            for nb, na, nc in zip(body_normal, cap_a_normal, cap_b_normal)
        ],
        dim=1,
    )
    z = torch.where(hit, w_safe + c["az"], _MISS)
    return sdf, z, normal


def _trace_ellipsoid(e: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor):
    """Like :func:`_trace_cone` for an ellipsoid; the outline distance is first-order exact
    near the outline (enough for anti-aliasing) and its sign is exact everywhere."""
    dx, dy = x - e["cx"], y - e["cy"]
    # A ray point is centre + (dx, dy, w); in unit-sphere coordinates that is u + m*w.
    u = [dx * e[f"t{k}0"] + dy * e[f"t{k}1"] for k in range(3)]
    m = [e[f"t{k}2"] for k in range(3)]
    um = u[0] * m[0] + u[1] * m[1] + u[2] * m[2]
    uu = u[0] * u[0] + u[1] * u[1] + u[2] * u[2]
    disc = um * um - (uu - 1) * e["mm"]
    w = (torch.sqrt(disc.clamp(min=0)) - um) / e["mm"]

    # disc / mm = 1 - d^T Q d; dividing by the gradient's length gives a distance.
    qdx = dx * e["q00"] + dy * e["q01"]
    qdy = dx * e["q01"] + dy * e["q11"]
    gradient_norm = 2 * torch.sqrt(qdx * qdx + qdy * qdy).clamp(min=1e-6)
    sdf = (-disc / e["mm"]) / gradient_norm

    unit = [u[k] + m[k] * w for k in range(3)]
    # The gradient of |to_unit (X - c)|^2 is proportional to to_unit^T applied to the unit point.
    normal = torch.stack([sum(unit[k] * e[f"t{k}{j}"] for k in range(3)) for j in range(3)], dim=1)
    z = torch.where(disc >= 0, w + e["cz"], _MISS)
    return sdf, z, _normalise(normal)


def _normalise(vectors: torch.Tensor) -> torch.Tensor:
    """Unit vectors along dim 1 of ``(B, 3, ...)``; written out, as ``norm(dim=1)`` is slow on CPU."""
    x, y, z = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    length = torch.sqrt(x * x + y * y + z * z).clamp(min=1e-12)
    return vectors / length.unsqueeze(1)


@dataclass
class _Surface:
    """A ray-cast batch of legs."""

    sdf: torch.Tensor  # (B, H, W) signed distance to the outline, frame units
    normal: torch.Tensor  # (B, 3, H, W) unit normals (edge-on at the outline where no ray hits)
    patella_weight: torch.Tensor  # (B, H, W) in [0, 1]: how much the kneecap shapes the pixel
    pixel: float  # pixel size, frame units

    @property
    def mask(self) -> torch.Tensor:
        return self.sdf < 0

    def coverage(self) -> torch.Tensor:
        """Anti-aliased foreground coverage in [0, 1], ``(B, H, W)``."""
        return (0.5 - self.sdf / self.pixel).clamp(0, 1)


def _trace_legs(poses: Sequence[Mapping[str, float]], size: int) -> _Surface:
    """Ray-cast a batch of legs into ``size`` x ``size`` orthographic views.

    Each primitive is traced only inside the union of its bounding boxes over the batch.
    Pixels outside a primitive's own box come out the same either way (outside the outline
    by more than the margin), so an image does not depend on its batch-mates. Normals of
    overlapping primitives are blended with softmax weights of their depths (accumulated
    online, as in a streaming softmax), which rounds off the creases a hard union would
    leave (kneecap, back of the knee) without moving the outline.
    """
    count = len(poses)
    xs, ys = _pixel_grid(size)
    per_pose = [_leg_primitives(pose) for pose in poses]
    blend_width = _column([0.035 * pose["scale"] for pose in poses])
    sdf = torch.full((count, size, size), float("inf"))
    front = torch.full((count, size, size), _MISS)  # nearest depth so far
    total = torch.zeros(count, size, size)  # sum of exp((z - front) / blend_width)
    normal_sum = torch.zeros(count, 3, size, size)
    patella = torch.zeros(count, size, size)
    for slot in range(len(per_pose[0])):
        primitives = [prims[slot] for prims in per_pose]
        if isinstance(primitives[0], _Cone):
            params, bounds = _cone_params(primitives)
            trace = _trace_cone
        else:
            params, bounds = _ellipsoid_params(primitives)
            trace = _trace_ellipsoid
        block = _crop(bounds[:, 0].min(), bounds[:, 1].max(), bounds[:, 2].min(), bounds[:, 3].max(), size)
        if block is None:
            continue
        rows, cols = block
        block_sdf, block_z, block_normal = trace(params, xs[cols].view(1, 1, -1), ys[rows].view(1, -1, 1))
        sdf[:, rows, cols] = torch.minimum(sdf[:, rows, cols], block_sdf)

        old_front = front[:, rows, cols]
        new_front = torch.maximum(old_front, block_z)
        reference = torch.where(torch.isfinite(new_front), new_front, 0.0)
        rescale = torch.exp((old_front - reference) / blend_width)  # 0 where nothing was hit yet
        weight = torch.exp((block_z - reference) / blend_width)  # 0 where this primitive misses
        front[:, rows, cols] = new_front
        total[:, rows, cols] = total[:, rows, cols] * rescale + weight
        normal_sum[:, :, rows, cols] = normal_sum[:, :, rows, cols] * rescale.unsqueeze(1) + weight.unsqueeze(
            1
        ) * block_normal
        patella[:, rows, cols] = patella[:, rows, cols] * rescale + (weight if slot == _PATELLA else 0.0)

    hit = torch.isfinite(front).unsqueeze(1)
    patella_weight = patella / total.clamp(min=1e-12)
    # Where no ray hits but the pixel is still partly covered (the anti-aliased rim), the
    # surface is seen edge-on: its normal is the outline's outward direction.
    capped = sdf.clamp(max=8.0 / size)
    grad_rows, grad_cols = torch.gradient(capped, dim=(1, 2))
    rim = torch.stack([grad_cols, -grad_rows, torch.zeros_like(capped)], dim=1)
    normal = _normalise(torch.where(hit, normal_sum, rim))
    return _Surface(sdf=sdf, normal=normal, patella_weight=patella_weight, pixel=2.0 / size)


# ----------------------------------------------------------------------------- shading

# Simulator look: one neutral material, one fixed light, dark background.
SIM_MATERIAL = (0.80, 0.78, 0.75)  # sRGB albedo
SIM_BACKGROUND = (0.06, 0.06, 0.07)
SIM_AMBIENT = 0.18
_SIM_LIGHT = tuple(np.array([-0.40, 0.50, 0.77]) / np.linalg.norm([-0.40, 0.50, 0.77]))  # upper left, front


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    c = c.clamp(0, 1)
    return torch.where(c <= 0.0031308, c * 12.92, 1.055 * c.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


_ENCODE_LEVELS = 8192
# A lookup table is ~5x faster than pow() per pixel. Its steepest step (12.92 / 8191 near
# black) is a fifth of an 8-bit level, far below the sensor noise added afterwards.
_ENCODE_TABLE = _linear_to_srgb(torch.linspace(0, 1, _ENCODE_LEVELS, dtype=torch.float64)).float()


def _encode_srgb(c: torch.Tensor) -> torch.Tensor:
    """Linear light in [0, 1] (clipped) to sRGB through :data:`_ENCODE_TABLE`."""
    return _ENCODE_TABLE[(c.clamp(0, 1) * (_ENCODE_LEVELS - 1)).round().long()]


def _dot(normal: torch.Tensor, direction) -> torch.Tensor:
    """``(B, 3, h, w)`` normals . directions (a fixed ``(3,)`` or per-image ``(B, 3)``) -> ``(B, h, w)``."""
    if isinstance(direction, torch.Tensor):
        d = [direction[:, k].view(-1, 1, 1) for k in range(3)]
    else:
        d = [float(v) for v in direction]
    return normal[:, 0] * d[0] + normal[:, 1] * d[1] + normal[:, 2] * d[2]


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> uint8. Quantising every render makes the PNG cache lossless."""
    return (image.clamp(0, 1) * 255).round().to(torch.uint8)


def _shade_sim(surface: _Surface) -> torch.Tensor:
    lambert = _dot(surface.normal, _SIM_LIGHT).clamp(min=0)
    shade = (SIM_AMBIENT + (1 - SIM_AMBIENT) * lambert).unsqueeze(1)
    alpha = surface.coverage().unsqueeze(1)
    material = torch.tensor(SIM_MATERIAL).view(1, 3, 1, 1)
    background = torch.tensor(SIM_BACKGROUND).view(1, 3, 1, 1)
    return background + alpha * (material * shade - background)


def _light_direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])


def _upsample(grids: torch.Tensor, size: int) -> torch.Tensor:
    """Noise grids ``(B, C, g, g)`` to ``(B, C, size, size)``; the grid is fixed, so one seed
    gives the same pattern at every output size."""
    grid = grids.shape[-1]
    return F.interpolate(grids, size=(size, size), mode="bilinear", align_corners=False, antialias=grid > size)


def _blur(images: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable box blur applied twice (close to a Gaussian) of ``(N, C, H, W)``."""
    for _ in range(2):
        images = F.avg_pool2d(images, (1, 2 * radius + 1), stride=1, padding=(0, radius), count_include_pad=False)
        images = F.avg_pool2d(images, (2 * radius + 1, 1), stride=1, padding=(radius, 0), count_include_pad=False)
    return images


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> torch.Tensor:
    k = torch.tensor([5.0, 3.0, 1.0])
    channel = (k + hue * 6) % 6
    return value - value * saturation * torch.minimum(channel, 4 - channel).clamp(0, 1)


# Octaves of the skin texture: (grid size, amplitude of log-albedo). The finest grid sets the
# resolution at which they are summed before one upsampling to the image size.
_SKIN_OCTAVES = ((12, 0.05), (40, 0.03), (128, 0.025))
_BLOTCH_AMPLITUDE = 0.015


def _shade_real(
    surface: _Surface, tones: torch.Tensor, looks: Sequence[Mapping[str, float]], garments: Sequence[bool]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Photographic shading in linear light.

    ``tones``: ``(B, 3)`` sRGB albedos. Returns images ``(B, 3, H, W)`` in [0, 1] and
    foreground masks ``(B, H, W)`` bool (the leg minus any garment).
    """
    count, size = surface.sdf.shape[0], surface.sdf.shape[-1]
    xs, ys = _pixel_grid(size)

    look_columns = _columns(looks)

    def per_image(key: str) -> torch.Tensor:  # (B, 1, 1)
        return look_columns[key]

    # Noise, drawn image by image in a fixed order so that an image never depends on the
    # rest of its batch.
    octaves = [[] for _ in _SKIN_OCTAVES]
    blotches, weaves, sensor = [], [], []
    with_garment = [bool(g) and look["garment"] >= 0.5 for g, look in zip(garments, looks)]
    for look, has_garment in zip(looks, with_garment):
        generator = torch.Generator().manual_seed(int(look["noise_seed"]))
        for grids, (grid, _) in zip(octaves, _SKIN_OCTAVES):
            grids.append(torch.randn(1, grid, grid, generator=generator))
        blotches.append(torch.randn(3, 8, 8, generator=generator))
        weaves.append(torch.randn(1, 96, 96, generator=generator) if has_garment else torch.zeros(1, 96, 96))
        sensor.append(torch.randn(3, size, size, generator=generator))

    # Studio background: a near-white sweep, a soft shadow cast away from the key light and
    # a gentle vignette. Its brightness is one map, tinted once.
    sides = [-1.0 if look["key_side"] < 0.5 else 1.0 for look in looks]  # -1: key light on the left
    key_angles = [(side * look["key_azimuth_deg"], look["key_elevation_deg"]) for side, look in zip(sides, looks)]
    keys = torch.tensor(np.stack([_light_direction(*angles) for angles in key_angles]), dtype=torch.float32)
    fills = torch.tensor(np.stack([_light_direction(-side * 55.0, 10.0) for side in sides]), dtype=torch.float32)
    coverage = surface.coverage()
    low = min(size, 64)  # the shadow is blurry: low resolution is enough
    small = F.interpolate(coverage.unsqueeze(1), size=(low, low), mode="area")
    # The shadow falls away from the key light: down (+rows) when it is above, right (+columns)
    # when it is on the left.
    offsets = (keys[:, [1, 0]] * torch.tensor([1.0, -1.0]) * (0.06 * low)).round().int().tolist()
    shifted = torch.stack([torch.roll(small[i], shifts=tuple(offsets[i]), dims=(1, 2)) for i in range(count)])
    shadow = F.interpolate(_blur(shifted, max(1, low // 14)), size=(size, size), mode="bilinear", align_corners=False)
    radius_sq = (xs.view(1, -1) ** 2 + ys.view(-1, 1) ** 2) / 2
    brightness = (1 - per_image("shadow").unsqueeze(1) * shadow) * (1 - per_image("vignette").unsqueeze(1) * radius_sq)
    tint = per_image("background_tint").view(-1, 1) * torch.tensor([0.012, 0.0, -0.012])
    background = _srgb_to_linear((per_image("background").view(-1, 1) + tint).clamp(0, 1)).view(count, 3, 1, 1)
    image = background * brightness
    mask = surface.mask

    # Only the legs' bounding box (grown for the garment's looseness) needs skin shading.
    loose = 0.05  # the fabric stands off the skin
    region = surface.sdf < loose + 2 * surface.pixel
    row_hits, col_hits = region.any(dim=(0, 2)).nonzero(), region.any(dim=(0, 1)).nonzero()
    if len(row_hits):
        rows = slice(int(row_hits[0]), int(row_hits[-1]) + 1)
        cols = slice(int(col_hits[0]), int(col_hits[-1]) + 1)
        x, y = xs[cols].view(1, 1, -1), ys[rows].view(1, -1, 1)
        normal = surface.normal[:, :, rows, cols]
        cover = coverage[:, rows, cols].unsqueeze(1)

        # Skin: blotchy low-frequency variation plus fine pore-scale grain, and a slightly
        # deeper, redder kneecap, as on real knees.
        finest = _SKIN_OCTAVES[-1][0]
        log_texture = _BLOTCH_AMPLITUDE * _upsample(torch.stack(blotches), finest)
        for grids, (_, amplitude) in zip(octaves, _SKIN_OCTAVES):
            log_texture = log_texture + amplitude * _upsample(torch.stack(grids), finest)
        log_texture = _upsample(log_texture, size)[:, :, rows, cols]
        texture = torch.exp(per_image("texture").unsqueeze(1) * log_texture)
        albedo = _srgb_to_linear(tones).view(count, 3, 1, 1) * texture
        knee_tint = torch.tensor([0.96, 0.88, 0.86]).view(1, 3, 1, 1)
        albedo = albedo * (1 + (knee_tint - 1) * (0.6 * surface.patella_weight[:, rows, cols]).unsqueeze(1))

        # Wrapped diffuse, wider in red: light scattered under the skin softens the terminator
        # and warms the shadows.
        wrap = torch.tensor([0.45, 0.30, 0.25]).view(1, 3, 1, 1)
        key_cos, fill_cos = _dot(normal, keys).unsqueeze(1), _dot(normal, fills).unsqueeze(1)
        key_colour = torch.tensor([1.0, 0.97, 0.93]).view(1, 3, 1, 1) * per_image("key_intensity").unsqueeze(1)
        fill_colour = torch.tensor([0.93, 0.97, 1.0]).view(1, 3, 1, 1) * per_image("fill_intensity").unsqueeze(1)
        irradiance = (
            key_colour * ((key_cos + wrap) / (1 + wrap)).clamp(min=0)
            + fill_colour * ((fill_cos + wrap) / (1 + wrap)).clamp(min=0)
            + (per_image("ambient") * (0.75 + 0.25 * normal[:, 1])).unsqueeze(1)  # more ambient from above
        )
        half_vectors = keys + torch.tensor([0.0, 0.0, 1.0])
        half_vectors = half_vectors / half_vectors.norm(dim=1, keepdim=True)
        sheen = per_image("specular") * _dot(normal, half_vectors).clamp(min=0) ** per_image("shininess")
        skin = albedo * irradiance + key_colour * sheen.unsqueeze(1)
        block = image[:, :, rows, cols]
        block = block + cover * (skin - block)

        if any(with_garment):
            has_garment = _column([float(g) for g in with_garment])  # (B, 1, 1)
            hem = per_image("hem_height") + per_image("hem_slope") * x + per_image("hem_wave") * torch.sin(
                4 * x + per_image("hem_phase")
            )
            leg_sdf = surface.sdf[:, rows, cols]
            fabric_cover = (0.5 - torch.maximum(leg_sdf - loose, hem - y) / surface.pixel).clamp(0, 1) * has_garment
            fabric_albedo = _srgb_to_linear(
                torch.stack(
                    [_hsv_to_rgb(lk["garment_hue"], lk["garment_saturation"], lk["garment_value"]) for lk in looks]
                )
            ).view(count, 3, 1, 1)
            weave = 1 + 0.04 * _upsample(torch.stack(weaves), size)[:, :, rows, cols]
            fabric_light = 0.4 + 0.6 * ((key_cos[:, 0] + 0.5) / 1.5).clamp(min=0) * (leg_sdf < 0)
            fabric = fabric_albedo * weave * fabric_light.unsqueeze(1)
            # The hem's shadow on the skin just below it.
            hem_shadow = 0.35 * torch.exp(-(hem - y).clamp(min=0) / 0.04) * (y < hem) * has_garment
            block = block * (1 - hem_shadow.unsqueeze(1) * cover)
            block = block + fabric_cover.unsqueeze(1) * (fabric - block)
            mask = mask.clone()
            mask[:, rows, cols] &= (y < hem) | (has_garment == 0)
        image[:, :, rows, cols] = block

    image = _encode_srgb(image * (2.0 ** per_image("exposure_ev")).unsqueeze(1))
    return image + 0.004 * torch.stack(sensor), mask


# ----------------------------------------------------------------------------- public renderers


def _batch_length(size: int) -> int:
    """Images per rendering batch: about 2**16 pixels. Enough to amortise the per-operation
    overhead of small images; large images go one by one, so that each primitive is traced
    only inside its own bounding box (a batch traces the union of its images' boxes)."""
    return max(1, 2**16 // (size * size))


@contextmanager
def _one_thread():
    """Run torch on one thread inside the block, then restore the caller's setting.

    Rendering works on tensors of at most ~2**16 pixels, too small for intra-op threads to
    pay off; and when another process keeps a core busy, two OpenMP threads wait on each
    other at every operation and rendering became five times slower in our measurements.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _render_batch(domain: str, poses, size: int, tones=None, looks=None, garments=None):
    """Render poses as uint8 images ``(B, 3, H, W)`` and bool masks ``(B, H, W)``."""
    with _one_thread():
        return _render_batches(domain, poses, size, tones, looks, garments)


def _render_batches(domain: str, poses, size: int, tones, looks, garments):
    images, masks = [], []
    step = _batch_length(size)
    for start in range(0, len(poses), step):
        part = slice(start, start + step)
        surface = _trace_legs(poses[part], size)
        if domain == "sim":
            image, mask = _shade_sim(surface), surface.mask
        else:
            image, mask = _shade_real(surface, tones[part], looks[part], garments[part])
        images.append(_to_uint8(image))
        masks.append(mask)
    return torch.cat(images), torch.cat(masks)


def _as_float(images_u8: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``(..., 3, H, W)`` and bool ``(..., H, W)`` -> float32 [-1, 1] and ``(..., 1, H, W)`` {0, 1}."""
    return images_u8.float() / 127.5 - 1, masks.unsqueeze(-3).float()


def _check_pose(pose) -> dict[str, float]:
    pose = _plain_floats("pose", pose)
    missing = [name for name, _, _ in _POSE_RANGES if name not in pose]
    if missing:
        raise ValueError(f"pose: expected the keys of sample_pose(), missing {', '.join(missing)}")
    return pose


def _poses(pose) -> tuple[list[dict[str, float]], bool]:
    """One pose or a sequence of them -> (list, whether a single pose was given)."""
    if isinstance(pose, Mapping):
        return [_check_pose(pose)], True
    if isinstance(pose, Sequence) and not isinstance(pose, str) and len(pose) > 0:
        return [_check_pose(p) for p in pose], False
    raise TypeError(f"pose: expected a pose dict or a non-empty sequence of them, got {type(pose).__name__}")


def render_sim(pose, size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Render a pose in the simulator style (domain X).

    Args:
        pose: a dict from :func:`sample_pose` or :meth:`SyntheticKnees.pose` (0-d tensors,
            as in one row of a collated batch, are accepted), or a sequence of N of them.
        size: output side in pixels, 32 to 512 (default 256).

    Returns:
        ``image`` ``(3, size, size)`` float32 in [-1, 1] (8-bit levels) and ``mask``
        ``(1, size, size)`` float32 in {0, 1}; with N poses ``(N, 3, ...)`` and ``(N, 1, ...)``.
    """
    poses, single = _poses(pose)
    images, masks = _as_float(*_render_batch("sim", poses, _check_size(size)))
    return (images[0], masks[0]) if single else (images, masks)


def render_real(
    pose,
    tone,
    size: int = 256,
    *,
    appearance=None,
    garment: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render a pose in the photographic style (domain Y): the oracle translation.

    Given the pose of a simulator image (``SyntheticKnees("sim", ...).pose(i)``) this is
    what a perfect translator would output for that image and a reference of skin tone
    ``tone``. Without a garment its mask equals the simulator image's mask exactly, since
    both come from the same outline.

    Args:
        pose: a dict from :func:`sample_pose` / :meth:`SyntheticKnees.pose`, or a sequence
            of N of them (rendered in batches, much faster than one by one).
        tone: the skin albedo: a Monk-scale position in [0, 1] (a number, see
            :func:`monk_tone`) or an sRGB triple in [0, 1] (sequence or ``(3,)`` tensor,
            for example a real sample's ``"tone_srgb"``); with N poses also a sequence of N
            such tones or an ``(N, 3)`` tensor.
        size: output side in pixels, 32 to 512 (default 256).
        appearance: lighting, background and texture: a dict from :func:`sample_appearance`
            (for example a real sample's ``"appearance"``, to reproduce the reference's
            look; default :func:`default_appearance`); with N poses also a sequence of N.
        garment: draw the garment hem when the appearance has one (default False, which
            keeps the mask equal to the simulator mask).

    Returns:
        ``image`` ``(3, size, size)`` float32 in [-1, 1] (8-bit levels) and ``mask``
        ``(1, size, size)`` float32 in {0, 1}; with N poses ``(N, 3, ...)`` and ``(N, 1, ...)``.
    """
    poses, single = _poses(pose)
    size = _check_size(size)
    count = len(poses)

    if isinstance(tone, torch.Tensor) and tone.dim() == 2:
        tones = [_tone_srgb(t) for t in tone]
    elif not single and isinstance(tone, Sequence) and len(tone) == count and not (
        count == 3 and all(isinstance(t, (int, float)) for t in tone)
    ):
        tones = [_tone_srgb(t) for t in tone]
    else:
        tones = [_tone_srgb(tone)] * count
    if len(tones) != count:
        raise ValueError(f"tone: expected one tone or {count} tones (one per pose), got {len(tones)}")

    def look(entry) -> dict[str, float]:
        merged = default_appearance()
        if entry is not None:
            given = _plain_floats("appearance", entry)
            unknown = sorted(set(given) - set(merged))
            if unknown:
                raise ValueError(f"appearance: expected keys of sample_appearance(), got unknown {', '.join(unknown)}")
            merged.update(given)
        return merged

    if appearance is None or isinstance(appearance, Mapping):
        looks = [look(appearance)] * count
    else:
        looks = [look(entry) for entry in appearance]
        if len(looks) != count:
            raise ValueError(f"appearance: expected one dict or {count} (one per pose), got {len(looks)}")
    images, masks = _as_float(
        *_render_batch("real", poses, size, torch.stack(tones), looks, [bool(garment)] * count)
    )
    return (images[0], masks[0]) if single else (images, masks)


# ----------------------------------------------------------------------------- synthetic dataset


def _encode_png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class SyntheticKnees(Dataset):
    """Procedurally rendered knees in the simulator or photographic style.

    Every sample is a pure function of ``(domain, split, index, size, seed)``: its pose (and,
    for ``"real"``, tone and appearance) come from a generator seeded with
    :func:`sample_seed`, so train and test never share a sample. See the module docstring
    for the sample dict.

    Geometry (both domains): a thigh and a shin (tapered round cones) meeting at a knee
    flexed 0-45 degrees, with femoral condyles, a kneecap bump, a tibial tuberosity and a
    calf, turned +-35 degrees about the vertical, scaled, shifted and rotated in the image
    plane; ray-cast orthographically, so shading carries the shape.

    - ``"sim"`` (X): a 3D viewer's render of an MRI-derived surface: one neutral material
      (``SIM_MATERIAL``), Lambert plus ambient shading from a fixed light, dark uniform
      background.
    - ``"real"`` (Y): a product photo: skin tone drawn uniformly along the Monk Skin Tone
      scale (Monk 2019; Google's Monk Skin Tone Scale, swatches f6ede4 ... 292420,
      interpolated), exposure variation, soft key and fill light with wrapped diffuse, a
      subtle specular sheen, skin texture and sensor noise, a near-white studio background
      with a soft shadow and vignette, and in a quarter of the images a garment hem at the
      top (which the mask excludes).

    Args:
        domain: ``"sim"`` or ``"real"`` (default ``"sim"``).
        split: ``"train"`` or ``"test"`` (default ``"train"``); sizes are the paper's, see
            ``SPLIT_SIZES``.
        size: image side in pixels, 32 to 512 (default 256).
        seed: int (default 0); a different seed gives a different dataset.
        cache_dir: optional folder for a PNG cache (written atomically, safe to share between
            processes); images are 8-bit, so cached and fresh samples are identical.
    """

    def __init__(
        self,
        domain: str = "sim",
        split: str = "train",
        size: int = 256,
        seed: int = 0,
        cache_dir: str | Path | None = None,
    ):
        self.domain = check_choice("domain", domain, DOMAINS)
        self.split = check_choice("split", split, SPLITS)
        self.size = _check_size(size)
        self.seed = _check_seed(seed)
        self.cache_dir = None
        if cache_dir is not None:
            self.cache_dir = (
                Path(cache_dir) / f"knees-v{RENDER_VERSION}" / f"{domain}-{split}-seed{seed}-{size}px"
            )

    def __len__(self) -> int:
        return SPLIT_SIZES[self.domain][self.split]

    def __repr__(self) -> str:
        return (
            f"SyntheticKnees(domain={self.domain!r}, split={self.split!r}, size={self.size}, "
            f"seed={self.seed}, {len(self)} images)"
        )

    def _index(self, index) -> int:
        if isinstance(index, torch.Tensor) and index.numel() == 1:
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(index).__name__} {index!r}")
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: expected an int in [-{len(self)}, {len(self)}), got {index}")
        return index % len(self)

    def _draws(self, index: int):
        generator = torch.Generator().manual_seed(sample_seed(self.seed, self.domain, self.split, index))
        pose = sample_pose(generator)
        if self.domain == "sim":
            return pose, None, None
        position = float(torch.rand(1, generator=generator, dtype=torch.float64))
        return pose, position, sample_appearance(generator)

    def pose(self, index: int) -> dict[str, float]:
        """The pose of sample ``index`` (a dict of floats); cheap, nothing is rendered.
        ``render_real(sim.pose(i), tone)`` is the oracle for simulator image ``i``."""
        return self._draws(self._index(index))[0]

    def tone_position(self, index: int) -> float:
        """Monk-scale position in [0, 1] of real sample ``index``."""
        self._require_real("tone_position")
        return self._draws(self._index(index))[1]

    def appearance(self, index: int) -> dict[str, float]:
        """Lighting, background and texture of real sample ``index`` (see
        :func:`sample_appearance`)."""
        self._require_real("appearance")
        return self._draws(self._index(index))[2]

    def _require_real(self, what: str) -> None:
        if self.domain != "real":
            raise ValueError(f"{what}: only the 'real' domain has one, this dataset's domain is {self.domain!r}")

    def metadata(self, index: int) -> dict:
        """The sample dict without ``"image"`` and ``"mask"``."""
        index = self._index(index)
        pose, position, look = self._draws(index)
        meta = {"index": index, "pose": pose}
        if self.domain == "real":
            tone = monk_tone(position)
            meta.update(tone_srgb=tone, tone_lab=_srgb_to_lab(tone), tone_position=position, appearance=look)
        return meta

    def _cache_paths(self, index: int) -> tuple[Path, Path]:
        return self.cache_dir / f"{index:04d}.png", self.cache_dir / f"{index:04d}-mask.png"

    def _read_cache(self, index: int):
        from PIL import Image

        image_path, mask_path = self._cache_paths(index)
        if not (image_path.is_file() and mask_path.is_file()):
            return None
        try:
            with Image.open(image_path) as img:
                image = torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).contiguous()
            with Image.open(mask_path) as img:
                mask = torch.from_numpy(np.array(img.convert("L")) > 127)
        except (OSError, ValueError, SyntaxError):
            return None  # a damaged cache entry is simply rendered again
        if image.shape[-1] != self.size or mask.shape[-1] != self.size:
            return None
        return image, mask

    def _render_uncached(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        draws = [self._draws(index) for index in indices]
        poses = [pose for pose, _, _ in draws]
        if self.domain == "sim":
            return _render_batch("sim", poses, self.size)
        tones = torch.stack([monk_tone(position) for _, position, _ in draws])
        looks = [look for _, _, look in draws]
        return _render_batch("real", poses, self.size, tones, looks, [True] * len(indices))

    def _render(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images ``(N, 3, H, W)`` and bool masks ``(N, H, W)``, from the cache when
        possible; whatever is rendered is written to the cache."""
        images = torch.empty(len(indices), 3, self.size, self.size, dtype=torch.uint8)
        masks = torch.empty(len(indices), self.size, self.size, dtype=torch.bool)
        missing = []
        for row, index in enumerate(indices):
            cached = self._read_cache(index) if self.cache_dir is not None else None
            if cached is None:
                missing.append(row)
            else:
                images[row], masks[row] = cached
        step = _batch_length(self.size)
        for start in range(0, len(missing), step):
            rows = missing[start : start + step]
            rendered_images, rendered_masks = self._render_uncached([indices[row] for row in rows])
            for row, image, mask in zip(rows, rendered_images, rendered_masks):
                images[row], masks[row] = image, mask
                if self.cache_dir is not None:
                    image_path, mask_path = self._cache_paths(indices[row])
                    atomic_write_bytes(image_path, _encode_png(image.permute(1, 2, 0).numpy()))
                    atomic_write_bytes(mask_path, _encode_png(mask.numpy().astype(np.uint8) * 255))
        return images, masks

    def __getitem__(self, index: int) -> dict:
        index = self._index(index)
        images, masks = _as_float(*self._render([index]))
        return {"image": images[0], "mask": masks[0], **self.metadata(index)}

    def tensors(self, indices: Sequence[int] | None = None, progress: bool = False):
        """The whole split (or ``indices``) as two tensors, for training from memory.

        Rendering is batched (all 971 images of both domains at 256 px take well under a
        minute on two CPU cores; see ``benchmarks/data.py``).

        Returns:
            ``images`` ``(N, 3, size, size)`` float32 in [-1, 1] and ``masks``
            ``(N, 1, size, size)`` float32 in {0, 1}. At 256 px a full train split takes
            about 0.45 GB (sim) to 0.5 GB (real), masks included.
        """
        indices = list(range(len(self))) if indices is None else [self._index(i) for i in indices]
        chunks = [indices[i : i + 64] for i in range(0, len(indices), 64)]
        if progress:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, desc=f"{self.domain}/{self.split} {self.size}px", leave=False)
        images = torch.empty(len(indices), 3, self.size, self.size)
        masks = torch.empty(len(indices), 1, self.size, self.size)
        row = 0
        for chunk in chunks:
            chunk_images, chunk_masks = _as_float(*self._render(chunk))
            images[row : row + len(chunk)], masks[row : row + len(chunk)] = chunk_images, chunk_masks
            row += len(chunk)
        return images, masks


# ----------------------------------------------------------------------------- folders of images


def border_background_mask(
    image: torch.Tensor, *, tolerance: float = 0.07, border: int | None = None
) -> torch.Tensor:
    """Foreground mask of a photo on a plain light or dark background, from its border colour.

    The background colour is the per-channel median of a frame of ``border`` pixels
    (default ``max(1, size // 32)``) along the image edges. If it is light (mean sRGB above
    0.6: white to light-grey studio backgrounds) or dark (below 0.3), pixels farther than ``tolerance`` (Euclidean
    distance in sRGB [0, 1]) from it are foreground; then holes in the foreground are
    filled (a highlight on light skin never becomes background) and specks smaller than
    ~0.1% of the image are dropped. Any other background is not separable this way: the
    whole image is returned as foreground, with a warning.

    Args:
        image: ``(3, H, W)`` float in [-1, 1].

    Returns:
        ``(1, H, W)`` float32 in {0, 1}.
    """
    from scipy import ndimage  # a dependency of scikit-image

    check_tensor("image", image, ndims=(3,))
    if image.shape[0] != 3:
        raise ValueError(f"image: expected shape (3, H, W), got {tuple(image.shape)}")
    rgb = ((image.detach().float().cpu() + 1) / 2).clamp(0, 1)
    height, width = rgb.shape[-2:]
    band = border if border is not None else max(1, min(height, width) // 32)
    frame = torch.ones(height, width, dtype=torch.bool)
    frame[band:-band, band:-band] = False
    background = rgb[:, frame].median(dim=1).values
    level = float(background.mean())
    if 0.3 <= level <= 0.6:
        warnings.warn(
            f"image: the border colour {[round(v, 3) for v in background.tolist()]} is neither light nor dark; "
            "using the whole image as foreground (pass masks instead)",
            stacklevel=2,
        )
        return torch.ones(1, height, width)
    distance = (rgb - background.view(3, 1, 1)).norm(dim=0)
    foreground = ndimage.binary_fill_holes((distance > tolerance).numpy())
    labels, count = ndimage.label(foreground)
    if count:
        areas = ndimage.sum(foreground, labels, index=np.arange(1, count + 1))
        keep = np.concatenate([[False], areas >= 0.001 * height * width])
        foreground = keep[labels]
    return torch.from_numpy(foreground).float().unsqueeze(0)


_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def pil_to_uint8(img, *, alpha: str = "keep", where: str = "image") -> np.ndarray:
    """Any Pillow image as 8-bit sRGB: ``(H, W, 3)``, or ``(H, W, 4)`` with ``alpha="keep"``
    when it has transparency.

    Handles every mode a user may have: ``1``, ``L``, ``LA``, ``P`` (with or without
    transparency), ``RGB``, ``RGBA``, ``CMYK``, ``YCbCr``, the 16-bit greys ``I;16*``
    and ``I`` (scaled from 0-65535, not clipped to 255 as Pillow's ``convert`` does) and
    ``F`` (floats, scaled from 0-1). ``alpha``: ``"keep"``, or ``"white"``/``"black"`` to
    composite transparent pixels onto that background. ``where`` names the image in errors
    and warnings (e.g. its path).
    """
    from PIL import Image

    check_choice("alpha", alpha, ("keep", "white", "black"))
    mode = img.mode
    if mode in _SIXTEEN_BIT or mode == "F":
        values = np.asarray(img, dtype=np.float64)
        scale = 1.0 if mode == "F" else 65535.0
        if values.size and (not np.isfinite(values).all() or values.min() < 0 or values.max() > scale):
            warnings.warn(
                f"{where}: {mode} pixel values outside [0, {scale:g}] (min {np.nanmin(values):.4g}, "
                f"max {np.nanmax(values):.4g}) were clipped",
                stacklevel=3,
            )
        grey = np.round(np.clip(np.nan_to_num(values, nan=0.0), 0, scale) / scale * 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    has_alpha = "A" in img.getbands() or (mode == "P" and "transparency" in img.info) or (
        mode in ("L", "RGB") and "transparency" in img.info
    )
    if not has_alpha:
        return np.asarray(img.convert("RGB"))
    rgba = img.convert("RGBA")
    if alpha == "keep":
        return np.asarray(rgba)
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255) if alpha == "white" else (0, 0, 0, 255))
    return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))


def _open_image(path: Path, mode: str, size: int, resample: int) -> np.ndarray:
    """Decode (any Pillow mode, see :func:`pil_to_uint8`), centre-crop to a square and
    resize; errors name the file. ``mode``: ``"RGB"`` for images (transparency composited on
    white), ``"L"`` for masks (transparency is background)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = pil_to_uint8(img, alpha="white" if mode == "RGB" else "black", where=str(path))
            img = Image.fromarray(rgb).convert(mode)
            width, height = img.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            img = img.crop((left, top, left + side, top + side))
            if side != size:
                img = img.resize((size, size), resample=resample)
            return np.array(img)
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: image too large to decode safely ({error}); shrink it first") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"{path}: not a readable image ({type(error).__name__}: {error})") from error


class ImageFolderDomain(Dataset):
    """The images directly inside one folder, as a dataset of sample dicts.

    Images (.png, .jpg, .jpeg, .bmp, .webp, any case; sorted by file name; hidden files and
    other extensions are skipped with a warning) are converted to 8-bit RGB from any Pillow
    mode (16-bit and float images scaled, transparency composited on white: see
    :func:`pil_to_uint8`), centre-cropped to a square and resized to ``size`` (Lanczos). See the module docstring for the folder
    layout.

    Args:
        root: the folder of images.
        mask_root: optional folder of masks, one per image with the same stem (any accepted
            extension); pixels above 127 in greyscale are foreground. Without it, masks come
            from :func:`border_background_mask` (near-white or near-black backgrounds).
        size: output side in pixels, 32 to 512 (default 256).

    Samples: ``{"image": (3, size, size) float32 in [-1, 1], "mask": (1, size, size) float32
    in {0, 1}, "index": int}``; ``paths[i]`` is the file of sample ``i``.

    Raises:
        FileNotFoundError: ``root`` (or ``mask_root``) is not a folder, or an image has no
            mask.
        ValueError: the folder has no images, or a file cannot be decoded or is too large to
            decode safely (the message names the file; every file is checked when the
            dataset is built); when loading, a mask with no foreground, or an image whose
            border gives none (the message names the file).
    """

    def __init__(self, root: str | Path, mask_root: str | Path | None = None, size: int = 256):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"root: expected an existing folder of images, got {str(root)!r}")
        self.size = _check_size(size)
        files = sorted(p for p in self.root.iterdir() if p.is_file() and not p.name.startswith("."))
        self.paths = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
        skipped = [p.name for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
        if skipped:
            warnings.warn(
                f"root: skipping {len(skipped)} file(s) without an image extension in {str(self.root)!r}: "
                f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
                stacklevel=2,
            )
        if not self.paths:
            raise ValueError(
                f"root: expected image files ({', '.join(IMAGE_EXTENSIONS)}) in {str(self.root)!r}, found none"
            )
        self._check_decodable(self.paths)

        self.mask_root = None
        self.mask_paths: list[Path] | None = None
        if mask_root is not None:
            self.mask_root = Path(mask_root)
            if not self.mask_root.is_dir():
                raise FileNotFoundError(f"mask_root: expected an existing folder of masks, got {str(mask_root)!r}")
            by_stem = {
                p.stem: p
                for p in sorted(self.mask_root.iterdir())
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            }
            missing = [p.name for p in self.paths if p.stem not in by_stem]
            if missing:
                raise FileNotFoundError(
                    f"mask_root: expected a mask with the same stem for every image, none in "
                    f"{str(self.mask_root)!r} for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
                )
            self.mask_paths = [by_stem[p.stem] for p in self.paths]
            self._check_decodable(self.mask_paths)

    @staticmethod
    def _check_decodable(paths: Sequence[Path]) -> None:
        from PIL import Image, UnidentifiedImageError

        for path in paths:
            try:
                with Image.open(path) as img:
                    img.verify()
            except Image.DecompressionBombError as error:
                raise ValueError(f"{path}: image too large to decode safely ({error}); shrink it first") from None
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
                raise ValueError(f"{path}: not a readable image ({type(error).__name__}: {error})") from error

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"ImageFolderDomain({str(self.root)!r}, size={self.size}, {len(self)} images)"

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(index).__name__} {index!r}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: expected an int in [-{len(self)}, {len(self)}), got {index}")
        index = int(index) % len(self)
        from PIL import Image

        pixels = _open_image(self.paths[index], "RGB", self.size, Image.Resampling.LANCZOS)
        image = torch.from_numpy(pixels).permute(2, 0, 1).float() / 127.5 - 1
        if self.mask_paths is None:
            mask = border_background_mask(image)
        else:
            grey = _open_image(self.mask_paths[index], "L", self.size, Image.Resampling.NEAREST)
            mask = torch.from_numpy(grey > 127).float().unsqueeze(0)
        return {"image": image, "mask": mask, "index": index}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images ``(N, 3, size, size)`` float32 in [-1, 1] and masks ``(N, 1, size, size)``.

        Raises:
            ValueError: a mask without foreground (a black mask file, or a uniform photo
                whose border gives none): training needs some in every image, so it is
                refused here, naming the file, rather than at a random step later.
        """
        samples = [self[i] for i in range(len(self))]
        for index, sample in enumerate(samples):
            if not bool(sample["mask"].any()):
                if self.mask_paths is None:
                    raise ValueError(
                        f"{self.paths[index]}: expected a foreground on a plain light or dark background, got none "
                        f"(the image is uniform at {self.size} px); remove it or pass masks (mask_root)"
                    )
                raise ValueError(
                    f"{self.mask_paths[index]}: expected some foreground (pixels above 127) in the mask of "
                    f"{self.paths[index].name}, got none at {self.size} px"
                )
        return torch.stack([s["image"] for s in samples]), torch.stack([s["mask"] for s in samples])


# ----------------------------------------------------------------------------- unpaired sampling


class UnpairedLoader:
    """Unpaired batches of two domains held in memory, deterministic and resumable.

    Each domain is shuffled independently: sample ``k`` of domain ``d``'s stream is entry
    ``k % N_d`` of a permutation seeded by ``(seed, d, k // N_d)``, and step ``t`` takes
    stream samples ``t*batch_size ... (t+1)*batch_size - 1`` of both domains. A batch is
    therefore a pure function of ``(seed, step)``: to resume from a checkpoint, save the step
    and call :meth:`batches` with ``start_step`` (``state_dict``/``load_state_dict`` wrap
    this). References come from the same domain's other images (never the sample itself).
    Augmentation keeps colour: a horizontal flip and an integer translation of up to
    ``max_shift`` pixels (edges replicated), applied identically to image and mask; no
    colour jitter.

    Args:
        x_images, x_masks: domain X, ``(N_x, 3, H, W)`` float in [-1, 1] and
            ``(N_x, 1, H, W)`` float in {0, 1}; N_x >= 2 (a reference must differ).
        y_images, y_masks: domain Y, likewise.
        batch_size: samples per batch (default 1).
        seed: int (default 0).
        both: also yield ``x_ref`` and ``x_ref_mask`` (default False).
        augment: apply flips and shifts (default True).
        max_shift: largest translation in pixels (default ``H // 16``; 0 disables it).
        device: where batches go (default: wherever the tensors are).

    Each batch is a dict of ``(B, 3, H, W)`` images and ``(B, 1, H, W)`` masks: ``x``,
    ``x_mask``, ``y``, ``y_mask``, ``y_ref``, ``y_ref_mask`` (and ``x_ref``, ``x_ref_mask``
    when ``both``), plus ``x_index``, ``y_index``, ``x_ref_index``, ``y_ref_index`` (int64
    ``(B,)``, rows of the input tensors) and ``step`` (int).
    """

    def __init__(
        self,
        x_images: torch.Tensor,
        x_masks: torch.Tensor,
        y_images: torch.Tensor,
        y_masks: torch.Tensor,
        *,
        batch_size: int = 1,
        seed: int = 0,
        both: bool = False,
        augment: bool = True,
        max_shift: int | None = None,
        device: str | torch.device | None = None,
    ):
        self._domains = {
            "x": self._check_domain("x", x_images, x_masks),
            "y": self._check_domain("y", y_images, y_masks),
        }
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = _check_seed(seed)
        self.both = bool(both)
        self.augment = bool(augment)
        height = x_images.shape[-2]
        self.max_shift = height // 16 if max_shift is None else check_positive_int("max_shift", max_shift, minimum=0)
        self.device = torch.device(device) if device is not None else None
        self.step = 0  # the next step that iterating the loader yields
        self._permutations: OrderedDict = OrderedDict()

    @staticmethod
    def _check_domain(name: str, images, masks) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor(f"{name}_images", images, ndims=(4,), finite=False)
        check_tensor(f"{name}_masks", masks, ndims=(4,), finite=False)
        if images.shape[1] != 3:
            raise ValueError(f"{name}_images: expected shape (N, 3, H, W), got {tuple(images.shape)}")
        expected = (images.shape[0], 1, *images.shape[-2:])
        if tuple(masks.shape) != expected:
            raise ValueError(
                f"{name}_masks: expected shape {expected} to match {name}_images, got {tuple(masks.shape)}"
            )
        if images.shape[0] < 2:
            raise ValueError(
                f"{name}_images: expected at least 2 images (a reference must be another image), got {images.shape[0]}"
            )
        if masks.device != images.device:
            raise ValueError(
                f"{name}_masks: expected the device of {name}_images ({images.device}), got {masks.device}"
            )
        return images, masks

    def __len__(self) -> int:
        """Steps per epoch: enough for every image of the larger domain to appear once."""
        largest = max(images.shape[0] for images, _ in self._domains.values())
        return math.ceil(largest / self.batch_size)

    def _permutation(self, domain: str, epoch: int) -> torch.Tensor:
        key = (domain, epoch)
        if key not in self._permutations:
            count = self._domains[domain][0].shape[0]
            seed = _stable_hash("kdehist.UnpairedLoader.perm", self.seed, domain, epoch)
            generator = torch.Generator().manual_seed(seed)
            self._permutations[key] = torch.randperm(count, generator=generator)
            while len(self._permutations) > 8:  # batches straddle at most two epochs per domain
                self._permutations.popitem(last=False)
        return self._permutations[key]

    def _stream(self, domain: str, step: int) -> torch.Tensor:
        count = self._domains[domain][0].shape[0]
        positions = range(step * self.batch_size, (step + 1) * self.batch_size)
        return torch.tensor([int(self._permutation(domain, k // count)[k % count]) for k in positions])

    def _augment(self, images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator):
        if not self.augment:
            return images, masks
        stacked = torch.cat([images, masks], dim=1)  # one transform for image and mask
        count, _, height, width = stacked.shape
        flips = torch.rand(count, generator=generator) < 0.5
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (count, 2), generator=generator)
        stacked = torch.where(flips.to(stacked.device).view(-1, 1, 1, 1), stacked.flip(-1), stacked)
        if self.max_shift > 0:
            pad = self.max_shift
            padded = F.pad(stacked, (pad, pad, pad, pad), mode="replicate")
            stacked = torch.stack(
                [
                    padded[i, :, pad - int(dy) : pad - int(dy) + height, pad - int(dx) : pad - int(dx) + width]
                    for i, (dy, dx) in enumerate(shifts)
                ]
            )
        return stacked[:, :3], stacked[:, 3:]

    def batch(self, step: int) -> dict:
        """The batch of ``step`` (an int >= 0); the same step always gives the same batch."""
        step = check_positive_int("step", step, minimum=0)
        generator = torch.Generator().manual_seed(_stable_hash("kdehist.UnpairedLoader.draws", self.seed, step))
        out: dict = {"step": step}
        for domain in ("x", "y"):
            images, masks = self._domains[domain]
            count = images.shape[0]
            index = self._stream(domain, step)
            # An offset in [1, N-1] can never map an image onto itself.
            ref_index = (index + torch.randint(1, count, index.shape, generator=generator)) % count
            wanted = [(domain, index)]
            if domain == "y" or self.both:
                wanted.append((f"{domain}_ref", ref_index))
            for key, rows in wanted:
                device_rows = rows.to(images.device)
                image, mask = self._augment(images[device_rows], masks[device_rows], generator)
                if self.device is not None:
                    image = image.to(self.device, non_blocking=True)
                    mask = mask.to(self.device, non_blocking=True)
                out[key], out[f"{key}_mask"], out[f"{key}_index"] = image, mask, rows
        return out

    def batches(self, start_step: int = 0, num_steps: int | None = None) -> Iterator[dict]:
        """Batches for steps ``start_step, start_step + 1, ...`` (forever when ``num_steps`` is None)."""
        step = check_positive_int("start_step", start_step, minimum=0)
        end = None if num_steps is None else step + check_positive_int("num_steps", num_steps, minimum=0)
        while end is None or step < end:
            yield self.batch(step)
            step += 1

    def __iter__(self) -> Iterator[dict]:
        """One epoch (``len(self)`` steps) from :attr:`step`, advancing it as batches are taken."""
        for _ in range(len(self)):
            batch = self.batch(self.step)
            self.step += 1
            yield batch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "step": self.step}

    def load_state_dict(self, state: Mapping) -> None:
        if int(state["seed"]) != self.seed:
            raise ValueError(f"state: expected seed {self.seed} to resume this loader, got {state['seed']}")
        self.step = check_positive_int("state['step']", int(state["step"]), minimum=0)
