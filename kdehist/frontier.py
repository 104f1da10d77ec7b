"""The shape/colour frontier of chapter 10: runs that trade colour against shape.

The paper's one named limitation: as training goes on, colour fidelity rises while shape
fidelity falls. This module trains and scores the runs that measure that trade-off and
try to move it, and writes ``frontier.json`` beside Table 2:

- a **λ_hist sweep** of ``proposed_both`` (1, 3, 10, 30; λ = 10 is Table 2's run,
  reused);
- the **training path** of ``proposed_both`` at a constant learning rate for three times
  the profile's steps, scored at thirteen checkpoints from step 1;
- **attempts** to move the front, each with the reason it might work
  (:data:`FRONTIER_RUNS`).

Each run is trained with :data:`FRONTIER_SEEDS` and scored like Table 2
(:func:`kdehist.reproduce.evaluate_run`); its row has bootstrap intervals over test
inputs, test references and seeds. The goal (:func:`goal`): a run at JIS class A whose
``shape_score`` is within 5 % of CycleGAN+SN's.

    from kdehist.frontier import frontier
    frontier("cpu", results_dir="book/results/cpu")   # or: python -m kdehist frontier
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .color import jis_class
from .evaluate import bootstrap_ci, bootstrap_difference_ci
from .io import atomic_write_bytes, atomic_write_json
from .profiles import runs_dir

__all__ = [
    "FrontierRun",
    "FRONTIER_RUNS",
    "FRONTIER_SEEDS",
    "best_run",
    "compare_runs",
    "confirmation_summary",
    "frontier",
    "frontier_config",
    "frontier_markdown",
    "frontier_steps",
    "goal",
]

#: The paper's model, which every frontier run is compared with.
PAPER = "proposed_both"
#: Seeds of every frontier run.
FRONTIER_SEEDS = (0, 1)
#: The training path: this many times the profile's steps, at a constant learning rate.
PATH_LENGTH = 3
#: Checkpoints of the training path after step 1: every 125 steps in the cpu profile,
#: Table 2's spacing, so step 500 (where Table 2's runs stop) is one of them.
PATH_EVALUATIONS = 12
#: The goal: a shape score within this fraction of the baseline's.
SHAPE_TOLERANCE = 0.05
#: The goal's colour: JIS class A or finer (a mean ΔE76 below A's upper bound, 3.2).
CLASS_A_OR_FINER = ("AAA", "AA", "A")


@dataclass(frozen=True)
class FrontierRun:
    """One frontier run: ``proposed_both`` with ``settings`` on top of the profile.

    Attributes:
        attempt: ``"lambda_sweep"``, ``"training_path"`` or the attempt's name.
        settings: :class:`kdehist.config.TrainConfig` overrides (with ``lambda_hist``).
        why: the reason for the run, in one sentence (chapter 10 shows it).
        path: train for ``PATH_LENGTH`` times the steps at a constant learning rate and
            score ``PATH_EVALUATIONS`` checkpoints after step 1.
    """

    attempt: str
    settings: dict = field(default_factory=dict)
    why: str = ""
    path: bool = False


#: Every frontier run by name (the λ_hist sweep, the training path and the attempts).
FRONTIER_RUNS: dict[str, FrontierRun] = {
    "hist_lambda1": FrontierRun(
        "lambda_sweep",
        {"lambda_hist": 1.0},
        "A weak colour term: the shape end of the front.",
    ),
    "hist_lambda3": FrontierRun(
        "lambda_sweep", {"lambda_hist": 3.0}, "Between the weak term and the paper's."
    ),
    # λ = 10 is the paper's weight and Table 2's run: its folder is reused.
    "proposed_both": FrontierRun(
        "lambda_sweep",
        {"lambda_hist": 10.0},
        "The paper's weight (Table 2's run).",
    ),
    "hist_lambda30": FrontierRun(
        "lambda_sweep",
        {"lambda_hist": 30.0},
        "A strong colour term: the colour end of the front.",
    ),
    "constant_lr": FrontierRun(
        "training_path",
        {"lambda_hist": 10.0},
        "The paper's claim is about training time: follow one model for three times "
        "as long, with no learning-rate decay to freeze it.",
        path=True,
    ),
    "own_foreground_hist": FrontierRun(
        "own_foreground_histogram",
        {"lambda_hist": 10.0, "hist_mask": "output"},
        "Under the input's mask, painting skin over the background costs the colour "
        "term nothing; under the output's own foreground (the frozen segmenter) a "
        "flooded leg changes the histogram, so colour cannot be bought with shape.",
    ),
    "luminance_structure": FrontierRun(
        "luminance_structure",
        {"lambda_hist": 10.0, "lambda_structure": 1.0},
        "The paper says the shading disappears: keep the input's standardised "
        "luminance gradients, which a change of skin tone or brightness leaves alone.",
    ),
}


def frontier_config(name: str, profile: str = "cpu", seed: int = 0):
    """The :class:`kdehist.config.TrainConfig` of frontier run ``name``.

    >>> frontier_config("hist_lambda3", "smoke").lambda_hist
    3.0
    >>> config = frontier_config("constant_lr", "smoke")
    >>> config.decay_start == config.steps  # a constant learning rate
    True
    """
    from .train import TrainConfig

    if name not in FRONTIER_RUNS:
        raise ValueError(f"name: expected one of {list(FRONTIER_RUNS)}, got {name!r}")
    run = FRONTIER_RUNS[name]
    settings = dict(run.settings)
    if run.path:
        steps = PATH_LENGTH * TrainConfig.from_profile(profile).steps
        settings.update(steps=steps, decay_start=steps)
    return TrainConfig.from_profile(
        profile, variant="proposed_both", seed=seed, **settings
    )


def frontier_steps(name: str, config) -> list[int]:
    """The steps at which run ``name`` is scored: Table 2's four, or the path's
    ``PATH_EVALUATIONS`` after step 1."""
    from .reproduce import evaluation_steps

    if FRONTIER_RUNS[name].path:
        return sorted({1, *evaluation_steps(config.steps, PATH_EVALUATIONS)})
    return evaluation_steps(config.steps)


def _row(arrays: dict[int, dict[str, np.ndarray]]) -> dict:
    seeds = sorted(arrays)
    row: dict = {"seeds": seeds}
    for key in ("delta_e76", "shape_score"):
        per_seed = [arrays[s][key] for s in seeds]
        row[f"{key}_mean"] = float(np.mean([a.mean() for a in per_seed]))
        row[f"{key}_seed_means"] = [float(a.mean()) for a in per_seed]
        row[f"{key}_ci95"] = list(bootstrap_ci(per_seed))
    row["jis_class"] = jis_class(row["delta_e76_mean"])
    return row


def _path_change(
    name: str, by_seed: dict[int, list[dict]], steps: list[int], start: int, end: int
) -> list[dict]:
    """How ΔE76 and the shape score of one run change from step ``start`` to ``end``:
    the mean difference and a bootstrap interval of the per-pair differences (paired
    by seed, input and reference, since it is the same model at two steps)."""
    a, b = steps.index(start), steps.index(end)
    return [
        {
            "name": name,
            "metric": key,
            "from_step": start,
            "to_step": end,
            **_paired_change(
                [arrays[b][key] - arrays[a][key] for arrays in by_seed.values()]
            ),
        }
        for key in ("delta_e76", "shape_score")
    ]


def _paired_change(differences: list[np.ndarray]) -> dict:
    """The mean of per-pair differences (one array per seed) with its bootstrap
    interval, and whether the interval excludes zero."""
    lo, hi = bootstrap_ci(differences)
    return {
        "difference": float(np.mean([d.mean() for d in differences])),
        "ci95": [lo, hi],
        "resolved": not lo <= 0 <= hi,
    }


def _largest_fall(name: str, seed: int, per_step: list[dict], steps: list[int]) -> dict:
    """The largest fall of one seed's mean shape score along its training path, from
    any checkpoint after step 1 to any later one, with ΔE76's change over the same
    steps; both with paired intervals over the per-pair differences. Chosen after
    looking at every pair of checkpoints, so its interval is optimistic."""
    shape = [float(arrays["shape_score"].mean()) for arrays in per_step]
    a, b = max(
        ((i, j) for i in range(1, len(steps)) for j in range(i + 1, len(steps))),
        key=lambda ij: shape[ij[0]] - shape[ij[1]],
    )
    fall = {"name": name, "seed": seed, "from_step": steps[a], "to_step": steps[b]}
    for key in ("shape_score", "delta_e76"):
        before, after = per_step[a][key], per_step[b][key]
        fall[key] = {
            "from": float(before.mean()),
            "to": float(after.mean()),
            **_paired_change([after - before]),
        }
    return fall


def _versus(
    arrays: dict[int, dict[str, np.ndarray]],
    paper: dict[int, dict[str, np.ndarray]] | None,
) -> dict | None:
    """A run against the paper's ``proposed_both`` on the same test pairs: per metric
    the difference of means (run minus paper) and a paired bootstrap interval
    (:func:`kdehist.evaluate.bootstrap_difference_ci`); ``None`` without the paper's
    arrays."""
    if paper is None:
        return None
    versus = {}
    for key in ("delta_e76", "shape_score"):
        a = [arrays[s][key] for s in sorted(arrays)]
        b = [paper[s][key] for s in sorted(paper)]
        lo, hi = bootstrap_difference_ci(a, b)
        versus[key] = {
            "difference": float(
                np.mean([x.mean() for x in a]) - np.mean([x.mean() for x in b])
            ),
            "ci95": [lo, hi],
            "resolved": not lo <= 0 <= hi,
        }
    return versus


def goal(row: dict, baselines: dict[str, dict]) -> dict:
    """Whether ``row`` meets the frontier goal: mean ΔE76 in JIS class A and a mean
    ``shape_score`` within ``SHAPE_TOLERANCE`` of ``baselines["cyclegan_sn"]``'s
    (stretch: of ``baselines["cyclegan"]``'s). With per-seed means
    (``delta_e76_seed_means``, ``shape_score_seed_means``), ``met_by_seed`` says
    whether each seed alone meets it.

    >>> goal({"delta_e76_mean": 3.0, "shape_score_mean": 0.86},
    ...      {"cyclegan_sn": {"shape_score_mean": 0.895}})
    {'class_a': True, 'shape_vs_cyclegan_sn': True, 'met': True}
    >>> goal({"delta_e76_mean": 3.0, "shape_score_mean": 0.90,
    ...       "delta_e76_seed_means": [2.6, 3.4],
    ...       "shape_score_seed_means": [0.95, 0.85]},
    ...      {"cyclegan_sn": {"shape_score_mean": 0.895}})["met_by_seed"]
    [True, False]
    """

    floors = {
        name: (1 - SHAPE_TOLERANCE) * baselines[name]["shape_score_mean"]
        for name in ("cyclegan_sn", "cyclegan")
        if name in baselines
    }

    def meets(de: float, shape: float, of: str) -> bool:
        return bool(
            jis_class(de) in CLASS_A_OR_FINER and of in floors and shape >= floors[of]
        )

    de, shape = row["delta_e76_mean"], row["shape_score_mean"]
    verdict = {"class_a": bool(jis_class(de) in CLASS_A_OR_FINER)}
    for name, floor in floors.items():
        verdict[f"shape_vs_{name}"] = bool(shape >= floor)
    verdict["met"] = meets(de, shape, "cyclegan_sn")
    if "cyclegan" in floors:
        verdict["stretch_met"] = meets(de, shape, "cyclegan")
    if "delta_e76_seed_means" in row:
        verdict["met_by_seed"] = [
            meets(d, s, "cyclegan_sn")
            for d, s in zip(row["delta_e76_seed_means"], row["shape_score_seed_means"])
        ]
    return verdict


def frontier(
    profile: str = "cpu",
    out: str | Path | None = None,
    runs: list[str] | None = None,
    results_dir: str | Path | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    train: bool = True,
    progress: bool = True,
) -> dict:
    """Train the missing frontier runs, score them all, write ``frontier.json``.

    Finished snapshots and scores are reused, so a second call (or a call after a
    disconnect) does only what is missing.

    Args:
        profile: a :class:`kdehist.config.TrainConfig` profile.
        out: the run folder, shared with :func:`kdehist.reproduce.reproduce` (default
            ``runs/<profile>``); run ``name`` with seed ``k`` lives in
            ``out/name/seed<k>``.
        runs: names from :data:`FRONTIER_RUNS` (default: all).
        results_dir: also write ``frontier.json`` and ``pairs/<run>_seed<k>.npz`` there.
        seeds: training seeds (default :data:`FRONTIER_SEEDS`; Table 2's own run,
            ``proposed_both``, keeps Table 2's seeds).
        train: train what is missing (default); ``False`` scores finished runs only and
            lists the others under ``"missing"``.
        progress: print progress.

    Returns:
        The ``frontier.json`` content: ``segmenter``, ``runs`` (one row per run with
        ``name``, ``attempt``, ``why``, ``settings``, ``seeds``, ``delta_e76_mean``,
        ``delta_e76_ci95``, ``shape_score_mean``, ``shape_score_ci95``, ``jis_class``,
        ``goal`` and ``versus_paper``, its paired difference from Table 2's
        ``proposed_both``), ``path`` (the training path's checkpoints, with intervals),
        ``path_changes`` (the path's change in ΔE76 and shape score from its first
        checkpoint after step 1, and from the profile's own length, to its end, with
        intervals), ``path_falls`` (per seed, the largest fall of the shape score
        between two checkpoints after step 1, with ΔE76's change over the same steps),
        ``baselines`` (Table 2's rows in the same run folder, when
        finished, each with its ``goal`` too), ``best``
        (:func:`kdehist.frontier.best_run`), ``named`` (:func:`named_variant`: the
        best run with two or more seeds as a Table 2 row, if it meets the goal),
        ``confirmation`` (the named variant's run with Table 2's remaining seeds,
        trained after it was chosen: ``name``, ``chosen_on``, the finished ``seeds``,
        the ``pending`` ones and whether it is ``still_named``, ``None`` until one is
        trained; ``confirmation`` is ``None`` with explicit ``seeds`` or no named run;
        :func:`confirmation_summary`), ``missing`` and ``provenance``. With
        ``results_dir``, also ``frontier_samples.png``: the best run's translations
        beside the paper's ``proposed_both`` and CycleGAN+SN's, and the per-pair arrays
        of the path's checkpoints (:func:`path_pairs_name`).
    """
    from .reproduce import (
        DEFAULT_RUNS,
        RUNS,
        SEEDS,
        _check_writable,
        _git_commit,
        _npz_bytes,
        _test_set_and_oracle,
        evaluate_run,
        evaluation_steps,
        host_cpu,
        read_pairs,
        run_folder,
        runs_and_seeds,
        snapshot_path,
        train_run,
    )
    from .segment import load_segmenter
    from .train import TrainConfig

    seeds_given = seeds is not None
    names, seeds = runs_and_seeds(
        runs, seeds, FRONTIER_RUNS, FRONTIER_RUNS, FRONTIER_SEEDS
    )
    # Table 2's own run (λ = 10) keeps Table 2's seeds, so both tables show one row.
    run_seeds = {
        n: list(SEEDS) if n in RUNS and not seeds_given else seeds for n in names
    }
    out = _check_writable(out if out is not None else runs_dir(profile), "out")
    if results_dir is not None:
        results_dir = _check_writable(results_dir, "results_dir")
    configs = {
        (n, s): frontier_config(n, profile, s) for n in names for s in run_seeds[n]
    }
    size = next(iter(configs.values())).image_size
    test, oracle = _test_set_and_oracle(profile, size, out)
    segmenter, segmenter_record = load_segmenter(progress=progress)

    def finished(name: str, seed: int, steps: list[int]) -> bool:
        run = run_folder(out, name, seed)
        return all(snapshot_path(run, step).is_file() for step in steps)

    finals: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    paths: dict[str, dict[int, list[dict[str, np.ndarray]]]] = {}
    missing, records = [], {}

    def score(name: str, seed: int) -> None:
        """Train (if ``train``) and score one seed of one run into ``finals``."""
        config = configs.setdefault((name, seed), frontier_config(name, profile, seed))
        steps = frontier_steps(name, config)
        run = run_folder(out, name, seed)
        if not (train or finished(name, seed, steps)):
            missing.append(f"{name}/seed{seed}")
            return
        records[f"{name}/seed{seed}"] = train_run(config, run, progress, steps=steps)
        _, final = evaluate_run(run, steps, test, oracle, segmenter, progress)
        finals.setdefault(name, {})[seed] = final
        if FRONTIER_RUNS[name].path:
            paths.setdefault(name, {})[seed] = [
                read_pairs(run / f"pairs_step{step:06d}.npz") for step in steps
            ]

    for name, seed in list(configs):
        score(name, seed)

    # Table 2's variants, on the same axes, with every seed of theirs that is finished.
    baselines: dict[str, dict] = {}
    baseline_arrays: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for name in DEFAULT_RUNS:
        config = TrainConfig.from_profile(profile, **RUNS[name])
        steps = evaluation_steps(config.steps)
        done = [s for s in SEEDS if finished(name, s, steps)]  # Table 2's seeds
        arrays = {}
        for seed in done:
            pairs = run_folder(out, name, seed) / f"pairs_step{steps[-1]:06d}.npz"
            if pairs.is_file():
                arrays[seed] = read_pairs(pairs)
        if arrays:
            baselines[name] = _row(arrays)
            baseline_arrays[name] = arrays

    for row in baselines.values():
        row["goal"] = goal(row, baselines)

    def frontier_rows() -> list[dict]:
        rows = []
        for name in names:
            if name not in finals:
                continue
            row = _row(finals[name])
            run = FRONTIER_RUNS[name]
            settings = {
                **run.settings,
                "steps": configs[(name, run_seeds[name][0])].steps,
            }
            rows.append(
                {
                    "name": name,
                    "attempt": run.attempt,
                    "why": run.why,
                    "settings": settings,
                    **row,
                    "goal": goal(row, baselines),
                    "versus_paper": None
                    if name == PAPER
                    else _versus(finals[name], baseline_arrays.get(PAPER)),
                }
            )
        return rows

    rows = frontier_rows()
    named = named_variant(rows, finals)
    # The named variant is chosen on FRONTIER_SEEDS. Table 2's remaining seeds, trained
    # only after the choice, then confirm or undo it, so that the variant rests on as
    # many seeds as the paper's rows and on seeds that played no part in choosing it.
    confirmation = None
    if named is not None and not seeds_given:
        chosen = named["name"]
        extra = [s for s in SEEDS if s not in run_seeds[chosen]]
        for seed in extra:
            score(chosen, seed)
        confirmation = {
            "name": chosen,
            "chosen_on": list(run_seeds[chosen]),
            "seeds": [s for s in extra if s in finals[chosen]],
            "pending": [s for s in extra if s not in finals[chosen]],
            "still_named": None,  # until a confirming seed is trained
        }
        if confirmation["seeds"]:
            rows = frontier_rows()
            named = named_variant(rows, finals)
            confirmation["still_named"] = named is not None and named["name"] == chosen
    path, path_changes, path_falls = [], [], []
    for name, by_seed in paths.items():
        steps = frontier_steps(name, configs[(name, run_seeds[name][0])])
        for index, step in enumerate(steps):
            row = _row({seed: arrays[index] for seed, arrays in by_seed.items()})
            path.append({"name": name, "step": step, **row})
        profile_steps = TrainConfig.from_profile(profile).steps
        for start in dict.fromkeys([steps[1], profile_steps]):
            if start in steps[:-1]:
                path_changes += _path_change(name, by_seed, steps, start, steps[-1])
        path_falls += [
            _largest_fall(name, seed, per_step, steps)
            for seed, per_step in by_seed.items()
            if len(steps) > 2
        ]
    result = {
        "profile": profile,
        "segmenter": {
            k: segmenter_record[k]
            for k in ("heldout_iou", "version")
            if k in segmenter_record
        },
        "goal": {
            "jis_class": list(CLASS_A_OR_FINER),
            "shape_score_within": SHAPE_TOLERANCE,
            "of": "cyclegan_sn",
            "stretch_of": "cyclegan",
        },
        "runs": rows,
        "path": path,
        "path_changes": path_changes,
        "path_falls": path_falls,
        "baselines": baselines,
        "best": best_run(rows),
        "named": named,
        "confirmation": confirmation,
        "missing": missing,
        "provenance": {
            "git_commit": _git_commit(),
            "host_cpu": host_cpu(),
            "runs": records,
        },
    }
    folders = [out] + ([results_dir] if results_dir is not None else [])
    for folder in folders:
        atomic_write_json(Path(folder) / "frontier.json", result)
    shown = [result["best"], PAPER, "cyclegan_sn"]
    if results_dir is not None and result["best"] is not None:
        from .figures import figure3, png_bytes

        columns = {}
        for name in dict.fromkeys(shown):  # the best run may be proposed_both itself
            config = configs.get((name, min(run_seeds.get(name, SEEDS))))
            if config is None:  # a Table 2 variant that is not a frontier run
                config = TrainConfig.from_profile(profile, **RUNS[name])
            done = [s for s in SEEDS if finished(name, s, [config.steps])]
            if done:
                columns[name] = snapshot_path(
                    run_folder(out, name, done[0]), config.steps
                )
        atomic_write_bytes(
            Path(results_dir) / "frontier_samples.png",
            png_bytes(figure3(columns, test)),
        )
    if results_dir is not None:
        for name, by_seed in finals.items():
            for seed, arrays in by_seed.items():
                atomic_write_bytes(
                    Path(results_dir) / "pairs" / f"{name}_seed{seed}.npz",
                    _npz_bytes(arrays),
                )
        # The path's checkpoints too, so that its changes can be recomputed.
        for name, by_seed in paths.items():
            steps = frontier_steps(name, configs[(name, run_seeds[name][0])])
            for seed, per_step in by_seed.items():
                for step, arrays in zip(steps, per_step):
                    atomic_write_bytes(
                        Path(results_dir) / "pairs" / path_pairs_name(name, seed, step),
                        _npz_bytes(arrays),
                    )
    return result


def path_pairs_name(name: str, seed: int, step: int) -> str:
    """The file of a training path's per-pair arrays at one checkpoint.

    >>> path_pairs_name("constant_lr", 0, 125)
    'constant_lr_seed0_step000125.npz'
    """
    return f"{name}_seed{seed}_step{step:06d}.npz"


def best_run(rows: list[dict]) -> str | None:
    """The frontier run closest to the goal: of the runs at JIS class A or finer, the
    one with the highest mean shape score; if none is, the one with the lowest mean
    ΔE76.

    >>> best_run([{"name": "a", "delta_e76_mean": 2.0, "shape_score_mean": 0.80},
    ...           {"name": "b", "delta_e76_mean": 3.1, "shape_score_mean": 0.90},
    ...           {"name": "c", "delta_e76_mean": 9.0, "shape_score_mean": 0.99}])
    'b'
    >>> best_run([{"name": "c", "delta_e76_mean": 9.0, "shape_score_mean": 0.99}])
    'c'
    """
    if not rows:
        return None
    class_a = [r for r in rows if jis_class(r["delta_e76_mean"]) in CLASS_A_OR_FINER]
    if class_a:
        return max(class_a, key=lambda r: r["shape_score_mean"])["name"]
    return min(rows, key=lambda r: r["delta_e76_mean"])["name"]


def named_variant(
    rows: list[dict], finals: dict[str, dict[int, dict[str, np.ndarray]]]
) -> dict | None:
    """The frontier's named variant: of the runs with at least two seeds (one seed is
    an anecdote), the best (:func:`best_run`), if it meets the goal on its means and
    is not the paper's own run. Returned as a Table 2 row
    (:func:`kdehist.reproduce.summarize_seeds` of its per-pair arrays, with every
    metric Table 2 has) plus its ``name``, ``label``, ``settings``, ``goal`` (with
    ``met_by_seed``) and ``versus_paper``; ``None``
    if no such run meets the goal. Chapter 9's Table 2 and the README show it beside
    the paper's variants (:func:`kdehist.reproduce.table2_markdown`)."""
    from .figures import LABELS
    from .reproduce import summarize_seeds

    seeded = [r for r in rows if len(r["seeds"]) >= 2 and r["name"] != PAPER]
    best = best_run(seeded)
    row = next((r for r in seeded if r["name"] == best), None)
    if row is None or not row["goal"]["met"]:
        return None
    return {
        "name": best,
        "label": LABELS.get(best, best),
        "settings": row["settings"],
        "goal": row["goal"],
        "versus_paper": row["versus_paper"],
        **summarize_seeds(finals[best]),
    }


def named_summary(front: dict) -> str:
    """What the named variant of a ``frontier.json`` (:func:`named_variant`) is, how it
    differs from the paper's run, paired on the same test pairs, and what the seeds
    trained after choosing it say (:func:`confirmation_summary`): the README's and
    chapter 9's paragraph under Table 2."""
    named = front["named"]
    run = FRONTIER_RUNS[named["name"]]
    steps = f"{named['settings']['steps']} steps"
    settings = [steps + (" at a constant learning rate" if run.path else "")]
    symbols = {"lambda_hist": "λ_hist", "lambda_structure": "λ_structure"}
    settings += [
        f"{symbols.get(key, key)} = {value:g}"
        if isinstance(value, float)
        else f"{key} = {value}"
        for key, value in run.settings.items()
    ]
    versus = named["versus_paper"]

    def change(key: str, digits: int) -> str:
        lo, hi = versus[key]["ci95"]
        resolved = "resolved" if versus[key]["resolved"] else "not resolved"
        return (
            f"{versus[key]['difference']:+.{digits}f} "
            f"[{lo:+.{digits}f}, {hi:+.{digits}f}], {resolved}"
        )

    seeds = len(named["seeds"])
    return (
        f"The row marked ours is not the paper's: {named['name']}, the frontier run "
        f"(chapter 10) that meets the goal of JIS class A with a shape score within "
        f"{SHAPE_TOLERANCE * 100:g} % of CycleGAN + SN's. It is proposed_both with "
        + ", ".join(settings)
        + f"; {seeds} seed{'s' * (seeds > 1)}. Paired against the paper's "
        f"proposed_both on the same test pairs: ΔE76 {change('delta_e76', 2)}; shape "
        f"score {change('shape_score', 3)}. Seed by seed, "
        + seeds_alone(named)
        + " "
        + confirmation_summary(front)
    ).rstrip()


def listing(items) -> str:
    """Items in prose: ``a``, ``a and b``, ``a, b and c``.

    >>> listing([0, 1, 2]), listing(["hist_lambda3"])
    ('0, 1 and 2', 'hist_lambda3')
    """
    words = [str(item) for item in items]
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def confirmation_summary(front: dict) -> str:
    """What the seeds trained after the named variant was chosen say about the choice
    (``front["confirmation"]``, written by :func:`frontier`): a sentence, or ``""``
    when no run was named.

    >>> front = {"confirmation": {"name": "b", "chosen_on": [0, 1], "seeds": [2],
    ...                           "pending": [], "still_named": True}}
    >>> for sentence in confirmation_summary(front).split(". "):
    ...     print(sentence)
    b was chosen on seeds 0 and 1
    Seed 2, trained only after that choice, confirms it: b stays the named variant.
    """
    confirmation = front.get("confirmation")
    if not confirmation:
        return ""
    name = confirmation["name"]

    plural = "s" * (len(confirmation["chosen_on"]) > 1)
    text = f"{name} was chosen on seed{plural} {listing(confirmation['chosen_on'])}."
    pending, trained = confirmation["pending"], confirmation["seeds"]
    waiting = (
        f" Seed{'s' * (len(pending) > 1)} {listing(pending)}, which would confirm or "
        "undo it, " + ("are" if len(pending) > 1 else "is") + " not trained yet."
    )
    if not trained:
        return text + waiting
    # Each seed's own verdict is in seeds_alone's sentence; this says what they decided.
    one = len(trained) == 1
    text += (
        f" Seed{'s' * (not one)} {listing(trained)}, trained only after that choice, "
        + ("confirm" if confirmation["still_named"] else "undo")
        + ("s" if one else "")
        + " it: "
    )
    if confirmation["still_named"]:
        text += f"{name} stays the named variant."
    else:
        now = front.get("named")
        text += f"{name} is no longer the named variant" + (
            f"; {now['name']} is." if now else "; no run is named now."
        )
    return text + (waiting if pending else "")


def seeds_alone(row: dict) -> str:
    """Which seeds of a scored run (a ``frontier.json`` row, or its ``named``) meet the
    goal on their own, with their means: the rest of a sentence.

    >>> text = seeds_alone({"seeds": [0, 1], "delta_e76_seed_means": [2.65, 3.43],
    ...                     "shape_score_seed_means": [0.954, 0.858],
    ...                     "goal": {"met": True, "met_by_seed": [True, False]}})
    >>> print(text.split(":")[0])
    seed 0 (ΔE76 2.65, shape 0.954) meets it; seed 1 (ΔE76 3.43, shape 0.858) misses it
    >>> text.endswith("met on the mean over seeds, not by every model.")
    True
    """
    alone = [
        f"seed {seed} (ΔE76 {de:.2f}, shape {shape:.3f}) "
        + ("meets it" if met else "misses it")
        for seed, de, shape, met in zip(
            row["seeds"],
            row["delta_e76_seed_means"],
            row["shape_score_seed_means"],
            row["goal"]["met_by_seed"],
        )
    ]
    met = sum(row["goal"]["met_by_seed"])
    if met == len(alone):
        ending = ": every seed meets the goal on its own."
    elif row["goal"]["met"]:
        ending = (
            f": {met} of {len(alone)} seeds meet the goal on their own, so it is met "
            "on the mean over seeds, not by every model."
        )
    else:
        ending = f": {met} of {len(alone)} seeds meet the goal on their own."
    return "; ".join(alone) + ending


def frontier_markdown(
    front: dict, baselines: bool = False, differences: bool = True
) -> str:
    """The frontier's scored runs as a Markdown table (the README's and chapter 10's):
    per run its λ_hist, steps, seeds, ΔE76 and shape score with 95 % intervals, JIS
    class and goal; ``differences`` adds the paired difference from the paper's
    ``proposed_both``, ``baselines`` Table 2's variants. The runs not trained yet
    follow the table."""
    from .figures import LABELS

    def interval(mean: float, ci: list[float], digits: int, sign: str = "") -> str:
        lo, hi = ci
        return f"{mean:{sign}.{digits}f} [{lo:{sign}.{digits}f}, {hi:{sign}.{digits}f}]"

    def cells(name: str, row: dict, settings: dict | None) -> list[str]:
        versus = row.get("versus_paper")
        out = [
            name,
            f"{settings['lambda_hist']:g}" if settings else "–",
            str(settings["steps"]) if settings else "–",
            str(len(row["seeds"])),
            interval(row["delta_e76_mean"], row["delta_e76_ci95"], 2),
            row["jis_class"],
            interval(row["shape_score_mean"], row["shape_score_ci95"], 3),
        ]
        for key, digits in (
            (("delta_e76", 2), ("shape_score", 3)) if differences else ()
        ):
            out.append(
                interval(versus[key]["difference"], versus[key]["ci95"], digits, "+")
                if versus
                else "–"
            )
        verdict = "met" if row["goal"]["met"] else "not met"
        by_seed = row["goal"].get("met_by_seed", [])
        if len(by_seed) > 1:  # a mean can meet it while a seed misses it
            verdict += f" ({sum(by_seed)}/{len(by_seed)} seeds)"
        return out + [verdict]

    head = ["run", "λ_hist", "steps", "seeds", "ΔE76 [95 % CI]", "JIS class"]
    head += ["shape score [95 % CI]"]
    head += ["ΔE76 − paper's", "shape − paper's"] if differences else []
    head += ["goal"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in front["runs"]:
        lines.append(
            "| " + " | ".join(cells(f"`{row['name']}`", row, row["settings"])) + " |"
        )
    shown = {row["name"] for row in front["runs"]}
    for name, row in front["baselines"].items() if baselines else ():
        if name not in shown:  # Table 2's own run is the sweep's λ_hist = 10
            label = f"{LABELS.get(name, name)} (Table 2)"
            lines.append("| " + " | ".join(cells(label, row, None)) + " |")
    missing = ", ".join(front["missing"]) or "none"
    return "\n".join(lines) + f"\n\nNot trained yet: {missing}."


def compare_runs(folder: str | Path, name: str, other: str) -> dict:
    """Frontier run ``name`` against run ``other`` on the same test pairs, from the
    per-pair arrays that :func:`frontier` wrote to ``folder/pairs``: per metric
    (``delta_e76``, ``shape_score``) the difference of means (``name`` minus
    ``other``), its paired 95 % bootstrap interval over inputs, references and seeds,
    and whether the interval excludes zero. Both runs' rows must be in the folder's
    ``frontier.json``, with their seeds.

    Raises:
        ValueError: ``name`` or ``other`` is not a scored run of the folder.
    """
    from .reproduce import read_pairs

    rows = {row["name"]: row for row in load_frontier(folder)["runs"]}
    arrays = {}
    for argument, run in (("name", name), ("other", other)):
        if run not in rows:
            raise ValueError(
                f"{argument}: expected a scored run of {str(folder)!r} "
                f"({', '.join(rows)}), got {run!r}"
            )
        arrays[run] = {
            seed: read_pairs(Path(folder) / "pairs" / f"{run}_seed{seed}.npz")
            for seed in rows[run]["seeds"]
        }
    return _versus(arrays[name], arrays[other])


def load_frontier(folder: str | Path) -> dict:
    """The ``frontier.json`` in ``folder``, e.g.
    ``kdehist.reproduce.committed_results("cpu")``."""
    path = Path(folder) / "frontier.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"folder: expected a frontier.json written by kdehist.frontier.frontier in "
            f"{str(folder)!r}; run `python -m kdehist frontier` to make one"
        )
    return json.loads(path.read_text())
