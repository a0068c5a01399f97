"""Pseudo-labelled Net3D dataset: shards, drop counts, manifest, exact resume, deterministic split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from helpers import InterruptibleEstimator, tiny_generator
from latentreenact.cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from latentreenact.cli.net3d_dataset import dataset as dataset_command
from latentreenact.net3d import PoseEstimator, PoseParams
from latentreenact.net3d.dataset import (DROP_REASONS, FIELDS, MANIFEST_NAME, Net3DShards, build_dataset,
                                         load_manifest, split_mask)


class FakeEstimator(InterruptibleEstimator, PoseEstimator):
    """Labels computed from the pixels; some images "have no face", some fit badly.

    ``interrupt_at``: raise KeyboardInterrupt on that call (1-based) to simulate a killed run
    (``helpers.InterruptibleEstimator``).
    """

    def labels(self, images):
        x = torch.from_numpy(np.stack(images)).double()  # uint8 [B, S, S, 3] as given by build_dataset
        b, s = x.shape[0], x.shape[1]
        key = x.sum(dim=(1, 2, 3)).long()
        found = key % 5 != 0
        mean = x.mean(dim=(1, 2, 3))
        angles = torch.stack([mean / 4, x[:, 0, 0, 0] / 10, x[:, 1, 1, 1] / 20], 1)
        grid = torch.linspace(0.2, 0.8, 68, dtype=torch.float64) * s
        landmarks = torch.stack([grid, grid.flip(0)], 1).expand(b, 68, 2).clone() + mean[:, None, None] / 255
        landmarks[:, 36], landmarks[:, 45] = torch.tensor([0.3 * s, 0.4 * s]), torch.tensor([0.7 * s, 0.4 * s])
        error = torch.where(key % 7 == 0, 0.5 * s, 0.01 * s)  # every 7th: a bad fit (error 0.5 S px)
        nan = torch.where(found, 0.0, float("nan"))
        return PoseParams(angles=angles + nan[:, None], expression=x[:, 0, :10, 0] + nan[:, None],
                          identity=x[:, 2, :, 2].repeat(1, 3)[:, :40] + nan[:, None],
                          landmarks=landmarks + nan[:, None, None], backend=self.name, found=found,
                          extras={"fit_error": error + nan, "scale": mean + nan,
                                  "translation": torch.stack([mean, -mean], 1) + nan[:, None],
                                  "detected_landmarks": landmarks + 1 + nan[:, None, None]})


@pytest.fixture(scope="module")
def generator():
    return tiny_generator(size=16, style_dim=8)


KW = dict(n=23, seed=3, size=16, truncation=0.8, shard_size=5, batch_size=2)


def _shards(root: Path):
    manifest = load_manifest(root)
    return [torch.load(root / e["file"], weights_only=True) for e in manifest["shards"]]


def _stable(manifest):
    return {k: v for k, v in manifest.items() if k != "timing"}


def test_build_dataset_shards_drops_and_manifest(generator, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    manifest = build_dataset(generator, out, estimator=FakeEstimator(), config={"generator": "tiny"}, **KW)
    assert manifest == json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["complete"] and manifest["n_requested"] == 23 and manifest["n_processed"] == 23
    assert manifest["config"]["generator"] == "tiny" and manifest["config"]["seed"] == 3
    assert manifest["config"]["backend"] == "fake" and manifest["config"]["size"] == 16
    assert set(manifest["dropped"]) == set(DROP_REASONS)
    assert manifest["dropped"]["not_found"] > 0 and manifest["dropped"]["fit_error"] > 0
    assert manifest["n_kept"] + sum(manifest["dropped"].values()) == 23 and manifest["n_kept"] > 10
    assert [(e["start"], e["stop"]) for e in manifest["shards"]] == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]
    assert sorted(out.iterdir()) == sorted([out / MANIFEST_NAME] + [out / e["file"] for e in manifest["shards"]])
    assert set(manifest["fields"]) == set(FIELDS) and manifest["fields"]["angles"]["unit"].startswith("yaw")
    assert manifest["timing"]["images_per_s"] > 0
    seen = []
    for entry, shard in zip(manifest["shards"], _shards(out)):
        count = entry["count"]
        assert shard["images"].dtype == torch.uint8 and shard["images"].shape == (count, 3, 16, 16)
        assert shard["angles"].shape == (count, 3) and shard["identity"].shape == (count, 40)
        assert shard["expression"].shape == (count, 10) and shard["landmarks"].shape == (count, 68, 2)
        assert shard["z"].shape == (count, 8) and shard["fit_error"].shape == (count,)
        assert all(torch.isfinite(shard[k]).all() for k in FIELDS if k != "images")
        assert (shard["fit_error_iod"] <= 0.05).all()
        dropped = sorted(i for ids in entry["dropped"].values() for i in ids)
        assert sorted(shard["index"].tolist() + dropped) == list(range(entry["start"], entry["stop"]))
        seen += shard["index"].tolist()
    # the stored z are the seeded draw, rows = sample index
    z_all = torch.randn(23, 8, generator=torch.Generator().manual_seed(3))
    shard = _shards(out)[1]
    torch.testing.assert_close(shard["z"], z_all[shard["index"]], rtol=0, atol=0)
    assert len(seen) == manifest["n_kept"]
    with pytest.raises(ValueError, match="already holds a dataset"):
        build_dataset(generator, out, estimator=FakeEstimator(), **KW)


def test_labels_do_not_depend_on_batch_size(generator, tmp_path: Path) -> None:
    a = build_dataset(generator, tmp_path / "a", estimator=FakeEstimator(), **KW)
    b = build_dataset(generator, tmp_path / "b", estimator=FakeEstimator(), **{**KW, "batch_size": 5})
    assert a["dropped"] == b["dropped"] and a["n_kept"] == b["n_kept"]
    for x, y in zip(_shards(tmp_path / "a"), _shards(tmp_path / "b")):
        assert torch.equal(x["index"], y["index"]) and torch.equal(x["z"], y["z"])
        assert (x["images"].int() - y["images"].int()).abs().max() <= 1  # float batching noise at most 1 level


@pytest.mark.parametrize("interrupt_at", [1, 4, 7])
def test_resume_matches_uninterrupted_run(generator, tmp_path: Path, interrupt_at: int) -> None:
    full = build_dataset(generator, tmp_path / "full", estimator=FakeEstimator(), **KW)
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):  # 3 batches per shard: calls 4 and 7 start shards 1 and 2
        build_dataset(generator, out, estimator=FakeEstimator(interrupt_at=interrupt_at), **KW)
    done = (interrupt_at - 1) // 3
    if done:
        saved = load_manifest(out)
        assert len(saved["shards"]) == done and saved["n_processed"] == 5 * done and not saved["complete"]
    else:
        assert not (out / MANIFEST_NAME).exists()
        with pytest.raises(FileNotFoundError):
            build_dataset(generator, out, estimator=FakeEstimator(), resume=True, **KW)
        return
    with pytest.raises(ValueError, match="cannot resume a different run.*seed"):
        build_dataset(generator, out, estimator=FakeEstimator(), resume=True, **{**KW, "seed": 4})
    resumed = build_dataset(generator, out, estimator=FakeEstimator(), resume=True, **KW)
    assert _stable(resumed) == _stable(full)  # sha256 of every shard included
    for a, b in zip(_shards(out), _shards(tmp_path / "full")):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for entry in full["shards"]:
        assert (out / entry["file"]).read_bytes() == (tmp_path / "full" / entry["file"]).read_bytes()
    again = build_dataset(generator, out, estimator=FakeEstimator(interrupt_at=1), resume=True, **KW)
    assert _stable(again) == _stable(full)  # complete: nothing left to do


def test_resume_rejects_changed_shard(generator, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        build_dataset(generator, out, estimator=FakeEstimator(interrupt_at=5), **KW)
    with open(out / "shard_00000.pt", "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match="sha256"):
        build_dataset(generator, out, estimator=FakeEstimator(), resume=True, **KW)


def test_split_is_deterministic_and_disjoint(generator, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_dataset(generator, out, estimator=FakeEstimator(), **{**KW, "n": 40})
    every = Net3DShards(out, split="all")
    train, val = Net3DShards(out, "train", val_fraction=0.3, seed=1), Net3DShards(out, "val", val_fraction=0.3, seed=1)
    assert len(train) + len(val) == len(every) == load_manifest(out)["n_kept"]
    assert not set(train.indices.tolist()) & set(val.indices.tolist()) and len(val) > 0 and len(train) > 0
    again = Net3DShards(out, "val", val_fraction=0.3, seed=1)
    np.testing.assert_array_equal(again.indices, val.indices)
    assert not np.array_equal(Net3DShards(out, "val", val_fraction=0.3, seed=2).indices, val.indices)
    # by sample index only: the same index is in the same split whatever the dataset size or order
    idx = np.arange(100000)
    mask = split_mask(idx, 0.1, seed=0)
    np.testing.assert_array_equal(split_mask(idx[::-1], 0.1, seed=0), mask[::-1])
    assert abs(mask.mean() - 0.1) < 0.005
    image, labels = val[len(val) - 1]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and -1 <= image.min() <= image.max() <= 1
    assert labels["angles"].shape == (3,) and labels["landmarks"].shape == (68, 2) and "images" not in labels
    shard_rows = {int(i): (k, r) for k, s in enumerate(_shards(out)) for r, i in enumerate(s["index"])}
    k, r = shard_rows[int(labels["index"])]
    shard = _shards(out)[k]
    torch.testing.assert_close(image, shard["images"][r].float() / 127.5 - 1, rtol=0, atol=0)
    assert torch.equal(labels["expression"], shard["expression"][r])
    loader = torch.utils.data.DataLoader(train, batch_size=4)
    images, batch = next(iter(loader))
    assert images.shape == (4, 3, 16, 16) and batch["identity"].shape == (4, 40)
    with pytest.raises(IndexError):
        val[len(val)]


def test_dataset_command_resumes(generator, tmp_path: Path, monkeypatch) -> None:
    from latentreenact import save_generator
    from latentreenact.net3d import registry

    gen_file = tmp_path / "g.pt"
    save_generator(generator, gen_file)
    calls = {"interrupt_at": 0}
    monkeypatch.setitem(registry.BACKENDS, "bfm-fit",
                        (lambda **kw: FakeEstimator(interrupt_at=calls["interrupt_at"]), "fake"))
    args = ["--generator", str(gen_file), "-n", "12", "--seed", "2", "--size", "16", "--shard-size", "4",
            "--batch-size", "2", "--no-progress"]
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(dataset_command, args + ["-o", str(fresh)])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and load_manifest(fresh)["config"]["generator"] == str(gen_file)
    out = tmp_path / "cut"
    calls["interrupt_at"] = 4
    result = CliRunner().invoke(dataset_command, args + ["-o", str(out)])
    assert result.exit_code == EXIT_INTERRUPTED and len(load_manifest(out)["shards"]) == 1
    calls["interrupt_at"] = 0
    bad = CliRunner().invoke(dataset_command, args[:-1] + ["--seed", "5", "-o", str(out), "--resume", "--no-progress"])
    assert bad.exit_code == EXIT_BAD_INPUT and "cannot resume" in bad.output
    result = CliRunner().invoke(dataset_command, args + ["-o", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert _stable(load_manifest(out)) == _stable(load_manifest(fresh))


def test_smoke_default_generator_bfm_fit(tmp_path: Path) -> None:
    """Two real faces: embedded MobileStyleGAN (exact 256 px downscale) + bfm-fit (about 10 s)."""
    from latentreenact import load_generator, zoo

    try:
        zoo.resolve("mobilestylegan-ffhq")
        from latentreenact.shape3d import find_bfm_dir

        find_bfm_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"default generator or BFM files not installed: {exc}")
    manifest = build_dataset(load_generator("mobilestylegan-ffhq"), tmp_path, n=2, seed=0, size=256, shard_size=2,
                             batch_size=2, config={"generator": "mobilestylegan-ffhq"})
    assert manifest["n_kept"] + sum(manifest["dropped"].values()) == 2 and manifest["n_kept"] >= 1
    assert manifest["config"]["backend"] == "bfm-fit"
    image, labels = Net3DShards(tmp_path, split="all")[0]
    assert image.shape == (3, 256, 256)
    assert labels["identity"].shape == (40,) and labels["expression"].shape == (10,)
    assert labels["angles"].abs().max() < 90 and 0 < float(labels["fit_error"]) < 10
    assert ((labels["landmarks"] > 0) & (labels["landmarks"] < 256)).all()
