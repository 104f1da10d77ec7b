"""The evaluation protocol: ΔE per pair, shape metrics against the oracle, and reproduce."""
import json

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
        self.test, self.colour = test, torch.tensor(colour).reshape(1, 3, 1, 1)

    def forward(self, x):
        mask = (x > x.amin(dim=(1, 2, 3), keepdim=True) + 0.05).any(1, keepdim=True).float()
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
        assert torch.allclose(out[:, j], (hists[j].argmax(-1).float().mean() / 16).expand(3, 3, 32, 32))
    with pytest.raises(ValueError, match="^bins:"):
        ev.translate_pairs(Echo(), small_test, bins=None)


def test_oracle_is_the_ceiling(small_test):
    oracle = ev.oracle_pairs(small_test)
    metrics = ev.pair_metrics(oracle, small_test, oracle)
    assert set(metrics) >= {"delta_e76", "delta_e00", "delta_e76_whole", "shape_iou", "ssim", "edge_f1"}
    assert np.allclose(metrics["ssim"], 1) and np.allclose(metrics["edge_f1"], 1)
    assert metrics["shape_iou"].mean() > 0.8
    # The oracle has the reference's tone: its ΔE is small (shading differs with the pose).
    assert metrics["delta_e76"].mean() < 3.0


def test_delta_e_per_pair_matches_kdehist_delta_e(small_test):
    outputs = torch.rand(3, 3, 3, 32, 32) * 2 - 1
    metrics = ev.pair_metrics(outputs, small_test)
    for i in range(3):
        for j in range(3):
            want = kdehist.delta_e(outputs[i, j][None], small_test.refs[j][None], mask=small_test.input_masks[i][None],
                                   ref_mask=small_test.ref_masks[j][None])
            assert metrics["delta_e76"][i, j] == pytest.approx(want.item(), abs=1e-9)


def test_a_tone_blind_generator_scores_badly_on_colour(small_test):
    oracle = ev.oracle_pairs(small_test)
    summary, metrics, _ = ev.evaluate_generator(ConstantTone(small_test, [0.9, 0.2, -0.6]), small_test, None, oracle)
    assert summary["pairs"] == 9
    assert summary["delta_e76_mean"] > 13  # far beyond class C
    assert summary["jis_shares"]["AAA"] == 0
    assert sum(summary["jis_shares"].values()) == pytest.approx(1.0)
    # ... while its shape is fine: it paints exactly the input's silhouette.
    assert summary["shape_iou_mean"] > 0.8


def test_reproduce_smoke_is_resumable(tmp_path):
    from kdehist.reproduce import reproduce

    table = reproduce("smoke", out=tmp_path, runs=["cyclegan", "proposed_both"], results_dir=tmp_path / "book", progress=False)
    saved = json.loads((tmp_path / "table2.json").read_text())
    assert saved == json.loads((tmp_path / "book" / "table2.json").read_text())
    for name in ("cyclegan", "proposed_both"):
        row = saved["variants"][name]
        for key in ("delta_e76_mean", "delta_e76_std", "delta_e00_mean", "shape_iou_mean", "pairs", "step"):
            assert key in row
        assert row["pairs"] == 16 and row["step"] == 4
    assert set(saved["provenance"]) >= {"profile", "seed", "git_commit", "train_seconds"}
    assert (tmp_path / "figure3.png").stat().st_size > 1000 and (tmp_path / "figure4.png").is_file()
    # A second call reuses everything: same table, no training.
    stamp = (tmp_path / "proposed_both" / "checkpoint.pt").stat().st_mtime_ns
    again = reproduce("smoke", out=tmp_path, runs=["cyclegan", "proposed_both"], progress=False)
    assert again["variants"] == table["variants"]
    assert (tmp_path / "proposed_both" / "checkpoint.pt").stat().st_mtime_ns == stamp


def test_reproduce_rejects_unknown_runs(tmp_path):
    from kdehist.reproduce import reproduce

    with pytest.raises(ValueError, match="^runs:"):
        reproduce("smoke", out=tmp_path, runs=["pix2pix"])
    with pytest.raises(ValueError, match="name"):
        reproduce("laptop", out=tmp_path)
