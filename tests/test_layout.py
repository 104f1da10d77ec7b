"""The package's structure rules, read from its source (kdehist.layout), and the
README's layout block written from the same reading."""

from pathlib import Path

from kdehist import layout

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_is_over_the_limit():
    over = {m: n for m, n in layout.module_lines().items() if n > layout.MAX_LINES}
    assert not over, f"modules over {layout.MAX_LINES} lines: {over}"


def test_no_import_circle_counting_imports_inside_functions():
    assert layout.import_cycles() == []


def test_no_private_name_is_imported_from_another_module():
    assert layout.private_imports() == []


def test_the_readers_of_the_source_see_what_is_there():
    # A circle and a private import, planted, are found: the checks can fail.
    graph = layout.import_graph()
    assert "experiments" in graph["frontier"] and "frontier" not in graph["reproduce"]
    assert "checkpoint" in graph["runs"]  # a module-level import
    assert "train" in graph["runs"]
    found = layout._imports(
        __import__("ast").parse(
            "def f():\n    from ._private import _secret\n    from .stats import x\n"
        )
    )
    assert ("_private", ["_secret"]) in found and ("stats", ["x"]) in found


def test_reproduce_and_frontier_are_siblings():
    graph = layout.import_graph()
    assert "frontier" not in graph["reproduce"] and "reproduce" not in graph["frontier"]


def test_readme_layout_block_is_the_code():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(layout.LAYOUT_START, 1)[1].split(layout.LAYOUT_END, 1)[0]
    assert block.strip() == layout.layout_markdown(), (
        "README.md's layout block differs from the code: run kdehist readme"
    )


#: A chapter's code is short enough to read: the telling lives in the package.
MAX_NOTEBOOK_CODE_LINES = 320


def test_chapters_tell_rather_than_compute():
    import json

    long = {}
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        lines = sum(
            len("".join(c["source"]).splitlines())
            for c in cells
            if c["cell_type"] == "code"
        )
        if lines > MAX_NOTEBOOK_CODE_LINES:
            long[path.name] = lines
    assert not long, f"chapters over {MAX_NOTEBOOK_CODE_LINES} code lines: {long}"
