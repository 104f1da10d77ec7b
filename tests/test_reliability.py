"""Reliability (issue 14): no silently wrong answer, no obscure error, no lost work.

* a table of bad inputs, one row per case: the exception type, and a message that names
  the argument, what was expected and what was received (and stays short);
* fault injection into every kind of file training writes (checkpoint, metrics, JSON):
  truncated, garbled, emptied, missing, or a folder that cannot be written;
* training that diverges (NaN) or is interrupted (Ctrl-C) loses nothing and overwrites
  nothing good.
"""

import json
import os
import shutil
import signal
import stat

import numpy as np
import pytest
import torch

import kdehist.train as train_module
from kdehist import io as kio
from kdehist.__main__ import main
from kdehist.color import delta_e, delta_e_of_means, jis_class, mean_lab, to_lab
from kdehist.histogram import hard_histogram, kde_density, soft_histogram
from kdehist.losses import histogram_distance, histogram_loss
from kdehist.models import PatchDiscriminator, ResnetGenerator
from kdehist.train import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    PREVIOUS_CHECKPOINT_NAME,
    NonFiniteLossError,
    TrainConfig,
    TrainingInterrupted,
    load_generators,
    read_metrics,
    train,
)

IMG = torch.zeros(2, 3, 8, 8)
H16 = torch.full((2, 3, 16), 1 / 16)


def smoke(variant="cyclegan", **overrides):
    return TrainConfig.from_profile("smoke", variant=variant, **overrides)


# --------------------------------------------------------------------------- bad inputs

G = ResnetGenerator(ngf=4, n_blocks=1)
D = PatchDiscriminator(ndf=4, n_layers=2)

# (id, call, exception, argument named in the message)
BAD_INPUTS = [
    # histogram_loss: only the batch may broadcast; an empty batch is not a NaN
    (
        "loss-bins-16-vs-1",
        lambda: histogram_loss(H16, torch.ones(2, 3, 1)),
        ValueError,
        "h_ref",
    ),
    (
        "loss-channels-3-vs-1",
        lambda: histogram_loss(H16, torch.full((2, 1, 16), 1 / 16)),
        ValueError,
        "h_ref",
    ),
    (
        "loss-empty-batch",
        lambda: histogram_loss(torch.zeros(0, 3, 16), torch.zeros(0, 3, 16)),
        ValueError,
        "h_fake",
    ),
    (
        "loss-batch-2-vs-3",
        lambda: histogram_loss(H16, torch.full((3, 3, 16), 1 / 16)),
        ValueError,
        "h_ref",
    ),
    ("loss-kind", lambda: histogram_loss(H16, H16, "l1"), ValueError, "kind"),
    (
        "distance-list",
        lambda: histogram_distance([[0.5, 0.5]], H16),
        TypeError,
        "h_fake",
    ),
    # mean_lab and delta_e
    (
        "mean-lab-negative-mask",
        lambda: mean_lab(IMG, torch.full((2, 1, 8, 8), -1.0)),
        ValueError,
        "mask",
    ),
    (
        "mean-lab-mixed-sign-mask",
        lambda: mean_lab(
            IMG, torch.cat([-torch.ones(2, 1, 8, 4), 2 * torch.ones(2, 1, 8, 4)], -1)
        ),
        ValueError,
        "mask",
    ),
    (
        "mean-lab-3-channel-mask",
        lambda: mean_lab(IMG, torch.ones(2, 3, 8, 8)),
        ValueError,
        "mask",
    ),
    (
        "mean-lab-empty-mask",
        lambda: mean_lab(IMG, torch.zeros(2, 1, 8, 8)),
        ValueError,
        "mask",
    ),
    (
        "mean-lab-no-pixels",
        lambda: mean_lab(torch.zeros(1, 3, 0, 8)),
        ValueError,
        "img",
    ),
    (
        "delta-e-ref-channels",
        lambda: delta_e(IMG, torch.zeros(2, 4, 8, 8)),
        ValueError,
        "ref",
    ),
    (
        "delta-e-ref-mask-shape",
        lambda: delta_e(IMG, IMG, ref_mask=torch.ones(2, 3, 8, 8)),
        ValueError,
        "ref_mask",
    ),
    (
        "delta-e-ref-mask-negative",
        lambda: delta_e(IMG, IMG, ref_mask=-torch.ones(2, 1, 8, 8)),
        ValueError,
        "ref_mask",
    ),
    ("delta-e-ref-list", lambda: delta_e(IMG, [[0.0] * 8] * 8), TypeError, "ref"),
    (
        "delta-e-formula",
        lambda: delta_e(IMG, IMG, formula="cie94"),
        ValueError,
        "formula",
    ),
    (
        "delta-e-of-means-shape",
        lambda: delta_e_of_means(torch.zeros(2, 3), torch.zeros(3, 3)),
        ValueError,
        "lab_ref",
    ),
    ("to-lab-grey", lambda: to_lab(torch.zeros(1, 1, 4, 4)), ValueError, "img"),
    ("jis-class-negative", lambda: jis_class(-1.0), ValueError, "delta_e"),
    ("jis-class-string", lambda: jis_class("4.6"), TypeError, "delta_e"),
    (
        "jis-class-nan-tensor",
        lambda: jis_class(torch.tensor(float("nan"))),
        ValueError,
        "delta_e",
    ),
    # kde_density and the histograms
    (
        "kde-bandwidth-none",
        lambda: kde_density(IMG, torch.linspace(-1, 1, 5), None),
        TypeError,
        "bandwidth",
    ),
    (
        "kde-bandwidth-zero",
        lambda: kde_density(IMG, torch.linspace(-1, 1, 5), 0.0),
        ValueError,
        "bandwidth",
    ),
    (
        "kde-no-levels",
        lambda: kde_density(IMG, torch.zeros(0), 0.1),
        ValueError,
        "levels",
    ),
    (
        "soft-histogram-list",
        lambda: soft_histogram([[[0.0] * 300] * 300] * 3, 8),
        TypeError,
        "x",
    ),
    ("soft-histogram-bins", lambda: soft_histogram(IMG, 0), ValueError, "bins"),
    (
        "hard-histogram-range",
        lambda: hard_histogram(IMG, 8, value_range=(1, -1)),
        ValueError,
        "value_range",
    ),
    # the networks
    ("generator-float64", lambda: G(IMG.double()), TypeError, "x"),
    ("generator-uint8", lambda: G(IMG.to(torch.uint8)), TypeError, "x"),
    ("generator-4-channels", lambda: G(torch.zeros(1, 4, 8, 8)), ValueError, "x"),
    ("generator-too-small", lambda: G(torch.zeros(1, 3, 4, 4)), ValueError, "x"),
    ("generator-hist-unconditioned", lambda: G(IMG, H16), ValueError, "hist"),
    (
        "discriminator-float64",
        lambda: D(torch.zeros(1, 3, 16, 16, dtype=torch.float64)),
        TypeError,
        "x",
    ),
    ("discriminator-1-channel", lambda: D(torch.zeros(1, 1, 16, 16)), ValueError, "x"),
    ("discriminator-too-small", lambda: D(torch.zeros(1, 3, 8, 8)), ValueError, "x"),
    ("discriminator-3d", lambda: D(torch.zeros(3, 16, 16)), ValueError, "x"),
    # TrainConfig
    ("config-betas-string", lambda: smoke(betas="ab"), TypeError, "betas"),
    ("config-betas-none", lambda: smoke(betas=None), TypeError, "betas"),
    ("config-betas-three", lambda: smoke(betas=(0.5, 0.9, 0.9)), TypeError, "betas"),
    ("config-betas-range", lambda: smoke(betas=(0.5, 1.5)), ValueError, "betas"),
    ("config-steps-string", lambda: smoke(steps="abc"), TypeError, "steps"),
    (
        "config-lambda-string",
        lambda: smoke(lambda_hist="ten"),
        TypeError,
        "lambda_hist",
    ),
    ("config-device-mps", lambda: smoke(device="mps"), ValueError, "device"),
    ("config-device-meta", lambda: smoke(device="meta"), ValueError, "device"),
    ("config-device-int", lambda: smoke(device=0), TypeError, "device"),
    (
        "config-film-no-blocks",
        lambda: smoke("proposed_both", n_blocks=0, condition="film"),
        ValueError,
        "n_blocks",
    ),
    ("config-profile", lambda: TrainConfig.from_profile("laptop"), ValueError, "name"),
    ("config-data-int", lambda: smoke(data_x=1, data_y=2), TypeError, "data_x"),
    (
        "config-from-dict-list",
        lambda: TrainConfig.from_dict([1, 2]),
        TypeError,
        "values",
    ),
    # train and its files
    (
        "train-config-dict",
        lambda: train({"variant": "cyclegan"}, "runs/x"),
        TypeError,
        "config",
    ),
    ("train-out-dir-int", lambda: train(smoke(), 3), TypeError, "out_dir"),
    (
        "train-stop-at-zero",
        lambda: train(smoke(), "unused-run-folder", stop_at=0),
        ValueError,
        "stop_at",
    ),
    (
        "train-resume-string",
        lambda: train(smoke(), "unused-run-folder", resume="no"),
        TypeError,
        "resume",
    ),
    ("read-metrics-int", lambda: read_metrics(3), TypeError, "out_dir"),
    (
        "read-metrics-missing",
        lambda: read_metrics("no/such/run"),
        FileNotFoundError,
        "out_dir",
    ),
    ("load-generators-int", lambda: load_generators(3), TypeError, "checkpoint"),
    (
        "load-checkpoint-missing",
        lambda: kio.load_checkpoint("no/such/checkpoint.pt"),
        FileNotFoundError,
        "path",
    ),
]


@pytest.mark.parametrize(
    "call, error, name",
    [row[1:] for row in BAD_INPUTS],
    ids=[row[0] for row in BAD_INPUTS],
)
def test_bad_input_names_the_argument(call, error, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a row might create lands in the repository
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{name}:"), message
    assert "expected" in message and "got" in message, message
    # a list is described, never dumped (reprlib)
    assert len(message) < 400, f"{len(message)} characters"
    assert not list(tmp_path.iterdir())  # refused before any work


def test_a_0d_tensor_is_a_scalar():
    assert jis_class(torch.tensor(4.6)) == "B"
    assert jis_class(np.float32(0.5)) == "AAA"
    assert jis_class(np.array(30.0)) == "beyond D"
    assert jis_class(torch.tensor([0.5, 4.6])) == ["AAA", "B"]


def test_the_batch_still_broadcasts():
    ref = torch.full((1, 3, 16), 1 / 16)
    assert histogram_loss(H16, ref).item() == 0.0
    assert histogram_loss(H16, ref[0]).item() == 0.0
    # A single reference image with its (H, W) mask, as the docstring allows.
    value = delta_e(IMG, torch.zeros(3, 8, 8), ref_mask=torch.ones(8, 8))
    assert value.shape == (2,) and torch.equal(
        value, torch.zeros(2, dtype=torch.float64)
    )


# ------------------------------------------------------------------------ atomic writes


def test_atomic_writes_clean_leftovers_respect_the_umask_and_sync_the_folder(
    tmp_path, monkeypatch
):
    target = tmp_path / "table.json"
    leftover = tmp_path / f".{target.name}.abc123.tmp"  # what a kill mid-write leaves
    leftover.write_bytes(b"half")
    other = tmp_path / ".other.json.abc123.tmp"  # another file's: not ours to remove
    other.write_bytes(b"half")
    synced = []
    monkeypatch.setattr(kio, "_fsync_folder", synced.append)
    previous = os.umask(0o027)
    try:
        kio.atomic_write_json(target, {"a": 1})
    finally:
        os.umask(previous)
    assert json.loads(target.read_text()) == {"a": 1}
    assert not leftover.exists() and other.exists()
    # 0o666 less the umask, not mkstemp's 0o600
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert synced == [tmp_path]


def test_atomic_torch_save_keeps_the_previous_file(tmp_path):
    path, previous = tmp_path / "c.pt", tmp_path / "c.prev.pt"
    kio.atomic_torch_save(path, {"step": 1}, previous=previous)
    assert not previous.exists()
    kio.atomic_torch_save(path, {"step": 2}, previous=previous)
    assert kio.load_checkpoint(path) == {"step": 2} and kio.load_checkpoint(
        previous
    ) == {"step": 1}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "c.pt"
    kio.atomic_torch_save(path, {"step": 1})

    def broken(handle):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")  # a full disk

    with pytest.raises(OSError):
        kio.atomic_write(path, broken)
    assert kio.load_checkpoint(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


# ------------------------------------------------------------------ damaged checkpoints


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbled":
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif how == "missing-keys":
        torch.save({"step": 3}, path)
    elif how == "not-a-dict":
        torch.save([1, 2, 3], path)


DAMAGES = ["truncated", "empty", "garbled", "missing-keys", "not-a-dict"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 4-step smoke run, checkpointed at steps 2 and 4 (so
    checkpoint.prev.pt is step 2).
    """
    out = tmp_path_factory.mktemp("finished") / "run"
    train(smoke(), out, progress=False)
    return out


def _nets(path):
    return torch.load(path, weights_only=True)["nets"]


def _same_nets(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_every_save_keeps_the_previous_checkpoint(finished_run):
    assert torch.load(finished_run / CHECKPOINT_NAME, weights_only=True)["step"] == 4
    assert (
        torch.load(finished_run / PREVIOUS_CHECKPOINT_NAME, weights_only=True)["step"]
        == 2
    )
    assert not list(finished_run.glob(".*.tmp"))


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_checkpoint_is_named_with_what_to_do(how, finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    path = run / CHECKPOINT_NAME
    _damage(path, how)
    (run / PREVIOUS_CHECKPOINT_NAME).unlink()
    for call in (
        lambda: load_generators(path),
        lambda: train(smoke(), run, progress=False),
    ):
        with pytest.raises(kio.CheckpointError) as info:
            call()
        message = str(info.value)
        assert str(path) in message and "delete it" in message, message
        # torch's hint would run code from the file
        assert "weights_only=False" not in message
    assert "--restart" in message
    # The command line prints it as one line, exit 2.
    assert _cli(["--out", str(run)]) == 2


@pytest.mark.parametrize("how", ["truncated", "garbled", "missing-keys", "deleted"])
def test_a_damaged_checkpoint_falls_back_to_the_previous_one_exactly(
    how, finished_run, tmp_path
):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    path = run / CHECKPOINT_NAME
    if how == "deleted":  # a kill between the two renames of a save
        path.unlink()
    else:
        _damage(path, how)
    with pytest.warns(
        UserWarning,
        match=r"resuming from the previous checkpoint "
        r".*checkpoint\.prev\.pt \(step 2\)",
    ):
        result = train(smoke(), run, progress=False)
    assert result.step == 4
    # steps 3-4 redone, bit-exact
    assert _same_nets(_nets(path), _nets(finished_run / CHECKPOINT_NAME))
    assert [r["step"] for r in result.metrics] == [1, 2, 3, 4]
    if how != "deleted":
        assert (run / "checkpoint.damaged.pt").is_file()  # kept aside, not overwritten


def test_a_damaged_snapshot_names_its_file(tmp_path):
    path = tmp_path / "oracle.pt"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(
        kio.CheckpointError,
        match=rf"{path}: not a readable checkpoint .* delete it to recompute it",
    ):
        kio.load_checkpoint(path)


# ---------------------------------------------------------------------- damaged metrics


@pytest.mark.parametrize(
    "damage", ["partial-last-line", "garbled-middle-line", "emptied"]
)
def test_a_damaged_metrics_log_is_dropped_with_a_warning_and_resume_works(
    damage, finished_run, tmp_path
):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    shutil.copy(run / PREVIOUS_CHECKPOINT_NAME, run / CHECKPOINT_NAME)  # back at step 2
    metrics = run / METRICS_NAME
    lines = metrics.read_text().splitlines(keepends=True)
    if damage == "partial-last-line":  # killed while appending step 3
        metrics.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])
    elif damage == "garbled-middle-line":
        metrics.write_text(lines[0] + "\x00\x00garbage\n" + "".join(lines[1:2]))
    else:
        metrics.write_text("")
    if damage == "emptied":
        result = train(smoke(), run, progress=False)
    else:
        with pytest.warns(UserWarning, match=rf"{metrics}: dropped 1 damaged line"):
            result = train(smoke(), run, progress=False)
    expected = {
        "partial-last-line": [1, 2, 3, 4],
        "garbled-middle-line": [1, 2, 3, 4],
        "emptied": [3, 4],
    }[damage]
    assert [r["step"] for r in result.metrics] == expected
    assert _same_nets(
        _nets(run / CHECKPOINT_NAME), _nets(finished_run / CHECKPOINT_NAME)
    )


def test_read_metrics_names_the_file_of_a_partial_line(tmp_path):
    (tmp_path / METRICS_NAME).write_text('{"step": 1, "G": 1.0}\n{"step": 2, "G"')
    with pytest.warns(
        UserWarning,
        match=rf"{tmp_path / METRICS_NAME}: dropped 1 damaged line\(s\) \(line 2\)",
    ):
        assert read_metrics(tmp_path) == [{"step": 1, "G": 1.0}]


# ------------------------------------------------------- folders that cannot be written


def test_an_out_dir_that_is_a_file_is_refused_before_any_work(tmp_path):
    out = tmp_path / "run"
    out.write_text("not a folder")
    with pytest.raises(
        ValueError, match=rf"out_dir: expected a folder, got the file '{out}'"
    ):
        train(smoke(), out, progress=False)
    assert _cli(["--out", str(out)]) == 2


def test_an_unwritable_out_dir_is_refused_before_any_work(
    tmp_path, monkeypatch, capsys
):
    """As a read-only folder or a full disk does (simulated: root writes anywhere)."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(
        ValueError,
        match=r"out_dir: expected a writable folder, "
        r"got .* \(PermissionError: Permission denied\)",
    ):
        train(smoke(), tmp_path / "run", progress=False)
    assert _cli(["--out", str(tmp_path / "run")]) == 2
    assert "out_dir: expected a writable folder" in capsys.readouterr().err
    with pytest.raises(
        PermissionError, match=rf"{tmp_path}: cannot write table.json there"
    ):
        kio.atomic_write_json(tmp_path / "table.json", {})


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes to read-only folders",
)
def test_a_read_only_out_dir_is_refused_before_any_work(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="out_dir: expected a writable folder"):
            train(smoke(), out, progress=False)
    finally:
        out.chmod(0o700)


# ----------------------------------------------------------------------- NaN and Ctrl-C


def _patched_step(monkeypatch, at_step, action):
    """Run ``action(state, losses)`` after the real train_step of
    step ``at_step`` (1-based).
    """
    real = train_module.train_step

    def step(state, batch):
        losses = real(state, batch)
        if state.step + 1 == at_step:
            action(state, losses)
        return losses

    monkeypatch.setattr(train_module, "train_step", step)


def test_a_nan_loss_stops_training_naming_the_step_and_keeps_the_good_checkpoint(
    monkeypatch, tmp_path
):
    def poison(state, losses):
        losses["G"] = torch.tensor(float("nan"))

    _patched_step(monkeypatch, 3, poison)
    with pytest.raises(
        NonFiniteLossError,
        match=r"non-finite losses \(G nan\) at step 3; .* step 2, is kept in",
    ):
        train(smoke(), tmp_path, progress=False)
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["step"] == 2
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]  # no NaN logged


def test_nan_weights_never_overwrite_a_good_checkpoint(monkeypatch, tmp_path):
    def poison(state, losses):
        with torch.no_grad():
            next(state.nets.G.parameters()).fill_(float("nan"))

    # losses of step 4 are finite; the weights after it are not
    _patched_step(monkeypatch, 4, poison)
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite weights \(G\..*\) at step 4"
    ):
        train(smoke(), tmp_path, progress=False)
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["step"] == 2 and all(
        torch.isfinite(v).all() for v in saved["nets"].values() if v.is_floating_point()
    )


def test_nan_on_the_command_line_is_one_line_and_exit_1(monkeypatch, tmp_path, capsys):
    _patched_step(
        monkeypatch,
        1,
        lambda state, losses: losses.update(D_X=torch.tensor(float("inf"))),
    )
    assert _cli(["--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert (
        "training diverged: non-finite losses (D_X inf) at step 1" in err
        and "no checkpoint was written" in err
    )
    assert "Traceback" not in err and not (tmp_path / CHECKPOINT_NAME).exists()


def test_ctrl_c_saves_the_step_in_progress_and_resumes_exactly(
    monkeypatch, finished_run, tmp_path
):
    _patched_step(
        monkeypatch, 3, lambda state, losses: signal.raise_signal(signal.SIGINT)
    )
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as info:
        train(smoke(), tmp_path, progress=False)
    assert info.value.step == 3 and isinstance(info.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    # not 2: nothing lost
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["step"] == 3
    monkeypatch.undo()
    result = train(smoke(), tmp_path, progress=False)
    assert result.step == 4 and [r["step"] for r in result.metrics] == [1, 2, 3, 4]
    assert _same_nets(
        _nets(tmp_path / CHECKPOINT_NAME), _nets(finished_run / CHECKPOINT_NAME)
    )


def test_ctrl_c_on_the_command_line_exits_130(monkeypatch, tmp_path, capsys):
    _patched_step(
        monkeypatch, 1, lambda state, losses: signal.raise_signal(signal.SIGINT)
    )
    assert _cli(["--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert (
        f"saved step 1 to {tmp_path / CHECKPOINT_NAME}" in err
        and "Traceback" not in err
    )


# --------------------------------------------------- resume checks and the command line


def test_resume_checks_threads_and_the_resolved_precision(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    shutil.copy(run / PREVIOUS_CHECKPOINT_NAME, run / CHECKPOINT_NAME)
    with pytest.raises(ValueError, match=r"config: .* threads: 1 -> 2.*--restart"):
        train(smoke(threads=2), run, progress=False)
    saved = torch.load(run / CHECKPOINT_NAME, weights_only=True)
    pinned = (saved["precision"], saved["threads"]) == ("none", 1)
    assert pinned or saved["precision"] == "bf16"
    saved["precision"] = "fp16"  # as if trained on a T4
    torch.save(saved, run / CHECKPOINT_NAME)
    with pytest.raises(ValueError, match=r"resolved autocast precision: 'fp16' -> "):
        train(smoke(), run, progress=False)


def _cli(extra, variant="cyclegan"):
    argv = [
        "train",
        "--variant",
        variant,
        "--profile",
        "smoke",
        "--no-progress",
        *extra,
    ]
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


SMOKE = ["--variant", "cyclegan", "--profile", "smoke"]


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (
            SMOKE + ["--set", "steps=abc"],
            {},
            "steps: expected an int >= 1, got str 'abc'",
        ),
        (SMOKE + ["--set", "betas=None"], {}, "betas: expected a pair of numbers"),
        (SMOKE + ["--set", "betas=ab"], {}, "betas: expected a pair of numbers"),
        (
            ["--variant", "proposed_both", "--profile", "smoke", "--set", "n_blocks=0"],
            {},
            "n_blocks: expected at least 1",
        ),
        (SMOKE + ["--stop-at", "0"], {}, "--stop-at: expected a step >= 1, got 0"),
        (
            SMOKE + ["--device", "mps"],
            {},
            "device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'mps'",
        ),
        (
            SMOKE + ["--device", "meta"],
            {},
            "device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'meta'",
        ),
        (
            ["--variant", "cyclegan"],
            {"KDEHIST_PROFILE": "laptop"},
            "KDEHIST_PROFILE: expected one of",
        ),
    ],
    ids=[
        "steps-abc",
        "betas-none",
        "betas-ab",
        "film-no-blocks",
        "stop-at-0",
        "mps",
        "meta",
        "profile-env",
    ],
)
def test_command_line_errors_are_one_line_exit_2(
    argv, env, message, tmp_path, monkeypatch, capsys
):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--no-progress", "--out", str(tmp_path / "run"), *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_command_line_changed_config_on_resume_says_restart(
    finished_run, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert _cli(["--out", str(run), "--set", "lambda_cycle=5.0"]) == 2
    err = capsys.readouterr().err
    assert (
        "lambda_cycle: 10.0 -> 5.0" in err
        and "--restart" in err
        and err.count("\n") == 1
    )


# ---------------------------------------------------------- images of every Pillow mode


def _grey_image(mode):
    """A 16x16 Pillow image of ``mode`` whose visible colour is sRGB grey 128
    (or red for colour modes).
    """
    from PIL import Image

    if mode == "I;16":
        return Image.fromarray(np.full((16, 16), 128 * 257, dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(np.full((16, 16), 128 * 257, dtype=np.int32), mode="I")
    if mode == "F":
        return Image.fromarray(np.full((16, 16), 128 / 255, dtype=np.float32), mode="F")
    if mode == "1":
        return Image.new("1", (16, 16), 1)
    if mode == "CMYK":
        return Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    if mode == "P":
        return Image.new("RGB", (16, 16), (128, 128, 128)).convert(
            "P", palette=Image.Palette.ADAPTIVE
        )
    if mode == "LA":
        return Image.new("LA", (16, 16), (128, 255))
    if mode == "RGBA":
        return Image.new("RGBA", (16, 16), (128, 128, 128, 255))
    return Image.new(mode, (16, 16), 128)


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("1", 255),
        ("L", 128),
        ("LA", 128),
        ("P", 128),
        ("RGBA", 128),
        ("CMYK", (255, 0, 0)),
        ("I;16", 128),
        ("I", 128),
        ("F", 128),
    ],
)
def test_every_pillow_mode_becomes_8_bit_rgb_without_clipping(mode, expected):
    from kdehist.data import pil_to_uint8

    img = _grey_image(mode)
    assert img.mode == mode
    rgb = pil_to_uint8(img, alpha="white")
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (
        expected if isinstance(expected, tuple) else (expected,) * 3
    )


def test_transparency_is_composited_and_kept_for_the_explorer():
    from PIL import Image

    from kdehist.data import pil_to_uint8

    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    assert tuple(pil_to_uint8(img, alpha="white")[0, 0]) == (255, 255, 255)
    assert tuple(pil_to_uint8(img, alpha="black")[0, 0]) == (0, 0, 0)
    assert pil_to_uint8(img, alpha="keep").shape == (4, 4, 4)


def _photo(path, *, background=255, size=64):
    """A dark square on a light background, as a product photo."""
    from PIL import Image

    array = np.full((size, size, 3), background, dtype=np.uint8)
    array[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = (150, 90, 60)
    Image.fromarray(array).save(path)


@pytest.mark.filterwarnings("ignore:image. the border colour")
def test_a_16_bit_png_keeps_its_levels_in_the_folder_loader(tmp_path):
    from PIL import Image

    from kdehist.data import ImageFolderDomain

    # 64 grey levels
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    assert Image.open(tmp_path / "ramp.png").mode in ("I;16", "I")
    image = ImageFolderDomain(tmp_path, size=64)[0]["image"]
    levels = torch.unique(((image[0] + 1) * 127.5).round())
    assert len(levels) > 50  # Pillow's convert("RGB") leaves 17
    assert abs(((image[0, 0, 32] + 1) * 127.5).item() - 130) <= 2


def test_an_empty_mask_is_refused_when_loading_naming_the_file(tmp_path):
    from PIL import Image

    from kdehist.data import ImageFolderDomain

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    _photo(images / "a.png"), _photo(images / "b.png")
    Image.new("L", (64, 64), 255).save(masks / "a.png")
    Image.new("L", (64, 64), 0).save(masks / "b.png")  # black: no foreground
    domain = ImageFolderDomain(images, masks, size=32)
    assert domain[0]["mask"].all()
    with pytest.raises(
        ValueError,
        match=rf"{masks / 'b.png'}: expected some foreground .* of b.png, got none",
    ):
        domain.tensors()


def test_a_uniform_photo_without_a_mask_is_refused_naming_the_file(tmp_path):
    from PIL import Image

    from kdehist.data import ImageFolderDomain

    _photo(tmp_path / "a.png")
    # nothing on the background
    Image.new("RGB", (64, 64), (240, 240, 240)).save(tmp_path / "b.png")
    with pytest.raises(
        ValueError, match=rf"{tmp_path / 'b.png'}: expected a foreground .* got none"
    ):
        ImageFolderDomain(tmp_path, size=32).tensors()


def test_a_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    from PIL import Image

    from kdehist.data import ImageFolderDomain

    _photo(tmp_path / "big.png")
    # 64 x 64 is then over twice the limit
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(
        ValueError, match=rf"{tmp_path / 'big.png'}: image too large to decode safely"
    ):
        ImageFolderDomain(tmp_path, size=32)
