"""Equations numbered as in the paper, and referenced with MyST's ``{eq}`` role.

Sphinx numbers labelled equations itself, per page or per chapter ("(2.1)"), but the
book follows the paper's numbers (1)-(12) across chapters. A labelled display equation
whose TeX carries ``\\tag{n}`` is numbered ``n``::

    $$
    f_I(g) = \\frac{1}{N B} \\sum_{x \\in \\Omega} K(\\ldots) \\tag{1}
    $$ (eq-kde)

The tag leaves the TeX (Sphinx prints the number beside the equation) and becomes the
equation's number, so that ``{eq}`eq-kde``` reads "(1)" on every page. A numbered
equation without a tag would get Sphinx's own count, which clashes with the paper's
numbers: it is a warning (an error in the ``-W`` build). Needs ``math_numfig: false``,
else Sphinx renumbers every equation by chapter.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

TAG = re.compile(r"\\tag\{([^{}]+)\}")


def number_as_tagged(app: Sphinx, doctree: nodes.document) -> None:
    domain = app.env.get_domain("math")
    docname = app.env.docname
    for node in doctree.findall(nodes.math_block):
        label = node.get("label")
        if not label:
            continue  # unnumbered: MathJax shows any \tag itself
        latex = node.astext()
        tags = TAG.findall(latex)
        if len(tags) != 1:
            logger.warning(
                "labelled equation %r: expected one \\tag{n} giving its number in "
                "the paper, got %d; without a label it stays unnumbered",
                label,
                len(tags),
                location=node,
                type="paper_equations",
            )
            continue
        untagged = TAG.sub("", latex).rstrip()
        node.clear()
        node += nodes.Text(untagged)
        node["number"] = tags[0]
        domain.equations[label] = (docname, tags[0])


def check_config(app: Sphinx, config) -> None:
    if config.math_numfig:
        logger.warning(
            "paper_equations: math_numfig must be false, else Sphinx numbers the "
            "equations by chapter instead of with their \\tag",
            type="paper_equations",
        )


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_config)
    app.connect("doctree-read", number_as_tagged)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
