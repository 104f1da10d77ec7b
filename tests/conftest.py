import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kdehist._torch_utils import torch_threads

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Test tensors are tiny: they gain nothing from threads, and a busy
    2-core machine loses a lot.
    """
    with torch_threads(1):
        yield


@dataclass
class BuiltBook:
    returncode: int
    log: str
    html: Path  # the built HTML: html / "book" / "09_evaluation.html", ...


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """The book, built once per test session (a few minutes) as `make book` builds it:
    warnings as errors, nitpicky, and --keep-going, so the pages
    exist even when it fails."""
    jupyter_book = shutil.which(
        "jupyter-book", path=str(Path(sys.executable).parent)
    ) or shutil.which("jupyter-book")
    assert jupyter_book, "jupyter-book is not installed (pip install -e .[book])"
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [
            jupyter_book,
            "build",
            str(ROOT),
            "-W",
            "-n",
            "--keep-going",
            "--path-output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return BuiltBook(
        result.returncode, result.stdout + result.stderr, out / "_build" / "html"
    )
