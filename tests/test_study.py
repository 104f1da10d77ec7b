"""The shading study: validation split, shading measures per pair, comparisons."""

import json

import numpy as np
import pytest
import torch

from kdehist.data import SyntheticKnees
from kdehist.evaluate import SHADING_METRICS, load_test_set, oracle_pairs
from kdehist.evaluate import shading_metrics
from kdehist.study import MEASURES, compare, load_study, rebuild_study, study


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
    # The two splits are different pairs.
    val = result["splits"]["val"]["proposed_both"]["delta_e76_mean"]
    assert val != result["splits"]["test"]["proposed_both"]["delta_e76_mean"]
    saved = load_study(results)
    assert json.loads(json.dumps(rebuild_study(results))) == saved
    again = study("smoke", out=out, runs=["proposed_one"], train=False, progress=False)
    assert again["missing"] == ["proposed_one/seed0"]
    assert torch.get_num_threads() >= 1
