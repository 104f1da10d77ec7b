"""One citation style: the bibliography lists entries under the labels the text cites.

The text cites author and year (``bibtex_reference_style: author_year``), "[Kobayashi
and Wada, 2022]", but pybtex's styles label the list "[KW22]" (alpha) or "[1]" (plain).
This registers a pybtex formatting style ``authoryear`` (``bibtex_default_style``): the
entries of pybtex's unsrt style, sorted by author, year and title, each labelled as the
text cites it: "Monk, 2019", "Kobayashi and Wada, 2022", "Afifi et al., 2021", with a
letter after the year when two entries would share a label.
"""

from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def surname(person) -> str:
    return Text.from_latex(
        " ".join(person.prelast_names + person.last_names)
    ).render_as("text")


def names_and_year(entry) -> tuple[str, str]:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    if not people:
        names = entry.key
    elif len(people) == 1:
        names = surname(people[0])
    elif len(people) == 2:
        names = f"{surname(people[0])} and {surname(people[1])}"
    else:
        names = f"{surname(people[0])} et al."
    return names, entry.fields.get("year", "n.d.")


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = [names_and_year(entry) for entry in sorted_entries]
        shared = Counter(labels)
        seen: Counter = Counter()
        for names, year in labels:
            suffix = ""
            if shared[names, year] > 1:
                suffix = "abcdefghijklmnopqrstuvwxyz"[seen[names, year]]
                seen[names, year] += 1
            yield f"{names}, {year}{suffix}"


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app) -> dict:
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
