"""Intervals for the book's comparisons: bootstrap over seeds, inputs and references.

The 784 pairs of one run share 28 inputs and 28 references, so no interval here treats
pairs as independent: every bootstrap replicate resamples the seeds, the test inputs
(rows) and the test references (columns) of the per-pair arrays. On top of those:

- :func:`paired_difference`: two runs scored on the same test pairs, their difference
  of means with a paired interval (the one home of "a minus b, resolved or not");
- :func:`paired_change`: one model at two steps, from its per-pair differences;
- :func:`welch_interval`: a t-interval over two runs' seed means, which a percentile
  bootstrap over three seeds under-states;
- :func:`seed_row`: a run's row (means over seeds, seed means, intervals) from its
  per-pair arrays;
- :func:`interval`: ``"mean [lo, hi]"``, the one format of an interval in prose.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a = [rng.normal(1.0, 0.1, (5, 5)) for _ in range(3)]
>>> b = [x - 0.5 for x in a]
>>> change = paired_difference(a, b)
>>> round(change["difference"], 3), change["resolved"]
(0.5, True)
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_positive_int

__all__ = [
    "bootstrap_ci",
    "bootstrap_difference_ci",
    "interval",
    "moving_average",
    "paired_change",
    "paired_difference",
    "seed_row",
    "t_interval",
    "welch_interval",
]


def _check_pair_arrays(name: str, arrays) -> np.ndarray:
    stacked = np.asarray([np.asarray(a, dtype=np.float64) for a in arrays])
    if stacked.ndim != 3 or 0 in stacked.shape:
        raise ValueError(
            f"{name}: expected a non-empty list of (Nx, Ny) per-pair arrays, one per "
            f"seed, got shape {stacked.shape}"
        )
    if not np.isfinite(stacked).all():
        raise ValueError(
            f"{name}: expected finite values, "
            f"got {int((~np.isfinite(stacked)).sum())} non-finite"
        )
    return stacked


def _bootstrap_indices(rng: np.random.Generator, seeds: int, nx: int, ny: int):
    return (
        rng.integers(seeds, size=seeds),
        rng.integers(nx, size=nx),
        rng.integers(ny, size=ny),
    )


def _resampled_mean(
    stacked: np.ndarray, s: np.ndarray, i: np.ndarray, j: np.ndarray
) -> float:
    # Row and column means of the resampled grid: the mean over (s, i, j) of A[s, i, j].
    return float(stacked[s][:, i][:, :, j].mean())


def bootstrap_ci(
    arrays, level: float = 0.95, replicates: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean of per-pair values over seeds.

    The 784 pairs of one run are not independent: they share 28 inputs and 28
    references. Each replicate therefore resamples, with replacement, the seeds, the
    test inputs (rows) and the test references (columns), and takes the mean of the
    resampled grid. With one seed the interval covers only the test images' variation,
    not the training's.

    Args:
        arrays: one ``(Nx, Ny)`` array per seed (rows: inputs, columns: references).
        level: coverage, in (0, 1). Default 0.95.
        replicates: bootstrap replicates. Default 2000.
        seed: seeds the resampling, so the interval is reproducible.

    Returns:
        ``(lo, hi)``.
    """
    stacked = _check_pair_arrays("arrays", arrays)
    if not 0 < level < 1:
        raise ValueError(f"level: expected a number in (0, 1), got {level!r}")
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
    values = [
        _resampled_mean(stacked, *_bootstrap_indices(rng, *stacked.shape))
        for _ in range(check_positive_int("replicates", replicates))
    ]
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_difference_ci(
    arrays_a, arrays_b, level: float = 0.95, replicates: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """A bootstrap interval of ``mean(a) - mean(b)`` for two variants on the same test
    pairs.

    Both variants are scored on the same inputs and references, so each replicate draws
    one set of rows and columns for both (a paired comparison), and each variant's seeds
    independently. An interval that contains 0 means the data cannot tell them apart.
    """
    a = _check_pair_arrays("arrays_a", arrays_a)
    b = _check_pair_arrays("arrays_b", arrays_b)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"arrays_b: expected per-pair arrays of shape {a.shape[1:]} like "
            f"arrays_a, got {b.shape[1:]}"
        )
    if not 0 < level < 1:
        raise ValueError(f"level: expected a number in (0, 1), got {level!r}")
    rng = np.random.default_rng(check_positive_int("seed", seed, minimum=0))
    values = []
    for _ in range(check_positive_int("replicates", replicates)):
        sa, i, j = _bootstrap_indices(rng, *a.shape)
        sb = rng.integers(b.shape[0], size=b.shape[0])
        values.append(_resampled_mean(a, sa, i, j) - _resampled_mean(b, sb, i, j))
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def paired_difference(arrays_a, arrays_b, level: float = 0.95) -> dict:
    """Run ``a`` against run ``b`` on the same test pairs: the difference of their means
    over seeds (``a`` minus ``b``), its paired interval
    (:func:`bootstrap_difference_ci`)
    and whether the interval excludes zero.

    Args:
        arrays_a, arrays_b: one ``(Nx, Ny)`` per-pair array per seed of each run.

    Returns:
        ``{"difference", "ci95": [lo, hi], "resolved"}``.
    """
    lo, hi = bootstrap_difference_ci(arrays_a, arrays_b, level)
    difference = float(
        np.mean([np.mean(x) for x in arrays_a])
        - np.mean([np.mean(x) for x in arrays_b])
    )
    return {"difference": difference, "ci95": [lo, hi], "resolved": not lo <= 0 <= hi}


def paired_change(differences, level: float = 0.95) -> dict:
    """The mean of per-pair differences of one model with itself (one ``(Nx, Ny)`` array
    per seed, e.g. its scores at two steps), with its bootstrap interval and whether the
    interval excludes zero.

    >>> paired_change([np.full((2, 2), 0.25)])
    {'difference': 0.25, 'ci95': [0.25, 0.25], 'resolved': True}
    """
    lo, hi = bootstrap_ci(differences, level)
    return {
        "difference": float(np.mean([np.mean(d) for d in differences])),
        "ci95": [lo, hi],
        "resolved": not lo <= 0 <= hi,
    }


def welch_interval(means_a, means_b, level: float = 0.95) -> dict:
    """Welch's t-interval of ``mean(a) - mean(b)`` over two runs' seed means.

    A percentile bootstrap over three seeds under-states how much training varies; this
    interval is as wide as three seeds honestly allow. ``None`` bounds when a run has
    fewer than two seeds (no variance to estimate).

    >>> w = welch_interval([3.0, 3.2, 3.1], [4.0, 4.3, 4.1])
    >>> round(w["difference"], 3), w["resolved"]
    (-1.033, True)
    """
    from scipy import stats as scipy_stats

    a = np.asarray(means_a, dtype=np.float64)
    b = np.asarray(means_b, dtype=np.float64)
    difference = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return {"difference": difference, "ci95": [None, None], "resolved": False}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return {
            "difference": difference,
            "ci95": [difference, difference],
            "resolved": difference != 0,
        }
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(scipy_stats.t.ppf((1 + level) / 2, dof)) * se
    lo, hi = difference - half, difference + half
    return {"difference": difference, "ci95": [lo, hi], "resolved": not lo <= 0 <= hi}


def t_interval(values, level: float = 0.95) -> dict:
    """Student's t-interval of the mean of ``values``: for a paired change, one value
    per seed (the same model at two steps), as :func:`welch_interval` is for two runs.
    ``None`` bounds with fewer than two values.

    >>> t = t_interval([-5.2, -6.1])
    >>> round(t["difference"], 2), [round(x, 1) for x in t["ci95"]], t["resolved"]
    (-5.65, [-11.4, 0.1], False)
    """
    from scipy import stats as scipy_stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return {"difference": mean, "ci95": [None, None], "resolved": False}
    se = float(x.std(ddof=1)) / math.sqrt(len(x))
    half = float(scipy_stats.t.ppf((1 + level) / 2, len(x) - 1)) * se
    lo, hi = mean - half, mean + half
    return {"difference": mean, "ci95": [lo, hi], "resolved": not lo <= 0 <= hi}


def seed_row(arrays: dict, interval_keys, mean_keys=()) -> dict:
    """A run's row from its seeds' per-pair arrays ``{seed: {metric: (Nx, Ny)}}``: its
    ``seeds`` and, per metric, ``<metric>_mean`` (the mean over seeds of each seed's
    mean) and ``<metric>_seed_means``; ``interval_keys`` also get ``<metric>_ci95``
    (:func:`bootstrap_ci`). Metrics a run lacks are left out.

    >>> row = seed_row({0: {"x": np.ones((2, 2))}, 1: {"x": np.zeros((2, 2))}}, ["x"])
    >>> row["seeds"], row["x_mean"], row["x_seed_means"], row["x_ci95"]
    ([0, 1], 0.5, [1.0, 0.0], [0.0, 1.0])
    """
    seeds = sorted(arrays)
    row: dict = {"seeds": seeds}
    for key in list(interval_keys) + list(mean_keys):
        if key not in arrays[seeds[0]]:
            continue
        per_seed = [arrays[s][key] for s in seeds]
        seed_means = [float(a.mean()) for a in per_seed]
        row[f"{key}_mean"] = float(np.mean(seed_means))
        row[f"{key}_seed_means"] = seed_means
        if key in interval_keys:
            row[f"{key}_ci95"] = list(bootstrap_ci(per_seed))
    return row


def interval(mean: float, ci, digits: int = 2, sign: bool = False) -> str:
    """``"mean [lo, hi]"``: how every interval is written, in tables and prose.

    >>> interval(3.14159, [2.5, 3.75]), interval(-0.0123, [-0.02, 0.001], 3, sign=True)
    ('3.14 [2.50, 3.75]', '-0.012 [-0.020, +0.001]')
    """
    spec = f"{'+' if sign else ''}.{digits}f"
    lo, hi = ci
    if lo is None:
        return f"{mean:{spec}} [–]"
    return f"{mean:{spec}} [{lo:{spec}}, {hi:{spec}}]"


def moving_average(values, width: int) -> np.ndarray:
    """A trailing moving average over ``width`` values that starts at the first value
    (shorter windows at the start), so a smoothed curve begins where its log begins.

    >>> moving_average([1.0, 3.0, 5.0, 7.0], 2).tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    values = np.asarray(values, dtype=float)
    sums = np.cumsum(values)
    counts = np.minimum(np.arange(1, len(values) + 1), width)
    sums[width:] = sums[width:] - sums[:-width]
    return sums / counts
