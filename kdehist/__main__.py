r"""Command line: ``python -m kdehist <command> ...`` (also installed as ``kdehist``).

Commands:
    train    train one variant, resuming from its checkpoint if there is one::

                 python -m kdehist train --variant proposed_both --profile cpu \
                     --out runs/proposed_both
                 python -m kdehist train --variant cyclegan_sn --profile smoke \
                     --set lambda_idt=0 --set steps=8

    reproduce  train the missing variants, evaluate them, write Table 2 and figures::

                 python -m kdehist reproduce --profile cpu --results book/results/cpu

    frontier   the same for chapter 10's shape/colour frontier runs (frontier.json)::

                 python -m kdehist frontier --profile cpu --results book/results/cpu

    readme     rewrite the README's results block from the committed json::

                 python -m kdehist readme

    gpu-check  time this runtime (a GPU, or a rehearsal on the CPU) and project the
               hours Part III takes::

                 python -m kdehist gpu-check

Each command is a ``(add_arguments, run)`` pair registered in ``COMMANDS``, so a new one
(e.g. ``reproduce``) is one more entry.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
import sys
from typing import Callable

from .models import VARIANTS
from .profiles import PROFILES, current_profile


def _parse_override(text: str) -> tuple[str, object]:
    """``name=value`` with ``value`` a Python literal (``10``, ``0.5``, ``'film'``,
    ``None``) or a bare word.
    """
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word such as film or cuda:0
    return name.strip(), value


# --------------------------------------------------------------------------- train


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variant",
        required=True,
        choices=VARIANTS,
        help="which model of Table 2 to train",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="size of the run (default: $KDEHIST_PROFILE, "
        "else gpu with CUDA and cpu without)",
    )
    parser.add_argument(
        "--out", default=None, help="run folder (default: runs/<profile>/<variant>)"
    )
    parser.add_argument(
        "--data-x",
        default=None,
        help="folder of domain X (sim) training images; default synthetic",
    )
    parser.add_argument(
        "--data-y",
        default=None,
        help="folder of domain Y (real) training images; default synthetic",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="auto, cpu, cuda or cuda:N (default: the profile's, auto)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of weights, batches and pool (default 0)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=_parse_override,
        metavar="NAME=VALUE",
        help="override any TrainConfig field, e.g. lambda_hist=20 (repeatable)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="start over instead of resuming"
    )
    parser.add_argument(
        "--stop-at",
        type=int,
        default=None,
        help="stop (with a checkpoint) after this step",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_train(args: argparse.Namespace) -> int:
    from .profiles import runs_dir
    from .train import NonFiniteLossError, TrainConfig, TrainingInterrupted, train

    try:  # configuration errors name the argument: show them without a traceback
        profile = args.profile or current_profile()
        overrides = dict(args.overrides)
        for field, value in (
            ("data_x", args.data_x),
            ("data_y", args.data_y),
            ("device", args.device),
            ("seed", args.seed),
        ):
            if value is not None:
                overrides[field] = value
        if args.stop_at is not None and args.stop_at < 1:
            raise ValueError(f"--stop-at: expected a step >= 1, got {args.stop_at}")
        config = TrainConfig.from_profile(profile, variant=args.variant, **overrides)
        out = args.out if args.out is not None else runs_dir(profile, args.variant)
    except (ValueError, TypeError, OSError) as error:
        raise UsageError(str(error)) from None
    try:
        result = train(
            config,
            out,
            resume=not args.restart,
            stop_at=args.stop_at,
            progress=not args.no_progress,
        )
    except (ValueError, TypeError, OSError) as error:
        # a bad setting or checkpoint, found before any work
        if getattr(error, "before_training", False):
            raise UsageError(str(error)) from None
        raise
    except NonFiniteLossError as error:
        print(f"{_PROG} train: error: {error}", file=sys.stderr)
        return 1
    except TrainingInterrupted as interrupt:
        print(f"{_PROG} train: {interrupt}", file=sys.stderr)
        return 130
    last = result.metrics[-1] if result.metrics else {}
    summary = ", ".join(
        f"{k} {last[k]:.4g}"
        for k in ("G", "D_X", "D_Y", "hist_G", "hist_F")
        if k in last
    )
    state = "finished" if result.finished else "stopped"
    print(
        f"{state} at step {result.step}/{config.steps} "
        f"in {result.seconds:.0f} s of training; {summary}"
    )
    print(f"checkpoint: {result.checkpoint}")
    return 0


# --------------------------------------------------------------------------- reproduce


def _add_run_arguments(
    parser: argparse.ArgumentParser,
    runs: list[str],
    runs_help: str,
    seeds: tuple[int, ...],
    results_help: str,
) -> None:
    """The options that ``reproduce`` and ``frontier`` share."""
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="size of the runs (default: $KDEHIST_PROFILE, "
        "else gpu with CUDA and cpu without)",
    )
    parser.add_argument(
        "--out", default=None, help="run folder (default: runs/<profile>)"
    )
    parser.add_argument("--runs", nargs="+", default=None, choices=runs, help=runs_help)
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=None,
        help=f"training seeds of every run (default: {' '.join(map(str, seeds))})",
    )
    parser.add_argument("--results", default=None, help=results_help)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_reproduce_arguments(parser: argparse.ArgumentParser) -> None:
    from .experiments import SEEDS
    from .reproduce import TABLE2_RUNS

    _add_run_arguments(
        parser,
        list(TABLE2_RUNS),
        "which runs (default: the four variants of Table 2)",
        SEEDS,
        "also write table2.json, tradeoff.json, the per-pair arrays and the "
        "figures to this folder",
    )


def _run_reproduce(args: argparse.Namespace) -> int:
    from .color import jis_class
    from .reproduce import reproduce

    profile = args.profile or current_profile()
    try:
        result = reproduce(
            profile,
            out=args.out,
            runs=args.runs,
            results_dir=args.results,
            progress=not args.no_progress,
            seeds=args.seeds,
        )
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None
    table = result["table2"]
    print(
        f"{'run':>22} {'ΔE76 mean [95% CI]':>24} {'class':>5} "
        f"{'shape score [95% CI]':>24} {'seeds':>6}"
    )
    for name, row in table["variants"].items():
        lo, hi = row["delta_e76_ci95"]
        slo, shi = row["shape_score_ci95"]
        mean = row["delta_e76_mean"]
        print(
            f"{name:>22} {mean:>7.2f} [{lo:5.2f}, {hi:5.2f}]    {jis_class(mean):>5} "
            f"{row['shape_score_mean']:>7.3f} [{slo:.3f}, {shi:.3f}]    "
            f"{len(row['seeds']):>6}"
        )
    provenance = table["provenance"]
    train_minutes = provenance["train_seconds"] / 60
    eval_minutes = provenance["eval_seconds"] / 60
    print(f"training {train_minutes:.1f} min, evaluation {eval_minutes:.1f} min")
    return 0


# --------------------------------------------------------------------------- frontier


def _add_scoring_arguments(
    parser: argparse.ArgumentParser, runs, runs_help: str, seeds, results_help: str
) -> None:
    """``frontier``'s and ``study``'s options: the shared ones and ``--no-train``."""
    _add_run_arguments(parser, list(runs), runs_help, seeds, results_help)
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="score finished runs only; list the others as missing",
    )


def _score(function, args: argparse.Namespace) -> dict:
    """Call ``frontier`` or ``study`` with the command line's options; a bad one is a
    usage error."""
    try:
        return function(
            args.profile or current_profile(),
            out=args.out,
            runs=args.runs,
            results_dir=args.results,
            seeds=args.seeds,
            train=not args.no_train,
            progress=not args.no_progress,
        )
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None


def _add_frontier_arguments(parser: argparse.ArgumentParser) -> None:
    from .experiments import FRONTIER, FRONTIER_SEEDS

    _add_scoring_arguments(
        parser,
        FRONTIER,
        "which frontier runs (default: all)",
        FRONTIER_SEEDS,
        "also write frontier.json and the per-pair arrays to this folder",
    )


def _run_frontier(args: argparse.Namespace) -> int:
    from .frontier import frontier

    result = _score(frontier, args)
    print(f"{'run':>22} {'ΔE76 [95% CI]':>22} {'class':>8} {'shape [95% CI]':>22}")
    for row in result["runs"]:
        (lo, hi), (slo, shi) = row["delta_e76_ci95"], row["shape_score_ci95"]
        print(
            f"{row['name']:>22} {row['delta_e76_mean']:6.2f} [{lo:5.2f}, {hi:5.2f}] "
            f"{row['jis_class']:>8} {row['shape_score_mean']:6.3f} "
            f"[{slo:.3f}, {shi:.3f}]"
        )
    if result["missing"]:
        print("not trained yet:", " ".join(result["missing"]))
    return 0


# ------------------------------------------------------------------------------ study


def _add_study_arguments(parser: argparse.ArgumentParser) -> None:
    from .experiments import SEEDS, STUDY

    _add_scoring_arguments(
        parser,
        STUDY,
        "which runs (default: all of the shading study)",
        SEEDS,
        "also write study.json and the per-pair arrays to this folder",
    )


def _run_study(args: argparse.Namespace) -> int:
    from .study import study

    result = _score(study, args)
    for split, rows in result["splits"].items():
        print(
            f"{split}: {'run':>20} {'seeds':>5} {'ΔE76':>6} {'relief':>7} {'shape':>6}"
        )
        for name, row in rows.items():
            print(
                f"{'':>{len(split) + 1}} {name:>20} {len(row['seeds']):>5} "
                f"{row['delta_e76_mean']:6.2f} {row['relief_input_mean']:7.3f} "
                f"{row['shape_score_mean']:6.3f}"
            )
    if result["missing"]:
        print("not trained yet:", " ".join(result["missing"]))
    return 0


# ------------------------------------------------------------------- readme, gpu-check


def _add_readme_arguments(parser: argparse.ArgumentParser) -> None:
    from .runs import committed_results

    parser.add_argument(
        "--readme-file", default="README.md", help="the README (default: README.md)"
    )
    parser.add_argument(
        "--results",
        default=str(committed_results("cpu")),
        help="the folder holding table2.json (default: the committed cpu results)",
    )


def _run_readme(args: argparse.Namespace) -> int:
    from .layout import update_layout
    from .readme import update_readme
    from .study import recheck

    try:
        has_frontier = (Path(args.results) / "frontier.json").is_file()
        rechecked = recheck(args.results) if has_frontier else None
        changed = update_readme(args.readme_file, args.results, rechecked)
        changed = update_layout(args.readme_file) or changed
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None
    print(f"{args.readme_file} " + ("updated" if changed else "already matches"))
    return 0


def _add_gpu_check_arguments(parser: argparse.ArgumentParser) -> None:
    from .gpu_check import add_arguments

    add_arguments(parser)


def _run_gpu_check(args: argparse.Namespace) -> int:
    from .gpu_check import run

    return run(args)


# -------------------------------------------------------------------------- entry point


class UsageError(Exception):
    """A bad command line or configuration, reported in one line with exit status 2."""


COMMANDS: dict[
    str,
    tuple[
        str,
        Callable[[argparse.ArgumentParser], None],
        Callable[[argparse.Namespace], int],
    ],
] = {
    "train": (
        "train one variant (resumes from out/checkpoint.pt)",
        _add_train_arguments,
        _run_train,
    ),
    "reproduce": (
        "train what is missing, evaluate, write Table 2 and the figures",
        _add_reproduce_arguments,
        _run_reproduce,
    ),
    "frontier": (
        "train what is missing of chapter 10's frontier runs, score them all",
        _add_frontier_arguments,
        _run_frontier,
    ),
    "study": (
        "train what is missing of the shading study, score it on val and test pairs",
        _add_study_arguments,
        _run_study,
    ),
    "readme": (
        "rewrite the README's results and layout blocks from the json and the code",
        _add_readme_arguments,
        _run_readme,
    ),
    "gpu-check": (
        "time this runtime and project the hours Part III takes",
        _add_gpu_check_arguments,
        _run_gpu_check,
    ),
}


_PROG = "kdehist"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG, description="The kdehist command line."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")
    except KeyboardInterrupt as interrupt:  # TrainingInterrupted says what was saved
        print(
            f"{parser.prog} {args.command}: {interrupt or 'interrupted'}",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
