"""Training: one step per variant, exact resume, checkpoints,
configuration errors, the CLI.
"""

import json
import math

import pytest
import torch

from kdehist.__main__ import main
from kdehist.models import VARIANTS
from kdehist.train import (
    ImagePool,
    TrainConfig,
    TrainState,
    gan_loss,
    learning_rate,
    load_generators,
    load_training_data,
    read_metrics,
    train,
    train_step,
)


@pytest.fixture(scope="module")
def smoke_data():
    return load_training_data(TrainConfig.from_profile("smoke"))


def smoke(variant="proposed_both", **overrides):
    return TrainConfig.from_profile("smoke", variant=variant, **overrides)


# --------------------------------------------------------------------------- one step


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_takes_a_training_step(variant, smoke_data):
    state = TrainState.create(smoke(variant), smoke_data, torch.device("cpu"))
    before = {k: v.clone() for k, v in state.nets.state_dict().items()}
    losses = train_step(state, state.loader.batch(0))
    assert all(math.isfinite(v.item()) for v in losses.values())
    expected_hist = {
        "cyclegan": set(),
        "cyclegan_sn": set(),
        "proposed_one": {"hist_G"},
        "proposed_both": {"hist_G", "hist_F"},
    }
    assert {k for k in losses if k.startswith("hist")} == expected_hist[variant]
    after = state.nets.state_dict()
    for net in ("G", "F", "D_X", "D_Y"):  # both updates happened
        assert any(
            not torch.equal(before[k], after[k])
            for k in after
            if k.startswith(net + ".")
        )


def test_loss_weights_follow_eq7_with_the_reference_identity_convention():
    config = smoke(lambda_cycle=10.0, lambda_idt=0.5)
    assert config.identity_weight == 5.0
    assert smoke(lambda_idt=0.0).identity_weight == 0.0


def test_gan_losses():
    logits = torch.tensor([[0.0, 2.0]])
    assert gan_loss(logits, True, "lsgan").item() == pytest.approx((1 + 1) / 2)
    assert gan_loss(logits, False, "lsgan").item() == pytest.approx((0 + 4) / 2)
    # The paper's log-loss: -log sigmoid(0) = log 2 for a logit of 0.
    assert gan_loss(torch.zeros(1, 1), True, "vanilla").item() == pytest.approx(
        math.log(2)
    )


def test_learning_rate_is_constant_then_linear_to_near_zero():
    config = smoke(steps=10, decay_start=4, lr=1e-3)
    rates = [learning_rate(step, config) for step in range(10)]
    assert rates[:5] == [1e-3] * 5
    assert all(a > b for a, b in zip(rates[4:], rates[5:]))
    assert rates[-1] == pytest.approx(1e-3 * 2 / 7)


def test_image_pool_fills_then_swaps_half_and_resumes_exactly():
    pool = ImagePool(size=3, seed=0)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    # filling: passed through
    assert torch.equal(pool.query(first), first) and len(pool) == 3
    twin = ImagePool(size=3, seed=99)
    twin.load_state_dict(pool.state_dict())
    later = torch.arange(10.0, 50.0).view(40, 1, 1, 1)
    out, out_twin = pool.query(later), twin.query(later)
    assert torch.equal(out, out_twin)
    # about half are older fakes from the pool
    assert 10 < (out != later).sum().item() < 30
    assert torch.equal(ImagePool(size=0).query(later), later)


# --------------------------------------------------------------------------- whole runs


def test_resumed_run_ends_with_the_same_weights(tmp_path):
    config = smoke("proposed_both")
    straight = train(config, tmp_path / "straight", progress=False)
    first = train(config, tmp_path / "resumed", stop_at=2, progress=False)
    assert (first.step, first.finished) == (2, False)
    second = train(config, tmp_path / "resumed", progress=False)
    assert (second.step, second.finished) == (4, True)

    a = torch.load(straight.checkpoint, weights_only=True)
    b = torch.load(second.checkpoint, weights_only=True)
    for part in ("nets", "pool_X", "pool_Y", "loader"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(
                torch.as_tensor(a[part][key]), torch.as_tensor(b[part][key])
            ), (part, key)
    for opt in ("opt_G", "opt_D"):
        for index, slot in a[opt]["state"].items():
            for name, value in slot.items():
                same = torch.equal(value, b[opt]["state"][index][name])
                assert same, (opt, index, name)

    def drop_time(records):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    assert drop_time(read_metrics(tmp_path / "straight")) == drop_time(
        read_metrics(tmp_path / "resumed")
    )
    assert sorted(p.name for p in (tmp_path / "resumed" / "samples").iterdir()) == [
        "step_000002.png",
        "step_000004.png",
    ]
    # A finished run returns at once.
    assert train(config, tmp_path / "straight", progress=False).step == 4


def test_checkpoint_loads_safely_and_rebuilds_the_generators(tmp_path, smoke_data):
    result = train(smoke("proposed_one", steps=1), tmp_path, progress=False)
    # tensors and plain containers only
    saved = torch.load(result.checkpoint, weights_only=True)
    assert saved["step"] == 1 and saved["config"]["variant"] == "proposed_one"
    assert json.loads((tmp_path / "config.json").read_text()) == saved["config"]

    G, F, config = load_generators(result.checkpoint)
    assert not G.training and G.conditioned and not F.conditioned
    assert config == smoke("proposed_one", steps=1)
    (x, x_mask), (y, y_mask) = smoke_data
    from kdehist import soft_histogram

    with torch.no_grad():
        out = G(x[:2], soft_histogram(y[:2], config.hist_bins, mask=y_mask[:2]))
    assert out.shape == x[:2].shape and out.abs().max() <= 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(variant="pix2pix"), ValueError, "variant: expected one of"),
        (
            dict(image_size=16),
            ValueError,
            "image_size: expected a multiple of 4 between 32",
        ),
        (
            dict(image_size=36, n_layers=4),
            ValueError,
            "image_size: expected a multiple of 4 between 48",
        ),
        (dict(condition="add"), ValueError, "condition: expected one of"),
        (dict(gan_mode="wgan"), ValueError, "gan_mode: expected one of"),
        (
            dict(lambda_hist=-1.0),
            ValueError,
            "lambda_hist: expected a finite number >= 0",
        ),
        (
            dict(steps=4, decay_start=9),
            ValueError,
            "decay_start: expected at most steps=4",
        ),
        (
            dict(data_x="some/folder"),
            ValueError,
            "data_x, data_y: expected both folders or neither",
        ),
        (
            dict(bogus=1),
            TypeError,
            r"overrides: expected fields of TrainConfig .* got \['bogus'\]",
        ),
    ],
)
def test_bad_config_errors_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        TrainConfig.from_profile("smoke", **kwargs)


def test_unknown_profile():
    with pytest.raises(
        ValueError,
        match="name: expected one of 'smoke', 'cpu', 'gpu', 'paper', got 'laptop'",
    ):
        TrainConfig.from_profile("laptop")


def test_missing_data_folder_fails_before_any_work(tmp_path):
    config = smoke(data_x=str(tmp_path / "sim"), data_y=str(tmp_path / "real"))
    with pytest.raises(
        FileNotFoundError, match="data_x: expected an existing folder of images"
    ):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resuming_with_other_settings_is_refused(tmp_path):
    train(smoke("cyclegan", steps=1), tmp_path, progress=False)
    with pytest.raises(
        ValueError,
        match=r"config: expected the settings of the run being resumed "
        r".* lambda_cycle: 10.0 -> 5.0",
    ):
        train(smoke("cyclegan", steps=1, lambda_cycle=5.0), tmp_path, progress=False)


# ------------------------------------------------------------------------- command line


def test_command_line_trains_and_reports(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--variant",
        "cyclegan_sn",
        "--profile",
        "smoke",
        "--out",
        str(out),
        "--set",
        "steps=1",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "finished at step 1/1" in capsys.readouterr().out
    assert (out / "checkpoint.pt").is_file() and len(read_metrics(out)) == 1


def test_command_line_configuration_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "train",
                "--variant",
                "cyclegan",
                "--profile",
                "smoke",
                "--out",
                str(tmp_path),
                "--set",
                "image_size=20",
            ]
        )
    assert exit_info.value.code == 2
    assert "image_size: expected a multiple of 4" in capsys.readouterr().err


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu", "paper"])
def test_every_profile_builds_a_config_with_a_seed(profile):
    from kdehist.config import TrainConfig
    from kdehist.profiles import PROFILE_SETTINGS

    config = TrainConfig.from_profile(profile, variant="cyclegan", seed=2)
    assert config.seed == 2 and config.profile == profile
    assert config.steps == PROFILE_SETTINGS[profile].get("steps", TrainConfig.steps)


def test_cpu_profile_pins_precision_and_threads():
    from kdehist.train import TrainConfig

    config = TrainConfig.from_profile("cpu")
    # committed results never depend on the host
    assert config.autocast == "none" and config.threads == 2
