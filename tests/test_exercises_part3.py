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


def test_ch8_schedule_written_by_hand_is_the_package_s():
    """ch8-ex-schedule: the hand-written schedule equals learning_rate at every step."""
    config = TrainConfig.from_profile("cpu")

    def my_rate(step, steps=500, decay_start=250, lr=2e-4):
        return lr * (1 - max(0, step - decay_start) / (steps - decay_start + 1))

    assert all(abs(my_rate(t) - learning_rate(t, config)) < 1e-15 for t in range(500))


def test_ch9_a_bootstrap_written_by_hand_agrees_with_bootstrap_ci():
    """ch9-ex-bootstrap: rows and columns resampled by hand give bootstrap_ci's
    interval to a few hundredths."""
    from kdehist.runs import read_pairs

    values = read_pairs(committed_results("cpu", "pairs", "proposed_both_seed0.npz"))[
        "delta_e76"
    ]
    rng = np.random.default_rng(1)
    means = [
        values[rng.integers(28, size=28)][:, rng.integers(28, size=28)].mean()
        for _ in range(2000)
    ]
    mine = np.quantile(means, [0.025, 0.975])
    assert mine == pytest.approx(bootstrap_ci([values]), abs=0.1)


def test_ch10_welch_written_by_hand_is_welch_interval():
    """ch10-ex-welch: Welch-Satterthwaite by hand is kdehist.stats.welch_interval."""
    from scipy import stats

    from kdehist.stats import welch_interval

    a, b = np.array([3.18, 4.06, 2.81]), np.array([3.10, 2.85, 3.09])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 3
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    half = stats.t.ppf(0.975, dof) * np.sqrt(va + vb)
    d = a.mean() - b.mean()
    assert [d - half, d + half] == pytest.approx(welch_interval(a, b)["ci95"])


def test_ch11_translating_by_hand_is_translate():
    """ch11-ex-by-hand: the histogram and G by hand give kdehist.translate's output."""
    import torch

    import kdehist
    from kdehist.data import SyntheticKnees

    G = kdehist.pretrained_generator()
    sim = SyntheticKnees("sim", "test", size=64)[0]
    real = SyntheticKnees("real", "test", size=64)[3]
    with torch.no_grad():
        h = kdehist.soft_histogram(real["image"][None], 32, mask=real["mask"][None])
        mine = G(sim["image"][None], h)[0]
    result = kdehist.translate(sim["image"], real["image"], real["mask"])
    assert (mine - result.output).abs().max().item() == 0


def test_ch10_relief_loss_by_hand_is_relief_loss():
    """ch10-ex-relief: the relief loss in NumPy is kdehist.losses.relief_loss, and a
    darker, paler copy loses nothing."""
    import torch
    from scipy import ndimage

    from kdehist.data import SyntheticKnees
    from kdehist.losses import relief_loss

    knee = SyntheticKnees("sim", "test", size=64)[0]
    image, mask = knee["image"].double().numpy(), knee["mask"][0].numpy() > 0.5

    def relief(image, mask, sigma=3.0, erosion=2):
        y = 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]
        m = ndimage.binary_erosion(
            mask, np.ones((2 * erosion + 1,) * 2), border_value=1
        ).astype(float)

        def blur(a):
            return ndimage.gaussian_filter(a, sigma, mode="constant", truncate=3.0)

        r = (y - blur(y * m) / np.maximum(blur(m), 1e-6)) * m
        return (r - r[m > 0].mean()) * m

    def my_relief_loss(a, b, mask):
        ra, rb = relief(a, mask), relief(b, mask)
        return 1 - (ra * rb).sum() / np.sqrt((ra**2).sum() * (rb**2).sum())

    assert abs(my_relief_loss(image, 0.5 * image - 0.2, mask)) < 1e-9
    noisy = image + np.random.default_rng(0).normal(0, 0.05, image.shape)
    package = relief_loss(
        torch.from_numpy(image)[None], torch.from_numpy(noisy)[None], knee["mask"][None]
    )
    assert my_relief_loss(image, noisy, mask) == pytest.approx(package.item(), abs=1e-6)
    assert my_relief_loss(image, -image, mask) == pytest.approx(2.0)
