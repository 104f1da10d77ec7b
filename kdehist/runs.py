"""A run on disk: its folder, provenance, training to its snapshots, its scores.

Run ``name`` with seed ``k`` lives in ``<out>/<name>/seed<k>``: the trainer's
checkpoint, a frozen snapshot of the generators at each evaluation step
(:func:`snapshot_path`), each snapshot's scores (``eval_stepNNNNNN.json`` and the
per-pair arrays ``pairs_stepNNNNNN.npz``) and ``provenance.json``. Table 2
(:mod:`kdehist.reproduce`) and the frontier (:mod:`kdehist.frontier`) both train and
score through here, and read and write the committed per-pair arrays
(``<results>/pairs/<name>_seed<k>.npz``) with :func:`read_pairs` and
:func:`write_pairs`.

>>> run_folder(Path("runs/cpu"), "proposed_both", 2).as_posix()
'runs/cpu/proposed_both/seed2'
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_generators
from .colab import use_drive
from .data import SPLIT_SIZES
from .evaluate import TestSet, evaluate_generator, load_test_set, oracle_pairs
from .experiments import evaluation_steps
from .io import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
)
from .precision import resolve_device, resolve_precision
from .profiles import (
    PROFILE_TIMINGS,
    RUNS_ENV_VAR,
    default_device,
    evaluation_count,
    runs_dir,
)
from .report import duration
from .timing import time_evaluation, time_train_step
from .train import train

__all__ = [
    "Estimate",
    "check_runs_and_seeds",
    "check_writable",
    "committed_results",
    "copy_training_record",
    "estimate_runs",
    "evaluate_run",
    "git_commit",
    "host_cpu",
    "load_pairs",
    "pairs_bytes",
    "pairs_path",
    "read_json",
    "read_pairs",
    "run_folder",
    "snapshot_path",
    "switched_results",
    "scoring_set_and_oracle",
    "train_run",
    "write_pairs",
]


@functools.cache
def git_commit() -> str:
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
    :func:`kdehist.experiments.evaluation_steps`), freezing a snapshot at each.

    A snapshot holds the config, the step, the training seconds so far and the
    generators' weights, enough for :func:`kdehist.checkpoint.load_generators`. Finished
    snapshots are reused, so an interrupted call resumes where it stopped. Returns the
    run's provenance (also written to ``run/provenance.json``).

    Raises:
        ValueError: the run folder holds a checkpoint trained past a missing snapshot's
            step (its scores would be labelled with the wrong step).
    """
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
                "git_commit": git_commit(),
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


def scoring_set_and_oracle(
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


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path}: expected a JSON file written by kdehist.reproduce, "
            f"could not read it ({error}); delete it and run reproduce again"
        ) from None


def pairs_bytes(arrays: dict[str, np.ndarray]) -> bytes:
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
            atomic_write_bytes(pairs_path, pairs_bytes(metrics))
            seconds = round(time.perf_counter() - began, 1)
            atomic_write_json(
                summary_path, {**summary, "step": step, "eval_seconds": seconds}
            )
        curve.append(read_json(summary_path))
    return curve, read_pairs(run / f"pairs_step{steps[-1]:06d}.npz")


def check_runs_and_seeds(
    runs, seeds, known: dict, default_runs, default_seeds
) -> tuple[list[str], list[int]]:
    """Checked run names (from ``known``; default ``default_runs``) and training seeds
    (integers >= 0; default ``default_seeds``), as lists.

    >>> from kdehist.experiments import EXPERIMENTS, TABLE2, SEEDS
    >>> check_runs_and_seeds(None, [2], EXPERIMENTS, TABLE2, SEEDS)[1]
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


def check_writable(folder: Path, name: str) -> Path:
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


def copy_training_record(run: Path, folder: Path, stem: str) -> list[Path]:
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


def pairs_path(folder: str | Path, name: str, seed: int) -> Path:
    """Where a results folder keeps run ``name``'s per-pair arrays for ``seed``.

    >>> pairs_path("results", "cyclegan", 1).as_posix()
    'results/pairs/cyclegan_seed1.npz'
    """
    return Path(folder) / "pairs" / f"{name}_seed{seed}.npz"


def load_pairs(
    folder: str | Path, name: str, seeds
) -> dict[int, dict[str, np.ndarray]]:
    """Run ``name``'s committed per-pair arrays for each of ``seeds``:
    ``{seed: {metric: (Nx, Ny) array}}``."""
    return {seed: read_pairs(pairs_path(folder, name, seed)) for seed in seeds}


def write_pairs(folder: str | Path, name: str, seed: int, arrays) -> Path:
    """Write run ``name``'s per-pair arrays for ``seed`` to a results folder,
    atomically; returns the file."""
    return atomic_write_bytes(pairs_path(folder, name, seed), pairs_bytes(arrays))


def switched_results(profile: str, train: bool, make) -> Path:
    """The chapters' ``TRAIN`` switch, in one place: the committed cpu results, or with
    ``train`` this runtime's own results folder, made first by ``make(folder)`` (on
    Colab the runs go to Google Drive, :func:`kdehist.colab.use_drive`)."""
    if not train:
        return committed_results("cpu")  # shipped with the package
    use_drive()  # mounts Google Drive and sets KDEHIST_RUNS; does nothing off Colab
    results = runs_dir(profile, "results")
    make(results)
    return results


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What is left of a :func:`kdehist.reproduce.reproduce` call, and how long it
    should take.

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
            f"({self.step_source}) = {duration(self.train_seconds)}\n"
            f"  evaluation: {self.pairs:,} pairs left x {self.pair_seconds:.3g} s/pair "
            f"({self.pair_source}) = {duration(self.eval_seconds)}\n"
            f"  in all about {duration(self.seconds)}. Finished work is kept: after a "
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


def estimate_runs(
    profile: str, configs: dict, out, score_files, measure: bool = True
) -> Estimate:
    """The :class:`Estimate` of training ``configs`` (``{(name, seed): TrainConfig}``)
    under the run folder ``out`` (``None``: the default ``runs/<profile>``, not
    created) and scoring the test set once for each of ``score_files(run, config)``
    (the files a finished scoring leaves) still missing:
    :func:`kdehist.reproduce.estimate`'s arithmetic, shared with the shading study's
    (:func:`kdehist.study.study_estimate`) and the frontier's
    (:func:`kdehist.frontier.frontier_estimate`)."""
    if out is None:
        out = Path(os.environ.get(RUNS_ENV_VAR, "runs")) / profile
    count = evaluation_count(profile) or SPLIT_SIZES["sim"]["test"]
    steps = pairs = 0
    for key, config in configs.items():
        run = run_folder(Path(out), *key)
        steps += config.steps - _steps_done(run, config.steps)
        pairs += count * count * sum(not f.is_file() for f in score_files(run, config))
    # The costliest run stands for all: both generators conditioned.
    first_seed = next(iter(configs))[1]
    timed = configs.get(("proposed_both", first_seed), next(iter(configs.values())))
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
