"""One command for Table 2, Figures 3–4 and the shape/colour trade-off.

``python -m kdehist reproduce --profile cpu`` trains every variant that is missing (in
chunks, evaluating the protocol of :mod:`kdehist.evaluate` at a few checkpoints on the
way), then writes ``table2.json``, ``tradeoff.json``, ``figure3.png`` and ``figure4.png``
under the run folder, each atomically. Run it again after an interruption: finished
training and finished evaluations are reused, and an interrupted training resumes from
its last checkpoint.
"""
from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import torch

from .evaluate import TestSet, evaluate_generator, load_test_set, oracle_pairs, pair_metrics, summarize
from .io import atomic_torch_save, atomic_write_bytes, atomic_write_json, load_checkpoint
from .profiles import runs_dir

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
#: The smoke profile evaluates a 4 × 4 corner of the protocol, in seconds.
SMOKE_TEST_COUNT = 4
#: The paper's Table 2 (mean ΔE over 784 pairs).
PAPER_TABLE2 = {"cyclegan": 14.1, "cyclegan_sn": 13.7, "proposed_one": 5.0, "proposed_both": 4.6}


def _git_commit() -> str:
    """The checkout's commit, with ``-dirty`` when the package has uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=here)
        status = subprocess.run(["git", "status", "--porcelain", "--", "."], capture_output=True, text=True,
                                check=True, cwd=here)
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
    """Where run ``name`` with ``seed`` keeps its checkpoint, snapshots and evaluations."""
    return Path(out) / name / f"seed{seed}"


def snapshot_path(run: Path, step: int) -> Path:
    """The frozen copy of a run's checkpoint at an evaluation ``step``."""
    return run / "snapshots" / f"step{step:06d}.pt"


def train_run(config, run: Path, progress: bool = True) -> dict:
    """Train one run to each of its evaluation steps, freezing a snapshot at each.

    A snapshot holds the config, the step, the training seconds so far and the
    generators' weights, enough for :func:`kdehist.train.load_generators`. Finished
    snapshots are reused, so an interrupted call resumes where it stopped. Returns the
    run's provenance (also written to ``run/provenance.json``).

    Raises:
        ValueError: the run folder holds a checkpoint trained past a missing snapshot's
            step (its scores would be labelled with the wrong step).
    """
    from .train import Precision, resolve_device, train

    run = Path(run)
    for step in evaluation_steps(config.steps):
        path = snapshot_path(run, step)
        if path.is_file():
            continue
        if progress:
            print(f"[{run}] training to step {step} of {config.steps}", flush=True)
        result = train(config, run, stop_at=step, progress=progress)
        if result.step != step:
            raise ValueError(
                f"run: expected a checkpoint at step {step} in {run}, got one at step {result.step}; "
                f"move it away or pass another run folder"
            )
        saved = load_checkpoint(result.checkpoint)
        generators = {k: v for k, v in saved["nets"].items() if k.startswith(("G.", "F."))}
        atomic_torch_save(path, {"format": saved["format"], "config": saved["config"], "step": step,
                                 "seconds": saved["seconds"], "nets": generators, "git_commit": _git_commit()})
    provenance_file = run / "provenance.json"
    if provenance_file.is_file():
        return json.loads(provenance_file.read_text())
    last = load_checkpoint(snapshot_path(run, evaluation_steps(config.steps)[-1]))
    first = load_checkpoint(snapshot_path(run, evaluation_steps(config.steps)[0]))
    provenance = {
        "git_commit": first.get("git_commit", "unknown"),
        "torch": torch.__version__,
        "precision": Precision(config.autocast, resolve_device(config.device)).mode,
        "threads": config.threads if config.threads is not None else torch.get_num_threads(),
        "train_seconds": round(float(last["seconds"]), 1),
        "host_cpu": host_cpu(),
        "seed": config.seed,
    }
    atomic_write_json(provenance_file, provenance)
    return provenance


def evaluation_steps(total: int, count: int = EVALUATIONS) -> list[int]:
    """``count`` evenly spaced steps ending at ``total`` (fewer when ``total`` is small)."""
    return sorted({max(1, round(total * (k + 1) / count)) for k in range(count)})


def _test_set_and_oracle(profile: str, size: int, out: Path) -> tuple[TestSet, torch.Tensor]:
    count = SMOKE_TEST_COUNT if profile == "smoke" else None
    test = load_test_set(size, count=count)
    cache = out / f"oracle_{size}px_{len(test.inputs)}x{len(test.refs)}.pt"
    if cache.is_file():
        oracle = load_checkpoint(cache)["oracle"].float() / 127.5 - 1
    else:
        oracle = oracle_pairs(test)
        atomic_torch_save(cache, {"oracle": ((oracle + 1) * 127.5).round().to(torch.uint8)})
    return test, oracle


def reproduce(
    profile: str = "cpu",
    out: str | Path | None = None,
    runs: list[str] | None = None,
    results_dir: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Train what is missing, evaluate, and write the results. Returns the Table 2 dict.

    Args:
        profile: a :class:`kdehist.train.TrainConfig` profile (``"smoke"``, ``"cpu"``, ...).
        out: the run folder (default ``runs/<profile>`` under :func:`kdehist.profiles.runs_dir`).
        runs: names from ``RUNS`` (default ``DEFAULT_RUNS``, the four rows of Table 2).
        results_dir: also copy ``table2.json`` and ``tradeoff.json`` there (the book's
            ``book/results/<profile>``).
        progress: show training progress bars.
    """
    from .train import TrainConfig, load_generators, train

    names = list(DEFAULT_RUNS) if runs is None else runs
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise ValueError(f"runs: expected names from {list(RUNS)}, got {unknown}")
    configs = {n: TrainConfig.from_profile(profile, **RUNS[n]) for n in names}  # errors before any work
    out = Path(out) if out is not None else runs_dir(profile)
    out.mkdir(parents=True, exist_ok=True)
    size = next(iter(configs.values())).image_size
    test, oracle = _test_set_and_oracle(profile, size, out)

    table: dict[str, dict] = {}
    tradeoff: dict[str, list] = {}
    train_seconds = eval_seconds = 0.0
    for name, config in configs.items():
        run = out / name
        curve = []
        for step in evaluation_steps(config.steps):
            path = run / f"eval_step{step:06d}.json"
            if not path.is_file():
                if progress:
                    print(f"[{name}] training to step {step} of {config.steps}", flush=True)
                train(config, run, stop_at=step, progress=progress)
                began = time.perf_counter()
                pair = load_generators(run / "checkpoint.pt")
                bins = pair.config.hist_bins if pair.G.conditioned else None
                summary, _, _ = evaluate_generator(pair.G, test, bins, oracle)
                atomic_write_json(path, {**summary, "step": step, "eval_seconds": round(time.perf_counter() - began, 1)})
            curve.append(json.loads(path.read_text()))
        run_seconds = float(load_checkpoint(run / "checkpoint.pt").get("seconds", 0.0))
        train_seconds += run_seconds
        eval_seconds += sum(e.get("eval_seconds", 0.0) for e in curve)
        final = curve[-1]
        table[name] = {**final, "paper_delta_e": PAPER_TABLE2.get(name), "variant": config.variant,
                       "train_seconds": round(run_seconds, 1),
                       "condition": config.condition if config.variant.startswith("proposed") else None}
        tradeoff[name] = [{k: e[k] for k in ("step", "delta_e76_mean", "shape_iou_mean", "ssim_mean", "edge_f1_mean")}
                          for e in curve]

    provenance = {
        "profile": profile,
        "seed": next(iter(configs.values())).seed,
        "git_commit": _git_commit(),
        "train_seconds": round(train_seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "test_pairs": f"{len(test.inputs)} x {len(test.refs)}",
        "image_size": size,
        "torch": torch.__version__,
    }
    baselines = {"oracle": summarize(pair_metrics(oracle, test, oracle)), "average_tone": average_tone_baseline(test)}
    table2 = {"variants": table, "baselines": baselines, "provenance": provenance}
    atomic_write_json(out / "table2.json", table2)
    atomic_write_json(out / "tradeoff.json", {"runs": tradeoff, "provenance": provenance})
    if "proposed_both" in configs:
        write_figures(out, test, [n for n in ("proposed_both", "proposed_one", "cyclegan_sn", "cyclegan") if n in configs])
    if results_dir is not None:
        results_dir = Path(results_dir)
        atomic_write_json(results_dir / "table2.json", table2)
        atomic_write_json(results_dir / "tradeoff.json", {"runs": tradeoff, "provenance": provenance})
    return table2


def average_tone_baseline(test: TestSet) -> dict:
    """ΔE76 of a tone-blind ideal: every output has the references' average foreground colour."""
    from .color import delta_e_of_means, mean_lab

    refs = mean_lab(test.refs, test.ref_masks)
    values = delta_e_of_means(refs.mean(0, keepdim=True).expand_as(refs), refs, "cie76")
    return {"delta_e76_mean": float(values.mean()), "delta_e76_median": float(values.median()),
            "delta_e76_std": float(values.std(unbiased=False)), "references": len(refs)}


def _render_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def figure_pairs(test: TestSet, rows: int = 4) -> list[tuple[int, int]]:
    """Input/reference pairs for Figure 3: different inputs, references from light to deep."""
    lightness = torch.tensor([float(l) for l in _ref_lightness(test)])
    order = torch.argsort(lightness, descending=True)
    picks = [int(order[round(k * (len(order) - 1) / max(rows - 1, 1))]) for k in range(rows)]
    return [(k % len(test.inputs), j) for k, j in enumerate(picks)]


def _ref_lightness(test: TestSet):
    from .color import mean_lab

    return mean_lab(test.refs, test.ref_masks)[:, 0]


def translate_selected(run_dir: Path, test: TestSet, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """The final generator of ``run_dir`` on the given (input, reference) pairs: ``(P, 3, S, S)``."""
    from .histogram import soft_histogram
    from .train import load_generators

    G, _, config = load_generators(run_dir / "checkpoint.pt")
    x = torch.stack([test.inputs[i] for i, _ in pairs])
    with torch.no_grad():
        if G.conditioned:
            refs = torch.stack([test.refs[j] for _, j in pairs])
            masks = torch.stack([test.ref_masks[j] for _, j in pairs])
            return G(x, soft_histogram(refs, config.hist_bins, mask=masks)).float()
        return G(x).float()


def _show(ax, image, title=None):
    ax.imshow(((image.permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def figure3(out: Path, test: TestSet, names: list[str], rows: int = 4):
    """Figure 3: input, reference, then each variant's translation, one pair per row."""
    import matplotlib.pyplot as plt

    pairs = figure_pairs(test, rows)
    outputs = {n: translate_selected(out / n, test, pairs) for n in names}
    fig, axes = plt.subplots(len(pairs), 2 + len(names), figsize=(1.6 * (2 + len(names)), 1.6 * len(pairs)), squeeze=False)
    for r, (i, j) in enumerate(pairs):
        _show(axes[r, 0], test.inputs[i], "input" if r == 0 else None)
        _show(axes[r, 1], test.refs[j], "reference" if r == 0 else None)
        for c, n in enumerate(names):
            _show(axes[r, 2 + c], outputs[n][r], n.replace("_", " ") if r == 0 else None)
    fig.tight_layout()
    return fig


def figure4(out: Path, test: TestSet, name: str = "proposed_both", inputs: int = 4, refs: int = 6):
    """Figure 4: inputs (rows) × references (columns), translated by one model."""
    import matplotlib.pyplot as plt

    order = torch.argsort(_ref_lightness(test), descending=True)
    columns = [int(order[round(k * (len(order) - 1) / max(refs - 1, 1))]) for k in range(refs)]
    rows = list(range(min(inputs, len(test.inputs))))
    pairs = [(i, j) for i in rows for j in columns]
    images = translate_selected(out / name, test, pairs)
    fig, axes = plt.subplots(len(rows) + 1, len(columns) + 1, figsize=(1.5 * (len(columns) + 1), 1.5 * (len(rows) + 1)), squeeze=False)
    axes[0, 0].axis("off")
    for c, j in enumerate(columns):
        _show(axes[0, c + 1], test.refs[j], "reference" if c == 0 else None)
    for r, i in enumerate(rows):
        _show(axes[r + 1, 0], test.inputs[i], "input" if r == 0 else None)
        for c in range(len(columns)):
            _show(axes[r + 1, c + 1], images[r * len(columns) + c])
    fig.tight_layout()
    return fig


def write_figures(out: Path, test: TestSet, names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    for filename, fig in (("figure3.png", figure3(out, test, names)), ("figure4.png", figure4(out, test))):
        atomic_write_bytes(out / filename, _render_png(fig))
        plt.close(fig)
