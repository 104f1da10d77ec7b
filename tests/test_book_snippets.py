"""The Python snippets of the book's Markdown pages run as shown: each one parses, and
imports or defines every name it uses (a reader pastes one snippet into one cell)."""

import ast
import builtins
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "book").glob("*.md"))
FENCE = re.compile(r"^```(?:python|ipython3?)\s*\n(.*?)^```", re.M | re.S)


def snippets(path: Path) -> list[str]:
    return FENCE.findall(path.read_text())


def unbound_names(snippet: str) -> set[str]:
    # A notebook cell's `!command` and `%magic` lines are IPython, not Python.
    code = "\n".join(
        "pass" if line.lstrip().startswith(("!", "%")) else line
        for line in snippet.splitlines()
    )
    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {
                (alias.asname or alias.name).split(".")[0] for alias in node.names
            }
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    used = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    return used - bound


def test_unbound_names_are_found():
    assert unbound_names('os.environ["A"] = "b"') == {"os"}
    assert (
        unbound_names('import os\nos.environ["A"] = "b"\n!python -m kdehist train')
        == set()
    )


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_markdown_python_snippets_are_self_contained(path):
    for snippet in snippets(path):
        try:
            missing = unbound_names(snippet)
        except SyntaxError as error:
            # e.g. a shell command in a python block: give it a `!`
            pytest.fail(
                f"{path.name}: a python snippet does not parse ({error}):\n{snippet}"
            )
        assert not missing, (
            f"{path.name}: a python snippet uses {sorted(missing)} "
            f"without importing them:\n{snippet}"
        )
