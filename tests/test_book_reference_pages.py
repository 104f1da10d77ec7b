"""The appendix's reference pages, read in the built HTML (the ``built_book`` fixture of
conftest.py): the API page without PyTorch's inherited boilerplate, a bibliography
labelled as the text cites it, a command-line page for every command and option, and a
glue page that lists every glued number with its value. The label style and the glue
reader are also checked without a build."""

import html
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def page(built_book, name: str) -> str:
    path = built_book.html / "book" / f"{name}.html"
    assert path.is_file(), f"missing page {path}\n{built_book.log[-3000:]}"
    return path.read_text()


@pytest.mark.slow
def test_api_page_has_no_inherited_torch_boilerplate(built_book):
    api = page(built_book, "api")
    assert "Define the computation performed at every call" not in api, (
        "the API page repeats nn.Module.forward's docstring: keep "
        "autodoc_inherit_docstrings false in _config.yml"
    )
    # A forward with a docstring of its own is still documented.
    assert 'id="kdehist.SoftHistogram.forward"' in api


BIB_LABEL = re.compile(
    r'<span class="label"><span class="fn-bracket">\[</span>(.*?)'
    r'<span class="fn-bracket">\]</span></span>'
)
AUTHOR_YEAR = re.compile(r"^[^\d\[\]]+, \d{4}[a-z]?$")


@pytest.mark.slow
def test_bibliography_is_labelled_as_the_text_cites(built_book):
    bibliography = page(built_book, "bibliography")
    # A label cited on the same page links back to the citation: keep its text.
    labels = [
        re.sub(r"<[^>]+>", "", label) for label in BIB_LABEL.findall(bibliography)
    ]
    assert len(labels) >= 15, f"only {len(labels)} bibliography entries: {labels}"
    not_author_year = [label for label in labels if not AUTHOR_YEAR.match(label)]
    assert not not_author_year, (
        f"labels that are not 'Author, year' as the text cites: {not_author_year}"
    )
    first_authors = [re.split(r"[ ,]", label)[0].casefold() for label in labels]
    assert first_authors == sorted(first_authors), f"not sorted by author: {labels}"
    intro = page(built_book, "intro")
    assert ">Kobayashi and Wada, 2022</a>" in intro  # the citation in the text
    assert "Kobayashi and Wada, 2022" in labels  # and the label it points to
    assert "Masaya Kobayashi and Naoya Wada" in bibliography


@pytest.mark.slow
def test_command_line_page_documents_every_command_and_option(built_book):
    import argparse

    from kdehist import notebooks
    from kdehist.__main__ import build_parser

    cli = page(built_book, "cli")
    parsers = {"python -m kdehist": build_parser()}
    commands = next(
        a for a in parsers["python -m kdehist"]._actions if a.choices and a.dest
    )
    for name, sub in commands.choices.items():
        parsers[f"python -m kdehist {name}"] = sub
    parsers["python -m kdehist.notebooks"] = notebooks.build_parser()
    missing = []
    for prog, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            names = action.option_strings or [action.dest]
            if not any(name in cli for name in names):
                missing.append(f"{prog} {names[0]}")
    assert not missing, f"options not on the command-line page: {missing}"
    # Sphinx's smartquotes turn "--set" in a help text into an en dash and a word.
    text = re.sub(r"<[^>]+>", "", cli)
    dashed = re.findall(r".{30}\u2013[a-z].{20}", text)
    assert not dashed, f"options written with an en dash on the CLI page: {dashed}"


def glued(path: Path) -> list[tuple[str, str]]:
    """(name, value) of each number a notebook glues, as book/_ext reads them."""
    sys.path.insert(0, str(BOOK / "_ext"))
    try:
        from glue_index import glued as read
    finally:
        sys.path.remove(str(BOOK / "_ext"))
    return read(path)


def all_glued() -> list[tuple[str, str]]:
    return [pair for path in sorted(BOOK.glob("*.ipynb")) for pair in glued(path)]


def test_glued_names_follow_the_convention_of_the_glue_page():
    pairs = all_glued()
    assert len(pairs) > 50, f"only {len(pairs)} glued names in the notebooks"
    names = [name for name, _ in pairs]
    twice = sorted({name for name in names if names.count(name) > 1})
    assert not twice, f"names glued twice (one name, one value): {twice}"
    assert all(value for _, value in pairs), [n for n, v in pairs if not v]
    assert not [v for _, v in pairs if v[:1] in "'\""], "values keep their quotes"
    # ch<N>_<what>, N the number of the chapter that computes it (book/glue.md).
    wrong = [
        (path.name, name)
        for path in sorted(BOOK.glob("*.ipynb"))
        for name, _ in glued(path)
        if not (path.stem[:2].isdigit() and name.startswith(f"ch{int(path.stem[:2])}_"))
    ]
    assert not wrong, f"glued names that do not start with their chapter: {wrong}"


@pytest.mark.slow
def test_glue_page_lists_every_glued_number(built_book):
    glue = page(built_book, "glue")
    assert "glue-index" in glue, "no table of glued numbers on the glue page"
    # The table's text, one row a line, with the typography smartquotes adds undone.
    table = " ".join(glue[glue.index("glue-index") :].split()).replace("</tr>", "\n")
    table = html.unescape(re.sub(r"<[^>]+>", " ", table)).replace("\u2019", "'")
    rows = {" ".join(line.split()) for line in table.splitlines()}
    missing = [
        (name, value)
        for name, value in all_glued()
        if not any(row.startswith(f"{name} {' '.join(value.split())} ") for row in rows)
    ]
    assert not missing, f"glued numbers missing from the glue page: {missing}"


def test_author_year_labels():
    from pybtex.database import parse_string

    sys.path.insert(0, str(BOOK / "_ext"))
    try:
        from author_year import AuthorYearLabels
    finally:
        sys.path.remove(str(BOOK / "_ext"))
    entries = parse_string(
        """
        @misc{a, author = {Monk, Ellis}, year = {2019}}
        @misc{b, author = {Kobayashi, Masaya and Wada, Naoya}, year = {2022}}
        @misc{c, author = {Choi, Y. and Uh, Y. and Yoo, J.}, year = {2020}}
        @misc{d, author = {Choi, Y. and Choi, M. and Kim, M.}, year = {2020}}
        @misc{e, author = {Perez, E. and de Vries, H. and Dumoulin, V.}, year = {2018}}
        @misc{f, author = {Bottou, L{\\'e}on}, year = {2017}}
        """,
        "bibtex",
    ).entries.values()
    assert list(AuthorYearLabels().format_labels(list(entries))) == [
        "Monk, 2019",
        "Kobayashi and Wada, 2022",
        "Choi et al., 2020a",
        "Choi et al., 2020b",
        "Perez et al., 2018",
        "Bottou, 2017",
    ]
