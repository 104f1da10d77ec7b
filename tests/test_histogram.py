"""The KDE histogram against eq. (3) in float64, numpy, and autograd."""

import math

import numpy as np
import pytest
import torch

import kdehist
from kdehist.histogram import bin_centers, soft_histogram_naive


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def eq3_by_hand(values, bins, bandwidth, lo=-1.0, hi=1.0):
    """Eq. (3)-(4) with Python floats, bin by bin."""
    width = (hi - lo) / bins
    out = []
    for k in range(bins):
        mu = lo + width * (k + 0.5)
        mass = sum(
            sigmoid((v - mu + width / 2) / bandwidth)
            - sigmoid((v - mu - width / 2) / bandwidth)
            for v in values
        )
        out.append(mass / len(values))
    return out


@pytest.mark.parametrize(
    "values,bins", [([0.0], 2), ([-0.3, 0.55, 0.9], 4), ([-1.0, 1.0, 0.1, -0.77], 5)]
)
def test_matches_hand_computed_eq3(values, bins):
    x = torch.tensor(values, dtype=torch.float64).reshape(1, 1, 1, -1)
    got = kdehist.soft_histogram(x, bins)[0, 0]
    want = eq3_by_hand(values, bins, 2 / bins / 2.5)
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), atol=1e-15)


@pytest.mark.parametrize("bins", [1, 3, 16, 64, 256])
@pytest.mark.parametrize("boundary", ["none", "reflect"])
def test_float32_agrees_with_float64_formula(bins, boundary):
    torch.manual_seed(bins)
    x = torch.rand(2, 3, 24, 24) * 2.2 - 1.1
    mask = (torch.rand(2, 1, 24, 24) > 0.4).float()
    for m in (None, mask):
        got = kdehist.soft_histogram(x, bins, mask=m, boundary=boundary)
        want = soft_histogram_naive(x.double(), bins, mask=m, boundary=boundary)
        assert got.dtype == torch.float32
        assert (got.double() - want).abs().max() < 1e-6


def test_agrees_with_numpy_histogram_at_tiny_bandwidth():
    rng = np.random.default_rng(0)
    # Keep values away from edges: at a tiny bandwidth the only difference is there.
    values = rng.uniform(-1, 1, 5000)
    bins = 20
    edges = np.linspace(-1, 1, bins + 1)
    values = values[np.min(np.abs(values[:, None] - edges[None]), axis=1) > 1e-3]
    counts, _ = np.histogram(values, bins=bins, range=(-1, 1))
    x = torch.from_numpy(values).reshape(1, 1, 1, -1)
    got = kdehist.soft_histogram(x, bins, bandwidth=1e-5)[0, 0].numpy()
    np.testing.assert_allclose(got, counts / len(values), atol=1e-12)
    hard = kdehist.hard_histogram(x, bins)[0, 0].numpy()
    np.testing.assert_allclose(hard, counts / len(values), atol=1e-15)


def test_sum_rule_and_reflect_sums_to_one():
    x = torch.rand(2, 3, 10, 10, dtype=torch.float64) * 2 - 1
    # boundary values keep about half their mass
    x[0, 0, 0, :3] = torch.tensor([-1.0, 1.0, 0.999])
    bins = 16
    b = 2 / bins / 2.5
    h = kdehist.soft_histogram(x, bins)
    expected = (
        (torch.sigmoid((x + 1) / b) - torch.sigmoid((x - 1) / b)).flatten(2).mean(-1)
    )
    assert torch.allclose(h.sum(-1), expected, atol=1e-12)
    assert (h.sum(-1) < 1).all()
    r = kdehist.soft_histogram(x, bins, boundary="reflect")
    assert torch.allclose(r.sum(-1), torch.ones(2, 3, dtype=torch.float64), atol=1e-12)


def test_value_at_boundary_keeps_half_its_mass():
    x = torch.full((1, 1, 1, 1), 1.0, dtype=torch.float64)
    assert kdehist.soft_histogram(x, 8).sum().item() == pytest.approx(0.5, abs=1e-6)


def test_mask_semantics_on_value_and_gradient():
    torch.manual_seed(1)
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64) * 2 - 1
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    mask[..., 2:6, 1:7] = 1
    h = kdehist.soft_histogram(x, 10, mask=mask)
    # The masked histogram equals the histogram of the foreground pixels alone.
    fg = x[:, :, 2:6, 1:7]
    assert torch.allclose(h, kdehist.soft_histogram(fg, 10), atol=1e-14)
    # Changing background pixels changes nothing, and they receive zero gradient.
    y = x.clone()
    y[..., 0, :] = 0.123
    assert torch.allclose(h, kdehist.soft_histogram(y, 10, mask=mask), atol=1e-14)
    xr = x.clone().requires_grad_()
    (
        kdehist.soft_histogram(xr, 10, mask=mask)
        * torch.arange(10.0, dtype=torch.float64)
    ).sum().backward()
    assert (xr.grad * (1 - mask) == 0).all()
    assert (xr.grad[..., 2:6, 1:7] != 0).any()
    # (B, H, W) masks and fractional weights behave as (B, 1, H, W).
    assert torch.equal(h, kdehist.soft_histogram(x, 10, mask=mask[:, 0]))
    half = kdehist.soft_histogram(x, 10, mask=mask * 0.5)
    assert torch.allclose(h, half, atol=1e-14)


def test_batch_and_channel_independence():
    torch.manual_seed(2)
    x = torch.rand(3, 3, 12, 12) * 2 - 1
    h = kdehist.soft_histogram(x, 32)
    for b in range(3):
        assert torch.allclose(h[b], kdehist.soft_histogram(x[b], 32), atol=1e-7)
        for c in range(3):
            assert torch.allclose(
                h[b, c], kdehist.soft_histogram(x[b, c : c + 1], 32)[0], atol=1e-7
            )


@pytest.mark.parametrize("boundary", ["none", "reflect"])
def test_gradcheck_where_the_kernel_is_not_flat(boundary):
    # Values placed within a bandwidth of an edge, where sigma' is far from
    # zero, and at the range ends, where reflect changes the formula: the
    # gradient is large and non-trivial.
    bins = 6
    edges = torch.linspace(-1, 1, bins + 1, dtype=torch.float64)
    width, b = 2 / bins, 2 / bins / 2.5
    offsets = (
        torch.tensor([0.3, -0.6, 0.1, -0.2, 0.45, -0.05, 0.8], dtype=torch.float64) * b
    )
    x = (edges + offsets).reshape(1, 1, 1, -1).repeat(1, 2, 2, 1)
    x[:, 1] = x[:, 1] - 0.25 * width
    x.requires_grad_()
    weight = (
        torch.tensor([[1.0, 0.5]], dtype=torch.float64)
        .reshape(1, 1, 2, 1)
        .expand(1, 1, 2, bins + 1)
        .contiguous()
    )
    f = lambda t: kdehist.soft_histogram(t, bins, mask=weight, boundary=boundary)  # noqa: E731
    # The Jacobian is far from zero at these points: the check is not vacuous. Its scale
    # is sigma'/(W B) with sigma' <= 1/4 and W the total weight.
    jac = torch.autograd.functional.jacobian(f, x)
    total_weight = weight.sum().item()
    assert jac.abs().max() * total_weight * b > 0.1
    assert (jac.abs() * total_weight * b > 0.01).sum() > 20
    assert torch.autograd.gradcheck(f, (x,), eps=1e-7, atol=1e-8)
    # and it equals autograd through the naive formula
    g = torch.randn(1, 2, bins, dtype=torch.float64)
    (ga,) = torch.autograd.grad((f(x) * g).sum(), x)
    (gn,) = torch.autograd.grad(
        (soft_histogram_naive(x, bins, mask=weight, boundary=boundary) * g).sum(), x
    )
    assert torch.allclose(ga, gn, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(dtype):
    torch.manual_seed(3)
    x = (torch.rand(1, 3, 16, 16) * 2 - 1).to(dtype).requires_grad_()
    h = kdehist.soft_histogram(x, 32)
    assert h.dtype == torch.float32
    want = soft_histogram_naive(x.detach().double(), 32)
    assert (h.double() - want).abs().max() < 1e-6
    h.sum().backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()


def test_autocast_computes_in_float32():
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = kdehist.soft_histogram(x, 16)
    assert h.dtype == torch.float32
    assert torch.allclose(h, kdehist.soft_histogram(x, 16))


def test_module_wrapper_and_kde_density():
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    module = kdehist.SoftHistogram(bins=12, boundary="reflect")
    assert torch.equal(module(x), kdehist.soft_histogram(x, 12, boundary="reflect"))
    assert "bins=12" in repr(module)
    # The density integrates to the bin masses: integral of f over bin k equals P(k).
    levels = torch.linspace(-1.5, 1.5, 30001, dtype=torch.float64)
    bw = 2 / 12 / 2.5
    f = kdehist.kde_density(x.double(), levels, bw)
    assert torch.allclose(
        torch.trapezoid(f, levels, dim=-1),
        torch.ones(2, 3, dtype=torch.float64),
        atol=1e-4,
    )
    centers = bin_centers(12, dtype=torch.float64)
    bin3 = torch.linspace(
        centers[3] - 1 / 12, centers[3] + 1 / 12, 2001, dtype=torch.float64
    )
    p3 = torch.trapezoid(kdehist.kde_density(x.double(), bin3, bw), bin3, dim=-1)
    assert torch.allclose(p3, kdehist.soft_histogram(x.double(), 12)[..., 3], atol=1e-6)


def test_works_on_a_3d_input_and_hard_histogram_counts():
    x = torch.tensor([[[-1.0, -0.25], [0.25, 1.0]]])
    h = kdehist.hard_histogram(x, 4)
    assert torch.equal(h, torch.tensor([[0.25, 0.25, 0.25, 0.25]]))
    assert h.shape == kdehist.soft_histogram(x, 4).shape == (1, 4)
    out = torch.tensor([[[-3.0, 0.1]]])
    assert kdehist.hard_histogram(out, 2).sum() == 0.5
    assert kdehist.hard_histogram(out, 2, boundary="reflect").sum() == 1.0


BAD_INPUTS = [
    (dict(x=torch.tensor([[[[float("nan")]]]])), ValueError, "x"),
    (dict(x=torch.tensor([[[[float("inf")]]]])), ValueError, "x"),
    (dict(x=torch.zeros(4, 4)), ValueError, "x"),
    (dict(x=torch.zeros(1, 1, 2, 2, dtype=torch.int64)), TypeError, "x"),
    (dict(x=[[0.0]]), TypeError, "x"),
    (dict(x=torch.zeros(1, 3, 4, 4), mask=torch.ones(1, 1, 4, 5)), ValueError, "mask"),
    (dict(x=torch.zeros(2, 3, 4, 4), mask=torch.ones(3, 1, 4, 4)), ValueError, "mask"),
    (dict(x=torch.zeros(1, 3, 4, 4), mask=torch.zeros(1, 1, 4, 4)), ValueError, "mask"),
    (dict(x=torch.zeros(1, 3, 4, 4), mask=-torch.ones(1, 1, 4, 4)), ValueError, "mask"),
    (dict(x=torch.zeros(1, 3, 4, 4), bins=0), ValueError, "bins"),
    (dict(x=torch.zeros(1, 3, 4, 4), bins=2.5), TypeError, "bins"),
    (dict(x=torch.zeros(1, 3, 4, 4), bandwidth=0.0), ValueError, "bandwidth"),
    (dict(x=torch.zeros(1, 3, 4, 4), bandwidth=-1.0), ValueError, "bandwidth"),
    (
        dict(x=torch.zeros(1, 3, 4, 4), value_range=(1.0, -1.0)),
        ValueError,
        "value_range",
    ),
    (dict(x=torch.zeros(1, 3, 4, 4), boundary="wrap"), ValueError, "boundary"),
]


@pytest.mark.parametrize("kwargs,error,name", BAD_INPUTS)
@pytest.mark.parametrize("fn", [kdehist.soft_histogram, kdehist.hard_histogram])
def test_bad_input_names_the_argument(fn, kwargs, error, name):
    with pytest.raises(error) as info:
        fn(**kwargs)
    message = str(info.value)
    assert message.startswith(f"{name}:"), message
    assert "expected" in message and "got" in message
