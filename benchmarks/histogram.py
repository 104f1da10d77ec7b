"""Speed and memory of the KDE histogram: naive N×K broadcasting versus kdehist.

Forward plus backward of a (4, 3, 256, 256) batch with B = L/2.5, at K = 64 and 256.
Each measurement runs in a fresh process, so that the peak resident memory it reports
(above the memory held once the input exists) belongs to that method alone. Prints time,
peak extra memory and the ratio to the naive version; torch.histc (forward only, no
gradient) is the floor, and kornia's histogram is included when kornia is installed.

    python benchmarks/histogram.py            # print the table (about 1 minute)
    python benchmarks/histogram.py --save F   # also write the numbers to F as JSON
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

SHAPE = (4, 3, 256, 256)
METHODS = ("naive", "kdehist", "histc", "kornia")


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(method: str, bins: int, repeats: int) -> dict:
    """Run in a child process: time and peak extra memory of one method."""
    import torch

    import kdehist
    from kdehist.histogram import soft_histogram_naive

    torch.manual_seed(0)
    x = torch.rand(*SHAPE) * 2 - 1
    weights = torch.randn(SHAPE[0], SHAPE[1], bins)

    if method == "naive":

        def run():
            xx = x.clone().requires_grad_()
            (soft_histogram_naive(xx, bins) * weights).sum().backward()
    elif method == "kdehist":

        def run():
            xx = x.clone().requires_grad_()
            (kdehist.soft_histogram(xx, bins) * weights).sum().backward()
    elif method == "histc":

        def run():
            torch.stack(
                [
                    torch.histc(c, bins, -1, 1)
                    for c in x.reshape(-1, SHAPE[2] * SHAPE[3])
                ]
            )
    else:
        import kornia  # noqa: F401  (skipped by the parent when missing)
        from kornia.enhance import histogram

        centers = torch.linspace(-1, 1, bins + 1)[:-1] + 1 / bins

        def run():
            xx = x.clone().reshape(-1, SHAPE[2] * SHAPE[3]).requires_grad_()
            (histogram(xx, centers, torch.tensor(2 / bins / 2.5)).sum()).backward()

    baseline = rss_mib()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": min(times), "peak_extra_mib": max(0.0, peak - baseline)}


def child(method: str, bins: int, repeats: int) -> dict | None:
    if method == "kornia":
        try:
            import kornia  # noqa: F401
        except ImportError:
            return None
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, str(bins), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", help="write the results as JSON to this file")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, bins, repeats = args.child
        print(json.dumps(measure(method, int(bins), int(repeats))))
        return

    import torch

    results = {
        "shape": list(SHAPE),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "bins": {},
    }
    print(
        f"forward+backward of {SHAPE}, B = L/2.5, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"{'K':>4} {'method':>8} {'time (s)':>10} {'peak extra (MiB)':>17} "
        f"{'speed-up':>9} {'memory ratio':>13}"
    )
    for bins in (64, 256):
        rows = {}
        for method in METHODS:
            repeats = 1 if (method == "naive" and bins == 256) else 3
            row = child(method, bins, repeats)
            if row is None:
                print(f"{bins:>4} {method:>8}   (not installed)")
                continue
            rows[method] = row
        naive = rows["naive"]
        for method, row in rows.items():
            row["speedup_vs_naive"] = naive["seconds"] / row["seconds"]
            row["memory_ratio_vs_naive"] = naive["peak_extra_mib"] / max(
                row["peak_extra_mib"], 1.0
            )
            note = " (forward only)" if method == "histc" else ""
            print(
                f"{bins:>4} {method:>8} {row['seconds']:>10.3f} "
                f"{row['peak_extra_mib']:>17.1f} {row['speedup_vs_naive']:>8.1f}x "
                f"{row['memory_ratio_vs_naive']:>12.1f}x{note}"
            )
        results["bins"][str(bins)] = rows
    if args.save:
        from kdehist.io import atomic_write_json

        atomic_write_json(args.save, results)
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
