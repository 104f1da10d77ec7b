"""Figures cannot silently vanish: every committed drawing cell has an image in its
outputs, and no package module touches matplotlib's global state (a
`matplotlib.use("Agg")` in a package function once blanked every later `plt.show()` in
the kernel that called it).
"""

import io
import json
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
MODULES = sorted((ROOT / "kdehist").glob("*.py"))
IMAGES = {"image/png", "image/svg+xml"}

# A cell draws when it shows a figure, or makes one (which the inline backend shows at
# the end of the cell, or which the cell should then display or close).
SHOWS = re.compile(
    r"\b(plt|pyplot)\.show\s*\("  # plt.show()
    r"|\bdisplay\s*\(\s*\w*fig"  # display(fig), display(figure3(...))
    r"|^[ \t]*\w*fig\w*[ \t]*$",  # a bare figure, the cell's last expression
    re.M,
)
MAKES = re.compile(
    r"\b(plt|pyplot)\.(subplots|subplot|figure|subplot_mosaic|imshow|plot|bar|barh|scatter|hist|matshow)\s*\("
    r"|\bFigure\s*\("  # matplotlib.figure.Figure(...)
    r"|\.savefig\s*\("
)
CLOSES = re.compile(r"\b(plt|pyplot)\.close\s*\(|\bfig\w*\.clf\s*\(")
EXEMPT_TAGS = {"remove-output", "remove-cell"}


def code_without_comments(source: str) -> str:
    """The cell's code without comments, so that `# plt.show()` does not count."""
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type != tokenize.COMMENT
        ]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # IPython magics, ! commands
        return "\n".join(line.split("#", 1)[0] for line in source.splitlines())


def is_drawing_cell(source: str) -> bool:
    code = code_without_comments(source)
    if SHOWS.search(code):
        return True
    # Made and explicitly closed without being shown (a figure
    # written to a file): exempt.
    return bool(MAKES.search(code)) and not CLOSES.search(code)


def blank_drawing_cells(path: Path) -> list[str]:
    """The drawing cells of a notebook with no PNG or SVG among their outputs."""
    nb = json.loads(path.read_text())
    blank = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or EXEMPT_TAGS & set(
            cell.get("metadata", {}).get("tags", [])
        ):
            continue
        source = "".join(cell["source"])
        if not is_drawing_cell(source):
            continue
        mimes = {
            mime
            for output in cell.get("outputs", [])
            for mime in output.get("data", {})
        }
        if not mimes & IMAGES:
            first = next(
                (
                    line
                    for line in source.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")
                ),
                "",
            )
            outputs = sorted(mimes) or "none"
            blank.append(f"cell {index} ({first.strip()[:60]!r}): outputs {outputs}")
    return blank


@pytest.mark.parametrize(
    "source, draws",
    [
        ("fig, ax = plt.subplots()\nax.plot(x, y)\nplt.show()", True),
        ("fig = figure3(root, test, names)\nplt.show()", True),
        ("display(fig)", True),
        ("fig = Figure(figsize=(4, 3))\nfig.subplots().plot(x)\nfig", True),
        ("fig, ax = plt.subplots()\nax.plot(x)", True),  # the inline backend shows it
        ("fig, ax = plt.subplots()\nfig.savefig(path)\nplt.close(fig)", False),
        ("# plt.show() would draw here\nprint(1)", False),
        ("table = reproduce(PROFILE)\nprint(table)", False),
        ("!pip install kdehist\n%matplotlib inline", False),
    ],
)
def test_drawing_cells_are_recognised(source, draws):
    assert is_drawing_cell(source) is draws


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_drawing_cells_have_an_image(path):
    blank = blank_drawing_cells(path)
    assert not blank, (
        f"{path.name}: drawing cells with no image in their committed outputs:\n"
        + "\n".join(blank)
    )


# Selecting a backend, importing pyplot (its state machine and figure manager) or
# editing rcParams or the style from the package changes what the reader's
# notebook shows. Package figures use matplotlib.figure.Figure and a backend's
# canvas, as widgets.py does.
GLOBAL_STATE = re.compile(
    r"\bmatplotlib\.use\s*\(|\bmpl\.use\s*\("
    r"|^[ \t]*import[ \t]+matplotlib\.pyplot\b"
    r"|^[ \t]*from[ \t]+matplotlib[ \t]+import[^\n]*\bpyplot\b|\bpyplot\b"
    r"|\bplt\.\w"
    r"|\brcParams\b|\b(matplotlib|mpl)\.rc\s*\(|\bstyle\.use\s*\(|\bmatplotlib\.interactive\s*\(",
    re.M,
)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_package_leaves_matplotlib_global_state_alone(path):
    code = code_without_comments(path.read_text())
    code = re.sub(r'("""|\'\'\')[\s\S]*?\1', "", code)  # docstrings may name pyplot
    lines = code.splitlines()
    found = sorted(
        {
            lines[code.count("\n", 0, m.start())].strip()
            for m in GLOBAL_STATE.finditer(code)
        }
    )
    assert not found, (
        f"kdehist/{path.name} changes matplotlib's global state:\n" + "\n".join(found)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_is_captioned_numbered_and_sharp(path):
    """Each image a cell shows is a numbered figure: one image per cell, with a caption
    and a name in the cell's ``mystnb.figure`` metadata, at 150 dpi or more."""
    import base64

    from PIL import Image

    problems = []
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        images = [
            out["data"]["image/png"]
            for out in cell.get("outputs", [])
            if "image/png" in out.get("data", {})
        ]
        if not images:
            continue
        figure = cell["metadata"].get("mystnb", {}).get("figure", {})
        if not (figure.get("caption") and figure.get("name")):
            problems.append(f"cell {index}: no caption or name")
        if len(images) > 1:
            problems.append(f"cell {index}: {len(images)} images under one caption")
        for data in images:
            with Image.open(io.BytesIO(base64.b64decode(data))) as image:
                dpi = image.info.get("dpi", (72, 72))[0]
            if dpi < 149:
                problems.append(f"cell {index}: {dpi:.0f} dpi")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
