"""Evaluation time per translated pair: batched on the device against the old CPU path.

The old path translates every pair on the CPU
(:func:`kdehist.evaluate.translate_pairs`), then measures the pairs one image at a time
with scikit-image (:func:`kdehist.evaluate.pair_metrics`). The new one,
:func:`kdehist.evaluate.evaluate_generator`, translates and measures a batch of pairs at
a time on the training device (CUDA when present): L*a*b*, SSIM and the segmenter run
there, only the border mask and Canny edges stay on the CPU. Both give the same numbers
(``tests/test_evaluate.py``).

Timed at a profile's size (``cpu``: 64², ngf 32, 6 blocks; ``gpu``: 128², ngf 64,
9 blocks) with ``proposed_both`` at its initial weights (the cost does not depend on
them) on the first ``--count`` × ``--count`` pairs of the test set, in interleaved
rounds (old, new, old, new, ...) so that a shared machine's changing load affects both
alike. Reports the median and the minimum seconds per pair and the ratio old / new.

    OMP_NUM_THREADS=1 python benchmarks/evaluation.py              # cpu size, 1 thread
    OMP_NUM_THREADS=1 python benchmarks/evaluation.py --profiles cpu gpu
    python benchmarks/evaluation.py --device cuda --profiles gpu   # on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from kdehist.evaluate import (
    evaluate_generator,
    load_test_set,
    oracle_pairs,
    pair_metrics,
    translate_pairs,
)
from kdehist.segment import load_segmenter
from kdehist.train import TrainConfig, build_nets


def time_paths(
    profile: str, count: int, rounds: int, device: torch.device, batch_size: int | None
) -> dict:
    config = TrainConfig.from_profile(profile, variant="proposed_both")
    test = load_test_set(config.image_size, count=count)
    oracle = oracle_pairs(test)
    segmenter, _ = load_segmenter(progress=False)
    torch.manual_seed(0)
    generator = build_nets(config).G.eval()
    pairs = len(test.inputs) * len(test.refs)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def old() -> None:
        outputs = translate_pairs(generator, test, config.hist_bins)
        pair_metrics(outputs, test, oracle, segmenter)

    def new() -> None:
        evaluate_generator(
            generator,
            test,
            config.hist_bins,
            oracle,
            device=device,
            segmenter=segmenter,
            batch_size=batch_size,
        )

    paths = {"old (CPU, per image)": old, f"new ({device.type}, batched)": new}
    times = {name: [] for name in paths}
    for _ in range(rounds + 1):  # the first round warms up and is not counted
        for name, path in paths.items():
            sync()
            start = time.perf_counter()
            path()
            sync()
            times[name].append((time.perf_counter() - start) / pairs)
    return {
        "setting": (
            f"{profile}: {config.image_size}x{config.image_size}, ngf {config.ngf}, "
            f"{config.n_blocks} blocks, {count} x {count} pairs, {rounds} rounds"
        ),
        "seconds": {name: t[1:] for name, t in times.items()},
    }


def report(result: dict) -> None:
    print(f"  {result['setting']}")
    (old_name, old), (new_name, new) = result["seconds"].items()
    print(f"  {'path':<22} {'median s/pair':>13} {'min s/pair':>11}")
    for name, values in result["seconds"].items():
        print(f"  {name:<22} {statistics.median(values):>13.4f} {min(values):>11.4f}")
    print(
        f"  old / new: {statistics.median(old) / statistics.median(new):.2f}x "
        f"(median), {min(old) / min(new):.2f}x (min)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profiles",
        nargs="+",
        default=["cpu"],
        choices=["smoke", "cpu", "gpu", "paper"],
        help="sizes to time (default: cpu)",
    )
    parser.add_argument(
        "--count", type=int, default=6, help="test inputs and references (default 6)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed rounds (default 3)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1)"
    )
    parser.add_argument(
        "--device", default="cpu", help="device of the new path: cpu (default) or cuda"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="pairs per batch (default: auto)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"new path on {device}"
    )
    for profile in args.profiles:
        print(f"{profile} profile:", flush=True)
        report(time_paths(profile, args.count, args.rounds, device, args.batch_size))


if __name__ == "__main__":
    main()
