"""The book as a course: chapter reading times, and a problem set without solutions.

``python -m kdehist.course problems`` collects the exercises of every chapter from the
notebooks, leaves out their solutions, and writes the book's page *Problem set*
(``book/problem_set.md``); the book build renders it like any page, with its maths and
cross-references, and an instructor prints it or hands out its HTML. A test checks that
the committed page is what the command writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

__all__ = [
    "WORDS_PER_MINUTE",
    "CODE_LINES_PER_MINUTE",
    "JIS_READING",
    "reading_minutes",
    "glue_reading_minutes",
    "jis_table",
    "exercises",
    "problem_set",
    "write_problem_set",
    "main",
]

#: Reading speed for technical prose with equations, in words per minute, a round
#: estimate (:func:`reading_minutes` rounds its result to five minutes).
WORDS_PER_MINUTE = 120
#: Reading speed for the code a page shows, in lines per minute.
CODE_LINES_PER_MINUTE = 20

_FENCE = re.compile(r"^:::\{(exercise|solution)\}[^\n]*\n(.*?)^:::$", re.M | re.S)
_LABEL = re.compile(r"^:label: (\S+)\n", re.M)
_OPTION = re.compile(r"^:[a-z-]+:.*\n", re.M)
_GLUE = re.compile(r"\{glue:text\}`([a-z0-9_]+)`")
# The book's "replacements" extension turns (c), (r), (tm) and (p) into symbols: an
# enumeration's "(c)" would print as a copyright sign. Escaping the closing parenthesis
# keeps the letters (outside code, where a backslash would show).
_SYMBOL = re.compile(r"\((c|r|tm|p)\)", re.I)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def _keep_letters(text: str) -> str:
    return "".join(
        part if part.startswith("`") else _SYMBOL.sub(r"(\1\\)", part)
        for part in _CODE.split(text)
    )


def _cells(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["cells"]


def _without_solutions(markdown: str) -> str:
    return "".join(
        part
        for part in re.split(r"(^:::\{solution\}.*?^:::$)", markdown, flags=re.M | re.S)
        if not part.startswith(":::{solution}")
    )


def reading_minutes(path: str | Path) -> int:
    """Estimated reading time of a chapter notebook, in minutes, rounded to five.

    Counts the words of its Markdown cells, solutions left out, at
    :data:`WORDS_PER_MINUTE`, and the lines of the code cells a reader sees (not those
    tagged ``remove-input`` or ``remove-cell``) at :data:`CODE_LINES_PER_MINUTE`.
    """
    words = lines = 0
    for cell in _cells(Path(path)):
        source = "".join(cell["source"])
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "markdown":
            words += len(_without_solutions(source).split())
        elif cell["cell_type"] == "code" and not tags & {"remove-input", "remove-cell"}:
            lines += len([line for line in source.splitlines() if line.strip()])
    minutes = words / WORDS_PER_MINUTE + lines / CODE_LINES_PER_MINUTE
    return max(5, 5 * round(minutes / 5))


def glue_reading_minutes(notebook: str | Path, name: str) -> int | None:
    """Glue a chapter's :func:`reading_minutes` under ``name`` for its page, when the
    notebook is a file in the working folder (it is when the book's notebooks are
    executed; on Colab it is not, and nothing is glued). Returns the minutes or None."""
    from .notebooks import glue

    path = Path(notebook)
    if not path.is_file():
        return None
    minutes = reading_minutes(path)
    glue(name, f"{minutes}")
    return minutes


#: The reading of each JIS tolerance class of a colour difference, from the paper's
#: Table 1 for A to D, and the standard's finer classes below them.
JIS_READING = {
    "AAA": "the finest class of the standard: a difference near the limit of vision",
    "AA": "noticed by a trained observer side by side",
    "A": "hardly noticed side by side; generally taken as the same colour",
    "B": "the same colour at the impression level",
    "C": "about one step of the JIS colour chips or the Munsell chart",
    "D": "distinguishable by systematic colour names",
    "beyond D": "another colour name",
}


def jis_table() -> str:
    """The JIS classes as a Markdown table: class, ΔE range (from
    ``kdehist.color.JIS_CLASSES``) and :data:`JIS_READING`."""
    from .color import JIS_CLASSES

    rows = ["| class | ΔE | reading |", "|---|---|---|"]
    for name, low, high in JIS_CLASSES:
        span = f"{low:g} to {high:g}" if high != float("inf") else f"{low:g} and more"
        rows.append(f"| {name} | {span} | {JIS_READING[name]} |")
    return "\n".join(rows)


def _title(cells: list[dict]) -> str:
    for cell in cells:
        if cell["cell_type"] == "markdown":
            first = "".join(cell["source"]).lstrip().splitlines()[0]
            if first.startswith("# "):
                return first[2:].strip()
    raise ValueError("notebook: expected a '# ' title in its first Markdown cell")


def exercises(path: str | Path) -> list[dict[str, str]]:
    """The exercises of one chapter notebook, in order: ``{"label", "title", "text"}``,
    the text without its directive options and without the solution."""
    found = []
    for cell in _cells(Path(path)):
        if cell["cell_type"] != "markdown":
            continue
        for match in _FENCE.finditer("".join(cell["source"])):
            if match.group(1) != "exercise":
                continue
            head = match.group(0).splitlines()[0]
            body = match.group(2)
            label = _LABEL.search(body)
            if label is None:
                raise ValueError(f"{path}: an exercise without a :label:")
            found.append(
                {
                    "label": label.group(1),
                    "title": head[len(":::{exercise}") :].strip(),
                    "text": _OPTION.sub("", body).strip(),
                }
            )
    return found


def problem_set(book: str | Path = "book") -> str:
    """The Markdown (MyST) source of the problem set: every chapter's exercises, in
    the book's order, with their glued numbers pointing to their chapter and no
    solutions."""
    book = Path(book)
    chapters = sorted(p for p in book.glob("[0-9][0-9]_*.ipynb"))
    parts = [
        "# Problem set",
        "",
        "Every exercise of the book, without its solution, for an instructor to hand "
        "out. Each is marked ★ (warm-up), ★★ (core) or ★★★ (stretch); the solutions "
        "are folded under the exercises in the chapters. This page is written by "
        "`python -m kdehist.course problems` ({doc}`instructors`); do not edit it by "
        "hand.",
    ]
    for path in chapters:
        cells = _cells(path)
        found = exercises(path)
        if not found:
            continue
        number = int(path.stem[:2])
        parts += ["", f"## {number}. {_title(cells)}", ""]
        parts.append(f"From chapter {{doc}}`{path.stem}`.")
        for index, exercise in enumerate(found, start=1):
            text = _GLUE.sub(
                lambda m, name=path.name: f"{{glue:text}}`{name}::{m.group(1)}:s`",
                exercise["text"],
            )
            title = f" ({exercise['title']})" if exercise["title"] else ""
            parts += ["", f"### Exercise {number}.{index}{title}", ""]
            parts.append(_keep_letters(text))
    return "\n".join(parts) + "\n"


def write_problem_set(book: str | Path = "book", out: str | Path | None = None) -> Path:
    """Write :func:`problem_set` to ``out`` (default ``<book>/problem_set.md``)."""
    out = Path(out) if out is not None else Path(book) / "problem_set.md"
    out.write_text(problem_set(book), encoding="utf-8")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kdehist.course",
        description="The book as a course: write the problem set without solutions.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    problems = commands.add_parser(
        "problems",
        help="write the problem set (every exercise, no solutions) as a book page",
    )
    problems.add_argument(
        "--book", type=Path, default=Path("book"), help="the book's folder (book)"
    )
    problems.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write it (default: <book>/problem_set.md)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.book.is_dir():
        parser.error(f"--book: expected the book's folder, got {str(args.book)!r}")
    out = write_problem_set(args.book, args.out)
    print(f"wrote {out}: {problem_set(args.book).count('### Exercise')} exercises")
    return 0


if __name__ == "__main__":
    sys.exit(main())
