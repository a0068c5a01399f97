"""The light encoder: model contract, file format and loader strictness, training (loss, exact resume), command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from helpers import tiny_generator
from inversion import load_encoder
from inversion.encoder_train import train_encoder
from inversion.light_encoder import LightEncoder, save_light_encoder
from latentreenact.checkpoints.errors import CheckpointFormatError
from latentreenact.images import to_uint8
from latentreenact.net3d.dataset import DROP_REASONS, MANIFEST_FORMAT, MANIFEST_NAME, write_shard
from latentreenact.sampling import truncation_centre, wplus_from_z

TINY = {"input_size": 16, "widths": [8], "hidden": 16}
PSI = 0.7


pytestmark = pytest.mark.usefixtures("one_thread")


def _write_pairs(root: Path, generator, n: int = 48, shard_size: int = 24) -> Path:
    """A ``net3d dataset``-layout folder of generator renders and their z (labels are placeholders)."""
    g = torch.Generator().manual_seed(5)
    centre = truncation_centre(generator, seed=0)
    root.mkdir(parents=True, exist_ok=True)
    shards = []
    for k, start in enumerate(range(0, n, shard_size)):
        stop = min(start + shard_size, n)
        m = stop - start
        z = torch.randn(m, generator.style_dim, generator=g)
        with torch.no_grad():
            images = torch.from_numpy(to_uint8(generator.synthesis(wplus_from_z(generator, z, PSI, centre))))
        shard = {"images": images.permute(0, 3, 1, 2).contiguous(), "index": torch.arange(start, stop), "z": z,
                 "angles": torch.zeros(m, 3), "identity": torch.zeros(m, 40), "expression": torch.zeros(m, 10),
                 "landmarks": torch.zeros(m, 68, 2)}
        shards.append(write_shard(root, k, shard, start, stop, {r: [] for r in DROP_REASONS}))
    config = {"n": n, "seed": 0, "truncation": PSI, "style_dim": generator.style_dim, "size": generator.resolution}
    manifest = {"format": MANIFEST_FORMAT, "format_version": 1, "config": config, "n_requested": n,
                "n_processed": n, "n_kept": n, "complete": True, "shards": shards}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def gen():
    return tiny_generator(size=16, style_dim=8)


@pytest.fixture(scope="module")
def data(tmp_path_factory, gen) -> Path:
    return _write_pairs(tmp_path_factory.mktemp("pairs"), gen)


def _train(gen, data: Path, out: Path, steps: int, **kw):
    opts = dict(batch_size=8, lr=3e-3, seed=1, val_every=4, model_config=TINY, val_fraction=0.25,
                image_batch=2, image_every=2, image_size=16, identity="none", perceptual="none", n_val_images=4)
    opts.update(kw)
    return train_encoder(gen, data, out, steps, **opts)


def test_codes_are_latent_avg_at_init_and_shapes() -> None:
    enc = LightEncoder({**TINY, "n_styles": 5, "style_dim": 8})
    avg = torch.randn(8)
    enc.set_latent_avg(avg)
    codes = enc(torch.rand(3, 3, 16, 16) * 2 - 1)
    assert codes.shape == (3, 5, 8)
    # zero-initialised heads: every code starts at the truncation centre (e4e's starting point)
    assert torch.equal(codes, avg.expand(3, 5, 8))
    with pytest.raises(ValueError, match="expected images"):
        enc(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="input_size"):
        LightEncoder({"input_size": 100, "widths": [8]})


def test_default_encoder_fits_the_size_budget() -> None:
    n = sum(p.numel() for p in LightEncoder().parameters())
    assert n * 2 < 40e6  # fp16 bytes under the 40 MB budget of the shipped default


def test_training_reduces_latent_error_and_exports(gen, data: Path, tmp_path: Path) -> None:
    summary = _train(gen, data, tmp_path / "run", 40, lr=1e-2, val_every=8)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["split"] == "val"]
    assert len(val) == 5 and {"latent_mse", "image_mse"} <= set(val[-1])
    # held-out samples: better than the starting point (every code at the truncation centre)
    assert val[-1]["latent_mse"] < 0.85 * val[0]["latent_mse"]
    enc = load_encoder(summary["last_path"])
    assert isinstance(enc, LightEncoder) and not enc.training
    assert enc.n_styles == gen.n_latent and enc.input_size == 16
    assert not any(p.requires_grad for p in enc.parameters())
    with torch.no_grad():
        ref = torch.load(summary["last_path"], weights_only=True)
        assert ref["metadata"]["step"] == 40 and ref["metadata"]["train_samples"] == 40
        assert enc(torch.zeros(1, 3, 16, 16)).shape == (1, gen.n_latent, gen.style_dim)


def test_resume_is_bit_identical(gen, data: Path, tmp_path: Path) -> None:
    _train(gen, data, tmp_path / "full", 10, checkpoint_every=3)
    _train(gen, data, tmp_path / "cut", 10, checkpoint_every=3, stop_after=5)
    assert not (tmp_path / "cut" / "last.pt").exists()
    _train(gen, data, tmp_path / "cut", 10, checkpoint_every=3, resume=True)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    full = (tmp_path / "full" / "metrics.jsonl").read_text()
    assert full == (tmp_path / "cut" / "metrics.jsonl").read_text()
    with pytest.raises(ValueError, match="changed: lr"):
        _train(gen, data, tmp_path / "cut", 12, checkpoint_every=3, resume=True, lr=1e-2)
    with pytest.raises(ValueError, match="already holds"):
        _train(gen, data, tmp_path / "full", 10)


def test_loader_is_strict(tmp_path: Path) -> None:
    enc = LightEncoder({**TINY, "n_styles": 3, "style_dim": 8})
    path = save_light_encoder(tmp_path / "e.pt", enc, half=True)
    back = load_encoder(path)
    assert back.stem[0].weight.dtype == torch.float32
    obj = torch.load(path, weights_only=True)
    obj["state_dict"]["w0.weight"] = torch.full_like(obj["state_dict"]["w0.weight"], float("nan"))
    torch.save(obj, tmp_path / "nan.pt")
    with pytest.raises(CheckpointFormatError, match="non-finite"):
        load_encoder(tmp_path / "nan.pt")
    obj = torch.load(path, weights_only=True)
    del obj["state_dict"]["w0.bias"]
    torch.save(obj, tmp_path / "missing.pt")
    with pytest.raises(CheckpointFormatError, match="w0.bias"):
        load_encoder(tmp_path / "missing.pt")
    obj = torch.load(path, weights_only=True)
    obj["format_version"] = 99
    torch.save(obj, tmp_path / "future.pt")
    with pytest.raises(CheckpointFormatError, match="unsupported version"):
        load_encoder(tmp_path / "future.pt")
    obj = torch.load(path, weights_only=True)
    del obj["config"]
    torch.save(obj, tmp_path / "noconfig.pt")
    with pytest.raises(CheckpointFormatError, match="without its 'config'"):  # was: "unsupported version 1 (reads 1)"
        load_encoder(tmp_path / "noconfig.pt")
    with pytest.raises(ValueError, match="not an encoder"):
        load_encoder("mobilestylegan-ffhq")


def test_train_encoder_command(gen, data: Path, tmp_path: Path) -> None:
    from latentreenact.checkpoints.loading import save_generator
    from latentreenact.cli.main import cli

    save_generator(gen, tmp_path / "g.pt")
    args = ["train", "encoder", "--data", str(data), "-o", str(tmp_path / "run"), "--generator", str(tmp_path / "g.pt"),
            "--steps", "3", "--batch-size", "8", "--val-every", "3", "--image-every", "0", "--input-size", "64",
            "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert load_encoder(tmp_path / "run" / "last.pt").input_size == 64
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 5 and "resume" in again.output


def test_init_from_starts_from_trained_weights(gen, data: Path, tmp_path: Path) -> None:
    first = _train(gen, data, tmp_path / "a", 6)
    start = torch.load(first["last_path"], weights_only=True)["state_dict"]
    tuned = _train(gen, data, tmp_path / "b", 1, lr=1e-12, init_from=first["last_path"])
    after = torch.load(tuned["last_path"], weights_only=True)["state_dict"]
    names = [n for n, _ in LightEncoder({**TINY, "n_styles": gen.n_latent, "style_dim": 8}).named_parameters()]
    # one step at lr 1e-12 leaves the parameters where init_from put them (BatchNorm buffers do move)
    assert all(torch.allclose(after[n], start[n], atol=1e-6) for n in names)
    fresh = torch.load(_train(gen, data, tmp_path / "c", 1, lr=1e-12)["last_path"], weights_only=True)["state_dict"]
    assert any(not torch.allclose(fresh[n], start[n], atol=1e-3) for n in names)
    with pytest.raises(ValueError, match="changed: init"):
        _train(gen, data, tmp_path / "b", 1, lr=1e-12, resume=True)
    with pytest.raises(ValueError, match="light encoder with config"):
        _train(gen, data, tmp_path / "d", 1, init_from=first["last_path"], model_config={**TINY, "hidden": 24})
