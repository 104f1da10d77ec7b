"""End to end in a real browser: JupyterLab runs the chapter-3 notebook, headless
Chromium (driven by Playwright) moves the explorer's bins slider, and the plot changes.

Needs JupyterLab and Playwright for Python (the ``test`` extra) and a Chromium binary:
the Debian packages ``chromium`` and ``chromium-driver``, which ``.ci/run`` installs
when it runs as root. Playwright drives that binary through ``executable_path``; no
browser is downloaded. The test skips only when there is no Chromium to drive.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "book" / "03_histogram_explorer.ipynb"

# The whole test (server start, notebook run, interaction) should
# take well under a minute.
SERVER_START_S = 60
NOTEBOOK_RUN_S = 120
REDRAW_S = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterLabServer:
    """JupyterLab on 127.0.0.1 with a fresh token, config, data and runtime folders."""

    def __init__(self, root: Path, scratch: Path):
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = scratch / "jupyterlab.log"
        config = scratch / "config"
        # The news prompt would pop up over the notebook.
        (config / "labconfig").mkdir(parents=True)
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps(
                {
                    "disabledExtensions": {
                        "@jupyterlab/apputils-extension:announcements": True
                    }
                }
            )
        )
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("JUPYTER", "MPLBACKEND"))
        }
        env.update(
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_DATA_DIR=str(scratch / "data"),
            JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
            IPYTHONDIR=str(scratch / "ipython"),
            KDEHIST_PROFILE="smoke",
            KDEHIST_RUNS=str(scratch / "runs"),
        )
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            # window.jupyterapp lets the test run the notebook
            # with a JupyterLab command.
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.terminals_enabled=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
            command.append("--allow-root")
        self.log = open(self.log_path, "w")
        # A session of its own, so that stopping it stops its kernels too.
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with {self.process.returncode}:\n"
                    f"{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(
                    f"{self.url}/api/status?token={self.token}", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(
            f"JupyterLab did not answer within {SERVER_START_S} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        return "\n".join(
            self.log_path.read_text(errors="replace").splitlines()[-lines:]
        )

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels),
        then make sure it is gone.
        """
        if self.process.poll() is None:
            try:
                request = urllib.request.Request(
                    f"{self.url}/api/shutdown?token={self.token}", method="POST"
                )
                urllib.request.urlopen(request, timeout=5).close()
                self.process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        try:  # kernels left behind in the server's session, if any
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


@pytest.fixture
def lab(tmp_path):
    workdir = tmp_path / "notebooks"
    workdir.mkdir()
    shutil.copy(NOTEBOOK, workdir / NOTEBOOK.name)
    server = JupyterLabServer(workdir, tmp_path)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_bins_slider_redraws_the_plot_in_jupyterlab(chromium, lab, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            # a fresh profile: no state from earlier runs
            user_data_dir=str(tmp_path / "chromium-profile"),
            **chromium,  # the system's Chromium, headless (tests/conftest.py)
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            try:
                run_notebook_and_move_the_slider(page, lab)
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                raise
            assert not [e for e in errors if "widget" in e.lower()], errors
        finally:
            context.close()


def run_notebook_and_move_the_slider(page, lab: JupyterLabServer) -> None:
    from playwright.sync_api import expect

    page.goto(
        f"{lab.url}/lab/tree/{NOTEBOOK.name}?token={lab.token}",
        timeout=SERVER_START_S * 1000,
    )
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.isReady",
        timeout=SERVER_START_S * 1000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    # The last cell puts the app back to its first settings and
    # prints them: all cells ran.
    last_output = page.locator(".jp-OutputArea-output", has_text="'image': 'astronaut'")
    last_output.wait_for(timeout=NOTEBOOK_RUN_S * 1000)
    assert (
        page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
        ).count()
        == 0
    ), lab.log_tail()
    assert (
        page.locator(
            ".jp-OutputArea-output", has_text="delta_e: True in 3 settings"
        ).count()
        == 1
    )

    app = page.locator(".kdehist-explorer").first
    plot = app.locator(".kdehist-plot")
    readout = app.locator(".kdehist-readout")
    plot.scroll_into_view_if_needed()
    # text_content, not inner_text: JupyterLab's windowed
    # notebook leaves inner_text empty.
    assert "K = 64" in readout.text_content()
    before_src, before_pixels = plot.get_attribute("src"), plot.screenshot()

    # Drag the bins slider's handle to the left and let go: the app redraws on release.
    handle = app.locator(".kdehist-bins .noUi-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 120, y, steps=8)
    page.mouse.up()

    page.wait_for_function(
        "([element, src]) => element.getAttribute('src') !== src",
        arg=[plot.element_handle(), before_src],
        timeout=REDRAW_S * 1000,
    )
    new_bins = int(app.locator(".kdehist-bins .widget-readout").text_content())
    assert 4 <= new_bins < 64
    expect(readout).to_contain_text(f"K = {new_bins},", timeout=REDRAW_S * 1000)
    # let the new image finish decoding before comparing pixels
    page.wait_for_timeout(300)
    assert plot.screenshot() != before_pixels, (
        "the plot looks the same after moving the bins slider"
    )
