"""Sphinx extension for the published book (listed in _config.yml's local_extensions).

- **Maths without a network.** When npm has installed MathJax 3 (``make`` runs
  ``tools/node_packages.py``), the pages load it from ``_static/mathjax`` in the build
  itself instead of the jsDelivr CDN, so the site and the PDF typeset their maths
  offline. Without it the pages keep the CDN; the build says so at info level only (a
  warning would fail the ``-W`` build) and ``make`` prints a note.
- **A single-page build that works** (``make pdf`` prints it): nodes that extensions
  taught only the HTML builder are taught the single-page builder too.
- **Site links that work from every page.** Links in the footer (``extra_footer``) that
  start with the book's ``baseurl`` are made relative to each page, so the footer's
  link to the PDF works on GitHub Pages, on any other host and from a local folder.
"""

import re
import shutil
from pathlib import Path

from sphinx.util import logging

import node_packages

logger = logging.getLogger(__name__)

MATHJAX_STATIC = "mathjax"  # under _static
# The parts of MathJax's es5 folder that tex-mml-chtml.js loads, at once or on demand
# (TeX extensions, fonts, the menu's accessibility tools); not the other bundles.
MATHJAX_PARTS = ["tex-mml-chtml.js", "a11y", "adaptors", "input", "output/chtml", "sre"]
MATHJAX_PARTS += ["ui"]


def use_local_mathjax(app, config):
    es5 = node_packages.mathjax_es5()
    app.kdehist_mathjax = es5
    if es5 is None:
        logger.info(
            "kdehist: MathJax 3 is not installed from npm (python "
            "tools/node_packages.py); the pages load it from the CDN"
        )
        return
    config.mathjax_path = f"{MATHJAX_STATIC}/tex-mml-chtml.js"
    logger.info(f"kdehist: serving MathJax 3 from the build ({es5})")


def copy_mathjax(app, exception):
    es5 = getattr(app, "kdehist_mathjax", None)
    if exception is not None or es5 is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / MATHJAX_STATIC
    for part in MATHJAX_PARTS:
        source = es5 / part
        if source.is_dir():
            shutil.copytree(source, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / part)
    # MathJax is Apache-2.0: its licence travels with it.
    shutil.copy2(es5.parent / "LICENSE", target / "LICENSE")


def relative_footer_links(app, pagename, templatename, context, doctree):
    footer = context.get("theme_extra_footer")
    base = app.config.html_baseurl
    if not footer or not base or "pathto" not in context:
        return
    base = re.escape(base.rstrip("/") + "/")
    context["theme_extra_footer"] = re.sub(
        f'href="{base}([^"#?]+)',
        lambda m: f'href="{context["pathto"](m.group(1), 1)}',
        footer,
    )


def html_visitors_for_singlehtml(app):
    """Give the single-page builder (the PDF's) every HTML visitor it lacks.

    Sphinx falls back from a builder's name to its format ("html") only when no
    extension registered a visitor under the name "singlehtml" at all; once one has,
    nodes registered for "html" only (myst-nb's hidden-cell node) fail the build.
    """
    if app.builder.name != "singlehtml":
        return
    handlers = app.registry.translation_handlers
    single = handlers.setdefault("singlehtml", {})
    for node_name, visitors in handlers.get("html", {}).items():
        single.setdefault(node_name, visitors)


def setup(app):
    app.connect("builder-inited", html_visitors_for_singlehtml)
    app.connect("config-inited", use_local_mathjax)
    app.connect("build-finished", copy_mathjax)
    app.connect("html-page-context", relative_footer_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
