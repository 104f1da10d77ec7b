"""Renderer behind :class:`kdehist.data.SyntheticKnees`: geometry, ray tracing, shading.

A leg is a handful of primitives (cones for the thigh and shin, ellipsoids for the
condyles and the kneecap) posed by :func:`sample_pose`. They are ray-traced
orthographically on the pixel grid, then shaded in one of two styles:

- ``"sim"`` (domain X, :func:`render_sim`): a 3D viewer's render of an
  MRI-derived surface, a uniform grey material (``SIM_MATERIAL``) lit by a fixed
  light on a dark background;
- ``"real"`` (domain Y, :func:`render_real`): a product photo of a bare knee, with a
  skin albedo along the Monk Skin Tone scale (:func:`monk_tone`), subsurface-like
  softening, skin texture, a light or dark studio background and, sometimes, a garment
  hem. Lighting, background and texture are drawn by :func:`sample_appearance`.

Both styles share the geometry, so ``render_real(pose, tone)`` re-renders the pose of a
simulator image in the photographic style: the oracle of chapter 10;
:func:`kneecap_mask` says where its kneecap is. Every function here is deterministic:
the same pose, tone and appearance give the same pixels on every machine.
:mod:`kdehist.data` re-exports the public names but :func:`kneecap_mask`.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import check_positive_int
from ._knee_geometry import _column, _columns, _pixel_grid, _Surface, _trace_legs
from ._knee_geometry import _kneecap_region
from ._torch_utils import torch_threads

__all__ = [
    "MIN_SIZE",
    "MAX_SIZE",
    "RENDER_VERSION",
    "MONK_SKIN_TONES",
    "SIM_MATERIAL",
    "SIM_BACKGROUND",
    "GARMENT_PROBABILITY",
    "monk_tone",
    "sample_pose",
    "sample_appearance",
    "default_appearance",
    "render_sim",
    "render_real",
    "kneecap_mask",
    "as_float",
    "batch_length",
    "check_size",
    "render_batch",
    "srgb_to_lab",
]

MIN_SIZE, MAX_SIZE = 32, 512

# Bump whenever rendering changes, so stale PNG caches are never read back.
RENDER_VERSION = 1

# Monk Skin Tone scale, swatches 1 (lightest) to 10 (deepest), as
# published sRGB hex values.
_MONK_HEX = (
    "f6ede4",
    "f3e7db",
    "f7ead0",
    "eadaba",
    "d7bd96",
    "a07e56",
    "825c43",
    "604134",
    "3a312a",
    "292420",
)
MONK_SKIN_TONES = torch.tensor(
    [[int(code[i : i + 2], 16) / 255.0 for i in (0, 2, 4)] for code in _MONK_HEX],
    dtype=torch.float32,
)
"""``(10, 3)`` float32 sRGB in [0, 1]: the Monk Skin Tone scale
(Monk 2019), light to deep.
"""

# ----------------------------------------------------------------------------- checks


def check_size(size) -> int:
    check_positive_int("size", size, minimum=MIN_SIZE)
    if size > MAX_SIZE:
        raise ValueError(
            f"size: expected an int between {MIN_SIZE} and {MAX_SIZE}, got {size}"
        )
    return size


def _uniform(generator: torch.Generator, count: int) -> list[float]:
    return torch.rand(count, generator=generator, dtype=torch.float64).tolist()


def _lerp(lo: float, hi: float, t: float) -> float:
    return lo + (hi - lo) * t


def _plain_floats(name: str, mapping) -> dict[str, float]:
    """Accept a dict of floats, or one row of a collated batch (0-d tensors)."""
    if not isinstance(mapping, Mapping):
        raise TypeError(
            f"{name}: expected a dict of floats, got {type(mapping).__name__}"
        )
    out = {}
    for key, value in mapping.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(
                    f"{name}: expected one number per key, "
                    f"got a tensor of shape {tuple(value.shape)} for {key!r} "
                    "(index a collated batch first)"
                )
            value = value.item()
        out[key] = float(value)
    return out


# ----------------------------------------------------------------------------- tones


def monk_tone(position: float) -> torch.Tensor:
    """The skin colour at ``position`` along the Monk Skin Tone scale.

    The Monk Skin Tone (MST) scale (Ellis Monk, 2019; published by Google as the "Monk
    Skin Tone Scale", skintone.google) has 10 swatches from light to deep. Positions
    between swatches are linear interpolations of their sRGB values.

    Args:
        position: float in [0, 1]; 0 is swatch 1 (f6ede4), 1 is swatch 10 (292420).

    Returns:
        ``(3,)`` float32 sRGB in [0, 1].
    """
    position = float(position)
    if not (0.0 <= position <= 1.0):
        raise ValueError(
            "position: expected a number in [0, 1] along the Monk scale, "
            f"got {position!r}"
        )
    scaled = position * (len(_MONK_HEX) - 1)
    lower = min(int(math.floor(scaled)), len(_MONK_HEX) - 2)
    frac = scaled - lower
    return (1 - frac) * MONK_SKIN_TONES[lower] + frac * MONK_SKIN_TONES[lower + 1]


def srgb_to_lab(srgb: torch.Tensor) -> torch.Tensor:
    """One sRGB colour ``(3,)`` in [0, 1] as CIE L*a*b* ``(3,)`` float32
    (:func:`kdehist.color.lab`)."""
    from .color import lab  # imported late: color imports scikit-image, slow to load

    return lab((srgb.double().clamp(0, 1) * 2 - 1).view(1, 3, 1, 1)).view(3).float()


def _tone_srgb(tone) -> torch.Tensor:
    """``tone`` as a Monk position (a number) or an sRGB triple in
    [0, 1] -> ``(3,)`` float32.
    """
    if isinstance(tone, torch.Tensor) and tone.numel() == 1:
        tone = tone.item()
    if isinstance(tone, (int, float)) and not isinstance(tone, bool):
        return monk_tone(tone)
    try:
        rgb = torch.as_tensor(tone, dtype=torch.float32).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(
            "tone: expected a Monk-scale position in [0, 1] "
            f"or an sRGB triple in [0, 1], got {tone!r}"
        ) from None
    if (
        rgb.numel() != 3
        or not bool(torch.isfinite(rgb).all())
        or rgb.min() < 0
        or rgb.max() > 1
    ):
        raise ValueError(
            "tone: expected a Monk-scale position in [0, 1] "
            f"or an sRGB triple in [0, 1], got {tone!r}"
        )
    return rgb


# -------------------------------------------------------------------- random parameters

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
    ("hem_height", 0.45, 0.85),  # at the image centre, frame units (top is 1)
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
        generator: a seeded ``torch.Generator``; exactly ``len(_POSE_RANGES)`` = 12
            numbers are drawn from it.

    Returns:
        dict of floats: ``flex_deg`` in [0, 45], ``yaw_deg`` in [-35, 35],
        ``roll_deg`` in [-12, 12], ``scale`` in [0.9, 1.2], ``shift_x`` in
        [-0.1, 0.1], ``shift_y`` in [-0.12, 0.12] (frame half-widths), and the
        body-shape factors ``knee_radius``, ``thigh_taper``, ``ankle_taper``,
        ``calf``, ``patella``, ``tuberosity``.
    """
    draws = _uniform(generator, len(_POSE_RANGES))
    return {name: _lerp(lo, hi, t) for (name, lo, hi), t in zip(_POSE_RANGES, draws)}


def sample_appearance(generator: torch.Generator) -> dict[str, float]:
    """Draw the photographic appearance of one real-style image: all but pose and tone.

    Returns a dict of floats: exposure, key/fill/ambient lighting, sheen, studio
    background, vignette, shadow, skin-texture strength, the garment hem (drawn with
    probability 0.25; ``garment`` is 1.0 or 0.0) and ``noise_seed``, an int below 2**31
    stored as a float, which seeds the skin texture and sensor noise.
    """
    draws = _uniform(generator, len(_APPEARANCE_RANGES))
    appearance = {
        name: _lerp(lo, hi, t) for (name, lo, hi), t in zip(_APPEARANCE_RANGES, draws)
    }
    appearance["garment"] = (
        1.0 if appearance.pop("garment_draw") < GARMENT_PROBABILITY else 0.0
    )
    appearance["noise_seed"] = float(
        int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    )
    return appearance


def default_appearance() -> dict[str, float]:
    """A neutral studio appearance (mid-range lighting, no garment); what
    :func:`render_real` uses when given no appearance.
    """
    appearance = {name: (lo + hi) / 2 for name, lo, hi in _APPEARANCE_RANGES}
    appearance.update(
        exposure_ev=0.0,
        key_side=0.0,
        background_tint=0.0,
        hem_phase=0.0,
        garment=0.0,
        noise_seed=0.0,
    )
    del appearance["garment_draw"]
    return appearance


# ----------------------------------------------------------------------------- shading

# Simulator look: one neutral material, one fixed light, dark background.
SIM_MATERIAL = (0.80, 0.78, 0.75)  # sRGB albedo
SIM_BACKGROUND = (0.06, 0.06, 0.07)
SIM_AMBIENT = 0.18
# upper left, front
_SIM_LIGHT = tuple(np.array([-0.40, 0.50, 0.77]) / np.linalg.norm([-0.40, 0.50, 0.77]))


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    c = c.clamp(0, 1)
    return torch.where(
        c <= 0.0031308, c * 12.92, 1.055 * c.clamp(min=0.0031308) ** (1 / 2.4) - 0.055
    )


_ENCODE_LEVELS = 8192
# A lookup table is ~5x faster than pow() per pixel. Its steepest step (12.92 / 8191
# near black) is a fifth of an 8-bit level, far below the sensor noise added afterwards.
_ENCODE_TABLE = _linear_to_srgb(
    torch.linspace(0, 1, _ENCODE_LEVELS, dtype=torch.float64)
).float()


def _encode_srgb(c: torch.Tensor) -> torch.Tensor:
    """Linear light in [0, 1] (clipped) to sRGB through :data:`_ENCODE_TABLE`."""
    return _ENCODE_TABLE[(c.clamp(0, 1) * (_ENCODE_LEVELS - 1)).round().long()]


def _dot(normal: torch.Tensor, direction) -> torch.Tensor:
    """``(B, 3, h, w)`` normals . directions (a fixed ``(3,)`` or per-image
    ``(B, 3)``) -> ``(B, h, w)``.
    """
    if isinstance(direction, torch.Tensor):
        d = [direction[:, k].view(-1, 1, 1) for k in range(3)]
    else:
        d = [float(v) for v in direction]
    return normal[:, 0] * d[0] + normal[:, 1] * d[1] + normal[:, 2] * d[2]


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> uint8.

    Quantising every render makes the PNG cache lossless.
    """
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
    return np.array(
        [math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)]
    )


def _upsample(grids: torch.Tensor, size: int) -> torch.Tensor:
    """Noise grids ``(B, C, g, g)`` to ``(B, C, size, size)``; the grid is fixed, so one
    seed gives the same pattern at every output size.
    """
    grid = grids.shape[-1]
    return F.interpolate(
        grids,
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=grid > size,
    )


def _blur(images: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable box blur applied twice (close to a Gaussian) of ``(N, C, H, W)``."""
    for _ in range(2):
        images = F.avg_pool2d(
            images,
            (1, 2 * radius + 1),
            stride=1,
            padding=(0, radius),
            count_include_pad=False,
        )
        images = F.avg_pool2d(
            images,
            (2 * radius + 1, 1),
            stride=1,
            padding=(radius, 0),
            count_include_pad=False,
        )
    return images


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> torch.Tensor:
    k = torch.tensor([5.0, 3.0, 1.0])
    channel = (k + hue * 6) % 6
    return value - value * saturation * torch.minimum(channel, 4 - channel).clamp(0, 1)


# Octaves of the skin texture: (grid size, amplitude of log-albedo). The finest grid
# sets the resolution at which they are summed before one upsampling to the image size.
_SKIN_OCTAVES = ((12, 0.05), (40, 0.03), (128, 0.025))
_BLOTCH_AMPLITUDE = 0.015


def _shade_real(
    surface: _Surface,
    tones: torch.Tensor,
    looks: Sequence[Mapping[str, float]],
    garments: Sequence[bool],
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
    with_garment = [
        bool(g) and look["garment"] >= 0.5 for g, look in zip(garments, looks)
    ]
    for look, has_garment in zip(looks, with_garment):
        generator = torch.Generator().manual_seed(int(look["noise_seed"]))
        for grids, (grid, _) in zip(octaves, _SKIN_OCTAVES):
            grids.append(torch.randn(1, grid, grid, generator=generator))
        blotches.append(torch.randn(3, 8, 8, generator=generator))
        weaves.append(
            torch.randn(1, 96, 96, generator=generator)
            if has_garment
            else torch.zeros(1, 96, 96)
        )
        sensor.append(torch.randn(3, size, size, generator=generator))

    # Studio background: a near-white sweep, a soft shadow cast away from the key light
    # and a gentle vignette. Its brightness is one map, tinted once.
    # -1: key light on the left
    sides = [-1.0 if look["key_side"] < 0.5 else 1.0 for look in looks]
    key_angles = [
        (side * look["key_azimuth_deg"], look["key_elevation_deg"])
        for side, look in zip(sides, looks)
    ]
    keys = torch.tensor(
        np.stack([_light_direction(*angles) for angles in key_angles]),
        dtype=torch.float32,
    )
    fills = torch.tensor(
        np.stack([_light_direction(-side * 55.0, 10.0) for side in sides]),
        dtype=torch.float32,
    )
    coverage = surface.coverage()
    low = min(size, 64)  # the shadow is blurry: low resolution is enough
    small = F.interpolate(coverage.unsqueeze(1), size=(low, low), mode="area")
    # The shadow falls away from the key light: down (+rows) when it is above, right
    # (+columns) when it is on the left.
    offsets = (
        (keys[:, [1, 0]] * torch.tensor([1.0, -1.0]) * (0.06 * low))
        .round()
        .int()
        .tolist()
    )
    shifted = torch.stack(
        [
            torch.roll(small[i], shifts=tuple(offsets[i]), dims=(1, 2))
            for i in range(count)
        ]
    )
    shadow = F.interpolate(
        _blur(shifted, max(1, low // 14)),
        size=(size, size),
        mode="bilinear",
        align_corners=False,
    )
    radius_sq = (xs.view(1, -1) ** 2 + ys.view(-1, 1) ** 2) / 2
    brightness = (1 - per_image("shadow").unsqueeze(1) * shadow) * (
        1 - per_image("vignette").unsqueeze(1) * radius_sq
    )
    tint = per_image("background_tint").view(-1, 1) * torch.tensor([0.012, 0.0, -0.012])
    background = _srgb_to_linear(
        (per_image("background").view(-1, 1) + tint).clamp(0, 1)
    ).view(count, 3, 1, 1)
    image = background * brightness
    mask = surface.mask

    # Only the legs' bounding box (grown for the garment's
    # looseness) needs skin shading.
    loose = 0.05  # the fabric stands off the skin
    region = surface.sdf < loose + 2 * surface.pixel
    row_hits, col_hits = (
        region.any(dim=(0, 2)).nonzero(),
        region.any(dim=(0, 1)).nonzero(),
    )
    if len(row_hits):
        rows = slice(int(row_hits[0]), int(row_hits[-1]) + 1)
        cols = slice(int(col_hits[0]), int(col_hits[-1]) + 1)
        x, y = xs[cols].view(1, 1, -1), ys[rows].view(1, -1, 1)
        normal = surface.normal[:, :, rows, cols]
        cover = coverage[:, rows, cols].unsqueeze(1)

        # Skin: blotchy low-frequency variation plus fine pore-scale grain, and a
        # slightly deeper, redder kneecap, as on real knees.
        finest = _SKIN_OCTAVES[-1][0]
        log_texture = _BLOTCH_AMPLITUDE * _upsample(torch.stack(blotches), finest)
        for grids, (_, amplitude) in zip(octaves, _SKIN_OCTAVES):
            octave = _upsample(torch.stack(grids), finest)
            log_texture = log_texture + amplitude * octave
        log_texture = _upsample(log_texture, size)[:, :, rows, cols]
        texture = torch.exp(per_image("texture").unsqueeze(1) * log_texture)
        albedo = _srgb_to_linear(tones).view(count, 3, 1, 1) * texture
        knee_tint = torch.tensor([0.96, 0.88, 0.86]).view(1, 3, 1, 1)
        albedo = albedo * (
            1
            + (knee_tint - 1)
            * (0.6 * surface.patella_weight[:, rows, cols]).unsqueeze(1)
        )

        # Wrapped diffuse, wider in red: light scattered under the skin softens the
        # terminator and warms the shadows.
        wrap = torch.tensor([0.45, 0.30, 0.25]).view(1, 3, 1, 1)
        key_cos, fill_cos = (
            _dot(normal, keys).unsqueeze(1),
            _dot(normal, fills).unsqueeze(1),
        )
        key_intensity = per_image("key_intensity").unsqueeze(1)
        key_colour = torch.tensor([1.0, 0.97, 0.93]).view(1, 3, 1, 1) * key_intensity
        fill_intensity = per_image("fill_intensity").unsqueeze(1)
        fill_colour = torch.tensor([0.93, 0.97, 1.0]).view(1, 3, 1, 1) * fill_intensity
        irradiance = (
            key_colour * ((key_cos + wrap) / (1 + wrap)).clamp(min=0)
            + fill_colour * ((fill_cos + wrap) / (1 + wrap)).clamp(min=0)
            # more ambient from above
            + (per_image("ambient") * (0.75 + 0.25 * normal[:, 1])).unsqueeze(1)
        )
        half_vectors = keys + torch.tensor([0.0, 0.0, 1.0])
        half_vectors = half_vectors / half_vectors.norm(dim=1, keepdim=True)
        facing = _dot(normal, half_vectors).clamp(min=0)
        sheen = per_image("specular") * facing ** per_image("shininess")
        skin = albedo * irradiance + key_colour * sheen.unsqueeze(1)
        block = image[:, :, rows, cols]
        block = block + cover * (skin - block)

        if any(with_garment):
            has_garment = _column([float(g) for g in with_garment])  # (B, 1, 1)
            hem = (
                per_image("hem_height")
                + per_image("hem_slope") * x
                + per_image("hem_wave") * torch.sin(4 * x + per_image("hem_phase"))
            )
            leg_sdf = surface.sdf[:, rows, cols]
            fabric_cover = (
                0.5 - torch.maximum(leg_sdf - loose, hem - y) / surface.pixel
            ).clamp(0, 1) * has_garment
            fabric_albedo = _srgb_to_linear(
                torch.stack(
                    [
                        _hsv_to_rgb(
                            lk["garment_hue"],
                            lk["garment_saturation"],
                            lk["garment_value"],
                        )
                        for lk in looks
                    ]
                )
            ).view(count, 3, 1, 1)
            weave = 1 + 0.04 * _upsample(torch.stack(weaves), size)[:, :, rows, cols]
            lit = ((key_cos[:, 0] + 0.5) / 1.5).clamp(min=0)
            fabric_light = 0.4 + 0.6 * lit * (leg_sdf < 0)
            fabric = fabric_albedo * weave * fabric_light.unsqueeze(1)
            # The hem's shadow on the skin just below it.
            hem_shadow = (
                0.35
                * torch.exp(-(hem - y).clamp(min=0) / 0.04)
                * (y < hem)
                * has_garment
            )
            block = block * (1 - hem_shadow.unsqueeze(1) * cover)
            block = block + fabric_cover.unsqueeze(1) * (fabric - block)
            mask = mask.clone()
            mask[:, rows, cols] &= (y < hem) | (has_garment == 0)
        image[:, :, rows, cols] = block

    image = _encode_srgb(image * (2.0 ** per_image("exposure_ev")).unsqueeze(1))
    return image + 0.004 * torch.stack(sensor), mask


# --------------------------------------------------------------------- public renderers


def batch_length(size: int) -> int:
    """Images per rendering batch: about 2**16 pixels. Enough to amortise the
    per-operation overhead of small images; large images go one by one, so that
    each primitive is traced only inside its own bounding box (a batch traces the
    union of its images' boxes).
    """
    return max(1, 2**16 // (size * size))


def render_batch(domain: str, poses, size: int, tones=None, looks=None, garments=None):
    """Render poses as uint8 images ``(B, 3, H, W)`` and bool masks ``(B, H, W)``."""
    # Rendering tensors hold at most ~2**16 pixels: too small for intra-op threads.
    with torch_threads(1):
        return _render_batches(domain, poses, size, tones, looks, garments)


def _render_batches(domain: str, poses, size: int, tones, looks, garments):
    images, masks = [], []
    step = batch_length(size)
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


def as_float(
    images_u8: torch.Tensor, masks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``(..., 3, H, W)`` and bool ``(..., H, W)`` -> float32 [-1, 1] and
    ``(..., 1, H, W)`` {0, 1}.
    """
    return images_u8.float() / 127.5 - 1, masks.unsqueeze(-3).float()


def _check_pose(pose) -> dict[str, float]:
    pose = _plain_floats("pose", pose)
    missing = [name for name, _, _ in _POSE_RANGES if name not in pose]
    if missing:
        raise ValueError(
            f"pose: expected the keys of sample_pose(), missing {', '.join(missing)}"
        )
    return pose


def _poses(pose) -> tuple[list[dict[str, float]], bool]:
    """One pose or a sequence of them -> (list, whether a single pose was given)."""
    if isinstance(pose, Mapping):
        return [_check_pose(pose)], True
    if isinstance(pose, Sequence) and not isinstance(pose, str) and len(pose) > 0:
        return [_check_pose(p) for p in pose], False
    raise TypeError(
        "pose: expected a pose dict or a non-empty sequence of them, "
        f"got {type(pose).__name__}"
    )


def render_sim(pose, size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Render a pose in the simulator style (domain X).

    Args:
        pose: a dict from :func:`sample_pose` or
            :meth:`kdehist.data.SyntheticKnees.pose` (0-d tensors, as in one row of a
            collated batch, are accepted), or a sequence of N of them.
        size: output side in pixels, 32 to 512 (default 256).

    Returns:
        ``image`` ``(3, size, size)`` float32 in [-1, 1] (8-bit levels) and ``mask``
        ``(1, size, size)`` float32 in {0, 1}; with N poses
        ``(N, 3, ...)`` and ``(N, 1, ...)``.
    """
    poses, single = _poses(pose)
    images, masks = as_float(*render_batch("sim", poses, check_size(size)))
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
    ``tone``. Without a garment its mask equals the simulator image's mask exactly,
    since both come from the same outline.

    Args:
        pose: a dict from :func:`sample_pose` /
            :meth:`kdehist.data.SyntheticKnees.pose`, or a sequence of N of them
            (rendered in batches, much faster than one by one).
        tone: the skin albedo: a Monk-scale position in [0, 1] (a number, see
            :func:`monk_tone`) or an sRGB triple in [0, 1] (sequence or ``(3,)`` tensor,
            for example a real sample's ``"tone_srgb"``); with N poses also a sequence
            of N such tones or an ``(N, 3)`` tensor.
        size: output side in pixels, 32 to 512 (default 256).
        appearance: lighting, background and texture: a dict from
            :func:`sample_appearance` (for example a real sample's ``"appearance"``, to
            reproduce the reference's look; default :func:`default_appearance`); with N
            poses also a sequence of N.
        garment: draw the garment hem when the appearance has one (default False, which
            keeps the mask equal to the simulator mask).

    Returns:
        ``image`` ``(3, size, size)`` float32 in [-1, 1] (8-bit levels) and ``mask``
        ``(1, size, size)`` float32 in {0, 1}; with N poses
        ``(N, 3, ...)`` and ``(N, 1, ...)``.
    """
    poses, single = _poses(pose)
    size = check_size(size)
    count = len(poses)

    if isinstance(tone, torch.Tensor) and tone.dim() == 2:
        tones = [_tone_srgb(t) for t in tone]
    elif (
        not single
        and isinstance(tone, Sequence)
        and len(tone) == count
        and not (count == 3 and all(isinstance(t, (int, float)) for t in tone))
    ):
        tones = [_tone_srgb(t) for t in tone]
    else:
        tones = [_tone_srgb(tone)] * count
    if len(tones) != count:
        raise ValueError(
            f"tone: expected one tone or {count} tones (one per pose), got {len(tones)}"
        )

    def look(entry) -> dict[str, float]:
        merged = default_appearance()
        if entry is not None:
            given = _plain_floats("appearance", entry)
            unknown = sorted(set(given) - set(merged))
            if unknown:
                raise ValueError(
                    "appearance: expected keys of sample_appearance(), "
                    f"got unknown {', '.join(unknown)}"
                )
            merged.update(given)
        return merged

    if appearance is None or isinstance(appearance, Mapping):
        looks = [look(appearance)] * count
    else:
        looks = [look(entry) for entry in appearance]
        if len(looks) != count:
            raise ValueError(
                f"appearance: expected one dict or {count} (one per pose), "
                f"got {len(looks)}"
            )
    images, masks = as_float(
        *render_batch(
            "real", poses, size, torch.stack(tones), looks, [bool(garment)] * count
        )
    )
    return (images[0], masks[0]) if single else (images, masks)


def kneecap_mask(pose, size: int = 256) -> torch.Tensor:
    """Where the kneecap shows in a render of ``pose``: a part mask for measures.

    The pixels whose centre ray meets the kneecap (the bump on the front of the knee)
    before any other part of the leg. They lie inside the leg mask of
    :func:`render_sim` and of :func:`render_real` without a garment, so one mask serves
    an input and its oracle. Only geometry is traced: nothing is shaded or drawn from
    a random generator, so the renders and their random stream are as without it.

    Args:
        pose: a pose dict (:func:`sample_pose`, 0-d tensors accepted) or a sequence
            of N of them.
        size: output side in pixels, 32 to 512 (default 256).

    Returns:
        ``(1, size, size)`` float32 in {0, 1}, 1 on the kneecap (about 8 to 110 pixels
        at 64 px); with N poses ``(N, 1, size, size)``.

    Example:
        >>> from kdehist.data import SyntheticKnees, render_sim
        >>> pose = SyntheticKnees("sim", "test", size=64).pose(0)
        >>> kneecap, (_, leg) = kneecap_mask(pose, 64), render_sim(pose, 64)
        >>> kneecap.shape, bool((kneecap <= leg).all()), bool(kneecap.any())
        (torch.Size([1, 64, 64]), True, True)
    """
    poses, single = _poses(pose)
    size = check_size(size)
    step = batch_length(size)
    with torch_threads(1):
        parts = [
            _kneecap_region(poses[i : i + step], size)
            for i in range(0, len(poses), step)
        ]
    masks = torch.cat(parts).unsqueeze(1).float()
    return masks[0] if single else masks
