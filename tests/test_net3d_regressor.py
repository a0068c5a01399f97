"""The bfm-net regressor: flips, model file, training (loss, exact resume), estimator and command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from latentreenact.checkpoints.errors import CheckpointFormatError
from latentreenact.net3d import get_estimator
from latentreenact.net3d.dataset import DROP_REASONS, MANIFEST_FORMAT, MANIFEST_NAME, write_shard
from latentreenact.net3d.flip import FLIP_PERMUTATION, flip_angles, flip_landmarks
from latentreenact.net3d.regressor import Net3DRegressor, from_unit, to_unit
from latentreenact.net3d.train import augment, train_net3d

TINY = {"input_size": 32, "widths": [8, 16], "blocks": [1, 1], "pool": 2, "hidden": 32}
SIZE = 32


def _symmetric_landmarks(width: float, seed: int = 0) -> torch.Tensor:
    """68 points symmetric about the image's vertical centre line (under FLIP_PERMUTATION)."""
    g = torch.Generator().manual_seed(seed)
    centre = (width - 1) / 2
    points = torch.zeros(68, 2)
    for i in range(68):
        j = FLIP_PERMUTATION[i]
        if j < i:
            continue
        offset, y = float(torch.rand(1, generator=g)) * width / 3, float(torch.rand(1, generator=g)) * width
        if i == j:
            points[i] = torch.tensor([centre, y])
        else:
            points[i], points[j] = torch.tensor([centre - offset, y]), torch.tensor([centre + offset, y])
    return points


def _write_dataset(root: Path, n: int = 40, shard_size: int = 20, seed: int = 0) -> Path:
    """Shards + manifest in the ``net3d dataset`` format: a bright square whose position and size
    determine the labels (angles, landmarks, identity, expression)."""
    g = torch.Generator().manual_seed(seed)
    template = _symmetric_landmarks(16.0, seed) - 7.5  # centred on 0, spread over +-8 px
    root.mkdir(parents=True, exist_ok=True)
    shards = []
    for k, start in enumerate(range(0, n, shard_size)):
        stop = min(start + shard_size, n)
        m = stop - start
        images = torch.full((m, 3, SIZE, SIZE), 30, dtype=torch.uint8)
        centre = 10 + 12 * torch.rand(m, 2, generator=g)
        half = 3 + 3 * torch.rand(m, generator=g)
        shade = 120 + 135 * torch.rand(m, generator=g)
        for r in range(m):
            x0, y0 = (centre[r] - half[r]).round().int().tolist()
            x1, y1 = (centre[r] + half[r]).round().int().tolist()
            images[r, :, y0:y1, x0:x1] = int(shade[r])
            images[r, 0, y0:y1, x0:(x0 + x1) // 2] = 255  # a red left half: the square is not mirror-symmetric
        norm_c = (centre - 16) / 6
        angles = torch.stack([30 * norm_c[:, 0], 15 * norm_c[:, 1], 10 * (half - 4.5)], dim=1)
        identity = torch.cat([(half - 4.5)[:, None], 0.1 * torch.randn(m, 39, generator=g)], dim=1)
        expression = torch.cat([((shade - 187) / 70)[:, None], 0.1 * torch.randn(m, 9, generator=g)], dim=1)
        landmarks = centre[:, None, :] + template[None] * (half[:, None, None] / 4.5)
        shard = {"images": images, "index": torch.arange(start, stop, dtype=torch.int64), "z": torch.zeros(m, 4),
                 "angles": angles, "identity": identity, "expression": expression, "landmarks": landmarks,
                 "detected_landmarks": landmarks.clone(), "scale": torch.ones(m), "translation": torch.zeros(m, 2),
                 "fit_error": torch.zeros(m), "fit_error_iod": torch.zeros(m)}
        shards.append(write_shard(root, k, shard, start, stop, {r: [] for r in DROP_REASONS}))
    manifest = {"format": MANIFEST_FORMAT, "format_version": 1, "config": {"n": n}, "n_requested": n,
                "n_processed": n, "n_kept": n, "complete": True, "shards": shards}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    return root


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return _write_dataset(tmp_path_factory.mktemp("net3d_data"))


def _train(data: Path, out: Path, steps: int, **kw):
    opts = dict(batch_size=8, lr=3e-3, seed=3, val_every=5, model_config=TINY, val_fraction=0.25)
    opts.update(kw)
    return train_net3d(data, out, steps, **opts)


def test_flip_permutation_properties() -> None:
    perm = torch.tensor(FLIP_PERMUTATION)
    assert sorted(FLIP_PERMUTATION) == list(range(68))
    assert torch.equal(perm[perm], torch.arange(68))
    assert FLIP_PERMUTATION[36] == 45 and FLIP_PERMUTATION[0] == 16 and FLIP_PERMUTATION[48] == 54
    assert all(FLIP_PERMUTATION[i] == i for i in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66))
    points = torch.rand(2, 68, 2, generator=torch.Generator().manual_seed(0)) * 100
    # x -> 99 - x twice is exact up to float32 rounding at the scale of 100 (absolute, not relative)
    assert torch.allclose(flip_landmarks(flip_landmarks(points, 100), 100), points, rtol=0, atol=1e-4)
    symmetric = _symmetric_landmarks(64.0)
    assert torch.allclose(flip_landmarks(symmetric, 64), symmetric)
    assert torch.equal(flip_angles(torch.tensor([[10.0, 5.0, -3.0]])), torch.tensor([[-10.0, 5.0, 3.0]]))


def test_augment_flip_keeps_labels_consistent() -> None:
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    labels = {"angles": torch.randn(3, 3), "landmarks": torch.rand(3, 68, 2) * 16,
              "identity": torch.randn(3, 40), "expression": torch.randn(3, 10)}
    g = torch.Generator().manual_seed(0)
    out, new, mask = augment(images, labels, g, flip_prob=1.0)
    assert not mask.any() and out.shape == images.shape and out.abs().max() <= 1
    assert torch.allclose(new["landmarks"], flip_landmarks(labels["landmarks"], 16))
    assert torch.allclose(new["angles"], flip_angles(labels["angles"]))
    _, same, mask = augment(images, labels, torch.Generator().manual_seed(0), flip_prob=0.0)
    assert mask.all() and torch.equal(same["landmarks"], labels["landmarks"])


def test_unit_coordinates_round_trip_and_flip() -> None:
    px = torch.rand(5, 68, 2) * 31
    assert torch.allclose(from_unit(to_unit(px, 32, 32), 32, 32), px, atol=1e-5)
    mirrored = to_unit(px, 32, 32)[:, list(FLIP_PERMUTATION)] * torch.tensor([-1.0, 1.0])
    assert torch.allclose(to_unit(flip_landmarks(px, 32), 32, 32), mirrored, atol=1e-5)


def test_default_model_fits_fp16_budget() -> None:
    n = sum(p.numel() for p in Net3DRegressor().parameters())
    assert n * 2 <= 15e6


def test_save_load_round_trip_and_strictness(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Net3DRegressor(TINY)
    model.set_label_stats({"identity_mean": torch.randn(40), "identity_std": torch.rand(40) + 0.5,
                           "expression_mean": torch.randn(10), "expression_std": torch.rand(10) + 0.5})
    model.eval()
    path = model.save(tmp_path / "m.pt", metrics={"loss": 1.5})
    loaded = Net3DRegressor.load(path)
    x = torch.rand(2, 3, 48, 48) * 2 - 1
    a, b = model.predict(x), loaded.predict(x)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.config == model.config and loaded.metrics == {"loss": 1.5}
    obj = torch.load(path, weights_only=True)
    assert obj["format"] == "latentreenact.net3d-regressor" and obj["format_version"] == 1
    del obj["state_dict"]["head.1.bias"]
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(CheckpointFormatError, match="missing keys: head.1.bias"):
        Net3DRegressor.load(tmp_path / "bad.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointFormatError, match="not a Net3D regressor"):
        Net3DRegressor.load(tmp_path / "other.pt")


def test_training_reduces_loss_and_exports(data: Path, tmp_path: Path) -> None:
    summary = _train(data, tmp_path / "run", 40, val_every=10)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    assert [r["step"] for r in val] == [10, 20, 30, 40]
    assert train[-1]["loss"] < 0.7 * train[0]["loss"]
    assert {"angle_mae_yaw", "angle_mae_pitch", "angle_mae_roll", "landmark_nme_iod_percent",
            "expression_mae"} <= set(val[-1])
    assert summary["complete"] and summary["best"]["loss"] == min(r["loss"] for r in val)
    best = Net3DRegressor.load(tmp_path / "run" / "best.pt")
    assert best.metrics["step"] == summary["best"]["step"]
    assert (tmp_path / "run" / "last.pt").is_file()


def test_resume_is_bit_identical(data: Path, tmp_path: Path) -> None:
    _train(data, tmp_path / "full", 12, checkpoint_every=4)
    part = _train(data, tmp_path / "part", 12, checkpoint_every=4, stop_after=6)
    assert part["step"] == 6 and not part["complete"] and not (tmp_path / "part" / "last.pt").exists()
    with pytest.raises(ValueError, match="already holds"):
        _train(data, tmp_path / "part", 12, checkpoint_every=4)
    with pytest.raises(ValueError, match="changed: lr"):
        _train(data, tmp_path / "part", 12, checkpoint_every=4, lr=1e-2, resume=True)
    _train(data, tmp_path / "part", 12, checkpoint_every=4, resume=True)
    full = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["state_dict"]
    resumed = torch.load(tmp_path / "part" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == (tmp_path / "part" / "metrics.jsonl").read_text()


def test_estimator_with_weights_is_differentiable(tmp_path: Path) -> None:
    torch.manual_seed(1)
    path = Net3DRegressor(TINY).save(tmp_path / "w.pt")
    estimator = get_estimator("bfm-net", weights=path, device="cpu")
    assert estimator.differentiable and estimator.name == "bfm-net"
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    params = estimator.estimate(x)
    assert params.angles.shape == (2, 3) and params.identity.shape == (2, 40)
    assert params.expression.shape == (2, 10) and params.landmarks.shape == (2, 68, 2) and params.found.all()
    (params.angles.sum() + params.expression.sum() + params.landmarks.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in estimator.model.parameters())
    arrays = [np.full((40, 40, 3), 100, np.uint8), np.full((24, 24, 3), 200, np.uint8)]
    params = estimator.estimate(arrays)
    assert params.landmarks.shape == (2, 68, 2) and not params.angles.requires_grad


def test_estimator_with_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no Net3D regressor weights"):
        get_estimator("bfm-net", weights=tmp_path / "none.pt")


def test_train_net3d_command(data: Path, tmp_path: Path) -> None:
    from latentreenact.cli.train_net3d import net3d

    args = ["--data", str(data), "-o", str(tmp_path / "run"), "--steps", "2", "--batch-size", "4",
            "--val-every", "2", "--input-size", "16", "--val-fraction", "0.25", "--no-progress"]
    result = CliRunner().invoke(net3d, args)
    assert result.exit_code == 0, result.output
    assert "best step 2" in result.output and (tmp_path / "run" / "best.pt").is_file()
    again = CliRunner().invoke(net3d, args)
    assert again.exit_code == 5 and "already holds" in again.output


def test_half_precision_export_roundtrip(tmp_path):
    from latentreenact.net3d.regressor import Net3DRegressor

    torch.manual_seed(0)
    model = Net3DRegressor().eval()
    full = model.save(tmp_path / "full.pt")
    half = model.save(tmp_path / "half.pt", half=True)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    again = Net3DRegressor.load(half)
    assert all(p.dtype == torch.float32 for p in again.parameters())
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        a, b = model(x), again(x)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=5e-2, rtol=5e-2), key
