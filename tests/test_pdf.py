"""The whole-book PDF (``make pdf``, ``tools/book_pdf.py``), made once and read back
with pypdf: every chapter's title is in its text and its bookmarks, the figures are
embedded, no raw TeX is left, and the pages are numbered.

Needs Chromium (Debian's ``chromium``, as the browser tests); skips without it.
About a minute: a single-page build of the book, then Chromium prints it.
"""

import json
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
PRINT_S = 1800

sys.path.insert(0, str(TOOLS))
from book_pdf import find_chromium  # noqa: E402


def toc_files() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return [
        next(p for p in (ROOT / f"{f}.ipynb", ROOT / f"{f}.md") if p.is_file())
        for f in files
    ]


def markdown_sources(path: Path) -> list[str]:
    if path.suffix == ".md":
        return [path.read_text()]
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def title(path: Path) -> str:
    for source in markdown_sources(path):
        found = re.search(r"^# (.+)$", source, flags=re.M)
        if found:
            return found.group(1).strip()
    raise AssertionError(f"{path.name} has no '# ' title")


def notebook_images() -> int:
    """How many image outputs the notebooks show (the book's figures)."""
    count = 0
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                count += any(k in data for k in ("image/png", "image/jpeg"))
    return count


def tex_commands() -> set[str]:
    """The TeX commands of the book's maths that no code cell also prints (code may
    legitimately show a matplotlib label such as ``$\\sigma$``)."""
    maths, code = set(), set()
    for path in toc_files():
        for source in markdown_sources(path):
            maths |= set(re.findall(r"\\[A-Za-z]+", source))
        if path.suffix == ".ipynb":
            for cell in json.loads(path.read_text())["cells"]:
                if cell["cell_type"] == "code":
                    code |= set(re.findall(r"\\[A-Za-z]+", json.dumps(cell)))
    return maths - code - {"\\n"}


@dataclass
class Pdf:
    path: Path
    log: str
    pages: list[str]  # the text of each page, NFKC-normalised (ligatures undone)
    reader: object


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text))


@pytest.fixture(scope="module")
def book_pdf(tmp_path_factory) -> Pdf:
    if find_chromium() is None:
        pytest.skip(
            "no Chromium to print the PDF with: install Debian's chromium, or set "
            "KDEHIST_CHROMIUM"
        )
    from pypdf import PdfReader

    scratch = tmp_path_factory.mktemp("pdf")
    out = scratch / "kdehist.pdf"
    result = subprocess.run(
        [sys.executable, str(TOOLS / "book_pdf.py"), "--out", str(out)]
        + ["--build-dir", str(scratch), "--no-site-copy"],
        capture_output=True,
        text=True,
        timeout=PRINT_S,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0 and out.is_file(), log[-5000:]
    reader = PdfReader(out)
    pages = [normalise(page.extract_text() or "") for page in reader.pages]
    return Pdf(out, log, pages, reader)


def outline_titles(reader) -> list[str]:
    titles = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                titles.append(normalise(item.title))

    walk(reader.outline)
    return titles


@pytest.mark.slow
def test_every_chapter_title_is_in_the_text_and_the_bookmarks(book_pdf):
    text = " ".join(book_pdf.pages)
    bookmarks = outline_titles(book_pdf.reader)
    titles = [normalise(title(path)) for path in toc_files()]
    assert len(titles) >= 15
    missing = [t for t in titles if t not in text]
    assert not missing, f"chapter titles not in the PDF's text: {missing}"
    # The book's own title opens it; each chapter and appendix has a bookmark.
    assert titles[0] in book_pdf.pages[0]
    unmarked = [t for t in titles[1:] if not any(b.endswith(t) for b in bookmarks)]
    assert not unmarked, f"chapters without a bookmark: {unmarked}\n{bookmarks}"
    # Chapters carry their numbers, 1 to 11, as on the site.
    chapters = [t for path, t in zip(toc_files(), titles) if path.stem[:2].isdigit()]
    assert len(chapters) == 11
    for number, chapter in enumerate(chapters, 1):
        assert f"{number}. {chapter}" in bookmarks, f"no bookmark '{number}. {chapter}'"


@pytest.mark.slow
def test_figures_are_embedded(book_pdf):
    images = set()
    for page in book_pdf.reader.pages:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        for ref in xobjects.values():
            xobject = ref.get_object()
            if xobject.get("/Subtype") == "/Image" and xobject.get("/Width", 0) > 64:
                images.add(ref.idnum if hasattr(ref, "idnum") else id(xobject))
    expected = notebook_images()
    assert expected >= 20
    assert len(images) >= expected, (
        f"{len(images)} images embedded in the PDF, the notebooks show {expected}"
    )


@pytest.mark.slow
def test_no_raw_tex_is_left(book_pdf):
    commands = tex_commands()
    assert {"\\frac", "\\sum", "\\sigma"} & commands, "no maths found in the sources"
    pattern = re.compile(
        "|".join(re.escape(c) + r"(?![A-Za-z])" for c in sorted(commands))
        + r"|\$\$|\\\(|\\\["
    )
    found = [
        (number + 1, m.group(), page[max(0, m.start() - 60) : m.end() + 60])
        for number, page in enumerate(book_pdf.pages)
        for m in pattern.finditer(page)
    ]
    assert not found, f"raw TeX in the PDF (page, command, context): {found[:10]}"
    # MathJax ran: its output (e.g. the sigma of the kernel) is in the text.
    assert "σ" in " ".join(book_pdf.pages)


@pytest.mark.slow
def test_pages_are_numbered_and_maths_came_from_the_build(book_pdf):
    total = len(book_pdf.pages)
    assert total > 100, f"only {total} pages"
    for number in (1, total // 2, total):
        assert f"{number} / {total}" in book_pdf.pages[number - 1]
    assert "formulas typeset" in book_pdf.log
    formulas = int(re.search(r"(\d+) formulas typeset", book_pdf.log).group(1))
    assert formulas > 300, book_pdf.log[-2000:]
    assert "0 broken" in book_pdf.log
