"""The evaluation protocol: ΔE per pair, shape metrics against
the oracle, and reproduce.
"""

import json
import re

import numpy as np
import pytest
import torch

import kdehist
from kdehist import evaluate as ev


@pytest.fixture(scope="module")
def small_test():
    return ev.load_test_set(size=32, count=3)


class ConstantTone(torch.nn.Module):
    """Paints the input's foreground in one fixed colour on a white background."""

    conditioned = False

    def __init__(self, test, colour):
        super().__init__()
        self.test = test
        # A buffer moves with the module: evaluation runs on CUDA when there is one.
        self.register_buffer("colour", torch.tensor(colour).reshape(1, 3, 1, 1))

    def forward(self, x):
        mask = (
            (x > x.amin(dim=(1, 2, 3), keepdim=True) + 0.05)
            .any(1, keepdim=True)
            .float()
        )
        return self.colour * mask + (1 - mask)


def test_translate_pairs_shapes_and_conditioning(small_test):
    class Echo(torch.nn.Module):
        conditioned = True

        def forward(self, x, hist):
            # encodes the reference's histogram in the output, to see the pairing
            return x * 0 + hist.argmax(-1).float().mean(-1).reshape(-1, 1, 1, 1) / 16

    out = ev.translate_pairs(Echo(), small_test, bins=16, batch_size=4)
    assert out.shape == (3, 3, 3, 32, 32)
    hists = kdehist.soft_histogram(small_test.refs, 16, mask=small_test.ref_masks)
    for j in range(3):
        assert torch.allclose(
            out[:, j], (hists[j].argmax(-1).float().mean() / 16).expand(3, 3, 32, 32)
        )
    with pytest.raises(ValueError, match="^bins:"):
        ev.translate_pairs(Echo(), small_test, bins=None)


def test_oracle_is_the_ceiling(small_test):
    oracle = ev.oracle_pairs(small_test)
    metrics = ev.pair_metrics(oracle, small_test, oracle)
    assert set(metrics) >= {
        "delta_e76",
        "delta_e00",
        "delta_e76_whole",
        "shape_iou",
        "ssim",
        "edge_f1",
    }
    assert np.allclose(metrics["ssim"], 1) and np.allclose(metrics["edge_f1"], 1)
    assert metrics["shape_iou"].mean() > 0.8
    # The oracle has the reference's tone: its ΔE is small
    # (shading differs with the pose).
    assert metrics["delta_e76"].mean() < 3.0


def test_delta_e_per_pair_matches_kdehist_delta_e(small_test):
    outputs = torch.rand(3, 3, 3, 32, 32) * 2 - 1
    metrics = ev.pair_metrics(outputs, small_test)
    for i in range(3):
        for j in range(3):
            want = kdehist.delta_e(
                outputs[i, j][None],
                small_test.refs[j][None],
                mask=small_test.input_masks[i][None],
                ref_mask=small_test.ref_masks[j][None],
            )
            assert metrics["delta_e76"][i, j] == pytest.approx(want.item(), abs=1e-9)


def test_a_tone_blind_generator_scores_badly_on_colour(small_test):
    oracle = ev.oracle_pairs(small_test)
    summary, metrics, _ = ev.evaluate_generator(
        ConstantTone(small_test, [0.9, 0.2, -0.6]), small_test, None, oracle
    )
    assert summary["pairs"] == 9
    assert summary["delta_e76_mean"] > 13  # far beyond class C
    assert summary["jis_shares"]["AAA"] == 0
    assert sum(summary["jis_shares"].values()) == pytest.approx(1.0)
    # ... while its shape is fine: it paints exactly the input's silhouette.
    assert summary["shape_iou_mean"] > 0.8


def test_reproduce_smoke_is_resumable(tmp_path):
    from kdehist.precision import resolve_precision
    from kdehist.reproduce import read_pairs, reproduce

    runs = ["cyclegan", "proposed_both"]
    result = reproduce(
        "smoke",
        out=tmp_path,
        runs=runs,
        results_dir=tmp_path / "book",
        progress=False,
        seeds=[0, 1],
    )
    table = result["table2"]
    saved = json.loads((tmp_path / "table2.json").read_text())
    assert saved == json.loads((tmp_path / "book" / "table2.json").read_text()) == table
    assert set(result["files"]) >= {
        tmp_path / "book" / "pairs" / f"{n}_seed{s}.npz" for n in runs for s in (0, 1)
    }
    for name in runs:
        row = saved["variants"][name]
        assert row["seeds"] == [0, 1] and row["pairs"] == 16 and row["step"] == 4
        # The smoke profile's autocast is "auto": bfloat16 on hosts with native bf16.
        expected = resolve_precision("auto", torch.device("cpu"))
        assert row["precision"] == [expected]
        for key in ("delta_e76", "delta_e00", "shape_score"):
            lo, hi = row[f"{key}_ci95"]
            assert lo <= row[f"{key}_mean"] <= hi
            assert row[f"{key}_mean"] == pytest.approx(
                np.mean(row[f"{key}_seed_means"])
            )
        # The committed per-pair arrays are the table's numbers.
        arrays = [
            read_pairs(tmp_path / "book" / "pairs" / f"{name}_seed{s}.npz")
            for s in (0, 1)
        ]
        assert all(a["delta_e76"].shape == (4, 4) for a in arrays)
        assert np.mean([a["delta_e76"].mean() for a in arrays]) == pytest.approx(
            row["delta_e76_mean"], rel=1e-5
        )
        assert set(row["runs"]["0"]) >= {
            "git_commit",
            "torch",
            "precision",
            "train_seconds",
            "host_cpu",
        }
    assert set(saved["provenance"]) >= {
        "profile",
        "seeds",
        "git_commit",
        "train_seconds",
        "host_cpu",
    }
    assert {
        c["metric"] for c in saved["comparisons"]
    } == set()  # no pair of COMPARISONS among these runs
    assert 0 <= saved["segmenter"]["heldout_iou"] <= 1
    assert (tmp_path / "figure3.png").stat().st_size > 1000 and (
        tmp_path / "book" / "figure4.png"
    ).is_file()
    assert set(result["tradeoff"]["runs"]["proposed_both"]) == {"0", "1"}
    # A second call reuses everything: same table, no training, no evaluation.
    snapshot = tmp_path / "proposed_both" / "seed1" / "snapshots" / "step000004.pt"
    stamps = [
        p.stat().st_mtime_ns
        for p in (snapshot, snapshot.parent.parent / "pairs_step000004.npz")
    ]
    again = reproduce("smoke", out=tmp_path, runs=runs, progress=False, seeds=[0, 1])
    assert again["table2"]["variants"] == table["variants"]
    assert [
        p.stat().st_mtime_ns
        for p in (snapshot, snapshot.parent.parent / "pairs_step000004.npz")
    ] == stamps


def test_reproduce_refuses_a_run_trained_past_a_missing_snapshot(tmp_path):
    from kdehist.reproduce import run_folder, train_run
    from kdehist.train import TrainConfig, train

    config = TrainConfig.from_profile("smoke", variant="cyclegan")
    run = run_folder(tmp_path, "cyclegan", 0)
    # what `kdehist train` leaves: the final model only
    train(config, run, progress=False)
    with pytest.raises(ValueError, match="^run: expected a checkpoint at step 1"):
        train_run(config, run, progress=False)


def test_bootstrap_intervals_resample_inputs_references_and_seeds():
    rng = np.random.default_rng(1)
    # Rows (inputs) differ a lot, pairs within a row hardly: the interval must reflect
    # the 6 rows, not 36 independent pairs.
    rows = rng.normal(0, 1, (6, 1)) + rng.normal(0, 0.01, (6, 6))
    lo, hi = ev.bootstrap_ci([rows + 10])
    assert lo < 10 + rows.mean() < hi
    # independent pairs would give about 4 * 1 / 6 = 0.67 / sqrt(6) less
    assert hi - lo > 0.5
    assert ev.bootstrap_ci([rows]) == ev.bootstrap_ci([rows])  # seeded: reproducible
    # Seeds that disagree widen the interval.
    lo2, hi2 = ev.bootstrap_ci([rows + 10, rows + 14, rows + 12])
    assert hi2 - lo2 > hi - lo
    # A paired difference of a shifted copy is exactly the shift: the rows cancel.
    dlo, dhi = ev.bootstrap_difference_ci([rows + 1.5], [rows])
    assert dlo == pytest.approx(1.5) and dhi == pytest.approx(1.5)
    with pytest.raises(ValueError, match="^arrays:"):
        ev.bootstrap_ci([])
    with pytest.raises(ValueError, match="^level:"):
        ev.bootstrap_ci([rows], level=95)
    with pytest.raises(ValueError, match="^arrays_b:"):
        ev.bootstrap_difference_ci([rows], [rows[:3]])


def test_reproduce_rejects_unknown_runs(tmp_path):
    from kdehist.reproduce import reproduce

    with pytest.raises(ValueError, match="^runs:"):
        reproduce("smoke", out=tmp_path, runs=["pix2pix"])
    with pytest.raises(ValueError, match="^profile:"):
        reproduce("laptop", out=tmp_path)


def test_reproduce_checks_its_folders_before_any_work(tmp_path):
    from kdehist.reproduce import reproduce

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ValueError, match="^results_dir: expected a writable folder"):
        reproduce(
            "smoke",
            out=tmp_path / "runs",
            runs=["cyclegan"],
            results_dir=not_a_folder / "sub",
            seeds=[0],
        )
    assert not (tmp_path / "runs" / "cyclegan").exists()  # nothing trained
    with pytest.raises(ValueError, match="^seeds:"):
        reproduce("smoke", out=tmp_path / "runs", seeds=[])


def test_reproduce_recomputes_a_damaged_oracle_cache_and_names_a_damaged_evaluation(
    tmp_path,
):
    from kdehist.reproduce import reproduce

    reproduce("smoke", out=tmp_path, runs=["cyclegan"], progress=False, seeds=[0])
    cache = next(tmp_path.glob("oracle_*.pt"))
    cache.write_bytes(cache.read_bytes()[:100])  # truncated
    summary = tmp_path / "cyclegan" / "seed0" / "eval_step000004.json"
    summary.write_text('{"delta_e76_mean": 3')  # truncated
    with pytest.raises(
        ValueError, match=f"^{re.escape(str(summary))}: expected a JSON file.*delete it"
    ):
        reproduce("smoke", out=tmp_path, runs=["cyclegan"], progress=False, seeds=[0])
    assert cache.stat().st_size > 1000  # recomputed before the damaged summary was met
    summary.unlink()
    again = reproduce(
        "smoke", out=tmp_path, runs=["cyclegan"], progress=False, seeds=[0]
    )
    assert again["table2"]["variants"]["cyclegan"]["seeds"] == [0]
