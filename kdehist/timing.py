"""How long a training step and an evaluated pair take on this runtime, timed.

:func:`kdehist.reproduce.estimate` multiplies them by the work left before Part III
trains, and ``benchmarks/gpu_check.py`` prints them on a Colab GPU. Both time a
profile's real networks on its device and precision, with random images (the cost does
not depend on content) for training and the test set's first pairs for evaluation.
"""

from __future__ import annotations

import math
import time

import torch

from ._checks import check_positive_int
from ._torch_utils import torch_threads

__all__ = ["time_train_step", "time_evaluation"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _random_domain(count: int, size: int, seed: int):
    from .train import DomainTensors

    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 3, size, size, generator=generator) * 2 - 1
    grid = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    masks = (xx**2 + yy**2 < 0.5).float().expand(count, 1, size, size).clone()
    return DomainTensors(images, masks)


def time_train_step(config, steps: int = 2, warmup: int = 1) -> dict:
    """Seconds per training step of ``config`` on its device, precision and threads.

    Untimed ``warmup`` steps first (they allocate memory and pick kernels), then the
    median of ``steps`` timed ones. Returns ``{"seconds", "device", "precision"}``.
    """
    from .train import TrainState, resolve_device, train_step

    steps = check_positive_int("steps", steps)
    warmup = check_positive_int("warmup", warmup, minimum=0)
    device = resolve_device(config.device)
    count = 2 * config.batch_size
    data = (
        _random_domain(count, config.image_size, 0),
        _random_domain(count, config.image_size, 1),
    )
    times = []
    with torch_threads(config.threads):
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # as training does
        state = TrainState.create(config, data, device)
        for step in range(warmup + steps):
            batch = state.loader.batch(step)
            _sync(device)
            start = time.perf_counter()
            train_step(state, batch)
            _sync(device)
            times.append(time.perf_counter() - start)
    timed = sorted(times[warmup:])
    return {
        "seconds": timed[len(timed) // 2],
        "device": _describe_device(device),
        "precision": state.precision.mode,
    }


def time_evaluation(config, device=None, batch_size: int | None = None) -> dict:
    """Seconds per evaluated pair: one batch of
    :func:`kdehist.evaluate.evaluate_generator` with ``config``'s generator (at its
    initial weights) on the test set's first pairs, the oracle and the segmenter, after
    an untimed warm-up on four pairs.

    Returns ``{"seconds", "device", "pairs"}``.
    """
    from .evaluate import EVAL_BATCH, TestSet, evaluate_generator, load_test_set
    from .evaluate import oracle_pairs
    from .profiles import default_device
    from .segment import load_segmenter
    from .train import build_nets

    device = default_device() if device is None else torch.device(device)
    batch = EVAL_BATCH.get(device.type, 28) if batch_size is None else batch_size
    batch = check_positive_int("batch_size", batch)
    count = min(28, math.isqrt(batch - 1) + 1)  # count x count pairs fill one batch
    test = load_test_set(config.image_size, count=count)
    oracle = oracle_pairs(test)
    segmenter, _ = load_segmenter(progress=False)
    torch.manual_seed(config.seed)
    generator = build_nets(config).G.eval()
    bins = config.hist_bins if generator.conditioned else None
    corner = TestSet(
        test.inputs[:2],
        test.input_masks[:2],
        test.refs[:2],
        test.ref_masks[:2],
        test.poses[:2],
        test.tones[:2],
        test.looks[:2],
    )
    evaluate_generator(
        generator, corner, bins, oracle[:2, :2], device, segmenter, batch_size=batch
    )
    _sync(device)
    start = time.perf_counter()
    evaluate_generator(generator, test, bins, oracle, device, segmenter, batch)
    _sync(device)
    pairs = count * count
    return {
        "seconds": (time.perf_counter() - start) / pairs,
        "device": _describe_device(device),
        "pairs": pairs,
    }


def _describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return str(device)
