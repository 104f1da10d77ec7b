"""The package's layout, read from its own source: modules, sizes, concerns, imports.

The README's layout table is written from here (:func:`layout_markdown`, by ``kdehist
readme``), and the tests hold the package to its rules with the same reading
(:func:`import_graph`, :func:`import_cycles`, :func:`private_imports`): no module over
:data:`MAX_LINES` lines, no import circle (imports inside functions count), and no name
starting with ``_`` imported from another module, except from the shared private helpers
and a private module imported by its one user.

>>> "runs" in import_graph()["frontier"]
True
>>> import_cycles()
[]
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

__all__ = [
    "LAYOUT_END",
    "LAYOUT_START",
    "MAX_LINES",
    "import_cycles",
    "import_graph",
    "layout_markdown",
    "mermaid_graph",
    "module_lines",
    "private_imports",
    "update_layout",
]

#: The largest module the package allows itself.
MAX_LINES = 800
#: Private modules any module may import from.
SHARED_PRIVATE = ("_checks", "_torch_utils")
LAYOUT_START, LAYOUT_END = (
    "<!-- layout:start (kdehist readme) -->",
    "<!-- layout:end -->",
)
PACKAGE = Path(__file__).resolve().parent


@cache
def _trees() -> dict[str, ast.Module]:
    return {
        path.stem: ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.glob("*.py"))
    }


def _imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every package-relative import, at any depth."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:  # from . import x
                found += [(alias.name, []) for alias in node.names]
            else:
                found.append((node.module.split(".")[0], [a.name for a in node.names]))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "kdehist."
        ):
            found.append((node.module.split(".")[1], [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kdehist."):
                    found.append((alias.name.split(".")[1], []))
    return found


def import_graph() -> dict[str, list[str]]:
    """Each module of the package with the package modules it imports, anywhere in it
    (inside functions too), sorted."""
    modules = set(_trees())
    return {
        name: sorted({m for m, _ in _imports(tree) if m in modules and m != name})
        for name, tree in _trees().items()
    }


def import_cycles() -> list[list[str]]:
    """Every import circle of :func:`import_graph`, each as the modules around it
    (the first repeated at the end); ``[]`` when there is none."""
    graph, cycles, seen = import_graph(), [], set()

    def visit(name: str, stack: list[str]) -> None:
        for target in graph[name]:
            if target in stack:
                cycle = stack[stack.index(target) :] + [target]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cycle)
            elif (name, target) not in done:
                done.add((name, target))
                visit(target, stack + [target])

    done: set[tuple[str, str]] = set()
    for name in graph:
        visit(name, [name])
    return cycles


def private_imports() -> list[str]:
    """``"module: name from other"`` for each name starting with ``_`` that a module
    imports from another, apart from :data:`SHARED_PRIVATE` and a private module
    imported by one public module (and that module's own private helpers)."""
    users: dict[str, set[str]] = {}
    for name, tree in _trees().items():
        for module, _ in _imports(tree):
            users.setdefault(module, set()).add(name)
    found = []
    for name, tree in _trees().items():
        for module, names in _imports(tree):
            if module in SHARED_PRIVATE or module == name:
                continue
            public = {u for u in users.get(module, ()) if not u.startswith("_")}
            if module.startswith("_") and len(public) == 1:
                continue  # a private module of one public user (and its helpers)
            if module.startswith("_"):
                found.append(f"{name}: the private module {module}")
            found += [f"{name}: {n} from {module}" for n in names if n.startswith("_")]
    return sorted(set(found))


def module_lines() -> dict[str, int]:
    """The number of lines of each module."""
    return {
        path.stem: len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(PACKAGE.glob("*.py"))
    }


def _concern(tree: ast.Module) -> str:
    doc = (ast.get_docstring(tree) or "").strip().split("\n\n")[0].replace("\n", " ")
    first = re.split(r"[.:]\s+(?=[A-Z(`])", doc)[0]
    first = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", first)  # Sphinx roles, as code
    return first.rstrip(".:").replace("|", "\\|")


#: Modules that most others import, left out of the drawn graph.
UBIQUITOUS = ("_checks", "_torch_utils", "io")


def mermaid_graph() -> str:
    """:func:`import_graph` as a Mermaid flowchart (GitHub draws it), without the
    :data:`UBIQUITOUS` modules."""
    lines = ["```mermaid", "flowchart TD", '  main["__main__"]']
    for name, targets in import_graph().items():
        if name in UBIQUITOUS:
            continue
        source = "main" if name == "__main__" else name
        lines += [f"  {source} --> {t}" for t in targets if t not in UBIQUITOUS]
    return "\n".join(lines + ["```"])


def layout_markdown() -> str:
    """The README's layout block: a table of each public module, its concern (the
    first sentence of its docstring) and the package modules it imports; then
    :func:`mermaid_graph`."""
    graph = import_graph()
    rows = ["| module | concern | imports |", "|---|---|---|"]
    for name, tree in _trees().items():
        if name.startswith("_"):
            continue
        imports = ", ".join(f"`{m}`" for m in graph[name] if not m.startswith("_"))
        rows.append(f"| `{name}` | {_concern(tree)} | {imports or '–'} |")
    note = (
        "An arrow is a relative import, at module level or inside a function; "
        f"{', '.join(f'`{m}`' for m in UBIQUITOUS)}, which most modules use, are left "
        f"out. No module is over {MAX_LINES} lines and the graph has no cycle "
        "(`tests/test_layout.py`)."
    )
    return "\n".join(rows) + "\n\n" + mermaid_graph() + "\n\n" + note


def update_layout(readme) -> bool:
    """Rewrite the README's layout block (between ``LAYOUT_START`` and
    ``LAYOUT_END``) from :func:`layout_markdown`; True if it changed."""
    from .io import atomic_write_bytes

    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    if LAYOUT_START not in text or LAYOUT_END not in text:
        raise ValueError(
            f"readme: expected the markers {LAYOUT_START!r} and {LAYOUT_END!r} "
            f"in {readme}"
        )
    before, rest = text.split(LAYOUT_START, 1)
    after = rest.split(LAYOUT_END, 1)[1]
    new = f"{before}{LAYOUT_START}\n{layout_markdown()}\n{LAYOUT_END}{after}"
    if new != text:
        atomic_write_bytes(readme, new.encode())
    return new != text
