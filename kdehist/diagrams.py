"""Diagrams for the book: CycleGAN's four networks, the colour-conditioned generator,
the small explanatory plots of chapter 6 (the generator's adversarial losses, what
spectral normalisation reaches, the power iteration), and chapter 3's histogram explorer
as static figures for readers without a kernel, drawn as
:class:`matplotlib.figure.Figure` objects.

Like :mod:`kdehist.figures`, nothing here touches pyplot or matplotlib's global state.
:func:`generator_diagram` reads its layers from a
:class:`kdehist.models.ResnetGenerator`, so the picture shows the network that is built,
not a description of it.
"""

from __future__ import annotations

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import nn

__all__ = [
    "cyclegan_diagram",
    "generator_diagram",
    "generator_stages",
    "generator_loss_curves",
    "generator_losses_figure",
    "layer_effects_figure",
    "power_iteration_figure",
    "explorer_windows_figure",
    "explorer_view_figure",
]

#: Fill colours: the two domains, the networks, the losses, the colour condition.
COLOURS = {
    "X": "#e3e3e3",
    "Y": "#f6dcc8",
    "net": "#d6e6f5",
    "disc": "#e8daef",
    "loss": "#fff3c4",
    "condition": "#fbd3d3",
}


def _box(
    ax: Axes,
    centre: tuple[float, float],
    size: tuple[float, float],
    text: str,
    colour: str,
    fontsize: float = 9,
    **text_options,
) -> tuple[float, float, float, float]:
    """A rounded box with centred text; returns its (left, bottom, right, top)."""
    (x, y), (w, h) = centre, size
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=colour,
            edgecolor="0.35",
            linewidth=0.9,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, **text_options)
    return x - w / 2, y - h / 2, x + w / 2, y + h / 2


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    colour: str = "0.25",
    style: str = "-|>",
    dashed: bool = False,
    curve: float = 0.0,
    width: float = 1.2,
) -> None:
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops=dict(
            arrowstyle=style,
            color=colour,
            lw=width,
            linestyle=(0, (4, 2)) if dashed else "solid",
            shrinkA=0,
            shrinkB=0,
            connectionstyle=f"arc3,rad={curve}",
        ),
    )


def _canvas(ax: Axes, width: float, height: float) -> None:
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")


def cyclegan_diagram(conditioned: str = "both") -> Figure:
    """CycleGAN's two generators and two discriminators (top), and the forward cycle
    with the losses it feeds (bottom).

    Args:
        conditioned: which generators receive a reference histogram: ``"both"`` (the
            paper's best variant, ``proposed_both``), ``"G"`` (``proposed_one``) or
            ``"none"`` (CycleGAN).

    Returns:
        A figure of two panels, about 7.5 × 7 inches.
    """
    if conditioned not in ("both", "G", "none"):
        raise ValueError(
            f"conditioned: expected 'both', 'G' or 'none', got {conditioned!r}"
        )
    fig = Figure(figsize=(7.5, 7.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(1.15, 1))

    # ---- the four networks
    _canvas(top, 10, 6.2)
    _box(top, (1.4, 3.1), (2.2, 1.3), "domain X\nsimulator\nrenderings x", COLOURS["X"])
    _box(top, (8.6, 3.1), (2.2, 1.3), "domain Y\nknee\nphotographs y", COLOURS["Y"])
    _box(top, (5, 4.2), (1.6, 0.8), "G: X → Y", COLOURS["net"], fontweight="bold")
    _box(top, (5, 2.0), (1.6, 0.8), "F: Y → X", COLOURS["net"], fontweight="bold")
    _arrow(top, (2.5, 3.5), (4.2, 4.2))
    _arrow(top, (5.8, 4.2), (7.5, 3.5))
    _arrow(top, (7.5, 2.7), (5.8, 2.0))
    _arrow(top, (4.2, 2.0), (2.5, 2.7))
    top.text(6.75, 4.15, "G(x)", fontsize=9, ha="left")
    top.text(3.25, 2.0, "F(y)", fontsize=9, ha="right")
    _box(
        top,
        (8.45, 5.35),
        (2.9, 0.8),
        "D_Y: a real photo y,\nor a translation G(x)?",
        COLOURS["disc"],
        fontsize=8.5,
    )
    _box(
        top,
        (1.55, 0.85),
        (2.9, 0.8),
        "D_X: a real rendering x,\nor a translation F(y)?",
        COLOURS["disc"],
        fontsize=8.5,
    )
    _arrow(top, (8.6, 3.75), (8.6, 4.95))
    _arrow(top, (1.4, 2.45), (1.4, 1.25))
    if conditioned != "none":
        _box(
            top,
            (5, 5.55),
            (3.1, 0.6),
            "histogram of a reference photo",
            COLOURS["condition"],
            fontsize=8.5,
        )
        _arrow(top, (5, 5.25), (5, 4.6), colour="#c0392b")
    if conditioned == "both":
        _box(
            top,
            (5, 0.65),
            (3.4, 0.6),
            "histogram of a reference rendering",
            COLOURS["condition"],
            fontsize=8.5,
        )
        _arrow(top, (5, 0.95), (5, 1.6), colour="#c0392b")

    # ---- the forward cycle and its losses
    _canvas(bottom, 10, 5.4)
    y0 = 2.9
    _box(bottom, (1.0, y0), (1.5, 0.8), "x", COLOURS["X"], fontsize=11)
    _box(bottom, (3.0, y0), (0.9, 0.7), "G", COLOURS["net"], fontweight="bold")
    _box(bottom, (5.0, y0), (1.5, 0.8), "G(x)", COLOURS["Y"], fontsize=11)
    _box(bottom, (7.0, y0), (0.9, 0.7), "F", COLOURS["net"], fontweight="bold")
    _box(bottom, (9.0, y0), (1.5, 0.8), "F(G(x))", COLOURS["X"], fontsize=10)
    for a, b in ((1.75, 2.55), (3.45, 4.25), (5.75, 6.55), (7.45, 8.25)):
        _arrow(bottom, (a, y0), (b, y0))
    _box(
        bottom,
        (5.0, 1.35),
        (7.6, 0.75),
        "cycle loss, eq. (10):  ‖F(G(x)) − x‖₁  (the round trip returns)",
        COLOURS["loss"],
        fontsize=8.5,
    )
    _arrow(bottom, (1.0, 2.5), (1.6, 1.73), dashed=True)
    _arrow(bottom, (9.0, 2.5), (8.4, 1.73), dashed=True)
    _box(
        bottom,
        (3.0, 4.75),
        (3.4, 0.75),
        "adversarial loss, eqs. (8)–(9):\nD_Y judges G(x)",
        COLOURS["loss"],
        fontsize=8.5,
    )
    _arrow(bottom, (4.7, 3.3), (3.6, 4.37), dashed=True)
    if conditioned != "none":
        _box(
            bottom,
            (7.2, 4.75),
            (3.9, 0.75),
            "histogram loss, eq. (6): colours of G(x)\nagainst the reference's",
            COLOURS["loss"],
            fontsize=8.5,
        )
        _arrow(bottom, (5.3, 3.3), (6.4, 4.37), dashed=True)
    bottom.text(
        5.0,
        0.35,
        "identity loss, eq. (11): ‖G(y) − y‖₁, a photo stays a photo.  "
        "The same with X and Y swapped:  y → F → G.",
        ha="center",
        va="center",
        fontsize=8,
        color="0.25",
    )
    return fig


def _describe(layer: nn.Module) -> str:
    k, s = layer.kernel_size[0], layer.stride[0]
    if isinstance(layer, nn.ConvTranspose2d):
        return f"{k}×{k}\ntransposed\nconv ×{s}"
    return f"{k}×{k} conv" + (f"\nstride {s}" if s > 1 else "")


def generator_stages(generator: nn.Module) -> list[tuple[str, int, int]]:
    """The stages of a :class:`kdehist.models.ResnetGenerator`, read from the module:
    ``(description, output channels, downsampling factor)`` from input to output.

    The residual blocks form one stage, described with their count. Normalisation and
    activation layers are folded into the description of the convolution before them.
    """
    stages: list[tuple[str, int, int]] = []
    scale = 1
    sequences = (generator.encoder, None, generator.decoder)
    for sequence in sequences:
        if sequence is None:
            blocks = len(generator.blocks)
            width = stages[-1][1]
            film = any(block.film is not None for block in generator.blocks)
            text = f"{blocks} residual\nblocks" + ("\nwith FiLM" if film else "")
            stages.append((text, width, scale))
            continue
        layers = list(sequence)
        for index, layer in enumerate(layers):
            if not isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                continue
            if isinstance(layer, nn.ConvTranspose2d):
                scale //= layer.stride[0]
            else:
                scale *= layer.stride[0]
            after = [type(m).__name__ for m in layers[index + 1 : index + 3]]
            text = _describe(layer)
            if "InstanceNorm2d" in after:
                text += "\nIN, ReLU"
            elif "Tanh" in after:
                text += "\ntanh"
            stages.append((text, layer.out_channels, scale))
    return stages


def generator_diagram(generator: nn.Module) -> Figure:
    """The generator's stages (top) and one residual block, showing where the colour
    condition enters (bottom).

    Args:
        generator: a :class:`kdehist.models.ResnetGenerator`; its layers, widths and
            conditioning are read from it.

    Returns:
        A figure of two panels, about 7.5 × 6.4 inches.
    """
    stages = generator_stages(generator)
    film = any(block.film is not None for block in generator.blocks)
    conditioned = getattr(generator, "hist_bins", None) is not None
    fig = Figure(figsize=(7.5, 6.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(1.2, 1))

    # ---- the stages: box heights follow the resolution, the channels are written
    n = len(stages) + 2
    width = 10 / n
    _canvas(top, 10, 6.0)
    centre_y = 2.6
    _box(top, (width / 2, centre_y), (width * 0.8, 2.8), "x\n3 ch\nH × W", COLOURS["X"])
    previous = width * 0.9
    resnet_x = None
    for i, (text, channels, scale) in enumerate(stages, start=1):
        x = width * (i + 0.5)
        height = 1.6 + 1.2 / scale
        colour = COLOURS["condition"] if "FiLM" in text else COLOURS["net"]
        size = "" if scale == 1 else f"H/{scale}"
        label = f"{text}\n\n{channels} ch\n{size}".rstrip()
        _box(top, (x, centre_y), (width * 0.88, height), label, colour, fontsize=6.5)
        _arrow(top, (previous, centre_y), (x - width * 0.43, centre_y))
        previous = x + width * 0.43
        if "residual" in text:
            resnet_x = x
    x_out = width * (n - 0.5)
    _box(top, (x_out, centre_y), (width * 0.8, 2.8), "G(x)\n3 ch\nH × W", COLOURS["Y"])
    _arrow(top, (previous, centre_y), (x_out - width * 0.4, centre_y))
    middle = next(i for i, (text, _, _) in enumerate(stages, 1) if "residual" in text)
    parts = ((1, middle - 1, "encoder"), (middle, middle, "bottleneck"))
    for first, last, name in parts + ((middle + 1, len(stages), "decoder"),):
        left, right = width * (first + 0.08), width * (last + 0.92)
        top.plot([left, right], [0.85, 0.85], color="0.4", lw=1)
        top.text((left + right) / 2, 0.45, name, ha="center", fontsize=8.5, color="0.3")
    if conditioned and resnet_x is not None:
        bins = generator.hist_bins
        _box(
            top,
            (resnet_x, 5.3),
            (5.4, 0.9),
            f"reference histogram h: 3 × {bins}  →  two fully connected\n"
            f"layers ({3 * bins} → 256 → 256)  →  colour embedding e",
            COLOURS["condition"],
            fontsize=7.5,
        )
        _arrow(top, (resnet_x, 4.85), (resnet_x, centre_y + 1.0), colour="#c0392b")
        where = "γ(e), β(e) in every block" if film else "tiled and concatenated"
        top.text(resnet_x + 0.12, 4.25, where, fontsize=7.5, color="#c0392b")

    # ---- one residual block, with FiLM
    _canvas(bottom, 10, 4.6)
    yb = 2.1
    parts = [
        ("h", COLOURS["net"], 0.7),
        ("3×3 conv", COLOURS["net"], 1.0),
        ("IN", COLOURS["net"], 0.6),
        ("FiLM\n(1 + γ)·h + β" if film else "(no FiLM)", COLOURS["condition"], 1.45),
        ("ReLU", COLOURS["net"], 0.7),
        ("3×3 conv", COLOURS["net"], 1.0),
        ("IN", COLOURS["net"], 0.6),
        ("+", COLOURS["loss"], 0.45),
        ("h′", COLOURS["net"], 0.7),
    ]
    gap = 0.22
    total = sum(w for _, _, w in parts) + gap * (len(parts) - 1)
    x = (10 - total) / 2
    centres = []
    for text, colour, w in parts:
        centres.append((x + w / 2, w))
        _box(bottom, (x + w / 2, yb), (w, 0.9), text, colour, fontsize=7.5)
        x += w + gap
    for (c1, w1), (c2, w2) in zip(centres, centres[1:]):
        _arrow(bottom, (c1 + w1 / 2, yb), (c2 - w2 / 2, yb))
    skip_from, skip_to = centres[0][0], centres[7][0]
    _arrow(bottom, (skip_from, yb - 0.45), (skip_to, yb - 0.45), curve=0.25)
    bottom.text(
        (skip_from + skip_to) / 2, 0.55, "skip connection", ha="center", fontsize=8
    )
    if film:
        film_x = centres[3][0]
        _box(
            bottom,
            (film_x, 4.0),
            (2.6, 0.6),
            "e → linear → γ, β",
            COLOURS["condition"],
            fontsize=8,
        )
        _arrow(bottom, (film_x, 3.7), (film_x, yb + 0.45), colour="#c0392b")
    return fig


# ------------------------------------------------------------- the generator's losses

#: The generator's adversarial loss on a fake patch, as a function of the
#: discriminator's output ``t`` on it: a logit for the two log losses (``D = σ(t)``), a
#: raw score for least squares.
GENERATOR_LOSSES = {
    "saturating, eq. (9): log(1 - D)": lambda t: torch.log1p(-torch.sigmoid(t)),
    'non-saturating, "vanilla": -log D': lambda t: -torch.nn.functional.logsigmoid(t),
    'least squares, "lsgan": (t - 1)^2': lambda t: (t - 1) ** 2,
}


def generator_loss_curves(
    outputs: torch.Tensor,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each of :data:`GENERATOR_LOSSES` and its slope at the discriminator's
    ``outputs``: ``{name: (loss, d loss / d output)}``."""
    curves = {}
    for name, loss in GENERATOR_LOSSES.items():
        t = outputs.detach().clone().requires_grad_(True)
        value = loss(t)
        (slope,) = torch.autograd.grad(value.sum(), t)
        curves[name] = (value.detach(), slope)
    return curves


def generator_losses_figure(low: float = -6.0, high: float = 4.0) -> Figure:
    """The three generator losses (left) and their slopes (right) against the
    discriminator's output on a fake, from ``low`` to ``high``."""
    t = torch.linspace(low, high, 201)
    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2, sharex=True)
    for name, (value, slope) in generator_loss_curves(t).items():
        left.plot(t, value, lw=2, label=name)
        right.plot(t, slope, lw=2)
    left.set_ylim(-6, 10)
    left.set_ylabel("generator loss")
    right.set_ylim(-4, 1)
    right.set_ylabel("d loss / d output")
    for ax in (left, right):
        ax.set_xlabel("discriminator's output on a fake")
        ax.axvline(0, color="grey", ls=":")
    fig.legend(fontsize=8, loc="outside lower center", ncols=3)
    return fig


# ------------------------------------------------- what spectral normalisation reaches

#: Colours of :func:`layer_effects_figure`, by kind of layer.
LAYER_KINDS = {
    "convolution feeding an instance norm": "tab:blue",
    "histogram encoder and FiLM": "tab:orange",
    "last convolution": "tab:red",
}


def layer_effects_figure(effects: dict[tuple[str, str], tuple[str, float]]) -> Figure:
    """Bars of how far a network's output moves when one layer is rescaled.

    Args:
        effects: ``{(network, layer name): (kind, largest output change)}``, the
            networks in the order to draw them (one panel each, the first narrower),
            each kind a key of :data:`LAYER_KINDS`.
    """
    networks = list(dict.fromkeys(net for net, _ in effects))
    counts = [sum(net == n for n, _ in effects) for net in networks]
    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    axes = fig.subplots(
        1, len(networks), width_ratios=counts, sharey=True, squeeze=False
    )
    for ax, net in zip(axes[0], networks):
        rows = [value for (n, _), value in effects.items() if n == net]
        for x, (kind, effect) in enumerate(rows):
            ax.bar(x, effect, color=LAYER_KINDS[kind], label=kind)
        ax.set_yscale("log")
        ax.set_xlabel(f"layer of {net}, input to output")
    axes[0, 0].set_ylabel("largest output change")
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(
        handles.values(),
        handles.keys(),
        fontsize=8,
        loc="outside lower center",
        ncols=3,
    )
    return fig


def power_iteration_figure(errors: list[float], ratio: float) -> Figure:
    r"""The relative error of the power iteration's estimate of the spectral norm
    :math:`\lVert W \rVert_2` after each iteration, on a log scale, against the rate
    :math:`(s_2/s_1)^{4k}` (singular values :math:`s_1 \ge s_2`) started at the
    first error."""
    steps = range(1, len(errors) + 1)
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.semilogy(steps, errors, "o-", ms=3, label="power iteration")
    rate = [errors[0] * ratio ** (4 * k) for k in range(len(errors))]
    ax.semilogy(steps, rate, "--", label=r"$(s_2/s_1)^{4k}$")
    ax.set_ylim(1e-17, 2)
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel(r"relative error of $\Vert W \Vert_2$")
    ax.legend()
    return fig


# ------------------------------------------------------- the explorer, without a kernel


def explorer_windows_figure(
    middle: list[tuple[str, dict]], end: list[tuple[str, dict]]
) -> Figure:
    r"""The window :math:`\Pi_k` of eq. (4) as the histogram explorer draws it, from
    states returned by ``HistogramExplorer.current()``.

    Args:
        middle: ``(label, state)`` pairs for a bin in the middle of the range (left
            panel), e.g. one per bandwidth.
        end: ``(label, state)`` pairs for the last bin (right panel), e.g. one per
            boundary mode.

    The horizontal axis is the distance from the bin's centre in bin widths; the bin's
    own extent is shaded.
    """
    fig = Figure(figsize=(7.5, 3.3), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, states, title in (
        (axes[0], middle, "a bin in the middle of the range"),
        (axes[1], end, "the last bin, at the end +1 of the range"),
    ):
        for label, state in states:
            k, edges = state["kernel_bin"], state["edges"]
            centre, width = (
                float(edges[k] + edges[k + 1]) / 2,
                float(edges[1] - edges[0]),
            )
            offset = (state["kernel_grid"] - centre) / width
            ax.plot(offset, state["kernel"], lw=2, label=label)
        ax.axvspan(-0.5, 0.5, color="0.9")
        ax.set_xlim(-4, 4)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("distance from the bin's centre, in bins")
        ax.legend(fontsize=8, loc="upper left")
    axes[1].axvline(0.5, color="grey", ls=":")
    axes[1].text(0.6, 0.05, "+1", color="grey", fontsize=9)
    axes[0].set_ylabel(r"$\Pi_k(z)$: share of a pixel's mass in bin k")
    return fig


def explorer_view_figure(state: dict, title: str = "") -> Figure:
    """What the histogram explorer displays for one state of ``current()``: the image
    and the reference (masked-out background dimmed), one panel per shown channel with
    the soft histogram over the hard one (as densities), and the readout's numbers."""
    from .color import jis_class

    channels = list(state["channels"])
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=(1, 1.05))
    pictures = top.subplots(1, 3, width_ratios=(1, 1, 1.6))
    for ax, key, name in (
        (pictures[0], "pixels", state["image"]),
        (pictures[1], "reference_pixels", state["reference"]),
    ):
        image = ((state[key][0].permute(1, 2, 0) + 1) / 2).clamp(0, 1)
        weights = state[key.replace("pixels", "weights")]
        if weights is not None:  # dim the masked-out background, as the app does
            image = image * (0.35 + 0.65 * weights[0, 0][..., None])
        ax.imshow(image.numpy())
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    losses = state["losses"]
    mass = ", ".join(f"{m:.3f}" for m in state["mass"].tolist())
    lines = [
        f"K = {state['bins']}, B = {state['bandwidth_ratio']:.3g} L, "
        f"boundary {state['boundary']}",
        f"masks {'on' if state['mask'] else 'off'}",
        f"soft mass per channel: {mass}",
        f"L2 {losses['l2']:.3f}, EMD {losses['emd']:.3f}",
        f"Hellinger {losses['hellinger']:.3f}",
        f"ΔE {state['delta_e']:.1f}, JIS class {jis_class(state['delta_e'])}",
    ]
    pictures[2].axis("off")
    pictures[2].text(
        0, 0.5, "\n".join(lines), va="center", fontsize=8.5, family="monospace"
    )
    panels = bottom.subplots(1, len(channels), sharey=True, squeeze=False)[0]
    edges = state["edges"].numpy()
    width = edges[1] - edges[0]
    centres = (edges[:-1] + edges[1:]) / 2
    colours = ("tab:red", "tab:green", "tab:blue")
    for ax, row, channel in zip(panels, range(len(channels)), channels):
        ax.stairs(
            state["hard"][row] / width, edges, fill=True, color="0.8", label="hard"
        )
        ax.plot(
            centres, state["soft"][row] / width, color=colours[channel], label="soft"
        )
        ax.set_title("RGB"[channel], fontsize=9)
        ax.set_xlabel("value")
    panels[0].set_ylabel("density P(k) / L")
    panels[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
