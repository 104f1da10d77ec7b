"""Table 2 over seeds, and Figures 3–4: one command trains, scores and writes them.

``kdehist reproduce --profile cpu`` trains every run that is missing, one per variant
and seed (in chunks, freezing the generators at a few evaluation steps: see
:mod:`kdehist.runs`), scores each frozen snapshot with the protocol of
:mod:`kdehist.evaluate` (including the segmenter's ``shape_score``), then writes
``table2.json`` (means over seeds with bootstrap intervals), ``tradeoff.json``, the
per-pair arrays ``pairs/<run>_seed<k>.npz``, ``figure3.png`` and ``figure4.png`` under
the run folder, each atomically. Run it again after an interruption: finished training
and finished evaluations are reused, and an interrupted training resumes from its last
checkpoint. The rows come from :mod:`kdehist.experiments`; the tables and sentences the
book shows from them, from :mod:`kdehist.report`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .evaluate import TestSet, jis_shares, pair_metrics, summarize
from .experiments import (
    EXPERIMENTS,
    SEEDS,
    TABLE2,
    evaluation_steps,
    experiment_config,
    profile_seeds,
)
from .figures import figure3, figure4, figure_png
from .io import atomic_write_bytes, atomic_write_json
from .models import VARIANT_SPECS
from .profiles import runs_dir
from .runs import (
    Estimate,
    estimate_runs,
    switched_results,
    check_runs_and_seeds,
    check_writable,
    copy_training_record,
    evaluate_run,
    git_commit,
    host_cpu,
    read_json,
    read_pairs,
    run_folder,
    snapshot_path,
    scoring_set_and_oracle,
    train_run,
    write_pairs,
)
from .segment import load_segmenter
from .stats import bootstrap_ci, paired_difference, seed_row

__all__ = [
    "COMPARISONS",
    "INTERVAL_METRICS",
    "MEAN_METRICS",
    "PAPER_TABLE2",
    "TABLE2_RUNS",
    "average_tone_baseline",
    "comparisons",
    "estimate",
    "load_results",
    "reproduce",
    "summarize_seeds",
    "table2_results",
    "rebuild_table2",
]

#: The runs :func:`reproduce` accepts. Table 2's rows and the concatenation variant.
TABLE2_RUNS = {name: EXPERIMENTS[name] for name in (*TABLE2, "proposed_both_concat")}
#: The paper's Table 2 (mean ΔE over 784 pairs).
PAPER_TABLE2 = {name: EXPERIMENTS[name].paper_delta_e for name in TABLE2}
#: Per-pair metrics reported with an interval over test inputs, references and seeds.
INTERVAL_METRICS = ("delta_e76", "delta_e00", "shape_score")
#: Per-pair metrics reported as a mean over seeds only.
MEAN_METRICS = ("delta_e76_whole", "delta_e00_whole", "shape_iou", "ssim", "edge_f1")
#: Paired comparisons that chapter 9 discusses. (a, b) reports mean(a) - mean(b).
COMPARISONS = (
    ("proposed_both", "proposed_one"),
    ("proposed_one", "cyclegan_sn"),
    ("cyclegan_sn", "cyclegan"),
    ("proposed_both_concat", "proposed_both"),
)

# Kept importable from here for one version (CHANGELOG): they moved.
RUNS = {n: dict(variant=e.variant, **e.settings) for n, e in TABLE2_RUNS.items()}
DEFAULT_RUNS = TABLE2
from .readme import (  # noqa: E402,F401
    README_END,
    README_START,
    readme_results,
    update_readme,
)
from .report import table2_markdown  # noqa: E402,F401
from .runs import committed_results  # noqa: E402,F401

__all__ += ["SEEDS", "evaluation_steps", "read_pairs", "run_folder", "train_run"]


def load_results(folder: str | Path) -> dict:
    """Read what :func:`reproduce` wrote to a results folder (the book's
    ``book/results/cpu``).

    Returns ``{"table2", "tradeoff", "pairs": {run: {seed: {metric: (Nx, Ny) array}}},
    "folder"}``.
    """
    folder = Path(folder)
    if not (folder / "table2.json").is_file():
        raise FileNotFoundError(
            f"folder: expected a results folder written by kdehist.reproduce "
            f"(with table2.json), got {str(folder)!r}"
        )
    table2 = read_json(folder / "table2.json")
    pairs = {
        name: {
            seed: read_pairs(folder / "pairs" / f"{name}_seed{seed}.npz")
            for seed in row["seeds"]
        }
        for name, row in table2["variants"].items()
    }
    return {
        "table2": table2,
        "tradeoff": read_json(folder / "tradeoff.json"),
        "pairs": pairs,
        "folder": folder,
    }


def summarize_seeds(pairs: dict[int, dict[str, np.ndarray]]) -> dict:
    """Table 2's row for one run from its seeds' per-pair arrays: per metric the mean
    over seeds of each seed's mean, the seed means, and for ``INTERVAL_METRICS`` a 95 %
    bootstrap interval (:func:`kdehist.stats.seed_row`); the pooled ΔE76's spread and
    JIS shares."""
    row = seed_row(pairs, INTERVAL_METRICS, MEAN_METRICS)
    row["pairs"] = int(next(iter(pairs.values()))["delta_e76"].size)
    pooled = np.concatenate([pairs[s]["delta_e76"].ravel() for s in row["seeds"]])
    row["delta_e76_std"] = float(pooled.std())
    row["delta_e76_median"] = float(np.median(pooled))
    row["jis_shares"] = jis_shares(pooled)
    return row


def comparisons(pairs: dict[str, dict[int, dict[str, np.ndarray]]]) -> list[dict]:
    """The paired differences of ``COMPARISONS`` (both runs present), per metric
    (:func:`kdehist.stats.paired_difference`)."""
    out = []
    for a, b in COMPARISONS:
        if a not in pairs or b not in pairs:
            continue
        for key in ("delta_e76", "shape_score"):
            out.append(
                {
                    "a": a,
                    "b": b,
                    "metric": key,
                    **paired_difference(
                        [p[key] for p in pairs[a].values()],
                        [p[key] for p in pairs[b].values()],
                    ),
                }
            )
    return out


def reproduce(
    profile: str = "cpu",
    out: str | Path | None = None,
    runs: list[str] | None = None,
    results_dir: str | Path | None = None,
    progress: bool = True,
    seeds: list[int] | tuple[int, ...] | None = None,
    train: bool = True,
) -> dict:
    """Train what is missing, evaluate every snapshot, and write the results.

    Args:
        profile: a ``kdehist.train.TrainConfig`` profile
            (``"smoke"``, ``"cpu"``, ...).
        out: the run folder (default ``runs/<profile>`` under
            :func:`kdehist.profiles.runs_dir`); run ``name`` with seed ``k`` lives in
            ``out/name/seed<k>``.
        runs: names from ``RUNS`` (default ``DEFAULT_RUNS``, the four rows of
            Table 2).
        results_dir: also write the results there (the book's
            ``book/results/<profile>``): ``table2.json``, ``tradeoff.json``,
            ``pairs/<run>_seed<k>.npz`` and the figures.
        progress: show progress.
        seeds: training seeds of every run (default ``SEEDS``, 0, 1 and 2).
        train: train what is missing (default). ``False`` evaluates only the runs whose
            training has finished, so results can be written while other seeds still
            train; each row of Table 2 lists the seeds it rests on.

    Returns:
        ``{"table2": ..., "tradeoff": ..., "files": [every file written]}``.
    """
    names, seeds = check_runs_and_seeds(
        runs, seeds, TABLE2_RUNS, TABLE2, profile_seeds(profile)
    )
    configs = {(n, s): experiment_config(n, profile, s) for n in names for s in seeds}
    out = check_writable(out if out is not None else runs_dir(profile), "out")
    if results_dir is not None:
        # Checked before hours of training, not after.
        results_dir = check_writable(results_dir, "results_dir")
    size = next(iter(configs.values())).image_size
    test, oracle = scoring_set_and_oracle(profile, size, out)
    segmenter, segmenter_record = load_segmenter(progress=progress)

    pairs: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    tradeoff: dict[str, dict[str, list]] = {}
    run_records: dict[str, dict[str, dict]] = {}
    eval_seconds = 0.0
    if not train:
        configs = {
            key: c
            for key, c in configs.items()
            if all(
                snapshot_path(run_folder(out, *key), step).is_file()
                for step in evaluation_steps(c.steps)
            )
        }
        missing = [n for n in names if not any(key[0] == n for key in configs)]
        if missing:
            raise ValueError(
                f"runs: expected finished training for every run with train=False, "
                f"got none for {missing} in {out}"
            )
    for (name, seed), config in configs.items():
        run = run_folder(out, name, seed)
        record = train_run(config, run, progress=progress)
        steps = evaluation_steps(config.steps)
        curve, final = evaluate_run(run, steps, test, oracle, segmenter, progress)
        eval_seconds += sum(e.get("eval_seconds", 0.0) for e in curve)
        pairs.setdefault(name, {})[seed] = final
        run_records.setdefault(name, {})[str(seed)] = record
        tradeoff.setdefault(name, {})[str(seed)] = [
            {
                k: e[k]
                for k in (
                    "step",
                    "delta_e76_mean",
                    "shape_score_mean",
                    "shape_iou_mean",
                    "ssim_mean",
                    "edge_f1_mean",
                )
            }
            for e in curve
        ]

    table: dict[str, dict] = {}
    for name in names:
        config = next(c for (n, _), c in configs.items() if n == name)
        records = run_records[name]
        conditioned = VARIANT_SPECS[config.variant].condition_G
        table[name] = {
            **summarize_seeds(pairs[name]),
            "variant": config.variant,
            "condition": config.condition if conditioned else None,
            "step": config.steps,
            "paper_delta_e": PAPER_TABLE2.get(name),
            "precision": sorted({r["precision"] for r in records.values()}),
            "train_seconds": [r["train_seconds"] for r in records.values()],
            "runs": records,
        }
    oracle_metrics = pair_metrics(oracle, test, oracle, segmenter)
    provenance = {
        "profile": profile,
        "seeds": seeds,
        "git_commit": git_commit(),
        "train_seconds": round(
            sum(sum(row["train_seconds"]) for row in table.values()), 1
        ),
        "eval_seconds": round(eval_seconds, 1),
        "test_pairs": f"{len(test.inputs)} x {len(test.refs)}",
        "image_size": size,
        "torch": torch.__version__,
        "host_cpu": host_cpu(),
    }
    baselines = {
        "oracle": {
            **summarize(oracle_metrics),
            "shape_score_ci95": list(bootstrap_ci([oracle_metrics["shape_score"]])),
        },
        "average_tone": average_tone_baseline(test),
    }
    table2 = {
        "variants": table,
        "baselines": baselines,
        "comparisons": comparisons(pairs),
        "segmenter": segmenter_record,
        "provenance": provenance,
    }
    tradeoff_json = {
        "runs": tradeoff,
        "steps": evaluation_steps(next(iter(configs.values())).steps),
        "provenance": provenance,
    }

    files = [
        atomic_write_json(out / "table2.json", table2),
        atomic_write_json(out / "tradeoff.json", tradeoff_json),
    ]
    figures = {}
    if "proposed_both" in names:
        shown = [
            n
            for n in ("proposed_both", "proposed_one", "cyclegan_sn", "cyclegan")
            if n in names
        ]
        first = {
            n: snapshot_path(
                run_folder(out, n, min(pairs[n])), configs[(n, min(pairs[n]))].steps
            )
            for n in shown
        }
        figures = {
            "figure3.png": figure_png(figure3(first, test)),
            "figure4.png": figure_png(figure4(first["proposed_both"], test)),
        }
    for folder in [out] + ([results_dir] if results_dir is not None else []):
        for filename, data in figures.items():
            files.append(atomic_write_bytes(folder / filename, data))
    if results_dir is not None:
        files.append(atomic_write_json(results_dir / "table2.json", table2))
        files.append(atomic_write_json(results_dir / "tradeoff.json", tradeoff_json))
        for name, by_seed in pairs.items():
            for seed, arrays in by_seed.items():
                files.append(write_pairs(results_dir, name, seed, arrays))
                files.extend(
                    copy_training_record(
                        run_folder(out, name, seed),
                        results_dir / "training",
                        f"{name}_seed{seed}",
                    )
                )
    return {
        "table2": table2,
        "tradeoff": tradeoff_json,
        "files": [Path(f) for f in files],
    }


def average_tone_baseline(test: TestSet) -> dict:
    """ΔE76 of a tone-blind ideal: every output has the references' average foreground
    colour."""
    from .color import delta_e_of_means, mean_lab

    refs = mean_lab(test.refs, test.ref_masks)
    values = delta_e_of_means(refs.mean(0, keepdim=True).expand_as(refs), refs, "cie76")
    return {
        "delta_e76_mean": float(values.mean()),
        "delta_e76_median": float(values.median()),
        "delta_e76_std": float(values.std(unbiased=False)),
        "references": len(refs),
    }


def estimate(
    profile: str = "cpu",
    runs: list[str] | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    out: str | Path | None = None,
    measure: bool = True,
) -> Estimate:
    """How long :func:`reproduce` with the same arguments would take, before it starts.

    Counts the training steps and the evaluated pairs still missing under ``out``
    (finished snapshots, checkpoints and evaluations are reused), and multiplies them
    by the seconds per step and per pair: timed here on the profile's device and
    networks with ``measure`` (:mod:`kdehist.timing`, seconds to a minute), else the
    profile's own figures, most of them estimates
    (``kdehist.profiles.PROFILE_TIMINGS``).
    Creates nothing.

    Returns:
        a :class:`kdehist.runs.Estimate`; ``float()`` of it is the total in
        seconds, ``str()`` a three-line summary.
    """
    names, seeds = check_runs_and_seeds(
        runs, seeds, TABLE2_RUNS, TABLE2, profile_seeds(profile)
    )
    configs = {(n, s): experiment_config(n, profile, s) for n in names for s in seeds}

    def score_files(run: Path, config) -> list[Path]:
        return [run / f"eval_step{s:06d}.json" for s in evaluation_steps(config.steps)]

    return estimate_runs(profile, configs, out, score_files, measure)


def table2_results(profile: str, train: bool = False) -> Path:
    """The results folder that chapters 8–10 read: the committed cpu results, or with
    ``train`` this runtime's own, made first by :func:`reproduce` (on Colab the runs go
    to Google Drive, and an :func:`estimate` is printed before anything starts).

    The chapters' ``TRAIN`` switch, in one place.
    """

    def make(folder: Path) -> None:
        print(estimate(profile))  # before anything starts
        reproduce(profile, results_dir=folder)

    return switched_results(profile, train, make)


def rebuild_table2(folder: str | Path) -> dict:
    """``table2.json`` rebuilt from a results folder's committed per-pair arrays: each
    row's means, seed means and intervals (:func:`summarize_seeds`) and the paired
    :func:`comparisons`, with what the arrays cannot give (training records, baselines,
    provenance) taken from the folder's ``table2.json``. The check that the json says
    what its arrays say."""
    table2 = load_results(folder)
    variants = {
        name: {**row, **summarize_seeds(table2["pairs"][name])}
        for name, row in table2["table2"]["variants"].items()
    }
    return {
        **table2["table2"],
        "variants": variants,
        "comparisons": comparisons(table2["pairs"]),
    }


if __name__ == "__main__":  # the old entry point, kept: ``kdehist readme``
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kdehist.reproduce")
    parser.add_argument("--readme", action="store_true", required=True)
    parser.add_argument("--results", default=str(committed_results("cpu")))
    args = parser.parse_args()
    import runpy
    import sys

    sys.argv = ["kdehist", "readme", "--results", args.results]
    runpy.run_module("kdehist", run_name="__main__")
