"""Chapter 10's frontier: the attempts' losses, the runs' configs, and frontier.json."""

import json
import os

import numpy as np
import pytest
import torch

from kdehist.config import TrainConfig
from kdehist.experiments import experiment_config as frontier_config
from kdehist.experiments import experiment_steps as frontier_steps
from kdehist.report import frontier_markdown
from kdehist.figures import figure_png, frontier_figure, training_path_figure
from kdehist.frontier import (
    FRONTIER_RUNS,
    frontier,
    load_frontier,
    path_pairs_name,
)
from kdehist.losses import luminance_gradients, structure_loss
from kdehist.segment import KneeSegmenter
from kdehist.segment import own_foreground
from kdehist.train import train


# --------------------------------------------------------------------------- the losses


def test_structure_loss_ignores_tone_but_sees_lost_shading():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.ones(2, 1, 32, 32)
    retoned = (0.4 * x - 0.3).clamp(-1, 1)  # darker, lower contrast, same shading
    flattened = x.mean((2, 3), keepdim=True).expand_as(x) + 0.05 * torch.randn_like(x)
    assert float(structure_loss(x, retoned, mask)) < 0.01
    assert float(structure_loss(x, flattened, mask)) > 0.3


def test_structure_loss_gradient_matches_finite_differences():
    torch.manual_seed(1)
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64) * 2 - 1
    y = (torch.rand(1, 3, 8, 8, dtype=torch.float64) * 2 - 1).requires_grad_()
    # float64 all the way: luminance_gradients computes in the input's precision.
    assert torch.autograd.gradcheck(
        lambda t: structure_loss(x, t).double(), (y,), eps=1e-6, atol=1e-4
    )


def test_luminance_gradients_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="images: expected 3"):
        luminance_gradients(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="source, translated"):
        structure_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 4, 4))


def test_own_foreground_is_differentiable_at_any_size():
    segmenter = KneeSegmenter(4).eval()
    for size in (32, 64, 128):
        images = (torch.rand(2, 3, size, size) * 2 - 1).requires_grad_()
        mask = own_foreground(segmenter, images)
        assert mask.shape == (2, 1, size, size)
        assert float(mask.detach().min()) > 0  # never an empty foreground
        mask.sum().backward()
        assert images.grad is not None and images.grad.abs().sum() > 0


def test_loss_weights_are_the_config_s():
    config = TrainConfig(lambda_structure=2.0)
    start, after = (config.loss_weights(s) for s in (0, 50))
    assert start == after and start["hist_G"] == 10.0 and start["cycle_X"] == 10.0
    assert start["structure_F"] == 2.0


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("hist_mask", "both", "hist_mask: expected one of"),
        ("lambda_structure", -0.5, "lambda_structure: expected a finite number >= 0"),
    ],
)
def test_frontier_settings_are_checked(field, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TrainConfig(**{field: value})


def test_attempts_train_and_log_their_terms(tmp_path):
    for name in ("own_foreground_hist", "luminance_structure"):
        settings = {**FRONTIER_RUNS[name].settings, "steps": 2}
        config = TrainConfig.from_profile("smoke", **settings)
        result = train(config, tmp_path / name, progress=False)
        logged = result.metrics[-1]
        assert np.isfinite(logged["hist_G"])
        if name == "luminance_structure":
            assert logged["structure_G"] > 0
        else:
            assert "structure_G" not in logged


# --------------------------------------------------------------------------- the runs


def test_every_run_is_proposed_both_with_its_lambda_hist():
    for name, run in FRONTIER_RUNS.items():
        config = frontier_config(name, "cpu")
        assert config.variant == "proposed_both"
        assert "lambda_hist" in run.settings
        assert config.lambda_hist == run.settings["lambda_hist"]
    # lambda 10 is Table 2's run, trained once.
    assert frontier_config("proposed_both", "cpu") == TrainConfig.from_profile("cpu")


def test_the_training_path_is_long_constant_and_densely_scored():
    config = frontier_config("constant_lr", "cpu")
    assert config.steps == 3 * TrainConfig.from_profile("cpu").steps
    assert config.decay_start == config.steps
    steps = frontier_steps("constant_lr", config)
    assert steps[0] == 1 and steps[-1] == config.steps and len(steps) >= 9


def test_frontier_trains_what_is_missing_and_reuses_what_is_done(tmp_path):
    out, results = tmp_path / "runs", tmp_path / "results"
    first = frontier(
        "smoke",
        out=out,
        runs=["hist_lambda1"],
        seeds=[0],
        results_dir=results,
        progress=False,
    )
    [row] = first["runs"]
    assert row["name"] == "hist_lambda1" and row["attempt"] == "lambda_sweep"
    assert row["settings"]["lambda_hist"] == 1.0 and row["seeds"] == [0]
    lo, hi = row["delta_e76_ci95"]
    assert lo <= row["delta_e76_mean"] <= hi
    assert 0 <= row["shape_score_ci95"][0] <= row["shape_score_mean"] <= 1
    assert first["segmenter"]["heldout_iou"] >= 0.95
    assert "best" not in first and "goal" not in row  # nothing is chosen on test
    table = frontier_markdown(first, baselines=True)
    assert "| proposed (both), λ_hist 1 | 1 | 4 | 1 |" in table
    # The samples show the sweep's ends and the paper's run, where they are trained.
    assert (results / "frontier_samples.png").read_bytes().startswith(b"\x89PNG")
    arrays = np.load(results / "pairs" / "hist_lambda1_seed0.npz")
    assert arrays["delta_e76"].ndim == 2 and "shape_score" in arrays
    assert load_frontier(results)["runs"][0]["delta_e76_mean"] == row["delta_e76_mean"]

    snapshots = sorted((out / "hist_lambda1" / "seed0" / "snapshots").glob("*.pt"))
    stamps = [os.stat(p).st_mtime_ns for p in snapshots]
    again = frontier(
        "smoke",
        out=out,
        runs=["hist_lambda1", "hist_lambda3"],
        seeds=[0],
        train=False,
        progress=False,
    )
    assert [os.stat(p).st_mtime_ns for p in snapshots] == stamps  # nothing retrained
    assert again["missing"] == ["hist_lambda3/seed0"]
    assert again["runs"][0]["delta_e76_mean"] == row["delta_e76_mean"]
    fig = frontier_figure(again)
    assert figure_png(fig).startswith(b"\x89PNG")


def test_frontier_refuses_unknown_runs_and_seeds(tmp_path):
    with pytest.raises(ValueError, match="runs: expected names from"):
        frontier("smoke", out=tmp_path, runs=["lambda_hist_7"])
    with pytest.raises(ValueError, match="seeds: expected"):
        frontier("smoke", out=tmp_path, runs=["hist_lambda1"], seeds=[-1])
    with pytest.raises(FileNotFoundError, match="frontier.json"):
        load_frontier(tmp_path)


def test_frontier_json_is_plain_json(tmp_path):
    result = frontier(
        "smoke",
        out=tmp_path,
        runs=["hist_lambda1"],
        seeds=[0],
        train=False,
        progress=False,
    )
    assert result["runs"] == [] and result["missing"] == ["hist_lambda1/seed0"]
    json.loads((tmp_path / "frontier.json").read_text())


def test_the_training_path_is_scored_from_step_one_with_intervals(tmp_path):
    results = tmp_path / "results"
    result = frontier(
        "smoke",
        out=tmp_path / "runs",
        runs=["constant_lr"],
        seeds=[0, 1],
        results_dir=results,
        progress=False,
    )
    steps = frontier_steps("constant_lr", frontier_config("constant_lr", "smoke"))
    path = result["path"]
    assert [p["step"] for p in path] == steps and steps[0] == 1
    for point in path:  # every checkpoint's per-pair arrays are written
        for seed in (0, 1):
            name = path_pairs_name("constant_lr", seed, point["step"])
            assert (results / "pairs" / name).is_file()
    for point in path:
        assert point["seeds"] == [0, 1] and len(point["delta_e76_seed_means"]) == 2
        lo, hi = point["delta_e76_ci95"]
        assert lo <= point["delta_e76_mean"] <= hi
    # The run's row is its last checkpoint.
    assert result["runs"][0]["delta_e76_mean"] == pytest.approx(
        path[-1]["delta_e76_mean"]
    )
    assert figure_png(training_path_figure(result)).startswith(b"\x89PNG")
    # Its change to the end, from the first checkpoint and from the profile's length.
    by_step = {p["step"]: p for p in path}
    profile_steps = TrainConfig.from_profile("smoke").steps
    changes = result["path_changes"]
    assert {(c["from_step"], c["metric"]) for c in changes} == {
        (start, key)
        for start in (steps[1], profile_steps)
        for key in ("delta_e76", "shape_score")
    }
    for change in changes:
        key = change["metric"]
        expected = by_step[steps[-1]][f"{key}_mean"]
        expected -= by_step[change["from_step"]][f"{key}_mean"]
        assert change["difference"] == pytest.approx(expected)
        lo, hi = change["ci95"]
        assert lo <= change["difference"] <= hi
        assert change["resolved"] == (not lo <= 0 <= hi)
    # Each seed's largest fall of the shape score, after step 1.
    falls = result["path_falls"]
    assert [f["seed"] for f in falls] == [0, 1]
    for fall in falls:
        k = fall["seed"]
        shape = [p["shape_score_seed_means"][k] for p in path]
        largest = max(
            shape[a] - shape[b]
            for a in range(1, len(path))
            for b in range(a + 1, len(path))
        )
        assert fall["shape_score"]["from"] - fall["shape_score"]["to"] == pytest.approx(
            largest, abs=1e-6
        )
        assert 1 < fall["from_step"] < fall["to_step"]


def test_table2s_own_run_keeps_table2s_seeds_and_runs_are_compared_with_it(tmp_path):
    table2_seeds = (0, 1, 2)
    result = frontier(
        "smoke",
        out=tmp_path,
        runs=["proposed_both"],
        train=False,
        progress=False,
        table2_seeds=table2_seeds,
    )
    assert result["missing"] == [f"proposed_both/seed{s}" for s in (0, 1, 2)]

    result = frontier(
        "smoke",
        out=tmp_path,
        runs=["proposed_both", "hist_lambda30"],
        progress=False,
        table2_seeds=table2_seeds,
    )
    paper, run = result["runs"]
    # The smoke profile trains one seed of a frontier run; Table 2's keeps its own.
    assert paper["seeds"] == [0, 1, 2] and run["seeds"] == [0]
    table2 = result["baselines"]["proposed_both"]
    assert paper["delta_e76_mean"] == table2["delta_e76_mean"]  # one row, two tables
    assert paper["versus_paper"] is None
    for key in ("delta_e76", "shape_score"):
        versus = run["versus_paper"][key]
        expected = run[f"{key}_mean"] - table2[f"{key}_mean"]
        assert versus["difference"] == pytest.approx(expected)
        lo, hi = versus["ci95"]
        assert lo <= versus["difference"] <= hi
        assert versus["resolved"] == (not lo <= 0 <= hi)


def test_seeds_are_arguments_and_the_smoke_profile_trains_one(tmp_path):
    """The frontier's seeds are arguments (no module-level list to patch): the smoke
    profile trains the first seed only, explicit seeds train those, and without
    training the others are listed as missing."""
    out = tmp_path / "runs"
    one = frontier("smoke", out=out, runs=["hist_lambda1"], progress=False)
    assert one["runs"][0]["seeds"] == [0] and one["missing"] == []
    two = frontier(
        "smoke", out=out, runs=["hist_lambda1"], seeds=[0, 1], progress=False
    )
    assert two["runs"][0]["seeds"] == [0, 1]
    assert len(two["runs"][0]["delta_e76_seed_means"]) == 2
    three = frontier(
        "smoke",
        out=out,
        runs=["hist_lambda1"],
        seeds=[0, 1, 2],
        train=False,
        progress=False,
    )
    assert three["runs"][0]["seeds"] == [0, 1]
    assert three["missing"] == ["hist_lambda1/seed2"]
    assert "named" not in three and "confirmation" not in three
    with pytest.raises(ValueError, match="seeds: expected a non-empty list"):
        frontier("smoke", out=out, runs=["hist_lambda1"], table2_seeds=[-1])


def test_frontier_command_scores_what_is_done_and_names_what_is_not(tmp_path, capsys):
    from kdehist.__main__ import main

    out = tmp_path / "runs"
    argv = ["frontier", "--profile", "smoke", "--no-progress", "--out", str(out)]
    assert main([*argv, "--runs", "hist_lambda1", "--seeds", "0"]) == 0
    printed = capsys.readouterr().out
    assert "hist_lambda1" in printed and "not trained yet" not in printed
    assert main([*argv, "--runs", "hist_lambda1", "hist_lambda3", "--no-train"]) == 0
    printed = capsys.readouterr().out
    assert printed.strip().endswith("not trained yet: hist_lambda3/seed0")
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--runs", "hist_lambda7"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--runs: invalid choice: 'hist_lambda7'" in err
    assert "Traceback" not in err
