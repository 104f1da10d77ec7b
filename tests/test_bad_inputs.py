"""The last bad and borderline inputs of the public API (the reliability issue's tail).

* valid numbers that were refused: NumPy scalars and 0-d tensors wherever a number is
  expected, integer grey levels; they now give the same result, bit for bit, as the
  Python numbers;
* inputs that were silently accepted: negative histograms in every loss, NaN images,
  too large shifts and domains of different sizes in the loader;
* internal errors: meta tensors, a CUDA device on a machine without one;
* unclear errors: a misspelt config field, a checkpoint loaded onto a missing GPU.

Every refusal names the argument, what was expected and what was received. CUDA is
hidden with a monkeypatch, so the tests behave the same with or without a GPU.
"""

import json

import numpy as np
import pytest
import torch

from kdehist import io as kio
from kdehist._checks import check_positive_float, check_positive_int
from kdehist.config import TrainConfig
from kdehist.data import UnpairedLoader
from kdehist.histogram import (
    SoftHistogram,
    hard_histogram,
    kde_density,
    soft_histogram,
    soft_histogram_naive,
)
from kdehist.losses import LOSS_KINDS, histogram_distance, histogram_loss

HISTOGRAMS = (soft_histogram, hard_histogram, soft_histogram_naive)
X = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
H16 = torch.full((2, 3, 16), 1 / 16)
META = torch.zeros(2, 3, 8, 8, device="meta")


def _negative(h=H16):
    bad = h.clone()
    bad.view(-1)[19] = -0.25
    return bad


def _domain(count=3, size=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 3, size, size, generator=generator) * 2 - 1
    masks = (torch.rand(count, 1, size, size, generator=generator) > 0.5).float()
    return images, masks


def _with_nan():
    images, masks = _domain()
    images[1, 2, 3, 4] = float("nan")
    return images, masks


@pytest.fixture
def no_cuda(monkeypatch):
    """This machine, as one without CUDA (whether or not it has a GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    kio.atomic_torch_save(path, {"step": 3, "weights": torch.arange(4.0)})
    return path


# ------------------------------------------------------------ valid numbers, accepted


NUMBER_FORMS = {
    "numpy-int64": lambda n: np.int64(n),
    "numpy-int32": lambda n: np.int32(n),
    "numpy-0d-array": lambda n: np.array(n),
    "torch-0d": lambda n: torch.tensor(n),
    "torch-0d-uint8": lambda n: torch.tensor(n, dtype=torch.uint8),
}


@pytest.mark.parametrize("histogram", HISTOGRAMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("form", NUMBER_FORMS.values(), ids=list(NUMBER_FORMS))
def test_bins_as_numpy_or_0d_tensor_give_the_same_histogram(histogram, form):
    expected = histogram(X, 16)
    got = histogram(X, form(16))
    assert got.shape == (2, 3, 16) and torch.equal(got, expected)


BANDWIDTH_FORMS = {
    "torch-0d-float32": lambda b: torch.tensor(b),
    "torch-0d-float64": lambda b: torch.tensor(b, dtype=torch.float64),
    "numpy-float32": lambda b: np.float32(b),
    "numpy-0d-array": lambda b: np.array(b),
}


@pytest.mark.parametrize("histogram", HISTOGRAMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("form", BANDWIDTH_FORMS.values(), ids=list(BANDWIDTH_FORMS))
def test_bandwidth_as_numpy_or_0d_tensor_gives_the_same_histogram(histogram, form):
    bandwidth = form(0.05)
    # the number the caller meant, at the precision they gave it
    as_float = float(bandwidth)
    assert torch.equal(histogram(X, 16, bandwidth), histogram(X, 16, as_float))


def test_kde_density_takes_integer_levels_and_0d_bandwidth():
    levels = torch.arange(-1, 2)  # int64
    expected = kde_density(X, levels.float(), 0.25)
    assert torch.equal(kde_density(X, levels, 0.25), expected)
    assert torch.equal(kde_density(X, levels.to(torch.int32), 0.25), expected)
    assert torch.equal(kde_density(X, levels, torch.tensor(0.25)), expected)
    assert torch.equal(kde_density(X, levels, np.float64(0.25)), expected)
    with pytest.raises(TypeError, match=r"^levels: expected a 1-D tensor of real .*"):
        kde_density(X, torch.tensor([True, False]), 0.25)


def test_the_module_and_the_checks_return_python_numbers():
    module = SoftHistogram(bins=np.int64(16), bandwidth=torch.tensor(0.05))
    assert type(module.bins) is int and type(module.bandwidth) is float
    assert torch.equal(module(X), soft_histogram(X, 16, float(torch.tensor(0.05))))
    defaulted = SoftHistogram(bins=torch.tensor(16))
    assert defaulted.bandwidth == SoftHistogram(bins=16).bandwidth
    for value in (np.int64(3), np.uint8(3), torch.tensor(3), np.array(3), 3):
        assert type(check_positive_int("n", value)) is int
    for value in (torch.tensor(0.5), np.float32(0.5), np.int64(2), 0.5):
        assert type(check_positive_float("b", value)) is float


def test_config_stores_numpy_numbers_as_python_numbers():
    config = TrainConfig.from_profile(
        "smoke",
        steps=np.int64(6),
        batch_size=torch.tensor(2),
        lambda_hist=np.float32(2.5),
        betas=(np.float64(0.5), torch.tensor(0.25)),
    )
    assert config.steps == 6 and type(config.steps) is int
    assert config.decay_start == 3  # moved with steps, as for a Python int
    assert type(config.batch_size) is int and type(config.lambda_hist) is float
    assert config.betas == (0.5, 0.25)
    json.dumps(config.to_dict())  # plain numbers only


# ------------------------------------------------------------------- bad inputs, named


# (id, call, exception, argument named first, words the message must hold)
BAD_INPUTS = [
    # numbers that are not (the right) numbers stay refused
    ("bins-numpy-bool", lambda: soft_histogram(X, np.bool_(True)), TypeError, "bins"),
    (
        "bins-torch-bool",
        lambda: soft_histogram(X, torch.tensor(True)),
        TypeError,
        "bins",
    ),
    ("bins-0d-float", lambda: hard_histogram(X, torch.tensor(16.0)), TypeError, "bins"),
    (
        "bins-1d-tensor",
        lambda: soft_histogram(X, torch.tensor([16])),
        TypeError,
        "bins",
    ),
    (
        "bins-numpy-zero",
        lambda: soft_histogram_naive(X, np.int64(0)),
        ValueError,
        "bins",
    ),
    (
        "bandwidth-0d-negative",
        lambda: soft_histogram(X, 16, torch.tensor(-0.1)),
        ValueError,
        "bandwidth",
    ),
    (
        "bandwidth-0d-nan",
        lambda: kde_density(X, torch.zeros(3), torch.tensor(float("nan"))),
        ValueError,
        "bandwidth",
    ),
    (
        "bins-0d-meta",
        lambda: soft_histogram(X, torch.tensor(16, device="meta")),
        TypeError,
        "bins",
        "meta",
    ),
    # negative histograms, in every kind of loss
    *[
        (
            f"loss-{kind}-negative-fake",
            lambda kind=kind: histogram_loss(_negative(), H16, kind),
            ValueError,
            "h_fake",
            "non-negative",
            "1 negative entries (min -0.25)",
        )
        for kind in LOSS_KINDS
    ],
    (
        "loss-negative-ref",
        lambda: histogram_loss(H16, _negative(H16[0])),
        ValueError,
        "h_ref",
        "non-negative",
    ),
    (
        "distance-negative-fake",
        lambda: histogram_distance(-H16, H16, "emd"),
        ValueError,
        "h_fake",
        "96 negative entries",
    ),
    (
        "loss-nan-keeps-its-message",
        lambda: histogram_loss(H16, torch.full((3, 16), float("nan"))),
        ValueError,
        "h_ref",
        "finite values",
    ),
    # the loader
    (
        "loader-nan-x-images",
        lambda: UnpairedLoader(*_with_nan(), *_domain(seed=1)),
        ValueError,
        "x_images",
        "finite",
        "1 NaN",
    ),
    (
        "loader-nan-y-images",
        lambda: UnpairedLoader(*_domain(), *_with_nan()),
        ValueError,
        "y_images",
        "finite",
    ),
    (
        "loader-inf-mask",
        lambda: UnpairedLoader(
            _domain()[0], torch.full((3, 1, 8, 8), float("inf")), *_domain(seed=1)
        ),
        ValueError,
        "x_masks",
        "finite",
    ),
    (
        "loader-shift-larger-than-image",
        lambda: UnpairedLoader(*_domain(), *_domain(seed=1), max_shift=20),
        ValueError,
        "max_shift",
        "at most 7",
        "got 20",
    ),
    (
        "loader-shift-the-whole-side",
        lambda: UnpairedLoader(*_domain(), *_domain(seed=1), max_shift=8),
        ValueError,
        "max_shift",
        "at most 7",
    ),
    (
        "loader-domains-of-different-sizes",
        lambda: UnpairedLoader(*_domain(), *_domain(size=16)),
        ValueError,
        "y_images",
        "8 x 8",
        "got 16 x 16",
    ),
    (
        "loader-domains-of-different-widths",
        lambda: UnpairedLoader(
            *_domain(), torch.zeros(3, 3, 8, 12), torch.ones(3, 1, 8, 12)
        ),
        ValueError,
        "y_images",
        "got 8 x 12",
    ),
    (
        "loader-device-int-list",
        lambda: UnpairedLoader(*_domain(), *_domain(seed=1), device=[0]),
        TypeError,
        "device",
    ),
    (
        "loader-device-unknown",
        lambda: UnpairedLoader(*_domain(), *_domain(seed=1), device="gpu"),
        ValueError,
        "device",
    ),
    # meta tensors: a shape but no values
    *[
        (
            f"{histogram.__name__}-meta",
            lambda histogram=histogram: histogram(META, 16),
            ValueError,
            "x",
            "meta device",
            "no data",
        )
        for histogram in HISTOGRAMS
    ],
    (
        "soft_histogram-meta-mask",
        lambda: soft_histogram(X, 16, mask=torch.ones(2, 1, 8, 8, device="meta")),
        ValueError,
        "mask",
        "meta device",
    ),
    (
        "kde_density-meta",
        lambda: kde_density(META, torch.zeros(3), 0.1),
        ValueError,
        "x",
        "meta device",
    ),
    (
        "kde_density-meta-levels",
        lambda: kde_density(X, torch.zeros(3, device="meta"), 0.1),
        ValueError,
        "levels",
        "meta device",
    ),
    (
        "loss-meta",
        lambda: histogram_loss(H16.to("meta"), H16),
        ValueError,
        "h_fake",
        "meta device",
    ),
    (
        "loader-meta",
        lambda: UnpairedLoader(META[:, :], torch.ones(2, 1, 8, 8), *_domain()),
        ValueError,
        "x_images",
        "meta device",
    ),
    # TrainConfig: the near matches, not every field
    (
        "config-misspelt-field",
        lambda: TrainConfig.from_profile("smoke", stepz=4),
        TypeError,
        "overrides",
        "'stepz': did you mean 'steps'?",
        "got ['stepz']",
    ),
    (
        "config-two-misspelt-fields",
        lambda: TrainConfig.from_profile("smoke", lamda_hist=1.0, bach_size=2),
        TypeError,
        "overrides",
        "'bach_size': did you mean 'batch_size'",
        "'lamda_hist': did you mean 'lambda_hist'",
    ),
    (
        "config-unlike-any-field",
        lambda: TrainConfig.from_profile("smoke", bogus=1),
        TypeError,
        "overrides",
        "no field is named like 'bogus'",
        "help(TrainConfig)",
    ),
]


@pytest.mark.parametrize(
    "call, error, name, words",
    [(row[1], row[2], row[3], row[4:]) for row in BAD_INPUTS],
    ids=[row[0] for row in BAD_INPUTS],
)
def test_bad_input_names_the_argument(call, error, name, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{name}:"), message
    assert "expected" in message and "got" in message, message
    for word in words:
        assert word in message, message
    assert len(message) < 400, f"{len(message)} characters"


def test_a_misspelt_field_does_not_list_every_field():
    with pytest.raises(TypeError) as info:
        TrainConfig.from_profile("smoke", stepz=4)
    message = str(info.value)
    assert "checkpoint_every" not in message and "lambda_cycle" not in message


def test_rounding_below_zero_is_still_a_histogram():
    nearly = H16.clone()
    nearly[0, 0, 0] = -1e-9  # a float64 sum in another order on a GPU
    for kind in LOSS_KINDS:
        assert torch.isfinite(histogram_loss(nearly, H16, kind))
    empty = torch.zeros(3, 16)  # an empty histogram is not negative
    assert float(histogram_loss(empty, empty)) == 0.0


def test_the_loader_still_takes_the_largest_shift_and_its_own_default():
    images, masks = _domain()
    loader = UnpairedLoader(images, masks, *_domain(seed=1), max_shift=7)
    assert loader.batch(0)["x"].shape == (1, 3, 8, 8)
    assert UnpairedLoader(images, masks, images, masks).max_shift == 0  # 8 // 16
    assert UnpairedLoader(images, masks, images, masks, device="cpu").device == (
        torch.device("cpu")
    )


# ------------------------------------------------------------------ CUDA missing here


def test_loader_on_missing_cuda_says_so(no_cuda):
    images, masks = _domain()
    for device in ("cuda", "cuda:1", torch.device("cuda")):
        with pytest.raises(ValueError) as info:
            UnpairedLoader(images, masks, images, masks, device=device)
        message = str(info.value)
        assert message.startswith("device: expected an available device"), message
        assert "CUDA is not available" in message and "device='cpu'" in message


def test_checkpoint_on_missing_cuda_is_not_called_damaged(tmp_path, no_cuda):
    path = _checkpoint(tmp_path)
    for location in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError) as info:
            kio.load_checkpoint(path, map_location=location)
        assert not isinstance(info.value, kio.CheckpointError)  # no fallback either
        message = str(info.value)
        assert message.startswith("map_location: expected an available device")
        assert "CUDA is not available" in message, message
        assert 'map_location="cpu"' in message, message
        assert "damaged" not in message
    assert torch.equal(kio.load_checkpoint(path)["weights"], torch.arange(4.0))


def test_checkpoint_saved_on_a_gpu_loaded_without_map_location(
    tmp_path, no_cuda, monkeypatch
):
    # torch's own error for CUDA tensors in the file (no GPU is needed to raise it)
    def load(*args, **kwargs):
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but "
            "torch.cuda.is_available() is False. If you are running on a CPU-only "
            "machine, please use torch.load with map_location=torch.device('cpu') "
            "to map your storages to the CPU."
        )

    path = _checkpoint(tmp_path)
    monkeypatch.setattr(torch, "load", load)
    with pytest.raises(ValueError) as info:
        kio.load_checkpoint(path, map_location=None)
    assert not isinstance(info.value, kio.CheckpointError)
    message = str(info.value)
    assert message.startswith("map_location: expected a device"), message
    assert "CUDA tensors" in message and 'map_location="cpu"' in message
    assert "damaged" not in message and "weights_only" not in message


def test_a_damaged_checkpoint_is_still_called_damaged(tmp_path, no_cuda):
    path = _checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(kio.CheckpointError, match="damaged"):
        kio.load_checkpoint(path)
