"""e4e encoder: golden codes from the published implementation, both checkpoint layouts, error cases.

The seeded weights are rebuilt from ``tests/golden/e4e/e4e_manifest.json`` (about 209M parameters,
~0.8 GB): they are built and written once per module; everything else uses small files.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Dict

import pytest
import torch

from golden_weights import rebuild_from_manifest
from inversion import E4EEncoder, build_encoder, load_encoder
from latentreenact.checkpoints.errors import CheckpointFormatError

TOL = 1e-4


@pytest.fixture(scope="module")
def e4e_dir(golden_dir: Path) -> Path:
    return golden_dir / "e4e"


@pytest.fixture(scope="module")
def vectors(e4e_dir: Path) -> Dict[str, torch.Tensor]:
    return torch.load(e4e_dir / "e4e_vectors.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def manifest_keys(e4e_dir: Path) -> list:
    return [k for k, _, _ in json.loads((e4e_dir / "e4e_manifest.json").read_text())["keys"]]


@pytest.fixture(scope="module")
def seeded_state(e4e_dir: Path, vectors: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return rebuild_from_manifest(e4e_dir / "e4e_manifest.json", int(vectors["seed"]))


@pytest.fixture(scope="module")
def official_file(tmp_path_factory: pytest.TempPathFactory, seeded_state, vectors) -> Path:
    """The official e4e layout: encoder.* and decoder.* weights, opts as a dict, per-layer latent_avg."""
    gen = torch.Generator().manual_seed(0)
    state = {f"encoder.{k}": v for k, v in seeded_state.items()}
    state.update({"decoder.style.1.weight": torch.randn(8, 8, generator=gen),
                  "decoder.input.input": torch.randn(1, 8, 4, 4, generator=gen)})
    opts = {"encoder_type": "Encoder4Editing", "stylegan_size": 256, "start_from_latent_avg": True,
            "progressive_start": 20000, "progressive_steps": None, "lpips_type": "alex", "device": "cuda:0",
            "exp_dir": "experiments/ffhq", "checkpoint_path": None}
    path = tmp_path_factory.mktemp("e4e") / "e4e_official.pt"
    torch.save({"state_dict": state, "opts": opts, "latent_avg": vectors["latent_avg"].clone()}, path)
    return path


@pytest.fixture(scope="module")
def official_encoder(official_file: Path) -> E4EEncoder:
    return load_encoder(official_file)


def test_state_dict_keys_are_the_published_ones(official_encoder, manifest_keys):
    assert list(official_encoder.state_dict()) == manifest_keys
    assert official_encoder.n_styles == 14 and official_encoder.input_size == 256


def test_official_layout_matches_golden_codes(official_encoder, vectors):
    assert official_encoder.has_latent_avg
    assert not official_encoder.training
    assert not any(p.requires_grad for p in official_encoder.parameters())
    with torch.no_grad():
        codes = official_encoder(vectors["x"])
    expected = vectors["codes_without_latent_avg"] + vectors["latent_avg"]
    assert codes.shape == (2, 14, 512)
    assert (codes - expected).abs().max().item() < TOL


def test_bare_e_variant_gives_codes_without_latent_avg(tmp_path, seeded_state, vectors):
    path = tmp_path / "e4e_bare.pt"
    torch.save({"e": dict(seeded_state)}, path)
    encoder = load_encoder(path, device="cpu")
    assert not encoder.has_latent_avg
    with torch.no_grad():
        codes = encoder(vectors["x"][:1])
    assert (codes - vectors["codes_without_latent_avg"][:1]).abs().max().item() < TOL
    encoder.set_latent_avg(vectors["latent_avg"][0])  # a generator's single mean latent
    assert encoder.has_latent_avg
    assert torch.equal(encoder.latent_avg, vectors["latent_avg"][0].expand(14, 512))
    with pytest.raises(ValueError, match="latent_avg must be"):
        encoder.set_latent_avg(torch.zeros(18, 512))
    encoder.set_latent_avg(None)
    assert not encoder.has_latent_avg


def test_wrong_input_size_is_refused(official_encoder):
    with pytest.raises(ValueError, match=r"\[B, 3, 256, 256\]"):
        official_encoder(torch.zeros(1, 3, 128, 128))


def test_missing_and_unexpected_keys_are_listed(seeded_state):
    state = dict(seeded_state)
    del state["latlayer2.bias"]
    state["styles.3.extra.weight"] = torch.zeros(1)
    pattern = r"missing keys: latlayer2\.bias.*unexpected keys: styles\.3\.extra"
    with pytest.raises(CheckpointFormatError, match=pattern):
        build_encoder(state, source="test")


def test_wrong_shape_is_refused(seeded_state):
    state = dict(seeded_state)
    state["latlayer1.weight"] = torch.zeros(512, 128, 1, 1)
    with pytest.raises(CheckpointFormatError, match=r"latlayer1\.weight \(512, 128, 1, 1\) != \(512, 256, 1, 1\)"):
        build_encoder(state, source="test")


def test_latent_avg_of_the_wrong_generator_is_refused(seeded_state):
    with pytest.raises(CheckpointFormatError, match="latent_avg must be"):
        build_encoder(seeded_state, torch.zeros(18, 512), source="test")


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="encoder checkpoint not found"):
        load_encoder(tmp_path / "nope.pt")


def test_directory_is_refused(tmp_path):
    with pytest.raises(CheckpointFormatError, match="is a directory"):
        load_encoder(tmp_path)


def _small_official(path: Path, opts) -> Path:
    torch.save({"state_dict": {"encoder.input_layer.0.weight": torch.zeros(64, 3, 3, 3),
                               "encoder.styles.0.convs.0.weight": torch.zeros(512, 512, 1, 1),
                               "decoder.style.1.weight": torch.zeros(8, 8)},
                "opts": opts, "latent_avg": torch.zeros(14, 512)}, path)
    return path


def test_truncated_file(tmp_path):
    path = _small_official(tmp_path / "full.pt", {"encoder_type": "Encoder4Editing"})
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        load_encoder(cut)


def test_non_encoder_files(tmp_path):
    generator = tmp_path / "generator.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(8, 8)}, "latent_avg": torch.zeros(8)}, generator)
    with pytest.raises(CheckpointFormatError, match="not an e4e encoder checkpoint"):
        load_encoder(generator)
    decoder_only = tmp_path / "decoder_only.pt"
    torch.save({"state_dict": {"decoder.style.1.weight": torch.zeros(8, 8)}}, decoder_only)
    with pytest.raises(CheckpointFormatError, match="no 'encoder"):
        load_encoder(decoder_only)
    irse50 = tmp_path / "model_ir_se50.pth"
    torch.save({"input_layer.0.weight": torch.zeros(64, 3, 3, 3)}, irse50)
    with pytest.raises(CheckpointFormatError, match="IR-SE50 backbone"):
        load_encoder(irse50)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointFormatError, match="not a checkpoint"):
        load_encoder(text)


def test_opts_as_namespace_are_read(tmp_path):
    """Training checkpoints may store opts as an argparse.Namespace: read without unpickling code."""
    path = _small_official(tmp_path / "ns.pt", argparse.Namespace(encoder_type="Encoder4Editing", stylegan_size=256))
    with pytest.raises(CheckpointFormatError, match="missing keys"):  # opts accepted; weights incomplete
        load_encoder(path)
    psp = _small_official(tmp_path / "psp.pt", argparse.Namespace(encoder_type="GradualStyleEncoder"))
    with pytest.raises(CheckpointFormatError, match="GradualStyleEncoder"):
        load_encoder(psp)


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_carrying_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"e": {"input_layer.0.weight": torch.zeros(1)}, "opts": _Exploit(marker)}, path)
    with pytest.raises(CheckpointFormatError):
        load_encoder(path)
    assert not marker.exists()
