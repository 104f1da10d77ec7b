r"""DeepHist's differentiable kernel-density (KDE) histogram, eq. (1)–(5) of the paper.

Values are binned on ``value_range = (lo, hi)`` split into ``K`` bins of width
:math:`L = (hi - lo)/K` with edges :math:`e_j = lo + jL`, :math:`j = 0..K`.
The mass of bin :math:`k` is

.. math:: P(k) = \frac{1}{N}\sum_x \Pi_k(x), \qquad
          \Pi_k(z) = \sigma\!\Big(\frac{z - e_k}{B}\Big)
          - \sigma\!\Big(\frac{z - e_{k+1}}{B}\Big),

the integral over the bin of a KDE whose kernel is the logistic density
:math:`\sigma(z)\sigma(-z)` with bandwidth :math:`B`.

Two implementations live here:

* :func:`kdehist.histogram.soft_histogram_naive` broadcasts :math:`2K` sigmoids over an
  :math:`N \times K` tensor, as public ports of DeepHist do. It is the readable
  reference, and autograd keeps the whole :math:`N \times K` tensor alive for backward.
* :func:`kdehist.soft_histogram` is the package's implementation. Because neighbouring
  bins share an edge, a value needs only :math:`K+1` sigmoids, summed per edge into
  :math:`S_j = \sum_x w(x)\,\sigma((x - e_j)/B)` so that
  :math:`P(k) = (S_k - S_{k+1})/W`. A sigmoid further than ``T`` bandwidths from its
  edge is 0 or 1 to working precision, so each value visits only the few edges within
  ``±T·B`` and the saturated ones are counted with a cumulative sum. Backward recomputes
  from the saved input alone, so the memory is independent of ``K``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import (
    _describe,
    check_choice,
    check_mask_weights,
    check_positive_float,
    check_positive_int,
    check_range,
    check_tensor,
)

BOUNDARIES = ("none", "reflect")

# Beyond this many bandwidths a sigmoid equals 0 or 1 to working precision:
# sigma(-17) = 4.1e-8 (below float32's resolution near 1),
# sigma(-37) = 8.5e-17 (float64's).
_SATURATION = {torch.float32: 17.0, torch.float64: 37.0}

# Values processed per chunk: bounds the temporary memory whatever the batch size.
_CHUNK = 1 << 18


def default_bandwidth(
    bins: int, value_range: tuple[float, float] = (-1.0, 1.0)
) -> float:
    """DeepHist's default bandwidth, ``B = L / 2.5`` with ``L`` the bin width."""
    lo, hi = value_range
    return (hi - lo) / bins / 2.5


def bin_edges(
    bins: int, value_range: tuple[float, float] = (-1.0, 1.0), **tensor_kwargs
) -> torch.Tensor:
    """The ``bins + 1`` edges ``e_j = lo + j L``, a 1-D tensor."""
    lo, hi = value_range
    return torch.linspace(lo, hi, bins + 1, **tensor_kwargs)


def bin_centers(
    bins: int, value_range: tuple[float, float] = (-1.0, 1.0), **tensor_kwargs
) -> torch.Tensor:
    """The ``bins`` centres ``mu_k = lo + L (k + 1/2)``, a 1-D tensor."""
    edges = bin_edges(bins, value_range, **tensor_kwargs)
    return 0.5 * (edges[:-1] + edges[1:])


# --------------------------------------------------------------------------- validation


def _prepare(x, bins, bandwidth, value_range, mask, boundary):
    """Validate the arguments; return (values (R, N), weights (R, N) or None, ...).

    ``R = B * C`` rows; each row is one channel of one image. Weights, when a mask is
    given, are the mask broadcast over channels.
    """
    check_tensor("x", x, ndims=(3, 4))
    bins = check_positive_int("bins", bins)
    lo, hi = check_range("value_range", value_range)
    if bandwidth is None:
        bandwidth = default_bandwidth(bins, (lo, hi))
    bandwidth = check_positive_float("bandwidth", bandwidth)
    check_choice("boundary", boundary, BOUNDARIES)
    squeeze = x.dim() == 3
    if squeeze:
        x = x.unsqueeze(0)
    batch, channels, height, width = x.shape
    if x.numel() == 0:
        raise ValueError(
            f"x: expected at least one pixel, got a tensor of shape {tuple(x.shape)}"
        )
    weights = None
    if mask is not None:
        check_tensor("mask", mask, ndims=(2, 3, 4), floating=False)
        m = mask
        if squeeze and m.dim() in (2, 3):
            m = m.reshape(1, 1, *m.shape[-2:]) if m.dim() == 2 or m.shape[0] == 1 else m
        if m.dim() == 3:
            m = m.unsqueeze(1)
        if (
            m.dim() != 4
            or m.shape[1] != 1
            or m.shape[0] != batch
            or tuple(m.shape[-2:]) != (height, width)
        ):
            expected = (batch, 1, height, width)
            x_shape = tuple(x.shape) if not squeeze else tuple(x.shape[1:])
            raise ValueError(
                f"mask: expected shape {expected} or {(batch, height, width)} "
                f"to match x of shape {x_shape}, got {tuple(mask.shape)}"
            )
        m = check_mask_weights(
            "mask",
            m.to(
                device=x.device,
                dtype=torch.float64 if x.dtype == torch.float64 else torch.float32,
            ),
        )
        weights = m.expand(batch, channels, height, width).reshape(
            batch * channels, height * width
        )
    values = x.reshape(batch * channels, height * width)
    return values, weights, bins, bandwidth, (lo, hi), squeeze, (batch, channels)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # Half precision cannot resolve a sigmoid's tail; compute
    # in float32 (float64 stays).
    return torch.float64 if dtype == torch.float64 else torch.float32


# ---------------------------------------------------------------------- naive reference


def soft_histogram_naive(
    x: torch.Tensor,
    bins: int = 64,
    bandwidth: float | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    mask: torch.Tensor | None = None,
    boundary: str = "none",
) -> torch.Tensor:
    """Eq. (3) evaluated literally, with an ``N × K`` tensor: the reference for
    tests and benchmarks. Same arguments and result as
    :func:`kdehist.soft_histogram`, far more memory.
    """
    values, weights, bins, bandwidth, (lo, hi), squeeze, (batch, channels) = _prepare(
        x, bins, bandwidth, value_range, mask, boundary
    )
    dtype = _compute_dtype(values.dtype)
    values = values.to(dtype)
    width = (hi - lo) / bins
    centers = bin_centers(bins, (lo, hi), dtype=dtype, device=values.device)
    z = values.unsqueeze(-1) - centers  # (R, N, K)
    rising = torch.sigmoid((z + width / 2) / bandwidth)
    pi = rising - torch.sigmoid((z - width / 2) / bandwidth)
    if boundary == "reflect":
        # Fold the tails that leave the range into the end bins,
        # so each value has mass 1.
        pi[..., 0] = pi[..., 0] + torch.sigmoid((lo - values) / bandwidth)
        pi[..., -1] = pi[..., -1] + torch.sigmoid((values - hi) / bandwidth)
    if weights is None:
        hist = pi.mean(dim=1)
    else:
        w = weights.to(dtype)
        hist = (pi * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True)
    hist = hist.reshape(batch, channels, bins)
    return hist[0] if squeeze else hist


# ------------------------------------------------------------------------- fast version


class _Layout:
    """Where each value's window of edges starts, and the constants of the window."""

    def __init__(self, bins, bandwidth, lo, hi, dtype):
        self.bins = bins
        self.lo = lo
        self.width = (hi - lo) / bins
        self.bandwidth = bandwidth
        self.ratio = self.width / bandwidth  # edge spacing in bandwidths
        reach = _SATURATION[dtype] / self.ratio  # saturation distance in bins
        # Edges j_lo .. j_lo+window-1 cover every edge within +-reach bins of a value.
        self.window = min(bins + 1, int(math.ceil(2 * reach)) + 2)
        self.reach = reach

    def start(self, u: torch.Tensor) -> torch.Tensor:
        """First edge of the window of each value; ``u`` is the value in bin units."""
        j_lo = torch.ceil(u - self.reach).clamp_(0, self.bins + 1 - self.window)
        return j_lo


def _edge_sums(values, weights, layout: _Layout, reflect: bool) -> torch.Tensor:
    """S_j = sum_x w(x) sigma((x - e_j)/B) for every row and
    edge, accumulated in float64.
    """
    rows, n = values.shape
    k1 = layout.bins + 1
    device = values.device
    # Window sigmoids go into `inside`; values whose window starts above edge j count 1
    # at j through `below` and a cumulative sum. Both buffers are tiny: rows x (K+1).
    inside = torch.zeros(rows * k1, dtype=torch.float64, device=device)
    below = torch.zeros(rows * k1, dtype=torch.float64, device=device)
    row_offset = (torch.arange(rows, device=device) * k1).unsqueeze(1)
    per_chunk = max(1, _CHUNK // rows)
    for c0 in range(0, n, per_chunk):
        v = values[:, c0 : c0 + per_chunk]
        u = (v - layout.lo) / layout.width
        j_lo = layout.start(u)
        base = (row_offset + j_lo.long()).flatten()
        d = ((u - j_lo) * layout.ratio).flatten()  # (x - e_{j_lo}) / B
        w = None if weights is None else weights[:, c0 : c0 + per_chunk].flatten()
        below.index_add_(
            0,
            base,
            torch.ones_like(d, dtype=torch.float64) if w is None else w.double(),
        )
        for o in range(layout.window):
            s = torch.sigmoid(d - o * layout.ratio)
            if w is not None:
                s = s * w
            inside.index_add_(0, base + o, s.double())
    # below[j'] counts values whose window starts at j'; they
    # saturate at every edge j < j'.
    below = below.view(rows, k1)
    saturated = below.sum(1, keepdim=True) - below.cumsum(1)
    sums = inside.view(rows, k1) + saturated
    if reflect:
        # Extending the end bins to +-infinity: sigma at e_0
        # becomes 1 and at e_K becomes 0.
        totals = below.sum(1)
        sums[:, 0] = totals
        sums[:, -1] = 0.0
    return sums


def _values_grad(
    values, weights, layout: _Layout, edge_coeff: torch.Tensor
) -> torch.Tensor:
    """dLoss/dx = w(x) sum_j sigma'((x - e_j)/B) c_j / B, over each value's window."""
    rows, n = values.shape
    k1 = layout.bins + 1
    coeff = edge_coeff.reshape(-1).to(values.dtype)
    row_offset = (torch.arange(rows, device=values.device) * k1).unsqueeze(1)
    grad = torch.empty_like(values)
    per_chunk = max(1, _CHUNK // rows)
    for c0 in range(0, n, per_chunk):
        v = values[:, c0 : c0 + per_chunk]
        u = (v - layout.lo) / layout.width
        j_lo = layout.start(u)
        base = row_offset + j_lo.long()
        d = (u - j_lo) * layout.ratio
        acc = torch.zeros_like(v)
        for o in range(layout.window):
            s = torch.sigmoid(d - o * layout.ratio)
            acc += s * (1 - s) * coeff[base + o]
        if weights is not None:
            acc *= weights[:, c0 : c0 + per_chunk]
        grad[:, c0 : c0 + per_chunk] = acc / layout.bandwidth
    return grad


class _SoftHistogramFunction(torch.autograd.Function):
    """Forward and backward of the windowed KDE histogram; saves only the input."""

    @staticmethod
    def forward(ctx, values, weights, bins, bandwidth, lo, hi, reflect):
        layout = _Layout(bins, bandwidth, lo, hi, values.dtype)
        sums = _edge_sums(values, weights, layout, reflect)
        totals = (
            sums.new_full((values.shape[0], 1), values.shape[1])
            if weights is None
            else weights.sum(1, keepdim=True).double()
        )
        hist = (sums[:, :-1] - sums[:, 1:]) / totals
        ctx.save_for_backward(values, weights, totals)
        ctx.layout, ctx.reflect = layout, reflect
        return hist.to(values.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_hist):
        values, weights, totals = ctx.saved_tensors
        layout = ctx.layout
        # P(k) = (S_k - S_{k+1}) / W, so dLoss/dS_j = (g_j - g_{j-1})
        # / W with g_{-1} = g_K = 0.
        g = torch.nn.functional.pad(grad_hist.to(torch.float64), (1, 1))
        coeff = (g[:, 1:] - g[:, :-1]) / totals
        if ctx.reflect:
            coeff[:, 0] = 0.0  # the end edges were replaced by constants
            coeff[:, -1] = 0.0
        grad = _values_grad(values, weights, layout, coeff)
        return grad, None, None, None, None, None, None


def soft_histogram(
    x: torch.Tensor,
    bins: int = 64,
    bandwidth: float | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    mask: torch.Tensor | None = None,
    boundary: str = "none",
) -> torch.Tensor:
    r"""Differentiable per-channel KDE histogram, eq. (3) of the paper.

    Args:
        x: images, shape ``(B, C, H, W)`` or ``(C, H, W)``, any float dtype, finite
            values. Values are expected in ``value_range`` (tanh outputs lie in
            [-1, 1]); values outside still contribute their kernel tails.
        bins: number of bins ``K >= 1``. Default 64.
        bandwidth: kernel bandwidth ``B > 0`` in value units. Default ``L / 2.5`` with
            ``L = (hi - lo) / K`` the bin width, DeepHist's choice. Like ``bins``, a
            Python number, a NumPy scalar or a 0-d tensor.
        value_range: ``(lo, hi)`` with ``lo < hi``. Default ``(-1, 1)``.
        mask: optional non-negative weights, shape ``(B, 1, H, W)`` or ``(B, H, W)``
            (``(1, H, W)`` or ``(H, W)`` for a 3-D ``x``); foreground = 1. With a mask
            :math:`P(k) = \sum w\,\Pi_k / \sum w`, and pixels of weight 0 affect neither
            the value nor the gradient. The mask itself receives no gradient.
        boundary: ``"none"`` is eq. (3) exactly: a value at ``lo`` or ``hi`` keeps only
            half its mass, because half its kernel lies outside the range. ``"reflect"``
            folds the mass that leaks past either end back into the end bins, so that
            every row sums to 1 (as DeepHist's official code intends).

    Returns:
        ``(B, C, K)`` (or ``(C, K)``) bin masses, float32 for half/bfloat16/float32
        input and float64 for float64 input. With ``boundary="none"`` a row sums to the
        mean of :math:`\sigma((x - lo)/B) - \sigma((x - hi)/B)`, i.e. at most 1.

    Cost: about ``2 * 17 / 2.5 + 2 ≈ 16`` sigmoids per value whatever ``K``
    (the kernel is truncated where it equals 0 or 1 to working precision, error below
    1e-7), and extra memory independent of ``K``: backward recomputes from ``x``.
    Computed in float32 (or float64) even under autocast; runs on any device.
    """
    values, weights, bins, bandwidth, (lo, hi), squeeze, (batch, channels) = _prepare(
        x, bins, bandwidth, value_range, mask, boundary
    )
    dtype = _compute_dtype(values.dtype)
    with torch.autocast(device_type=values.device.type, enabled=False):
        values = values.to(dtype)
        weights = None if weights is None else weights.to(dtype)
        hist = _SoftHistogramFunction.apply(
            values, weights, bins, bandwidth, lo, hi, boundary == "reflect"
        )
    hist = hist.reshape(batch, channels, bins)
    return hist[0] if squeeze else hist


def hard_histogram(
    x: torch.Tensor,
    bins: int = 64,
    bandwidth: float | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    mask: torch.Tensor | None = None,
    boundary: str = "none",
) -> torch.Tensor:
    """Ordinary counting histogram: the reference, normalised like the soft one.

    Same arguments and shapes as :func:`kdehist.soft_histogram`; ``bandwidth`` is
    validated like soft_histogram's and then ignored: it is there so that one argument
    list calls either function (the explorer does). Bins are half-open
    ``[e_k, e_{k+1})`` except the last, which includes ``hi`` (as
    :func:`numpy.histogram`). With ``boundary="none"`` values outside the range are
    dropped; with ``"reflect"`` they are counted in the end bins. Not differentiable:
    the result carries no gradient.
    """
    values, weights, bins, _, (lo, hi), squeeze, (batch, channels) = _prepare(
        x, bins, bandwidth, value_range, mask, boundary
    )
    dtype = _compute_dtype(values.dtype)
    values = values.detach().to(dtype)
    index = torch.floor((values - lo) / (hi - lo) * bins).long()
    index = torch.where(values == hi, torch.full_like(index, bins - 1), index)
    if boundary == "reflect":
        keep = torch.ones_like(values, dtype=torch.bool)
        index = index.clamp(0, bins - 1)
    else:
        keep = (index >= 0) & (index < bins)
        index = index.clamp(0, bins - 1)
    w = (
        keep.to(dtype)
        if weights is None
        else keep.to(dtype) * weights.detach().to(dtype)
    )
    counts = torch.zeros(values.shape[0], bins, dtype=dtype, device=values.device)
    counts.scatter_add_(1, index, w)
    totals = (
        torch.full_like(counts[:, :1], values.shape[1])
        if weights is None
        else weights.to(dtype).sum(1, keepdim=True)
    )
    hist = (counts / totals).reshape(batch, channels, bins)
    return hist[0] if squeeze else hist


def kde_density(
    x: torch.Tensor,
    levels: torch.Tensor,
    bandwidth: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The kernel density estimate of eq. (1) at the given levels, for plots.

    :math:`f(g) = \frac{1}{N B}\sum_x K\big((x - g)/B\big)`, with the logistic kernel
    :math:`K(z) = \sigma(z)\sigma(-z)`.

    Args:
        x: ``(B, C, H, W)`` or ``(C, H, W)`` float tensor.
        levels: 1-D tensor of ``G`` grey levels ``g``, integer or floating point.
        bandwidth: ``B > 0``.
        mask: optional weights as in :func:`kdehist.soft_histogram`.

    Returns:
        ``(B, C, G)`` (or ``(C, G)``) densities; each row
        integrates to 1 over the real line.
    """
    # Grey levels may be integers (e.g. ``torch.arange(-1, 2)``); they are converted to
    # the compute dtype below.
    check_tensor("levels", levels, ndims=(1,), floating=False)
    if levels.dtype == torch.bool or levels.is_complex():
        raise TypeError(
            "levels: expected a 1-D tensor of real grey levels (integer or floating "
            f"point), got {_describe(levels)}"
        )
    if levels.numel() == 0:
        raise ValueError(
            "levels: expected at least one grey level, "
            f"got a tensor of shape {tuple(levels.shape)}"
        )
    # No default here: None would silently mean the bandwidth of
    # a single bin over [-1, 1].
    bandwidth = check_positive_float("bandwidth", bandwidth)
    values, weights, _, bandwidth, _, squeeze, (batch, channels) = _prepare(
        x, 1, bandwidth, (-1.0, 1.0), mask, "none"
    )
    dtype = _compute_dtype(values.dtype)
    values = values.to(dtype)
    levels = levels.to(device=values.device, dtype=dtype)
    out = torch.zeros(
        values.shape[0], levels.numel(), dtype=dtype, device=values.device
    )
    step = max(1, _CHUNK // max(1, levels.numel()))
    for c0 in range(0, values.shape[1], step):
        z = (values[:, c0 : c0 + step, None] - levels) / bandwidth
        k = torch.sigmoid(z) * torch.sigmoid(-z)
        if weights is not None:
            k = k * weights[:, c0 : c0 + step, None].to(dtype)
        out += k.sum(1)
    totals = (
        values.shape[1] if weights is None else weights.to(dtype).sum(1, keepdim=True)
    )
    out = (out / (totals * bandwidth)).reshape(batch, channels, -1)
    return out[0] if squeeze else out


class SoftHistogram(nn.Module):
    """Module form of :func:`kdehist.soft_histogram` with fixed settings.

    >>> images, masks = torch.zeros(2, 3, 8, 8), torch.ones(2, 1, 8, 8)
    >>> SoftHistogram(bins=64)(images, mask=masks).shape
    torch.Size([2, 3, 64])
    """

    def __init__(
        self,
        bins: int = 64,
        bandwidth: float | None = None,
        value_range: tuple[float, float] = (-1.0, 1.0),
        boundary: str = "none",
    ):
        super().__init__()
        self.bins = check_positive_int("bins", bins)
        self.value_range = check_range("value_range", value_range)
        self.bandwidth = (
            default_bandwidth(self.bins, self.value_range)
            if bandwidth is None
            else check_positive_float("bandwidth", bandwidth)
        )
        self.boundary = check_choice("boundary", boundary, BOUNDARIES)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Histograms ``(B, C, bins)`` of images ``x`` ``(B, C, H, W)``, each pixel
        weighted by ``mask`` if given: :func:`kdehist.soft_histogram` with this
        module's settings."""
        return soft_histogram(
            x, self.bins, self.bandwidth, self.value_range, mask, self.boundary
        )

    def extra_repr(self) -> str:
        return (
            f"bins={self.bins}, bandwidth={self.bandwidth:.4g}, "
            f"value_range={self.value_range}, boundary={self.boundary!r}"
        )
