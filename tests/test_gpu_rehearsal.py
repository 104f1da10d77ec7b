"""A GPU rehearsal on the CPU: the gpu profile's code path, with tiny networks.

The gpu profile has not run on a GPU here. These tests run its path on the CPU under
:func:`kdehist.precision.gpu_rehearsal`: float16 autocast with a gradient scaler (as on
a T4), bfloat16 (as on an A100 or L4), the device moves, and the scaler's state in the
checkpoint (a resumed run ends bit-exactly where an uninterrupted one does).
"""

import math

import pytest
import torch

from kdehist.io import load_checkpoint
from kdehist.precision import Precision, gpu_rehearsal, resolve_device
from kdehist.precision import resolve_precision
from kdehist.train import (
    TrainConfig,
    TrainState,
    load_generators,
    load_training_data,
    train,
    train_step,
)

CPU = torch.device("cpu")
T4, A100 = (7, 5), (8, 0)


def tiny_gpu(**overrides) -> TrainConfig:
    """The gpu profile (autocast "auto", its periods and schedule) at the smoke size, on
    the CPU even where there is a GPU: the rehearsal stands in for one."""
    sizes = dict(
        device="cpu", image_size=32, ngf=8, n_blocks=2, ndf=8, n_layers=2, hist_bins=16,
        batch_size=2, steps=6, decay_start=3, pool_size=4, max_images=8, threads=1,
        checkpoint_every=2, sample_every=3, log_every=1,
    )  # fmt: skip
    return TrainConfig.from_profile(
        "gpu", variant="proposed_both", **(sizes | overrides)
    )


def test_auto_precision_follows_the_rehearsed_device():
    assert resolve_precision("auto", CPU) in ("none", "bf16")  # this CPU's own
    with gpu_rehearsal(T4):
        assert resolve_precision("auto", CPU) == "fp16"
        with gpu_rehearsal(A100):
            assert resolve_precision("auto", CPU) == "bf16"
        assert resolve_precision("auto", CPU) == "fp16"  # nested: restored
    with pytest.raises(ValueError, match="autocast: 'fp16' needs a CUDA device"):
        resolve_precision("fp16", CPU)  # outside a rehearsal, as before


def test_fp16_takes_a_step_with_a_gradient_scaler():
    config = tiny_gpu()
    assert config.autocast == "auto"
    with gpu_rehearsal(T4):
        state = TrainState.create(config, load_training_data(config), CPU)
        assert state.precision.mode == "fp16"
        assert isinstance(state.precision.scaler, torch.amp.GradScaler)
        with state.precision.autocast():
            assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float16
        losses = train_step(state, state.loader.batch(0))
    assert all(math.isfinite(v.item()) for v in losses.values())
    scaler = state.precision.state_dict()
    assert set(scaler) >= {
        "scale",
        "growth_factor",
        "backoff_factor",
        "_growth_tracker",
    }


def test_the_scaler_skips_an_overflowing_step_and_backs_off():
    with gpu_rehearsal(T4):
        amp = Precision("auto", CPU)
    net = torch.nn.Linear(4, 4)
    before = net.weight.detach().clone()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    with amp.autocast():
        loss = (
            net(torch.full((8, 4), 100.0)) * 1e4
        ).sum()  # float16 gradients overflow
    amp.backward(loss)
    amp.step(optimizer)
    amp.update()
    assert torch.equal(net.weight, before)  # the step was skipped
    assert amp.state_dict()["scale"] == 65536.0 / 2  # and the scale backed off
    optimizer.zero_grad()
    with amp.autocast():
        loss = net(torch.ones(8, 4)).float().sum() * 1e-3
    amp.backward(loss)
    amp.step(optimizer)
    amp.update()
    assert not torch.equal(net.weight, before)  # a finite step goes through


def test_fp16_resume_is_bit_exact_with_the_scaler_restored(tmp_path):
    config = tiny_gpu()
    with gpu_rehearsal(T4):
        straight = train(config, tmp_path / "straight", progress=False)
        train(config, tmp_path / "resumed", stop_at=3, progress=False)
        halfway = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
        assert halfway["step"] == 3 and halfway["precision"] == "fp16"
        assert halfway["scaler"]["scale"] > 0
        resumed = train(config, tmp_path / "resumed", progress=False)
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    assert a["step"] == b["step"] == 6
    # The scaler moved during training (steps counted, or the scale backed off), and
    # the resumed run carried on from the saved state rather than a fresh scaler.
    assert a["scaler"]["_growth_tracker"] > 3 or a["scaler"]["scale"] != 65536.0
    assert a["scaler"] == b["scaler"]
    for key, value in a["nets"].items():
        assert torch.equal(value, b["nets"][key]), key
    for key in ("opt_G", "opt_D"):
        for p, state in a[key]["state"].items():
            for name, tensor in state.items():
                assert torch.equal(tensor, b[key]["state"][p][name]), (key, p, name)


def test_a_resumed_state_takes_the_scaler_from_the_checkpoint(tmp_path):
    config = tiny_gpu()
    with gpu_rehearsal(T4):
        data = load_training_data(config)
        first = TrainState.create(config, data, CPU)
        weight = torch.nn.Parameter(torch.ones(1))
        optimizer = torch.optim.SGD([weight], lr=1.0)
        for _ in range(3):  # three overflowing steps: the scale backs off three times
            first.precision.backward(weight * math.inf)
            first.precision.step(optimizer)
            first.precision.update()
        saved = first.state_dict()
        second = TrainState.create(config, data, CPU)
        assert second.precision.state_dict()["scale"] == 65536.0
        second.load_state_dict(saved)
    assert second.precision.state_dict()["scale"] == 65536.0 / 8


def test_a_fp16_checkpoint_is_not_resumed_at_another_precision(tmp_path):
    config = tiny_gpu()
    with gpu_rehearsal(T4):
        train(config, tmp_path, stop_at=2, progress=False)
    with gpu_rehearsal(A100), pytest.raises(ValueError, match="'fp16' -> 'bf16'"):
        train(config, tmp_path, progress=False)


def test_bf16_trains_without_a_scaler(tmp_path):
    config = tiny_gpu(steps=2, decay_start=1)
    with gpu_rehearsal(A100):
        result = train(config, tmp_path, progress=False)
    saved = load_checkpoint(result.checkpoint)
    assert saved["precision"] == "bf16" and saved["scaler"] == {}
    assert all(math.isfinite(m["G"]) for m in result.metrics)


def test_device_moves(tmp_path):
    config = tiny_gpu(steps=2, decay_start=1, device="auto")
    device = resolve_device(config.device)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with gpu_rehearsal(T4):
        state = TrainState.create(config, load_training_data(config), device)
        train_step(state, state.loader.batch(0))
        saved = state.state_dict()
        result = train(config, tmp_path, progress=False)
    # Everything the step touched lives on the device ...
    assert {p.device.type for p in state.nets.parameters()} == {device.type}
    assert state.loader.batch(1)["x"].device.type == device.type
    assert state.pool_X.images.device.type == device.type
    # ... and everything saved on the CPU, so a checkpoint written on a GPU loads on any
    # machine (the generators then move where they are asked to).
    tensors = [t for t in _tensors(saved)]
    assert tensors and {t.device.type for t in tensors} <= {"cpu", device.type}
    assert saved["torch_rng"].device.type == "cpu"
    assert saved["pool_X"]["images"].device.type == "cpu"
    on_disk = load_checkpoint(result.checkpoint)
    assert {t.device.type for t in _tensors(on_disk)} == {"cpu"}
    pair = load_generators(result.checkpoint, device=CPU)
    assert next(pair.G.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: expected an available device"):
            resolve_device("cuda")


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def test_gpu_check_runs_without_a_gpu_and_says_so(capsys):
    import json

    from kdehist.__main__ import main

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: gpu_check times it instead of rehearsing")
    assert main(["gpu-check", "--steps", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "No GPU here" in out and "estimated for a T4, not measured" in out
    record = json.loads(out.strip().splitlines()[-1])
    assert record["gpu"] is False and record["precision"] == "fp16"
    assert record["part3_hours"] > 1
