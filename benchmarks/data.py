"""Time the synthetic knee renderer: all 971 images (sim 438 + 28, real 477 + 28).

Usage::

    python benchmarks/data.py                                 # 256 and 64 px, no cache
    python benchmarks/data.py --sizes 128 --cache /tmp/knees  # also time a warm cache

Prints images per second and total seconds per size. Rendering runs on one torch thread
whatever the setting (``kdehist.knees`` switches it for the duration: its tensors
are too small for intra-op threads, which slow it down badly when another process
keeps a core busy; on the development CPU with one core busy, two threads rendered
five times slower than one).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from kdehist.data import DOMAINS, SPLITS, SyntheticKnees


def build_all(size: int, cache_dir=None) -> tuple[int, float]:
    """Render (or load) every split of both domains; returns (images, seconds)."""
    count = 0
    start = time.perf_counter()
    for domain in DOMAINS:
        for split in SPLITS:
            images, masks = SyntheticKnees(
                domain, split, size=size, cache_dir=cache_dir
            ).tensors()
            count += images.shape[0]
    return count, time.perf_counter() - start


def report(size: int, what: str, count: int, seconds: float) -> None:
    print(
        f"{size:>4} px  {what:<12}: {count} images in {seconds:6.1f} s "
        f"= {count / seconds:6.1f} images/s"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 64])
    parser.add_argument(
        "--cache", default=None, help="also time writing then reading a PNG cache here"
    )
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for size in args.sizes:
        count, seconds = build_all(size)
        report(size, "render", count, seconds)
        if args.cache is not None:
            with tempfile.TemporaryDirectory(dir=args.cache) as folder:
                count, seconds = build_all(size, folder)
                report(size, "render+cache", count, seconds)
                count, seconds = build_all(size, folder)
                report(size, "cache read", count, seconds)


if __name__ == "__main__":
    main()
