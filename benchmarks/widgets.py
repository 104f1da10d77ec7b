"""Redraw time of the histogram explorer (kdehist.widgets) per control, for 256² images.

The explorer promises that a control change redraws in under 200 ms on a 2-core CPU.
This script builds the app headless (no browser: the time measured is the kernel's
work, from the control's new value to the new PNGs and HTML handed to the widgets),
switches every control through a cycle of values several times, and prints the median
and worst redraw per control.

The first pass over a cycle is reported apart ("cold"): it draws the axes backgrounds
the plots blit onto, and computes ΔE once per pair of images; later passes ("warm")
reuse both, as a class does when it moves a slider back and forth. Choosing a synthetic
knee the first time renders it; that is reported on its own line.

Redraws run on one torch thread (``kdehist._torch_utils.torch_threads``): on the loaded
2-core development CPU (a training run in the background) the slowest redraws took 3 to
10 times longer with two threads, which wait on each other at every small operation.

    python benchmarks/widgets.py               # about half a minute
    python benchmarks/widgets.py --passes 5    # more warm passes
"""

from __future__ import annotations

import argparse
import statistics
import time

BUDGET_MS = 200.0

# Each control's cycle of values; every change triggers one redraw.
CYCLES = {
    "bins": [16, 64, 128, 200, 256, 32, 8, 4],
    "bandwidth": [0.01, 0.05, 0.2, 0.4, 1.0, 2.5, 10.0, 0.1],
    "kernel_bin": [0, 10, 31, 32, 50, 63, 20, 5],
    "channel": ["red", "green", "blue", "all"],
    "boundary": ["reflect", "none"],
    "mask": [True, False],
    "image": ["knee real 0", "astronaut", "knee sim 0"],
    "reference": ["knee sim 0", "coffee", "knee real 0"],
}


def timed_change(app, name: str, value) -> float:
    """Milliseconds from setting the control to the end of the redraw it triggers."""
    start = time.perf_counter()
    app.controls[name].value = value
    elapsed = 1000 * (time.perf_counter() - start)
    message = app.current()["message"]
    if message:
        raise RuntimeError(f"{name} = {value!r}: the app reported {message!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--passes", type=int, default=3, help="warm passes over each cycle (default 3)"
    )
    args = parser.parse_args()

    import torch

    from kdehist.widgets import explore

    start = time.perf_counter()
    app = explore()
    build_s = time.perf_counter() - start
    # The first choice of a knee renders it: timed apart from the redraws.
    first_choice = {
        "image = knee sim 0": timed_change(app, "image", "knee sim 0"),
        "reference = knee real 0": timed_change(app, "reference", "knee real 0"),
    }
    shape = tuple(app.current()["pixels"].shape[-2:])

    print(
        f"histogram explorer redraw, image {shape[0]}×{shape[1]} "
        "(knee sim 0 against knee real 0), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"build (first draw included): {1000 * build_s:.0f} ms; "
        "first choice of a knee (rendering included): "
        + ", ".join(f"{n} {ms:.0f} ms" for n, ms in first_choice.items())
    )
    print(
        f"{'control':>11} {'cold median':>12} {'cold max':>9} "
        f"{'warm median':>12} {'warm max':>9}  (ms)"
    )
    worst_warm = 0.0
    for name, cycle in CYCLES.items():
        initial = app.controls[name].value
        cold = [timed_change(app, name, value) for value in cycle]
        warm = [
            timed_change(app, name, value)
            for _ in range(args.passes)
            for value in cycle
        ]
        app.controls[name].value = initial
        worst_warm = max(worst_warm, max(warm))
        print(
            f"{name:>11} {statistics.median(cold):>12.0f} {max(cold):>9.0f} "
            f"{statistics.median(warm):>12.0f} {max(warm):>9.0f}"
        )
    verdict = "within" if worst_warm < BUDGET_MS else "OVER"
    budget = f"{BUDGET_MS:.0f} ms budget"
    print(f"worst warm redraw {worst_warm:.0f} ms: {verdict} the {budget}")
    app.close()


if __name__ == "__main__":
    main()
