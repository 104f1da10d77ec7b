"""The translation explorer, headless: what it shows is ``kdehist.translate`` of the
chosen pair with the shipped model, every reference kind works, and bad uploads
(ipywidgets 7.7.1's and 8's values) give a message, never an exception. Also the
gallery figure and the upload helpers of ``kdehist.uploads``."""

import datetime
import io

import ipywidgets
import numpy as np
import pytest
import torch
from PIL import Image

import kdehist
from kdehist import pretrained
from kdehist.translator import (
    CONTROL_NAMES,
    LIGHTINGS,
    REFERENCE_KINDS,
    TranslationExplorer,
    explore_translations,
    gallery_figure,
    gallery_pairs,
)
from kdehist.uploads import UploadError, decode_image_bytes, uploaded_files

IPYWIDGETS_8 = int(ipywidgets.__version__.split(".")[0]) >= 8


def png_bytes(array: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def image_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload_value(name: str, content: bytes, version: int):
    """A FileUpload value as ipywidgets 7.7.1 (a dict by file name, as on Colab) or 8
    (a tuple of dicts) sets it."""
    if version == 7:
        metadata = {
            "name": name,
            "type": "image/png",
            "size": len(content),
            "lastModified": 1767225600000,
        }
        return {name: {"metadata": metadata, "content": content}}
    return (
        {
            "name": name,
            "type": "image/png",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.datetime(
                2026, 1, 1, tzinfo=datetime.timezone.utc
            ),
        },
    )


@pytest.fixture(scope="module")
def knee_photo() -> tuple[np.ndarray, np.ndarray]:
    """A photo-style knee at 96 px as 8-bit RGB, and its mask as 0/255."""
    from kdehist.data import SyntheticKnees

    sample = SyntheticKnees("real", "test", size=96)[9]
    rgb = ((sample["image"].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    return rgb, (sample["mask"][0].numpy() * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def shared_app():
    app = explore_translations()
    yield app
    app.close()


@pytest.fixture
def app(shared_app):
    """The shared app back at its first settings, with no photo and no message."""
    shared_app._upload = None
    with shared_app._hold_redraws():
        shared_app.controls["input"].value = "test 0"
        shared_app.controls["reference_kind"].value = "test reference"
        shared_app.controls["reference"].value = 0
        shared_app.controls["tone"].value = 5
        shared_app.controls["lighting"].value = "studio"
    shared_app.redraw()
    shared_app._show_message("")
    return shared_app


def test_controls_and_first_view(app):
    assert set(CONTROL_NAMES) == set(app.controls)
    assert isinstance(app, TranslationExplorer) and isinstance(app, ipywidgets.VBox)
    assert list(app.controls["reference_kind"].options) == list(REFERENCE_KINDS)
    assert list(app.controls["lighting"].options) == list(LIGHTINGS)
    assert len(app.controls["input"].options) == 28
    state = app.current()
    assert state["input"] == "test 0" and state["reference"] == ("test", 0)
    assert state["mask_source"] == "test" and state["message"] == ""
    for view in (app.input_view, app.reference_view, app.output_view, app.plot):
        assert view.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ΔE76" in app.readout.value and "JIS class" in app.readout.value


def test_what_is_shown_is_translate_of_the_pair(app):
    committed = pretrained.committed_scores()["delta_e76"]
    app.controls["input"].value = "test 3"
    app.controls["reference"].value = 17
    state = app.current()
    result = kdehist.translate(
        state["input_pixels"],
        state["reference_pixels"],
        state["reference_mask"],
        image_mask=state["input_mask"],
    )
    torch.testing.assert_close(state["output"], result.output)
    assert state["delta_e76"] == pytest.approx(result.delta_e76)
    assert state["delta_e76"] == pytest.approx(committed[3, 17], abs=0.05)
    assert state["jis_class"] == kdehist.jis_class(state["delta_e76"])
    assert f"ΔE76 {state['delta_e76']:.2f}" in app.readout.value
    # The plot shows the two foreground histograms.
    torch.testing.assert_close(
        state["reference_histogram"], result.reference_histogram, atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        state["output_histogram"], result.output_histogram, atol=1e-6, rtol=0
    )


def test_monk_tones_and_lightings(app):
    from kdehist import mean_lab

    app.controls["reference_kind"].value = "Monk tone"
    assert app.current()["mask_source"] == "render"
    assert not app.controls["tone"].disabled and app.controls["reference"].disabled
    lightness = {}
    for tone in (1, 10):
        app.controls["tone"].value = tone
        state = app.current()
        assert state["reference"] == ("monk", tone, "studio")
        lightness[tone] = float(
            mean_lab(state["output"][None], state["input_mask"][None])[0, 0]
        )
    assert lightness[1] > lightness[10] + 20  # a light reference gives a light leg
    for lighting in LIGHTINGS:
        app.controls["lighting"].value = lighting
        assert app.current()["reference"][2] == lighting
        assert app.current()["message"] == ""


def test_a_new_pose_is_rendered_and_chosen(app):
    first = app.new_pose()
    second = app.new_pose()
    assert first != second and app.current()["input"] == second
    assert second in [value for _, value in app.controls["input"].options]
    state = app.current()
    assert state["input_mask"].sum() > 100 and state["message"] == ""


def test_your_photo_before_an_upload_says_so(app):
    app.controls["reference_kind"].value = "your photo"
    state = app.current()
    assert "upload a photo" in state["message"]
    assert state["reference_kind"] == "test reference"


@pytest.mark.parametrize("version", [7, 8])
def test_an_uploaded_photo_becomes_the_reference(app, knee_photo, version):
    rgb, mask = knee_photo
    name = f"knee{version}.png"
    assert app.add_upload(upload_value(name, png_bytes(rgb), version)) == name
    state = app.current()
    assert app.controls["reference_kind"].value == "your photo"
    assert state["reference"][0] == "upload"
    assert state["mask_source"] in ("segmenter", "border", "whole image")
    assert "loaded" in state["message"] and "foreground" in state["message"]
    # its mask, uploaded next, replaces what the segmenter found
    mask_name = f"mask{version}.png"
    assert app.add_mask_upload(upload_value(mask_name, png_bytes(mask), version))
    state = app.current()
    assert state["mask_source"] == "reference_mask"
    expected = kdehist.translate(
        state["input_pixels"], rgb, mask > 127, image_mask=state["input_mask"]
    )
    assert state["delta_e76"] == pytest.approx(expected.delta_e76, abs=1e-4)
    assert "your uploaded mask" in app.readout.value


def test_an_alpha_channel_is_the_mask(app, knee_photo):
    rgb, mask = knee_photo
    rgba = np.dstack([rgb, mask])
    assert app.add_upload(upload_value("cut-out.png", png_bytes(rgba), 7))
    assert app.current()["mask_source"] == "alpha"


@pytest.mark.parametrize("version", [7, 8])
def test_16_bit_and_palette_photos_are_converted_with_a_note(app, knee_photo, version):
    rgb, _ = knee_photo
    palette = image_bytes(Image.fromarray(rgb).quantize(32))
    assert app.add_upload(upload_value("palette.png", palette, version))
    assert "palette" in app.current()["message"]
    grey = (rgb.mean(axis=2) * 257).astype(np.uint16)
    assert app.add_upload(
        upload_value("grey16.png", image_bytes(Image.fromarray(grey)), version)
    )
    assert "16-bit" in app.current()["message"]
    assert app.current()["reference"][0] == "upload"


BAD_UPLOADS = {
    "not an image": (b"%PDF-1.4 certainly not a picture", "not an image"),
    "empty": (b"", "empty"),
    "truncated": (png_bytes(np.zeros((64, 64, 3), np.uint8))[:60], "not an image"),
    "tiny": (png_bytes(np.zeros((4, 4, 3), np.uint8)), "at least 8 pixels"),
}


@pytest.mark.parametrize("version", [7, 8])
@pytest.mark.parametrize("kind", sorted(BAD_UPLOADS))
def test_a_bad_photo_shows_a_message_and_never_raises(app, version, kind):
    content, expected = BAD_UPLOADS[kind]
    before = app.current()
    assert app.add_upload(upload_value("bad.png", content, version)) is None
    state = app.current()
    assert "upload refused" in state["message"] and expected in state["message"]
    assert "refused" in app.message.value
    assert state["reference"] == before["reference"]


@pytest.mark.parametrize("version", [7, 8])
def test_a_huge_photo_is_refused(version):
    app = explore_translations(max_upload_bytes=4000, max_upload_pixels=150 * 150)
    noisy = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    assert app.add_upload(upload_value("heavy.png", png_bytes(noisy), version)) is None
    assert "too large" in app.current()["message"] and "MiB" in app.current()["message"]
    flat = np.zeros((400, 400, 3), dtype=np.uint8)
    assert app.add_upload(upload_value("wide.png", png_bytes(flat), version)) is None
    assert "megapixels" in app.current()["message"]
    app.close()


@pytest.mark.parametrize("version", [7, 8])
def test_bad_masks_show_a_message(app, knee_photo, version):
    rgb, mask = knee_photo
    # A mask before any photo.
    assert app.add_mask_upload(upload_value("m.png", png_bytes(mask), version)) is None
    assert "upload the photo first" in app.current()["message"]
    app.add_upload(upload_value("knee.png", png_bytes(rgb), version))
    source = app.current()["mask_source"]
    for content, expected in [
        (png_bytes(np.zeros_like(mask)), "no foreground"),
        (png_bytes(mask[:50]), "expected a mask of the photo's size"),
        (b"not a png", "not an image"),
    ]:
        assert app.add_mask_upload(upload_value("m.png", content, version)) is None
        assert "mask refused" in app.current()["message"]
        assert expected in app.current()["message"]
        assert app.current()["mask_source"] == source


@pytest.mark.parametrize("value", [42, ("not a dict",), {"x.png": {"metadata": {}}}])
def test_malformed_upload_values_show_a_message(app, value):
    assert app.add_upload(value) is None
    assert "refused" in app.current()["message"]
    assert app.add_mask_upload(value) is None
    assert "refused" in app.current()["message"]


def send_upload(upload: ipywidgets.FileUpload, name: str, content: bytes) -> None:
    """Update an upload control as its browser view does (ipywidgets 7 or 8)."""
    if IPYWIDGETS_8:
        upload.value = upload_value(name, content, 8)
    else:  # 7.x: the view sends metadata and data, then bumps a counter
        upload.metadata = [
            {"name": name, "type": "image/png", "size": len(content), "lastModified": 0}
        ]
        upload.data = [content]
        upload._counter += 1


def test_the_upload_controls_call_the_handlers(app, knee_photo):
    rgb, mask = knee_photo
    send_upload(app.controls["upload"], "junk.png", b"junk")
    assert "not an image" in app.current()["message"]
    send_upload(app.controls["upload"], "ok.png", png_bytes(rgb))
    assert app.current()["reference"][0] == "upload"
    send_upload(app.controls["mask_upload"], "ok-mask.png", png_bytes(mask))
    assert app.current()["mask_source"] == "reference_mask"


def test_a_failing_redraw_shows_a_message(app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no luck")

    monkeypatch.setattr("kdehist.translator.translate", broken)
    app._translations.clear()
    app.controls["reference"].value = 5
    assert "redraw failed: RuntimeError: no luck" in app.current()["message"]


# ---------------------------------------------------------------------------- uploads


def test_uploaded_files_reads_7_and_8_values():
    content = b"abc"
    for version in (7, 8):
        assert uploaded_files(upload_value("a.png", content, version)) == [
            ("a.png", content)
        ]
    assert uploaded_files(None) == [] and uploaded_files(()) == []
    with pytest.raises(UploadError, match="unexpected upload value"):
        uploaded_files(3.5)


def test_decode_image_bytes_keeps_alpha_and_reports_the_mode():
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[2:8, 3:9, 3] = 255
    array, mode, size = decode_image_bytes("a.png", png_bytes(rgba), 10**6, 10**6)
    assert array.shape == (10, 12, 4) and mode == "RGBA" and size == (12, 10)


# ---------------------------------------------------------------------------- gallery


def test_gallery_spans_the_lightest_and_darkest_references():
    from kdehist.evaluate import load_test_set

    test = load_test_set(64)
    lightness = kdehist.mean_lab(test.refs, test.ref_masks)[:, 0]
    rows, columns = gallery_pairs(3, 4)
    assert rows == [0, 1, 2]
    assert columns[0] == int(lightness.argmax()) and columns[-1] == int(
        lightness.argmin()
    )
    fig = gallery_figure(2, 3)
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 4
    titles = [ax.get_title() for ax in fig.axes]
    assert sum(t.startswith("ΔE76") for t in titles) == 2 * 3
