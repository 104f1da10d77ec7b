"""Notebook support: ``glue`` for the book, and re-executing notebooks in place.

Usage: ``KDEHIST_PROFILE=cpu python -m kdehist.notebooks book/*.ipynb``
(``make notebooks``). Each notebook runs in its own folder, as Jupyter would
run it, with the current Python.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def glue(name: str, value: Any, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the book's ``{glue}`` roles.

    Uses myst-nb's ``glue`` when it is installed (book builds); on Colab, where only the
    package is installed, it is a no-op so that notebooks run unchanged.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=display)


def execute_in_place(path: Path, timeout: int = 3600) -> float:
    """Execute one notebook and write it back with its outputs;
    return the seconds taken.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    nbformat.write(nb, path)
    return time.perf_counter() - start


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m kdehist.notebooks`` (the book's command-line page)."""
    parser = argparse.ArgumentParser(
        prog="python -m kdehist.notebooks",
        description="Re-execute notebooks in place, each in its own folder, and save "
        "them with their outputs (make notebooks).",
    )
    parser.add_argument(
        "notebooks", nargs="+", type=Path, help="the .ipynb files to execute"
    )
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if not path.is_file():
            parser.error(
                f"notebooks: expected an existing .ipynb file, got {str(path)!r}"
            )
        seconds = execute_in_place(path, args.timeout)
        print(f"{path}: executed in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
