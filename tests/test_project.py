"""The project's files agree with each other: packaging, conda, notebooks, the book."""

import json
import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REPO_URL = CONFIG["repository"]["url"]
# conda names of the pip distributions the package needs, where they differ
CONDA_NAME = {"torch": "pytorch"}


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].strip().lower()


def notebook(path):
    return json.loads(path.read_text())


def code_cells(nb):
    return [
        "".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code"
    ]


def test_repository_url_is_shared():
    assert REPO_URL.startswith("https://github.com/")
    assert PYPROJECT["project"]["urls"]["Homepage"] == REPO_URL
    assert REPO_URL in (ROOT / "README.md").read_text()


def test_environment_yml_covers_the_package_and_installs_it_with_extras():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {requirement_name(d) for d in env["dependencies"] if isinstance(d, str)}
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[book,test]" in pip_section
    needed = (
        PYPROJECT["project"]["dependencies"]
        + PYPROJECT["project"]["optional-dependencies"]["book"]
    )
    needed += PYPROJECT["project"]["optional-dependencies"]["test"]
    for spec in needed:
        name = requirement_name(spec)
        assert CONDA_NAME.get(name, name) in conda, f"environment.yml lacks {name}"
    for design_card_package in [
        "pytorch",
        "torchvision",
        "jupyterlab",
        "jupyter-book",
        "matplotlib",
        "ipywidgets",
        "numpy",
        "pillow",
        "nbval",
    ]:
        assert design_card_package in conda


def test_dependencies_have_lower_bounds_only():
    # Colab's preinstalled CUDA torch and ipywidgets 7.7 must never be replaced.
    for spec in PYPROJECT["project"]["dependencies"]:
        assert ">=" in spec and "<" not in spec and "==" not in spec, spec
    assert any(
        s.startswith("jupyter-book>=1.0.4,<2")
        for s in PYPROJECT["project"]["optional-dependencies"]["book"]
    )


def test_every_book_notebook_is_in_the_toc_and_numbered():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"book/{path.stem}" in toc, f"{path.name} is not in _toc.yml"
    chapters = [p for p in NOTEBOOKS if p.stem != "intro"]
    assert all(re.match(r"\d\d_", p.stem) for p in chapters)
    assert len(chapters) == 11


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path):
    nb = notebook(path)
    cells = code_cells(nb)
    install = cells[0]
    # First code cell: install from the one repository URL, on Colab only.
    assert 'if "google.colab" in sys.modules:' in install
    assert f"kdehist @ git+{REPO_URL}@main" in install
    assert re.findall(r"git\+(https://[^@\"]+)", install) == [REPO_URL]
    # The profile comes from kdehist.current_profile (KDEHIST_PROFILE).
    assert "PROFILE = kdehist.current_profile()" in cells[1]
    text = json.dumps(nb)
    # No absolute paths, in sources or outputs.
    assert not re.search(r"(/work/|/home/|/root/|/Users/|C:\\\\)", text), (
        "absolute path in notebook"
    )
    # Committed executed: every code cell after the install cell has run, in order.
    counts = [
        c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"
    ][1:]
    assert all(isinstance(n, int) for n in counts), "notebook is not committed executed"
    assert counts == sorted(counts)
    # nbval does not honour a trailing ';'
    for source in cells:
        last = source.rstrip().splitlines()[-1] if source.strip() else ""
        assert not last.endswith(";"), f"trailing ';' in {path.name}: use `_ = ...`"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(
        r"^\s*(make \w+)\s*$",
        readme.split("## Quick start", 1)[1].split("\n## ", 1)[0],
        re.M,
    )
    assert commands == ["make book", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_gitignore_covers_build_output_and_runs():
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in ["_build/", ".venv/", "runs/", "__pycache__/"]:
        assert entry in ignored


RESULTS = ROOT / "book" / "results" / "cpu"


def test_readme_results_block_is_the_committed_table2():
    from kdehist.readme import README_END, README_START, readme_results
    from kdehist.study import recheck

    text = (ROOT / "README.md").read_text()
    block = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    table2 = json.loads((RESULTS / "table2.json").read_text())
    front = json.loads((RESULTS / "frontier.json").read_text())
    study = json.loads((RESULTS / "study.json").read_text())
    assert block == readme_results(table2, front, study, recheck(RESULTS)), (
        "README.md's results block differs from book/results/cpu/table2.json and "
        "frontier.json: run kdehist readme"
    )


def test_committed_results_are_complete_and_consistent():
    from kdehist.reproduce import load_results

    results = load_results(RESULTS)
    table = results["table2"]
    assert set(table["variants"]) >= {
        "cyclegan",
        "cyclegan_sn",
        "proposed_one",
        "proposed_both",
    }
    for name, row in table["variants"].items():
        assert row["precision"] == ["none"], (
            f"{name}: committed results are trained in float32"
        )
        for seed in row["seeds"]:
            arrays = results["pairs"][name][seed]
            assert {"delta_e76", "delta_e00", "shape_score"} <= set(arrays)
            assert all(
                arrays[k].shape == (28, 28)
                for k in ("delta_e76", "delta_e00", "shape_score")
            )
            run = row["runs"][str(seed)]
            assert {
                "git_commit",
                "torch",
                "precision",
                "train_seconds",
                "host_cpu",
            } <= set(run)
        for key in ("delta_e76", "delta_e00", "shape_score"):
            lo, hi = row[f"{key}_ci95"]
            assert lo <= row[f"{key}_mean"] <= hi
            seed_means = [
                float(results["pairs"][name][s][key].mean()) for s in row["seeds"]
            ]
            assert row[f"{key}_seed_means"] == pytest.approx(seed_means, abs=1e-5)
    assert table["segmenter"]["heldout_iou"] >= 0.95
    for figure in ("figure3.png", "figure4.png"):
        from PIL import Image

        with Image.open(RESULTS / figure) as image:
            assert image.width >= 700, f"{figure} must stay legible at page width"
            assert image.info.get("dpi", (0, 0))[0] >= 149, (
                f"{figure} must be written at 150 dpi or more"
            )


def test_committed_frontier_is_consistent_with_its_arrays():
    from kdehist.frontier import FRONTIER_RUNS, load_frontier, path_pairs_name
    from kdehist.reproduce import read_pairs

    pairs = RESULTS / "pairs"

    front = load_frontier(RESULTS)
    assert front["segmenter"]["heldout_iou"] >= 0.95
    scored = {row["name"] for row in front["runs"]}
    seeds = {m.split("/seed")[0] for m in front["missing"]}
    assert scored | seeds <= set(FRONTIER_RUNS)
    for row in front["runs"]:
        assert "lambda_hist" in row["settings"]
        for key in ("delta_e76", "shape_score"):
            means = [
                float(
                    read_pairs(RESULTS / "pairs" / f"{row['name']}_seed{s}.npz")[
                        key
                    ].mean()
                )
                for s in row["seeds"]
            ]
            assert row[f"{key}_seed_means"] == pytest.approx(means, abs=1e-5)
            lo, hi = row[f"{key}_ci95"]
            assert lo <= row[f"{key}_mean"] <= hi
    for point in front["path"]:
        for key in ("delta_e76", "shape_score"):
            means = [
                float(
                    read_pairs(
                        pairs / path_pairs_name(point["name"], s, point["step"])
                    )[key].mean()
                )
                for s in point["seeds"]
            ]
            assert point[f"{key}_seed_means"] == pytest.approx(means, abs=1e-5)
    for change in front["path_changes"]:
        start, end = (
            {p["step"]: p for p in front["path"] if p["name"] == change["name"]}[s]
            for s in (change["from_step"], change["to_step"])
        )
        key = change["metric"]
        assert change["difference"] == pytest.approx(
            end[f"{key}_mean"] - start[f"{key}_mean"], abs=1e-5
        )
    # Each seed's largest fall of the shape score is the largest, and its numbers are
    # the arrays'.
    for fall in front["path_falls"]:
        name, seed = fall["name"], fall["seed"]
        points = [p for p in front["path"] if p["name"] == name]
        k = points[0]["seeds"].index(seed)
        shape = {p["step"]: p["shape_score_seed_means"][k] for p in points}
        steps = sorted(shape)[1:]  # after step 1
        largest = max(shape[a] - shape[b] for a in steps for b in steps if b > a)
        a, b = fall["from_step"], fall["to_step"]
        assert shape[a] - shape[b] == pytest.approx(largest, abs=1e-6)
        for key in ("shape_score", "delta_e76"):
            before, after = (
                read_pairs(pairs / path_pairs_name(name, seed, step))[key]
                for step in (a, b)
            )
            assert fall[key]["difference"] == pytest.approx(
                float((after - before).mean()), abs=1e-5
            )


def test_readme_has_an_open_in_colab_badge_for_every_chapter():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repository = config["repository"]["url"].removeprefix("https://github.com/")
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        link = f"https://colab.research.google.com/github/{repository}/blob/main/book/{path.name}"
        assert f"colab-badge.svg)]({link})" in readme, (
            f"README.md: expected an Open in Colab badge for {path.name}"
        )


def test_committed_frontier_figures_are_legible():
    from kdehist.experiments import label
    from kdehist.figures import figure_png, frontier_figure, training_path_figure
    from kdehist.frontier import load_frontier

    front = load_frontier(RESULTS)
    fig = frontier_figure(front, zoom=(2.0, 6.0))
    figure_png(fig, dpi=40)  # draws, so the tick labels exist
    wide, near = fig.axes[:2]
    # Plain numbers on the log axis, not "10^1".
    labels = [t.get_text() for t in wide.get_xticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"[0-9.]+", t) for t in labels), labels
    # The crowded panel names each of its points in the legend instead.
    legend = [t.get_text() for t in near.get_legend().get_texts()]
    inside = {r["name"] for r in front["runs"] if 2.0 <= r["delta_e76_mean"] <= 6.0}
    for name in inside - {"proposed_both"}:
        assert any(text.startswith(label(name) + " (") for text in legend), name
    low, high = near.get_ylim()
    assert all(
        low <= r["shape_score_ci95"][0] for r in front["runs"] if r["name"] in inside
    )

    path = training_path_figure(front)
    figure_png(path, dpi=40)
    labels = [t.get_text() for t in path.axes[0].get_yticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"[0-9.]+", t) for t in labels), labels


def test_committed_json_is_what_its_committed_arrays_say():
    """table2.json and frontier.json, rebuilt from the committed per-pair arrays alone,
    are the committed files exactly (JSON's floats round-trip)."""
    from kdehist.frontier import rebuild_frontier
    from kdehist.reproduce import rebuild_table2

    table2 = json.loads((RESULTS / "table2.json").read_text())
    front = json.loads((RESULTS / "frontier.json").read_text())
    assert json.loads(json.dumps(rebuild_table2(RESULTS))) == table2
    assert json.loads(json.dumps(rebuild_frontier(RESULTS))) == front
    # Nothing is chosen on the test pairs: no run is named beside the paper's.
    from kdehist.study import rebuild_study

    study = json.loads((RESULTS / "study.json").read_text())
    assert json.loads(json.dumps(rebuild_study(RESULTS))) == study
    for retired in ("named", "confirmation", "goal", "best"):
        assert retired not in front
    assert all("goal" not in row for row in front["runs"])


def test_compare_runs_recomputes_the_committed_paired_differences():
    from kdehist.frontier import PAPER, compare_runs, load_frontier

    for row in load_frontier(RESULTS)["runs"]:
        if row["name"] != PAPER:
            assert compare_runs(RESULTS, row["name"], PAPER) == row["versus_paper"]
    same = compare_runs(RESULTS, "hist_lambda1", "hist_lambda1")
    assert same["shape_score"]["difference"] == 0 and not same["delta_e76"]["resolved"]
    with pytest.raises(ValueError, match="other: expected a scored run of .* got 'x'"):
        compare_runs(RESULTS, "hist_lambda1", "x")
