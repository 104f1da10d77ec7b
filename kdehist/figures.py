"""The book's result figures, built as :class:`matplotlib.figure.Figure` objects.

Nothing here touches pyplot or matplotlib's global state (backend, rcParams): a figure
is built, returned, and either shown by a notebook (Jupyter displays a ``Figure`` that
is a cell's value) or written with :func:`figure_png`. That way a script that writes
figures cannot make a later ``plt.show()`` in the same kernel display nothing.
"""

from __future__ import annotations

import io
from pathlib import Path
import textwrap

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from .checkpoint import load_generators
from .color import JIS_CLASSES, mean_lab
from .experiments import EXPERIMENTS, TABLE2, colour, label
from .histogram import soft_histogram
from .metrics_log import read_metrics
from .stats import moving_average

__all__ = [
    "figure_png",
    "show",
    "figure_pairs",
    "translate_selected",
    "figure3",
    "figure4",
    "delta_e_distribution",
    "frontier_figure",
    "training_path_figure",
    "study_path_figure",
    "training_losses_figure",
    "jis_shares_figure",
    "table2_paths_figure",
    "sample_grids_figure",
]

#: Resolution of written figures (the book shows them at page width).
DPI = 160
#: Display names, from the registry (kept here for one version: use
#: :func:`kdehist.experiments.label`).
LABELS = {name: experiment.label for name, experiment in EXPERIMENTS.items()}


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


# The old name, kept for one version (CHANGELOG): kdehist.io.png_bytes encodes arrays.
png_bytes = figure_png


def show(fig: Figure, dpi: int = DPI) -> None:
    """Display a figure in a notebook as a PNG (no pyplot, so no global state)."""
    from IPython.display import Image, display

    display(Image(data=figure_png(fig, dpi)))


def _ref_lightness(test) -> torch.Tensor:
    return mean_lab(test.refs, test.ref_masks)[:, 0]


def _spread(order: torch.Tensor, count: int) -> list[int]:
    return [
        int(order[round(k * (len(order) - 1) / max(count - 1, 1))])
        for k in range(count)
    ]


def figure_pairs(test, rows: int = 4) -> list[tuple[int, int]]:
    """Input/reference pairs for Figure 3: distinct inputs, references light to deep."""
    picks = _spread(torch.argsort(_ref_lightness(test), descending=True), rows)
    return [(k % len(test.inputs), j) for k, j in enumerate(picks)]


@torch.no_grad()
def translate_selected(
    checkpoint: str | Path, test, pairs: list[tuple[int, int]]
) -> torch.Tensor:
    """The generator ``G`` of ``checkpoint`` on the given (input, reference) pairs:
    ``(P, 3, S, S)``."""
    G, _, config = load_generators(checkpoint)
    x = torch.stack([test.inputs[i] for i, _ in pairs])
    if not G.conditioned:
        return G(x).float()
    refs = torch.stack([test.refs[j] for _, j in pairs])
    masks = torch.stack([test.ref_masks[j] for _, j in pairs])
    return G(x, soft_histogram(refs, config.hist_bins, mask=masks)).float()


def _show(ax, image: torch.Tensor, title: str | None = None) -> None:
    ax.imshow(
        ((image.permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy(), interpolation="nearest"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:  # long run labels wrap to the image's width
        ax.set_title(textwrap.fill(title, 18), fontsize=10)


def figure3(
    checkpoints: dict[str, str | Path], test, rows: int = 4, oracle: bool = False
) -> Figure:
    """Figure 3: per row an input, a reference, then each model's translation.

    Args:
        checkpoints: ``{run name: checkpoint or snapshot path}``, in column order.
        test: a :class:`kdehist.evaluate.TestSet`.
        rows: pairs shown, with references from light to deep skin.
        oracle: also show, after the reference, the oracle: the input's pose rendered
            in the reference's tone and look, the shading included.
    """
    pairs = figure_pairs(test, rows)
    outputs = {
        name: translate_selected(path, test, pairs)
        for name, path in checkpoints.items()
    }
    if oracle:
        from .data import render_real

        rendered, _ = render_real(
            [test.poses[i] for i, _ in pairs],
            torch.stack([test.tones[j] for _, j in pairs]),
            size=test.size,
            appearance=[test.looks[j] for _, j in pairs],
        )
        outputs = {"oracle": rendered, **outputs}
    columns = 2 + len(outputs)
    fig = Figure(figsize=(1.7 * columns, 1.75 * len(pairs)), layout="constrained")
    axes = fig.subplots(len(pairs), columns, squeeze=False)
    for r, (i, j) in enumerate(pairs):
        _show(axes[r, 0], test.inputs[i], "input" if r == 0 else None)
        _show(axes[r, 1], test.refs[j], "reference" if r == 0 else None)
        for c, (name, images) in enumerate(outputs.items()):
            _show(axes[r, 2 + c], images[r], label(name) if r == 0 else None)
    return fig


def figure4(checkpoint: str | Path, test, inputs: int = 4, refs: int = 6) -> Figure:
    """Figure 4: inputs (rows) × references (columns, light to deep), one model."""
    columns = _spread(
        torch.argsort(_ref_lightness(test), descending=True), min(refs, len(test.refs))
    )
    rows = list(range(min(inputs, len(test.inputs))))
    images = translate_selected(
        checkpoint, test, [(i, j) for i in rows for j in columns]
    )
    fig = Figure(
        figsize=(1.5 * (len(columns) + 1), 1.55 * (len(rows) + 1)), layout="constrained"
    )
    axes = fig.subplots(len(rows) + 1, len(columns) + 1, squeeze=False)
    axes[0, 0].axis("off")
    for c, j in enumerate(columns):
        _show(axes[0, c + 1], test.refs[j], "references" if c == 0 else None)
    for r, i in enumerate(rows):
        _show(axes[r + 1, 0], test.inputs[i], "inputs" if r == 0 else None)
        for c in range(len(columns)):
            _show(axes[r + 1, c + 1], images[r * len(columns) + c])
    return fig


def delta_e_distribution(values: dict[str, np.ndarray], upper: float = 40.0) -> Figure:
    """The per-pair ΔE76 of each run as box and points, over the JIS class bands.

    Args:
        values: ``{label: per-pair ΔE76 values}`` (any shape; pooled over seeds).
        upper: the largest ΔE drawn; larger values sit on the edge, marked with a caret.
    """
    fig = Figure(figsize=(7.5, 0.8 + 0.75 * len(values)), layout="constrained")
    ax = fig.subplots()
    shades = [
        "#e8f5e9",
        "#c8e6c9",
        "#a5d6a7",
        "#fff9c4",
        "#ffe0b2",
        "#ffccbc",
        "#f5f5f5",
    ]
    for (name, lo, hi), shade in zip(JIS_CLASSES, shades):
        hi = min(hi, upper)
        if lo < upper:
            ax.axvspan(lo, hi, color=shade, zorder=0)
            if hi - lo >= 1.5:
                ax.text(
                    (lo + hi) / 2,
                    len(values) - 0.35,
                    name,
                    ha="center",
                    va="bottom",
                    fontsize=9,
                    color="#444",
                )
    rng = np.random.default_rng(0)
    for k, (_, data) in enumerate(values.items()):
        data = np.asarray(data, dtype=float).ravel()
        clipped = np.minimum(data, upper)
        ax.scatter(
            clipped,
            k + rng.uniform(-0.22, 0.22, len(clipped)),
            s=2,
            alpha=0.35,
            color="#37474f",
            lw=0,
        )
        ax.boxplot(
            clipped,
            positions=[k],
            vert=False,
            widths=0.5,
            showfliers=False,
            medianprops=dict(color="#c62828", lw=1.8),
        )
        if (data > upper).any():
            ax.text(
                upper,
                k,
                f" {np.mean(data > upper):.0%} > {upper:g}",
                va="center",
                ha="left",
                fontsize=8,
            )
    ax.set_yticks(range(len(values)), list(values))
    ax.set_ylim(-0.6, len(values) - 0.1)
    ax.set_xlim(0, upper)
    ax.set_xlabel("ΔE76 per pair (bands: JIS classes)")
    return fig


def _plain_log_axis(axis, ticks=(0.5, 1, 2, 5, 10, 20, 40)) -> None:
    """Label a log-scaled ``axis`` with plain numbers (5, 10, 40), not powers of ten."""
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def frontier_figure(
    frontier: dict, oracle: dict | None = None, zoom: tuple[float, float] = (2.0, 6.0)
) -> Figure:
    """Chapter 10's frontier: mean ΔE76 against mean shape score of every run, with 95 %
    intervals, Table 2's variants and the oracle on the same axes, the training path as
    a line from its first checkpoint. Top: every run (log ΔE76); bottom: the
    conditioned runs, ΔE76 in ``zoom``, where the frontier runs crowd. Each point is
    labelled in the panel where it is clearest.

    Args:
        frontier: a ``frontier.json`` (:func:`kdehist.frontier.frontier`).
        oracle: Table 2's oracle row (``delta_e76_mean``, ``shape_score_mean``), if any.
        zoom: the ΔE76 range of the close-up (bottom panel).
    """
    # Stacked, not side by side: at the book's page width the labels stay legible.
    fig = Figure(figsize=(7.5, 10.0), layout="constrained")
    wide, near = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1.2]})
    for ax in (wide, near):
        ax.axvspan(1e-3, 3.2, color="#e8f5e9", zorder=0)
    wide.text(
        0.01,
        0.01,
        "JIS class A or finer (ΔE76 < 3.2)",
        transform=wide.transAxes,
        fontsize=8,
        color="#2e7d32",
    )

    def annotate(ax, text: str, x: float, y: float, tint: str, dy: float = 4) -> None:
        ax.annotate(
            text,
            (x, y),
            xytext=(6, dy),
            textcoords="offset points",
            fontsize=8,
            color=tint,
        )

    shown: list[tuple[float, float]] = []  # the close-up's intervals (shape)
    outside: list[tuple] = []  # the top panel's labels: (y, x, text, colour)

    def point(row: dict, text: str, tint: str, marker: str, hollow=False) -> None:
        x, y = row["delta_e76_mean"], row["shape_score_mean"]
        (xlo, xhi), (ylo, yhi) = row["delta_e76_ci95"], row["shape_score_ci95"]
        inside = zoom[0] <= x <= zoom[1]
        for ax in (wide, near):
            ax.errorbar(
                x,
                y,
                xerr=[[x - xlo], [xhi - x]],
                yerr=[[y - ylo], [yhi - y]],
                fmt=marker,
                color=tint,
                # Table 2's variants hollow and larger: a run at the same place shows
                # through.
                mfc="none" if hollow else tint,
                ms=9 if hollow else 6,
                capsize=2,
                lw=1,
                # The crowded close-up names its points in a legend.
                label=text if ax is near and inside else None,
            )
        if inside:
            shown.append((ylo, yhi))
        else:
            outside.append((y, x, text, tint))

    def seeds_text(row: dict) -> str:
        seeds = len(row["seeds"])
        return f"{seeds} seed{'s' * (seeds > 1)}"

    for name, row in frontier.get("baselines", {}).items():
        point(row, f"{label(name)} ({seeds_text(row)})", colour(name), "s", True)
    markers = {"lambda_sweep": "o", "training_path": "D"}
    for row in frontier.get("runs", []):
        if row["name"] in frontier.get("baselines", {}):
            continue  # Table 2's own run, already drawn
        text = f"{label(row['name'])} ({seeds_text(row)})"
        point(row, text, colour(row["name"]), markers.get(row["attempt"], "^"))
    # From the top down, alternately above and below: neighbours' labels do not overlap.
    for k, (y, x, text, tint) in enumerate(sorted(outside, reverse=True)):
        annotate(wide, text, x, y, tint, dy=(4, -10)[k % 2])
    for name in sorted({p["name"] for p in frontier.get("path", [])}):
        path = [p for p in frontier["path"] if p["name"] == name]
        for ax in (wide, near):
            ax.plot(
                [p["delta_e76_mean"] for p in path],
                [p["shape_score_mean"] for p in path],
                ".-",
                color="#90a4ae",
                lw=1,
                ms=3,
                zorder=1,
                label=f"{label(name)}: training path" if ax is near else None,
            )
        first = path[0]
        annotate(
            wide,
            f"training path, step {first['step']}",
            first["delta_e76_mean"],
            first["shape_score_mean"],
            "#607d8b",
        )
    if oracle is not None:
        wide.plot(
            oracle["delta_e76_mean"],
            oracle["shape_score_mean"],
            "*",
            color="#f9a825",
            ms=12,
        )
        annotate(
            wide, "oracle", oracle["delta_e76_mean"], oracle["shape_score_mean"], "k"
        )
    wide.set_xscale("log")
    _plain_log_axis(wide.xaxis)
    lo, hi = wide.get_xlim()
    wide.set_xlim(max(lo, 0.3), hi * 1.6)  # room for the labels on the right
    wide.set_xlabel("mean ΔE76 (log; lower: better colour)")
    wide.set_ylabel("mean shape score (higher: better shape)")
    wide.set_title("every run", fontsize=10)
    near.set_xlim(*zoom)
    if shown:
        low = min(lo for lo, _ in shown)
        high = max(hi for _, hi in shown)
        near.set_ylim(low - 0.01, high + 0.01)
    if near.get_legend_handles_labels()[1]:  # below the panel, off the points
        near.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    near.set_xlabel("mean ΔE76 (lower: better colour)")
    near.set_ylabel("mean shape score (higher: better shape)")
    near.set_title(f"the conditioned runs (ΔE76 {zoom[0]:g}–{zoom[1]:g})", fontsize=10)
    return fig


def _path_panels(points: list[dict], keys, title: str) -> Figure:
    """One panel per ``(key, axis label)`` of a training path's ``points`` (rows with
    ``step``, ``seeds`` and each key's mean, seed means and interval): the mean over
    seeds, each seed (dashed) and the 95 % interval (band), against the step."""
    fig = Figure(figsize=(7.5, 2.2 + 2.6 * len(keys)), layout="constrained")
    axes = fig.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    steps = [p["step"] for p in points]
    seed_colours = ["#ef6c00", "#6a1b9a", "#00838f", "#ad1457"]
    for ax, (key, axis_label) in zip(axes, keys):
        ax.fill_between(
            steps,
            [p[f"{key}_ci95"][0] for p in points],
            [p[f"{key}_ci95"][1] for p in points],
            color="#90caf9",
            alpha=0.5,
            lw=0,
            label="95 % interval",
        )
        for k, seed in enumerate(points[0]["seeds"]):
            ax.plot(
                steps,
                [p[f"{key}_seed_means"][k] for p in points],
                "--",
                color=seed_colours[k % len(seed_colours)],
                lw=1.1,
                label=f"seed {seed}",
            )
        ax.plot(
            steps,
            [p[f"{key}_mean"] for p in points],
            "o-",
            color="#0d47a1",
            ms=3,
            lw=1.6,
            label=f"{title}, mean over seeds",
        )
        ax.set_ylabel(axis_label)
    axes[-1].set_xlabel("training step")
    axes[0].axhline(3.2, color="#2e7d32", ls="--", lw=1, label="JIS class A bound")
    axes[0].set_yscale("log")
    _plain_log_axis(axes[0].yaxis, (2, 3, 5, 10, 20, 40))
    for ax in axes:
        ax.legend(fontsize=8)
    return fig


def training_path_figure(frontier: dict) -> Figure:
    """The training path of chapter 10: mean ΔE76 and mean shape score against the
    training step, with 95 % intervals (bands) and each seed (dashed), and the
    JIS class A's bound.

    Args:
        frontier: a ``frontier.json`` with a ``path``
            (:func:`kdehist.frontier.frontier`).
    """
    points = frontier.get("path", [])
    keys = [
        ("delta_e76", "mean ΔE76 (lower: better colour)"),
        ("shape_score", "mean shape score (higher: better shape)"),
    ]
    return _path_panels(points, keys, label(points[0]["name"]) if points else "")


def study_path_figure(study: dict, split: str = "test") -> Figure:
    """The training path on shading (chapter 10): mean ΔE76, relief against the input,
    relief against the oracle and the kneecap's relief against the training step on
    ``split``'s pairs, with 95 % intervals (bands) and each seed (dashed).

    Args:
        study: a ``study.json`` whose ``path`` is scored on ``split``
            (:func:`kdehist.study.study`).
    """
    path = study["path"]
    if split not in path["splits"]:
        raise ValueError(
            f"split: expected one of the splits the path is scored on "
            f"{sorted(path['splits'])}, got {split!r}"
        )
    keys = [
        ("delta_e76", "mean ΔE76 (lower: better colour)"),
        ("relief_input", "relief vs input"),
        ("relief_oracle", "relief vs oracle"),
        ("kneecap_input", "kneecap relief vs input"),
    ]
    return _path_panels(path["splits"][split]["points"], keys, path["label"])


def training_losses_figure(results, names=TABLE2, seed: int = 0) -> Figure:
    """Chapter 8's loss curves of Table 2's runs (one seed, smoothed over ten log
    entries), from the training logs of a results folder (``training/<run>_seed<k>``).
    Each run has its colour of the whole book; a panel shows the runs that have its
    loss (the histogram loss only the conditioned ones)."""
    fig = Figure(figsize=(9, 6), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    panels = [
        ("gan_G", "adversarial loss of G"),
        ("cycle_X", "cycle loss, X → Y → X"),
        ("hist_G", "histogram loss of G, eq. (6)"),
        ("D_Y", "discriminator D_Y"),
    ]
    for name in names:
        log = read_metrics(Path(results) / "training" / f"{name}_seed{seed}")
        steps = [entry["step"] for entry in log]
        for ax, (key, title) in zip(axes, panels):
            if key in log[0]:
                values = moving_average([entry[key] for entry in log], 10)
                ax.plot(steps, values, label=label(name), color=colour(name), lw=1.5)
            ax.set_title(title, fontsize=10)
    for ax in axes:
        ax.set_xlim(left=0)
        if ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize=7)
    for ax in axes[2:]:
        ax.set_xlabel("step")
    return fig


def jis_shares_figure(rows: dict, names=TABLE2) -> Figure:
    """Chapter 9's share of the test pairs in each JIS class, per run (Table 2's
    ``jis_shares``), as stacked bars."""
    from matplotlib import colormaps

    classes = [name for name, _, _ in JIS_CLASSES]
    shades = colormaps["viridis"](np.linspace(0.95, 0.05, len(classes)))
    fig = Figure(figsize=(7.5, 2.6), layout="constrained")
    ax = fig.subplots()
    for k, name in enumerate(names):
        left = 0.0
        for c, shade in zip(classes, shades):
            share = rows[name]["jis_shares"][c]
            ax.barh(k, share, left=left, color=shade, label=c if k == 0 else None)
            left += share
    ax.set_yticks(range(len(names)), [label(n) for n in names])
    ax.set_xlabel("share of the pairs")
    ax.legend(
        ncol=len(classes),
        fontsize=8,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        title="JIS class of ΔE76",
    )
    return fig


#: The shape measures of :func:`table2_paths_figure`, with their axis labels.
SHAPE_MEASURES = (
    ("shape_score_mean", "shape score"),
    ("ssim_mean", "SSIM of L*"),
    ("edge_f1_mean", "edge F1"),
    ("shape_iou_mean", "mask IoU from border colour"),
)


def table2_paths_figure(curves: dict, oracle: dict, names=TABLE2) -> Figure:
    """Chapter 10's paths of Table 2's runs through training: mean ΔE76 against each
    shape measure at every evaluation step (``tradeoff.json``'s ``runs``), each seed
    faint, the mean over seeds bold with an arrow to its last step, and the oracle's
    value of each measure."""
    fig = Figure(figsize=(9, 7.6), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for ax, (key, text) in zip(axes, SHAPE_MEASURES):
        for name in names:
            runs = list(curves[name].values())
            tint = colour(name)
            for run in runs:
                ax.plot(
                    [p[key] for p in run],
                    [p["delta_e76_mean"] for p in run],
                    "-",
                    color=tint,
                    lw=0.8,
                    alpha=0.3,
                )
            shape = np.mean([[p[key] for p in run] for run in runs], axis=0)
            de = np.mean([[p["delta_e76_mean"] for p in run] for run in runs], axis=0)
            ax.plot(shape, de, "o-", color=tint, lw=1.8, ms=4, label=label(name))
            ax.annotate(
                "",
                xy=(shape[-1], de[-1]),
                xytext=(shape[-2], de[-2]),
                arrowprops=dict(arrowstyle="->", color=tint, lw=1.8),
            )
        ax.axvline(oracle[key], color="grey", ls=":", label="oracle")
        ax.set_xlabel(f"{text} (right: shape kept)")
        ax.set_ylabel("ΔE76 (down: colour matched)")
        ax.set_yscale("log")
        _plain_log_axis(ax.yaxis, (2, 3, 5, 10, 20, 30, 50))
    axes[0].legend(fontsize=8)
    return fig


def sample_grids_figure(folder) -> Figure:
    """The trainer's sample grids of one run (``samples/step_NNNNNN.png`` under
    ``folder``), stacked with their steps: chapter 8's view of a model over training."""
    from PIL import Image

    samples = sorted(Path(folder).glob("samples/step_*.png"))
    fig = Figure(figsize=(9, 3.6 * len(samples)), layout="constrained")
    for ax, path in zip(fig.subplots(len(samples), 1, squeeze=False).ravel(), samples):
        with Image.open(path) as image:
            ax.imshow(np.asarray(image), interpolation="nearest")
        ax.set_title(f"step {int(path.stem.split('_')[1])}", fontsize=10)
        ax.axis("off")
    return fig
