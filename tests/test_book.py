"""The book builds with warnings as errors, with every chapter page and its Colab link."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_book_builds_with_warnings_as_errors(tmp_path):
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    assert jupyter_book, "jupyter-book is not installed (pip install -e .[book])"
    result = subprocess.run(
        [jupyter_book, "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    html = tmp_path / "_build" / "html"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    org_repo = config["repository"]["url"].removeprefix("https://github.com/")
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for page in pages:
        built = html / f"{page}.html"
        assert built.is_file(), f"missing page {built}"
        if (ROOT / f"{page}.ipynb").is_file():
            colab = f"https://colab.research.google.com/github/{org_repo}/blob/main/{page}.ipynb"
            assert colab in built.read_text(), f"no Colab link on {page}"
    # Citations resolved, maths rendered by MathJax, no leftover build errors in pages.
    intro = (html / "book" / "intro.html").read_text()
    assert "Kobayashi" in intro
    bibliography = (html / "book" / "bibliography.html").read_text()
    assert "DeepHist" in bibliography and "Miyato" in bibliography
    api = (html / "book" / "api.html").read_text()
    assert re.search(r'id="kdehist\.soft_histogram"', api)
