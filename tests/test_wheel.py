"""The package as users get it: ``python -m build`` makes a wheel and an sdist, ``twine
check`` passes, the wheel carries the package data that the notebooks read (the
committed results, the frozen segmenter, any shipped weights) and stays under 25 MB,
and chapter 9, alone in an empty folder, runs from the wheel installed in a fresh
virtual environment.

That environment reuses the installed torch (and the rest) rather than downloading it:
it is made with ``--system-site-packages``, and when the tests run inside a virtual
environment (``.venv``), a ``.pth`` file adds that environment's site-packages after
its own, so the wheel's kdehist comes first. Nothing is downloaded: the build runs
without isolation, and pip with ``--no-index``.

Needs the ``release`` extra (build, twine); skips without it. About a minute.
"""

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "09_evaluation.ipynb"
MAX_WHEEL_MB = 25
BUILD_S = 600
RUN_S = 900

pytest.importorskip("build", reason="python -m build needs the release extra")
pytest.importorskip("twine", reason="twine check needs the release extra")


def run(command, **kwargs):
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, **kwargs
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed (exit {result.returncode}):\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT])
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def package_data() -> list[str]:
    """The data files the package ships, relative to the repository: kdehist/results
    (which book/results links to) and kdehist/assets."""
    files = [
        p
        for folder in ("results", "assets")
        for p in (ROOT / "kdehist" / folder).rglob("*")
        if p.is_file() and p.suffix in {".json", ".jsonl", ".npz", ".png", ".pt"}
    ]
    return sorted(str(p.relative_to(ROOT)) for p in files)


@pytest.mark.slow
def test_wheel_and_sdist_pass_twine_check(dist):
    result = run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            dist["wheel"],
            dist["sdist"],
        ]
    )
    assert result.stdout.count("PASSED") == 2, result.stdout


@pytest.mark.slow
def test_wheel_carries_the_package_data_and_is_small(dist):
    import kdehist

    wheel = dist["wheel"]
    assert wheel.name == f"kdehist-{kdehist.__version__}-py3-none-any.whl"
    size_mb = wheel.stat().st_size / 1e6
    assert size_mb < MAX_WHEEL_MB, f"the wheel is {size_mb:.1f} MB"
    names = set(zipfile.ZipFile(wheel).namelist())
    data = package_data()
    assert "kdehist/results/cpu/table2.json" in data
    assert any(name.startswith("kdehist/assets/") for name in data)
    missing = [name for name in data if name not in names]
    assert not missing, f"package data missing from the wheel: {missing[:10]}"
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def fresh_venv(folder: Path) -> Path:
    """A venv with --system-site-packages that also sees this environment's packages
    (torch, jupyter), after its own; returns its python."""
    run(
        [
            sys.executable,
            "-m",
            "venv",
            "--system-site-packages",
            "--without-pip",
            folder,
        ]
    )
    python = folder / "bin" / "python"
    if sys.prefix != sys.base_prefix:  # running in a venv: reuse its site-packages
        own = run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        )
        ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        (Path(own.stdout.strip()) / "_kdehist_reuse_parent.pth").write_text(
            "\n".join(sorted(ours)) + "\n"
        )
    return python


# Runs the copied chapter with nbclient in the fresh environment's kernel (the native
# python3 kernel is that environment's python), then a last cell that reports where
# kdehist came from.
EXECUTE = textwrap.dedent(
    """
    import json, sys
    import nbformat
    from nbclient import NotebookClient

    path, timeout = sys.argv[1], int(sys.argv[2])
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json, sys, kdehist\\n"
        "from kdehist.reproduce import committed_results\\n"
        "print(json.dumps({'file': kdehist.__file__, 'python': sys.executable,"
        " 'results': str(committed_results('cpu'))}))"
    ))
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": sys.argv[3]}}).execute()
    nbformat.write(nb, path)
    print(nb.cells[-1].outputs[0]["text"])
    """
)


@pytest.mark.slow
def test_chapter_9_runs_alone_from_the_installed_wheel(dist, tmp_path):
    venv = tmp_path / "venv"
    python = fresh_venv(venv)
    pip = [sys.executable, "-m", "pip", "--python", python]
    # --force-reinstall: the kdehist of the reused environment (editable, same
    # version) is visible too; pip leaves it alone, outside this environment.
    run(
        pip
        + [
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--force-reinstall",
            dist["wheel"],
        ]
    )
    # The wheel's dependencies are all there (reused, not downloaded).
    run(
        [
            python,
            "-c",
            "import importlib.metadata as m, re\n"
            "for r in m.requires('kdehist'):\n"
            "    if 'extra ==' not in r:\n"
            "        m.version(re.split(r'[<>=!~ ;\\[]', r)[0])",
        ]
    )
    work = tmp_path / "alone"
    work.mkdir()
    notebook = work / CHAPTER.name
    notebook.write_bytes(CHAPTER.read_bytes())
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTER", "PYTHONPATH", "MPLBACKEND", "VIRTUAL_ENV"))
    }
    env.update(
        KDEHIST_PROFILE="smoke",
        KDEHIST_RUNS=str(tmp_path / "runs"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    result = run(
        [python, "-c", EXECUTE, notebook, RUN_S, work],
        cwd=work,
        env=env,
        timeout=RUN_S + 120,
    )
    where = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(where["file"]).is_relative_to(venv), where  # the wheel's kdehist
    assert Path(where["python"]).parent == python.parent, where
    assert Path(where["results"]).is_relative_to(venv), where
    # Table 2 from the wheel's committed results was shown.
    outputs = json.dumps(json.loads(notebook.read_text())["cells"])
    assert "CycleGAN + SN" in outputs
