"""The shading study: validation split, shading measures per pair, comparisons."""

import json

import numpy as np
import pytest
import torch

from kdehist.data import SyntheticKnees
from kdehist.evaluate import SHADING_METRICS, load_test_set, oracle_pairs
from kdehist.evaluate import shading_metrics
from kdehist.experiments import PATH_LENGTH, experiment_config, experiment_steps
from kdehist.study import PATH, PATH_MEASURES, MEASURES, compare, load_study
from kdehist.study import path_changes, rebuild_study, study


def test_validation_split_shares_no_sample_with_test_or_training():
    def poses(domain, split, count):
        knees = SyntheticKnees(domain, split, size=32)
        return {tuple(sorted(knees.pose(i).items())) for i in range(count)}

    for domain in ("sim", "real"):
        val = poses(domain, "val", 28)
        assert len(val) == 28
        assert not val & poses(domain, "test", 28)
        assert not val & poses(domain, "train", 100)


def test_shading_metrics_score_the_oracle_as_ideal_and_the_input_as_its_lighting():
    test = load_test_set(32, count=3, split="val")
    oracle = oracle_pairs(test)
    ideal = shading_metrics(oracle, test, oracle)
    assert set(ideal) == set(SHADING_METRICS)
    assert all(v.shape == (3, 3) for v in ideal.values())
    np.testing.assert_allclose(ideal["relief_oracle"], 1.0, atol=1e-9)
    np.testing.assert_allclose(ideal["spread_l"], 1.0, atol=1e-9)
    # The oracle is lit like its reference, the input like the simulator: their relief
    # agrees only in part.
    assert 0 < ideal["relief_input"].mean() < 0.95
    inputs = test.inputs[:, None].expand_as(oracle)
    own = shading_metrics(inputs.contiguous(), test, oracle)
    np.testing.assert_allclose(own["relief_input"], 1.0, atol=1e-9)
    flat = oracle.clone()
    flat[:] = flat.mean((-1, -2), keepdim=True)  # one flat colour per image
    collapsed = shading_metrics(flat, test, oracle)
    assert np.all(collapsed["spread_l"] < 1e-6)
    with pytest.raises(ValueError, match="^test: expected a test set with kneecap"):
        shading_metrics(
            oracle, type(test)(**{**test.__dict__, "kneecaps": None}), oracle
        )


def test_compare_calls_a_difference_resolved_only_when_both_intervals_agree():
    rng = np.random.default_rng(1)
    a = {s: {"x": rng.normal(1.0, 0.1, (5, 5))} for s in range(3)}
    b = {s: {"x": rng.normal(0.9, 0.1, (5, 5)) + s * 0.2} for s in range(3)}
    for other in (b, {s: {"x": v["x"] - 1.0} for s, v in b.items()}):
        result = compare(a, other, "x")
        lo, hi = result["welch_ci95"]
        assert lo <= result["difference"] <= hi
        welch = not lo <= 0 <= hi
        assert result["resolved"] == (result["bootstrap_resolved"] and welch)
    assert compare(a, {s: {"x": v["x"] - 1.0} for s, v in b.items()}, "x")["resolved"]
    one_seed = compare(a, {0: b[0]}, "x")
    assert one_seed["welch_ci95"] == [None, None] and not one_seed["resolved"]


@pytest.mark.slow
def test_study_trains_scores_both_splits_and_rebuilds_from_its_arrays(tmp_path):
    out, results = tmp_path / "runs", tmp_path / "results"
    result = study(
        "smoke",
        out=out,
        runs=["proposed_both", "hist_lambda0"],
        results_dir=results,
        progress=False,
    )
    assert set(result["splits"]) == {"val", "test"} and result["missing"] == []
    for split in ("val", "test"):
        rows = result["splits"][split]
        assert set(rows) == {"proposed_both", "hist_lambda0"}
        row = rows["hist_lambda0"]
        assert row["seeds"] == [0] and row["label"] == "proposed (both), λ_hist 0"
        for key in MEASURES:
            lo, hi = row[f"{key}_ci95"]
            assert lo <= row[f"{key}_mean"] <= hi
        assert set(row["versus"]) == {"proposed_both"}
        assert not row["versus"]["proposed_both"]["relief_input"]["resolved"]
    # The training path: every checkpoint of every seed, on both splits.
    config = experiment_config(PATH, "smoke")
    steps = experiment_steps(PATH, config)
    for split in ("val", "test"):
        entry = result["path"]["splits"][split]
        assert [p["step"] for p in entry["points"]] == steps
        assert all(p["seeds"] == [0] for p in entry["points"])
        starts = {c["from_step"] for c in entry["changes"]}
        assert starts == {steps[1], config.steps // PATH_LENGTH}
        assert all(c["to_step"] == steps[-1] for c in entry["changes"])
        assert not any(c["resolved"] for c in entry["changes"])  # one seed: no t
    # The two splits are different pairs.
    val = result["splits"]["val"]["proposed_both"]["delta_e76_mean"]
    assert val != result["splits"]["test"]["proposed_both"]["delta_e76_mean"]
    saved = load_study(results)
    assert json.loads(json.dumps(rebuild_study(results))) == saved
    again = study("smoke", out=out, runs=["proposed_one"], train=False, progress=False)
    assert again["missing"] == ["proposed_one/seed0"]
    assert torch.get_num_threads() >= 1


def test_path_changes_need_the_seeds_to_agree_as_well_as_the_pairs():
    rng = np.random.default_rng(2)
    steps = (1, 10, 20, 30)

    def path(change_by_seed):
        return {
            seed: {
                step: {
                    key: rng.normal(0.0, 0.01, (6, 6)) + change * (step >= 30)
                    for key in PATH_MEASURES
                }
                for step in steps
            }
            for seed, change in enumerate(change_by_seed)
        }

    agree = path_changes(path([0.30, 0.32, 0.31]))
    assert {(c["from_step"], c["to_step"]) for c in agree} == {(10, 30)}
    assert [c["metric"] for c in agree] == list(PATH_MEASURES)
    assert all(c["resolved"] and c["difference"] > 0.25 for c in agree)
    # Within a seed every pair moves alike, but the seeds disagree in sign: the
    # t-interval over seeds keeps the change unresolved.
    split = path_changes(path([0.5, -0.1, 0.4]))
    assert all(c["t_ci95"][0] < 0 < c["t_ci95"][1] for c in split)
    assert not any(c["resolved"] for c in split)


def _run(delta_e: float, relief: float, seeds=(0,)) -> dict:
    return {
        s: {
            "delta_e76": np.full((3, 3), delta_e + 0.01 * s),
            "relief_input": np.full((3, 3), relief + 0.01 * s),
        }
        for s in seeds
    }


def test_choose_takes_the_most_relief_within_the_colour_allowance():
    from kdehist.study import COLOUR_ALLOWANCE, choose, not_chosen

    limit = 3.0 * (1 + COLOUR_ALLOWANCE)
    val = {
        "proposed_both": _run(3.0, 0.40),
        "luminance_structure": _run(limit + 0.01, 0.70),  # too costly in colour
        "luminance_structure_weak": _run(limit - 0.01, 0.50),
        "relief": _run(3.5, 0.60),
        "relief_strong": _run(3.4, 0.80),
    }
    choices = choose(val)
    assert choices["luminance_structure"]["chosen"] == "luminance_structure_weak"
    assert choices["luminance_structure"]["limit"] == pytest.approx(limit)
    # None within the allowance: the lowest colour error.
    assert choices["relief"]["chosen"] == "relief_strong"
    assert not_chosen(choices) == {"luminance_structure", "relief"}
    # A candidate not scored yet: nothing to choose for its attempt.
    del val["relief"]
    assert set(choose(val)) == {"luminance_structure"}
    assert choose({"relief": val["relief_strong"]}) == {}


def test_goal_needs_resolved_relief_and_no_resolved_colour_loss_against_both():
    from kdehist.study import goal, summarize_study

    seeds = (0, 1, 2)
    runs = {
        "proposed_both": _run(3.0, 0.40, seeds),
        "proposed_one": _run(3.1, 0.41, seeds),
        "relief": _run(3.0, 0.60, seeds),
        "relief_strong": _run(3.5, 0.80, seeds),
        "luminance_structure": _run(4.0, 0.41, seeds),
        "luminance_structure_weak": _run(5.0, 0.41, seeds),
    }
    rng = np.random.default_rng(0)
    for run in runs.values():  # seeds that differ, so that Welch has a width
        for arrays in run.values():
            for key in arrays:
                arrays[key] = arrays[key] + rng.normal(0, 0.01, (3, 3))
    result = summarize_study({"val": runs, "test": runs})
    assert result["choices"]["relief"]["chosen"] == "relief"
    verdict = result["goal"]["relief"]
    assert verdict["met"] and not verdict["stretch"]
    assert verdict["against"]["proposed_both"]["relief_better"]
    # The luminance-structure choice keeps no more relief: no goal.
    assert not result["goal"]["luminance_structure"]["met"]
    # Only one reference scored: the goal cannot be met.
    rows = {k: v for k, v in result["splits"]["test"].items() if k != "proposed_one"}
    for row in rows.values():
        row["versus"].pop("proposed_one", None)
    assert not goal(rows, result["choices"])["relief"]["met"]


def test_the_choice_and_the_goal_read_as_tables_and_sentences():
    from kdehist import study_report
    from kdehist.study import summarize_study

    seeds = (0, 1, 2)
    rng = np.random.default_rng(1)
    runs = {
        name: _run(de, relief, seeds)
        for name, de, relief in (
            ("proposed_both", 3.0, 0.40),
            ("proposed_one", 3.1, 0.41),
            ("relief", 3.0, 0.60),
            ("relief_strong", 3.5, 0.80),
        )
    }
    for run in runs.values():
        for arrays in run.values():
            for key in arrays:
                arrays[key] = arrays[key] + rng.normal(0, 0.01, (3, 3))
    result = summarize_study({"val": runs, "test": runs})
    table = study_report.choice_markdown(result)
    assert table.count("\n") == 4 and "**chosen**" in table.splitlines()[3]
    assert (
        "proposed (both), + relief for the relief attempt"
        in study_report.choice_text(result)
    )
    goal = study_report.goal_text(result)
    assert goal == "Proposed (both), + relief (3 seeds) meets the goal."
    table = study_report.versus_markdown(result, ["relief"])
    # Resolved: relief against both, and ΔE76 against proposed (one), 3.1 vs 3.0.
    assert table.count("\n") == 3 and table.count("**") == 3 * 4
    assert "largest weight" not in study_report.choice_text(result)
    result["choices"]["relief"]["chosen"] = "relief_strong"
    assert "Proposed (both), + relief 3 is the largest weight tried" in (
        study_report.choice_text(result)
    )
    empty = summarize_study({"val": {}, "test": {}})
    assert "no weight is chosen" in study_report.choice_text(empty)
    assert study_report.goal_text(empty).startswith("No attempt")


def test_recheck_repeats_the_committed_bootstrap_verdicts_and_adds_welch():
    from kdehist import report
    from kdehist.runs import committed_results
    from kdehist.study import recheck

    folder = committed_results("cpu")
    rows = recheck(folder)
    table2 = json.loads((folder / "table2.json").read_text())
    front = json.loads((folder / "frontier.json").read_text())
    committed = {(c["a"], c["b"], c["metric"]): c for c in table2["comparisons"]}
    for run in front["runs"]:
        for key, change in (run["versus_paper"] or {}).items():
            committed[(run["name"], "proposed_both", key)] = change
    for row in rows:
        saved = committed.get((row["a"], row["b"], row["metric"]))
        if saved is not None:  # the same bootstrap, so the same verdict
            assert row["bootstrap_resolved"] == saved["resolved"]
            assert row["difference"] == pytest.approx(saved["difference"])
        # Welch never resolves what the bootstrap does not.
        assert not row["resolved"] or row["bootstrap_resolved"]
    assert any(r["bootstrap_resolved"] and not r["resolved"] for r in rows)
    table = report.recheck_markdown(rows)
    assert table.count("\n") == 1 + sum(r["bootstrap_resolved"] for r in rows)
    assert report.recheck_text(rows).startswith(f"Of the {len(rows)} differences")


def test_untrained_measures_are_reported_for_each_chosen_attempt():
    from kdehist import study_report
    from kdehist.runs import committed_results

    study_json = load_study(committed_results("cpu"))
    assert study_report.untrained_text({**study_json, "goal": {}}) == ""
    name = next(n for n in study_json["splits"]["test"] if n != "proposed_both")
    text = study_report.untrained_text({**study_json, "goal": {"x": {"run": name}}})
    label = study_json["splits"]["test"][name]["label"]
    label = label[0].upper() + label[1:]
    assert f"{label}: relief vs oracle " in text and "edge F1" in text


def test_table2_gains_a_marked_row_only_for_an_attempt_that_meets_the_goal():
    from kdehist import report
    from kdehist.runs import committed_results

    folder = committed_results("cpu")
    table2 = json.loads((folder / "table2.json").read_text())
    study_json = load_study(folder)
    name = next(n for n in study_json["splits"]["test"] if n != "proposed_both")
    for met in (False, True):
        study_json["goal"] = {"x": {"run": name, "met": met}}
        for detailed in (False, True):
            table = report.table2_markdown(table2, detailed, study=study_json)
            label = study_json["splits"]["test"][name]["label"]
            assert (f"| {label} † |" in table) == met
            assert ("† Trained for the shading study" in table) == met
            rows = [line for line in table.splitlines() if line.startswith("| ")]
            assert len({line.count("|") for line in rows}) == 1  # no ragged row


def test_the_path_on_shading_reads_as_a_table_a_sentence_and_a_figure():
    from kdehist import study_report
    from kdehist.figures import figure_png, study_path_figure
    from kdehist.study import summarize_study

    rng = np.random.default_rng(3)
    steps, seeds = (1, 125, 250, 500, 1000, 1500), (0, 1, 2)
    keys = ("delta_e76", *PATH_MEASURES[1:], "shape_score")

    def arrays(step, seed):
        # Colour improves with training while the relief fades, alike in every seed.
        value = {"delta_e76": 9.0 - step / 250}
        value |= {k: 0.8 - step / 2500 for k in keys[1:]}
        return {
            k: v + rng.normal(0, 0.01, (4, 4)) + 0.01 * seed for k, v in value.items()
        }

    path = {seed: {step: arrays(step, seed) for step in steps} for seed in seeds}
    result = summarize_study({"test": {}}, paths={"test": path})
    entry = result["path"]["splits"]["test"]
    assert [p["step"] for p in entry["points"]] == list(steps)
    table = study_report.study_path_markdown(result, "test")
    assert table.count("\n") == 1 + 2 * len(PATH_MEASURES)
    relief = [
        r for r in table.splitlines() if r.startswith("| 500 → 1500 | relief vs i")
    ]
    assert len(relief) == 1 and relief[0].count("**-0.") == 2  # resolved, falling
    text = study_report.study_path_text(result)
    assert text.startswith("At step 500, the length of Table 2's runs")
    assert "mean ΔE76 7.01" in text  # 9 - 500 / 250, plus the seeds' 0.01 offsets
    assert text.endswith(
        "after step 500, colour improves while relief against the input is lost."
    )
    assert study_report.study_path_text(result, verdict_only=True).endswith(
        "(mean over 3 seeds)."
    )
    assert figure_png(study_path_figure(result)).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="^split: expected one of"):
        study_path_figure(result, "val")
    one_seed = summarize_study({"test": {}}, paths={"test": {0: path[0]}})
    assert study_report.study_path_text(one_seed, verdict_only=True).endswith(
        "with no t-interval, no change is resolved."
    )
    empty = summarize_study({"test": {}})
    assert "not scored" in study_report.study_path_text(empty)


def test_where_the_colour_comes_from_compares_lambda0_with_both_ends():
    from kdehist import study_report
    from kdehist.study import summarize_study

    seeds = (0, 1, 2)
    runs = {
        "cyclegan_sn": _run(20.0, 0.30, seeds),
        "hist_lambda0": _run(6.0, 0.25, seeds),
        "proposed_both": _run(4.0, 0.40, seeds),
    }
    result = summarize_study({"test": runs})
    rows = result["splits"]["test"]
    assert set(rows["hist_lambda0"]["versus"]) == {"proposed_both", "cyclegan_sn"}
    assert set(rows["cyclegan_sn"]["versus"]) == {"proposed_both"}
    text = study_report.conditioning_text(result)
    # (20 - 6) / (20 - 4) of the way from no conditioning to the paper's weight.
    assert (
        "the conditioning alone covers 88% of the way, and the loss resolvably" in text
    )
    assert "CycleGAN + SN by -14.00 (resolved)" in text
    assert "proposed (both) by +2.00 (resolved)" in text
    del runs["hist_lambda0"]
    assert "no run is scored" in study_report.conditioning_text(
        summarize_study({"test": runs})
    )


def test_the_colour_weight_on_shading_walks_the_sweep_and_compares_its_ends():
    from kdehist import study_report
    from kdehist.study import summarize_study

    seeds = (0, 1, 2)
    runs = {
        "hist_lambda30": _run(3.0, 0.20, seeds),
        "hist_lambda1": _run(3.5, 0.60, seeds),
        "proposed_both": _run(3.2, 0.40, seeds),
        "relief": _run(2.0, 0.90, seeds),  # not a weight of the sweep
    }
    result = summarize_study({"test": runs})
    assert set(result["splits"]["test"]["hist_lambda30"]["versus"]) == {
        "proposed_both",
        "hist_lambda1",
    }
    text = study_report.sweep_text(result)
    # In order of weight, whatever the order of the runs; seeds add 0.01 each.
    assert text.startswith(
        "Along the colour weight, λ_hist 1, 10 and 30, mean relief against the input "
        "goes 0.61 → 0.41 → 0.21 and mean ΔE76 3.51 → 3.21 → 3.01."
    )
    assert "λ_hist 30 against 1 (3 seeds each): relief vs input -0.400" in text
    assert " and ΔE76 -0.50 [" in text
    assert text.endswith("(resolved).") and text.count("(resolved)") == 2
    del runs["hist_lambda1"], runs["proposed_both"]
    assert "Fewer than two weights" in study_report.sweep_text(
        summarize_study({"test": runs})
    )
