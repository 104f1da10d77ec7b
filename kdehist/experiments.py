"""The registry of experiments, as data: every run the book trains, in one place.

An :class:`Experiment` names a run's variant, its :class:`kdehist.config.TrainConfig`
overrides, the label and colour the book shows it with, the reason it exists and, for
Table 2's rows, the paper's number. :func:`experiment_config` turns one into the
config of a seed, and :func:`experiment_steps` gives the steps at which it is scored.
Table 2 (:mod:`kdehist.reproduce`) and the shape/colour frontier
(:mod:`kdehist.frontier`) both read it; nothing here trains or scores.

>>> EXPERIMENTS["hist_lambda3"].label
'proposed (both), λ_hist 3'
>>> experiment_config("hist_lambda3", "smoke").lambda_hist
3.0
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._checks import check_choice
from .config import TrainConfig
from .profiles import PROFILES

__all__ = [
    "Experiment",
    "EXPERIMENTS",
    "TABLE2",
    "FRONTIER",
    "STUDY",
    "PAPER",
    "SEEDS",
    "FRONTIER_SEEDS",
    "EVALUATIONS",
    "PATH_LENGTH",
    "PATH_EVALUATIONS",
    "colour",
    "evaluation_steps",
    "experiment_config",
    "experiment_steps",
    "label",
    "profile_seeds",
]


@dataclass(frozen=True)
class Experiment:
    """One run of the book: a variant with settings on top of a profile.

    Attributes:
        label: the name the book shows (tables, legends, prose).
        colour: its colour in every figure (one per run, the whole book over).
        variant: a name of ``kdehist.models.VARIANTS``.
        settings: :class:`kdehist.config.TrainConfig` overrides.
        attempt: what the run is for: ``"table2"`` (a row of the paper's Table 2),
            ``"lambda_sweep"``, ``"training_path"`` or an attempt's name.
        why: the reason for the run, in one sentence.
        paper_delta_e: the paper's mean ΔE for Table 2's rows, else ``None``.
        path: train for :data:`PATH_LENGTH` times the profile's steps at a constant
            learning rate and score :data:`PATH_EVALUATIONS` checkpoints after step 1.
    """

    label: str
    colour: str
    variant: str = "proposed_both"
    settings: dict = field(default_factory=dict)
    attempt: str = "table2"
    why: str = ""
    paper_delta_e: float | None = None
    path: bool = False


#: Every run, by name. Table 2's four variants come first, in the paper's order, then
#: the concatenation variant of chapter 7, the λ_hist sweep, the path and the attempts.
EXPERIMENTS: dict[str, Experiment] = {
    "cyclegan": Experiment(
        "CycleGAN", "#6d4c41", "cyclegan", why="The baseline.", paper_delta_e=14.1
    ),
    "cyclegan_sn": Experiment(
        "CycleGAN + SN",
        "#f9a825",
        "cyclegan_sn",
        why="Spectral normalisation alone.",
        paper_delta_e=13.7,
    ),
    "proposed_one": Experiment(
        "proposed (one)",
        "#1e88e5",
        "proposed_one",
        why="Only G (simulator → real) is colour-conditioned.",
        paper_delta_e=5.0,
    ),
    "proposed_both": Experiment(
        "proposed (both)",
        "#d81b60",
        "proposed_both",
        {"lambda_hist": 10.0},
        why="G and F are both colour-conditioned: the paper's weight, λ_hist = 10.",
        paper_delta_e=4.6,
    ),
    "proposed_both_concat": Experiment(
        "proposed (both, concat)",
        "#5e35b1",
        "proposed_both",
        {"condition": "concat"},
        attempt="conditioning",
        why="Concatenation instead of FiLM for the colour condition (chapter 7).",
    ),
    "hist_lambda0": Experiment(
        "proposed (both), λ_hist 0",
        "#90a4ae",
        settings={"lambda_hist": 0.0},
        attempt="lambda_sweep",
        why="The conditioned generator without the histogram loss: does the colour "
        "come from the conditioning or from the loss?",
    ),
    "hist_lambda1": Experiment(
        "proposed (both), λ_hist 1",
        "#00acc1",
        settings={"lambda_hist": 1.0},
        attempt="lambda_sweep",
        why="A weak colour term: the shape end of the front.",
    ),
    "hist_lambda3": Experiment(
        "proposed (both), λ_hist 3",
        "#00796b",
        settings={"lambda_hist": 3.0},
        attempt="lambda_sweep",
        why="Between the weak term and the paper's.",
    ),
    "hist_lambda30": Experiment(
        "proposed (both), λ_hist 30",
        "#b71c1c",
        settings={"lambda_hist": 30.0},
        attempt="lambda_sweep",
        why="A strong colour term: the colour end of the front.",
    ),
    "constant_lr": Experiment(
        "proposed (both), 3× steps, constant rate",
        "#8e24aa",
        settings={"lambda_hist": 10.0},
        attempt="training_path",
        why="The paper's claim is about training time: follow one model for three "
        "times as long, with no learning-rate decay to freeze it.",
        path=True,
    ),
    "own_foreground_hist": Experiment(
        "proposed (both), own-foreground histogram",
        "#ef6c00",
        settings={"lambda_hist": 10.0, "hist_mask": "output"},
        attempt="own_foreground_histogram",
        why="Under the input's mask, painting skin over the background costs the "
        "colour term nothing; under the output's own foreground (the frozen segmenter) "
        "a flooded leg changes the histogram, so colour cannot be bought with shape.",
    ),
    "luminance_structure": Experiment(
        "proposed (both), + luminance structure",
        "#2e7d32",
        settings={"lambda_hist": 10.0, "lambda_structure": 1.0},
        attempt="luminance_structure",
        why="The paper says the shading disappears: keep the input's standardised "
        "luminance gradients, which a change of skin tone or brightness leaves alone.",
    ),
    "luminance_structure_weak": Experiment(
        "proposed (both), + luminance structure 0.3",
        "#81c784",
        settings={"lambda_hist": 10.0, "lambda_structure": 0.3},
        attempt="luminance_structure",
        why="The luminance-structure attempt at a third of the weight, for a choice of "
        "weight on the validation pairs.",
    ),
    "relief": Experiment(
        "proposed (both), + relief",
        "#6a1b9a",
        settings={"lambda_hist": 10.0, "lambda_relief": 1.0},
        attempt="relief",
        why="Keep what the shading measure reads: the correlation of the input's and "
        "the translation's luminance relief inside the leg, which a colour histogram "
        "leaves free.",
    ),
    "relief_strong": Experiment(
        "proposed (both), + relief 3",
        "#ce93d8",
        settings={"lambda_hist": 10.0, "lambda_relief": 3.0},
        attempt="relief",
        why="The relief attempt at three times the weight, for a choice of weight on "
        "the validation pairs.",
    ),
}

#: Table 2's rows, in the paper's order.
TABLE2 = ("cyclegan", "cyclegan_sn", "proposed_one", "proposed_both")
#: The shape/colour frontier's runs (λ_hist = 10 is Table 2's own run).
FRONTIER = (
    "hist_lambda1",
    "hist_lambda3",
    "proposed_both",
    "hist_lambda30",
    "constant_lr",
    "own_foreground_hist",
    "luminance_structure",
)
#: The runs of the shading study of chapters 9 and 10. Table 2's variants, the λ_hist
#: sweep from 0, and the attempts to keep shading, scored on validation and test pairs.
#: The own-foreground histogram guards the silhouette, not the shading, so it stays in
#: the frontier only.
STUDY = (
    *TABLE2,
    "hist_lambda0",
    "hist_lambda1",
    "hist_lambda3",
    "hist_lambda30",
    "luminance_structure",
    "luminance_structure_weak",
    "relief",
    "relief_strong",
)
#: The paper's model, which every frontier run is compared with.
PAPER = "proposed_both"
#: Seeds of Table 2's rows (and of the frontier's λ_hist = 10, which is one of them).
SEEDS = (0, 1, 2)
#: Seeds of the other frontier runs.
FRONTIER_SEEDS = (0, 1)
#: How many evaluations along each training run (the last at the final step).
EVALUATIONS = 4
#: How many times the profile's steps the training path trains, at a constant rate.
PATH_LENGTH = 3
#: How many checkpoints of the training path are scored after step 1. In the cpu
#: profile, one every 125 steps (Table 2's spacing), so step 500 is one of them.
PATH_EVALUATIONS = 12


def _check_name(name: str) -> Experiment:
    check_choice("name", name, tuple(EXPERIMENTS))
    return EXPERIMENTS[name]


def label(name: str) -> str:
    """The display name of a run (the name itself for one not in the registry).

    >>> label("cyclegan_sn"), label("mine")
    ('CycleGAN + SN', 'mine')
    """
    return EXPERIMENTS[name].label if name in EXPERIMENTS else name


def colour(name: str) -> str:
    """The colour of a run in every figure (grey for one not in the registry)."""
    return EXPERIMENTS[name].colour if name in EXPERIMENTS else "#757575"


def profile_seeds(profile: str, seeds: tuple[int, ...] = SEEDS) -> tuple[int, ...]:
    """The seeds a profile trains by default: ``seeds``, or only the first in the
    ``smoke`` profile, whose runs exercise the code rather than measure anything.

    >>> profile_seeds("cpu"), profile_seeds("smoke"), profile_seeds("cpu", (0, 1))
    ((0, 1, 2), (0,), (0, 1))
    """
    check_choice("profile", profile, PROFILES)
    return tuple(seeds[:1]) if profile == "smoke" else tuple(seeds)


def evaluation_steps(total: int, count: int = EVALUATIONS) -> list[int]:
    """``count`` evenly spaced steps ending at ``total`` (fewer when ``total`` is
    small).

    >>> evaluation_steps(500), evaluation_steps(2)
    ([125, 250, 375, 500], [1, 2])
    """
    return sorted({max(1, round(total * (k + 1) / count)) for k in range(count)})


def experiment_config(name: str, profile: str = "cpu", seed: int = 0):
    """The :class:`kdehist.config.TrainConfig` of run ``name`` with ``seed``.

    >>> config = experiment_config("constant_lr", "smoke")
    >>> config.decay_start == config.steps  # a constant learning rate
    True
    """
    experiment = _check_name(name)
    settings = dict(experiment.settings)
    if experiment.path:
        steps = PATH_LENGTH * TrainConfig.from_profile(profile).steps
        settings.update(steps=steps, decay_start=steps)
    return TrainConfig.from_profile(
        profile, variant=experiment.variant, seed=seed, **settings
    )


def experiment_steps(name: str, config) -> list[int]:
    """The steps at which run ``name`` is scored: :func:`evaluation_steps`, or the
    path's step 1 and :data:`PATH_EVALUATIONS` checkpoints.

    >>> experiment_steps("constant_lr", experiment_config("constant_lr", "cpu"))[:3]
    [1, 125, 250]
    """
    if _check_name(name).path:
        return sorted({1, *evaluation_steps(config.steps, PATH_EVALUATIONS)})
    return evaluation_steps(config.steps)
