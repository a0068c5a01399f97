"""``latentreenact invert`` (the click command, tested directly) and its pipeline functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from fixtures.face_photos import photo, single_thread
from helpers import tiny_generator
from inversion.invert import invert_aligned
from latentreenact.checkpoints.loading import load_generator, save_generator
from latentreenact.cli.errors import EXIT_BAD_INPUT
from latentreenact.cli.invert import (aligned_face, can_save_generator, invert, work_size,
                                      write_outputs)
from latentreenact.images import from_uint8, to_uint8

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


@pytest.fixture(scope="module")
def generated():  # type: ignore[no-untyped-def]
    g = tiny_generator(size=32)
    with torch.no_grad():
        w = g.mapping(torch.randn(1, g.style_dim, generator=torch.Generator().manual_seed(7)))
        image = to_uint8(g.synthesis(w[:, None].repeat(1, g.n_latent, 1)))[0]
    return g, image


def _names(folder) -> list:  # type: ignore[no-untyped-def]
    return sorted(p.name for p in folder.iterdir())


def test_pipeline_with_an_injected_aligned_image(generated) -> None:  # type: ignore[no-untyped-def]
    g, image = generated
    assert work_size(g) == 32 and work_size(g, 16) == 16
    with pytest.raises(ValueError, match="power of two"):
        work_size(g, 64)
    wplus, recon, info = invert_aligned(g, image, 32, steps=60, perceptual="none", seed=0)
    assert wplus.shape == (1, g.n_latent, g.style_dim) and recon.shape == (1, 3, 32, 32)
    assert info["method"] == "projector" and info["space"] == "w" and set(info["final_losses"]) == {"mse", "total"}
    start = torch.nn.functional.mse_loss(g.synthesis(g.mean_latent()[:, None].repeat(1, g.n_latent, 1)),
                                         from_uint8(image))
    assert torch.nn.functional.mse_loss(recon, from_uint8(image)) < 0.5 * start
    landmarks_given = aligned_face(photo("obama_portrait"), 64, landmarks=None)  # real detection + FFHQ crop
    assert landmarks_given.shape == (64, 64, 3) and landmarks_given.dtype == np.uint8
    assert aligned_face(image, 16, align=False).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="square"):
        aligned_face(image[:, :20], 16, align=False)


def test_cli_end_to_end_no_align(tmp_path, generated) -> None:  # type: ignore[no-untyped-def]
    g, image = generated
    ckpt = save_generator(g, tmp_path / "tiny.pt")
    Image.fromarray(image).save(tmp_path / "face.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(invert, [str(tmp_path / "face.png"), "--generator", str(ckpt), "--no-align",
                                         "--steps", "30", "--tune", "released", "--tune-steps", "5",
                                         "--perceptual", "none", "--no-progress", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert _names(out) == ["aligned.png", "generator_tuned.pt", "latent.pt", "reconstruction.png",
                           "side_by_side.png", "tuned.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png", "out", "tiny.pt"]  # no staging left
    latent = torch.load(out / "latent.pt", weights_only=True)
    assert latent["format"] == "latentreenact.latent" and latent["wplus"].shape == (1, g.n_latent, g.style_dim)
    meta = latent["metadata"]
    assert meta["method"] == "projector" and meta["steps"] == 30 and meta["tune_steps_run"] == 5
    assert meta["mse_tuned"] < meta["mse"]
    side = np.asarray(Image.open(out / "side_by_side.png"))
    assert side.shape == (36, 3 * 34 + 2, 3)
    tuned = load_generator(out / "generator_tuned.pt")
    recon_tuned = np.asarray(Image.open(out / "tuned.png"))
    with torch.no_grad():
        again = to_uint8(tuned.synthesis(latent["wplus"]))[0]
    assert np.abs(again.astype(int) - recon_tuned).max() <= 1


def test_cli_no_face_exits_5_and_leaves_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    Image.new("RGB", (96, 96), (90, 90, 90)).save(tmp_path / "blank.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(invert, [str(tmp_path / "blank.png"), "--no-progress", "-o", str(out)])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert result.output.startswith("error:") and result.output.count("\n") == 1
    assert _names(tmp_path) == ["blank.png"]


def test_failed_write_leaves_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"

    def broken(path) -> None:  # type: ignore[no-untyped-def]
        raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        write_outputs(out, {"a.txt": lambda p: p.write_text("a"), "b.txt": broken})
    assert _names(tmp_path) == []
    out.mkdir()
    (out / "keep.txt").write_text("k")
    write_outputs(out, {"a.txt": lambda p: p.write_text("a")})
    assert _names(out) == ["a.txt", "keep.txt"] and _names(tmp_path) == ["out"]


def test_only_stylegan2_generators_can_be_saved(generated) -> None:  # type: ignore[no-untyped-def]
    g, _ = generated
    assert can_save_generator(g) and not can_save_generator(torch.nn.Linear(2, 2))


def test_registered_encoder_by_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``--encoder encoder-mobilestylegan-ffhq`` (as its model card says): click hands the name over as a path,
    and the name was looked up only as a string (was: 'encoder checkpoint not found', exit 3)."""
    from pathlib import Path

    from inversion.loading import load_encoder
    from latentreenact import zoo

    assert zoo.is_registered(Path("encoder-mobilestylegan-ffhq")) and zoo.is_registered("mobilestylegan-ffhq")
    assert not zoo.is_registered(Path("models") / "encoder-mobilestylegan-ffhq")
    assert not zoo.is_registered(Path("no-such-model"))
    by_name = load_encoder(Path("encoder-mobilestylegan-ffhq"))
    Image.fromarray(photo("astronaut")).save(tmp_path / "face.png")
    result = CliRunner().invoke(invert, [str(tmp_path / "face.png"), "--encoder", "encoder-mobilestylegan-ffhq",
                                         "--tune", "none", "--no-progress", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "latent.pt").is_file() and by_name.__class__.__name__ == "LightEncoder"
    assert "(light encoder, " in result.output  # was: "(e4e, ", for any encoder
