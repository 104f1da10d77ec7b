"""The histogram explorer, headless: what it displays is the package's
histograms, losses and ΔE for the chosen settings, and a bad upload shows a
message instead of raising.
"""

import datetime
import io

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

import kdehist
from kdehist.data import SyntheticKnees
from kdehist.histogram import bin_edges
from kdehist.widgets import CONTROL_NAMES, HistogramExplorer, explore

IPYWIDGETS_8 = int(ipywidgets.__version__.split(".")[0]) >= 8


def eight_bit_image(seed: int, size: int = 48) -> torch.Tensor:
    """A random 8-bit colour image in [-1, 1], as the photos and knees are."""
    generator = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 256, (3, size, size), generator=generator)
    return levels.float() / 127.5 - 1


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_value(name: str, content: bytes, version: int):
    """A FileUpload value as ipywidgets 7 (dict by file name) or 8
    (tuple of dicts) sets it.
    """
    if version == 7:
        metadata = {
            "name": name,
            "type": "image/png",
            "size": len(content),
            "lastModified": 0,
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
def shared_app():
    """An app over small images, one with a mask, built once:
    building draws every panel.
    """
    mask = torch.zeros(1, 48, 48)
    mask[:, 8:40, 12:36] = 1
    app = explore(
        images={
            "masked": {"image": eight_bit_image(0), "mask": mask},
            "plain": eight_bit_image(1),
            # Not 8-bit: as many values as pixels, histogrammed pixel by pixel.
            "continuous": torch.rand(
                3, 40, 40, generator=torch.Generator().manual_seed(2)
            )
            * 2.4
            - 1.2,
        }
    )
    defaults = {
        name: control.value
        for name, control in app.controls.items()
        if name != "upload"
    }
    yield app, defaults
    app.close()


@pytest.fixture
def small_app(shared_app):
    """The shared app, back at its initial settings, with no message showing."""
    app, defaults = shared_app
    for name, value in defaults.items():
        app.controls[name].value = value
    app._show_message("")  # a message left by the previous test
    return app


def expected_histograms(state, histogram):
    """The package's histogram for the app's settings, on the channels it shows."""
    full = histogram(
        state["pixels"],
        state["bins"],
        state["bandwidth"],
        mask=state["weights"],
        boundary=state["boundary"],
    )[0]
    return full[list(state["channels"])]


def test_controls_are_the_documented_widgets(small_app):
    assert set(CONTROL_NAMES) <= set(small_app.controls)
    for name in (
        "image",
        "bins",
        "bandwidth",
        "channel",
        "boundary",
        "mask",
        "kernel_bin",
    ):
        assert isinstance(small_app.controls[name], ipywidgets.ValueWidget), name
    assert (small_app.controls["bins"].min, small_app.controls["bins"].max) == (4, 256)
    assert isinstance(small_app.controls["bandwidth"], ipywidgets.FloatLogSlider)
    assert isinstance(small_app.controls["upload"], ipywidgets.FileUpload)
    assert isinstance(small_app, ipywidgets.Widget)
    assert plt.get_fignums() == [], (
        "the app must not leave pyplot figures to be shown twice"
    )


@pytest.mark.parametrize("image", ["masked", "plain", "continuous"])
@pytest.mark.parametrize(
    "bins, ratio, channel, boundary, mask",
    [
        (4, 0.4, "all", "none", False),
        (64, 0.01, "red", "reflect", True),
        (200, 10.0, "all", "reflect", False),
        (256, 1.0, "blue", "none", True),
    ],
)
def test_displayed_histograms_are_the_package_histograms(
    small_app, image, bins, ratio, channel, boundary, mask
):
    controls = small_app.controls
    controls["image"].value = image
    # so that the mask control is enabled whatever the image
    controls["reference"].value = "masked"
    controls["bins"].value = bins
    controls["bandwidth"].value = ratio
    controls["channel"].value = channel
    controls["boundary"].value = boundary
    controls["mask"].value = mask
    state = small_app.current()
    assert state["message"] == ""
    assert state["bins"] == bins and state["boundary"] == boundary
    assert state["bandwidth"] == pytest.approx(ratio * 2 / bins)
    assert state["channels"] == {"all": (0, 1, 2), "red": (0,), "blue": (2,)}[channel]
    assert state["mask"] == mask
    assert (state["weights"] is not None) == (mask and image == "masked")
    soft = expected_histograms(state, kdehist.soft_histogram)
    hard = expected_histograms(state, kdehist.hard_histogram)
    assert state["soft"].shape == soft.shape == (len(state["channels"]), bins)
    torch.testing.assert_close(state["soft"].float(), soft, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(state["hard"].float(), hard, atol=1e-7, rtol=1e-6)
    torch.testing.assert_close(state["mass"], soft.sum(-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(state["edges"], bin_edges(bins))


def test_losses_and_delta_e_are_the_packages(small_app):
    controls = small_app.controls
    controls["image"].value, controls["reference"].value = "masked", "plain"
    controls["bins"].value = 32
    controls["channel"].value = "green"
    state = small_app.current()
    reference = kdehist.soft_histogram(
        state["reference_pixels"], 32, state["bandwidth"]
    )[0, [1]]
    for kind in ("l2", "emd", "hellinger"):
        expected = kdehist.histogram_loss(
            expected_histograms(state, kdehist.soft_histogram), reference, kind
        )
        assert state["losses"][kind] == pytest.approx(float(expected), abs=1e-6)
    assert state["delta_e"] == pytest.approx(
        float(kdehist.delta_e(state["pixels"], state["reference_pixels"])[0])
    )
    controls["mask"].value = True
    masked = small_app.current()
    expected = kdehist.delta_e(
        masked["pixels"], masked["reference_pixels"], mask=masked["weights"]
    )[0]
    assert masked["delta_e"] == pytest.approx(float(expected))
    assert masked["delta_e"] != pytest.approx(state["delta_e"])


@pytest.mark.parametrize("boundary", ["none", "reflect"])
@pytest.mark.parametrize("kernel_bin", [0, 5, 15])
def test_kernel_is_the_window_of_the_chosen_bin(small_app, boundary, kernel_bin):
    small_app.controls["bins"].value = 16
    small_app.controls["boundary"].value = boundary
    small_app.controls["kernel_bin"].value = kernel_bin
    state = small_app.current()
    z, bandwidth = state["kernel_grid"].double(), state["bandwidth"]
    edges = bin_edges(16, dtype=torch.float64)
    lower = torch.sigmoid((z - edges[kernel_bin]) / bandwidth)
    upper = torch.sigmoid((z - edges[kernel_bin + 1]) / bandwidth)
    if boundary == "reflect" and kernel_bin == 0:
        lower = torch.ones_like(z)  # the first bin reaches down to -infinity
    if boundary == "reflect" and kernel_bin == 15:
        upper = torch.zeros_like(z)  # the last bin reaches up to +infinity
    torch.testing.assert_close(
        state["kernel"].double(), lower - upper, atol=1e-6, rtol=0
    )
    assert (
        state["kernel_grid"].min()
        < edges[kernel_bin]
        < edges[kernel_bin + 1]
        < state["kernel_grid"].max()
    )


def test_kernel_bin_slider_follows_the_number_of_bins(small_app):
    controls = small_app.controls
    controls["bins"].value = 64
    controls["kernel_bin"].value = 48  # three quarters of the range
    controls["bins"].value = 16
    assert controls["kernel_bin"].max == 15
    assert controls["kernel_bin"].value == 12  # still three quarters of the range
    assert small_app.current()["kernel_bin"] == 12
    controls["bins"].value = 256
    # Bin 200 of 256 holds the centre of bin 12 of 16, 12.5 / 16
    # of the way along the range.
    assert (
        controls["kernel_bin"].max == 255 and small_app.current()["kernel_bin"] == 200
    )


def test_mask_control_is_disabled_where_there_is_no_mask():
    app = explore(images={"a": eight_bit_image(3), "b": eight_bit_image(4)})
    assert app.controls["mask"].disabled and app.current()["mask"] is False
    app.controls["mask"].value = True  # ignored: there is no mask to use
    assert app.current()["weights"] is None
    app.close()


def test_every_control_change_redraws_the_plot(small_app):
    changes = {
        "bins": 8,
        "bandwidth": 2.0,
        "channel": "red",
        "boundary": "reflect",
        "mask": True,
        "kernel_bin": 1,
        "image": "plain",
        "reference": "continuous",
    }
    for name, value in changes.items():
        before = (
            small_app.plot.value,
            small_app.kernel_plot.value,
            small_app.readout.value,
        )
        small_app.controls[name].value = value
        after = (
            small_app.plot.value,
            small_app.kernel_plot.value,
            small_app.readout.value,
        )
        assert after != before, f"changing {name} did not change the display"
        assert small_app.current()["message"] == ""


def test_default_catalogue_offers_photos_and_knees_of_both_domains_with_masks():
    app = HistogramExplorer()
    choices = list(app.controls["image"].options)
    assert {"astronaut", "coffee", "chelsea"} <= set(choices)
    assert any("sim" in c for c in choices) and any("real" in c for c in choices)
    assert app.controls["mask"].disabled  # two photos: no mask
    app.controls["image"].value = "knee sim 0"
    app.controls["mask"].value = True
    state = app.current()
    knee = SyntheticKnees("sim", "test", size=256)[0]
    torch.testing.assert_close(state["pixels"][0], knee["image"])
    torch.testing.assert_close(state["weights"][0], knee["mask"])
    torch.testing.assert_close(
        state["soft"],
        expected_histograms(state, kdehist.soft_histogram),
        atol=1e-6,
        rtol=1e-5,
    )
    assert state["pixels"].shape == (1, 3, 256, 256)
    app.close()


# ----------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("version", [7, 8])
def test_uploaded_image_is_added_and_shown(small_app, version):
    rgba = np.zeros((30, 40, 4), dtype=np.uint8)
    rgba[..., 0] = np.arange(40, dtype=np.uint8)[None] * 6
    rgba[5:25, 10:30, 3] = 255  # opaque foreground: the alpha channel becomes the mask
    name = f"leg{version}.png"
    label = small_app.add_upload(upload_value(name, png_bytes(rgba), version))
    assert label == f"upload: {name}"
    assert (
        small_app.controls["image"].value == label
        and label in small_app.controls["reference"].options
    )
    assert not small_app.controls["mask"].disabled
    assert "loaded" in small_app.current()["message"]
    small_app.controls["mask"].value = True
    state = small_app.current()
    # the next action clears the message
    assert state["image"] == label and state["message"] == ""
    assert state["pixels"].shape == (1, 3, 30, 40)
    assert float(state["weights"].sum()) == 20 * 20
    torch.testing.assert_close(
        state["soft"],
        expected_histograms(state, kdehist.soft_histogram),
        atol=1e-6,
        rtol=1e-5,
    )
    # The same file again gets its own name.
    assert (
        small_app.add_upload(upload_value(name, png_bytes(rgba), version))
        == f"upload: {name} (2)"
    )


def test_large_upload_is_downsampled_for_analysis(small_app):
    big = np.full((600, 300, 3), 200, dtype=np.uint8)
    small_app.add_upload(upload_value("tall.png", png_bytes(big), 8))
    assert small_app.current()["pixels"].shape == (1, 3, 256, 128)


BAD_UPLOADS = {
    "not an image": (b"%PDF-1.4 certainly not a picture", "not an image"),
    "empty": (b"", "empty"),
    "truncated": (
        png_bytes(np.zeros((64, 64, 3), dtype=np.uint8))[:60],
        "not an image",
    ),
}


@pytest.mark.parametrize("version", [7, 8])
@pytest.mark.parametrize("kind", sorted(BAD_UPLOADS))
def test_bad_upload_shows_a_message_and_never_raises(small_app, version, kind):
    content, expected = BAD_UPLOADS[kind]
    before = small_app.current()
    assert small_app.add_upload(upload_value("bad.png", content, version)) is None
    state = small_app.current()
    assert expected in state["message"] and "refused" in state["message"]
    assert "refused" in small_app.message.value  # shown in the app, not only returned
    assert state["image"] == before["image"]
    assert "upload: bad.png" not in small_app.controls["image"].options


@pytest.mark.parametrize("version", [7, 8])
def test_too_large_upload_shows_a_message(version):
    app = explore(
        images={"a": eight_bit_image(5)},
        max_upload_bytes=2000,
        max_upload_pixels=100 * 100,
    )
    noisy = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    assert app.add_upload(upload_value("heavy.png", png_bytes(noisy), version)) is None
    assert "too large" in app.current()["message"] and "MiB" in app.current()["message"]
    # Small in bytes, but too many pixels once decoded.
    flat = np.zeros((200, 200, 3), dtype=np.uint8)
    assert app.add_upload(upload_value("wide.png", png_bytes(flat), version)) is None
    assert (
        "too large" in app.current()["message"]
        and "megapixels" in app.current()["message"]
    )
    app.close()


@pytest.mark.parametrize("value", [42, ("not a dict",), {"x.png": {"metadata": {}}}])
def test_malformed_upload_values_show_a_message(small_app, value):
    assert small_app.add_upload(value) is None
    assert "refused" in small_app.current()["message"]


def send_upload(upload: ipywidgets.FileUpload, name: str, content: bytes) -> None:
    """Update the upload control as its browser view does (ipywidgets 7 or 8)."""
    if IPYWIDGETS_8:
        upload.value = upload_value(name, content, 8)
    else:  # 7.x: the view sends metadata and data, then bumps a counter that sets value
        upload.metadata = [
            {"name": name, "type": "image/png", "size": len(content), "lastModified": 0}
        ]
        upload.data = [content]
        upload._counter += 1


def test_upload_control_triggers_the_upload(small_app):
    send_upload(small_app.controls["upload"], "junk.png", b"junk")
    assert "not an image" in small_app.current()["message"]
    send_upload(
        small_app.controls["upload"],
        "ok.png",
        png_bytes(np.full((8, 8, 3), 9, np.uint8)),
    )
    assert small_app.current()["image"] == "upload: ok.png"


# ---------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "images, error",
    [
        ({}, TypeError),
        ([torch.zeros(3, 8, 8)], TypeError),
        ({"x": "photo.png"}, TypeError),
        ({"x": torch.zeros(1, 8, 8)}, ValueError),
        ({"x": np.zeros((8, 8, 3), dtype=np.float32)}, ValueError),
        (
            {"x": {"image": torch.zeros(3, 8, 8), "mask": torch.zeros(1, 8, 8)}},
            ValueError,
        ),
        ({"x": {"mask": torch.ones(1, 8, 8)}}, ValueError),
    ],
)
def test_bad_images_argument_names_the_argument(images, error):
    with pytest.raises(error, match="images"):
        explore(images=images)
