"""The book's diagrams (kdehist.diagrams): they show the networks that are built, and
they draw without pyplot."""

import pytest
import torch

from kdehist import diagrams
from kdehist.figures import figure_png
from kdehist.models import ResnetGenerator


def texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize(
    "conditioned, references", [("both", 2), ("G", 1), ("none", 0)]
)
def test_cyclegan_diagram_shows_the_four_networks_and_the_conditions(
    conditioned, references
):
    fig = diagrams.cyclegan_diagram(conditioned)
    words = texts(fig)
    for name in ("G: X → Y", "F: Y → X", "D_X", "D_Y", "cycle loss", "identity loss"):
        assert name in words
    assert words.count("histogram of a reference") == references
    assert ("histogram loss" in words) is (conditioned != "none")
    assert figure_png(fig).startswith(b"\x89PNG")


def test_cyclegan_diagram_rejects_an_unknown_condition():
    with pytest.raises(ValueError, match="conditioned: expected"):
        diagrams.cyclegan_diagram("F")


def test_generator_stages_are_read_from_the_module():
    g = ResnetGenerator(ngf=8, n_blocks=3, hist_bins=16, condition="film")
    stages = diagrams.generator_stages(g)
    assert [channels for _, channels, _ in stages] == [8, 16, 32, 32, 16, 8, 3]
    assert [scale for _, _, scale in stages] == [1, 2, 4, 4, 2, 1, 1]
    assert stages[3][0] == "3 residual\nblocks\nwith FiLM"
    plain = diagrams.generator_stages(ResnetGenerator(ngf=4, n_blocks=2))
    assert plain[3][0] == "2 residual\nblocks"
    assert plain[-1][0].endswith("tanh")


def test_generator_diagram_draws_the_condition_only_when_there_is_one():
    conditioned = texts(
        diagrams.generator_diagram(
            ResnetGenerator(ngf=8, n_blocks=2, hist_bins=16, condition="film")
        )
    )
    assert "reference histogram h: 3 × 16" in conditioned
    assert "(48 → 256 → 256)" in conditioned and "FiLM" in conditioned
    plain = texts(diagrams.generator_diagram(ResnetGenerator(ngf=8, n_blocks=2)))
    assert "reference histogram" not in plain and "(no FiLM)" in plain


def test_generator_loss_curves_are_the_three_losses_and_their_slopes():
    t = torch.tensor([-4.0, 0.0, 1.0])
    curves = diagrams.generator_loss_curves(t)
    (sat, sat_slope), (non, non_slope), (ls, ls_slope) = curves.values()
    sigma = torch.sigmoid(t)
    assert torch.allclose(sat, torch.log(1 - sigma))
    assert torch.allclose(sat_slope, -sigma)
    assert torch.allclose(non, -torch.log(sigma))
    assert torch.allclose(non_slope, sigma - 1)
    assert torch.allclose(ls, (t - 1) ** 2) and torch.allclose(ls_slope, 2 * (t - 1))


def test_the_small_figures_draw():
    effects = {
        ("D", "0"): ("convolution feeding an instance norm", 1e-5),
        ("D", "1"): ("last convolution", 10.0),
        ("G", "a"): ("histogram encoder and FiLM", 1.0),
    }
    for fig in (
        diagrams.layer_effects_figure(effects),
        diagrams.generator_losses_figure(),
        diagrams.power_iteration_figure([1e-1, 1e-3, 1e-5], 0.5),
    ):
        assert figure_png(fig).startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def app():
    widgets = pytest.importorskip("kdehist.widgets")
    explorer = widgets.explore()
    yield explorer
    explorer.close()


def test_the_explorer_figures_draw_what_the_app_displays(app):
    def state(**settings):
        for name, value in settings.items():
            app.controls[name].value = value
        return app.current()

    middle = [("0.4", state(image="coffee", bins=16, bandwidth=0.4, kernel_bin=8))]
    end = [("none", state(kernel_bin=15))]
    fig = diagrams.explorer_windows_figure(middle, end)
    drawn = fig.axes[0].lines[0].get_ydata()
    assert torch.allclose(torch.as_tensor(drawn), middle[0][1]["kernel"])
    view = diagrams.explorer_view_figure(state(image="knee sim 0", mask=True))
    assert "JIS class" in texts(view)
    assert figure_png(view).startswith(b"\x89PNG")
