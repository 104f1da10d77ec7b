"""The shape/colour frontier of chapter 10: runs that trade colour against shape.

The paper's one named limitation: as training goes on, colour fidelity rises while shape
fidelity falls. This module trains and scores the runs that measure that trade-off and
try to move it (:data:`kdehist.experiments.FRONTIER`), and writes ``frontier.json``
beside Table 2:

- a **λ_hist sweep** of ``proposed_both`` (1, 3, 10, 30; λ = 10 is Table 2's run,
  reused);
- the **training path** of ``proposed_both`` at a constant learning rate for three times
  the profile's steps, scored at thirteen checkpoints from step 1;
- **attempts** to move the front, each with the reason it might work.

Each run is scored like Table 2 (:func:`kdehist.runs.evaluate_run`); its row has
bootstrap intervals over test inputs, test references and seeds, and its paired
difference from the paper's ``proposed_both``. :func:`summarize_frontier` builds the
whole ``frontier.json`` from per-pair arrays alone, so the committed one can be rebuilt
from the committed arrays.

    from kdehist.frontier import frontier
    frontier("cpu", results_dir="book/results/cpu")   # or: kdehist frontier
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .color import jis_class
from .config import TrainConfig
from .experiments import (
    EXPERIMENTS,
    FRONTIER,
    FRONTIER_SEEDS,
    PAPER,
    TABLE2,
    evaluation_steps,
    experiment_config,
    experiment_steps,
    profile_seeds,
)
from .figures import figure3, figure_png
from .io import atomic_write_bytes, atomic_write_json
from .profiles import runs_dir
from .runs import (
    estimate_runs,
    switched_results,
    pairs_bytes,
    check_runs_and_seeds,
    check_writable,
    evaluate_run,
    git_commit,
    host_cpu,
    load_pairs,
    read_pairs,
    run_folder,
    snapshot_path,
    scoring_set_and_oracle,
    train_run,
    write_pairs,
)
from .segment import load_segmenter
from .stats import paired_change, paired_difference, seed_row

__all__ = [
    "FRONTIER_RUNS",
    "SAMPLES",
    "compare_runs",
    "frontier",
    "frontier_estimate",
    "frontier_results",
    "load_frontier",
    "path_pairs_name",
    "rebuild_frontier",
    "summarize_frontier",
]

#: Every frontier run by name (the λ_hist sweep, the training path and the attempts).
FRONTIER_RUNS = {name: EXPERIMENTS[name] for name in FRONTIER}
#: The runs whose translations ``frontier_samples.png`` shows, fixed by the sweep's
#: design (its two ends and the paper's weight), not by a result.
SAMPLES = ("hist_lambda1", PAPER, "hist_lambda30")
#: The metrics of a frontier row.
ROW_METRICS = ("delta_e76", "shape_score")

# Kept importable from here for one version (CHANGELOG): they moved.
from .experiments import PATH_EVALUATIONS, PATH_LENGTH  # noqa: E402,F401
from .experiments import experiment_config as frontier_config  # noqa: E402,F401
from .experiments import experiment_steps as frontier_steps  # noqa: E402,F401
from .report import frontier_markdown, listing  # noqa: E402,F401


def _row(arrays: dict[int, dict[str, np.ndarray]]) -> dict:
    row = seed_row(arrays, ROW_METRICS)
    row["jis_class"] = jis_class(row["delta_e76_mean"])
    return row


def _versus(arrays: dict, paper: dict | None) -> dict | None:
    """A run against the paper's ``proposed_both`` on the same test pairs, per metric
    (:func:`kdehist.stats.paired_difference`); ``None`` without the paper's arrays."""
    if paper is None:
        return None
    return {
        key: paired_difference(
            [arrays[s][key] for s in sorted(arrays)],
            [paper[s][key] for s in sorted(paper)],
        )
        for key in ROW_METRICS
    }


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
            **paired_change(
                [arrays[b][key] - arrays[a][key] for arrays in by_seed.values()]
            ),
        }
        for key in ("delta_e76", "shape_score")
    ]


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
            **paired_change([after - before]),
        }
    return fall


def frontier(
    profile: str = "cpu",
    out: str | Path | None = None,
    runs: list[str] | None = None,
    results_dir: str | Path | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    train: bool = True,
    progress: bool = True,
    table2_seeds: list[int] | tuple[int, ...] | None = None,
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
        results_dir: also write ``frontier.json``, ``frontier_samples.png`` and the
            per-pair arrays (``pairs/<run>_seed<k>.npz``, and each checkpoint of the
            training path: :func:`path_pairs_name`) there.
        seeds: training seeds of the frontier runs (default
            :data:`kdehist.experiments.FRONTIER_SEEDS`; the smoke profile trains the
            first only).
        train: train what is missing (default); ``False`` scores finished runs only and
            lists the others under ``"missing"``.
        progress: print progress.
        table2_seeds: Table 2's seeds (default :data:`kdehist.experiments.SEEDS`), which
            Table 2's own run (λ_hist = 10) keeps unless ``seeds`` is given, and with
            which Table 2's variants are read as baselines.

    Returns:
        The ``frontier.json`` content (:func:`summarize_frontier`).
    """
    seeds_given = seeds is not None
    names, seeds = check_runs_and_seeds(
        runs, seeds, FRONTIER_RUNS, FRONTIER, profile_seeds(profile, FRONTIER_SEEDS)
    )
    table2_seeds = check_runs_and_seeds(
        list(TABLE2), table2_seeds, EXPERIMENTS, TABLE2, profile_seeds(profile)
    )[1]
    # Table 2's own run (λ = 10) keeps Table 2's seeds, so both tables show one row.
    run_seeds = {
        n: list(table2_seeds) if n in TABLE2 and not seeds_given else seeds
        for n in names
    }
    out = check_writable(out if out is not None else runs_dir(profile), "out")
    if results_dir is not None:
        results_dir = check_writable(results_dir, "results_dir")
    configs = {
        (n, s): experiment_config(n, profile, s) for n in names for s in run_seeds[n]
    }
    size = next(iter(configs.values())).image_size
    test, oracle = scoring_set_and_oracle(profile, size, out)
    segmenter, segmenter_record = load_segmenter(progress=progress)

    def finished(name: str, seed: int, steps: list[int]) -> bool:
        run = run_folder(out, name, seed)
        return all(snapshot_path(run, step).is_file() for step in steps)

    finals: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    paths: dict[str, dict[int, list[dict[str, np.ndarray]]]] = {}
    missing, records = [], {}
    for (name, seed), config in configs.items():
        steps = experiment_steps(name, config)
        run = run_folder(out, name, seed)
        if not (train or finished(name, seed, steps)):
            missing.append(f"{name}/seed{seed}")
            continue
        records[f"{name}/seed{seed}"] = train_run(config, run, progress, steps=steps)
        _, final = evaluate_run(run, steps, test, oracle, segmenter, progress)
        finals.setdefault(name, {})[seed] = final
        if FRONTIER_RUNS[name].path:
            paths.setdefault(name, {})[seed] = [
                read_pairs(run / f"pairs_step{step:06d}.npz") for step in steps
            ]

    # Table 2's variants, on the same axes, with every seed of theirs that is finished.
    baseline_arrays: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for name in TABLE2:
        steps = evaluation_steps(experiment_config(name, profile).steps)
        for seed in table2_seeds:
            pairs = run_folder(out, name, seed) / f"pairs_step{steps[-1]:06d}.npz"
            if finished(name, seed, steps) and pairs.is_file():
                baseline_arrays.setdefault(name, {})[seed] = read_pairs(pairs)

    result = summarize_frontier(
        profile,
        {name: finals[name] for name in names if name in finals},
        paths,
        baseline_arrays,
        segmenter={
            k: segmenter_record[k]
            for k in ("heldout_iou", "version")
            if k in segmenter_record
        },
        missing=missing,
        provenance={
            "git_commit": git_commit(),
            "host_cpu": host_cpu(),
            "runs": records,
        },
    )
    for folder in [out] + ([results_dir] if results_dir is not None else []):
        atomic_write_json(Path(folder) / "frontier.json", result)
    if results_dir is None:
        return result
    columns = {}
    for name in SAMPLES:  # seed 0 of each, where it is trained
        config = experiment_config(name, profile)
        if finished(name, 0, [config.steps]):
            columns[name] = snapshot_path(run_folder(out, name, 0), config.steps)
    if columns:
        atomic_write_bytes(
            Path(results_dir) / "frontier_samples.png",
            figure_png(figure3(columns, test)),
        )
    for name, by_seed in finals.items():
        for seed, arrays in by_seed.items():
            write_pairs(results_dir, name, seed, arrays)
    # The path's checkpoints too, so that its changes can be recomputed.
    for name, by_seed in paths.items():
        steps = experiment_steps(name, experiment_config(name, profile))
        for seed, per_step in by_seed.items():
            for step, arrays in zip(steps, per_step):
                atomic_write_bytes(
                    Path(results_dir) / "pairs" / path_pairs_name(name, seed, step),
                    pairs_bytes(arrays),
                )
    return result


def summarize_frontier(
    profile: str,
    finals: dict[str, dict[int, dict[str, np.ndarray]]],
    paths: dict[str, dict[int, list[dict[str, np.ndarray]]]],
    baseline_arrays: dict[str, dict[int, dict[str, np.ndarray]]],
    segmenter: dict | None = None,
    missing: list[str] | None = None,
    provenance: dict | None = None,
) -> dict:
    """``frontier.json`` from per-pair arrays alone (no run folder is read).

    Args:
        profile: the profile the runs were trained with.
        finals: per frontier run, its seeds' final per-pair arrays.
        paths: per training-path run, each seed's per-pair arrays at every checkpoint of
            :func:`kdehist.experiments.experiment_steps`.
        baseline_arrays: Table 2's variants' final per-pair arrays, by seed.
        segmenter, missing, provenance: recorded as given.

    Returns:
        ``profile``, ``segmenter``, ``runs`` (per run its
        ``name``, ``attempt``, ``why``, ``settings``, ``seeds``, means, seed means and
        95 % intervals of ΔE76 and the shape score, ``jis_class`` and
        ``versus_paper``: its paired difference from ``proposed_both``), ``path`` (the
        training path's checkpoints), ``path_changes`` (from its first checkpoint after
        step 1, and from the profile's own length, to its end), ``path_falls`` (per
        seed, the largest fall of the shape score between two checkpoints after step 1,
        with ΔE76's change over the same steps), ``baselines`` (Table 2's rows),
        ``missing`` and ``provenance``.
    """
    baselines = {name: _row(arrays) for name, arrays in baseline_arrays.items()}
    rows = []
    for name, arrays in finals.items():
        run = FRONTIER_RUNS[name]
        row = _row(arrays)
        paper = name == PAPER  # Table 2's own run is the sweep's λ_hist = 10
        rows.append(
            {
                "name": name,
                "attempt": "lambda_sweep" if paper else run.attempt,
                "why": "The paper's weight (Table 2's run)." if paper else run.why,
                "settings": {
                    **run.settings,
                    "steps": experiment_config(name, profile).steps,
                },
                **row,
                "versus_paper": None
                if name == PAPER
                else _versus(arrays, baseline_arrays.get(PAPER)),
            }
        )
    path, path_changes, path_falls = [], [], []
    profile_steps = TrainConfig.from_profile(profile).steps
    for name, by_seed in paths.items():
        steps = experiment_steps(name, experiment_config(name, profile))
        for index, step in enumerate(steps):
            row = _row({seed: arrays[index] for seed, arrays in by_seed.items()})
            path.append({"name": name, "step": step, **row})
        for start in dict.fromkeys([steps[1], profile_steps]):
            if start in steps[:-1]:
                path_changes += _path_change(name, by_seed, steps, start, steps[-1])
        path_falls += [
            _largest_fall(name, seed, per_step, steps)
            for seed, per_step in by_seed.items()
            if len(steps) > 2
        ]
    return {
        "profile": profile,
        "segmenter": segmenter or {},
        "runs": rows,
        "path": path,
        "path_changes": path_changes,
        "path_falls": path_falls,
        "baselines": baselines,
        "missing": missing or [],
        "provenance": provenance or {},
    }


def frontier_estimate(
    profile: str = "cpu", out: str | Path | None = None, measure=True
):
    """How long :func:`frontier` with its default runs and seeds would take, before it
    starts (:func:`kdehist.runs.estimate_runs`): the training steps and the test
    translations still missing under ``out``, the training path's checkpoints included.

    >>> estimate = frontier_estimate("smoke", out="no-such-folder", measure=False)
    >>> estimate.runs == len(FRONTIER) and estimate.steps > 0
    True
    """
    names, seeds = check_runs_and_seeds(
        None, None, FRONTIER_RUNS, FRONTIER, profile_seeds(profile, FRONTIER_SEEDS)
    )
    # Table 2's own run keeps Table 2's seeds (see frontier).
    configs = {
        (n, s): experiment_config(n, profile, s)
        for n in names
        for s in (profile_seeds(profile) if n in TABLE2 else seeds)
    }

    def score_files(run: Path, config) -> list[Path]:
        steps = experiment_steps(run.parent.name, config)
        return [run / f"pairs_step{step:06d}.npz" for step in steps]

    return estimate_runs(profile, configs, out, score_files, measure)


def frontier_results(profile: str, train: bool = False) -> Path:
    """The results folder holding the ``frontier.json`` that chapter 10 reads: the
    committed cpu results, or with ``train`` this runtime's own, made first by
    :func:`frontier` (on Colab the runs go to Google Drive, and a
    :func:`frontier_estimate` is printed before anything starts)."""

    def make(folder: Path) -> None:
        print(frontier_estimate(profile))  # before anything starts
        frontier(profile, results_dir=folder)

    return switched_results(profile, train, make)


def rebuild_frontier(folder: str | Path) -> dict:
    """``frontier.json`` rebuilt from a results folder's committed per-pair arrays, with
    the seeds, ``segmenter``, ``missing`` and ``provenance`` that the folder's
    ``frontier.json`` records: the check that the json says what its arrays say."""
    front = load_frontier(folder)
    finals = {
        row["name"]: load_pairs(folder, row["name"], row["seeds"])
        for row in front["runs"]
    }
    paths: dict = {}
    for point in front["path"]:
        for seed in point["seeds"]:
            arrays = read_pairs(
                Path(folder)
                / "pairs"
                / path_pairs_name(point["name"], seed, point["step"])
            )
            paths.setdefault(point["name"], {}).setdefault(seed, []).append(arrays)
    baselines = {
        name: load_pairs(folder, name, row["seeds"])
        for name, row in front["baselines"].items()
    }
    return summarize_frontier(
        front["profile"],
        finals,
        paths,
        baselines,
        segmenter=front["segmenter"],
        missing=front["missing"],
        provenance=front["provenance"],
    )


def path_pairs_name(name: str, seed: int, step: int) -> str:
    """The file of a training path's per-pair arrays at one checkpoint.

    >>> path_pairs_name("constant_lr", 0, 125)
    'constant_lr_seed0_step000125.npz'
    """
    return f"{name}_seed{seed}_step{step:06d}.npz"


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
    rows = {row["name"]: row for row in load_frontier(folder)["runs"]}
    arrays = {}
    for argument, run in (("name", name), ("other", other)):
        if run not in rows:
            raise ValueError(
                f"{argument}: expected a scored run of {str(folder)!r} "
                f"({', '.join(rows)}), got {run!r}"
            )
        arrays[run] = load_pairs(folder, run, rows[run]["seeds"])
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
