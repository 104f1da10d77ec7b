"""Time the gpu profile on this runtime, and project the hours of Part III's runs.

On Colab, with a GPU runtime and kdehist installed, in one cell::

    !python -m kdehist.gpu_check

(or ``python benchmarks/gpu_check.py`` in a checkout). It times a few training steps of
the gpu profile's ``proposed_both`` at its autocast precision (float16 with a gradient
scaler on a T4, bfloat16 on an A100 or L4) and one evaluation batch, on the GPU, then
prints what Part III (4 runs x 3 seeds, each trained and evaluated at 4 checkpoints)
would take there. The book's gpu timings are estimates until someone runs this.

Without a GPU it still runs, as a rehearsal: the same code path on the CPU with tiny
networks (:func:`kdehist.precision.gpu_rehearsal`), and a projection from the profile's
estimates, saying so.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

__all__ = ["gpu_check"]

# The smoke profile's sizes: the rehearsal on a CPU times the code path, not a GPU.
TINY = dict(
    image_size=32, ngf=8, n_blocks=2, ndf=8, n_layers=2, hist_bins=16, batch_size=2,
    max_images=8,
)  # fmt: skip


def gpu_check(profile: str = "gpu", steps: int = 5, warmup: int = 2) -> dict:
    """Time ``profile`` here and project Part III's hours; returns what it prints.

    Returns:
        ``{"device", "gpu", "precision", "step_seconds", "pair_seconds", "estimate"}``,
        the last a :class:`kdehist.runs.Estimate` of Part III from scratch.
    """
    from .evaluate import EVAL_BATCH
    from .precision import gpu_rehearsal
    from .profiles import PROFILE_TIMINGS, evaluation_count
    from .reproduce import DEFAULT_RUNS, SEEDS, Estimate, evaluation_steps
    from .timing import time_evaluation, time_train_step
    from .train import TrainConfig

    full = TrainConfig.from_profile(profile, variant="proposed_both")
    gpu = torch.cuda.is_available()
    if gpu:
        config, rehearsal = full, None
    else:
        config = TrainConfig.from_profile(profile, variant="proposed_both", **TINY)
        rehearsal = gpu_rehearsal((7, 5))  # a T4's path: float16 with a scaler
    if rehearsal is not None:
        with rehearsal:
            step = time_train_step(config, steps=steps, warmup=warmup)
    else:
        step = time_train_step(config, steps=steps, warmup=warmup)
    device = "cuda" if gpu else "cpu"
    pair = time_evaluation(config, device=device, batch_size=EVAL_BATCH[device])
    runs = len(DEFAULT_RUNS) * len(SEEDS)
    count = evaluation_count(profile) or 28
    timings = PROFILE_TIMINGS[profile]
    estimate = Estimate(
        profile=profile,
        device=step["device"],
        runs=runs,
        steps=runs * full.steps,
        step_seconds=step["seconds"] if gpu else timings["step"],
        step_source="timed here" if gpu else f"the profile's, {timings['source']}",
        pairs=runs * len(evaluation_steps(full.steps)) * count * count,
        pair_seconds=pair["seconds"] if gpu else timings["pair"],
        pair_source="timed here" if gpu else f"the profile's, {timings['source']}",
    )
    return {
        "device": step["device"],
        "gpu": gpu,
        "precision": step["precision"],
        "step_seconds": step["seconds"],
        "pair_seconds": pair["seconds"],
        "pairs_timed": pair["pairs"],
        "estimate": estimate,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``kdehist gpu-check``."""
    parser.add_argument("--profile", default="gpu", choices=["gpu", "paper"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed steps first (default 2)"
    )


def run(args: argparse.Namespace) -> int:
    """``kdehist gpu-check``: time this runtime and project Part III's hours."""
    print(f"torch {torch.__version__}, profile {args.profile}", flush=True)
    result = gpu_check(args.profile, args.steps, args.warmup)
    if result["gpu"]:
        print(f"GPU: {result['device']}, autocast {result['precision']}")
        size = "the profile's networks"
    else:
        print(
            "No GPU here: a rehearsal of the gpu code path on the CPU with tiny "
            f"networks (autocast {result['precision']}, as on a T4). Its timings say "
            "nothing about a GPU; the projection uses the profile's estimates."
        )
        size = "tiny networks, CPU"
    print(
        f"  one training step: {result['step_seconds']:.3f} s ({size})\n"
        f"  evaluation: {result['pair_seconds']:.4f} s per pair "
        f"(timed over {result['pairs_timed']} pairs)"
    )
    estimate = result["estimate"]
    print(f"Part III from scratch, projected:\n{estimate}")
    print(f"  = {estimate.seconds / 3600:.1f} hours")
    record = {k: v for k, v in result.items() if k != "estimate"}
    record["part3_hours"] = round(estimate.seconds / 3600, 2)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":  # the old entry point, kept: ``kdehist gpu-check``
    parser = argparse.ArgumentParser(
        prog="python -m kdehist.gpu_check", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
