"""The book builds with warnings as errors, with every chapter page and its Colab
link, and its tables are HTML tables. The book is built once per session (the
``built_book`` fixture in conftest.py).
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [
        c["file"] for part in toc["parts"] for c in part["chapters"]
    ]


@pytest.mark.slow
def test_book_builds_with_warnings_as_errors(built_book):
    assert built_book.returncode == 0, built_book.log[-5000:]
    html = built_book.html
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    org_repo = config["repository"]["url"].removeprefix("https://github.com/")
    for page in toc_pages():
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


class PageText(HTMLParser):
    """A built page's tables (header and body cell texts) and the prose a reader sees:
    its text outside scripts, styles and code (code cells may hold pipe-table strings).
    """

    HIDDEN = {"script", "style", "pre", "code", "textarea", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.prose: list[str] = []
        self._hidden = 0
        self._table = None  # the table being read
        self._section = None  # "thead" or "tbody"
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag == "table":
            self._table = {"header": [], "rows": []}
        elif self._table is not None:
            if tag in ("thead", "tbody"):
                self._section = tag
            elif tag == "tr":
                self._row = []
            elif tag in ("th", "td"):
                self._cell = []

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif self._table is None:
            return
        elif tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._section == "thead":
                self._table["header"] += self._row
            else:
                self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self.tables.append(self._table)
            self._table = self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if not self._hidden:
            self.prose.append(data)


def read_page(path: Path) -> PageText:
    page = PageText()
    page.feed(path.read_text())
    page.close()
    return page


# A markdown table's delimiter row, |---|---| or | :--- | ---: |, left as text.
PIPE_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")


@pytest.mark.slow
def test_chapter9_tables_are_html_tables(built_book):
    # Table 2 and the JIS table are display(Markdown(...)) outputs: myst-nb renders them
    # as CommonMark, which has no tables, unless _config.yml sets
    # nb_render_markdown_format.
    page = read_page(built_book.html / "book" / "09_evaluation.html")
    header = [" ".join(t["header"]) for t in page.tables]
    table2 = [i for i, h in enumerate(header) if "ΔE76" in h]
    jis = [i for i, h in enumerate(header) if "class" in h.lower()]
    assert table2, (
        "no HTML table whose header names ΔE76 (Table 2) in chapter 9; "
        f"headers: {header}"
    )
    assert jis, (
        "no HTML table whose header names the JIS class in chapter 9; "
        f"headers: {header}"
    )
    assert any(i != j for i in table2 for j in jis), (
        f"Table 2 and the JIS table are not two tables: {header}"
    )
    assert any(len(page.tables[i]["rows"]) >= 4 for i in table2), (
        "Table 2 has fewer rows than its four variants"
    )
    classes = {cell for j in jis for row in page.tables[j]["rows"] for cell in row}
    assert {"A", "B", "C", "D"} <= classes, (
        f"no table lists the JIS classes A to D: {sorted(classes)}"
    )


@pytest.mark.slow
def test_no_page_shows_markdown_pipe_tables_as_text(built_book):
    shown = {}
    for page in toc_pages():
        text = "".join(read_page(built_book.html / f"{page}.html").prose)
        found = PIPE_TABLE.search(text)
        if found:
            shown[page] = text[max(0, found.start() - 80) : found.end() + 80]
    assert not shown, f"markdown table text shown instead of a table: {shown}"
