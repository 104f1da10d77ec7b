import os
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


# Flags for a headless Chromium running as root in CI: no sandbox (it refuses to start
# as root otherwise), no GPU, and nothing that phones home or updates itself mid-test.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The Chromium to drive: $KDEHIST_CHROMIUM, /usr/bin/chromium, or one on PATH."""
    candidates = [os.environ.get("KDEHIST_CHROMIUM"), "/usr/bin/chromium"]
    candidates += [
        shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="session")
def chromium() -> dict:
    """Playwright launch options for the system's Chromium (no browser is downloaded):
    ``playwright.chromium.launch(**chromium)``. Skips when there is no Chromium."""
    browser = find_chromium()
    if browser is None:
        pytest.skip(
            "no Chromium browser to drive: install the Debian packages chromium and "
            "chromium-driver (.ci/run does when run as root), or point "
            "KDEHIST_CHROMIUM at a Chromium binary"
        )
    return {"executable_path": browser, "headless": True, "args": CHROMIUM_FLAGS}
