"""Tests of kdehist.data: synthetic knees, folder datasets and unpaired sampling.

Sizes stay at 32-64 px and few indices, so the whole file runs in seconds.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab
from torch.utils.data import default_collate

from kdehist.data import (
    MONK_SKIN_TONES,
    SIM_BACKGROUND,
    SPLIT_SIZES,
    ImageFolderDomain,
    SyntheticKnees,
    UnpairedLoader,
    border_background_mask,
    monk_tone,
    render_real,
    render_sim,
    sample_seed,
)

SIZE = 32


def _mean_foreground_srgb(image: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Mean sRGB in [0, 1] of the pixels under ``mask``."""
    rgb = (image + 1) / 2
    return ((rgb * mask).sum(dim=(1, 2)) / mask.sum()).numpy()


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / ((a + b) > 0).sum())


# ----------------------------------------------------------------------- SyntheticKnees


def test_split_sizes_follow_the_paper():
    assert {
        (d, s): len(SyntheticKnees(d, s, size=SIZE))
        for d in ("sim", "real")
        for s in ("train", "test")
    } == {
        ("sim", "train"): 438,
        ("sim", "test"): 28,
        ("real", "train"): 477,
        ("real", "test"): 28,
    }


@pytest.mark.parametrize("domain", ["sim", "real"])
def test_sample_format_and_ranges(domain):
    sample = SyntheticKnees(domain, "train", size=48)[5]
    assert (
        sample["image"].shape == (3, 48, 48) and sample["image"].dtype == torch.float32
    )
    assert sample["mask"].shape == (1, 48, 48) and sample["mask"].dtype == torch.float32
    assert -1 <= sample["image"].min() and sample["image"].max() <= 1
    assert set(sample["mask"].unique().tolist()) <= {0.0, 1.0}
    assert 0.05 < sample["mask"].mean() < 0.8
    assert sample["index"] == 5 and isinstance(sample["pose"], dict)
    if domain == "real":
        assert sample["tone_srgb"].shape == (3,) and sample["tone_lab"].shape == (3,)
        assert 0 <= sample["tone_position"] <= 1
    else:
        assert "tone_srgb" not in sample


@pytest.mark.parametrize("domain", ["sim", "real"])
def test_samples_collate(domain):
    data = SyntheticKnees(domain, "test", size=SIZE)
    batch = default_collate([data[0], data[1], data[2]])
    assert batch["image"].shape == (3, 3, SIZE, SIZE) and batch["mask"].shape == (
        3,
        1,
        SIZE,
        SIZE,
    )
    assert batch["pose"]["flex_deg"].shape == (3,)
    if domain == "real":
        assert batch["tone_lab"].shape == (3, 3)
        # One row of a collated batch is accepted back by the oracle.
        row = {key: value[1] for key, value in batch["appearance"].items()}
        pose = {key: value[1] for key, value in batch["pose"].items()}
        image, mask = render_real(pose, batch["tone_srgb"][1], SIZE, appearance=row)
        assert image.shape == (3, SIZE, SIZE)


def test_same_seed_same_tensors_and_other_seed_differs():
    for domain in ("sim", "real"):
        first = SyntheticKnees(domain, "train", size=SIZE, seed=3)[7]
        again = SyntheticKnees(domain, "train", size=SIZE, seed=3)[7]
        other = SyntheticKnees(domain, "train", size=SIZE, seed=4)[7]
        assert torch.equal(first["image"], again["image"]) and torch.equal(
            first["mask"], again["mask"]
        )
        assert first["pose"] == again["pose"]
        assert not torch.equal(first["image"], other["image"])


def test_tensors_match_getitem_whatever_the_batch():
    data = SyntheticKnees("real", "test", size=SIZE)
    images, masks = data.tensors()
    assert images.shape == (28, 3, SIZE, SIZE) and masks.shape == (28, 1, SIZE, SIZE)
    for index in (0, 13, 27):
        sample = data[index]
        assert torch.equal(sample["image"], images[index]) and torch.equal(
            sample["mask"], masks[index]
        )
    part_images, _ = data.tensors([27, 13])
    assert torch.equal(part_images[1], images[13])


def test_train_and_test_are_disjoint():
    for domain in ("sim", "real"):
        train, test = (
            SyntheticKnees(domain, "train", size=SIZE),
            SyntheticKnees(domain, "test", size=SIZE),
        )
        train_poses = {tuple(train.pose(i).values()) for i in range(len(train))}
        test_poses = {tuple(test.pose(i).values()) for i in range(len(test))}
        assert len(train_poses) == len(train) and len(test_poses) == len(test)
        assert not train_poses & test_poses
        seeds = {
            sample_seed(0, domain, split, index)
            for split in ("train", "test")
            for index in range(SPLIT_SIZES[domain][split])
        }
        assert len(seeds) == len(train) + len(test)
        assert not torch.equal(train[0]["image"], test[0]["image"])


def test_sim_and_real_masks_agree_with_the_images():
    sim_images, sim_masks = SyntheticKnees("sim", "train", size=48).tensors(range(6))
    rgb = (sim_images + 1) / 2
    for image, mask in zip(rgb, sim_masks):
        background = image[:, mask[0] == 0]
        foreground = image[:, mask[0] == 1]
        # Background: the uniform dark colour (anti-aliased edge pixels aside).
        assert (
            background - torch.tensor(SIM_BACKGROUND).view(3, 1)
        ).abs().median() < 0.01
        assert background.mean() < 0.12
        assert foreground.mean() > background.mean() + 0.3
    real_images, real_masks = SyntheticKnees("real", "train", size=48).tensors(range(6))
    for image, mask in zip((real_images + 1) / 2, real_masks):
        assert image[:, mask[0] == 0].mean() > 0.6  # a light studio background


def test_real_tones_span_the_monk_scale():
    data = SyntheticKnees("real", "train", size=SIZE)
    images, masks = data.tensors(range(24))
    means = np.stack([_mean_foreground_srgb(i, m) for i, m in zip(images, masks)])
    lab = rgb2lab(means.reshape(1, -1, 3)).reshape(-1, 3)
    delta_e = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    assert delta_e.max() >= 40
    positions = [data.tone_position(i) for i in range(24)]
    assert min(positions) < 0.2 and max(positions) > 0.8


def test_monk_tone_endpoints_and_metadata():
    assert torch.allclose(monk_tone(0.0), torch.tensor([0xF6, 0xED, 0xE4]) / 255.0)
    assert torch.allclose(monk_tone(1.0), torch.tensor([0x29, 0x24, 0x20]) / 255.0)
    assert torch.allclose(monk_tone(2 / 9), MONK_SKIN_TONES[2])
    sample = SyntheticKnees("real", "train", size=SIZE)[0]
    assert torch.allclose(sample["tone_srgb"], monk_tone(sample["tone_position"]))
    lab = rgb2lab(sample["tone_srgb"].double().numpy().reshape(1, 1, 3)).reshape(3)
    assert np.allclose(sample["tone_lab"].numpy(), lab, atol=1e-3)
    with pytest.raises(ValueError, match="position"):
        monk_tone(1.5)


def test_oracle_mask_equals_the_sim_mask():
    sim = SyntheticKnees("sim", "test", size=48)
    images, masks = sim.tensors(range(6))
    poses = [sim.pose(i) for i in range(6)]
    for index, pose in enumerate(poses):
        oracle_image, oracle_mask = render_real(pose, 0.3, 48)
        assert torch.equal(oracle_mask, masks[index])
        assert torch.equal(render_sim(pose, 48)[0], images[index])
    # Batched, with per-pose tones and a reference's appearance
    # (its garment is left out).
    reference = SyntheticKnees("real", "train", size=48)
    with_garment = next(
        i for i in range(len(reference)) if reference.appearance(i)["garment"]
    )
    tones = torch.stack([monk_tone(t) for t in np.linspace(0, 1, 6)])
    batch_images, batch_masks = render_real(
        poses, tones, 48, appearance=reference.appearance(with_garment)
    )
    assert torch.equal(batch_masks, masks)
    # The deepest tone renders darker than the lightest.
    assert (
        batch_images[5][:, masks[5, 0] == 1].mean()
        < batch_images[0][:, masks[0, 0] == 1].mean() - 0.5
    )


def test_oracle_reproduces_a_real_sample():
    real = SyntheticKnees("real", "train", size=SIZE)
    index = next(i for i in range(len(real)) if not real.appearance(i)["garment"])
    sample = real[index]
    image, mask = render_real(
        sample["pose"], sample["tone_srgb"], SIZE, appearance=sample["appearance"]
    )
    assert torch.equal(mask, sample["mask"]) and torch.equal(image, sample["image"])


def test_png_cache_round_trip(tmp_path):
    fresh = SyntheticKnees("real", "test", size=SIZE)
    cached = SyntheticKnees("real", "test", size=SIZE, cache_dir=tmp_path)
    first_images, first_masks = cached.tensors(range(4))
    assert len(list(tmp_path.rglob("*.png"))) == 8
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave nothing behind
    again_images, again_masks = cached.tensors(range(4))
    fresh_images, fresh_masks = fresh.tensors(range(4))
    assert torch.equal(first_images, again_images) and torch.equal(
        again_images, fresh_images
    )
    assert torch.equal(again_masks, fresh_masks)
    # A damaged entry is rendered again.
    next(tmp_path.rglob("0000.png")).write_bytes(b"not a png")
    assert torch.equal(cached[0]["image"], fresh_images[0])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"domain": "xray"}, "domain"),
        ({"split": "validation"}, "split"),
        ({"size": 16}, "size"),
        ({"size": 1000}, "size"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SyntheticKnees(**kwargs)


def test_more_bad_arguments():
    with pytest.raises(TypeError, match="size"):
        SyntheticKnees(size=64.0)
    with pytest.raises(IndexError, match="index"):
        SyntheticKnees("sim", "test", size=SIZE)[28]
    with pytest.raises(ValueError, match="size"):
        render_sim(SyntheticKnees().pose(0), size=8)
    with pytest.raises(ValueError, match="tone"):
        render_real(SyntheticKnees().pose(0), (1.2, 0.5, 0.5), SIZE)
    with pytest.raises(ValueError, match="pose"):
        render_sim({"flex_deg": 10.0}, SIZE)
    with pytest.raises(ValueError, match="appearance.*glow"):
        render_real(SyntheticKnees().pose(0), 0.5, SIZE, appearance={"glow": 1.0})
    with pytest.raises(ValueError, match="appearance"):
        SyntheticKnees("sim").appearance(0)


# ----------------------------------------------------------------------------- folders


def _write_knees(folder, count, *, domain="real", masks_folder=None):
    folder.mkdir(parents=True, exist_ok=True)
    images, masks = SyntheticKnees(domain, "test", size=48).tensors(range(count))
    for index, (image, mask) in enumerate(zip(images, masks)):
        pixels = ((image + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(folder / f"knee{index}.png")
        if masks_folder is not None:
            masks_folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask[0].byte().numpy() * 255).save(
                masks_folder / f"knee{index}.png"
            )
    return images, masks


def test_image_folder_with_masks(tmp_path):
    images, masks = _write_knees(tmp_path / "train", 3, masks_folder=tmp_path / "masks")
    data = ImageFolderDomain(tmp_path / "train", mask_root=tmp_path / "masks", size=48)
    assert len(data) == 3 and [p.name for p in data.paths] == [
        "knee0.png",
        "knee1.png",
        "knee2.png",
    ]
    sample = data[1]
    assert torch.equal(sample["image"], images[1]) and torch.equal(
        sample["mask"], masks[1]
    )
    folder_images, folder_masks = data.tensors()
    assert folder_images.shape == (3, 3, 48, 48) and torch.equal(folder_masks, masks)
    assert default_collate([data[0], data[2]])["image"].shape == (2, 3, 48, 48)
    # Resizing and a non-square photo.
    Image.new("RGB", (90, 60), (250, 250, 250)).save(tmp_path / "train" / "wide.jpg")
    Image.new("L", (90, 60), 0).save(tmp_path / "masks" / "wide.png")
    resized = ImageFolderDomain(
        tmp_path / "train", mask_root=tmp_path / "masks", size=32
    )
    assert resized[3]["image"].shape == (3, 32, 32)


def test_image_folder_mask_fallback(tmp_path):
    real = SyntheticKnees("real", "test", size=48)
    plain = [i for i in range(len(real)) if not real.appearance(i)["garment"]][:4]
    _write_knees(tmp_path / "real", 0)
    for index in plain:
        image = real[index]["image"]
        pixels = ((image + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(tmp_path / "real" / f"{index:02d}.png")
    data = ImageFolderDomain(tmp_path / "real", size=48)
    for row, index in enumerate(plain):
        assert _iou(data[row]["mask"], real[index]["mask"]) > 0.8
    sim = SyntheticKnees("sim", "test", size=48)[0]
    # a dark background works too
    assert _iou(border_background_mask(sim["image"]), sim["mask"]) > 0.9


def test_image_folder_errors_name_the_file_or_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="root.*no_such_folder"):
        ImageFolderDomain(tmp_path / "no_such_folder")
    _write_knees(tmp_path / "photos", 2)
    (tmp_path / "photos" / "broken.png").write_bytes(
        b"\x89PNG\r\n\x1a\n this is not an image"
    )
    with pytest.raises(ValueError, match="broken.png"):
        ImageFolderDomain(tmp_path / "photos")
    (tmp_path / "photos" / "broken.png").unlink()
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="notes.txt"):
        assert len(ImageFolderDomain(tmp_path / "photos")) == 2
    (tmp_path / "photos" / "notes.txt").unlink()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="root"):
        ImageFolderDomain(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="mask_root"):
        ImageFolderDomain(tmp_path / "photos", mask_root=tmp_path / "no_masks")
    (tmp_path / "masks").mkdir()
    with pytest.raises(FileNotFoundError, match="knee0.png"):
        ImageFolderDomain(tmp_path / "photos", mask_root=tmp_path / "masks")
    with pytest.raises(ValueError, match="size"):
        ImageFolderDomain(tmp_path / "photos", size=1000)


# ---------------------------------------------------------------------- unpaired loader


def _domain(count, size=SIZE, seed=0):
    """Images whose every pixel says which image it is, with a random mask."""
    generator = torch.Generator().manual_seed(seed)
    masks = (torch.rand(count, 1, size, size, generator=generator) > 0.5).float()
    colours = torch.rand(count, 3, 1, 1, generator=generator) * 2 - 1
    return colours.expand(count, 3, size, size).clone(), masks


def test_loader_batches_and_references_never_the_sample_itself():
    x_images, x_masks = _domain(3)
    y_images, y_masks = _domain(2, seed=1)
    loader = UnpairedLoader(
        x_images, x_masks, y_images, y_masks, batch_size=4, seed=0, both=True
    )
    keys = {"x", "x_mask", "y", "y_mask", "y_ref", "y_ref_mask", "x_ref", "x_ref_mask"}
    for batch in loader.batches(0, 60):
        assert keys <= batch.keys()
        assert batch["x"].shape == (4, 3, SIZE, SIZE) and batch["y_ref_mask"].shape == (
            4,
            1,
            SIZE,
            SIZE,
        )
        assert bool((batch["y_ref_index"] != batch["y_index"]).all())
        assert bool((batch["x_ref_index"] != batch["x_index"]).all())
        # The rows really are those images (each image is one flat colour).
        assert torch.equal(
            batch["y_ref"][:, :, 0, 0], y_images[batch["y_ref_index"], :, 0, 0]
        )
    one_way = UnpairedLoader(x_images, x_masks, y_images, y_masks, batch_size=2)
    assert "x_ref" not in one_way.batch(0) and "y_ref" in one_way.batch(0)


def test_loader_epochs_cover_each_domain_independently():
    x_images, x_masks = _domain(6)
    y_images, y_masks = _domain(4, seed=1)
    loader = UnpairedLoader(
        x_images, x_masks, y_images, y_masks, batch_size=2, seed=5, augment=False
    )
    assert len(loader) == 3
    seen_x = torch.cat([b["x_index"] for b in loader.batches(0, 3)])
    seen_y = torch.cat([b["y_index"] for b in loader.batches(0, 2)])
    assert sorted(seen_x.tolist()) == list(range(6)) and sorted(
        seen_y.tolist()
    ) == list(range(4))
    other = UnpairedLoader(
        x_images, x_masks, y_images, y_masks, batch_size=2, seed=6, augment=False
    )
    orders = [
        torch.cat([b["x_index"] for b in lo.batches(0, 3)]).tolist()
        for lo in (loader, other)
    ]
    assert orders[0] != orders[1]


def test_loader_is_deterministic_and_resumable():
    x_images, x_masks = _domain(5)
    y_images, y_masks = _domain(7, seed=1)

    def make():
        return UnpairedLoader(
            x_images, x_masks, y_images, y_masks, batch_size=3, seed=11, both=True
        )

    full = list(make().batches(0, 8))
    resumed = list(make().batches(start_step=5, num_steps=3))
    for a, b in zip(full[5:], resumed):
        assert a["step"] == b["step"]
        for key in ("x", "x_mask", "y", "y_ref", "x_ref_mask"):
            assert torch.equal(a[key], b[key])
    loader = make()
    assert len(loader) == 3  # ceil(7 / 3): one epoch of the larger domain
    taken = list(itertools.islice(iter(loader), 2))
    state = loader.state_dict()
    restored = make()
    restored.load_state_dict(state)
    assert state["step"] == 2 and torch.equal(next(iter(restored))["y"], full[2]["y"])
    assert torch.equal(taken[0]["x"], full[0]["x"])
    # iterating goes on from where it stopped
    assert [b["step"] for b in loader] == [2, 3, 4]


def test_augmentation_keeps_colour_and_moves_image_and_mask_together():
    images, masks = SyntheticKnees("real", "test", size=SIZE).tensors(range(4))
    flips_only = UnpairedLoader(
        images, masks, images, masks, batch_size=4, seed=2, max_shift=0
    )
    for batch in flips_only.batches(0, 5):
        for key in ("x", "y", "y_ref"):
            for row, index in enumerate(batch[f"{key}_index"]):
                before = _mean_foreground_srgb(images[index], masks[index])
                after = _mean_foreground_srgb(
                    batch[key][row], batch[f"{key}_mask"][row]
                )
                assert np.allclose(before, after, atol=1e-5)
    # With shifts too: an image that equals its mask stays equal to its mask.
    mask_images = (masks * 2 - 1).expand(-1, 3, -1, -1).contiguous()
    shifting = UnpairedLoader(
        mask_images, masks, mask_images, masks, batch_size=4, seed=3, max_shift=4
    )
    moved = 0
    for batch in shifting.batches(0, 5):
        assert torch.equal(batch["x"], (batch["x_mask"] * 2 - 1).expand(-1, 3, -1, -1))
        assert set(batch["y_mask"].unique().tolist()) <= {0.0, 1.0}
        moved += int(not torch.equal(batch["x"], mask_images[batch["x_index"]]))
    assert moved > 0
    plain = UnpairedLoader(
        images, masks, images, masks, batch_size=2, augment=False
    ).batch(0)
    assert torch.equal(plain["x"], images[plain["x_index"]])


def test_loader_bad_arguments():
    images, masks = _domain(3)
    with pytest.raises(ValueError, match="x_masks"):
        UnpairedLoader(images, masks[:2], images, masks)
    with pytest.raises(ValueError, match="y_images"):
        UnpairedLoader(images, masks, images[:1], masks[:1])
    with pytest.raises(ValueError, match="batch_size"):
        UnpairedLoader(images, masks, images, masks, batch_size=0)
    with pytest.raises(ValueError, match="y_images"):
        UnpairedLoader(images, masks, images[:, :1], masks)
