"""The networks: reference sizes, spectral normalisation, and colour
conditioning (incl. the trap).
"""

import pytest
import torch
from torch import nn

import kdehist
from kdehist.models import (
    VARIANTS,
    PatchDiscriminator,
    ResnetGenerator,
    build_cyclegan,
    count_parameters,
    has_spectral_norm,
    patch_output_size,
)

BINS = 16


def small_generator(condition="concat", spectral_norm=False, hist_bins=BINS):
    return ResnetGenerator(
        ngf=8,
        n_blocks=2,
        hist_bins=hist_bins,
        condition=condition,
        spectral_norm=spectral_norm,
    )


def random_hists(batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, 16, 16, generator=gen) * 2 - 1
    return kdehist.soft_histogram(images, BINS)


def wake_film(G, seed=0):
    """Give the FiLM gains random values of either sign, as training might."""
    gen = torch.Generator().manual_seed(seed)
    for block in G.blocks:
        block.film.gain.data = torch.randn(block.film.gain.shape, generator=gen)


def test_reference_parameter_counts():
    assert count_parameters(ResnetGenerator(ngf=64, n_blocks=9)) == 11_378_179
    assert count_parameters(PatchDiscriminator(ndf=64, n_layers=3)) == 2_764_737
    # Spectral normalisation reparametrises the weights without
    # adding trainable scalars.
    assert (
        count_parameters(PatchDiscriminator(ndf=64, n_layers=3, spectral_norm=True))
        == 2_764_737
    )


def test_shapes_and_range():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    G = small_generator(hist_bins=None)
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    D = PatchDiscriminator(ndf=8, n_layers=3)
    assert (
        D(x).shape
        == (2, 1, 2, 2)
        == (2, 1, patch_output_size(32, 3), patch_output_size(32, 3))
    )
    assert patch_output_size(256, 3) == 30  # the 70x70 PatchGAN's 30x30 map at 256x256


@pytest.mark.parametrize("variant", VARIANTS)
def test_spectral_norm_on_every_layer_when_enabled(variant):
    nets = build_cyclegan(variant, ngf=4, n_blocks=1, ndf=4, n_layers=2, hist_bins=BINS)
    wanted = variant != "cyclegan"
    layers = [
        m
        for m in nets.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    assert layers and all(has_spectral_norm(m) == wanted for m in layers)
    conditioned = [g.conditioned for g in (nets.G, nets.F)]
    assert conditioned == {
        "proposed_one": [True, False],
        "proposed_both": [True, True],
    }.get(variant, [False, False])


def test_spectral_norm_makes_sigma_one():
    G = small_generator("film", spectral_norm=True)
    wake_film(G)
    x, hist = torch.rand(2, 3, 16, 16) * 2 - 1, random_hists()
    with torch.no_grad():
        # Each training-mode forward runs one power iteration. Random weights have close
        # top singular values, so the estimate converges slowly: within
        # 5% at once, 2.5% after 50.
        for _ in range(50):
            G(x, hist)
    G.eval()
    layers = [
        m
        for m in G.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    for layer in layers:
        dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
        matrix = layer.weight.detach().movedim(dim, 0).flatten(1)
        sigma = torch.linalg.matrix_norm(matrix, ord=2).item()
        assert sigma == pytest.approx(1.0, abs=2.5e-2), layer


def test_weights_are_initialised_before_wrapping():
    G = small_generator(hist_bins=None, spectral_norm=True)
    original = G.encoder[1].parametrizations.weight.original
    assert original.std().item() == pytest.approx(0.02, rel=0.3)
    assert G.encoder[1].bias.abs().max() == 0


@pytest.mark.parametrize("condition", ["concat", "film"])
def test_condition_changes_output_and_trains_the_mlp(condition):
    torch.manual_seed(0)
    G = small_generator(condition)
    if condition == "film":
        wake_film(G)
    # same image, two references
    x = (torch.rand(1, 3, 16, 16) * 2 - 1).expand(2, -1, -1, -1)
    out = G(x, random_hists())
    assert (out[0] - out[1]).abs().max() > 1e-3
    out.square().mean().backward()
    for layer in G.hist_encoder.net:
        if isinstance(layer, nn.Linear):
            assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_film_conditions_from_the_first_step():
    # A zero-initialised gain would leave the condition dormant
    # for thousands of Adam steps.
    G = small_generator("film", spectral_norm=True)
    x = (torch.rand(1, 3, 16, 16) * 2 - 1).expand(2, -1, -1, -1)
    out = G(x, random_hists())
    assert (out[0] - out[1]).abs().max() > 1e-3
    out.square().mean().backward()
    assert all(block.film.gain.grad.abs().sum() > 0 for block in G.blocks)


def test_concat_then_instance_norm_cancels_the_condition():
    """The trap of chapter 7: a tiled vector is constant over space; IN subtracts it."""
    torch.manual_seed(0)
    G = small_generator("concat_norm")
    x = (torch.rand(1, 3, 16, 16) * 2 - 1).expand(2, -1, -1, -1)
    hist = random_hists()
    hist.requires_grad_(True)
    out = G(x, hist)
    assert (out[0] - out[1]).abs().max() < 1e-5
    out.square().mean().backward()
    assert hist.grad.abs().max() < 1e-6  # no signal flows back to the histogram


def test_hist_argument_errors_name_the_argument():
    G = small_generator("film")
    x = torch.zeros(2, 3, 16, 16)
    with pytest.raises(
        ValueError,
        match=r"hist: expected a reference histogram of shape \(2, 3, 16\), got None",
    ):
        G(x)
    with pytest.raises(
        ValueError, match=r"hist: expected shape \(2, 3, 16\), got \(2, 3, 8\)"
    ):
        G(x, torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match="hist: expected None"):
        small_generator(hist_bins=None)(x, torch.zeros(2, 3, BINS))
    with pytest.raises(ValueError, match="x: expected shape"):
        G(torch.zeros(2, 3, 18, 18), torch.zeros(2, 3, BINS))
    with pytest.raises(ValueError, match="condition: expected one of"):
        small_generator("add")
    with pytest.raises(ValueError, match="variant: expected one of"):
        build_cyclegan("pix2pix")


def test_cyclegan_unpacks_into_the_four_networks():
    G, F, D_X, D_Y = build_cyclegan(
        "proposed_one", ngf=4, n_blocks=1, ndf=4, n_layers=2, hist_bins=BINS
    )
    assert isinstance(G, ResnetGenerator) and isinstance(F, ResnetGenerator)
    assert G.conditioned and not F.conditioned
    assert isinstance(D_X, PatchDiscriminator) and D_X is not D_Y
