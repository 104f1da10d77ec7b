"""Part III's ``TRAIN`` switch, switched on, in the smoke profile.

The cells of chapters 8, 9 and 10 run as they are, up to their training cell, with
``TRAIN = True``: the Drive cell first (Colab's ``google.colab.drive`` faked, then
absent), an estimate printed before anything trains, training and evaluation with
progress, and re-runs that reuse the finished work. Then
:func:`kdehist.reproduce.estimate` and :func:`kdehist.colab.use_drive` on their own.
"""

import sys
import types
from pathlib import Path

import pytest

import kdehist.colab
import kdehist.reproduce
import kdehist.runs
from kdehist.reproduce import estimate, run_folder
from kdehist.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


def switched_on_cells(chapter: str) -> list[str]:
    """The chapter's code cells from the one that picks the profile (the install cell
    before it pip-installs on Colab) to the training cell, with ``TRAIN = True``."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    start = next(i for i, s in enumerate(code) if "kdehist.current_profile()" in s)
    switch = next(i for i, s in enumerate(code) if "\nTRAIN = False\n" in s)
    # One call behind the switch: Drive, the estimate and the training
    # (kdehist.reproduce.table2_results).
    assert "table2_results(PROFILE, train=TRAIN)" in code[switch]
    cells = code[start : switch + 2]
    cells[switch - start] = code[switch].replace(
        "\nTRAIN = False\n", "\nTRAIN = True\n"
    )
    return cells


def run_cells(chapter: str) -> dict:
    namespace = {"__name__": "__main__"}
    for k, source in enumerate(switched_on_cells(chapter)):
        exec(compile(source, f"<{chapter} cell {k}>", "exec"), namespace)
    return namespace


@pytest.fixture
def fake_colab(tmp_path, monkeypatch):
    """A Colab runtime as far as kdehist can tell: ``google.colab.drive.mount``
    records its mount point, which lives in the test's folder."""
    mounted = []
    drive = types.SimpleNamespace(
        mount=lambda path: (
            mounted.append(path)
            or Path(path, "MyDrive").mkdir(parents=True, exist_ok=True)
        )
    )
    colab = types.ModuleType("google.colab")
    colab.drive = drive
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(kdehist.colab, "MOUNTPOINT", tmp_path / "drive")
    return mounted


@pytest.fixture
def smoke_runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("KDEHIST_PROFILE", "smoke")
    monkeypatch.setenv("KDEHIST_RUNS", "unset below; restored after the test")
    monkeypatch.delenv("KDEHIST_RUNS")
    monkeypatch.chdir(tmp_path)
    # The smoke profile trains one seed per run (kdehist.experiments.profile_seeds).


def snapshot_times(runs: Path) -> dict[Path, int]:
    files = list(runs.rglob("*.pt")) + list(runs.rglob("eval_step*.json"))
    return {path: path.stat().st_mtime_ns for path in files}


@pytest.mark.slow
def test_switched_on_part_three_trains_on_drive_and_resumes(
    tmp_path, smoke_runtime, fake_colab, capsys, monkeypatch
):
    drive_runs = tmp_path / "drive" / "MyDrive" / "kdehist-runs"
    # A run cut short by a disconnect after its first two chunks of training (the
    # chunks end at its evaluation steps, 1 to 4 here), before any evaluation.
    config = TrainConfig.from_profile("smoke", variant="proposed_both", seed=0)
    cut = run_folder(drive_runs / "smoke", "proposed_both", 0)
    with monkeypatch.context() as patch:
        patch.setattr(kdehist.runs, "evaluation_steps", lambda total: [1, 2])
        kdehist.runs.train_run(config, cut, progress=False)
    (cut / "provenance.json").unlink()  # written only once every chunk is done

    chapter8 = run_cells("08_training")
    out = capsys.readouterr().out
    assert fake_colab == [str(tmp_path / "drive")]
    assert kdehist.colab.os.environ["KDEHIST_RUNS"] == str(drive_runs)
    assert chapter8["RESULTS"] == drive_runs / "smoke" / "results"
    assert (drive_runs / "smoke" / "results" / "table2.json").is_file()
    assert not (tmp_path / "runs").exists()  # nothing on the runtime's own disk
    # The estimate comes first, and counts what is left: 4 runs x 4 steps, less the 2
    # already trained, and 4 evaluations x 4 x 4 pairs per run.
    assert out.index("Estimate for the smoke profile") < out.index("training to step")
    assert "14 steps left" in out and "256 pairs left" in out
    assert f"{cut}] training to step 3 of 4" in out  # the cut-short run resumed
    assert f"{cut}] training to step 2" not in out

    before = snapshot_times(drive_runs)
    run_cells("09_evaluation")  # Colab again, as after reconnecting
    del sys.modules["google.colab"]
    run_cells("10_tradeoff")  # no Colab: KDEHIST_RUNS as chapter 8 left it
    out = capsys.readouterr().out
    assert out.count("nothing left to train or evaluate") == 2
    assert "training to step" not in out and "evaluating step" not in out
    assert snapshot_times(drive_runs) == before  # nothing trained or evaluated again


def test_estimate_counts_the_work_left(tmp_path):
    runs = ["cyclegan", "proposed_one"]
    fresh = estimate("smoke", runs=runs, seeds=[0, 1], out=tmp_path, measure=False)
    assert (fresh.runs, fresh.steps, fresh.pairs) == (4, 4 * 4, 4 * 4 * 16)
    assert float(fresh) == pytest.approx(
        16 * fresh.step_seconds + 256 * fresh.pair_seconds
    )
    assert "the profile's" in fresh.step_source and "16 steps left" in str(fresh)
    assert not list(tmp_path.iterdir())  # an estimate creates nothing
    config = TrainConfig.from_profile("smoke", variant="cyclegan", seed=1)
    train(config, run_folder(tmp_path, "cyclegan", 1), stop_at=3, progress=False)
    later = estimate("smoke", runs=runs, seeds=[0, 1], out=tmp_path, measure=False)
    assert later.steps == 16 - 3 and later.pairs == fresh.pairs
    timed = estimate("smoke", runs=runs, seeds=[0], out=tmp_path, measure=True)
    assert timed.step_source.startswith("timed here") and timed.step_seconds > 0
    assert timed.pair_source == "timed here" and timed.pair_seconds > 0


def test_gpu_estimates_are_labelled_and_in_the_appendix():
    gpu = estimate("gpu", out=Path("/nonexistent"), measure=False)
    assert "estimated" in gpu.step_source and "not measured" in gpu.step_source
    assert gpu.runs == 12 and gpu.steps == 12 * 12000 and gpu.pairs == 12 * 4 * 784
    appendix = " ".join((ROOT / "book" / "appendix_colab.md").read_text().split())
    for text in gpu_estimate_phrases():
        assert text in appendix, f"appendix_colab.md: expected {text!r} (from code)"


def gpu_estimate_phrases() -> list[str]:
    """What the appendix says of the gpu profile's time, computed here."""
    from kdehist.profiles import PROFILE_TIMINGS
    from kdehist.report import duration

    timing, steps = PROFILE_TIMINGS["gpu"], TrainConfig.from_profile("gpu").steps
    per_model = {
        "training": timing["step"] * steps,
        "evaluation": timing["pair"] * 4 * 784,
    }
    return [
        f"{timing['step']} s per step",
        f"{timing['pair']} s per pair",
        f"training {duration(per_model['training'])} per model",
        f"evaluation {duration(per_model['evaluation'])} per model",
        f"about {duration(12 * sum(per_model.values()))} for the 12 runs",
    ]


@pytest.mark.parametrize("folder", ["", "/abs", None])
def test_use_drive_names_a_bad_folder(folder):
    with pytest.raises(ValueError, match="folder: expected a folder name inside"):
        kdehist.colab.use_drive(folder)


def test_use_drive_does_nothing_off_colab(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setenv("KDEHIST_RUNS", str(tmp_path / "mine"))
    assert kdehist.colab.use_drive() is None
    assert kdehist.colab.os.environ["KDEHIST_RUNS"] == str(tmp_path / "mine")
    assert not (tmp_path / "mine").exists()


def test_use_drive_keeps_a_runs_folder_set_by_hand(tmp_path, monkeypatch, fake_colab):
    monkeypatch.setenv("KDEHIST_RUNS", str(tmp_path / "drive" / "MyDrive" / "mine"))
    assert kdehist.colab.use_drive() == tmp_path / "drive" / "MyDrive" / "mine"
    assert (tmp_path / "drive" / "MyDrive" / "mine").is_dir()


@pytest.mark.slow
def test_switched_on_frontier_trains_and_chapter_ten_reads_it(
    tmp_path, smoke_runtime, monkeypatch
):
    """Chapter 10 with ``TRAIN_FRONTIER = True``: every frontier run trains (one seed
    each, in the smoke profile), and the rest of the chapter runs on what it wrote,
    with no Table 2 baselines in the run folder."""
    import kdehist.frontier

    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(ROOT / "book" / "10_tradeoff.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    start = next(i for i, s in enumerate(code) if "kdehist.current_profile()" in s)
    switch = next(i for i, s in enumerate(code) if "\nTRAIN_FRONTIER = False\n" in s)
    code[switch] = code[switch].replace(
        "\nTRAIN_FRONTIER = False\n", "\nTRAIN_FRONTIER = True\n"
    )
    namespace = {"__name__": "__main__"}
    for k, source in enumerate(code[start:], start):
        exec(compile(source, f"<10_tradeoff cell {k}>", "exec"), namespace)
    results = tmp_path / "runs" / "smoke" / "results"
    assert Path(namespace["FRONTIER_RESULTS"]).resolve() == results.resolve()
    front = namespace["front"]
    assert front["missing"] == []
    assert {row["name"] for row in front["runs"]} == set(kdehist.frontier.FRONTIER_RUNS)
    assert (results / "frontier.json").is_file()
    assert front["path"] and front["path"][0]["step"] == 1
    # The chapter's samples: the sweep's ends beside the paper's, from this runtime.
    assert (results / "frontier_samples.png").is_file()
