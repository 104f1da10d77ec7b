"""The shipped generator: its hash is checked, it is the model its card and committed
scores describe (the 784 test pairs within 0.05 ΔE76 of the committed float32 array,
with the float16 weights), and ``kdehist.translate`` takes images of any size and
refuses bad ones with a message naming the argument."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import kdehist
from kdehist import pretrained
from kdehist.io import CheckpointError

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = pretrained.asset_path(pretrained.WEIGHTS_FILE)


@pytest.fixture(scope="module")
def G():
    return kdehist.pretrained_generator()


@pytest.fixture(scope="module")
def test_set():
    from kdehist.evaluate import load_test_set

    return load_test_set(pretrained.IMAGE_SIZE)


# --------------------------------------------------------------------------- weights


def test_the_weights_are_small_fp16_and_hashed():
    assert WEIGHTS.stat().st_size < 6e6
    assert pretrained.sha256_of(WEIGHTS) == pretrained.WEIGHTS_SHA256
    payload = torch.load(WEIGHTS, weights_only=True)
    assert {v.dtype for v in payload["weights"].values()} == {torch.float16}


def test_pretrained_generator_is_float32_in_eval_mode(G):
    from kdehist.models import ResnetGenerator

    assert isinstance(G, ResnetGenerator) and not G.training
    assert {p.dtype for p in G.parameters()} == {torch.float32}
    assert G.hist_bins == pretrained.HIST_BINS and G.spectral_norm
    assert 2.4e6 < sum(p.numel() for p in G.parameters()) < 2.5e6
    assert kdehist.pretrained_generator is pretrained.pretrained_generator


def test_a_changed_file_is_refused_with_its_name(tmp_path, monkeypatch):
    tampered = tmp_path / pretrained.WEIGHTS_FILE
    shutil.copy(WEIGHTS, tampered)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as caught:
        pretrained.load_pretrained(tampered)
    message = str(caught.value)
    assert str(tampered) in message and "SHA-256" in message
    assert pretrained.WEIGHTS_SHA256 in message and "reinstall" in message
    # The public entry point checks the same way.
    monkeypatch.setattr(pretrained, "asset_path", lambda name: tmp_path / name)
    with pytest.raises(CheckpointError, match=pretrained.WEIGHTS_FILE):
        kdehist.pretrained_generator()
    tampered.unlink()
    with pytest.raises(FileNotFoundError, match=pretrained.WEIGHTS_FILE):
        kdehist.pretrained_generator()


def test_the_record_and_the_model_card_agree_with_the_scores():
    record = pretrained.pretrained_record()
    config = record["config"]
    assert (config["variant"], config["profile"], config["seed"]) == (
        "proposed_both",
        "cpu",
        0,
    )
    assert (config["steps"], config["image_size"], config["autocast"]) == (
        500,
        64,
        "none",
    )
    scores = pretrained.committed_scores()
    assert set(scores) == set(pretrained.SCORE_KEYS)
    assert all(v.shape == (28, 28) for v in scores.values())
    mean = float(scores["delta_e76"].mean())
    assert record["scores"]["delta_e76"] == pytest.approx(mean, abs=1e-5)
    card = pretrained.asset_path(pretrained.MODEL_CARD_FILE).read_text()
    table2 = json.loads((ROOT / "kdehist/results/cpu/table2.json").read_text())
    seed0 = table2["variants"]["proposed_both"]["delta_e76_seed_means"][0]
    assert f"| {mean:.2f} |" in card and f"| {seed0:.2f} |" in card
    assert pretrained.WEIGHTS_SHA256 in card and "CC BY 4.0" in card
    assert "retrain" in card and record["provenance"]["host_cpu"].split("(")[0] in card


# ------------------------------------------------------------- the committed scores


def test_all_784_pairs_reproduce_the_committed_delta_e(G, test_set):
    # About 13 s on one thread of the 2-core development CPU.
    from kdehist.evaluate import evaluate_generator

    _, metrics, _ = evaluate_generator(G, test_set, pretrained.HIST_BINS, device="cpu")
    ours = metrics["delta_e76"]
    committed = pretrained.committed_scores()["delta_e76"]
    deviation = np.abs(ours - committed)
    print(f"float16 weights: max |ΔE76 - committed| {deviation.max():.4f}")
    assert deviation.max() < pretrained.DELTA_E_TOLERANCE, deviation.max()


def test_translate_agrees_with_the_evaluation(test_set):
    committed = pretrained.committed_scores()["delta_e76"]
    for i, j in [(0, 0), (3, 17)]:
        result = kdehist.translate(
            test_set.inputs[i],
            test_set.refs[j],
            test_set.ref_masks[j],
            image_mask=test_set.input_masks[i],
        )
        assert result.reference_mask_source == "reference_mask"
        assert result.delta_e76 == pytest.approx(committed[i, j], abs=0.05)
        assert result.jis_class == kdehist.jis_class(result.delta_e76)


# ------------------------------------------------------------------------ translate


def as_uint8(image: torch.Tensor) -> np.ndarray:
    return ((image.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()


@pytest.fixture(scope="module")
def photo():
    """A reference knee photo at 256 px and its mask."""
    from kdehist.data import SyntheticKnees

    sample = SyntheticKnees("real", "test", size=256)[5]
    return sample["image"], sample["mask"]


def check_result(result):
    assert result.output.shape == (3, 64, 64)
    assert result.output.min() >= -1 and result.output.max() <= 1
    for mask in (result.image_mask, result.reference_mask):
        assert mask.shape == (1, 64, 64) and bool(mask.any())
    for hist in (result.reference_histogram, result.output_histogram):
        assert hist.shape == (3, 32)
        assert torch.allclose(hist.sum(-1), torch.ones(3), atol=0.02)
    assert np.isfinite(result.delta_e76)


def test_translate_takes_images_of_any_size_and_says_where_the_mask_came_from(
    test_set, photo
):
    image, mask = photo
    sim = test_set.inputs[1]
    # Odd sizes: a tensor 3×53×37 (portrait), a uint8 array 70×45 (landscape).
    odd = torch.nn.functional.interpolate(image[None], size=(53, 37))[0].clamp(-1, 1)
    result = kdehist.translate(sim, odd)
    check_result(result)
    assert result.reference_mask_source in ("segmenter", "border", "whole image")
    assert result.image_mask_source == "border"  # the simulator's dark background
    wide = as_uint8(torch.nn.functional.interpolate(image[None], size=(45, 70))[0])
    check_result(kdehist.translate(as_uint8(sim), wide))
    # A given mask (any form) wins, and so does an alpha channel.
    given = kdehist.translate(sim, image, mask[0].numpy() > 0.5)
    assert given.reference_mask_source == "reference_mask"
    rgba = np.dstack([as_uint8(image), (mask[0].numpy() * 255).astype(np.uint8)])
    alpha = kdehist.translate(Image.fromarray(as_uint8(sim)), Image.fromarray(rgba))
    assert alpha.reference_mask_source == "alpha"
    torch.testing.assert_close(alpha.reference_mask, given.reference_mask)
    assert alpha.delta_e76 == pytest.approx(given.delta_e76, abs=0.2)
    # Palette and 16-bit grey images are converted, not refused.
    check_result(kdehist.translate(sim, Image.fromarray(as_uint8(image)).quantize(64)))
    grey16 = Image.fromarray(
        (np.arange(64 * 64).reshape(64, 64) * 15).astype(np.uint16)
    )
    check_result(kdehist.translate(sim, grey16))


@pytest.mark.parametrize(
    "kwargs, error, argument, received",
    [
        ({"image": "knee.png"}, TypeError, "image", "str"),
        ({"reference": torch.zeros(4, 32, 32)}, ValueError, "reference", "(4, 32, 32)"),
        ({"image": torch.full((3, 32, 32), 200.0)}, ValueError, "image", "200"),
        (
            {"reference": torch.full((3, 32, 32), float("nan"))},
            ValueError,
            "reference",
            "NaN",
        ),
        (
            {"reference": np.zeros((32, 32, 3), np.float32)},
            ValueError,
            "reference",
            "float32",
        ),
        ({"image": torch.zeros(3, 4, 40)}, ValueError, "image", "40×4"),
        ({"reference_mask": torch.ones(1, 16, 16)}, ValueError, "reference_mask", "16"),
        ({"reference_mask": torch.zeros(32, 32)}, ValueError, "reference_mask", "none"),
        ({"reference_mask": "mask.png"}, TypeError, "reference_mask", "str"),
        ({"image_mask": torch.zeros(1, 32, 32)}, ValueError, "image_mask", "none"),
    ],
)
def test_translate_refuses_bad_input_naming_the_argument(
    kwargs, error, argument, received
):
    arguments = {
        "image": torch.zeros(3, 32, 32),
        "reference": torch.zeros(3, 32, 32),
        **kwargs,
    }
    with pytest.raises(error) as caught:
        kdehist.translate(**arguments)
    message = str(caught.value)
    assert message.startswith(f"{argument}:"), message
    assert "expected" in message and received in message, message
