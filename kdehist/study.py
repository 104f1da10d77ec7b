"""The shading study: what the paper says is lost, on validation and test pairs.

The paper's one stated limitation is that as training goes on, colour improves while the
shading disappears and the colour distribution becomes simple. This module scores the
runs of :data:`kdehist.experiments.STUDY` (Table 2's variants, the λ_hist sweep from 0,
and the attempts to keep shading) with every measure of
:func:`kdehist.evaluate.evaluate_generator`, the shading measures of
:mod:`kdehist.shading` included, on two splits:

- ``val``: validation inputs and references, rendered from their own seeds; every choice
  (a weight, an attempt, which run to show) is made here;
- ``test``: the paper's 28 × 28 test pairs, scored after choosing.

Each run's row holds per split the means over seeds with bootstrap intervals over
inputs, references and seeds; each comparison (a run against the paper's proposed
(both) and proposed (one)) holds the paired bootstrap interval and a Welch interval over
the two runs' seed means, and is called resolved only when both exclude zero
(:func:`compare`).

The attempts to keep shading come with weights to choose from. :func:`choose` picks one
weight per attempt on the validation pairs, from seed 0 alone (one seed per weight), by
the rule of :data:`CHOICE_RULE`; only the chosen weight trains the other seeds.
:func:`goal` then asks, on the test pairs, whether a chosen attempt keeps more relief
than the paper's variants without a resolved loss of colour.

``study.json``, ``study_samples.png`` (seed 0 of the paper's variants and of the chosen
attempts on Figure 3's test pairs, beside the oracle) and the per-pair arrays
(``study/<split>/<run>_seed<k>.npz``) go to the results folder.

    from kdehist.study import study
    study("cpu", results_dir="book/results/cpu")   # or: kdehist study
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .checkpoint import load_generators
from .evaluate import (
    SHADING_METRICS,
    evaluate_generator,
    load_test_set,
    oracle_pairs,
)
from .frontier import path_pairs_name
from .figures import figure3, figure_png
from .experiments import (
    EXPERIMENTS,
    PAPER,
    PATH_LENGTH,
    STUDY,
    experiment_config,
    experiment_steps,
    profile_seeds,
)
from .io import atomic_write_bytes, atomic_write_json
from .profiles import default_device, evaluation_count, runs_dir
from .runs import (
    estimate_runs,
    switched_results,
    check_runs_and_seeds,
    check_writable,
    git_commit,
    host_cpu,
    load_pairs,
    pairs_bytes,
    read_pairs,
    run_folder,
    snapshot_path,
    train_run,
)
from .segment import load_segmenter
from .stats import (
    paired_change,
    paired_difference,
    seed_row,
    t_interval,
    welch_interval,
)

__all__ = [
    "ATTEMPTS",
    "CHOICE_RULE",
    "COLOUR_ALLOWANCE",
    "EXTRA_REFERENCES",
    "MEASURES",
    "PATH",
    "PATH_MEASURES",
    "SPLITS",
    "candidates",
    "choose",
    "chosen_runs",
    "compare",
    "goal",
    "load_study",
    "not_chosen",
    "path_changes",
    "rebuild_study",
    "recheck",
    "study",
    "study_estimate",
    "study_pairs",
    "study_path_pairs",
    "study_results",
    "summarize_study",
]

#: The splits in the order they are used. Choose on ``val``, report on ``test``.
SPLITS = ("val", "test")
#: Every measure of a study row. Colour, silhouette, and shading.
MEASURES = ("delta_e76", "shape_score", *SHADING_METRICS, "ssim", "edge_f1")
#: The training path that the study follows at every checkpoint, proposed (both) at a
#: constant learning rate for :data:`kdehist.experiments.PATH_LENGTH` times the
#: profile's steps, where Table 2's runs decay the rate to zero.
PATH = "constant_lr"
#: The measures whose change along the training path :func:`path_changes` reports.
PATH_MEASURES = ("delta_e76", "relief_input", "relief_oracle", "kneecap_input")
#: The runs every other is compared with. The paper's two conditioned variants.
REFERENCES = (PAPER, "proposed_one")
#: The runs compared with one more run than the references, and with which. The
#: conditioned generator without the histogram loss meets the unconditioned one there,
#: to ask where the colour comes from, and the sweep's two ends meet each other, to ask
#: what the colour weight does to the relief.
EXTRA_REFERENCES = {
    "hist_lambda0": ("cyclegan_sn",),
    "hist_lambda30": ("hist_lambda1",),
}
#: The attempts to keep shading whose weight is chosen on validation, in the registry's
#: ``attempt`` field; each candidate is a study run of that attempt.
ATTEMPTS = ("luminance_structure", "relief")
#: How much more colour error than proposed (both)'s a chosen weight may cost on the
#: validation pairs, as a fraction.
COLOUR_ALLOWANCE = 0.10
#: The rule, in words, that :func:`choose` follows.
CHOICE_RULE = (
    "on the validation pairs and seed 0, the candidate with the highest relief against "
    "the input among those whose mean ΔE76 is at most "
    f"{COLOUR_ALLOWANCE:.0%} above proposed (both)'s; if none is, the one with the "
    "lowest ΔE76"
)


def _scored_steps(name: str, config) -> list[int]:
    """The steps at which the study scores run ``name``: every checkpoint of a training
    path, the final step of any other run."""
    if EXPERIMENTS[name].path:
        return experiment_steps(name, config)
    return [config.steps]


def _score(run: Path, step: int, split: str, scoring: dict, progress: bool) -> dict:
    """The per-pair arrays of ``run``'s snapshot at ``step`` on ``split``, computed
    once and kept beside the snapshot (``pairs_<split>_stepNNNNNN.npz``)."""
    path = run / f"pairs_{split}_step{step:06d}.npz"
    if not path.is_file():
        test, oracle, segmenter = scoring[split]
        G, _, config = load_generators(snapshot_path(run, step))
        _, metrics, _ = evaluate_generator(
            G,
            test,
            config.hist_bins if G.conditioned else None,
            oracle,
            device=default_device(),
            segmenter=segmenter,
            progress=progress,
        )
        atomic_write_bytes(path, pairs_bytes(metrics))
    return read_pairs(path)


def compare(arrays: dict, other: dict, key: str) -> dict:
    """Run ``arrays`` against ``other`` (each ``{seed: {metric: (Nx, Ny)}}``) on
    ``key``: the paired bootstrap difference
    (:func:`kdehist.stats.paired_difference`), the Welch interval over the two runs'
    seed means (:func:`kdehist.stats.welch_interval`), and ``resolved`` only when both
    exclude zero.
    A percentile bootstrap over three seeds under-states how much training varies; the
    Welch interval is as wide as three seeds honestly allow.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = {s: {"x": rng.normal(1.0, 0.1, (4, 4))} for s in range(3)}
    >>> b = {s: {"x": rng.normal(0.0, 0.1, (4, 4))} for s in range(3)}
    >>> compare(a, b, "x")["resolved"], compare(a, {0: b[0]}, "x")["resolved"]
    (True, False)
    """
    a = [arrays[s][key] for s in sorted(arrays)]
    b = [other[s][key] for s in sorted(other)]
    boot = paired_difference(a, b)
    welch = welch_interval([x.mean() for x in a], [x.mean() for x in b])
    return {
        "difference": boot["difference"],
        "ci95": boot["ci95"],
        "welch_ci95": welch["ci95"],
        "bootstrap_resolved": boot["resolved"],
        "resolved": boot["resolved"] and welch["resolved"],
    }


def recheck(folder: str | Path) -> list[dict]:
    """The committed Table 2 and frontier differences again, under :func:`compare`'s
    stricter rule: Table 2's comparisons, each frontier run against the paper's run, and
    the λ_hist sweep's two ends (ΔE76, shape score, SSIM, edge F1), and the training
    path's changes between steps (``steps``; a t-interval of the per-seed changes in
    Welch's place), from the per-pair arrays in ``folder``
    (``kdehist.runs.committed_results("cpu")``).

    Without a ``table2.json`` in ``folder``, Table 2's comparisons are left out.
    Returns one dict per difference: ``a``, ``b``, ``metric`` and :func:`compare`'s
    keys, ``bootstrap_resolved`` being the verdict the bootstrap alone gave.
    """
    folder = Path(folder)
    table2_path = folder / "table2.json"  # absent where only the frontier was made
    table2 = (
        json.loads(table2_path.read_text())
        if table2_path.is_file()
        else {"variants": {}, "comparisons": []}
    )
    front = json.loads((folder / "frontier.json").read_text())
    seeds = {name: row["seeds"] for name, row in table2["variants"].items()}
    seeds.update({row["name"]: row["seeds"] for row in front["runs"]})
    cases = [(c["a"], c["b"], c["metric"]) for c in table2["comparisons"]]
    cases += [
        (row["name"], PAPER, key)
        for row in front["runs"]
        if row["versus_paper"]
        for key in row["versus_paper"]
    ]
    sweep = sorted(
        (row["settings"]["lambda_hist"], row["name"])
        for row in front["runs"]
        if row["attempt"] == "lambda_sweep"
    )
    if len(sweep) > 1:
        ends = (sweep[-1][1], sweep[0][1])
        cases += [
            (*ends, key) for key in ("delta_e76", "shape_score", "ssim", "edge_f1")
        ]
    arrays = {
        name: load_pairs(folder, name, seeds[name])
        for name in {n for a, b, _ in cases for n in (a, b)}
    }
    rows = [
        {"a": a, "b": b, "metric": key, **compare(arrays[a], arrays[b], key)}
        for a, b, key in cases
    ]
    # The training path's changes pair a model with itself at an earlier step: the
    # t-interval of the per-seed changes takes Welch's place.
    for change in front["path_changes"]:
        name, key = change["name"], change["metric"]
        per_seed = [
            float(
                read_pairs(folder / "pairs" / path_pairs_name(name, s, step))[
                    key
                ].mean()
            )
            for s in seeds[name]
            for step in (change["to_step"], change["from_step"])
        ]
        t = t_interval(np.subtract(per_seed[0::2], per_seed[1::2]))
        rows.append(
            {
                "a": name,
                "b": name,
                "metric": key,
                "steps": [change["from_step"], change["to_step"]],
                "difference": change["difference"],
                "ci95": change["ci95"],
                "welch_ci95": t["ci95"],
                "bootstrap_resolved": change["resolved"],
                "resolved": change["resolved"] and t["resolved"],
            }
        )
    return rows


def candidates(attempt: str) -> list[str]:
    """The study runs of ``attempt`` (:data:`ATTEMPTS`), in the registry's order.

    >>> candidates("relief")
    ['relief', 'relief_strong']
    """
    return [name for name in STUDY if EXPERIMENTS[name].attempt == attempt]


def choose(val: dict, seed: int = 0) -> dict:
    """Each attempt's weight, chosen by :data:`CHOICE_RULE` from the validation arrays
    ``val`` (``{run: {seed: {metric: (Nx, Ny)}}}``) of ``seed``.

    Returns ``{attempt: {"candidates": {run: {"delta_e76": ..., "relief_input": ...}},
    "limit": ..., "chosen": run}}`` for each attempt whose candidates and proposed
    (both) all have ``seed`` scored; the others are left out (nothing to choose yet).

    >>> import numpy as np
    >>> def run(de, relief):
    ...     return {0: {"delta_e76": np.full((2, 2), de),
    ...                 "relief_input": np.full((2, 2), relief)}}
    >>> val = {"proposed_both": run(3.0, 0.4), "relief": run(3.2, 0.6),
    ...        "relief_strong": run(3.9, 0.7)}
    >>> choose(val)["relief"]["chosen"]  # the stronger one costs too much colour
    'relief'
    """
    if seed not in val.get(PAPER, {}):
        return {}
    limit = (1 + COLOUR_ALLOWANCE) * float(val[PAPER][seed]["delta_e76"].mean())
    choices = {}
    for attempt in ATTEMPTS:
        names = candidates(attempt)
        if not all(seed in val.get(name, {}) for name in names):
            continue
        scores = {
            name: {
                key: float(val[name][seed][key].mean())
                for key in ("delta_e76", "relief_input")
            }
            for name in names
        }
        within = [name for name in names if scores[name]["delta_e76"] <= limit]
        chosen = (
            max(within, key=lambda n: scores[n]["relief_input"])
            if within
            else min(names, key=lambda n: scores[n]["delta_e76"])
        )
        choices[attempt] = {"candidates": scores, "limit": limit, "chosen": chosen}
    return choices


def chosen_runs(choices: dict) -> list[str]:
    """The run :func:`choose` chose for each attempt, in :data:`ATTEMPTS`' order."""
    return [choices[a]["chosen"] for a in ATTEMPTS if a in choices]


def not_chosen(choices: dict) -> set[str]:
    """The candidates :func:`choose` passed over: they keep their one seed."""
    return {
        name
        for choice in choices.values()
        for name in choice["candidates"]
        if name != choice["chosen"]
    }


def goal(rows: dict, choices: dict) -> dict:
    """Per chosen attempt, whether it meets the goal on one split's rows (the test's):
    against each of the paper's two conditioned variants (``REFERENCES``), relief
    against the input resolvably higher and ΔE76 not resolvably higher; ``met``
    against both. ``stretch``: ΔE76 resolvably lower too, against both."""
    verdicts = {}
    for attempt, choice in choices.items():
        name = choice["chosen"]
        if name not in rows:
            continue
        versus = rows[name]["versus"]
        against = {}
        for ref in REFERENCES:
            if ref not in versus:
                continue
            relief, colour = versus[ref]["relief_input"], versus[ref]["delta_e76"]
            against[ref] = {
                "relief_better": relief["resolved"] and relief["difference"] > 0,
                "colour_worse": colour["resolved"] and colour["difference"] > 0,
                "colour_better": colour["resolved"] and colour["difference"] < 0,
            }
        complete = len(against) == len(REFERENCES)
        verdicts[attempt] = {
            "run": name,
            "against": against,
            "met": complete
            and all(
                v["relief_better"] and not v["colour_worse"] for v in against.values()
            ),
            "stretch": complete
            and all(
                v["relief_better"] and v["colour_better"] for v in against.values()
            ),
        }
    return verdicts


def path_changes(by_seed: dict) -> list[dict]:
    """How each of :data:`PATH_MEASURES` changes along the training path, from its
    first checkpoint after step 1 and from the profile's own length (a
    :data:`kdehist.experiments.PATH_LENGTH`-th of the path) to its end.

    Args:
        by_seed: ``{seed: {step: {metric: (Nx, Ny)}}}``, every seed at the same steps.

    Returns:
        A list with one dict per start and measure, holding ``metric``,
        ``from_step``, ``to_step``, the mean per-pair ``difference`` and its bootstrap
        ``ci95`` (the same model at two steps, so paired by seed, input and reference),
        ``t_ci95`` (a t-interval of the per-seed changes, Welch's place for a model
        against itself) and ``resolved`` when both exclude zero.

    >>> import numpy as np
    >>> seeds = {s: {step: {key: np.full((2, 2), step / 100 + s)
    ...                     for key in PATH_MEASURES} for step in (1, 2, 4, 6)}
    ...          for s in (0, 1)}
    >>> [(c["from_step"], round(c["difference"], 6)) for c in path_changes(seeds)][:2]
    [(2, 0.04), (2, 0.04)]
    """
    steps = sorted(next(iter(by_seed.values())))
    end = steps[-1]
    starts = dict.fromkeys([steps[1], end // PATH_LENGTH]) if len(steps) > 2 else {}
    changes = []
    for start in (s for s in starts if s in steps[:-1]):
        for key in PATH_MEASURES:
            per_pair = [
                arrays[end][key] - arrays[start][key] for arrays in by_seed.values()
            ]
            change = paired_change(per_pair)
            t = t_interval([float(d.mean()) for d in per_pair])
            changes.append(
                {
                    "metric": key,
                    "from_step": start,
                    "to_step": end,
                    **change,
                    "t_ci95": t["ci95"],
                    "resolved": change["resolved"] and t["resolved"],
                }
            )
    return changes


def summarize_study(
    arrays: dict, provenance: dict | None = None, paths: dict | None = None
) -> dict:
    """``study.json`` from per-pair arrays alone: ``{split: {run: {seed: arrays}}}``,
    and the training path's ``paths``: ``{split: {seed: {step: arrays}}}``.

    Returns ``splits`` (per split, per run: ``label``, ``seeds`` and each measure's
    mean, seed means and 95 % interval, plus ``versus``: per reference run (and
    :data:`EXTRA_REFERENCES`') and measure,
    :func:`compare`), ``choices`` (:func:`choose`, on ``val``), ``choice_rule``,
    ``goal`` (:func:`goal`, on ``test``), ``path`` (the :data:`PATH` run's ``name``,
    ``label`` and per split its ``points``, a row per checkpoint with ``step``, and
    ``changes``, :func:`path_changes`), ``measures``, ``references`` and
    ``provenance``.
    """
    splits = {}
    for split, runs in arrays.items():
        rows = {}
        for name, by_seed in runs.items():
            row = {"label": EXPERIMENTS[name].label, **seed_row(by_seed, MEASURES)}
            row["versus"] = {
                ref: {
                    key: compare(by_seed, runs[ref], key)
                    for key in MEASURES
                    if f"{key}_mean" in row
                }
                for ref in (*REFERENCES, *EXTRA_REFERENCES.get(name, ()))
                if ref in runs and ref != name
            }
            rows[name] = row
        splits[split] = rows
    choices = choose(arrays.get("val", {}))
    path = {"name": PATH, "label": EXPERIMENTS[PATH].label, "splits": {}}
    for split, by_seed in (paths or {}).items():
        if by_seed:
            steps = sorted(next(iter(by_seed.values())))
            path["splits"][split] = {
                "points": [
                    {
                        "step": step,
                        **seed_row(
                            {
                                seed: per_step[step]
                                for seed, per_step in by_seed.items()
                            },
                            MEASURES,
                        ),
                    }
                    for step in steps
                ],
                "changes": path_changes(by_seed),
            }
    return {
        "splits": splits,
        "choices": choices,
        "choice_rule": CHOICE_RULE,
        "goal": goal(splits.get("test", {}), choices),
        "path": path,
        "measures": list(MEASURES),
        "references": list(REFERENCES),
        "provenance": provenance or {},
    }


def study(
    profile: str = "cpu",
    out: str | Path | None = None,
    runs: list[str] | None = None,
    results_dir: str | Path | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    train: bool = True,
    progress: bool = True,
    path: bool = True,
) -> dict:
    """Train the missing study runs (with ``train``), score each finished one on the
    validation and test pairs, and write ``study.json``.

    Args:
        profile: a :class:`kdehist.config.TrainConfig` profile.
        out: the run folder, shared with Table 2 and the frontier (default
            ``runs/<profile>``).
        runs: names from :data:`kdehist.experiments.STUDY` (default: all).
        results_dir: also write ``study.json`` and the per-pair arrays
            (:func:`study_pairs`) there.
        seeds: training seeds (default :data:`kdehist.experiments.SEEDS`; the smoke
            profile trains the first only).
        train: train what is missing; ``False`` scores the finished runs only and lists
            the others under ``missing``.
        progress: print progress.
        path: also follow the training path (:data:`PATH`, every seed), scoring each
            of its checkpoints on both splits.

    Returns:
        :func:`summarize_study`'s dict, with ``missing``.
    """
    names, seeds = check_runs_and_seeds(
        runs, seeds, {n: EXPERIMENTS[n] for n in STUDY}, STUDY, profile_seeds(profile)
    )
    out = check_writable(out if out is not None else runs_dir(profile), "out")
    if results_dir is not None:
        results_dir = check_writable(results_dir, "results_dir")
    size = experiment_config(names[0], profile).image_size
    segmenter, _ = load_segmenter(progress=progress)
    scoring = {}
    for split in SPLITS:
        test = load_test_set(size, count=evaluation_count(profile), split=split)
        scoring[split] = (test, oracle_pairs(test), segmenter)
    arrays: dict = {split: {} for split in SPLITS}
    paths: dict = {split: {} for split in SPLITS}
    missing, records = [], {}

    def run_seed(name: str, seed: int) -> None:
        config = experiment_config(name, profile, seed)
        run = run_folder(out, name, seed)
        steps = _scored_steps(name, config)
        if not (train or all(snapshot_path(run, s).is_file() for s in steps)):
            missing.append(f"{name}/seed{seed}")
            return
        records[f"{name}/seed{seed}"] = train_run(
            config, run, progress, steps if name == PATH else None
        )
        for split in SPLITS:
            scores = {s: _score(run, s, split, scoring, progress) for s in steps}
            if name == PATH:
                paths[split][seed] = scores
            else:
                arrays[split].setdefault(name, {})[seed] = scores[config.steps]

    # First seed everywhere, then the choice of each attempt's weight on validation;
    # the candidates passed over keep their one seed.
    for name in names:
        run_seed(name, seeds[0])
    passed_over = not_chosen(choose(arrays["val"], seeds[0]))
    for name in names:
        for seed in seeds[1:]:
            if name not in passed_over:
                run_seed(name, seed)
    for seed in seeds if path else ():
        run_seed(PATH, seed)
    result = summarize_study(
        arrays,
        {"git_commit": git_commit(), "host_cpu": host_cpu(), "runs": records},
        paths,
    )
    result["missing"] = missing
    for folder in [out] + ([results_dir] if results_dir is not None else []):
        atomic_write_json(Path(folder) / "study.json", result)
    if results_dir is not None:
        columns = {  # seed 0 of the paper's variants and of each chosen attempt
            name: snapshot_path(run_folder(out, name, seeds[0]), config.steps)
            for name in [*REFERENCES[::-1], *chosen_runs(result["choices"])]
            if name in arrays["test"] and seeds[0] in arrays["test"][name]
            for config in [experiment_config(name, profile, seeds[0])]
        }
        if columns:
            atomic_write_bytes(
                Path(results_dir) / "study_samples.png",
                figure_png(figure3(columns, scoring["test"][0], oracle=True)),
            )
        for split, by_run in arrays.items():
            for name, by_seed in by_run.items():
                for seed, pairs in by_seed.items():
                    atomic_write_bytes(
                        study_pairs(results_dir, split, name, seed), pairs_bytes(pairs)
                    )
        for split, by_seed in paths.items():
            for seed, per_step in by_seed.items():
                for step, pairs in per_step.items():
                    atomic_write_bytes(
                        study_path_pairs(results_dir, split, seed, step),
                        pairs_bytes(pairs),
                    )
    return result


def study_estimate(profile: str = "cpu", out: str | Path | None = None, measure=True):
    """How long :func:`study` with every run and seed would take, before it starts
    (:func:`kdehist.runs.estimate_runs`): the training steps and the validation
    and test translations still missing under ``out``, the training path's
    checkpoints included. An upper bound: it counts every
    seed of each attempt's weights, though the weights not chosen keep one.

    >>> estimate = study_estimate("smoke", out="no-such-folder", measure=False)
    >>> per_run = len(SPLITS) * evaluation_count("smoke") ** 2
    >>> path_steps = len(experiment_steps(PATH, experiment_config(PATH, "smoke")))
    >>> estimate.runs, estimate.pairs == (estimate.runs - 1 + path_steps) * per_run
    (13, True)
    """
    names, seeds = check_runs_and_seeds(
        None, None, {n: EXPERIMENTS[n] for n in STUDY}, STUDY, profile_seeds(profile)
    )
    configs = {
        (n, s): experiment_config(n, profile, s) for n in [*names, PATH] for s in seeds
    }

    def score_files(run: Path, config) -> list[Path]:
        steps = _scored_steps(run.parent.name, config)
        return [
            run / f"pairs_{split}_step{step:06d}.npz"
            for split in SPLITS
            for step in steps
        ]

    return estimate_runs(profile, configs, out, score_files, measure)


def study_results(profile: str, train: bool = False) -> Path:
    """The results folder holding the ``study.json`` that chapter 10 reads: the
    committed cpu results, or with ``train`` this runtime's own, made first by
    :func:`study` (on Colab the runs go to Google Drive, and a
    :func:`study_estimate` is printed before anything starts)."""

    def make(folder: Path) -> None:
        print(study_estimate(profile))  # before anything starts
        study(profile, results_dir=folder)

    return switched_results(profile, train, make)


def study_pairs(folder: str | Path, split: str, name: str, seed: int) -> Path:
    """Where a results folder keeps a study run's per-pair arrays.

    >>> study_pairs("results", "val", "hist_lambda1", 0).as_posix()
    'results/study/val/hist_lambda1_seed0.npz'
    """
    return Path(folder) / "study" / split / f"{name}_seed{seed}.npz"


def study_path_pairs(folder: str | Path, split: str, seed: int, step: int) -> Path:
    """Where a results folder keeps the training path's per-pair arrays at a step.

    >>> study_path_pairs("results", "test", 1, 125).as_posix()
    'results/study/test/constant_lr_seed1_step000125.npz'
    """
    return Path(folder) / "study" / split / f"{PATH}_seed{seed}_step{step:06d}.npz"


def load_study(folder: str | Path) -> dict:
    """The ``study.json`` in ``folder`` (the committed one:
    ``kdehist.runs.committed_results("cpu")``)."""
    path = Path(folder) / "study.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"folder: expected a study.json written by kdehist.study.study in "
            f"{str(folder)!r}; run `kdehist study` to make one"
        )
    return json.loads(path.read_text())


def rebuild_study(folder: str | Path) -> dict:
    """``study.json`` rebuilt from a results folder's committed per-pair arrays (and
    its recorded ``provenance`` and ``missing``): the check that the json says what its
    arrays say."""
    saved = load_study(folder)
    arrays = {
        split: {
            name: {
                seed: read_pairs(study_pairs(folder, split, name, seed))
                for seed in row["seeds"]
            }
            for name, row in rows.items()
        }
        for split, rows in saved["splits"].items()
    }
    paths = {
        split: {
            seed: {
                point["step"]: read_pairs(
                    study_path_pairs(folder, split, seed, point["step"])
                )
                for point in entry["points"]
            }
            for seed in entry["points"][0]["seeds"]
        }
        for split, entry in saved.get("path", {}).get("splits", {}).items()
    }
    result = summarize_study(arrays, saved["provenance"], paths)
    result["missing"] = saved["missing"]
    return result
