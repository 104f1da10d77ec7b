"""The book's maths, read in a real browser: every page of the built book opens in
headless Chromium, MathJax 3 typesets it, and then no page shows a MathJax error or raw
TeX (a ``$`` delimiter, ``\\gamma``, ``\\frac``, ``\\begin{...}``) outside code.

A source-level check cannot see these: a display equation inside a list item, or a
``$`` that MyST does not pair, reaches the page as plain text, and only a browser
running MathJax shows whether it became maths.

The built pages load MathJax 3 from the build itself (``_static/mathjax``), copied
there from npm's ``mathjax`` package, which ``tools/node_packages.py`` installs with
``npm ci`` into a cache folder (``$KDEHIST_CACHE/npm``, default
``~/.cache/kdehist/npm``; ``make`` runs it first). ``$KDEHIST_MATHJAX`` may name an
unpacked ``mathjax`` package folder instead. A page built without it (no npm) loads the
jsDelivr CDN: the test then answers those requests from the npm copy. Every other
request that would leave the machine is aborted, and one test opens pages with every
such request blocked, as a reader offline would. Skips when Chromium or npm is missing.
"""

import functools
import http.server
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import node_packages  # noqa: E402

MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"
MATHJAX_ENTRY = "es5/tex-mml-chtml.js"  # the script the built pages load from the CDN
TYPESET_S = 60
MAX_SHOWN = 20  # raw TeX snippets reported per page
MATHJAX_MESSAGE = re.compile(r"mathjax|\btex\b", re.I)

# Raw TeX in a page's text: a dollar delimiter (not a shell variable such as
# $KDEHIST_PROFILE), a \command, or \( \[ delimiters that MathJax did not consume.
RAW_TEX = re.compile(r"\$(?![A-Z_][A-Z0-9_]*\b)|\\[A-Za-z]+|\\[(\[]")

# The text a reader sees as prose: every text node outside code, scripts, styles and
# MathJax's own output (whose assistive MathML repeats the TeX's content).
PROSE_TEXT_JS = """() => {
  const skip = new Set(["PRE", "CODE", "KBD", "SAMP", "SCRIPT", "STYLE", "TEXTAREA",
                        "TEMPLATE", "MJX-CONTAINER", "MJX-ASSISTIVE-MML", "NOSCRIPT"]);
  const texts = [];
  if (!document.body) return "";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let e = node.parentElement; e; e = e.parentElement) {
        if (skip.has(e.tagName) || e.classList.contains("highlight")) {
          return NodeFilter.FILTER_REJECT;
        }
      }
      return NodeFilter.FILTER_ACCEPT;
    },
  });
  while (walker.nextNode()) texts.push(walker.currentNode.nodeValue);
  return texts.join(" ").replace(/\\s+/g, " ");
}"""

# Resolves once MathJax has typeset the page; null on a page without MathJax.
TYPESET_JS = """async () => {
  if (!document.querySelector('script[src*="mathjax"]')) return null;
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await MathJax.startup.promise;
  return document.querySelectorAll("mjx-container").length;
}"""

# Formulas MathJax could not read: a TeX error (merror) or an undefined macro, which
# MathJax's noundefined extension shows in red instead of failing.
ERRORS_JS = """() => {
  const errors = [];
  for (const item of MathJax.startup.document.math) {
    const mml = MathJax.startup.toMML(item.root);
    const error = mml.match(/data-mjx-error="([^"]*)"/);
    const undefinedMacro = mml.match(/<mtext mathcolor="red">(\\\\[^<]*)</);
    if (error) errors.push(`${error[1]} in ${item.math}`);
    else if (/<merror/.test(mml)) errors.push(`error in ${item.math}`);
    if (undefinedMacro) errors.push(`undefined ${undefinedMacro[1]} in ${item.math}`);
  }
  return errors;
}"""


def npm_mathjax() -> Path:
    """The ``mathjax`` package folder (holding es5/), from npm, installed once."""
    es5 = node_packages.mathjax_es5()  # $KDEHIST_MATHJAX, or the npm ci install
    if es5 is None:
        if shutil.which("npm") is None:
            pytest.skip(
                "no npm to install MathJax 3 with (Debian package npm), and "
                "KDEHIST_MATHJAX does not name an unpacked mathjax package"
            )
        try:
            es5 = node_packages.install() / "mathjax" / "es5"
        except (OSError, RuntimeError) as error:
            pytest.fail(f"could not install the node packages: {error}")
    assert (es5.parent / MATHJAX_ENTRY).is_file(), es5
    return es5.parent


@pytest.fixture(scope="session")
def mathjax() -> Path:
    return npm_mathjax()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    """The browser leaves a page before all its images arrive: no traceback for that."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def book_server(built_book):
    """The built HTML on 127.0.0.1 (MathJax's fonts load over http, not file:)."""
    assert (built_book.html / "book").is_dir(), built_book.log[-5000:]
    handler = functools.partial(QuietHandler, directory=str(built_book.html))
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", built_book.html
    finally:
        server.shutdown()
        server.server_close()


def book_pages(html: Path) -> list[str]:
    """Every HTML page of the book, relative to the HTML root."""
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    return sorted(
        str(p.relative_to(html))
        for p in html.rglob("*.html")
        if not skip & set(p.relative_to(html).parts)
    )


def snippet(text: str, start: int, end: int, width: int = 60) -> str:
    return "…" + text[max(0, start - width) : end + width] + "…"


def check_pages(chromium: dict, mathjax: Path, url: str, pages: list[str]) -> dict:
    """Open each page, wait for MathJax, and return {page: [problems]} for bad pages,
    plus {"(typeset)": count of typeset formulas} so the caller can tell MathJax ran."""
    from playwright.sync_api import sync_playwright

    problems: dict[str, list[str]] = {}
    typeset = 0

    def serve(route):
        request_url = route.request.url
        if request_url.startswith(url):
            return route.continue_()
        if request_url.startswith(MATHJAX_CDN):
            local = mathjax / request_url.removeprefix(MATHJAX_CDN).split("?")[0]
            if local.is_file():
                return route.fulfill(path=local)
            return route.fulfill(status=404, body=f"not in npm mathjax: {local}")
        return route.abort()  # the test never leaves the machine

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium)
        try:
            context = browser.new_context()
            context.route("**/*", serve)
            page = context.new_page()
            # MathJax's messages only: the theme's own scripts have unrelated errors
            # (sphinx-thebe declares THEBE_JS_URL twice).
            console: list[str] = []
            page.on(
                "console",
                lambda m: (
                    console.append(m.text)
                    if m.type in ("error", "warning") and MATHJAX_MESSAGE.search(m.text)
                    else None
                ),
            )
            page.on(
                "pageerror",
                lambda e: (
                    console.append(f"page error: {e} {e.stack}")
                    if MATHJAX_MESSAGE.search(f"{e} {e.stack}")
                    else None
                ),
            )
            for name in pages:
                console.clear()
                found = []
                page.goto(f"{url}/{name}", wait_until="load")
                try:
                    count = page.wait_for_function(
                        TYPESET_JS, timeout=TYPESET_S * 1000
                    ).json_value()
                except Exception as error:  # Playwright's TimeoutError, say which page
                    found.append(f"MathJax did not finish typesetting: {error}")
                    count = 0
                typeset += count or 0
                if count is not None:
                    found += [f"MathJax: {e}" for e in page.evaluate(ERRORS_JS)]
                found += [f"console: {m}" for m in console]
                text = page.evaluate(PROSE_TEXT_JS)
                found += [
                    f"raw TeX {m.group()!r}: {snippet(text, m.start(), m.end())}"
                    for m in list(RAW_TEX.finditer(text))[:MAX_SHOWN]
                ]
                if found:
                    problems[name] = found
            context.close()
        finally:
            browser.close()
    return {"problems": problems, "typeset": typeset}


@pytest.mark.slow
def test_every_page_typesets_without_errors_or_raw_tex(chromium, mathjax, book_server):
    url, html = book_server
    pages = book_pages(html)
    assert any(p.startswith("book/") for p in pages), f"no book pages under {html}"
    result = check_pages(chromium, mathjax, url, pages)
    problems = result["problems"]
    report = "\n".join(
        f"{page}:\n" + "\n".join(f"  - {p}" for p in found)
        for page, found in problems.items()
    )
    assert not problems, f"maths problems on {len(problems)} page(s):\n{report}"
    # The book derives its method in equations: none typeset means MathJax never ran.
    assert result["typeset"] > 100, f"only {result['typeset']} formulas typeset"


EQUATION = re.compile(r'id="equation-([^"]+)">\s*<span class="eqno">\(([^)]*)\)')
EQUATION_LINK = re.compile(r'href="([\w.]*)#equation-([^"]+)">\(([^)]*)\)</a>')


@pytest.mark.slow
def test_equations_carry_the_papers_numbers(built_book):
    """Equations (1)-(12) each once, numbered as in the paper, and every {eq}
    reference shows the number of the equation it links to."""
    numbers: dict[str, str] = {}  # label -> number
    where: dict[str, list[str]] = {}  # number -> pages
    links = []
    for path in sorted((built_book.html / "book").glob("*.html")):
        text = path.read_text()
        for label, number in EQUATION.findall(text):
            numbers[label] = number
            where.setdefault(number, []).append(path.stem)
        links += [(path.stem, *link) for link in EQUATION_LINK.findall(text)]
    assert sorted(where, key=int) == [str(n) for n in range(1, 13)], (
        f"numbered equations: {where}"
    )
    assert all(len(pages) == 1 for pages in where.values()), f"numbered twice: {where}"
    wrong = [link for link in links if numbers.get(link[2]) != link[3]]
    assert not wrong, (
        f"references that show another number than their equation's: {wrong}"
    )
    assert len(links) >= 12, f"only {len(links)} {{eq}} references in the book"


# Pages with many formulas, display and inline, from both halves of the book.
OFFLINE_PAGES = ["book/02_kde_histogram.html", "book/06_cyclegan_sn.html"]
LOCAL_MATHJAX = "_static/mathjax/tex-mml-chtml.js"

# MathJax's CHTML fonts that the page loaded (from the build, offline).
FONTS_JS = """() => [...document.fonts]
  .filter((f) => f.family.replace(/"/g, "").startsWith("MJX") && f.status === "loaded")
  .map((f) => f.family)"""


@pytest.mark.slow
def test_pages_render_maths_with_the_network_blocked(chromium, mathjax, book_server):
    """Read offline: the pages load MathJax from the build itself, and with every
    request that would leave the machine aborted they still show typeset maths."""
    from playwright.sync_api import sync_playwright

    url, html = book_server
    for name in OFFLINE_PAGES:
        text = (html / name).read_text()
        assert LOCAL_MATHJAX in text and MATHJAX_CDN not in text, (
            f"{name} does not load MathJax from the build ({LOCAL_MATHJAX}): was "
            "the book built before `python tools/node_packages.py` installed it?"
        )
    left: list[str] = []

    def offline(route):
        if route.request.url.startswith(url):
            return route.continue_()
        left.append(route.request.url)
        return route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium)
        try:
            context = browser.new_context()
            context.route("**/*", offline)
            page = context.new_page()
            for name in OFFLINE_PAGES:
                page.goto(f"{url}/{name}", wait_until="load")
                count = page.wait_for_function(
                    TYPESET_JS, timeout=TYPESET_S * 1000
                ).json_value()
                assert count and count > 20, f"{name}: {count} formulas typeset offline"
                assert page.evaluate(ERRORS_JS) == [], name
                prose = page.evaluate(PROSE_TEXT_JS)
                raw = [m.group() for m in RAW_TEX.finditer(prose)]
                assert not raw, f"{name}: raw TeX offline: {raw[:MAX_SHOWN]}"
                page.evaluate("document.fonts.ready.then(() => true)")
                fonts = page.evaluate(FONTS_JS)
                assert fonts, f"{name}: MathJax's fonts did not load offline"
            context.close()
        finally:
            browser.close()
    assert not any("mathjax" in u.lower() for u in left), left
