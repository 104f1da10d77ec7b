r"""The networks: CycleGAN's ResNet generator and 70×70 PatchGAN, spectral
normalisation, and colour conditioning on a reference histogram.

The generator and discriminator follow the CycleGAN reference implementation
(Zhu et al. 2017, ``junyanz/pytorch-CycleGAN-and-pix2pix``) layer for layer, with
instance normalisation without affine parameters (so every conv keeps its bias) and no
dropout. At ``ngf=64, n_blocks=9`` the generator has 11,378,179 parameters and at
``ndf=64, n_layers=3`` the discriminator 2,764,737, as the reference's.

**Colour conditioning** (the paper's method, section "Method" 1): the reference image's
per-channel histogram ``(B, 3, K)`` goes through a small MLP (``3K → 256 → 256``, ReLU)
and the resulting colour embedding is injected at the bottleneck, between the encoder
and the decoder. How it is injected matters:

* ``"concat"``: tile the embedding over the bottleneck, concatenate it to the feature
  maps, then a 1×1 conv and a ReLU, *without* normalisation, before the residual blocks.
* ``"film"`` (recommended): feature-wise modulation inside every residual block,
  ``(1 + γ) · IN(h) + β`` right after the block's first instance norm, with ``γ, β``
  projected from the embedding and scaled by a learnt per-channel
  gain (initialised to one).
* ``"concat_norm"`` is **the trap, kept only to demonstrate it**: tile, concatenate,
  then 1×1 conv, instance norm, ReLU. A tiled vector is constant over space, so after
  the conv it adds a per-channel constant, which instance normalisation subtracts again:
  the output does not depend on the histogram at all, and the MLP receives no gradient.

**Spectral normalisation** (Miyato et al. 2018) wraps every conv, transposed conv and
linear layer of a network when enabled, via
:func:`torch.nn.utils.parametrizations.spectral_norm`; weights are initialised
(normal, std 0.02, biases 0, as the reference) before wrapping.

**Variants** (Table 2 of the paper), one switch for :func:`build_cyclegan`:

=================  ===  ===================  ============================
variant            SN   conditioned          histogram loss on
=================  ===  ===================  ============================
``cyclegan``       no   none                 none
``cyclegan_sn``    yes  none                 none
``proposed_one``   yes  G (X→Y)              G
``proposed_both``  yes  G and F              G and F
=================  ===  ===================  ============================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ._checks import check_choice, check_positive_int, check_tensor

CONDITIONS = ("concat", "film", "concat_norm")
VARIANTS = ("cyclegan", "cyclegan_sn", "proposed_one", "proposed_both")
EMBED_DIM = 256
INIT_STD = 0.02
_SN_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@dataclass(frozen=True)
class VariantSpec:
    """What a variant switches on. The histogram loss applies to
    each conditioned generator.
    """

    spectral_norm: bool
    condition_G: bool
    condition_F: bool


VARIANT_SPECS = {
    "cyclegan": VariantSpec(spectral_norm=False, condition_G=False, condition_F=False),
    "cyclegan_sn": VariantSpec(
        spectral_norm=True, condition_G=False, condition_F=False
    ),
    "proposed_one": VariantSpec(
        spectral_norm=True, condition_G=True, condition_F=False
    ),
    "proposed_both": VariantSpec(
        spectral_norm=True, condition_G=True, condition_F=True
    ),
}


# --------------------------------------------------------------------------- helpers


def init_weights(module: nn.Module, std: float = INIT_STD) -> nn.Module:
    """The reference's ``normal`` init: conv/linear weights ~ N(0, std²), biases 0.

    Call before :func:`apply_spectral_norm`: afterwards the weight is a parametrisation.
    """
    for layer in module.modules():
        if isinstance(layer, _SN_LAYERS):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap each ``Conv2d``, ``ConvTranspose2d`` and ``Linear`` of ``module`` in place.

    The output dimension of a transposed conv's weight is dim 1 (``(in, out, kh, kw)``),
    so it is normalised along that dimension, as for the other layers' dim 0.
    """
    for layer in list(module.modules()):
        if isinstance(layer, _SN_LAYERS):
            _spectral_norm(layer, dim=1 if isinstance(layer, nn.ConvTranspose2d) else 0)
    return module


def has_spectral_norm(layer: nn.Module) -> bool:
    """Whether ``layer.weight`` is spectrally normalised."""
    return hasattr(layer, "parametrizations") and "weight" in layer.parametrizations


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)  # torch >= 2.4
    except TypeError:  # torch 2.2-2.3
        return (
            torch.is_autocast_cpu_enabled()
            if device_type == "cpu"
            else torch.is_autocast_enabled()
        )


def _check_like_weights(name: str, value: torch.Tensor, module: nn.Module) -> None:
    """The input must sit on the module's device with its dtype
    (autocast casts for itself).
    """
    weight = next(module.parameters(), None)
    if weight is None:
        return
    if value.device != weight.device:
        raise ValueError(
            f"{name}: expected a tensor on {weight.device} like the network, "
            f"got one on {value.device}"
        )
    if value.dtype != weight.dtype and not _autocast_enabled(value.device.type):
        raise TypeError(
            f"{name}: expected dtype {weight.dtype} like the network's weights "
            f"(or autocast), got {value.dtype}"
        )


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars (a spectrally normalised weight counts once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    # The reference's "instance" norm: no affine parameters and no running statistics.
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


# ------------------------------------------------------------------------- conditioning


class HistogramEncoder(nn.Module):
    """Fully connected layers that turn a reference histogram into a colour embedding.

    Args:
        bins: histogram bins per channel, ``K``.
        embed_dim: width of both hidden layers and of the embedding. Default 256.

    Shape:
        - hist: ``(B, 3, K)``, bin masses (each row sums to at most 1).
        - output: ``(B, embed_dim)``, non-negative.
    """

    def __init__(self, bins: int, embed_dim: int = EMBED_DIM):
        super().__init__()
        self.bins = check_positive_int("bins", bins)
        self.net = nn.Sequential(
            nn.Linear(3 * bins, embed_dim),
            nn.ReLU(True),
            nn.Linear(embed_dim, embed_dim),
            nn.ReLU(True),
        )

    def forward(self, hist: torch.Tensor) -> torch.Tensor:
        # Bin masses are about 1/K each; times K they are densities relative to a
        # uniform histogram, O(1) whatever K, which suits the N(0, 0.02) initialisation.
        return self.net(hist.flatten(1) * self.bins)


class FiLM(nn.Module):
    """Feature-wise linear modulation ``(1 + γ) · h + β``, ``γ, β`` from an embedding.

    ``γ, β = gain ⊙ Linear(e)``. With spectral normalisation the projection's weight has
    spectral norm one, so the gain (initialised to one) is what lets the modulation grow
    stronger than that. It must not start at zero: Adam's steps are of the order of the
    learning rate (chapter 7 measures them), so a zero gain needs hundreds to thousands
    of steps before the condition has any effect.

    Shape:
        - h: ``(B, C, H, W)``; embedding: ``(B, embed_dim)``; output: as ``h``.
    """

    def __init__(self, channels: int, embed_dim: int = EMBED_DIM):
        super().__init__()
        self.proj = nn.Linear(embed_dim, 2 * channels)
        self.gain = nn.Parameter(torch.ones(2 * channels))

    def forward(self, h: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        gamma, beta = (
            (self.gain * self.proj(embedding))
            .unsqueeze(-1)
            .unsqueeze(-1)
            .chunk(2, dim=1)
        )
        return h * (1 + gamma) + beta


class ConcatFusion(nn.Module):
    """Tile the embedding over the feature map, concatenate, 1×1 conv, [norm], ReLU.

    ``normalize=False`` is the ``"concat"`` condition. ``normalize=True`` is the
    ``"concat_norm"`` trap: the instance norm removes the tiled vector's
    contribution, which is constant over space, so the output ignores the embedding
    (see the module docstring).
    """

    def __init__(
        self, channels: int, embed_dim: int = EMBED_DIM, normalize: bool = False
    ):
        super().__init__()
        self.conv = nn.Conv2d(channels + embed_dim, channels, kernel_size=1)
        self.norm = _instance_norm(channels) if normalize else nn.Identity()
        self.act = nn.ReLU(True)

    def forward(self, h: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        tiled = embedding[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return self.act(self.norm(self.conv(torch.cat([h, tiled.to(h.dtype)], dim=1))))


# --------------------------------------------------------------------------- generator


class ResnetBlock(nn.Module):
    """The reference's residual block, ``x + IN(conv(ReLU([FiLM](IN(conv(x))))))``.

    Its convolutions pad by reflection. With ``film=True`` the block's first normalised
    activations are modulated by the embedding passed with the input,
    ``block(x, embedding)``.
    """

    def __init__(self, dim: int, film: bool = False, embed_dim: int = EMBED_DIM):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3),
            _instance_norm(dim),
        )
        self.film = FiLM(dim, embed_dim) if film else None
        self.conv2 = nn.Sequential(
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3),
            _instance_norm(dim),
        )

    def forward(
        self, x: torch.Tensor, embedding: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.conv1(x)
        if self.film is not None:
            h = self.film(h, embedding)
        return x + self.conv2(h)


class ResnetGenerator(nn.Module):
    r"""CycleGAN's ResNet generator, optionally conditioned on a reference histogram.

    Layout (as the reference): reflect pad 3 + 7×7 conv (``ngf``), two stride-2 3×3
    convs (``2·ngf``, ``4·ngf``), ``n_blocks`` residual blocks at ``4·ngf``
    channels and 1/4 the resolution, two stride-2 transposed convs back to ``ngf``,
    reflect pad 3 + 7×7 conv to 3 channels, tanh. Every conv but the last is
    followed by instance norm and ReLU.

    Args:
        ngf: channels of the first layer. Default 64.
        n_blocks: residual blocks at the bottleneck. Default 9 (the reference uses 9 at
            256×256 and 6 at 128×128).
        hist_bins: ``K``, the bins per channel of the conditioning histogram, or
            ``None`` (default) for an unconditioned generator.
        condition: how the colour embedding enters the bottleneck when ``hist_bins`` is
            set: ``"concat"`` (default), ``"film"`` or ``"concat_norm"`` (the broken
            variant, for demonstration; see the module docstring).
        spectral_norm: wrap every conv, transposed conv and linear layer. Default False.

    Shape:
        - x: ``(B, 3, H, W)`` in ``[-1, 1]``, ``H`` and ``W``
          multiples of 4 and at least 8.
        - hist: ``(B, 3, K)`` (from :func:`kdehist.soft_histogram` of the reference with
          its foreground mask); required when ``hist_bins`` is set, forbidden otherwise.
        - output: ``(B, 3, H, W)`` in ``[-1, 1]``.

    Example (tiny sizes, so that it runs as a doctest):

    >>> import kdehist
    >>> G = ResnetGenerator(
    ...     ngf=8, n_blocks=1, hist_bins=16, condition="film", spectral_norm=True
    ... )
    >>> x, y_ref = torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 32, 32)
    >>> y_ref_mask = torch.ones(2, 1, 32, 32)
    >>> G(x, kdehist.soft_histogram(y_ref, 16, mask=y_ref_mask)).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        ngf: int = 64,
        n_blocks: int = 9,
        hist_bins: int | None = None,
        condition: str = "concat",
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.ngf = check_positive_int("ngf", ngf)
        self.n_blocks = check_positive_int("n_blocks", n_blocks, minimum=0)
        self.hist_bins = (
            None if hist_bins is None else check_positive_int("hist_bins", hist_bins)
        )
        self.condition = check_choice("condition", condition, CONDITIONS)
        self.spectral_norm = bool(spectral_norm)
        film = self.hist_bins is not None and condition == "film"
        if film and n_blocks == 0:
            raise ValueError(
                "n_blocks: expected at least 1 for condition='film' "
                "(FiLM lives in the residual blocks), got 0"
            )
        dim = 4 * ngf

        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, kernel_size=7),
            _instance_norm(ngf), nn.ReLU(True),
            nn.Conv2d(ngf, 2 * ngf, kernel_size=3, stride=2, padding=1),
            _instance_norm(2 * ngf), nn.ReLU(True),
            nn.Conv2d(2 * ngf, dim, kernel_size=3, stride=2, padding=1),
            _instance_norm(dim), nn.ReLU(True),
        )  # fmt: skip
        self.hist_encoder = (
            HistogramEncoder(self.hist_bins) if self.hist_bins is not None else None
        )
        self.fusion = (
            ConcatFusion(dim, normalize=(condition == "concat_norm"))
            if self.hist_bins is not None and not film
            else None
        )
        self.blocks = nn.ModuleList(
            ResnetBlock(dim, film=film) for _ in range(n_blocks)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(
                dim, 2 * ngf, kernel_size=3, stride=2, padding=1, output_padding=1
            ),
            _instance_norm(2 * ngf), nn.ReLU(True),
            nn.ConvTranspose2d(
                2 * ngf, ngf, kernel_size=3, stride=2, padding=1, output_padding=1
            ),
            _instance_norm(ngf), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, kernel_size=7), nn.Tanh(),
        )  # fmt: skip
        init_weights(self)
        if self.spectral_norm:
            apply_spectral_norm(self)

    @property
    def conditioned(self) -> bool:
        return self.hist_bins is not None

    def forward(
        self, x: torch.Tensor, hist: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_tensor("x", x, ndims=(4,), finite=False)
        if (
            x.shape[0] == 0
            or x.shape[1] != 3
            or x.shape[2] % 4
            or x.shape[3] % 4
            or min(x.shape[2:]) < 8
        ):
            raise ValueError(
                "x: expected shape (B, 3, H, W) with B >= 1 and H and W multiples "
                f"of 4 and at least 8, got {tuple(x.shape)}"
            )
        _check_like_weights("x", x, self)
        embedding = self._embed(hist, x.shape[0])
        h = self.encoder(x)
        if self.fusion is not None:
            h = self.fusion(h, embedding)
        for block in self.blocks:
            h = block(h, embedding)
        return self.decoder(h)

    def _embed(self, hist: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if not self.conditioned:
            if hist is not None:
                raise ValueError(
                    "hist: expected None for an unconditioned generator "
                    "(hist_bins=None), got a tensor"
                )
            return None
        expected = (batch, 3, self.hist_bins)
        if hist is None:
            raise ValueError(
                f"hist: expected a reference histogram of shape {expected}, got None"
            )
        check_tensor("hist", hist, ndims=(3,), finite=False)
        if tuple(hist.shape) != expected:
            raise ValueError(
                f"hist: expected shape {expected}, got {tuple(hist.shape)}"
            )
        _check_like_weights("hist", hist, self)
        return self.hist_encoder(hist)

    def extra_repr(self) -> str:
        return (
            f"ngf={self.ngf}, n_blocks={self.n_blocks}, hist_bins={self.hist_bins}, "
            f"condition={self.condition!r}, spectral_norm={self.spectral_norm}"
        )


# ------------------------------------------------------------------------ discriminator


def patch_output_size(image_size: int, n_layers: int) -> int:
    """Side of the PatchGAN's output map for a square input (``< 1``: too small)."""
    size = image_size
    for _ in range(n_layers):
        size = (size + 2 - 4) // 2 + 1  # 4×4 conv, stride 2, padding 1
    return size - 2  # two 4×4 convs with stride 1 and padding 1 take one pixel each


class PatchDiscriminator(nn.Sequential):
    """The reference's PatchGAN (``NLayerDiscriminator``): 70×70 receptive field at
    ``n_layers=3``.

    ``n_layers`` 4×4 stride-2 convs (widths ``ndf, 2·ndf, 4·ndf, …`` capped at
    ``8·ndf``), one 4×4 stride-1 conv, then a 4×4 stride-1 conv to one channel.
    LeakyReLU(0.2) after each hidden conv, instance norm after all but the first.
    Outputs are logits, one per patch.

    Args:
        ndf: channels of the first layer. Default 64.
        n_layers: stride-2 layers. Default 3 (70×70 patches); 2 gives 34×34 patches.
        spectral_norm: wrap every conv. Default False.

    Shape:
        - input: ``(B, 3, H, W)`` in ``[-1, 1]``, with ``H, W >= 3 · 2**n_layers``.
        - output: ``(B, 1, H', W')``, e.g. ``H' = 30`` for
          ``H = 256`` at ``n_layers=3``.
    """

    def __init__(self, ndf: int = 64, n_layers: int = 3, spectral_norm: bool = False):
        check_positive_int("ndf", ndf)
        check_positive_int("n_layers", n_layers)
        layers: list[nn.Module] = [
            nn.Conv2d(3, ndf, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        width = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            # the last hidden layer keeps the resolution
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(width, out, kernel_size=4, stride=stride, padding=1),
                _instance_norm(out),
                nn.LeakyReLU(0.2, True),
            ]
            width = out
        layers.append(nn.Conv2d(width, 1, kernel_size=4, stride=1, padding=1))
        super().__init__(*layers)
        self.ndf, self.n_layers, self.spectral_norm = ndf, n_layers, bool(spectral_norm)
        init_weights(self)
        if self.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndims=(4,), finite=False)
        smallest = 3 * 2**self.n_layers
        if x.shape[0] == 0 or x.shape[1] != 3 or min(x.shape[2:]) < smallest:
            raise ValueError(
                "x: expected shape (B, 3, H, W) with B >= 1 and "
                f"H, W >= {smallest} (n_layers={self.n_layers}), got {tuple(x.shape)}"
            )
        _check_like_weights("x", x, self)
        return super().forward(x)

    def extra_repr(self) -> str:
        return (
            f"ndf={self.ndf}, n_layers={self.n_layers}, "
            f"spectral_norm={self.spectral_norm}"
        )


# ------------------------------------------------------------------------ the four nets


class CycleGAN(nn.Module):
    """The two generators and two discriminators of one variant, as one module.

    ``G``: X (sim) → Y (real); ``F``: Y → X; ``D_X`` and ``D_Y`` judge each domain. One
    module so that ``.to(device)``, ``.train()`` and ``state_dict()`` cover all four;
    unpacks as ``G, F, D_X, D_Y = nets``.
    """

    def __init__(
        self,
        variant: str,
        G: ResnetGenerator,
        F: ResnetGenerator,
        D_X: nn.Module,
        D_Y: nn.Module,
    ):
        super().__init__()
        self.variant = check_choice("variant", variant, VARIANTS)
        self.G, self.F, self.D_X, self.D_Y = G, F, D_X, D_Y

    def __iter__(self) -> Iterator[nn.Module]:
        return iter((self.G, self.F, self.D_X, self.D_Y))

    def generator_parameters(self) -> list[nn.Parameter]:
        """``G``'s and ``F``'s: one optimiser updates both (as the reference)."""
        return list(self.G.parameters()) + list(self.F.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """``D_X``'s and ``D_Y``'s."""
        return list(self.D_X.parameters()) + list(self.D_Y.parameters())

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}"


def build_cyclegan(
    variant: str,
    *,
    ngf: int = 64,
    n_blocks: int = 9,
    ndf: int = 64,
    n_layers: int = 3,
    hist_bins: int = 32,
    condition: str = "film",
) -> CycleGAN:
    """Build the four networks of a variant of the paper (see the module docstring).

    Args:
        variant: ``"cyclegan"``, ``"cyclegan_sn"``,
            ``"proposed_one"`` or ``"proposed_both"``.
        ngf, n_blocks: generator width and depth
            (:class:`ResnetGenerator`). Defaults 64, 9.
        ndf, n_layers: discriminator width and depth (:class:`PatchDiscriminator`).
            Defaults 64, 3.
        hist_bins: bins per channel of the conditioning histogram. Default 32. Ignored
            by unconditioned generators.
        condition: ``"film"`` (default), ``"concat"`` or ``"concat_norm"`` (the trap).

    Returns:
        A :class:`CycleGAN` module in training mode with attributes ``G, F, D_X, D_Y``.
    """
    spec = VARIANT_SPECS[check_choice("variant", variant, VARIANTS)]
    check_choice("condition", condition, CONDITIONS)

    def generator(conditioned: bool) -> ResnetGenerator:
        return ResnetGenerator(
            ngf,
            n_blocks,
            hist_bins if conditioned else None,
            condition,
            spectral_norm=spec.spectral_norm,
        )

    def discriminator() -> PatchDiscriminator:
        return PatchDiscriminator(ndf, n_layers, spectral_norm=spec.spectral_norm)

    return CycleGAN(
        variant,
        generator(spec.condition_G),
        generator(spec.condition_F),
        discriminator(),
        discriminator(),
    )


def build_nets(config) -> CycleGAN:
    """The four networks of ``config.variant`` at the sizes of ``config`` (a
    :class:`kdehist.config.TrainConfig`)."""
    return build_cyclegan(
        config.variant,
        ngf=config.ngf,
        n_blocks=config.n_blocks,
        ndf=config.ndf,
        n_layers=config.n_layers,
        hist_bins=config.hist_bins,
        condition=config.condition,
    )
