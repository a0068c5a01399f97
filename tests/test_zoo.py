"""The model registry: resolution order, checksums, install hints, load_generator by name."""

import importlib.util
import shutil

import pytest
import torch

from latentreenact import load_generator, zoo

HAS_RANDOM_FACE = importlib.util.find_spec("random_face") is not None
needs_random_face = pytest.mark.skipif(not HAS_RANDOM_FACE,
                                       reason="random-face not installed: pip install --no-deps random-face==2021.7.21.1")


def test_unknown_name_lists_registered():
    with pytest.raises(KeyError, match="mobilestylegan-ffhq"):
        zoo.get_entry("no-such-model")
    with pytest.raises(FileNotFoundError, match="registered models: .*mobilestylegan-ffhq"):
        load_generator("no-such-model")


def test_every_entry_is_complete():
    for name, entry in zoo.list_models().items():
        assert entry.name == name and entry.files and entry.install and entry.licence and entry.version
        for f in entry.files:
            assert f.size > 0 and len(f.sha256) == 64


def test_missing_files_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(zoo.ModelNotFoundError, match="pip install --no-deps random-face==2021.7.21.1"):
        zoo.resolve("mobilestylegan-ffhq")


@needs_random_face
def test_altered_file_is_detected(tmp_path):
    source = zoo.resolve("mobilestylegan-ffhq")
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    assert zoo.resolve("mobilestylegan-ffhq", root=copy) == copy
    xml = copy / "MappingNetwork.xml"
    data = bytearray(xml.read_bytes())
    data[100] ^= 1
    xml.write_bytes(bytes(data))
    with pytest.raises(zoo.ModelNotFoundError, match="MappingNetwork.xml: checksum mismatch"):
        zoo.resolve("mobilestylegan-ffhq", root=copy)


@needs_random_face
def test_env_dir_takes_precedence(tmp_path, monkeypatch):
    target = tmp_path / "mobilestylegan-ffhq"
    shutil.copytree(zoo.resolve("mobilestylegan-ffhq"), target)
    monkeypatch.setenv(zoo.MODEL_DIR_ENV, str(tmp_path))
    assert zoo.resolve("mobilestylegan-ffhq") == target


@needs_random_face
def test_load_generator_by_name():
    g = load_generator("mobilestylegan-ffhq")
    assert (g.resolution, g.style_dim, g.n_latent) == (1024, 512, 23) and not g.training
    with torch.no_grad():
        w = g.mapping(torch.randn(1, 512, generator=torch.Generator().manual_seed(0)))
    assert torch.isfinite(w).all()


@needs_random_face
def test_heads_variant_renders_low_resolutions_natively():
    g = load_generator("mobilestylegan-ffhq-heads")
    assert g.synthesis_network.has_head(256) and not load_generator("mobilestylegan-ffhq").synthesis_network.has_head(256)
    with torch.no_grad():
        img = g.synthesis(g.mapping(torch.randn(1, 512, generator=torch.Generator().manual_seed(0))), resolution=256)
    assert img.shape == (1, 3, 256, 256) and torch.isfinite(img).all()


@needs_random_face
def test_mobilestylegan_save_load_roundtrip_with_heads(tmp_path):
    from latentreenact import save_generator

    g = load_generator("mobilestylegan-ffhq-heads")
    with torch.no_grad():  # as a tuned copy would be: parameters differ from the registered files
        g.synthesis_network.blocks[3].conv1.bias.add_(0.05)
    path = save_generator(g, tmp_path / "tuned.pt")
    again = load_generator(path)
    assert again.config == g.config and again.config["level_heads"]
    w = g.mapping(torch.randn(1, 512, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        assert torch.equal(again.synthesis(w, resolution=256), g.synthesis(w, resolution=256))
    state = torch.load(path, weights_only=True)
    state["state_dict"]["synthesis_network.const"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    from latentreenact.checkpoints.errors import CheckpointFormatError

    with pytest.raises(CheckpointFormatError, match="NaN"):
        load_generator(tmp_path / "nan.pt")
