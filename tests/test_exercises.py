"""Exercises: at least one claim of a solution per chapter, computed with kdehist.

Each test names the exercise label (`:label:` in the chapter's "Exercises" section)
whose solution it checks. All run in seconds on small tensors.
"""

import math

import pytest
import torch

import kdehist
from kdehist.histogram import bin_centers


@pytest.fixture(autouse=True)
def smoke_profile(monkeypatch):
    monkeypatch.setenv("KDEHIST_PROFILE", "smoke")


# ---------------------------------------------------------------- chapter 1


def test_ch1_nudge_share_is_k_delta_over_two():
    """ex-ch1-nudge: a nudge by delta moves K * delta / 2 of uniformly spread pixels."""
    torch.manual_seed(0)
    image = torch.rand(3, 256, 256, dtype=torch.float64) * 2 - 1

    def bin_index(t):
        return torch.floor((t + 1) / (2 / 32))

    moved = (bin_index(image) != bin_index(image + 1e-3)).double().mean().item()
    assert moved == pytest.approx(32 * 1e-3 / 2, rel=0.05)


def test_ch1_soft_slope_signs():
    """ex-ch1-sign: slopes +0.200, 0.000, -0.200 of bin 2's mass; hard mass 3/4."""
    others = torch.tensor([-0.6, 0.1, 0.2])
    slopes = []
    for start in (0.05, 0.25, 0.45):
        v = torch.tensor(start, requires_grad=True)
        pixels = torch.cat([others, v[None]]).reshape(1, 1, 1, -1)
        (slope,) = torch.autograd.grad(kdehist.soft_histogram(pixels, 4)[0, 0, 2], v)
        slopes.append(slope.item())
        hard_mass = kdehist.hard_histogram(pixels.detach(), 4)[0, 0, 2].item()
        assert hard_mass == pytest.approx(0.75)
    assert slopes == pytest.approx([0.200, 0.0, -0.200], abs=5e-4)


def test_ch1_narrow_bandwidth_gives_few_pixels_a_slope():
    """ex-ch1-explorer: beyond 5B the window's slope is below 3 %
    of its peak; tanh(25) = 1.
    """

    def sigma_prime(z):
        return torch.sigmoid(torch.tensor(z)) * torch.sigmoid(-torch.tensor(z))

    assert (sigma_prime(5.0) / sigma_prime(0.0)).item() < 0.03
    assert math.tanh(1 / (4 * 0.01)) == pytest.approx(1.0, abs=1e-15)


def test_ch1_hard_histogram_by_hand():
    """ex-ch1-hard: floor and scatter_add_ give kdehist.hard_histogram exactly, with
    edges, +1 and values outside the range; the masses sum to the share inside."""

    def hard_by_hand(x, bins, lo=-1.0, hi=1.0):
        b, c = x.shape[:2]
        values = x.reshape(b * c, -1)
        index = torch.floor((values - lo) / (hi - lo) * bins).long()
        index[values == hi] = bins - 1
        inside = (index >= 0) & (index < bins)
        counts = torch.zeros(b * c, bins, dtype=torch.float64)
        counts.scatter_add_(1, index.clamp(0, bins - 1), inside.double())
        return (counts / values.shape[1]).reshape(b, c, bins)

    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2.2 - 1.1
    x[0, 0, 0, :5] = torch.tensor([-1.0, -0.5, 0.0, 0.75, 1.0], dtype=torch.float64)
    assert torch.equal(hard_by_hand(x, 8), kdehist.hard_histogram(x, 8))
    inside = ((x >= -1) & (x <= 1)).double().mean((2, 3))
    assert torch.allclose(hard_by_hand(x, 8).sum(-1), inside)
    assert 0.85 < inside.mean().item() < 0.95


# ---------------------------------------------------------------- chapter 2


@pytest.mark.parametrize(
    "ratio, height", [(1 / 2.5, 0.5546), (1 / (4 * math.atanh(0.9)), 0.9000)]
)
def test_ch2_window_height_at_the_centre(ratio, height):
    """ex-ch2-window: Pi_k(mu_k) = tanh(L / 4B).

    0.555 at B = L/2.5, 0.9 at B/L = 0.170.
    """
    bins = 16
    centre = bin_centers(bins, dtype=torch.float64)[5].reshape(1, 1, 1, 1)
    hist = kdehist.soft_histogram(centre, bins, bandwidth=ratio * 2 / bins)
    assert hist[0, 0, 5].item() == pytest.approx(math.tanh(1 / (4 * ratio)), abs=1e-12)
    assert hist[0, 0, 5].item() == pytest.approx(height, abs=5e-5)
    assert 1 / (4 * math.atanh(0.9)) == pytest.approx(0.170, abs=5e-4)


def test_ch2_kde_moments():
    """ex-ch2-moments: mean of f_I = pixel mean;
    variance = pixel variance + pi^2 B^2 / 3.
    """
    torch.manual_seed(0)
    pixels = torch.rand(1, 1, 8, 8, dtype=torch.float64) * 1.6 - 0.8
    g = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    f = kdehist.kde_density(pixels, g, bandwidth=0.05)[0, 0]
    mean = torch.trapezoid(f * g, g).item()
    variance = torch.trapezoid(f * (g - mean) ** 2, g).item()
    assert mean == pytest.approx(pixels.mean().item(), abs=1e-12)
    assert variance == pytest.approx(
        pixels.var(unbiased=False).item() + math.pi**2 * 0.05**2 / 3, abs=1e-12
    )
    assert mean == pytest.approx(0.0160, abs=5e-5) and variance == pytest.approx(
        0.1976, abs=5e-5
    )


def test_ch2_99_percent_of_the_mass():
    """ex-ch2-end: a value B ln 99 (1.84 bins) below +1 keeps 99 % of its mass."""
    bins = 16
    d = (2 / bins / 2.5) * math.log(99)
    assert d / (2 / bins) == pytest.approx(1.84, abs=5e-3)
    pixel = torch.tensor(1 - d, dtype=torch.float64).reshape(1, 1, 1, 1)
    assert kdehist.soft_histogram(pixel, bins).sum().item() == pytest.approx(
        0.99, abs=1e-9
    )


def test_ch2_literal_soft_histogram():
    """ex-ch2-naive: the N x K windows of eqs. (3)-(4) give soft_histogram to float64
    rounding; 50,331,648 window values for four 256 x 256 RGB images at K = 64."""

    def soft_by_hand(x, bins):
        width = 2 / bins
        bandwidth = width / 2.5
        mu = -1 + width * (torch.arange(bins, dtype=x.dtype) + 0.5)
        z = x.flatten(2)[..., None]
        window = torch.sigmoid((z - mu + width / 2) / bandwidth) - torch.sigmoid(
            (z - mu - width / 2) / bandwidth
        )
        return window.mean(2)

    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2 - 1
    assert (soft_by_hand(x, 16) - kdehist.soft_histogram(x, 16)).abs().max() < 1e-12
    assert 4 * 3 * 256 * 256 * 64 == 50_331_648
    assert 50_331_648 * 8 / 2**20 == 384


# ---------------------------------------------------------------- chapter 3


@pytest.fixture(scope="module")
def app():
    widgets = pytest.importorskip("kdehist.widgets")
    explorer = widgets.explore()
    yield explorer
    explorer.close()


def set_controls(app, **settings):
    for name in (
        "image",
        "reference",
        "mask",
        "bins",
        "bandwidth",
        "channel",
        "boundary",
        "kernel_bin",
    ):
        if name in settings:
            app.controls[name].value = settings[name]
    return app.current()


def test_ch3_window_heights_in_the_explorer(app):
    """ex-ch3-window: the explorer's window at its bin's centre: 0.987, 0.555, 0.100."""
    heights = []
    for ratio in (0.1, 0.4, 2.5):
        window = set_controls(
            app, image="coffee", bins=32, bandwidth=ratio, boundary="none", mask=False
        )["kernel"]
        heights.append(window[len(window) // 2].item())
    assert heights == pytest.approx([0.987, 0.555, 0.100], abs=5e-4)


def test_ch3_colorwheel_values_at_the_ends(app):
    """ex-ch3-wheel: mass 0.760; 39 % of the values at -1 and 7 % at +1;
    1 - s/2 = 0.768.
    """
    state = set_controls(
        app, image="colorwheel", bins=64, bandwidth=0.4, boundary="none", mask=False
    )
    pixels = state["pixels"]
    at_low, at_high = (
        (pixels == -1).float().mean().item(),
        (pixels == 1).float().mean().item(),
    )
    mass = state["mass"].mean().item()
    assert mass == pytest.approx(0.760, abs=5e-4)
    assert 2 * (1 - mass) == pytest.approx(0.48, abs=5e-3)
    assert round(100 * at_low) == 39 and round(100 * at_high) == 7
    assert 1 - (at_low + at_high) / 2 == pytest.approx(0.768, abs=5e-4)
    assert mass < 1 - (at_low + at_high) / 2  # values near the ends leak too


def test_ch3_mass_kept_from_the_telescoped_windows(app):
    """ex-ch3-leak: sigma((z + 1) / B) - sigma((z - 1) / B), averaged over the values,
    is the explorer's reported mass, 0.760 for colorwheel."""
    state = set_controls(
        app, image="colorwheel", bins=64, bandwidth=0.4, boundary="none", mask=False
    )
    z = state["pixels"].double()
    b = state["bandwidth"]
    kept = (torch.sigmoid((z + 1) / b) - torch.sigmoid((z - 1) / b)).mean().item()
    assert kept == pytest.approx(state["mass"].mean().item(), abs=1e-6)
    assert kept == pytest.approx(0.760, abs=5e-4)


def test_ch3_comb_of_192_bins():
    """ex-ch3-comb: 256 levels in 192 bins: 128 bins of one level, 64 of two."""
    levels = (torch.arange(256) / 127.5 - 1).reshape(1, 1, 1, -1)
    per_bin = (kdehist.hard_histogram(levels, 192)[0, 0] * 256).round().long()
    assert torch.bincount(per_bin).tolist() == [0, 128, 64]
    assert [k for k in range(128, 257) if 256 % k == 0] == [128, 256]


# ---------------------------------------------------------------- chapter 4


def test_ch4_disjoint_one_hot_losses():
    """ex-ch4-disjoint: L2 sqrt 2, Hellinger 1, EMD 8/16; at bin 7 only EMD halves."""
    for source_bin, emd in ((3, 0.5), (7, 0.25)):
        h, r = (
            torch.zeros(1, 1, 16, dtype=torch.float64),
            torch.zeros(1, 1, 16, dtype=torch.float64),
        )
        h[..., source_bin], r[..., 11] = 1, 1
        assert kdehist.histogram_loss(h, r, "l2").item() == pytest.approx(
            math.sqrt(2), abs=1e-6
        )
        assert kdehist.histogram_loss(h, r, "hellinger").item() == pytest.approx(
            1.0, abs=1e-5
        )
        assert kdehist.histogram_loss(h, r, "emd").item() == pytest.approx(
            emd, abs=1e-12
        )


@pytest.fixture(scope="module")
def toy_sets():
    torch.manual_seed(0)
    source = (torch.randn(500) * 0.06 - 0.5).reshape(1, 1, 1, -1)
    target = (torch.randn(500) * 0.06 + 0.4).reshape(1, 1, 1, -1)
    return source, target


def test_ch4_emd_slope_is_one_half(toy_sets):
    """ex-ch4-emd-slope: EMD = W1 / 2, so (0.9 - t) / 2, slope -1/2 while disjoint."""
    source, target = toy_sets
    h_ref = kdehist.soft_histogram(target, 32)
    t = torch.tensor(0.0, requires_grad=True)
    loss = kdehist.histogram_loss(kdehist.soft_histogram(source + t, 32), h_ref, "emd")
    loss.backward()
    assert loss.item() == pytest.approx(0.449, abs=5e-4)
    assert t.grad.item() == pytest.approx(-0.5, abs=1e-3)


def test_ch4_l2_falls_like_one_over_sqrt_k(toy_sets):
    """ex-ch4-l2-bins: L2 0.79, 0.52, 0.27 at K = 16, 64, 256: a
    factor ~2 from 64 to 256.
    """
    source, target = toy_sets
    l2 = {
        k: kdehist.histogram_loss(
            kdehist.soft_histogram(source, k), kdehist.soft_histogram(target, k), "l2"
        ).item()
        for k in (16, 64, 256)
    }
    assert [round(l2[k], 2) for k in (16, 64, 256)] == [0.79, 0.52, 0.27]
    assert l2[64] / l2[256] == pytest.approx(1.92, abs=5e-3)


def test_ch4_sorted_wasserstein_is_twice_the_emd(toy_sets):
    """ex-ch4-w1: W1 by sorting = 2 EMD (0.8972, 0.3972, 0.0972) until the sets nearly
    coincide: 0.0045 against 0.0036 at t = 0.9."""
    source, target = toy_sets
    reference = kdehist.soft_histogram(target, 32)
    expected = {0.0: (0.8972, 0.8972), 0.5: (0.3972, 0.3972), 0.8: (0.0972, 0.0972)}
    expected[0.9] = (0.0045, 0.0036)
    for t, (w1, twice_emd) in expected.items():
        sorted_w1 = (
            ((source + t).flatten().sort().values - target.flatten().sort().values)
            .abs()
            .mean()
        )
        emd = kdehist.histogram_loss(
            kdehist.soft_histogram(source + t, 32), reference, "emd"
        )
        assert round(sorted_w1.item(), 4) == w1
        assert round(2 * emd.item(), 4) == twice_emd


# ---------------------------------------------------------------- chapter 5


def test_ch5_jis_classes():
    """ex-ch5-jis: 26 beyond D, 21.2 D, 14.1 D, 4.6 B."""
    assert [kdehist.jis_class(value) for value in (26, 21.2, 14.1, 4.6)] == [
        "beyond D",
        "D",
        "D",
        "B",
    ]


def test_ch5_average_and_geometric_median_tone():
    """ex-ch5-median: at 64 px the mean tone scores 20.9, the geometric median 20.3."""
    from kdehist.color import delta_e_of_means
    from kdehist.data import SyntheticKnees

    images, masks = SyntheticKnees("real", "test", size=64).tensors()
    lab = kdehist.mean_lab(images, masks)
    c = lab.mean(0, keepdim=True)
    average = delta_e_of_means(c.expand_as(lab), lab).mean().item()
    for _ in range(200):
        w = 1 / (lab - c).norm(dim=-1).clamp_min(1e-9)
        c = (w[:, None] * lab).sum(0, keepdim=True) / w.sum()
    median = delta_e_of_means(c.expand_as(lab), lab).mean().item()
    assert round(average, 1) == 20.9 and round(median, 1) == 20.3
    assert kdehist.jis_class(median) == "D"


def test_ch5_oracle_light_and_deep():
    """ex-ch5-oracle: Monk 0.05 vs 0.95 of one pose: Delta E ~64, L* ~80 vs ~16."""
    from kdehist.data import SyntheticKnees, render_real

    pose = SyntheticKnees("sim", "test", size=64).pose(3)
    light, light_mask = render_real(pose, 0.05, size=64)
    deep, deep_mask = render_real(pose, 0.95, size=64)
    difference = kdehist.delta_e(
        light[None], deep[None], light_mask[None], deep_mask[None]
    ).item()
    lab_light = kdehist.mean_lab(light[None], light_mask[None])[0]
    lab_deep = kdehist.mean_lab(deep[None], deep_mask[None])[0]
    assert round(difference) == 64 and kdehist.jis_class(difference) == "beyond D"
    assert round(lab_light[0].item()) == 80 and round(lab_deep[0].item()) == 16
    # a* and b*: a few units
    assert (lab_light[1:] - lab_deep[1:]).abs().max().item() < 5


def test_ch5_lab_by_hand():
    """ex-ch5-lab: sRGB -> linear -> XYZ (D65) -> L*a*b* by hand, averaged over the
    masks, is within about 0.01 of kdehist.mean_lab."""
    from kdehist.data import SyntheticKnees

    def lab_by_hand(images):
        rgb = ((images.double() + 1) / 2).clamp(0, 1)
        linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
        to_xyz = torch.tensor(
            [
                [0.4124, 0.3576, 0.1805],
                [0.2126, 0.7152, 0.0722],
                [0.0193, 0.1192, 0.9505],
            ],
            dtype=torch.float64,
        )
        white = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
        xyz = torch.einsum("kc,bchw->bkhw", to_xyz, linear) / white.view(1, 3, 1, 1)
        edge = (6 / 29) ** 3
        f = torch.where(xyz > edge, xyz ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
        return torch.stack(
            [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])],
            1,
        )

    images, masks = SyntheticKnees("real", "test", size=64).tensors(range(4))
    m = masks.double()
    mine = (lab_by_hand(images) * m).sum((2, 3)) / m.sum((2, 3))
    error = (mine - kdehist.mean_lab(images, masks)).abs().max().item()
    assert error < 0.02 and round(error, 2) == 0.01


# ---------------------------------------------------------------- chapter 6


def test_ch6_power_iteration_rate():
    """ex-ch6-power: about ten iterations for 1e-12; from iteration 4 to 8 the error
    shrinks by 1.3e-5, within a factor of two below the predicted ratio**16 = 2.4e-5.
    """
    torch.manual_seed(0)
    a, b = torch.randn(64, dtype=torch.float64), torch.randn(128, dtype=torch.float64)
    spike = 3 * torch.outer(a / a.norm(), b / b.norm())
    w = torch.randn(64, 128, dtype=torch.float64) / 128**0.5 + spike
    true_sigma = torch.linalg.matrix_norm(w, ord=2).item()
    singular = torch.linalg.svdvals(w)
    ratio = (singular[1] / singular[0]).item()
    v = torch.randn(128, dtype=torch.float64)
    v = v / v.norm()
    errors = []
    for _ in range(10):
        u = w @ v
        u = u / u.norm()
        v = w.T @ u
        v = v / v.norm()
        errors.append(abs(true_sigma - (u @ w @ v).item()) / true_sigma)
    assert round(ratio, 2) == 0.51
    assert 12 * math.log(10) / (4 * math.log(1 / 0.51)) == pytest.approx(10.3, abs=0.05)
    assert errors[9] < 1e-11
    shrink = errors[7] / errors[3]
    assert ratio**16 / 2 < shrink < ratio**16
    assert shrink == pytest.approx(1.3e-5, rel=0.05) and ratio**16 == pytest.approx(
        2.4e-5, rel=0.05
    )


def test_ch6_lsgan_optimal_discriminator():
    """ex-ch6-lsgan: D* = p / (p + q) = (0.833, 0.600, 0.400, 0.000)."""
    p = torch.tensor([0.5, 0.3, 0.2, 0.0])
    q = torch.tensor([0.1, 0.2, 0.3, 0.4])
    d = torch.zeros(4, requires_grad=True)
    optimiser = torch.optim.SGD([d], lr=0.5)
    for _ in range(2000):
        loss = 0.5 * (p * (d - 1) ** 2).sum() + 0.5 * (q * d**2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert torch.allclose(d.detach(), p / (p + q), atol=1e-5)
    assert (p / (p + q)).tolist() == pytest.approx([0.8333, 0.6, 0.4, 0.0], abs=1e-4)


def test_ch6_product_of_unit_norm_layers():
    """ex-ch6-compose: two matrices of spectral norm 1 whose product has norm 0."""
    w1, w2 = torch.tensor([[1.0, 0], [0, 0]]), torch.tensor([[0.0, 0], [0, 1]])
    assert [torch.linalg.matrix_norm(m, ord=2).item() for m in (w1, w2, w2 @ w1)] == [
        1.0,
        1.0,
        0.0,
    ]


def test_ch6_lsgan_losses_by_hand():
    """ex-ch6-lsgan-code: (fake - 1)^2 and 0.5 ((real - 1)^2 + fake^2) are gan_loss's;
    at D* = 1/2 the generator's loss is 1/4 and its slope -1."""
    from kdehist.losses import gan_loss

    def lsgan_generator(fake):
        return ((fake - 1) ** 2).mean()

    def lsgan_discriminator(real, fake):
        return 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean())

    torch.manual_seed(0)
    real, fake = torch.randn(2, 1, 6, 6), torch.randn(2, 1, 6, 6)
    assert torch.allclose(lsgan_generator(fake), gan_loss(fake, True, "lsgan"))
    assert torch.allclose(
        lsgan_discriminator(real, fake),
        0.5 * (gan_loss(real, True, "lsgan") + gan_loss(fake, False, "lsgan")),
    )
    half = torch.tensor(0.5, requires_grad=True)
    loss = lsgan_generator(half)
    loss.backward()
    assert loss.item() == 0.25 and half.grad.item() == -1.0


# ---------------------------------------------------------------- chapter 7


def test_ch7_instance_norm_cancels_a_scale():
    """ex-ch7-scale: IN(a * H + b) = sign(a) * IN(H), up to IN's epsilon."""
    torch.manual_seed(0)
    norm = torch.nn.InstanceNorm2d(4)
    h = torch.randn(2, 4, 8, 8)
    a = torch.tensor([2.0, -3.0, 0.5, 10.0]).reshape(1, 4, 1, 1)
    assert (norm(a * h + 5) - torch.sign(a) * norm(h)).abs().max().item() < 1e-3


def test_ch7_adam_step_is_lr_for_a_constant_gradient_but_not_bounded_by_it():
    """ex-ch7-adam: a constant gradient moves a gain by lr per step (0.1 in 500 steps);
    with betas (0.5, 0.999) a gradient of 1 after 999 quiet steps makes a step of 12.6
    lr, approaching (1 - beta1) / sqrt(1 - beta2) = 15.8 lr after a longer quiet
    stretch.
    """

    def last_step(gradients, betas=(0.5, 0.999), lr=2e-4):
        gain = torch.zeros((), dtype=torch.float64, requires_grad=True)
        optimiser = torch.optim.Adam([gain], lr=lr, betas=betas)
        for g in gradients:
            before = gain.item()
            gain.grad = torch.tensor(-g, dtype=torch.float64)
            optimiser.step()
        return gain.item(), (gain.item() - before) / lr

    assert last_step([1.0] * 500) == pytest.approx((0.1, 1.0), rel=1e-6)
    assert 0.5 / 2e-4 == pytest.approx(2500)
    assert last_step([0.0] * 999 + [1.0])[1] == pytest.approx(12.57, abs=5e-3)
    assert 0.5 / math.sqrt(0.001 / (1 - 0.999**1000)) == pytest.approx(12.57, abs=5e-3)
    assert last_step([0.0] * 99_999 + [1.0])[1] == pytest.approx(15.81, abs=5e-3)
    assert 0.5 / math.sqrt(0.001) == pytest.approx(15.81, abs=5e-3)


def test_ch7_histogram_encoder_parameters():
    """ex-ch7-encoder: 78,336 parameters at K = 16 and 115,200 at K = 64."""
    from kdehist.models import HistogramEncoder, count_parameters

    assert (
        count_parameters(HistogramEncoder(16))
        == 3 * 16 * 256 + 256 + 256 * 256 + 256
        == 78_336
    )
    assert count_parameters(HistogramEncoder(64)) == 115_200


def test_ch7_spectral_norm_with_and_without_instance_norm():
    """ex-ch7-sn-norm: rescaling a spectrally normalised conv by 7 moves the output by
    about 4e-5 when an instance norm follows it, by about 3.6 when nothing does."""
    from torch import nn
    from torch.nn.utils.parametrizations import spectral_norm

    def rescaling_effect(norm):
        torch.manual_seed(0)
        first = spectral_norm(nn.Conv2d(3, 8, 3, padding=1))
        net = nn.Sequential(
            first, norm, nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, padding=1)
        )
        net.eval()
        x = torch.rand(2, 3, 16, 16) * 2 - 1

        def times_seven(module, args, out):
            return 7 * out - 6 * module.bias.view(1, -1, 1, 1)

        with torch.no_grad():
            before = net(x)
            handle = first.register_forward_hook(times_seven)
            after = net(x)
            handle.remove()
        return (after - before).abs().max().item()

    with_norm = rescaling_effect(nn.InstanceNorm2d(8))
    without = rescaling_effect(nn.Identity())
    assert with_norm < 1e-4 and round(without, 1) == 3.6
