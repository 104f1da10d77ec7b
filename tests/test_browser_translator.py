"""End to end in a real browser: JupyterLab runs chapter 11 ("Try it"), and headless
Chromium (Playwright) uses the translation explorer: it switches the reference to a
Monk tone, renders a new pose, uploads a photo, and has a bad upload refused, and the
app redraws each time without an error.

Uses the JupyterLab server and the Chromium of ``tests/test_browser.py`` (see there
for what they need); skips only when there is no Chromium to drive.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_browser import JupyterLabServer

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "book" / "11_try_it.ipynb"
SERVER_START_S = 60
NOTEBOOK_RUN_S = 180
REDRAW_S = 30


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


@pytest.fixture
def photo(tmp_path) -> Path:
    from kdehist.data import SyntheticKnees

    image = SyntheticKnees("real", "test", size=96)[4]["image"]
    array = ((image.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    path = tmp_path / "my-knee.png"
    Image.fromarray(np.ascontiguousarray(array)).save(path)
    bad = tmp_path / "not-a-photo.png"
    bad.write_bytes(b"%PDF-1.4 not a picture")
    return path


@pytest.mark.slow
def test_translation_explorer_redraws_in_jupyterlab(chromium, lab, photo, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            **chromium,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            try:
                use_the_app(page, lab, photo)
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                raise
            assert not [e for e in errors if "widget" in e.lower()], errors
        finally:
            context.close()


def wait_for_new_src(page, image, before: str) -> str:
    page.wait_for_function(
        "([element, src]) => element.getAttribute('src') !== src",
        arg=[image.element_handle(), before],
        timeout=REDRAW_S * 1000,
    )
    return image.get_attribute("src")


def upload(page, button, path: Path) -> None:
    """Choose a file with the upload button, as a reader does (ipywidgets 8 keeps its
    file input out of the page, so the file chooser is answered)."""
    with page.expect_file_chooser(timeout=REDRAW_S * 1000) as chooser:
        button.click()
    chooser.value.set_files(str(path))


def use_the_app(page, lab: JupyterLabServer, photo: Path) -> None:
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
    last = page.locator(".jp-OutputArea-output", has_text="app back to its first")
    last.wait_for(timeout=NOTEBOOK_RUN_S * 1000)
    assert (
        page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
        ).count()
        == 0
    ), lab.log_tail()
    assert (
        page.locator(
            ".jp-OutputArea-output", has_text="the app shows kdehist.translate: True"
        ).count()
        == 1
    )

    app = page.locator(".kdehist-translator").first
    output, readout = app.locator(".kdehist-output"), app.locator(".kdehist-readout")
    message = app.locator(".kdehist-message")
    output.scroll_into_view_if_needed()
    # text_content: JupyterLab's windowed notebook leaves inner_text empty.
    assert "test reference 0" in readout.text_content()
    src = output.get_attribute("src")

    app.locator(".kdehist-reference-kind button", has_text="Monk tone").click()
    src = wait_for_new_src(page, output, src)
    expect(readout).to_contain_text("Monk tone 5", timeout=REDRAW_S * 1000)
    expect(readout).to_contain_text("renderer's exact mask")

    app.locator(".kdehist-new-pose").click()
    src = wait_for_new_src(page, output, src)
    expect(readout).to_contain_text("a new pose (seed", timeout=REDRAW_S * 1000)

    upload(page, app.locator(".kdehist-upload"), photo)
    src = wait_for_new_src(page, output, src)
    expect(readout).to_contain_text("upload 'my-knee.png'", timeout=REDRAW_S * 1000)
    expect(message).to_contain_text("loaded", timeout=REDRAW_S * 1000)

    bad = photo.with_name("not-a-photo.png")
    upload(page, app.locator(".kdehist-upload"), bad)
    expect(message).to_contain_text("upload refused", timeout=REDRAW_S * 1000)
    expect(message).to_contain_text("not an image")
    assert output.get_attribute("src") == src  # the last good translation stays
    assert "ΔE76" in readout.text_content()
