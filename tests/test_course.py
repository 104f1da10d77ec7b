"""The book as a course (kdehist.course): reading times, and the problem set that one
command writes without solutions."""

import json
import re
from pathlib import Path

import pytest

from kdehist import course

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))


def markdown_of(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def test_the_committed_problem_set_is_what_the_command_writes(tmp_path, capsys):
    out = tmp_path / "problem_set.md"
    assert course.main(["problems", "--book", str(BOOK), "--out", str(out)]) == 0
    assert "exercises" in capsys.readouterr().out
    committed = (BOOK / "problem_set.md").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, (
        "book/problem_set.md is stale: run `python -m kdehist.course problems`"
    )


def test_the_problem_set_has_every_exercise_and_no_solution():
    text = course.problem_set(BOOK)
    labels = [
        label
        for path in CHAPTERS
        for cell in markdown_of(path)
        for label in re.findall(r":::\{exercise\}[^\n]*\n:label: (\S+)", cell)
    ]
    assert len(labels) >= 30
    assert text.count("### Exercise") == len(labels)
    assert "{solution}" not in text and ":label:" not in text and ":class:" not in text
    solutions = [
        body
        for path in CHAPTERS
        for cell in markdown_of(path)
        for body in re.findall(r"^:::\{solution\}.*?\n(.*?)^:::$", cell, re.M | re.S)
    ]
    lines = {
        line.strip()
        for body in solutions
        for line in body.splitlines()
        if len(line.strip()) > 40 and not line.startswith(":")
    }
    leaked = [line for line in lines if line in text]
    assert not leaked, f"solution text in the problem set: {leaked[:3]}"


def test_glued_numbers_point_to_their_chapter():
    text = course.problem_set(BOOK)
    assert "{glue:text}`06_cyclegan_sn.ipynb::ch6_sigma_ratio:s`" in text
    assert not re.search(r"\{glue:text\}`ch\d+_", text)


def test_every_chapter_one_to_seven_has_an_implementation_exercise_and_levels():
    for path in CHAPTERS[:7]:
        found = course.exercises(path)
        assert any(e["text"].startswith("*Implementation.*") for e in found), path.name
        assert all(e["title"].startswith("★") for e in found), path.name


def test_reading_minutes_grow_with_the_text(tmp_path):
    def notebook(words, code_lines, tags=()):
        cells = [
            {"cell_type": "markdown", "metadata": {}, "source": "word " * words},
            {
                "cell_type": "code",
                "metadata": {"tags": list(tags)},
                "source": "x = 1\n" * code_lines,
            },
        ]
        path = tmp_path / f"n{words}_{code_lines}_{len(tags)}.ipynb"
        path.write_text(json.dumps({"cells": cells}))
        return path

    rate = course.WORDS_PER_MINUTE
    assert course.reading_minutes(notebook(0, 0)) == 5  # never under five
    assert course.reading_minutes(notebook(rate * 20, 0)) == 20
    lines = course.CODE_LINES_PER_MINUTE * 10
    assert course.reading_minutes(notebook(rate * 20, lines)) == 30
    assert course.reading_minutes(notebook(rate * 20, lines, ["remove-input"])) == 20


def test_solutions_do_not_count_towards_reading_time(tmp_path):
    solution = ":::{solution} ex-a\n:class: dropdown\n" + "word " * 10_000 + "\n:::"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": solution}]
    path = tmp_path / "solutions.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    assert course.reading_minutes(path) == 5


def test_the_command_names_a_missing_book_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        course.main(["problems", "--book", str(tmp_path / "nowhere")])
    assert "--book: expected the book's folder" in capsys.readouterr().err


def test_no_enumeration_turns_into_a_symbol():
    """The book's replacements extension would print '(c)' as a copyright sign."""
    text = course.problem_set(BOOK)
    prose = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)
    assert not re.search(r"\((c|r|tm|p)\)", prose, re.I)
    assert "(c\\) Ctrl-C" in course._keep_letters("(c) Ctrl-C `(c)`")


def test_glue_reading_minutes_only_where_the_notebook_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert course.glue_reading_minutes("absent.ipynb", "ch1_reading_minutes") is None
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "word " * 2400}]
    (tmp_path / "page.ipynb").write_text(json.dumps({"cells": cells}))
    assert course.glue_reading_minutes("page.ipynb", "ch1_reading_minutes") == 20


def test_jis_table_has_every_class_and_its_reading():
    from kdehist.color import JIS_CLASSES

    table = course.jis_table().splitlines()
    assert len(table) == 2 + len(JIS_CLASSES)
    assert "| A | 1.6 to 3.2 | hardly noticed side by side" in table[4]
    assert table[-1].startswith("| beyond D | 25 and more |")
