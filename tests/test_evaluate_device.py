"""Evaluation on the training device, in batches: the same numbers as the CPU path that
translates every pair first and measures them one image at a time."""

import numpy as np
import pytest
import torch

from kdehist import evaluate as ev
from kdehist.color import to_lab
from kdehist.segment import load_segmenter
from kdehist.train import TrainConfig, build_nets


@pytest.fixture(scope="module")
def small():
    test = ev.load_test_set(size=32, count=4)
    return test, ev.oracle_pairs(test), load_segmenter(progress=False)[0]


@pytest.mark.parametrize("variant", ["proposed_both", "cyclegan"])
def test_batched_evaluation_matches_the_cpu_path(variant, small):
    test, oracle, segmenter = small
    config = TrainConfig.from_profile("smoke", variant=variant)
    torch.manual_seed(0)
    generator = build_nets(config).G.eval()
    outputs = ev.translate_pairs(generator, test, config.hist_bins)
    old = ev.pair_metrics(outputs, test, oracle, segmenter)
    for batch_size in (5, 16):  # 5 does not divide the 16 pairs: a short last batch
        summary, new, translated = ev.evaluate_generator(
            generator,
            test,
            config.hist_bins,
            oracle,
            device="cpu",
            segmenter=segmenter,
            batch_size=batch_size,
        )
        assert set(new) == set(old)
        for key in old:
            assert new[key].shape == old[key].shape == (4, 4)
            np.testing.assert_allclose(new[key], old[key], rtol=0, atol=1e-5)
        want = ev.summarize(old)
        assert summary.pop("jis_shares") == want.pop("jis_shares")
        assert summary == pytest.approx(want, abs=1e-5)
        torch.testing.assert_close(translated, outputs, rtol=0, atol=1e-5)


def test_torch_lab_and_ssim_agree_with_scikit_image(small):
    from skimage.metrics import structural_similarity

    test, oracle, _ = small
    images = torch.cat([test.refs, test.inputs * 1.5])  # values beyond [-1, 1] too
    from skimage.color import rgb2lab

    rgb = ((images.double().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    want_lab = torch.from_numpy(rgb2lab(rgb, channel_axis=-1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(to_lab(images), want_lab, rtol=0, atol=1e-9)
    a = to_lab(oracle[0])[:, 0] / 100
    b = to_lab(oracle[1])[:, 0] / 100
    want = [
        structural_similarity(x.numpy(), y.numpy(), data_range=1.0)
        for x, y in zip(a, b)
    ]
    np.testing.assert_allclose(ev._ssim(a, b).numpy(), want, rtol=0, atol=1e-12)


def test_evaluation_leaves_the_segmenter_where_it_was(small):
    test, _, segmenter = small
    config = TrainConfig.from_profile("smoke", variant="proposed_one")
    generator = build_nets(config).G
    before = {k: v.clone() for k, v in segmenter.state_dict().items()}
    _, metrics, outputs = ev.evaluate_generator(
        generator, test, config.hist_bins, segmenter=segmenter, progress=True
    )
    assert outputs.device.type == "cpu" and "shape_score" in metrics
    assert next(segmenter.parameters()).device.type == "cpu"
    assert all(torch.equal(before[k], v) for k, v in segmenter.state_dict().items())


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(batch_size=0), ValueError, "batch_size: expected an int >= 1, got 0"),
        (dict(batch_size=2.5), TypeError, "batch_size: expected an int >= 1"),
        (dict(bins=None), ValueError, "bins: expected the generator's hist_bins"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message, small):
    test, _, _ = small
    config = TrainConfig.from_profile("smoke", variant="proposed_one")
    generator = build_nets(config).G
    arguments = dict(bins=config.hist_bins, device="cpu") | kwargs
    with pytest.raises(error, match=message.replace("(", r"\(")):
        ev.evaluate_generator(generator, test, **arguments)
