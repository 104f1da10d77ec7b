"""The claims made by the solutions of chapters 8–10's exercises, checked."""

import numpy as np
import pytest

from kdehist.evaluate import bootstrap_ci
from kdehist.reproduce import committed_results, evaluation_steps, load_results
from kdehist.train import TrainConfig, learning_rate


def test_ch8_last_learning_rate_of_the_cpu_profile():
    config = TrainConfig.from_profile("cpu")
    assert learning_rate(499, config) == pytest.approx(2e-4 * 2 / 251)
    assert learning_rate(249, config) == learning_rate(0, config) == 2e-4


def test_ch10_a_constant_learning_rate_run_with_twelve_evaluations():
    config = TrainConfig.from_profile(
        "cpu", variant="proposed_both", steps=1500, decay_start=1500
    )
    assert learning_rate(0, config) == learning_rate(1499, config)
    assert evaluation_steps(config.steps, count=12) == list(range(125, 1501, 125))
    # Overriding steps alone would decay over the second half, as the solution warns.
    assert TrainConfig.from_profile("cpu", steps=1500).decay_start == 750


def test_ch9_a_pair_bootstrap_is_too_narrow_on_the_committed_arrays():
    results = load_results(committed_results("cpu"))
    values = results["pairs"]["proposed_both"][0]["delta_e76"]
    rng = np.random.default_rng(0)
    flat = values.ravel()
    naive = np.quantile(
        [rng.choice(flat, flat.size).mean() for _ in range(2000)], [0.025, 0.975]
    )
    lo, hi = bootstrap_ci([values])
    assert hi - lo > naive[1] - naive[0]


def test_ch10_the_front_by_intervals_contains_the_front_by_means():
    from kdehist.frontier import load_frontier

    front = load_frontier(committed_results("cpu"))
    points = {row["name"]: row for row in front["runs"]} | front["baselines"]

    def beats(b, a, sure):
        if sure:  # better even at the ends of both intervals
            return (
                b["delta_e76_ci95"][1] < a["delta_e76_ci95"][0]
                and b["shape_score_ci95"][0] > a["shape_score_ci95"][1]
            )
        return (
            b["delta_e76_mean"] < a["delta_e76_mean"]
            and b["shape_score_mean"] > a["shape_score_mean"]
        )

    by_means = {
        n
        for n, a in points.items()
        if not any(beats(b, a, False) for b in points.values())
    }
    by_intervals = {
        n
        for n, a in points.items()
        if not any(beats(b, a, True) for b in points.values())
    }
    assert by_means and by_means <= by_intervals
