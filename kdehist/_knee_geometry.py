"""Synthetic knee geometry: a posed leg as primitives, ray-traced on the pixel grid.

:func:`kdehist.knees.render_sim` and :func:`kdehist.knees.render_real` shade the
:class:`_Surface` that :func:`_trace_legs` returns (signed distance to the outline,
surface normals and the kneecap's weight); both styles share it, which is why the
oracle's mask equals the simulator image's mask. Private to :mod:`kdehist.knees`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch


# --------------------------------------------------------------------------- primitives


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
    # (3, 3): maps world offsets from the centre into the unit sphere
    to_unit: np.ndarray


# Segment lengths reach far outside the frame, so the leg
# always crosses the whole image.
_SEGMENT_LENGTH = 2.4
_PATELLA = (
    3  # position of the kneecap in _leg_primitives' list (its weight tints the skin)
)


def _leg_primitives(pose: Mapping[str, float]) -> list:
    """World-space primitives of one leg.

    Frame: x to the right, y up, z towards the (orthographic) camera; the image spans
    [-1, 1] in x and y. In the body frame the knee is at the origin and points to +z;
    the flexion is split evenly between thigh and shin, so both lean back by half of it.
    """
    knee_r = pose["knee_radius"]
    half_flex = math.radians(pose["flex_deg"]) / 2
    thigh_dir = np.array([0.0, math.cos(half_flex), -math.sin(half_flex)])
    shin_dir = np.array([0.0, -math.cos(half_flex), -math.sin(half_flex)])
    # perpendicular, +z side
    shin_front = np.array([0.0, -math.sin(half_flex), math.cos(half_flex)])
    ankle_r = knee_r * pose["ankle_taper"]

    def shin_radius(distance: float) -> float:
        return knee_r + (ankle_r - knee_r) * distance / _SEGMENT_LENGTH

    # Local frames of the ellipsoids: columns are their axes in the body frame.
    knee_axes = np.eye(3)
    shin_axes = np.stack([np.array([1.0, 0.0, 0.0]), -shin_dir, shin_front], axis=1)

    tuberosity_at = 1.9 * knee_r
    calf_at = 3.6 * knee_r
    body_cones = [
        (
            np.zeros(3),
            thigh_dir * _SEGMENT_LENGTH,
            knee_r,
            knee_r * pose["thigh_taper"],
        ),
        (np.zeros(3), shin_dir * _SEGMENT_LENGTH, knee_r, ankle_r),
    ]
    body_ellipsoids = [
        # femoral condyles: the knee is wider than it is deep
        (np.array([0.0, 0.03, -0.02]), knee_axes, knee_r * np.array([1.16, 0.9, 0.98])),
        # Bumps are large ellipsoids sunk deep, so that only a shallow cap shows and it
        # meets the surface at a gentle angle (no crease).
        (
            np.array([0.0, 0.05, (0.96 - 0.45 + 0.12) * knee_r]),
            knee_axes,
            knee_r * pose["patella"] * np.array([0.55, 0.62, 0.45]),
        ),
        (
            shin_dir * tuberosity_at
            + shin_front * (shin_radius(tuberosity_at) - 0.36 * knee_r),
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

    primitives: list = [
        _Cone(place(a), place(b), scale * ra, scale * rb) for a, b, ra, rb in body_cones
    ]
    for center, axes, semi_axes in body_ellipsoids:
        world_axes = rotation @ axes
        to_unit = np.diag(1.0 / (scale * semi_axes)) @ world_axes.T
        primitives.append(_Ellipsoid(place(center), to_unit))
    return primitives


def _pixel_grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates: x ``(size,)`` left to right, y
    ``(size,)`` top to bottom.
    """
    centres = (2 * torch.arange(size, dtype=torch.float64) + 1) / size - 1
    return centres.float(), (-centres).float()


def _crop(
    x_lo: float, x_hi: float, y_lo: float, y_hi: float, size: int, margin: int = 3
):
    """Pixel rows and columns whose centres lie in the box, grown by ``margin`` pixels
    so that anti-aliasing and finite differences near the silhouette see valid values.
    """
    half = size / 2
    col0 = max(0, int(math.floor((x_lo + 1) * half - 0.5)) - margin)
    col1 = min(size, int(math.ceil((x_hi + 1) * half - 0.5)) + margin + 1)
    row0 = max(0, int(math.floor((1 - y_hi) * half - 0.5)) - margin)
    row1 = min(size, int(math.ceil((1 - y_lo) * half - 0.5)) + margin + 1)
    if col0 >= col1 or row0 >= row1:
        return None
    return slice(row0, row1), slice(col0, col1)


def _column(values) -> torch.Tensor:
    """Per-image numbers as a ``(B, 1, 1)`` float32 tensor (broadcasts over pixels)."""
    column = torch.tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32)
    return column.view(-1, 1, 1)


def _columns(rows: Sequence[Mapping[str, float]]) -> dict[str, torch.Tensor]:
    """One dict per image -> one ``(B, 1, 1)`` float32 tensor per key (a single
    conversion, which matters at small sizes where per-call overhead dominates).
    """
    keys = list(rows[0])
    table = torch.from_numpy(
        np.array([[row[key] for key in keys] for row in rows], dtype=np.float64).T
    ).float()
    return {key: table[k].view(-1, 1, 1) for k, key in enumerate(keys)}


def _cone_params(cones: Sequence[_Cone]) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Per-image constants of a batch of round cones, and bounding boxes ``(B, 4)``."""
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
        row = {
            "ax": a[0],
            "ay": a[1],
            "az": a[2],
            "bx": b[0],
            "by": b[1],
            "dz": b[2] - a[2],
            "ra": ra,
            "rb": rb,
        }
        row.update(
            ux2=axis2[0] / length2,
            uy2=axis2[1] / length2,
            sin2=sin2,
            cos2=cos2,
            end2=length2 * cos2,
        )
        row.update(
            ux=ux,
            uy=uy,
            uz=uz,
            sin=sin,
            cos_sq=cos_sq,
            y_lo=sin * ra,
            y_hi=sin * ra + length * cos_sq,
        )
        # > 0: the axis never points at the camera
        row["quad_a"] = max(cos_sq - uz * uz, 1e-6)
        rows.append(row)
        bounds.append(
            (
                min(a[0] - ra, b[0] - rb),
                max(a[0] + ra, b[0] + rb),
                min(a[1] - ra, b[1] - rb),
                max(a[1] + ra, b[1] + rb),
            )
        )
    return _columns(rows), np.array(bounds)


def _ellipsoid_params(
    ellipsoids: Sequence[_Ellipsoid],
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    rows, bounds = [], []
    for ellipsoid in ellipsoids:
        t = ellipsoid.to_unit
        covariance = np.linalg.inv(t.T @ t)
        # The projected outline is d^T Q d = 1, Q the inverse of
        # the covariance's x-y block.
        q = np.linalg.inv(covariance[:2, :2])
        row = {
            "cx": ellipsoid.center[0],
            "cy": ellipsoid.center[1],
            "cz": ellipsoid.center[2],
        }
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
    ``(1, h, 1)``. Returns ``sdf`` ``(B, h, w)`` (signed distance to the projected
    outline, negative inside; frame units), ``z`` ``(B, h, w)`` (front surface depth,
    -inf where the ray misses) and ``normal`` ``(B, 3, h, w)`` (unit length where hit).

    Rays are parallel to -z. The projection of a round cone is the 2-D hull of the two
    projected discs, so the outline distance is exact and matches the ray-hit region.
    """
    gx, gy = x - c["ax"], y - c["ay"]  # pixel offsets from the first sphere's centre
    gbx, gby = x - c["bx"], y - c["by"]
    dist_a_sq = gx * gx + gy * gy
    dist_b_sq = gbx * gbx + gby * gby
    dist_a, dist_b = torch.sqrt(dist_a_sq), torch.sqrt(dist_b_sq)

    # Outline: signed distance to the hull of two discs. In the frame of the projected
    # axis, the tangent line touching both discs has unit normal (sin2, cos2).
    along = gx * c["ux2"] + gy * c["uy2"]
    across = (gx * c["uy2"] - gy * c["ux2"]).abs()
    tangent_coord = along * c["cos2"] - across * c["sin2"]
    sdf = torch.where(
        tangent_coord < 0,
        dist_a - c["ra"],
        torch.where(
            tangent_coord > c["end2"],
            dist_b - c["rb"],
            across * c["cos2"] + along * c["sin2"] - c["ra"],
        ),
    )

    # Surface. With q = X - a = (gx, gy, w) and u the unit axis, the body is the
    # set where rho*cos(phi) + y*sin(phi) = ra (y = q.u, rho = distance to the
    # axis, sin(phi) = (ra-rb)/L). Squaring gives a quadratic in w; a root lies on
    # the body when its axial coordinate y is between the two tangent circles:
    # sin*ra <= y <= sin*ra + L*cos^2.
    ux, uy, uz, sin, cos_sq, ra = (
        c["ux"],
        c["uy"],
        c["uz"],
        c["sin"],
        c["cos_sq"],
        c["ra"],
    )
    y0 = gx * ux + gy * uy
    quad_b = (sin * ra - y0) * (2 * uz)
    quad_c = (dist_a_sq - y0 * y0) * cos_sq - (ra - sin * y0) ** 2
    disc = quad_b * quad_b - 4 * c["quad_a"] * quad_c
    root = torch.sqrt(disc.clamp(min=0))
    w_body = torch.full_like(root, _MISS)
    # both roots: either can be the front hit of the true nappe
    for sign in (-1.0, 1.0):
        w = (sign * root - quad_b) / (2 * c["quad_a"])
        axial = y0 + w * uz
        ok = (disc >= 0) & (axial >= c["y_lo"]) & (axial <= c["y_hi"])
        w_body = torch.maximum(w_body, torch.where(ok, w, _MISS))
    height_a = ra * ra - dist_a_sq
    height_b = c["rb"] * c["rb"] - dist_b_sq
    w_cap_a = torch.where(height_a >= 0, torch.sqrt(height_a.clamp(min=0)), _MISS)
    w_cap_b = torch.where(
        height_b >= 0, c["dz"] + torch.sqrt(height_b.clamp(min=0)), _MISS
    )
    # The round cone is convex, so the entry point is the nearest of all surface hits.
    w_caps = torch.maximum(w_cap_a, w_cap_b)
    w = torch.maximum(w_body, w_caps)
    hit = torch.isfinite(w)
    w_safe = torch.where(hit, w, 0.0)

    axial = y0 + w_safe * uz
    # On the body rho = (ra - sin*y) / cos, so the unit normal cos*(q - y u)/rho + sin*u
    # needs no square root; ra - sin*y >= cos^2 * rb > 0 there.
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
    """Like :func:`_trace_cone` for an ellipsoid; the outline distance is first-order
    exact near the outline (enough for anti-aliasing) and its sign is exact everywhere.
    """
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
    # The gradient of |to_unit (X - c)|^2 is proportional to to_unit^T
    # applied to the unit point.
    normal = torch.stack(
        [sum(unit[k] * e[f"t{k}{j}"] for k in range(3)) for j in range(3)], dim=1
    )
    z = torch.where(disc >= 0, w + e["cz"], _MISS)
    return sdf, z, _normalise(normal)


def _normalise(vectors: torch.Tensor) -> torch.Tensor:
    """Unit vectors along dim 1 of ``(B, 3, ...)``; written out, as
    ``norm(dim=1)`` is slow on CPU.
    """
    x, y, z = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    length = torch.sqrt(x * x + y * y + z * z).clamp(min=1e-12)
    return vectors / length.unsqueeze(1)


@dataclass
class _Surface:
    """A ray-cast batch of legs."""

    sdf: torch.Tensor  # (B, H, W) signed distance to the outline, frame units
    # (B, 3, H, W) unit normals (edge-on at the outline where no ray hits)
    normal: torch.Tensor
    # (B, H, W) in [0, 1]: how much the kneecap shapes the pixel
    patella_weight: torch.Tensor
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
    Pixels outside a primitive's own box come out the same either way (outside the
    outline by more than the margin), so an image does not depend on its batch-mates.
    Normals of overlapping primitives are blended with softmax weights of their depths
    (accumulated online, as in a streaming softmax), which rounds off the creases a hard
    union would leave (kneecap, back of the knee) without moving the outline.
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
        block = _crop(
            bounds[:, 0].min(),
            bounds[:, 1].max(),
            bounds[:, 2].min(),
            bounds[:, 3].max(),
            size,
        )
        if block is None:
            continue
        rows, cols = block
        block_sdf, block_z, block_normal = trace(
            params, xs[cols].view(1, 1, -1), ys[rows].view(1, -1, 1)
        )
        sdf[:, rows, cols] = torch.minimum(sdf[:, rows, cols], block_sdf)

        old_front = front[:, rows, cols]
        new_front = torch.maximum(old_front, block_z)
        reference = torch.where(torch.isfinite(new_front), new_front, 0.0)
        # 0 where nothing was hit yet
        rescale = torch.exp((old_front - reference) / blend_width)
        # 0 where this primitive misses
        weight = torch.exp((block_z - reference) / blend_width)
        front[:, rows, cols] = new_front
        total[:, rows, cols] = total[:, rows, cols] * rescale + weight
        normal_sum[:, :, rows, cols] = (
            normal_sum[:, :, rows, cols] * rescale.unsqueeze(1)
            + weight.unsqueeze(1) * block_normal
        )
        patella[:, rows, cols] = patella[:, rows, cols] * rescale + (
            weight if slot == _PATELLA else 0.0
        )

    hit = torch.isfinite(front).unsqueeze(1)
    patella_weight = patella / total.clamp(min=1e-12)
    # Where no ray hits but the pixel is still partly covered (the anti-aliased rim),
    # the surface is seen edge-on: its normal is the outline's outward direction.
    capped = sdf.clamp(max=8.0 / size)
    grad_rows, grad_cols = torch.gradient(capped, dim=(1, 2))
    rim = torch.stack([grad_cols, -grad_rows, torch.zeros_like(capped)], dim=1)
    normal = _normalise(torch.where(hit, normal_sum, rim))
    return _Surface(
        sdf=sdf, normal=normal, patella_weight=patella_weight, pixel=2.0 / size
    )


def _kneecap_region(poses: Sequence[Mapping[str, float]], size: int) -> torch.Tensor:
    """Where the kneecap is the nearest surface: ``(B, size, size)`` bool.

    The kneecap is an ellipsoid sunk into the knee, so only a shallow cap of it shows.
    A pixel belongs to the kneecap when the ray through its centre hits the kneecap
    first (no other primitive's front surface is nearer the camera). Only the kneecap's
    bounding box over the batch is traced, with the same primitives as
    :func:`_trace_legs`; nothing here touches the renderer's shading or random draws.
    """
    count = len(poses)
    xs, ys = _pixel_grid(size)
    per_pose = [_leg_primitives(pose) for pose in poses]
    region = torch.zeros(count, size, size, dtype=torch.bool)
    kneecaps = [prims[_PATELLA] for prims in per_pose]
    params, bounds = _ellipsoid_params(kneecaps)
    block = _crop(
        bounds[:, 0].min(),
        bounds[:, 1].max(),
        bounds[:, 2].min(),
        bounds[:, 3].max(),
        size,
        margin=1,
    )
    if block is None:
        return region
    rows, cols = block
    x, y = xs[cols].view(1, 1, -1), ys[rows].view(1, -1, 1)
    _, kneecap_z, _ = _trace_ellipsoid(params, x, y)
    others = torch.full_like(kneecap_z, _MISS)
    for slot in range(len(per_pose[0])):
        if slot == _PATELLA:
            continue
        primitives = [prims[slot] for prims in per_pose]
        if isinstance(primitives[0], _Cone):
            _, z, _ = _trace_cone(_cone_params(primitives)[0], x, y)
        else:
            _, z, _ = _trace_ellipsoid(_ellipsoid_params(primitives)[0], x, y)
        others = torch.maximum(others, z)
    region[:, rows, cols] = torch.isfinite(kneecap_z) & (kneecap_z > others)
    return region
