"""The paper's evaluation protocol (Table 2) and the shape measures it lacked.

**Colour** (eq. 12): every test simulator image with every test reference photo,
28 × 28 = 784 translations. For each pair, ΔE between the mean L*a*b* colour of the
generated foreground (under the *input's* mask) and of the reference's foreground
(under its own mask), in CIE76 and CIEDE2000; also the whole-image variant (backgrounds
included), because the paper does not say which it used.

**Shape**, against the oracle of ``kdehist.data.render_real``: the input's pose
rendered in the reference's tone and look, i.e. what a perfect translator would output.

- ``shape_score``: IoU between the leg that a frozen segmenter finds in the generated
  image (:mod:`kdehist.segment`, an FCN-score) and the input's mask, which is also the
  oracle's. This is the shape measure the book's tables lead with;
- ``shape_iou``: the same IoU with the foreground estimated from the output's border
  colour (:func:`kdehist.data.border_background_mask`). It confuses shape with
  background colour (a mid-grey background makes the whole image "foreground"), and is
  kept only for comparison with the first edition;
- ``ssim``: structural similarity of the L* channel with the oracle's;
- ``edge_f1``: F1 score of Canny edges of L* against the oracle's, with one pixel of
  slack.

A generator that paints skin over the background scores well on ΔE under the input's
mask but badly on IoU, which is why the two are always reported side by side.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf
from scipy import ndimage
from skimage.feature import canny

from ._checks import check_choice, check_positive_int
from .color import JIS_CLASSES, delta_e_of_means, jis_class, lab, mean_lab, to_lab
from .histogram import soft_histogram
from .stats import bootstrap_ci, bootstrap_difference_ci  # noqa: F401  (moved)

__all__ = [
    "TestSet",
    "load_test_set",
    "translate_pairs",
    "oracle_pairs",
    "pair_metrics",
    "summarize",
    "evaluate_generator",
    "EVAL_BATCH",
    "jis_shares",
    "shading_metrics",
    "SHADING_METRICS",
    "bootstrap_ci",
    "bootstrap_difference_ci",
]


@dataclass
class TestSet:
    """The test inputs (sim) and references (real), with what the oracle needs.

    Attributes:
        inputs, input_masks: ``(Nx, 3, S, S)`` in [-1, 1] and ``(Nx, 1, S, S)`` in
            {0, 1}.
        refs, ref_masks: ``(Ny, 3, S, S)`` and ``(Ny, 1, S, S)``.
        poses: the ``Nx`` input poses; ``tones``: ``(Ny, 3)`` reference skin albedos
            (sRGB);
        looks: the ``Ny`` reference appearances (lighting, background, texture).
        kneecaps: the inputs' kneecap part masks (:func:`kdehist.knees.kneecap_mask`).
    """

    inputs: torch.Tensor
    input_masks: torch.Tensor
    refs: torch.Tensor
    ref_masks: torch.Tensor
    poses: list
    tones: torch.Tensor
    looks: list
    # (Nx, 1, S, S): where each input's kneecap shows (the oracle's too: the same
    # pose); None for a test set built by hand.
    kneecaps: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return int(self.inputs.shape[-1])


def load_test_set(
    size: int = 64, seed: int = 0, count: int | None = None, split: str = "test"
) -> TestSet:
    """The synthetic test splits (28 sim, 28 real) at ``size`` pixels, or their first
    ``count``; ``split="val"`` gives the validation splits, on which choices are made
    (rendered from their own seeds: no sample is a test or a training one)."""
    from .data import SyntheticKnees
    from .knees import kneecap_mask

    check_choice("split", split, ("test", "val"))
    sim = SyntheticKnees("sim", split, size=size, seed=seed)
    real = SyntheticKnees("real", split, size=size, seed=seed)
    nx = (
        len(sim) if count is None else min(check_positive_int("count", count), len(sim))
    )
    ny = len(real) if count is None else min(count, len(real))
    inputs, input_masks = sim.tensors(range(nx))
    refs, ref_masks = real.tensors(range(ny))
    samples = [real[j] for j in range(ny)]
    return TestSet(
        inputs=inputs,
        input_masks=input_masks,
        refs=refs,
        ref_masks=ref_masks,
        poses=[sim.pose(i) for i in range(nx)],
        tones=torch.stack([s["tone_srgb"] for s in samples]),
        looks=[real.appearance(j) for j in range(ny)],
        kneecaps=kneecap_mask([sim.pose(i) for i in range(nx)], size),
    )


@torch.no_grad()
def translate_pairs(
    generator,
    test: TestSet,
    bins: int | None = None,
    batch_size: int = 28,
    device="cpu",
) -> torch.Tensor:
    """``G(x_i | h(y_j))`` for every input ``i`` and reference ``j``:
    ``(Nx, Ny, 3, S, S)`` on the CPU.

    An unconditioned generator (``generator.conditioned`` false) ignores the reference,
    so each input is translated once and repeated over the references.
    """
    generator = generator.to(device).eval()
    nx, ny = len(test.inputs), len(test.refs)
    if not getattr(generator, "conditioned", False):
        outs = torch.cat(
            [
                generator(test.inputs[i : i + batch_size].to(device)).float().cpu()
                for i in range(0, nx, batch_size)
            ]
        )
        return outs[:, None].expand(nx, ny, *outs.shape[1:]).contiguous()
    if bins is None:
        raise ValueError(
            "bins: expected the generator's hist_bins for a conditioned generator, "
            "got None"
        )
    hists = soft_histogram(test.refs.to(device), bins, mask=test.ref_masks.to(device))
    out = torch.empty(nx, ny, *test.inputs.shape[1:])
    pairs = [(i, j) for i in range(nx) for j in range(ny)]
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        xi = torch.stack([test.inputs[i] for i, _ in chunk]).to(device)
        hj = torch.stack([hists[j] for _, j in chunk])
        fake = generator(xi, hj).float().cpu()
        for (i, j), image in zip(chunk, fake):
            out[i, j] = image
    return out


def oracle_pairs(test: TestSet) -> torch.Tensor:
    """The oracle translations: input ``i``'s pose in reference ``j``'s tone and look,
    ``(Nx, Ny, 3, S, S)``."""
    from .data import render_real

    nx, ny = len(test.inputs), len(test.refs)
    poses = [test.poses[i] for i in range(nx) for _ in range(ny)]
    tones = torch.cat([test.tones] * nx)
    looks = [test.looks[j] for _ in range(nx) for j in range(ny)]
    images, _ = render_real(poses, tones, size=test.size, appearance=looks)
    return images.reshape(nx, ny, *images.shape[1:])


def _foreground(image: torch.Tensor) -> torch.Tensor:
    from .data import border_background_mask

    with warnings.catch_warnings():
        # An output whose background is neither light nor dark is "all foreground": an
        # honest zero-ish IoU, not a problem to warn about 784 times.
        warnings.simplefilter("ignore")
        return border_background_mask(image)


def _edge_f1(a: np.ndarray, b: np.ndarray) -> float:
    if not a.any() and not b.any():
        return 1.0
    near_a, near_b = ndimage.binary_dilation(a), ndimage.binary_dilation(b)
    precision = (a & near_b).sum() / max(a.sum(), 1)
    recall = (b & near_a).sum() / max(b.sum(), 1)
    return (
        0.0
        if precision + recall == 0
        else float(2 * precision * recall / (precision + recall))
    )


def _colour_differences(
    out_fg: torch.Tensor, out_whole: torch.Tensor, test: TestSet
) -> dict[str, np.ndarray]:
    """ΔE76 and ΔE2000 of each translation's mean L*a*b* (``(Nx · Ny, 3)``, inputs
    major) against its reference's, over the foregrounds and the whole images."""
    nx, ny = len(test.inputs), len(test.refs)
    ref_fg = mean_lab(test.refs, test.ref_masks).repeat(nx, 1)
    ref_whole = mean_lab(test.refs).repeat(nx, 1)
    metrics = {
        "delta_e76": delta_e_of_means(out_fg, ref_fg, "cie76"),
        "delta_e00": delta_e_of_means(out_fg, ref_fg, "ciede2000"),
        "delta_e76_whole": delta_e_of_means(out_whole, ref_whole, "cie76"),
        "delta_e00_whole": delta_e_of_means(out_whole, ref_whole, "ciede2000"),
    }
    return {k: v.numpy().reshape(nx, ny) for k, v in metrics.items()}


def pair_metrics(
    outputs: torch.Tensor,
    test: TestSet,
    oracle: torch.Tensor | None = None,
    segmenter=None,
) -> dict[str, np.ndarray]:
    """Per-pair colour and shape metrics, each an ``(Nx, Ny)`` float64 array.

    Keys: ``delta_e76``, ``delta_e00`` (foregrounds), ``delta_e76_whole``,
    ``delta_e00_whole`` (whole images); with an ``oracle`` also ``shape_iou``, ``ssim``
    and ``edge_f1``, and :func:`shading_metrics` when ``test`` has kneecap masks; with
    a ``segmenter`` (:func:`kdehist.segment.load_segmenter`) also ``shape_score``.
    """
    nx, ny = outputs.shape[:2]
    flat = outputs.reshape(nx * ny, *outputs.shape[2:])
    masks = test.input_masks.repeat_interleave(ny, dim=0)
    metrics = _colour_differences(mean_lab(flat, masks), mean_lab(flat), test)
    if segmenter is not None:
        from .segment import shape_score

        metrics["shape_score"] = (
            shape_score(flat, masks, segmenter).double().numpy().reshape(nx, ny)
        )
    if oracle is not None:
        lightness = to_lab(flat)[:, 0].numpy() / 100
        oracle_lightness = (
            to_lab(oracle.reshape(nx * ny, *oracle.shape[2:]))[:, 0].numpy() / 100
        )
        iou, ssim, edges = (np.empty(nx * ny) for _ in range(3))
        for k in range(nx * ny):
            fg = _foreground(flat[k])[0].bool().numpy()
            truth = masks[k, 0].bool().numpy()
            iou[k] = (fg & truth).sum() / max((fg | truth).sum(), 1)
            ssim[k] = float(
                _ssim(
                    torch.from_numpy(lightness[k : k + 1]),
                    torch.from_numpy(oracle_lightness[k : k + 1]),
                )
            )
            edges[k] = _edge_f1(
                canny(lightness[k], sigma=1.0), canny(oracle_lightness[k], sigma=1.0)
            )
        metrics.update(
            shape_iou=iou.reshape(nx, ny),
            ssim=ssim.reshape(nx, ny),
            edge_f1=edges.reshape(nx, ny),
        )
        if test.kneecaps is not None:
            metrics.update(shading_metrics(outputs, test, oracle))
    return metrics


#: The shading measures of :func:`shading_metrics`, each ``(Nx, Ny)``.
SHADING_METRICS = (
    "relief_input",
    "relief_oracle",
    "kneecap_input",
    "spread_l",
    "spread_a",
    "spread_b",
)


def shading_metrics(
    outputs: torch.Tensor, test: TestSet, oracle: torch.Tensor
) -> dict[str, np.ndarray]:
    """What the paper says is lost, per pair, each an ``(Nx, Ny)`` float64 array
    (:mod:`kdehist.shading`):

    - ``relief_input``: the local relief of L* against the input render's, inside the
      leg (:func:`kdehist.shading.shading_score`): the shading a translation can keep,
      and the primary shading measure;
    - ``relief_oracle``: the same against the oracle's, whose lighting is the
      reference's, which no colour histogram carries (the ideal's view);
    - ``kneecap_input``: the relief against the input's inside the kneecap
      (:func:`kdehist.shading.kneecap_score`);
    - ``spread_l``, ``spread_a``, ``spread_b``: the output foreground's standard
      deviation of L*, a*, b* over the oracle's (:func:`kdehist.shading.spread_ratio`):
      1 when the colour distribution keeps its spread, near 0 when it collapses to one
      flat colour.
    """
    from .shading import kneecap_score, shading_score, spread_ratio

    if test.kneecaps is None:
        raise ValueError(
            "test: expected a test set with kneecap masks (load_test_set), got none"
        )
    nx, ny = outputs.shape[:2]
    flat = outputs.reshape(nx * ny, *outputs.shape[2:])
    inputs = test.inputs.repeat_interleave(ny, dim=0)
    masks = test.input_masks.repeat_interleave(ny, dim=0)
    kneecaps = test.kneecaps.repeat_interleave(ny, dim=0)
    ideal = oracle.reshape(nx * ny, *oracle.shape[2:])
    spread = spread_ratio(flat, ideal, masks, masks)
    measured = {
        "relief_input": shading_score(flat, inputs, masks),
        "relief_oracle": shading_score(flat, ideal, masks),
        "kneecap_input": kneecap_score(flat, inputs, kneecaps, masks),
        "spread_l": spread[:, 0],
        "spread_a": spread[:, 1],
        "spread_b": spread[:, 2],
    }
    return {k: v.double().numpy().reshape(nx, ny) for k, v in measured.items()}


def jis_shares(delta_e) -> dict[str, float]:
    """The share of ΔE values (any shape) in each JIS class, in the classes' order."""
    classes = jis_class(np.asarray(delta_e).ravel())
    return {name: classes.count(name) / len(classes) for name, _, _ in JIS_CLASSES}


def summarize(metrics: dict[str, np.ndarray]) -> dict[str, float | int | dict]:
    """Mean, standard deviation and median of each metric, the number of pairs, and the
    share of pairs in each JIS class (of the foreground ΔE76)."""
    summary: dict[str, float | int | dict] = {
        "pairs": int(next(iter(metrics.values())).size)
    }
    for name, values in metrics.items():
        summary[f"{name}_mean"] = float(np.mean(values))
        summary[f"{name}_std"] = float(np.std(values))
        summary[f"{name}_median"] = float(np.median(values))
    summary["jis_shares"] = jis_shares(metrics["delta_e76"])
    return summary


#: Pairs that :func:`evaluate_generator` translates and measures at a time, per device.
EVAL_BATCH = {"cpu": 28, "cuda": 112}


def _ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7) -> torch.Tensor:
    """scikit-image's ``structural_similarity(a, b, data_range=1.0)`` of each pair of
    ``(B, H, W)`` float64 images: ``(B,)``. Its mean skips a border of ``window // 2``
    pixels, the only place where its filter pads, so a filter without padding gives the
    same numbers."""
    pool = functools.partial(nnf.avg_pool2d, kernel_size=window, stride=1)
    a, b = a[:, None], b[:, None]
    ux, uy = pool(a), pool(b)
    norm = window**2 / (window**2 - 1)  # the sample covariance
    vx = norm * (pool(a * a) - ux * ux)
    vy = norm * (pool(b * b) - uy * uy)
    vxy = norm * (pool(a * b) - ux * uy)
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def evaluate_generator(
    generator,
    test: TestSet,
    bins: int | None,
    oracle: torch.Tensor | None = None,
    device=None,
    segmenter=None,
    batch_size: int | None = None,
    progress: bool = False,
):
    """Translate every pair and measure it: ``(summary, per-pair metrics, outputs)``.

    The same numbers as :func:`translate_pairs` followed by :func:`pair_metrics` on the
    CPU (up to float rounding), computed on ``device`` ``batch_size`` pairs at a time:
    the translations, their L*a*b* colours, SSIM and the segmenter run there; the border
    mask and Canny edges (SciPy and scikit-image) on the CPU.

    Args:
        generator: a ``kdehist.models.ResnetGenerator`` (moved to ``device``).
        test, bins, oracle, segmenter: as for :func:`translate_pairs` and
            :func:`pair_metrics` (the segmenter is copied to ``device``, not moved).
        device: where to run (default: CUDA when available, else the CPU).
        batch_size: pairs at a time (default ``EVAL_BATCH`` for the device type).
        progress: show a progress bar with an ETA.

    Returns:
        ``summary`` (:func:`summarize`), the per-pair metrics (each ``(Nx, Ny)``
        float64) and the translations ``(Nx, Ny, 3, S, S)`` on the CPU.
    """
    import copy

    from tqdm.auto import tqdm

    from .profiles import default_device
    from .segment import shape_score

    device = default_device() if device is None else torch.device(device)
    batch_size = check_positive_int(
        "batch_size",
        EVAL_BATCH.get(device.type, 28) if batch_size is None else batch_size,
    )
    conditioned = getattr(generator, "conditioned", False)
    if conditioned and bins is None:
        raise ValueError(
            "bins: expected the generator's hist_bins for a conditioned generator, "
            "got None"
        )
    generator = generator.to(device).eval()
    if segmenter is not None:
        segmenter = copy.deepcopy(segmenter).to(device).eval()
    nx, ny = len(test.inputs), len(test.refs)
    inputs, masks = test.inputs.to(device), test.input_masks.to(device)
    outputs = torch.empty(nx, ny, *test.inputs.shape[1:])
    with torch.no_grad():
        if conditioned:
            hists = soft_histogram(
                test.refs.to(device), bins, mask=test.ref_masks.to(device)
            )
        else:  # it ignores the reference: each input is translated once
            once = torch.cat(
                [
                    generator(inputs[i : i + batch_size]).float()
                    for i in range(0, nx, batch_size)
                ]
            )
    columns: dict[str, list] = {
        k: [] for k in ("fg", "whole", "shape_score", "ssim", "shape_iou", "edge_f1")
    }
    bar = tqdm(total=nx * ny, disable=not progress, desc="evaluating", unit="pair")
    for start in range(0, nx * ny, batch_size):
        index = torch.arange(start, min(start + batch_size, nx * ny))
        i, j = index // ny, index % ny
        with torch.no_grad():
            fake = generator(inputs[i], hists[j]).float() if conditioned else once[i]
        outputs[i, j] = fake.cpu()
        fake_lab, mask = lab(fake), masks[i].double()
        columns["fg"].append(
            ((fake_lab * mask).sum((2, 3)) / mask.sum((1, 2, 3))[:, None]).cpu()
        )
        columns["whole"].append(fake_lab.mean((2, 3)).cpu())
        if segmenter is not None:
            columns["shape_score"].append(shape_score(fake, masks[i], segmenter))
        if oracle is not None:
            lightness = fake_lab[:, 0] / 100
            truth = lab(oracle[i, j].to(device))[:, 0] / 100
            columns["ssim"].append(_ssim(lightness, truth).cpu())
            cpu_fake, cpu_masks = fake.cpu(), masks[i].cpu()
            lightness, truth = lightness.cpu().numpy(), truth.cpu().numpy()
            for k in range(len(index)):
                fg = _foreground(cpu_fake[k])[0].bool().numpy()
                true_mask = cpu_masks[k, 0].bool().numpy()
                columns["shape_iou"].append(
                    (fg & true_mask).sum() / max((fg | true_mask).sum(), 1)
                )
                columns["edge_f1"].append(
                    _edge_f1(canny(lightness[k], sigma=1.0), canny(truth[k], sigma=1.0))
                )
        bar.update(len(index))
    bar.close()
    out_fg, out_whole = torch.cat(columns["fg"]), torch.cat(columns["whole"])
    metrics = _colour_differences(out_fg, out_whole, test)
    if segmenter is not None:
        metrics["shape_score"] = (
            torch.cat(columns["shape_score"]).double().numpy().reshape(nx, ny)
        )
    if oracle is not None:
        metrics["shape_iou"] = np.asarray(columns["shape_iou"], float).reshape(nx, ny)
        metrics["ssim"] = torch.cat(columns["ssim"]).numpy().reshape(nx, ny)
        metrics["edge_f1"] = np.asarray(columns["edge_f1"], float).reshape(nx, ny)
    if oracle is not None and test.kneecaps is not None:
        metrics.update(shading_metrics(outputs, test, oracle))
    return summarize(metrics), metrics, outputs
