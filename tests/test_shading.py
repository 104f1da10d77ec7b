"""The shading measures of kdehist.shading, checked on real renders, and the kneecap
mask of the renderer (kdehist.knees.kneecap_mask).

Renders stay at 64 px and 8 poses, so the whole file runs in a few seconds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kdehist import shading as S
from kdehist.data import SyntheticKnees, render_real, render_sim
from kdehist.evaluate import load_test_set
from kdehist.knees import kneecap_mask

SIZE = 64


@pytest.fixture(scope="module")
def renders():
    """8 test inputs (sim), their oracles (input i in reference i's look), the leg
    masks and the kneecap masks."""
    test = load_test_set(SIZE, count=8)
    oracle, masks = render_real(
        test.poses, test.tones, size=SIZE, appearance=test.looks
    )
    assert torch.equal(masks, test.input_masks)
    return {
        "test": test,
        "inputs": test.inputs,
        "oracle": oracle,
        "masks": masks,
        "kneecaps": kneecap_mask(test.poses, SIZE),
    }


# ------------------------------------------------------------------------ the measures


def test_identical_images_score_one_and_results_are_float64_on_the_cpu(renders):
    oracle, masks, kneecaps = renders["oracle"], renders["masks"], renders["kneecaps"]
    for scores in (
        S.shading_score(oracle, oracle, masks),
        S.kneecap_score(oracle, oracle, kneecaps, masks),
        S.relief_ratio(oracle, oracle, masks),
    ):
        assert scores.shape == (8,) and scores.dtype == torch.float64
        assert scores.device.type == "cpu"
        torch.testing.assert_close(scores, torch.ones(8, dtype=torch.float64))
    spread = S.spread_ratio(oracle, oracle, masks, masks)
    assert spread.shape == (8, 3) and spread.dtype == torch.float64
    torch.testing.assert_close(spread, torch.ones(8, 3, dtype=torch.float64))


def test_bool_masks_and_tensors_that_require_grad_are_accepted(renders):
    oracle, masks = renders["oracle"][:2], renders["masks"][:2]
    output = renders["inputs"][:2].clone().requires_grad_(True)
    scores = S.shading_score(output, oracle, masks.bool())
    assert not scores.requires_grad  # a measure, not a loss: no gradient is kept
    torch.testing.assert_close(scores, S.shading_score(output.detach(), oracle, masks))


@pytest.mark.parametrize("corruption", ["tone", "brightness", "contrast"])
def test_lighting_leaves_the_shading_scores_unchanged(renders, corruption):
    """Exactly (< 1e-3) on the simulator's renders, whose colours stay in gamut;
    within the claims' 0.05 on the photographic ones, where a few very dark or very
    light pixels are clipped to the sRGB gamut."""
    masks, kneecaps = renders["masks"], renders["kneecaps"]
    corrupt = S.CORRUPTIONS[corruption]
    for images, tolerance in ((renders["inputs"], 1e-3), (renders["oracle"], 0.05)):
        changed = corrupt(images, masks, kneecaps)
        assert not torch.allclose(changed, images, atol=0.02)
        for scores in (
            S.shading_score(changed, images, masks),
            S.kneecap_score(changed, images, kneecaps, masks),
        ):
            assert (scores - 1).abs().max() < tolerance, (corruption, scores)


def test_a_change_of_exposure_leaves_the_score_unchanged(renders):
    oracle, masks = renders["oracle"], renders["masks"]
    darker = (oracle + 1) * 0.7 - 1  # sRGB values scaled: nearly affine in L*
    assert (S.shading_score(darker, oracle, masks) - 1).abs().max() < 0.01


def test_another_poses_oracle_scores_near_zero_and_the_input_in_between(renders):
    test, oracle, masks = renders["test"], renders["oracle"], renders["masks"]
    poses = test.poses[1:] + test.poses[:1]  # each image's neighbour, in its own look
    other, _ = render_real(poses, test.tones, size=SIZE, appearance=test.looks)
    unrelated = S.shading_score(other, oracle, masks)
    assert (
        abs(float(unrelated.mean())) < 0.15 and float(unrelated.abs().median()) < 0.35
    )
    # The input has the oracle's relief under another light: in between (the issue's
    # table measured 0.53 over the 28 test inputs; these 8 give about 0.51).
    against_oracle = float(S.shading_score(renders["inputs"], oracle, masks).mean())
    assert 0.35 < against_oracle < 0.75


def test_flattened_shading_scores_zero_and_keeps_the_colour(renders):
    oracle, masks = renders["oracle"], renders["masks"]
    flat = S.flatten_shading(oracle, masks)
    assert torch.equal(S.shading_score(flat, oracle, masks), torch.zeros(8).double())
    assert float(S.relief_ratio(flat, oracle, masks).max()) < 0.01
    spread = S.spread_ratio(flat, oracle, masks, masks)
    assert float(spread[:, 0].max()) < 0.01  # L* is one value...
    torch.testing.assert_close(
        spread[:, 1:], torch.ones(8, 2).double(), atol=0.02, rtol=0
    )
    # ...and the mean colour is the same: ΔE cannot see the loss.
    from kdehist import delta_e

    assert float(delta_e(flat, oracle, masks, masks).max()) < 0.05


def test_a_half_flattened_relief_still_correlates_but_is_half_as_deep(renders):
    """What a correlation cannot see, the relief ratio does."""
    inputs, masks = renders["inputs"], renders["masks"]
    half = S.change_contrast(inputs, masks, factor=0.5)
    assert float((S.shading_score(half, inputs, masks) - 1).abs().max()) < 1e-3
    torch.testing.assert_close(
        S.relief_ratio(half, inputs, masks), torch.full((8,), 0.5).double()
    )


def test_erasing_the_kneecap_moves_the_kneecap_score_not_the_colour(renders):
    oracle, masks, kneecaps = renders["oracle"], renders["masks"], renders["kneecaps"]
    erased = S.erase_kneecap(oracle, masks, kneecaps)
    near = torch.nn.functional.max_pool2d(kneecaps, 11, stride=1, padding=5) > 0
    far = (~near).expand_as(oracle)  # more than 5 px from the kneecap
    assert float((erased - oracle)[far].abs().max()) < 1e-4
    assert float((erased - oracle)[~far].abs().max()) > 0.02
    kneecap = S.kneecap_score(erased, oracle, kneecaps, masks)
    assert float(np.nanmean(kneecap.numpy())) < 0.2
    assert float(S.shading_score(erased, oracle, masks).mean()) > 0.8


def test_empty_regions_and_flat_targets_give_nan_and_flat_outputs_zero(renders):
    oracle, masks = renders["oracle"][:2], renders["masks"][:2]
    empty = torch.zeros_like(masks)
    assert torch.isnan(S.shading_score(oracle, oracle, empty)).all()
    sliver = torch.zeros_like(masks)
    sliver[..., 30:33, :] = 1  # 3 rows: nothing is left after a 2-px erosion
    assert torch.isnan(S.shading_score(oracle, oracle, sliver)).all()
    assert not torch.isnan(S.shading_score(oracle, oracle, sliver, erosion=0)).any()
    flat = S.flatten_shading(oracle, masks)
    assert torch.isnan(S.shading_score(oracle, flat, masks)).all()  # nothing to keep
    assert torch.equal(S.shading_score(flat, oracle, masks), torch.zeros(2).double())
    assert torch.isnan(S.kneecap_score(oracle, oracle, empty, masks)).all()
    assert torch.isnan(S.relief_ratio(oracle, flat, masks)).all()
    assert torch.isnan(S.spread_ratio(oracle, oracle, masks, empty)).all()


def test_defaults_scale_with_the_image_size():
    assert [S.default_sigma(s) for s in (32, 64, 128)] == [1.5, 3, 6]
    assert [S.default_erosion(s) for s in (32, 64, 128, 256)] == [1, 2, 4, 8]


def test_the_validity_table_holds_its_claims_on_real_renders(renders):
    """Every claimed invariance moves its measure by at most 0.05, and every measure
    moves a lot under the corruption that it is meant to see."""
    from kdehist.segment import load_segmenter, shape_score

    segmenter, _ = load_segmenter()
    table = S.validity_table(
        renders["oracle"],
        renders["masks"],
        renders["kneecaps"],
        shape=lambda images, masks: shape_score(images, masks, segmenter),
    )
    assert set(table) == set(S.CORRUPTIONS)
    assert S.broken_claims(table) == []
    assert table["shading_flattened"]["shading_score"] < -0.9
    assert table["shading_flattened"]["relief_ratio"] < -0.9
    assert table["shading_flattened"]["spread_l"] < -0.9
    assert table["kneecap_erased"]["kneecap_score"] < -0.8
    assert table["blur"]["shading_score"] < -0.02
    assert table["contrast"]["relief_ratio"] < -0.2
    assert table["tone"]["delta_e76"] > 5
    for corruption in ("silhouette_dilated", "silhouette_eroded"):
        assert table[corruption]["shape"] < -0.1


def test_broken_claims_reports_what_moved_too_far():
    table = {"tone": {"shading_score": -0.2, "delta_e76": 9.0}, "blur": {}}
    claims = {"shading_score": ("tone", "blur"), "delta_e76": ("tone",)}
    assert S.broken_claims(table, claims) == [
        ("shading_score", "tone", -0.2),
        ("delta_e76", "tone", 9.0),
    ]
    assert S.broken_claims({"tone": {"shading_score": math.nan}}, claims) == [
        ("shading_score", "tone", pytest.approx(math.nan, nan_ok=True))
    ]


# ------------------------------------------------------------------- argument errors

_IMAGES = torch.zeros(2, 3, 16, 16)
_MASKS = torch.ones(2, 1, 16, 16)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: S.shading_score(_IMAGES.numpy(), _IMAGES, _MASKS),
            TypeError,
            "output",
        ),
        (
            lambda: S.shading_score(_IMAGES[:, :2], _IMAGES[:, :2], _MASKS),
            ValueError,
            "output: expected (N, 3, H, W)",
        ),
        (
            lambda: S.shading_score(_IMAGES, _IMAGES[:1], _MASKS),
            ValueError,
            "target: expected shape (2, 3, 16, 16) like output",
        ),
        (
            lambda: S.shading_score(_IMAGES * math.nan, _IMAGES, _MASKS),
            ValueError,
            "output: expected finite",
        ),
        (lambda: S.shading_score(_IMAGES, _IMAGES, _MASKS[:, 0]), ValueError, "mask:"),
        (
            lambda: S.shading_score(_IMAGES, _IMAGES, _MASKS[:1]),
            ValueError,
            "mask: expected shape (2, 1, 16, 16) to match output, got (1, 1, 16, 16)",
        ),
        (
            lambda: S.shading_score(_IMAGES, _IMAGES, _MASKS * 2),
            ValueError,
            "mask: expected values in [0, 1]",
        ),
        (
            lambda: S.shading_score(_IMAGES, _IMAGES, _MASKS, sigma=0),
            ValueError,
            "sigma: expected a positive",
        ),
        (
            lambda: S.shading_score(_IMAGES, _IMAGES, _MASKS, erosion=1.5),
            TypeError,
            "erosion: expected an int >= 0",
        ),
        (
            lambda: S.shading_score(_IMAGES, _IMAGES, _MASKS, erosion=-1),
            ValueError,
            "erosion: expected an int >= 0, got -1",
        ),
        (
            lambda: S.kneecap_score(_IMAGES, _IMAGES, _MASKS[:1], _MASKS),
            ValueError,
            "kneecap_mask: expected shape",
        ),
        (
            lambda: S.spread_ratio(_IMAGES, _IMAGES, _MASKS, _MASKS[:, :, :8]),
            ValueError,
            "mask_target: expected shape",
        ),
        (
            lambda: S.spread_ratio(_IMAGES, _IMAGES[:1], _MASKS, _MASKS[:1]),
            ValueError,
            "target: expected 2 images like output",
        ),
        (lambda: S.change_tone(_IMAGES, gains=(1, 1)), ValueError, "gains: expected 3"),
        (lambda: S.change_contrast(_IMAGES, _MASKS, factor=-1), ValueError, "factor:"),
        (lambda: S.erode_silhouette(_IMAGES, _MASKS, pixels=2.0), TypeError, "pixels:"),
        (lambda: S.erase_kneecap(_IMAGES, _MASKS, None), TypeError, "kneecap_masks:"),
        (lambda: S.validity_table(_IMAGES, _MASKS[:1], _MASKS), ValueError, "masks:"),
    ],
)
def test_bad_arguments_name_the_argument(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


# ----------------------------------------------------------------- the kneecap mask


def test_kneecap_masks_lie_inside_the_leg_and_are_never_empty():
    poses = [SyntheticKnees("sim", "test", size=SIZE).pose(i) for i in range(28)]
    kneecaps = kneecap_mask(poses, SIZE)
    assert kneecaps.shape == (28, 1, SIZE, SIZE) and kneecaps.dtype == torch.float32
    assert set(kneecaps.unique().tolist()) <= {0.0, 1.0}
    _, legs = render_sim(poses, size=SIZE)
    assert bool((kneecaps <= legs).all())
    area = kneecaps.flatten(1).sum(1)
    assert bool((area >= 5).all()) and bool((area <= 0.05 * SIZE * SIZE).all())
    # one pose at a time gives the same masks as a batch, at any size
    assert torch.equal(kneecap_mask(poses[3], SIZE), kneecaps[3])
    big = kneecap_mask(poses[:2], 128)
    assert big.shape == (2, 1, 128, 128)
    assert bool((big <= render_real(poses[:2], 0.5, size=128)[1]).all())


def test_kneecap_mask_checks_its_arguments():
    pose = SyntheticKnees("sim", "test", size=SIZE).pose(0)
    with pytest.raises(ValueError, match="size"):
        kneecap_mask(pose, 16)
    with pytest.raises(TypeError, match="pose"):
        kneecap_mask("knee", SIZE)
    with pytest.raises(ValueError, match="pose: expected the keys"):
        kneecap_mask({"flex_deg": 0.0}, SIZE)


# ---------------------------------------------------- the training loss that mirrors it


def test_relief_loss_is_one_minus_the_shading_score_against_the_input(renders):
    """The differentiable relief loss (luma, torch) reads what the shading measure
    (L*, NumPy) reads: for the oracle, another pose's oracle and a new skin tone. A leg
    flattened in L* keeps a trace of relief in luma, through its varying hue, so its
    loss is near 1 rather than at it."""
    from kdehist.losses import relief_loss

    inputs, masks = renders["inputs"], renders["masks"]
    for output in (
        renders["oracle"],
        renders["oracle"].roll(1, 0),
        S.change_tone(inputs),
    ):
        score = S.shading_score(output, inputs, masks).mean().item()
        loss = relief_loss(inputs, output.float(), masks).item()
        assert abs((1 - loss) - score) < 0.05, (loss, score)
    flat = S.flatten_shading(renders["oracle"], masks).float()
    assert abs(relief_loss(inputs, flat, masks).item() - 1) < 0.15
    assert relief_loss(inputs, inputs, masks).item() < 1e-6


def test_relief_loss_gradient_matches_finite_differences(renders):
    from kdehist.losses import relief_loss

    x = renders["inputs"][:2].double()
    masks = renders["masks"][:2]
    y = renders["oracle"][:2, :, :24, :24].double().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: relief_loss(x[:, :, :24, :24], t, masks[:, :, :24, :24]),
        (y,),
        eps=1e-6,
        atol=1e-5,
    )
    flat = torch.zeros_like(x, requires_grad=True)
    relief_loss(x, flat, masks).backward()
    assert torch.isfinite(flat.grad).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"translated": torch.zeros(1, 3, 8, 8)}, "source, translated"),
        ({"mask": torch.ones(2, 1, 16, 16)}, "mask: expected shape"),
        ({"sigma": 0.0}, "sigma: expected a number > 0"),
        ({"erosion": -1}, "erosion: expected an int >= 0"),
    ],
)
def test_relief_loss_names_its_bad_arguments(kwargs, message):
    from kdehist.losses import relief_loss

    args = {
        "source": torch.zeros(1, 3, 16, 16),
        "translated": torch.zeros(1, 3, 16, 16),
        "mask": torch.ones(1, 1, 16, 16),
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        relief_loss(**args)
