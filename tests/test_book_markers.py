"""No development machinery on the book's pages (issue 24): no nbval or linter comments
in the code a reader sees, no notes to the developers, and no enumeration "(c)" that the
replacements extension turns into a copyright sign."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PAGES = sorted(BOOK.glob("*.ipynb")) + sorted(BOOK.glob("*.md"))

CODE_MARKERS = {
    "an nbval comment (use the cell tag nbval-check-output)": re.compile(
        r"^\s*#\s*NBVAL_", re.M
    ),
    "a linter comment (# noqa)": re.compile(r"#\s*noqa\b"),
}
PROSE_MARKERS = {
    "a note to the developers": re.compile(
        r"worth pasting into an issue|not yet been timed on a GPU", re.I
    ),
    "an enumeration the replacements extension turns into a symbol": re.compile(
        r"\((c|r|tm|p)\)", re.I
    ),
}
# Pages owned elsewhere that still carry a marker, each to be fixed, then dropped from
# this list (the second test fails on an entry that no longer needs to be here).
PENDING: set[str] = set()


def prose(text: str) -> str:
    """Text as the replacements extension sees it: no code and no maths."""
    text = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)
    return re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$", "", text, flags=re.S)


def markers(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [
            "".join(c["source"])
            for c in cells
            if c["cell_type"] == "code"
            and "remove-cell" not in c.get("metadata", {}).get("tags", [])
        ]
        markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    else:
        code, markdown = [], [path.read_text(encoding="utf-8")]
    found = [name for name, p in CODE_MARKERS.items() if any(p.search(s) for s in code)]
    found += [
        name
        for name, p in PROSE_MARKERS.items()
        if any(p.search(prose(s)) for s in markdown)
    ]
    return found


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_development_markers_on_the_page(path):
    if path.name in PENDING:
        pytest.skip("owned elsewhere, listed in PENDING")
    assert not markers(path), f"{path.name}: {markers(path)}"


def test_pending_pages_still_need_their_exemption():
    fixed = [name for name in PENDING if not markers(BOOK / name)]
    assert not fixed, f"drop from PENDING, they are clean now: {fixed}"


def test_the_markers_are_found_where_planted(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("A list: (a) one, (c) three. `(c)` in code and $f(c)$ are fine.")
    assert markers(page) == [
        "an enumeration the replacements extension turns into a symbol"
    ]
    cells = [{"cell_type": "code", "metadata": {}, "source": "# NBVAL_CHECK_OUTPUT\n"}]
    notebook = tmp_path / "page.ipynb"
    notebook.write_text(json.dumps({"cells": cells}))
    assert markers(notebook) == [
        "an nbval comment (use the cell tag nbval-check-output)"
    ]
