"""Histogram losses (eq. 6, EMD, Hellinger) and colour metrics (eq. 12, Table 1)."""

import numpy as np
import pytest
import torch
from skimage import color as skcolor

import kdehist

KINDS = ["l2", "emd", "hellinger"]


def random_hist(*shape):
    h = torch.rand(*shape, dtype=torch.float64)
    return h / h.sum(-1, keepdim=True)


def test_l2_is_eq6_exactly():
    a, b = random_hist(4, 3, 16), random_hist(4, 3, 16)
    per_image = sum(
        torch.linalg.vector_norm(a[:, c] - b[:, c], dim=-1) for c in range(3)
    )
    assert torch.allclose(kdehist.histogram_loss(a, b, "l2"), per_image.mean())


@pytest.mark.parametrize("kind", KINDS)
def test_zero_at_equality_with_finite_zero_gradient(kind):
    a = random_hist(2, 3, 8)
    a[0, 0, 0] = 0.0  # an empty bin must not break Hellinger's square root
    h = a.clone().requires_grad_()
    loss = kdehist.histogram_loss(h, a, kind)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(h.grad).all() and (h.grad == 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_symmetric_positive_and_differentiable(kind):
    a, b = random_hist(3, 3, 10), random_hist(3, 3, 10)
    assert kdehist.histogram_loss(a, b, kind) > 0
    assert torch.allclose(
        kdehist.histogram_loss(a, b, kind), kdehist.histogram_loss(b, a, kind)
    )
    h = a.clone().requires_grad_()
    kdehist.histogram_loss(h, b, kind).backward()
    assert torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0


def test_emd_sees_distance_between_disjoint_histograms_l2_does_not():
    near, far, ref = torch.zeros(1, 1, 10), torch.zeros(1, 1, 10), torch.zeros(1, 1, 10)
    ref[..., 0], near[..., 2], far[..., 8] = 1, 1, 1
    assert kdehist.histogram_loss(near, ref, "l2") == kdehist.histogram_loss(
        far, ref, "l2"
    )
    assert kdehist.histogram_loss(near, ref, "emd") == pytest.approx(0.2)
    assert kdehist.histogram_loss(far, ref, "emd") == pytest.approx(0.8)


def test_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="^kind:"):
        kdehist.histogram_loss(random_hist(1, 3, 4), random_hist(1, 3, 4), "kl")
    with pytest.raises(ValueError, match="^h_ref:"):
        kdehist.histogram_loss(random_hist(1, 3, 4), random_hist(1, 3, 5))


def test_to_lab_and_delta_e_against_scikit_image():
    rng = np.random.default_rng(0)
    img = torch.from_numpy(rng.uniform(-1, 1, (3, 3, 6, 5)))
    ref = torch.from_numpy(rng.uniform(-1, 1, (3, 3, 4, 4)))
    lab = kdehist.to_lab(img)
    srgb = ((img.numpy() + 1) / 2).transpose(0, 2, 3, 1)
    want = skcolor.rgb2lab(srgb).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(lab.numpy(), want, atol=1e-10)
    mean_a = want.mean(axis=(2, 3))
    ref_srgb = ((ref.numpy() + 1) / 2).transpose(0, 2, 3, 1)
    mean_b = skcolor.rgb2lab(ref_srgb).mean(axis=(1, 2))
    for formula, fn in [
        ("cie76", skcolor.deltaE_cie76),
        ("ciede2000", skcolor.deltaE_ciede2000),
    ]:
        got = kdehist.delta_e(img, ref, formula=formula)
        np.testing.assert_allclose(got.numpy(), fn(mean_a, mean_b), atol=1e-10)


def test_delta_e_uses_only_the_foregrounds():
    img = -torch.ones(1, 3, 4, 4)
    img[..., :2, :] = torch.tensor([0.2, -0.1, -0.4]).reshape(1, 3, 1, 1)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    ref = torch.tensor([0.2, -0.1, -0.4]).reshape(3, 1, 1).expand(3, 8, 8)
    assert kdehist.delta_e(img, ref, mask=mask).item() == pytest.approx(0.0, abs=1e-9)
    assert kdehist.delta_e(img, ref).item() > 10
    with pytest.raises(ValueError, match="^mask:"):
        kdehist.delta_e(img, ref, mask=torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="^formula:"):
        kdehist.delta_e(img, ref, formula="cie94")
    with pytest.raises(ValueError, match="^img:"):
        kdehist.delta_e(torch.zeros(1, 1, 4, 4), ref)


@pytest.mark.parametrize(
    "value,name",
    [
        (0.0, "AAA"),
        (0.79, "AAA"),
        (0.8, "AA"),
        (1.6, "A"),
        (3.19, "A"),
        (3.2, "B"),
        (6.49, "B"),
        (6.5, "C"),
        (12.99, "C"),
        (13.0, "D"),
        (24.9, "D"),
        (25.0, "beyond D"),
        (80.0, "beyond D"),
    ],
)
def test_jis_classes_follow_table1(value, name):
    assert kdehist.jis_class(value) == name


def test_jis_class_vectorised_and_bad_input():
    assert kdehist.jis_class(torch.tensor([1.0, 5.0])) == ["AA", "B"]
    assert kdehist.jis_class(np.array([14.1, 4.6])) == ["D", "B"]
    with pytest.raises(ValueError, match="^delta_e:"):
        kdehist.jis_class(-1.0)
    with pytest.raises(TypeError, match="^delta_e:"):
        kdehist.jis_class("B")
