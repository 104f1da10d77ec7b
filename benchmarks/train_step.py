"""Time of one training step per variant, and its ratio to plain ``cyclegan_sn``.

The goal: colour conditioning plus the histogram loss cost at most 10% over CycleGAN+SN.
A step is one generator and one discriminator update (:func:`kdehist.train.train_step`),
timed at the ``cpu`` profile's size (64², ngf 32, 6 blocks, batch 4) and, with
``--profiles cpu paper``, at the paper's (256², ngf 64, 9 blocks, batch 1), abandoned
when a warm step there takes over a minute.

Variants are timed in interleaved rounds (one step of each, then again), so that a
shared machine's changing load affects them alike. Both the median and the minimum over
rounds are reported, with ratios to ``cyclegan_sn``: on a busy machine the minimum is
the better estimate of the cost itself. Inputs are random images with a disc-shaped
foreground mask: the cost does not depend on content.

    python benchmarks/train_step.py                       # cpu size, 8 rounds
    python benchmarks/train_step.py --profiles cpu paper  # also the paper's size
    python benchmarks/train_step.py --threads 1           # threads (default: torch's)

Autocast ``"auto"`` keeps float32 on CPUs without native bfloat16 kernels
(``kdehist.precision``): on the AVX2-only development CPU a ``cpu``-profile step in bf16
took 44 s instead of 2 s, oneDNN falling back to reference convolutions.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from kdehist.models import VARIANTS
from kdehist.train import TrainConfig, TrainState, train_step

BASELINE = "cyclegan_sn"


def random_domain(
    count: int, size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 3, size, size, generator=generator) * 2 - 1
    yy, xx = torch.meshgrid(
        torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij"
    )
    masks = (xx**2 + yy**2 < 0.5).float().expand(count, 1, size, size).clone()
    return images, masks


def time_variants(
    profile: str,
    rounds: int,
    warmup: int,
    device: torch.device,
    skip_above: float | None,
) -> dict:
    configs = {
        v: TrainConfig.from_profile(profile, variant=v, device=str(device))
        for v in VARIANTS
    }
    size, batch = configs[BASELINE].image_size, configs[BASELINE].batch_size
    data = (random_domain(4 * batch, size, 0), random_domain(4 * batch, size, 1))
    states = {v: TrainState.create(c, data, device) for v, c in configs.items()}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def one_step(variant: str, step: int) -> float:
        state = states[variant]
        batch_ = state.loader.batch(step)
        sync()
        start = time.perf_counter()
        train_step(state, batch_)
        sync()
        return time.perf_counter() - start

    for step in range(warmup):  # first steps allocate and pick kernels
        for variant in VARIANTS:
            one_step(variant, step)
    times = {v: [] for v in VARIANTS}
    for step in range(warmup, warmup + rounds):
        for variant in VARIANTS:
            times[variant].append(one_step(variant, step))
            last = times[variant][-1]
            if skip_above is not None and last > skip_above:
                return {
                    "skipped": (
                        f"a warm {variant} step took {last:.0f} s "
                        f"(> {skip_above:.0f} s)"
                    )
                }
    config = configs[BASELINE]
    return {
        "setting": (
            f"{profile}: {size}x{size}, batch {batch}, ngf {config.ngf}, "
            f"{config.n_blocks} blocks, ndf {config.ndf}, n_layers {config.n_layers}, "
            f"K {config.hist_bins}, condition {config.condition}, "
            f"precision {states[BASELINE].precision.mode}"
        ),
        "median_s": {v: statistics.median(t) for v, t in times.items()},
        "spread_s": {v: (min(t), max(t)) for v, t in times.items()},
    }


def report(result: dict) -> None:
    if "skipped" in result:
        print(f"  skipped: {result['skipped']}")
        return
    print(f"  {result['setting']}")
    base_median = result["median_s"][BASELINE]
    base_min = result["spread_s"][BASELINE][0]
    print(
        f"  {'variant':<15} {'median s/step':>13} {'min s/step':>11} "
        f"{'max s/step':>11} {'median ratio':>13} {'min ratio':>10}"
    )
    for variant, median in result["median_s"].items():
        lo, hi = result["spread_s"][variant]
        print(
            f"  {variant:<15} {median:>13.3f} {lo:>11.3f} {hi:>11.3f} "
            f"{median / base_median:>12.3f}x {lo / base_min:>9.3f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=8, help="timed steps per variant (default 8)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="untimed steps per variant first (default 2)",
    )
    parser.add_argument(
        "--profiles",
        nargs="+",
        default=["cpu"],
        choices=["smoke", "cpu", "gpu", "paper"],
        help="sizes to time (default: cpu); beyond cpu, abandoned when a warm step "
        "takes over 60 s",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
    )
    for profile in args.profiles:
        print(f"{profile} profile:", flush=True)
        report(
            time_variants(
                profile,
                args.rounds,
                args.warmup,
                device,
                skip_above=None if profile == "cpu" else 60.0,
            )
        )


if __name__ == "__main__":
    main()
