r"""Training the four variants: one step (eq. 7–11), the loop, checkpoints, resuming.

The parts live in small modules and are re-exported here: the settings
(``TrainConfig``, :mod:`kdehist.config`; profiles in :mod:`kdehist.profiles`), the
CycleGAN losses (``gan_loss``, ``l1``, ``kdehist.losses``), the fake-image
history (``ImagePool``, :mod:`kdehist.pool`), the device and autocast
(``Precision``, :mod:`kdehist.precision`), the metrics log (``read_metrics``,
:mod:`kdehist.metrics_log`) and the sample grids (``kdehist.samples``).

Quick start::

    from kdehist.train import TrainConfig, train, load_generators

    config = TrainConfig.from_profile("cpu", variant="proposed_both")
    result = train(config, "runs/proposed_both")        # resumes if interrupted
    G, F, config = load_generators(result.checkpoint)   # eval mode, ready to translate

or, in a shell::

    python -m kdehist train --variant proposed_both --profile cpu \
        --out runs/proposed_both

**Losses.** The generators minimise eq. (7),

.. math:: \lambda_{gan} L_{gan} + \lambda_{cycle} L_{cycle}
          + \lambda_{cycle}\lambda_{idt} L_{idt} + \lambda_{hist} L_{hist},

with :math:`L_{gan}` the least-squares GAN loss by default (as the CycleGAN reference;
``gan_mode="vanilla"`` gives the paper's log-loss, eq. 9), :math:`L_{cycle}` and
:math:`L_{idt}` the L1 losses of eq. (10) and (11), and :math:`L_{hist}` eq. (6) summed
over the conditioned generators. **Identity weight convention**: as in the reference,
the identity weight is ``lambda_cycle * lambda_idt`` (default 10 × 0.5 = 5), not
``lambda_idt`` alone. Each discriminator minimises half the sum of its real and fake
losses (reference).

**Colour references during training.** Each batch of
:class:`kdehist.data.UnpairedLoader` holds unpaired ``x`` (sim) and ``y`` (real) and
references ``y_ref`` (another real image than ``y``) and, when ``F`` is conditioned,
``x_ref``. ``G`` translates ``x`` conditioned on ``y_ref``'s histogram and ``F``
translates ``y`` conditioned on ``x_ref``'s. Each cycle returns to its own colours:
``F(G(x))`` is conditioned on ``x``'s histogram and ``G(F(y))`` on ``y``'s, and so are
the identity terms ``F(x)`` and ``G(y)``. Histograms are :func:`kdehist.soft_histogram`
with foreground masks: a reference's with its own mask, a generated image's with the
mask of the input it was made from.

**Optimisation** (reference): Adam, lr 2e-4, betas (0.5, 0.999), one optimiser for both
generators and one for both discriminators; the learning rate is constant, then decays
linearly towards 0 from ``decay_start`` to ``steps``; discriminators see fakes through a
history pool of 50 images. Autocast (``autocast="auto"``): bfloat16 on CPUs with native
bf16 kernels and float32 on others (bf16 emulation is many times slower), bfloat16 on
recent GPUs and float16 with a gradient scaler on older ones. Never ``channels_last``
(its InstanceNorm backward is broken on some builds, and it was slower on CPU).

**Outputs** in ``out_dir``: ``config.json``; ``checkpoint.pt`` (everything needed to
resume exactly, loadable with ``torch.load(weights_only=True)``), rewritten atomically
every ``checkpoint_every`` steps, at the end and on Ctrl-C, with the one before it kept
as ``checkpoint.prev.pt`` (a resume falls back to it, with a warning, when
``checkpoint.pt`` is missing or damaged); ``metrics.jsonl``, one JSON object per logged
step (a line cut short by a kill is dropped with a warning); ``samples/step_NNNNNN.png``
grids of translations. A NaN or infinite loss stops training with
:class:`NonFiniteLossError`, naming the step; nothing non-finite is ever saved.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._checks import _describe, check_positive_int
from ._torch_utils import requires_grad, torch_threads
from .checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    DAMAGED_CHECKPOINT_NAME,
    PREVIOUS_CHECKPOINT_NAME,
    check_same_run,
    load_resume_checkpoint,
)
from .config import TrainConfig
from .data import UnpairedLoader
from .histogram import soft_histogram, soft_histogram_naive
from .io import atomic_torch_save, atomic_write_json
from .loader import DomainTensors, check_data_folders, make_loader, read_training_data
from .losses import gan_loss, histogram_loss, l1, relief_loss, structure_loss
from .metrics_log import METRICS_NAME, MetricsLog, read_metrics, read_metrics_if_any
from .models import CycleGAN, build_nets
from .pool import ImagePool
from .precision import Precision, resolve_device, resolve_precision
from .samples import preview_batch, save_samples
from .segment import frozen_segmenter, own_foreground

# Kept importable from here for one version (CHANGELOG): they moved to their own
# modules.
from .checkpoint import GeneratorPair, load_generators  # noqa: E402,F401
from .config import AUTOCAST_MODES, GAN_MODES  # noqa: E402,F401
from .loader import load_training_data  # noqa: E402,F401
from .profiles import PROFILE_SETTINGS  # noqa: E402,F401
from .samples import translate_grid  # noqa: E402,F401


class NonFiniteLossError(FloatingPointError):
    """Training diverged: a loss or a weight became NaN or infinite. Nothing non-finite
    was saved; the message names the step and the last good checkpoint."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during :func:`train`: the step in progress was finished and
    saved.

    Attributes:
        step: the step reached and saved.
        checkpoint: the checkpoint written at that step.
    """

    def __init__(self, step: int, checkpoint: Path):
        super().__init__(
            f"interrupted: saved step {step} to {checkpoint}; "
            "run the same command again to resume"
        )
        self.step, self.checkpoint = step, checkpoint


# --------------------------------------------------------------------------- one step


@dataclass
class TrainState:
    """Everything that changes during training; ``state_dict()`` is the checkpoint."""

    config: TrainConfig
    nets: CycleGAN
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    pool_X: ImagePool
    pool_Y: ImagePool
    loader: UnpairedLoader
    precision: Precision
    step: int = 0
    seconds: float = 0.0  # training time so far, over all resumed sessions
    # The frozen segmenter behind ``hist_mask="output"``: an asset, not trained state.
    segmenter: nn.Module | None = None

    @classmethod
    def create(
        cls,
        config: TrainConfig,
        data: tuple[DomainTensors, DomainTensors],
        device: torch.device,
    ) -> "TrainState":
        torch.manual_seed(config.seed)
        nets = build_nets(config).to(device)
        adam = dict(lr=config.lr, betas=config.betas)
        segmenter = frozen_segmenter(device) if config.hist_mask == "output" else None
        return cls(
            config=config,
            nets=nets,
            opt_G=torch.optim.Adam(nets.generator_parameters(), **adam),
            opt_D=torch.optim.Adam(nets.discriminator_parameters(), **adam),
            # Separate, seeded streams: the pools and the batch order never share
            # randomness.
            pool_X=ImagePool(config.pool_size, seed=config.seed + 1),
            pool_Y=ImagePool(config.pool_size, seed=config.seed + 2),
            loader=make_loader(config, data, device),
            precision=Precision(config.autocast, device),
            segmenter=segmenter,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "step": self.step,
            "seconds": self.seconds,
            "nets": self.nets.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "pool_X": self.pool_X.state_dict(),
            "pool_Y": self.pool_Y.state_dict(),
            # The loader's position is the step.
            "loader": {**self.loader.state_dict(), "step": self.step},
            "scaler": self.precision.state_dict(),
            "torch_rng": torch.get_rng_state(),
            # Resolved on the host that trained: both change the weights (checked on
            # resume).
            "precision": self.precision.mode,
            "threads": torch.get_num_threads(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = next(self.nets.parameters()).device
        self.step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))
        self.nets.load_state_dict(state["nets"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.pool_X.load_state_dict(state["pool_X"], device)
        self.pool_Y.load_state_dict(state["pool_Y"], device)
        self.loader.load_state_dict(state["loader"])
        self.precision.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"].cpu())


def learning_rate(step: int, config: TrainConfig) -> float:
    """Constant ``lr`` until ``decay_start``, then linear decay (reference): at the last
    step it is ``lr · 2 / (steps - decay_start + 1)``, never 0."""
    span = config.steps - config.decay_start + 1
    decayed = max(0, step - config.decay_start) / span
    return config.lr * (1.0 - decayed)


def own_foreground_histogram(
    segmenter: nn.Module, images: torch.Tensor, bins: int
) -> torch.Tensor:
    """The histogram of ``images`` under their own foreground, as the frozen
    ``segmenter`` sees it (``hist_mask="output"``), differentiable through the mask too.

    The one place that trains with :func:`kdehist.histogram.soft_histogram_naive`
    rather than the windowed :func:`kdehist.soft_histogram`: the windowed histogram's
    own backward gives its mask no gradient, and here the mask's gradient (how the
    foreground moves when the image changes) is the point. The naive histogram keeps an
    ``N × K`` tensor for backward, ``K`` times the windowed one's memory.
    """
    mask = own_foreground(segmenter, images)
    return soft_histogram_naive(images, bins, mask=mask)


def train_step(
    state: TrainState, batch: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """One generator update, then one discriminator update; returns the detached losses.

    ``batch`` is a :class:`kdehist.data.UnpairedLoader` batch: ``x``, ``y``, ``y_ref``
    (and ``x_ref`` when ``F`` is conditioned), ``(B, 3, H, W)`` in ``[-1, 1]``, each
    with its ``*_mask`` ``(B, 1, H, W)``. ``y_ref`` is another real image than ``y``, so
    the colour target is never the very sample shown to ``D_Y``.
    """
    cfg, amp = state.config, state.precision
    G, F, D_X, D_Y = state.nets
    x, y, mask_x, mask_y = batch["x"], batch["y"], batch["x_mask"], batch["y_mask"]
    with torch.no_grad():  # histograms of data: constants of the loss

        def hist(key: str) -> torch.Tensor:
            return soft_histogram(batch[key], cfg.hist_bins, mask=batch[f"{key}_mask"])

        # Conditions: G paints x in y_ref's colours, F paints y in x_ref's; the cycle
        # and identity translations keep their input's own colours.
        cond_G = (hist("y_ref"), hist("y")) if G.conditioned else (None, None)
        cond_F = (hist("x_ref"), hist("x")) if F.conditioned else (None, None)
    (G_ref, G_own), (F_ref, F_own) = cond_G, cond_F

    # Generators. The discriminators are frozen so that backward skips their weights.
    requires_grad(D_X, False)
    requires_grad(D_Y, False)
    with amp.autocast():
        fake_y, fake_x = G(x, G_ref), F(y, F_ref)
        losses = {
            "gan_G": gan_loss(D_Y(fake_y), True, cfg.gan_mode),
            "gan_F": gan_loss(D_X(fake_x), True, cfg.gan_mode),
            "cycle_X": l1(F(fake_y, F_own), x),
            "cycle_Y": l1(G(fake_x, G_own), y),
        }
        # The reference skips these two forwards when unused.
        if cfg.identity_weight > 0:
            losses["idt_X"] = l1(F(x, F_own), x)
            losses["idt_Y"] = l1(G(y, G_own), y)
        # A fake's histogram over its input's foreground (the paper's), or over its own
        # as the frozen segmenter sees it, against the reference's.
        if G.conditioned and state.segmenter is not None:
            losses["hist_G"] = histogram_loss(
                own_foreground_histogram(state.segmenter, fake_y, cfg.hist_bins),
                G_ref,
                cfg.hist_loss,
            )
        elif G.conditioned:
            losses["hist_G"] = histogram_loss(
                soft_histogram(fake_y, cfg.hist_bins, mask=mask_x), G_ref, cfg.hist_loss
            )
        if F.conditioned:
            losses["hist_F"] = histogram_loss(
                soft_histogram(fake_x, cfg.hist_bins, mask=mask_y), F_ref, cfg.hist_loss
            )
        if cfg.lambda_structure > 0:  # the shading of each input, kept
            losses["structure_G"] = structure_loss(x, fake_y, mask_x)
            losses["structure_F"] = structure_loss(y, fake_x, mask_y)
        if cfg.lambda_relief > 0:  # the relief of each input, kept
            losses["relief_G"] = relief_loss(x, fake_y, mask_x)
            losses["relief_F"] = relief_loss(y, fake_x, mask_y)
    weight = cfg.loss_weights(state.step)
    loss_G = sum(weight[name] * value for name, value in losses.items())
    state.opt_G.zero_grad(set_to_none=True)
    amp.backward(loss_G)
    amp.step(state.opt_G)

    # Discriminators: real images against fakes drawn partly from the history pools.
    requires_grad(D_X, True)
    requires_grad(D_Y, True)
    mode = cfg.gan_mode
    with amp.autocast():
        losses["D_Y"] = 0.5 * (
            gan_loss(D_Y(y), True, mode)
            + gan_loss(D_Y(state.pool_Y.query(fake_y)), False, mode)
        )
        losses["D_X"] = 0.5 * (
            gan_loss(D_X(x), True, mode)
            + gan_loss(D_X(state.pool_X.query(fake_x)), False, mode)
        )
    state.opt_D.zero_grad(set_to_none=True)
    amp.backward(losses["D_X"] + losses["D_Y"])
    amp.step(state.opt_D)
    amp.update()
    losses["G"] = loss_G
    return {name: value.detach() for name, value in losses.items()}


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    """What :func:`train` returns: where things are, and the logged metrics."""

    checkpoint: Path
    out_dir: Path
    step: int
    steps: int
    metrics: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0  # training time of the run so far (all sessions)

    @property
    def finished(self) -> bool:
        """Whether the run reached ``config.steps`` (not stopped early by
        ``stop_at``)."""
        return self.step >= self.steps


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = True,
    stop_at: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train one variant, or resume it from ``out_dir/checkpoint.pt``.

    Args:
        config: the run's settings (``TrainConfig.from_profile``).
        out_dir: folder for the checkpoint, metrics, samples and ``config.json``.
        resume: continue from an existing checkpoint in ``out_dir`` (default). Its
            config must equal ``config`` except for bookkeeping fields (periods, device,
            label), and it must have been trained at the same resolved autocast
            precision and, on a CPU, with the same number of threads; a finished run
            returns at once. ``False`` starts over and overwrites.
        stop_at: stop (with a checkpoint) after this step, as if interrupted there; the
            learning-rate schedule still runs to ``config.steps``. For training in
            chunks, e.g. on Colab. Default: run to ``config.steps``.
        progress: show a tqdm progress bar with running losses.

    Returns:
        :class:`TrainResult` with the checkpoint path, the step reached, the whole
        metrics log of the run and its training seconds (all sessions, without sampling
        and checkpointing).

    What survives what: every save is atomic and keeps the checkpoint before it as
    ``checkpoint.prev.pt``. A damaged or missing ``checkpoint.pt`` falls back to it with
    a warning. Ctrl-C (SIGINT) finishes the step in progress, saves it and raises
    :class:`TrainingInterrupted` (a ``KeyboardInterrupt``; a second Ctrl-C stops at
    once). A NaN or infinite loss stops training with :class:`NonFiniteLossError` naming
    the step, and nothing non-finite is ever saved.

    Raises:
        TypeError, ValueError: a bad argument, or a checkpoint that cannot be resumed
            (the message names it and says what to do); all before any data is loaded.
        FileNotFoundError: a configured data folder is missing.
        NonFiniteLossError: training diverged.
        TrainingInterrupted: Ctrl-C, after saving.
    """
    # Every configuration error surfaces here, before any data is rendered or step
    # taken.
    try:
        device, out_dir, saved, end = _prepare_run(config, out_dir, resume, stop_at)
    except (ValueError, TypeError, OSError) as error:
        # The command line prints these as one line, exit 2.
        error.before_training = True
        raise
    checkpoint_path = out_dir / CHECKPOINT_NAME
    # Nothing left to do: skip loading the data.
    if saved is not None and int(saved["step"]) >= end:
        seconds = float(saved.get("seconds", 0.0))
        return TrainResult(
            checkpoint_path,
            out_dir,
            int(saved["step"]),
            config.steps,
            read_metrics_if_any(out_dir),
            seconds,
        )

    with torch_threads(config.threads):
        return _train_loop(config, out_dir, device, saved, end, progress)


def _prepare_run(
    config, out_dir, resume, stop_at
) -> tuple[torch.device, Path, dict | None, int]:
    """Check everything that can be checked before any work; load the checkpoint to
    resume."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
    if not isinstance(resume, bool):
        raise TypeError(f"resume: expected True or False, got {_describe(resume)}")
    device = resolve_device(config.device)
    precision = resolve_precision(config.autocast, device)
    check_data_folders(config)
    end = (
        config.steps
        if stop_at is None
        else min(check_positive_int("stop_at", stop_at), config.steps)
    )
    out_dir = check_out_dir(out_dir)
    saved = load_resume_checkpoint(out_dir) if resume else None
    if saved is not None:
        threads = (
            config.threads if config.threads is not None else torch.get_num_threads()
        )
        check_same_run(
            saved,
            config,
            out_dir / CHECKPOINT_NAME,
            precision,
            threads if device.type == "cpu" else None,
        )
    return device, out_dir, saved, end


def check_out_dir(out_dir) -> Path:
    """``out_dir`` as a folder that exists and can be written, or a ValueError naming
    it."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(
            f"out_dir: expected a folder path (str or Path), got {_describe(out_dir)}"
        )
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out_dir: expected a folder, got the file {str(path)!r}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(
            f"out_dir: expected a writable folder, got {str(path)!r} "
            f"({type(error).__name__}: {error.strerror or error})"
        ) from None
    return path


@contextlib.contextmanager
def _deferred_sigint():
    """Turn the first SIGINT (Ctrl-C) into a flag the loop checks at each step boundary;
    a second one raises at once. Only in the main thread (signals go nowhere else)."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)
    restore = previous if previous is not None else signal.default_int_handler

    def handler(signum, frame):
        flag["set"] = True
        signal.signal(signal.SIGINT, restore)
        print(
            "\ninterrupt: saving a checkpoint after this step "
            "(Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, restore)


def _nonfinite_weights(nets: nn.Module) -> list[str]:
    tensors = [
        (name, t) for name, t in nets.state_dict().items() if t.is_floating_point()
    ]
    if not tensors:
        return []
    finite = torch.stack([torch.isfinite(t).all() for _, t in tensors])
    if bool(finite.all()):
        return []
    return [name for name, t in tensors if not bool(torch.isfinite(t).all())]


def _train_loop(
    config: TrainConfig,
    out_dir: Path,
    device: torch.device,
    saved: dict | None,
    end: int,
    progress: bool,
) -> TrainResult:
    """The loop itself: build (or restore) the state, then step, log, sample,
    checkpoint."""
    from tqdm.auto import tqdm

    checkpoint_path = out_dir / CHECKPOINT_NAME
    previous_path = out_dir / PREVIOUS_CHECKPOINT_NAME
    if device.type == "cuda":
        # Fixed shapes: let cuDNN pick its fastest kernels.
        torch.backends.cudnn.benchmark = True
    data = read_training_data(config, progress)  # _prepare_run checked the folders
    state = TrainState.create(config, data, device)
    if saved is not None:
        state.load_state_dict(saved)
        good_step = state.step
    else:
        good_step = None
        # Starting over: not this run's.
        for stale in (previous_path, out_dir / DAMAGED_CHECKPOINT_NAME):
            if stale.is_file():
                stale.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "config.json", config.to_dict())
    metrics_log = MetricsLog(out_dir / METRICS_NAME, keep_until=state.step)
    preview = preview_batch(data, device)

    def diverged(what: str, step: int) -> NonFiniteLossError:
        kept = (
            f"the last good checkpoint, step {good_step}, is kept in {checkpoint_path}"
            if good_step is not None
            else "no checkpoint was written"
        )
        return NonFiniteLossError(
            f"training diverged: {what} at step {step}; stopped without saving it, "
            f"and {kept}. Try a lower lr, autocast='none' or another seed"
        )

    def check_finite(pending: list) -> None:
        if not pending or bool(torch.stack([flag for _, flag, _ in pending]).all()):
            return
        step, _, losses = next(entry for entry in pending if not bool(entry[1]))
        values = ", ".join(
            f"{k} {v.item():.4g}"
            for k, v in losses.items()
            if not math.isfinite(v.item())
        )
        raise diverged(f"non-finite losses ({values})", step)

    bar = tqdm(
        total=config.steps,
        initial=state.step,
        disable=not progress,
        desc=config.variant,
        unit="step",
    )
    state.nets.train()
    window, pending = [], []
    interrupted = False
    with _deferred_sigint() as sigint:
        while state.step < end:
            lr = learning_rate(state.step, config)
            for group in state.opt_G.param_groups + state.opt_D.param_groups:
                group["lr"] = lr
            started = time.perf_counter()
            losses = train_step(state, state.loader.batch(state.step))
            # Training time: no sampling or saving.
            state.seconds += time.perf_counter() - started
            state.step += 1
            window.append(losses)
            # One flag per step, left on the device: synchronised only when something is
            # written.
            finite = torch.stack([v.float() for v in losses.values()]).isfinite().all()
            pending.append((state.step, finite, losses))
            bar.update(1)

            step = state.step
            interrupted = sigint["set"]
            last = step == end or interrupted
            log = step % config.log_every == 0 or last
            sample = step % config.sample_every == 0 or step == config.steps
            save = step % config.checkpoint_every == 0 or last
            if log or sample or save:
                check_finite(pending)
                pending = []
            if log:
                means = {
                    k: torch.stack([w[k] for w in window if k in w]).mean().item()
                    for k in window[-1]
                }
                metrics_log.write(
                    {"step": step, "lr": lr, "seconds": state.seconds, **means}
                )
                bar.set_postfix(
                    {
                        k: f"{means[k]:.3f}"
                        for k in ("G", "D_X", "D_Y", "hist_G")
                        if k in means
                    }
                )
                window = []
            if sample:
                save_samples(
                    state.nets,
                    preview,
                    out_dir / "samples" / f"step_{step:06d}.png",
                    config.hist_bins,
                )
            if save:
                bad = _nonfinite_weights(state.nets)
                if bad:
                    names = ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else "")
                    raise diverged(f"non-finite weights ({names})", step)
                # The first save of a fresh run replaces nothing of this run: keep no
                # previous.
                atomic_torch_save(
                    checkpoint_path,
                    state.state_dict(),
                    previous=previous_path if good_step is not None else None,
                )
                good_step = step
            if interrupted:
                break
    bar.close()
    if interrupted:
        raise TrainingInterrupted(state.step, checkpoint_path)
    return TrainResult(
        checkpoint_path,
        out_dir,
        state.step,
        config.steps,
        read_metrics(out_dir),
        state.seconds,
    )
