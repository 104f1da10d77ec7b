"""The whole book as one PDF (``make pdf``): the single-page HTML build, printed by
headless Chromium through Playwright, with page numbers and bookmarks.

    python tools/book_pdf.py                     # -> _build/pdf/kdehist.pdf
    python tools/book_pdf.py --out book.pdf --build-dir /tmp/b --no-site-copy

1. ``jupyter-book build . --builder singlehtml`` writes every chapter, from the
   committed notebook outputs, into one page (``<build-dir>/_build/singlehtml``).
   Warnings are printed, not fatal: ``make book`` is the ``-W`` build that gates them.
2. The page is served on 127.0.0.1 and opened in the system's Chromium (no browser is
   downloaded; ``$KDEHIST_CHROMIUM`` may name one). No request leaves the machine,
   except MathJax's own from the CDN when npm has not installed it
   (``tools/node_packages.py``). Folded content (hidden code cells, solutions) is
   opened, MathJax typesets every formula, every figure loads, and then Chromium
   prints: A4, page numbers in the footer, bookmarks from the headings.
3. Unless ``--no-site-copy``, the PDF is copied beside the built site
   (``_build/html/kdehist.pdf``, where the site's footer links to it) if there is one.

Chromium and Playwright for Python are what the browser tests already use (the
``test`` extra, and Debian's ``chromium``).
"""

import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import node_packages  # noqa: E402

TITLE = "kdehist: a differentiable colour histogram inside a CycleGAN"
PRINT_PAGE = "kdehist-book.html"  # the single page, copied to the build's root
MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"
TYPESET_S = 300
BUILD_S = 1800

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Screen furniture that means nothing on paper: the theme's header, sidebars, buttons,
# the repeated tables of contents and the permalink marks.
PRINT_CSS = """
@page { size: A4; }
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .header-article,
.bd-header-article, .prev-next-area, .bd-footer-article, .headerlink,
.sidebar-toggle, .search-button, #pst-back-to-top, .bd-search, .skip-link,
.admonition.hide > summary, button.copybtn, .bd-toc, #jb-print-docs-body {
  display: none !important; }
.bd-main, .bd-content, .bd-article-container, .bd-article, .bd-page-width {
  max-width: none !important; width: 100% !important; margin: 0 !important;
  padding: 0 !important; flex: none !important; }
html, body { font-size: 10.5pt; }
/* The book's title (the theme prints another one, with a table of contents). */
.bd-main .bd-content .bd-article h1:first-of-type {
  display: block !important; font-size: 2.3em; text-align: center;
  margin: 35mm 0 15mm !important; }
/* Each chapter and appendix starts a page. */
.toctree-wrapper > section { break-before: page; }
img, figure, table, mjx-container[display="true"] { break-inside: avoid; }
pre { white-space: pre-wrap !important; word-break: break-word; }
div.highlight pre { font-size: 8.5pt; }
/* The site's footer (licences, credits) closes the book. */
.bd-main .bd-footer-content { display: block !important; margin-top: 2em; }
"""

# Opens what a reader would click open, and waits until MathJax has typeset the page
# (null if the page has no MathJax): resolves to the count of typeset formulas.
PREPARE_JS = """async () => {
  for (const d of document.querySelectorAll("details")) d.open = true;
  for (const e of document.querySelectorAll(".toggle-hidden"))
    e.classList.remove("toggle-hidden");
  for (const img of document.images) img.loading = "eager";
  if (!document.querySelector('script[src*="mathjax"]')) return null;
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await MathJax.startup.promise;
  await document.fonts.ready;
  return document.querySelectorAll("mjx-container").length;
}"""

# Resolves once every image has loaded; returns those that failed.
IMAGES_JS = """async () => {
  const broken = [];
  await Promise.all(Array.from(document.images).map(async (img) => {
    try { await img.decode(); } catch (e) { broken.push(img.currentSrc || img.src); }
  }));
  await document.fonts.ready;
  return broken;
}"""

HEADER = "<span></span>"
FOOTER = (
    '<div style="font-size: 8pt; width: 100%; padding: 0 15mm; color: #555;'
    ' display: flex; justify-content: space-between;">'
    f"<span>{TITLE.split(':')[0]}</span>"
    '<span><span class="pageNumber"></span> / <span class="totalPages"></span></span>'
    "</div>"
)


def find_chromium() -> str | None:
    """$KDEHIST_CHROMIUM, /usr/bin/chromium, or a Chromium or Chrome on PATH."""
    candidates = [os.environ.get("KDEHIST_CHROMIUM"), "/usr/bin/chromium"]
    candidates += [
        shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def build_single_page(build_dir: Path) -> Path:
    """Build the single-page HTML book under build_dir/_build/singlehtml; return the
    page to print, copied to that folder's root so that its relative links resolve."""
    jupyter_book = shutil.which(
        "jupyter-book", path=str(Path(sys.executable).parent)
    ) or shutil.which("jupyter-book")
    if jupyter_book is None:
        raise SystemExit("jupyter-book is not installed (pip install -e '.[book]')")
    command = [jupyter_book, "build", str(ROOT), "--builder", "singlehtml"]
    command += ["-n", "--keep-going", "--path-output", str(build_dir)]
    print("book_pdf:", " ".join(command), flush=True)
    result = subprocess.run(command, timeout=BUILD_S)
    if result.returncode != 0:
        raise SystemExit(f"the single-page build failed (exit {result.returncode})")
    out = build_dir / "_build" / "singlehtml"
    # index.html redirects to the root document; Sphinx writes that page's links as if
    # it sat at the root of the build, so it is printed from there.
    redirect = re.search(r"url=([^\"']+)", (out / "index.html").read_text())
    root_page = out / (redirect.group(1) if redirect else "index.html")
    shutil.copyfile(root_page, out / PRINT_PAGE)
    return out


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def print_pdf(html_dir: Path, out: Path, chromium: str) -> dict:
    """Print html_dir/PRINT_PAGE to out; return what was seen (formulas, blocked)."""
    from playwright.sync_api import sync_playwright

    handler = functools.partial(QuietHandler, directory=str(html_dir))
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    local_mathjax = node_packages.mathjax_es5() is not None
    blocked: list[str] = []

    def route(request_route):
        request_url = request_route.request.url
        if request_url.startswith(url):
            return request_route.continue_()
        if not local_mathjax and request_url.startswith(MATHJAX_CDN):
            return request_route.continue_()
        blocked.append(request_url)
        return request_route.abort()

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
            )
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 1400})
                page.route("**/*", route)
                page.goto(f"{url}/{PRINT_PAGE}", wait_until="load", timeout=120_000)
                page.add_style_tag(content=PRINT_CSS)
                start = time.monotonic()
                formulas = page.evaluate(PREPARE_JS)
                broken = page.evaluate(IMAGES_JS)
                print(
                    f"book_pdf: {formulas} formulas typeset, "
                    f"{page.evaluate('document.images.length')} images "
                    f"({len(broken)} broken) in {time.monotonic() - start:.0f} s",
                    flush=True,
                )
                out.parent.mkdir(parents=True, exist_ok=True)
                page.pdf(
                    path=str(out),
                    format="A4",
                    margin={
                        "top": "16mm",
                        "bottom": "18mm",
                        "left": "15mm",
                        "right": "15mm",
                    },
                    print_background=True,
                    display_header_footer=True,
                    header_template=HEADER,
                    footer_template=FOOTER,
                    outline=True,
                    tagged=True,
                )
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return {"formulas": formulas, "broken": broken, "blocked": blocked}


def page_count(path: Path) -> int | str:
    try:
        from pypdf import PdfReader
    except ImportError:  # pypdf is in the test extra; the PDF is fine without it
        return "?"
    return len(PdfReader(path).pages)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build/pdf/kdehist.pdf")
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=ROOT,
        help="where the single-page build goes (<build-dir>/_build/singlehtml)",
    )
    parser.add_argument(
        "--site",
        type=Path,
        default=ROOT / "_build/html",
        help="the built site: the PDF is copied there, if it exists",
    )
    parser.add_argument("--no-site-copy", action="store_true")
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="print the single-page build already under --build-dir",
    )
    args = parser.parse_args(argv)

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit(
            "book_pdf: no Chromium to print with: install Debian's chromium, or set "
            "KDEHIST_CHROMIUM to a Chromium or Chrome binary"
        )
    if node_packages.mathjax_es5() is None:
        print(
            "book_pdf: note: MathJax 3 is not installed from npm "
            "(python tools/node_packages.py); the PDF's maths loads from the CDN",
            file=sys.stderr,
        )
    if args.no_build:
        html_dir = args.build_dir.resolve() / "_build" / "singlehtml"
        if not (html_dir / PRINT_PAGE).is_file():
            raise SystemExit(f"book_pdf: no single-page build in {html_dir}")
    else:
        html_dir = build_single_page(args.build_dir.resolve())
    seen = print_pdf(html_dir, args.out, chromium)
    if seen["broken"]:
        raise SystemExit(f"book_pdf: images that did not load: {seen['broken'][:10]}")
    pages = page_count(args.out)
    size = args.out.stat().st_size / 2**20
    print(f"book_pdf: wrote {args.out} ({pages} pages, {size:.1f} MiB)")
    if seen["blocked"]:
        print(
            f"book_pdf: blocked {len(seen['blocked'])} request(s) leaving the "
            f"machine: {sorted(set(seen['blocked']))[:5]}"
        )
    if not args.no_site_copy and args.site.is_dir():
        shutil.copyfile(args.out, args.site / "kdehist.pdf")
        print(f"book_pdf: copied it to {args.site / 'kdehist.pdf'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
