"""One command for Table 2, Figures 3–4 and the shape/colour trade-off, over seeds.

``python -m kdehist reproduce --profile cpu`` trains every run that is missing, one per
variant and seed (in chunks, freezing the generators at a few evaluation steps), scores
each frozen snapshot with the protocol of :mod:`kdehist.evaluate` (including the
segmenter's ``shape_score``), then writes ``table2.json`` (means over seeds with
bootstrap intervals), ``tradeoff.json``, the per-pair arrays
``pairs/<run>_seed<k>.npz``, ``figure3.png`` and ``figure4.png`` under the run folder,
each atomically. Run it again after an interruption: finished training and finished
evaluations are reused, and an interrupted training resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import io
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from .color import jis_class
from .evaluate import (
    TestSet,
    bootstrap_ci,
    bootstrap_difference_ci,
    evaluate_generator,
    jis_shares,
    load_test_set,
    oracle_pairs,
    pair_metrics,
    summarize,
)
from .io import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
)
from .models import VARIANT_SPECS
from .profiles import evaluation_count, runs_dir

#: Table 2's rows, in the paper's order, and one optional run that tries to move the
#: frontier: concatenation instead of FiLM for the conditioning (chapter 10).
RUNS: dict[str, dict] = {
    "cyclegan": dict(variant="cyclegan"),
    "cyclegan_sn": dict(variant="cyclegan_sn"),
    "proposed_one": dict(variant="proposed_one"),
    "proposed_both": dict(variant="proposed_both"),
    "proposed_both_concat": dict(variant="proposed_both", condition="concat"),
}
#: What ``reproduce`` runs unless told otherwise: the four rows of Table 2.
DEFAULT_RUNS = ("cyclegan", "cyclegan_sn", "proposed_one", "proposed_both")
#: How many evaluations along each training run (the last at the final step).
EVALUATIONS = 4
#: The paper's Table 2 (mean ΔE over 784 pairs).
PAPER_TABLE2 = {
    "cyclegan": 14.1,
    "cyclegan_sn": 13.7,
    "proposed_one": 5.0,
    "proposed_both": 4.6,
}


@functools.cache
def _git_commit() -> str:
    """The checkout's commit, with ``-dirty`` when the package's code has uncommitted
    changes.

    Cached: the first call in a process names the code that process runs, even if the
    checkout moves on while it trains (a long-running queue calls it when it starts).
    """
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=here,
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "*.py"],
            capture_output=True,
            text=True,
            check=True,
            cwd=here,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def host_cpu() -> str:
    """The CPU model of this host (from ``/proc/cpuinfo`` where there is one)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def run_folder(out: Path, name: str, seed: int) -> Path:
    """Where run ``name`` with ``seed`` keeps its checkpoint, snapshots and
    evaluations."""
    return Path(out) / name / f"seed{seed}"


def snapshot_path(run: Path, step: int) -> Path:
    """The frozen copy of a run's checkpoint at an evaluation ``step``."""
    return run / "snapshots" / f"step{step:06d}.pt"


def train_run(
    config, run: Path, progress: bool = True, steps: list[int] | None = None
) -> dict:
    """Train one run to each of its evaluation ``steps`` (default
    :func:`evaluation_steps`), freezing a snapshot at each.

    A snapshot holds the config, the step, the training seconds so far and the
    generators' weights, enough for :func:`kdehist.train.load_generators`. Finished
    snapshots are reused, so an interrupted call resumes where it stopped. Returns the
    run's provenance (also written to ``run/provenance.json``).

    Raises:
        ValueError: the run folder holds a checkpoint trained past a missing snapshot's
            step (its scores would be labelled with the wrong step).
    """
    from .train import resolve_device, resolve_precision, train

    run = Path(run)
    steps = evaluation_steps(config.steps) if steps is None else sorted(steps)
    for step in steps:
        path = snapshot_path(run, step)
        if path.is_file():
            continue
        if progress:
            print(f"[{run}] training to step {step} of {config.steps}", flush=True)
        result = train(config, run, stop_at=step, progress=progress)
        if result.step != step:
            raise ValueError(
                f"run: expected a checkpoint at step {step} in {run}, "
                f"got one at step {result.step}; "
                f"move it away or pass another run folder"
            )
        saved = load_checkpoint(result.checkpoint)
        generators = {
            k: v for k, v in saved["nets"].items() if k.startswith(("G.", "F."))
        }
        atomic_torch_save(
            path,
            {
                "format": saved["format"],
                "config": saved["config"],
                "step": step,
                "seconds": saved["seconds"],
                "nets": generators,
                "git_commit": _git_commit(),
            },
        )
    provenance_file = run / "provenance.json"
    if provenance_file.is_file():
        return json.loads(provenance_file.read_text())
    last = load_checkpoint(snapshot_path(run, steps[-1]))
    first = load_checkpoint(snapshot_path(run, steps[0]))
    threads = config.threads if config.threads is not None else torch.get_num_threads()
    provenance = {
        "git_commit": first.get("git_commit", "unknown"),
        "torch": torch.__version__,
        "precision": resolve_precision(config.autocast, resolve_device(config.device)),
        "threads": threads,
        "train_seconds": round(float(last["seconds"]), 1),
        "host_cpu": host_cpu(),
        "seed": config.seed,
    }
    atomic_write_json(provenance_file, provenance)
    return provenance


def evaluation_steps(total: int, count: int = EVALUATIONS) -> list[int]:
    """``count`` evenly spaced steps ending at ``total`` (fewer when ``total`` is
    small)."""
    return sorted({max(1, round(total * (k + 1) / count)) for k in range(count)})


#: Seeds of the committed results: three per run.
SEEDS = (0, 1, 2)
#: Per-pair metrics reported with an interval over test inputs, references and seeds.
INTERVAL_METRICS = ("delta_e76", "delta_e00", "shape_score")
#: Per-pair metrics reported as a mean over seeds only.
MEAN_METRICS = ("delta_e76_whole", "delta_e00_whole", "shape_iou", "ssim", "edge_f1")
#: Paired comparisons that chapter 9 discusses: (a, b) reports mean(a) - mean(b).
COMPARISONS = (
    ("proposed_both", "proposed_one"),
    ("proposed_one", "cyclegan_sn"),
    ("cyclegan_sn", "cyclegan"),
    ("proposed_both_concat", "proposed_both"),
)


def _test_set_and_oracle(
    profile: str, size: int, out: Path
) -> tuple[TestSet, torch.Tensor]:
    test = load_test_set(size, count=evaluation_count(profile))
    cache = out / f"oracle_{size}px_{len(test.inputs)}x{len(test.refs)}.pt"
    shape = (len(test.inputs), len(test.refs))
    oracle = None
    if cache.is_file():
        try:
            oracle = load_checkpoint(cache)["oracle"].float() / 127.5 - 1
        except Exception:  # a damaged cache is recomputed, never trusted
            oracle = None
        if oracle is not None and oracle.shape[:2] != shape:
            oracle = None
    if oracle is None:
        oracle = oracle_pairs(test)
        atomic_torch_save(
            cache, {"oracle": ((oracle + 1) * 127.5).round().to(torch.uint8)}
        )
    return test, oracle


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path}: expected a JSON file written by kdehist.reproduce, "
            f"could not read it ({error}); delete it and run reproduce again"
        ) from None


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    )
    return buffer.getvalue()


def read_pairs(path: str | Path) -> dict[str, np.ndarray]:
    """The per-pair arrays of one run, ``{metric: (Nx, Ny) float64}``, from a ``.npz``
    file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k].astype(np.float64) for k in data.files}
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(
            f"{path}: expected per-pair arrays written by kdehist.reproduce, "
            f"could not read them ({error}); delete the file and run reproduce again"
        ) from None


def committed_results(*parts: str) -> Path:
    """Where the package keeps its committed results (``kdehist/results``; the book's
    ``book/results`` links there): ``committed_results("cpu")`` is the cpu profile's.

    They ship with the package, so a notebook opened alone (on Colab) reads them too.
    """
    from importlib import resources

    return Path(str(resources.files("kdehist") / "results")).joinpath(*parts)


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
    table2 = _read_json(folder / "table2.json")
    pairs = {
        name: {
            seed: read_pairs(folder / "pairs" / f"{name}_seed{seed}.npz")
            for seed in row["seeds"]
        }
        for name, row in table2["variants"].items()
    }
    return {
        "table2": table2,
        "tradeoff": _read_json(folder / "tradeoff.json"),
        "pairs": pairs,
        "folder": folder,
    }


def evaluate_run(
    run: Path,
    steps: list[int],
    test: TestSet,
    oracle: torch.Tensor,
    segmenter,
    progress: bool = True,
):
    """Score each snapshot of ``run`` (reusing finished scores): ``(curve, final
    per-pair arrays)``.

    Writes ``eval_stepNNNNNN.json`` (the summary) and ``pairs_stepNNNNNN.npz`` (every
    per-pair metric) beside the snapshots. Runs on the training device (CUDA when
    available), in batches (:func:`kdehist.evaluate.evaluate_generator`).
    """
    from .profiles import default_device
    from .train import load_generators

    curve = []
    for step in steps:
        summary_path, pairs_path = (
            run / f"eval_step{step:06d}.json",
            run / f"pairs_step{step:06d}.npz",
        )
        if not (summary_path.is_file() and pairs_path.is_file()):
            if progress:
                print(f"[{run}] evaluating step {step}", flush=True)
            began = time.perf_counter()
            pair = load_generators(snapshot_path(run, step))
            bins = pair.config.hist_bins if pair.G.conditioned else None
            summary, metrics, _ = evaluate_generator(
                pair.G,
                test,
                bins,
                oracle,
                device=default_device(),
                segmenter=segmenter,
                progress=progress,
            )
            atomic_write_bytes(pairs_path, _npz_bytes(metrics))
            seconds = round(time.perf_counter() - began, 1)
            atomic_write_json(
                summary_path, {**summary, "step": step, "eval_seconds": seconds}
            )
        curve.append(_read_json(summary_path))
    return curve, read_pairs(run / f"pairs_step{steps[-1]:06d}.npz")


def summarize_seeds(pairs: dict[int, dict[str, np.ndarray]]) -> dict:
    """Table 2's row for one run from its seeds' per-pair arrays: per metric the mean
    over seeds of each seed's mean, the seed means, and for ``INTERVAL_METRICS`` a 95 %
    bootstrap interval (:func:`kdehist.evaluate.bootstrap_ci`)."""
    seeds = sorted(pairs)
    row: dict = {
        "seeds": seeds,
        "pairs": int(next(iter(pairs.values()))["delta_e76"].size),
    }
    for key in INTERVAL_METRICS + MEAN_METRICS:
        if key not in pairs[seeds[0]]:
            continue
        seed_means = [float(pairs[s][key].mean()) for s in seeds]
        row[f"{key}_mean"] = float(np.mean(seed_means))
        row[f"{key}_seed_means"] = seed_means
        if key in INTERVAL_METRICS:
            row[f"{key}_ci95"] = list(bootstrap_ci([pairs[s][key] for s in seeds]))
    pooled = np.concatenate([pairs[s]["delta_e76"].ravel() for s in seeds])
    row["delta_e76_std"] = float(pooled.std())
    row["delta_e76_median"] = float(np.median(pooled))
    row["jis_shares"] = jis_shares(pooled)
    return row


def _comparisons(pairs: dict[str, dict[int, dict[str, np.ndarray]]]) -> list[dict]:
    out = []
    for a, b in COMPARISONS:
        if a not in pairs or b not in pairs:
            continue
        for key in ("delta_e76", "shape_score"):
            arrays_a = [p[key] for p in pairs[a].values()]
            arrays_b = [p[key] for p in pairs[b].values()]
            difference = float(
                np.mean([x.mean() for x in arrays_a])
                - np.mean([x.mean() for x in arrays_b])
            )
            lo, hi = bootstrap_difference_ci(arrays_a, arrays_b)
            out.append(
                {
                    "a": a,
                    "b": b,
                    "metric": key,
                    "difference": difference,
                    "ci95": [lo, hi],
                    "resolved": not lo <= 0 <= hi,
                }
            )
    return out


def runs_and_seeds(
    runs, seeds, known: dict, default_runs, default_seeds
) -> tuple[list[str], list[int]]:
    """Checked run names (from ``known``; default ``default_runs``) and training seeds
    (integers >= 0; default ``default_seeds``), as lists.

    >>> runs_and_seeds(None, [2], RUNS, DEFAULT_RUNS, SEEDS)[1]
    [2]
    """
    names = list(default_runs) if runs is None else list(runs)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"runs: expected names from {list(known)}, got {names}")
    seeds = list(default_seeds if seeds is None else seeds)
    if not seeds or any(
        isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds
    ):
        raise ValueError(
            f"seeds: expected a non-empty list of integers >= 0, got {seeds!r}"
        )
    return names, seeds


def _check_writable(folder: Path, name: str) -> Path:
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / ".kdehist-write-test", b"")
        (folder / ".kdehist-write-test").unlink()
    except OSError as error:
        raise ValueError(
            f"{name}: expected a writable folder, "
            f"got {str(folder)!r} ({error.strerror})"
        ) from None
    return folder


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
    from .segment import load_segmenter
    from .train import TrainConfig

    names, seeds = runs_and_seeds(runs, seeds, RUNS, DEFAULT_RUNS, SEEDS)
    configs = {
        (n, s): TrainConfig.from_profile(profile, seed=s, **RUNS[n])
        for n in names
        for s in seeds
    }
    out = _check_writable(out if out is not None else runs_dir(profile), "out")
    if results_dir is not None:
        # Checked before hours of training, not after.
        results_dir = _check_writable(results_dir, "results_dir")
    size = next(iter(configs.values())).image_size
    test, oracle = _test_set_and_oracle(profile, size, out)
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
        "git_commit": _git_commit(),
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
        "comparisons": _comparisons(pairs),
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
        from .figures import figure3, figure4, png_bytes

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
            "figure3.png": png_bytes(figure3(first, test)),
            "figure4.png": png_bytes(figure4(first["proposed_both"], test)),
        }
    for folder in [out] + ([results_dir] if results_dir is not None else []):
        for filename, data in figures.items():
            files.append(atomic_write_bytes(folder / filename, data))
    if results_dir is not None:
        files.append(atomic_write_json(results_dir / "table2.json", table2))
        files.append(atomic_write_json(results_dir / "tradeoff.json", tradeoff_json))
        for name, by_seed in pairs.items():
            for seed, arrays in by_seed.items():
                files.append(
                    atomic_write_bytes(
                        results_dir / "pairs" / f"{name}_seed{seed}.npz",
                        _npz_bytes(arrays),
                    )
                )
                files.extend(
                    _copy_training_record(
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


def _copy_training_record(run: Path, folder: Path, stem: str) -> list[Path]:
    """The run's loss log and its first, middle and last sample grids, for the book."""
    written = [
        atomic_write_bytes(
            folder / stem / "metrics.jsonl", (run / "metrics.jsonl").read_bytes()
        )
    ]
    samples = sorted((run / "samples").glob("step_*.png"))
    for path in sorted(
        {samples[0], samples[len(samples) // 2], samples[-1]} if samples else set()
    ):
        written.append(
            atomic_write_bytes(folder / stem / "samples" / path.name, path.read_bytes())
        )
    return written


def _interval(row: dict, key: str, digits: int) -> str:
    lo, hi = row[f"{key}_ci95"]
    return f"{row[f'{key}_mean']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def table2_markdown(
    table2: dict, detailed: bool = False, named: dict | None = None
) -> str:
    """Table 2 as a Markdown table: per run the seeds, ΔE76 with its 95 % interval and
    JIS class, the shape score with its interval and the paper's ΔE; ``detailed`` adds
    ΔE2000, SSIM and edge F1. ``named`` (a ``frontier.json``'s ``named``,
    :func:`kdehist.frontier.named_variant`) adds the frontier's named variant after the
    paper's, marked as ours. The oracle and the tone-blind average close the table."""
    from .figures import LABELS

    head = ["model", "seeds", "ΔE76 mean [95 % CI]", "JIS class"]
    head += ["ΔE2000 [95 % CI]"] if detailed else []
    head += (
        ["shape score [95 % CI]"]
        + (["SSIM", "edge F1"] if detailed else [])
        + ["paper's ΔE"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    variants = dict(table2["variants"])
    # The paper's order, then any run it does not have, then the named variant.
    order = [n for n in RUNS if n in variants] + sorted(set(variants) - set(RUNS))
    labels = {name: LABELS.get(name, name) for name in order}
    if named is not None:
        variants[named["name"]] = named
        order.append(named["name"])
        steps = named["settings"]["steps"]
        labels[named["name"]] = f"*ours:* {named['label']} ({steps} steps)"
    for name in order:
        row = variants[name]
        cells = [
            labels[name],
            str(len(row["seeds"])),
            _interval(row, "delta_e76", 2),
            jis_class(row["delta_e76_mean"]),
        ]
        cells += [_interval(row, "delta_e00", 2)] if detailed else []
        cells += [_interval(row, "shape_score", 3)]
        cells += (
            [f"{row['ssim_mean']:.3f}", f"{row['edge_f1_mean']:.3f}"]
            if detailed
            else []
        )
        cells += [
            "–" if row.get("paper_delta_e") is None else f"{row['paper_delta_e']}"
        ]
        lines.append("| " + " | ".join(cells) + " |")
    oracle, average = table2["baselines"]["oracle"], table2["baselines"]["average_tone"]
    cells = [
        "*oracle (ideal translation)*",
        "–",
        f"{oracle['delta_e76_mean']:.2f}",
        jis_class(oracle["delta_e76_mean"]),
    ]
    cells += [f"{oracle['delta_e00_mean']:.2f}"] if detailed else []
    cells += [f"{oracle['shape_score_mean']:.3f}"]
    cells += (
        [f"{oracle['ssim_mean']:.3f}", f"{oracle['edge_f1_mean']:.3f}"]
        if detailed
        else []
    )
    lines.append("| " + " | ".join(cells + ["–"]) + " |")
    cells = [
        "*average tone (tone-blind ideal)*",
        "–",
        f"{average['delta_e76_mean']:.2f}",
        jis_class(average["delta_e76_mean"]),
    ]
    cells += ["–"] * (len(head) - len(cells))
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readme_results(table2: dict, front: dict | None = None) -> str:
    """The README's results block: how the numbers were made, then
    :func:`table2_markdown` (with the frontier's named variant, if any), then (given a
    ``frontier.json``) the frontier's runs
    (:func:`kdehist.frontier.frontier_markdown`)."""
    from .frontier import named_summary

    prov = table2["provenance"]
    rows = table2["variants"].values()
    seeds = sorted({len(r["seeds"]) for r in rows})
    minutes = [s / 60 for r in rows for s in r["train_seconds"]]
    plural = "s" if max(seeds) > 1 else ""
    caveat = (
        " (with one seed, an interval covers the test images, not the training)"
        if min(seeds) == 1
        else ""
    )
    test_pairs = prov["test_pairs"].replace(" x ", " × ")
    average = table2["baselines"]["average_tone"]["delta_e76_mean"]
    named = None if front is None else front.get("named")
    return (
        f"Measured with the `cpu` profile ({prov['image_size']}², 500 steps per model, "
        f"float32; {' or '.join(map(str, seeds))} seed{plural} per model; "
        f"{len(minutes)} models of {min(minutes):.0f}–{max(minutes):.0f} min each on a "
        f"2-core {prov['host_cpu']}), mean ΔE76 over {test_pairs} pairs between the "
        f"mean L\\*a\\*b\\* of the generated and the reference foregrounds, and the "
        f"shape score (segmenter IoU against the input's mask), each with a 95 % "
        f"bootstrap interval over test inputs, references and seeds{caveat}:\n\n"
        f"{table2_markdown(table2, named=named)}\n\n"
        + ("" if named is None else f"{named_summary(front)}\n\n")
        + f"Our synthetic tones span the whole Monk scale, so even an ideal tone-blind "
        f"translator scores {average:.1f} here: compare ratios with the paper, not "
        f"absolute values (chapter 9)."
    ) + ("" if front is None else _readme_frontier(front))


def _readme_frontier(front: dict) -> str:
    from .frontier import SHAPE_TOLERANCE, frontier_markdown, listing

    met = [row["name"] for row in front["runs"] if row["goal"]["met"]]
    return (
        "\n\nThe shape/colour frontier (chapter 10): `proposed_both` with one change "
        "each, same profile, scored the same way; the last columns are the paired "
        "difference from the paper's run. The goal, JIS class A with a shape score "
        f"within {SHAPE_TOLERANCE * 100:g} % of CycleGAN + SN's, is "
        + (
            f"met on the mean over seeds by {listing(met)}"
            if met
            else "met by no frontier run"
        )
        + ":\n\n"
        + frontier_markdown(front)
    )


README_START, README_END = (
    "<!-- results:start (python -m kdehist.reproduce --readme) -->",
    "<!-- results:end -->",
)


def update_readme(readme: str | Path, results: str | Path) -> bool:
    """Rewrite the README's results block from ``results/table2.json``; True if it
    changed."""
    readme = Path(readme)
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(
            f"readme: expected the markers {README_START!r} and {README_END!r} "
            f"in {readme}"
        )
    before, rest = text.split(README_START, 1)
    _, after = rest.split(README_END, 1)
    front = Path(results) / "frontier.json"
    block = readme_results(
        _read_json(Path(results) / "table2.json"),
        _read_json(front) if front.is_file() else None,
    )
    new = f"{before}{README_START}\n{block}\n{README_END}{after}"
    if new != text:
        atomic_write_bytes(readme, new.encode())
    return new != text


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


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m kdehist.reproduce`` (the book's command-line page)."""
    parser = argparse.ArgumentParser(
        prog="python -m kdehist.reproduce",
        description="Rewrite the README's results block from the committed "
        "table2.json.",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="update README.md from book/results/cpu/table2.json",
    )
    parser.add_argument(
        "--results",
        default=str(committed_results("cpu")),
        help="the folder holding table2.json (default: the committed cpu results)",
    )
    return parser


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What is left of a :func:`reproduce` call, and how long it should take.

    ``float(estimate)`` (or ``estimate.seconds``) is the whole time in seconds;
    ``str(estimate)`` says how it was made. Per-step and per-pair seconds are timed on
    this runtime, or else the profile's (``kdehist.profiles.PROFILE_TIMINGS``); each
    ``*_source`` says which.
    """

    profile: str
    device: str
    runs: int  #: runs x seeds
    steps: int  #: training steps left, over all runs
    step_seconds: float
    step_source: str
    pairs: int  #: translations left to score, over all runs and evaluations
    pair_seconds: float
    pair_source: str

    @property
    def train_seconds(self) -> float:
        return self.steps * self.step_seconds

    @property
    def eval_seconds(self) -> float:
        return self.pairs * self.pair_seconds

    @property
    def seconds(self) -> float:
        return self.train_seconds + self.eval_seconds

    def __float__(self) -> float:
        return self.seconds

    def __str__(self) -> str:
        if not self.steps and not self.pairs:
            return (
                f"Estimate for the {self.profile} profile: nothing left to train or "
                f"evaluate in its {self.runs} runs; the results are written in seconds."
            )
        return (
            f"Estimate for the {self.profile} profile on {self.device}, "
            f"{self.runs} runs:\n"
            f"  training:   {self.steps:,} steps left x {self.step_seconds:.3g} s/step "
            f"({self.step_source}) = {_duration(self.train_seconds)}\n"
            f"  evaluation: {self.pairs:,} pairs left x {self.pair_seconds:.3g} s/pair "
            f"({self.pair_source}) = {_duration(self.eval_seconds)}\n"
            f"  in all about {_duration(self.seconds)}. Finished work is kept: after a "
            f"disconnect, run again to resume."
        )


def _steps_done(run: Path, steps: int) -> int:
    """The step a run would resume from: its checkpoint's, or its last snapshot's."""
    done = max(
        (s for s in evaluation_steps(steps) if snapshot_path(run, s).is_file()),
        default=0,
    )
    checkpoint = run / "checkpoint.pt"
    if checkpoint.is_file():
        try:  # memory-mapped: reads the step, not the weights
            saved = torch.load(
                checkpoint, map_location="cpu", weights_only=True, mmap=True
            )
            done = max(done, int(saved["step"]))
        except Exception:  # a damaged checkpoint is the trainer's to report
            pass
    return min(done, steps)


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
        an :class:`Estimate`; ``float()`` of it is the total in seconds, ``str()`` a
        three-line summary.
    """
    import os

    from .data import SPLIT_SIZES
    from .profiles import PROFILE_TIMINGS, RUNS_ENV_VAR, default_device
    from .timing import time_evaluation, time_train_step
    from .train import TrainConfig, resolve_device

    names, seeds = runs_and_seeds(runs, seeds, RUNS, DEFAULT_RUNS, SEEDS)
    if out is None:  # reproduce's default, without creating it
        out = Path(os.environ.get(RUNS_ENV_VAR, "runs")) / profile
    configs = {
        (n, s): TrainConfig.from_profile(profile, seed=s, **RUNS[n])
        for n in names
        for s in seeds
    }
    count = evaluation_count(profile) or SPLIT_SIZES["sim"]["test"]
    steps = pairs = 0
    for key, config in configs.items():
        run = run_folder(Path(out), *key)
        steps += config.steps - _steps_done(run, config.steps)
        pairs += (
            count
            * count
            * sum(
                not (run / f"eval_step{s:06d}.json").is_file()
                for s in evaluation_steps(config.steps)
            )
        )
    # The costliest run stands for all: both generators conditioned.
    timed = configs.get(("proposed_both", seeds[0]), next(iter(configs.values())))
    device = resolve_device(timed.device)
    timings = PROFILE_TIMINGS[profile]
    step_seconds, step_source = timings["step"], f"the profile's, {timings['source']}"
    pair_seconds, pair_source = timings["pair"], step_source
    if measure and steps:
        step = time_train_step(timed)
        step_seconds = step["seconds"]
        precision = {"none": "float32"}.get(step["precision"], step["precision"])
        step_source = f"timed here, {precision}"
    if measure and pairs:
        pair_seconds = time_evaluation(timed, device=default_device())["seconds"]
        pair_source = "timed here"
    return Estimate(
        profile=profile,
        device=str(device),
        runs=len(configs),
        steps=steps,
        step_seconds=step_seconds,
        step_source=step_source,
        pairs=pairs,
        pair_seconds=pair_seconds,
        pair_source=pair_source,
    )


if __name__ == "__main__":
    args = build_parser().parse_args()
    if args.readme:
        changed = update_readme("README.md", args.results)
        print(
            "README.md updated" if changed else "README.md already matches the results"
        )
