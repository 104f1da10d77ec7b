"""``{glue-index}``: a table of every number the chapters glue into their prose.

For each notebook under ``book/`` (in file order), the names its committed outputs glue
(myst-nb's ``glue`` records them as outputs with ``scrapbook`` metadata), the value each
holds, and a link to the chapter. Built from the notebooks at build time, so the table
cannot go stale; a notebook that changes rebuilds the page.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective


def glued(path: Path) -> list[tuple[str, str]]:
    """``(name, value as text)`` for each glued output of a notebook, in cell order."""
    found = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            data = output.get("data", {})  # keys carry glue's mime prefix
            plain = [v for k, v in data.items() if k.endswith("text/plain")]
            text = "".join(plain[0]) if plain else ""
            try:  # glue keeps a string's repr: show the string
                value = ast.literal_eval(text)
                text = value if isinstance(value, str) else text
            except (ValueError, SyntaxError):
                pass
            found.append((name, text))
    return found


class GlueIndex(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        folder = Path(self.env.doc2path(self.env.docname)).parent
        table = nodes.table(classes=["glue-index"])
        group = nodes.tgroup(cols=3)
        table += group
        for width in (3, 2, 3):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self.row([nodes.Text(t) for t in ("name", "value", "chapter")])
        body = nodes.tbody()
        group += body
        for path in sorted(folder.glob("*.ipynb")):
            self.env.note_dependency(str(path))
            docname = self.env.path2doc(str(path))
            for name, value in glued(path):
                link = addnodes.pending_xref(
                    "", refdomain="std", reftype="doc", reftarget=f"/{docname}"
                )
                link += nodes.Text(path.stem)
                link["refexplicit"] = False  # the link reads the chapter's title
                link["refdoc"] = self.env.docname
                body += self.row([nodes.literal(name, name), nodes.Text(value), link])
        return [table]

    @staticmethod
    def row(cells: list[nodes.Node]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", cell)
            row += entry
        return row


def setup(app) -> dict:
    app.add_directive("glue-index", GlueIndex)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
