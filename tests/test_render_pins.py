"""The renderer's pixels and random stream, pinned by SHA-256.

Committed runs are retrained bit-identically on the cpu profile only if every render
and every draw stays what it was when they were trained. These hashes were computed
before the kneecap mask (:func:`kdehist.knees.kneecap_mask`) was added to the renderer;
any change to the pixels, the masks, the poses, the tones or the appearances breaks
them. If a change is meant, bump ``RENDER_VERSION`` and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from kdehist.data import SyntheticKnees, render_real, render_sim
from kdehist.evaluate import load_test_set, oracle_pairs


def _digest(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _image_digest(images: torch.Tensor, masks: torch.Tensor) -> str:
    """Hash of 8-bit images in [-1, 1] and their {0, 1} masks. The renderer's floats
    are exactly ``level / 127.5 - 1``, which the assert checks, so the levels carry
    every bit."""
    levels = ((images + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(levels.float() / 127.5 - 1, images)
    return _digest(levels, masks.to(torch.uint8))


def _draws_digest(data: SyntheticKnees, count: int) -> str:
    draws = [data.pose(i) for i in range(count)]
    if data.domain == "real":
        draws += [data.appearance(i) for i in range(count)]
        draws += [data.tone_position(i) for i in range(count)]
    return hashlib.sha256(json.dumps(draws, sort_keys=True).encode()).hexdigest()


SPLIT_PINS = {
    # (domain, split, size): (the images and masks of the first 6, or 2 at 128 px;
    # their draws)
    ("sim", "train", 64): (
        "cb8f8a1415430a988ff155856065c1bc154d113480a240b2d0db69d28208bad6",
        "d35f8c495b9233dadf4b48d5b8dd1bdbd8da71ebae2c4d61fece73df09ccd486",
    ),
    ("sim", "test", 64): (
        "2ebc7970ff8edf807bdcb90c081f75568a8add5f7eda03b8edbca07eeea38dba",
        "b47bd7534bb7bd8c5c6b3b0a057bacb20007fd1b63a0022a0b46650f11428cf7",
    ),
    ("real", "train", 64): (
        "22b43e113d542ae0f64b6f44480529d86c60f31bb5d261b39e639e38a8c315e8",
        "eb7c791ad1d5b641a5265879a1a12c8942b825514c59c013986ec77ac732d526",
    ),
    ("real", "test", 64): (
        "014310197587fa31718c7ad95ea8b571dd8a90051ec49e65d3335bb8f0d309e2",
        "70a002e8766bbd9ddb4f10de0b22dc7fea06c45f805c5e4dea4c74ac7f03eeaa",
    ),
    ("sim", "train", 128): (
        "77fe1c4382c33d653ccf4221898b9eafdfea892346006981b43b2659f964d3b7",
        "787a310795f03b7566836ca10805d5cd1c58ab41afa651d2f12846e7449055c9",
    ),
    ("real", "train", 128): (
        "5921999cc550a0eb2194e8b53102b6b251689c6e3c15c341fc9712c284d0a0fa",
        "3ba211820c281e5ab1a1caf12efa45c04071f44ad45932540171b0fe9509f4df",
    ),
}
TEST_SET_PINS = {
    "inputs": "0e66443e22145864a1ce3af697f2d1e375b8ccb67450d2ea30627d7c791eaa2e",
    "refs": "8695343856e9892c0ffe69894fda2c8e7c351d08457eef599a48162196718a34",
    "draws": (
        "d4f68dec8f185080c319f009321fdda69a96314bb654af9bd65206cfcfa89cbe"
        "c21e909b16cedb0f13be20dfc4c3b6f5cddedfb6c84af9f1c12254c7b549dd71"
    ),
    "oracle_3x3": "a99db860c4cae17c0cd0318458f5edd25f5a1a55fb60a248530253ef4b888464",
    "single": "48f12052acdfc2d869a19d426ecfd375d4db25bb87824b7df349588da5b679e6",
}


@pytest.mark.parametrize("key", sorted(SPLIT_PINS))
def test_split_renders_and_draws_are_pinned(key):
    domain, split, size = key
    data = SyntheticKnees(domain, split, size=size)
    count = 6 if size <= 64 else 2
    assert (_image_digest(*data.tensors(range(count))), _draws_digest(data, count)) == (
        SPLIT_PINS[key]
    )


def _test_set_digests() -> dict[str, str]:
    test = load_test_set(64)
    oracle = oracle_pairs(load_test_set(64, count=3))
    sim_image, sim_mask = render_sim(test.poses[0], size=96)
    real_image, real_mask = render_real(
        test.poses[0], test.tones[1], size=96, appearance=test.looks[1], garment=True
    )
    draws = json.dumps([test.poses, test.looks], sort_keys=True).encode()
    return {
        "inputs": _image_digest(test.inputs, test.input_masks),
        "refs": _image_digest(test.refs, test.ref_masks),
        "draws": _digest(test.tones) + hashlib.sha256(draws).hexdigest(),
        "oracle_3x3": _image_digest(oracle, torch.zeros(0)),
        "single": _image_digest(
            torch.stack([sim_image, real_image]), torch.stack([sim_mask, real_mask])
        ),
    }


def test_test_set_oracle_and_single_renders_are_pinned():
    assert _test_set_digests() == TEST_SET_PINS
