"""load_generator / save_generator: formats, architecture inference and error reporting."""

import os

import pytest
import torch

from latentreenact import load_generator, save_generator
from latentreenact.checkpoints.errors import CheckpointFormatError

from helpers import tiny_generator


@pytest.fixture(scope="module")
def golden_ckpt(golden_dir):
    return golden_dir / "stylegan2_64" / "generator.pt"


@pytest.fixture(scope="module")
def golden_g_ema(golden_ckpt):
    return torch.load(golden_ckpt, map_location="cpu", weights_only=False)["g_ema"]


@pytest.fixture(scope="module")
def wplus():
    return torch.randn(2, 10, 64, generator=torch.Generator().manual_seed(1))


def render(g, w):
    with torch.no_grad():
        return g.synthesis(w, noise_mode="const")


def test_uses_g_ema_not_g(golden_ckpt, wplus, golden_dir):
    ckpt = torch.load(golden_ckpt, map_location="cpu", weights_only=False)
    g = load_generator(golden_ckpt)
    assert torch.equal(g.style[1].weight, ckpt["g_ema"]["style.1.weight"])
    assert not torch.equal(g.style[1].weight, ckpt["g"]["style.1.weight"])


def test_converted_layout_with_latent_avg(tmp_path, golden_ckpt, golden_g_ema, wplus):
    avg = torch.randn(64)
    torch.save({"g_ema": golden_g_ema, "latent_avg": avg}, tmp_path / "conv.pt")
    g = load_generator(tmp_path / "conv.pt")
    assert g.has_latent_avg and torch.equal(g.latent_avg, avg)
    assert torch.equal(render(g, wplus), render(load_generator(golden_ckpt), wplus))


def test_e4e_decoder_layout(tmp_path, golden_ckpt, golden_g_ema, wplus):
    state = {f"decoder.{k}": v for k, v in golden_g_ema.items()}
    state["encoder.input_layer.0.weight"] = torch.randn(4, 3, 3, 3)
    avg = torch.randn(64)
    torch.save({"state_dict": state, "opts": {"stylegan_size": 64}, "latent_avg": avg.expand(10, 64).clone()},
               tmp_path / "e4e.pt")
    g = load_generator(tmp_path / "e4e.pt")
    assert torch.equal(render(g, wplus), render(load_generator(golden_ckpt), wplus))
    assert g.has_latent_avg and torch.equal(g.latent_avg, avg)


def test_bare_state_dict_and_roundtrip(tmp_path, golden_g_ema, golden_ckpt, wplus):
    torch.save(golden_g_ema, tmp_path / "bare.pt")
    g = load_generator(tmp_path / "bare.pt")
    assert not g.has_latent_avg
    g.set_latent_avg(torch.ones(64))
    out = save_generator(g, tmp_path / "ours.pt")
    again = load_generator(out)
    assert again.has_latent_avg and torch.equal(again.latent_avg, torch.ones(64))
    assert again.config == g.config
    assert torch.equal(render(again, wplus), render(g, wplus))
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "temporary files left behind"


@pytest.mark.parametrize("size", [8, 16, 32])
def test_architecture_inferred_from_shapes(tmp_path, size):
    g = tiny_generator(size=size, style_dim=12, n_mlp=3)
    torch.save({"g_ema": g.state_dict(), "args": None}, tmp_path / "g.pt")
    loaded = load_generator(tmp_path / "g.pt")
    assert (loaded.resolution, loaded.style_dim, loaded.n_mlp, loaded.channels) == (size, 12, 3, g.channels)
    w = torch.randn(1, g.n_latent, 12)
    assert torch.allclose(render(loaded, w), render(g, w))


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_generator(tmp_path / "nope.pt")


def test_directory(tmp_path):
    with pytest.raises(CheckpointFormatError, match="directory"):
        load_generator(tmp_path)


def test_truncated_file(tmp_path, golden_ckpt):
    data = golden_ckpt.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        load_generator(tmp_path / "cut.pt")


@pytest.mark.parametrize("content", [b"", b"hello, not a model\n", os.urandom(256)])
def test_not_a_checkpoint(tmp_path, content):
    (tmp_path / "x.pt").write_bytes(content)
    with pytest.raises(CheckpointFormatError):
        load_generator(tmp_path / "x.pt")


def test_wrong_kind_of_checkpoint(tmp_path):
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointFormatError, match="not a generator checkpoint.*'model'"):
        load_generator(tmp_path / "other.pt")


def test_missing_and_unexpected_keys_listed(tmp_path, golden_g_ema):
    state = dict(golden_g_ema)
    del state["convs.3.noise.weight"]
    state["convs.3.extra"] = torch.zeros(1)
    torch.save({"g_ema": state}, tmp_path / "keys.pt")
    with pytest.raises(CheckpointFormatError, match=r"missing keys: convs\.3\.noise\.weight.*unexpected keys: convs\.3\.extra"):
        load_generator(tmp_path / "keys.pt")


def test_shape_mismatch(tmp_path, golden_g_ema):
    state = dict(golden_g_ema)
    state["convs.1.activate.bias"] = torch.zeros(7)
    torch.save({"g_ema": state}, tmp_path / "shape.pt")
    with pytest.raises(CheckpointFormatError, match=r"convs\.1\.activate\.bias"):
        load_generator(tmp_path / "shape.pt")


def test_nan_weights(tmp_path, golden_g_ema):
    state = dict(golden_g_ema)
    state["style.1.weight"] = state["style.1.weight"].clone()
    state["style.1.weight"][0, 0] = float("nan")
    torch.save({"g_ema": state}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointFormatError, match="NaN"):
        load_generator(tmp_path / "nan.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > evil_marker",))


def test_code_in_torch_file_is_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"g_ema": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointFormatError):
        load_generator(tmp_path / "evil.pt")
    assert not (tmp_path / "evil_marker").exists()
    torch.save(tiny_generator(size=16), tmp_path / "module.pt")  # a whole module: says what to save instead
    with pytest.raises(CheckpointFormatError, match=r"pickled Python objects \(latentreenact.models.stylegan2."
                                                    r"StyleGAN2Generator\).*save model.state_dict\(\) instead"):
        load_generator(tmp_path / "module.pt")  # was: torch's message cut off mid-sentence


def test_device_argument(golden_ckpt):
    g = load_generator(golden_ckpt, device="cpu")
    assert g.device.type == "cpu"
    with pytest.raises((RuntimeError, AssertionError, ValueError)):
        load_generator(golden_ckpt, device="not-a-device")


def test_legacy_torch_save_format(tmp_path, golden_g_ema, golden_ckpt, wplus):
    torch.save({"g_ema": golden_g_ema}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    assert torch.equal(render(load_generator(tmp_path / "old.pt"), wplus), render(load_generator(golden_ckpt), wplus))


def test_stylegan2_ada_pickle_renders_golden_images(tmp_path, golden_g_ema, golden_dir):
    from nvidia_pkl_writer import write_stylegan2_ada_pkl

    vectors = torch.load(golden_dir / "stylegan2_64" / "vectors.pt", weights_only=True)
    path = tmp_path / "network-snapshot.pkl"
    write_stylegan2_ada_pkl(path, golden_g_ema, vectors["mean_latent"][0])
    g = load_generator(path)
    assert g.has_latent_avg and torch.allclose(g.latent_avg, vectors["mean_latent"][0])
    with torch.no_grad():
        img, _ = g([vectors["z"]], truncation=0.7, truncation_latent=g.latent_avg[None], randomize_noise=False)
    assert (img - vectors["img_trunc"]).abs().max() < 1e-4


def test_loaded_generators_are_frozen(golden_ckpt, tmp_path):
    """Loaders return eval-mode modules without gradients: rendering builds no autograd graph."""
    from latentreenact.checkpoints.loading import save_generator

    g = load_generator(golden_ckpt)
    assert not g.training and not any(p.requires_grad for p in g.parameters())
    again = load_generator(save_generator(g, tmp_path / "g.pt"))
    assert not any(p.requires_grad for p in again.parameters())
    img = g.synthesis(torch.randn(1, g.n_latent, g.style_dim))
    assert not img.requires_grad and img.grad_fn is None


@pytest.mark.parametrize("damage", ["config with an unknown key", "no config", "no state_dict", "size 48",
                                    "mobilestylegan arch on a stylegan2 config", "g_ema is None", "g_ema is a tensor"])
def test_damaged_configs_name_the_file(tmp_path, damage):
    """Each a CheckpointFormatError naming the file (was: TypeError / KeyError tracebacks, or messages without the
    file; found by the byog hunt, session 21)."""
    path = save_generator(tiny_generator(size=16), tmp_path / "g.pt")
    payload = torch.load(path, weights_only=True)
    if damage == "config with an unknown key":
        payload["config"]["bogus"] = 1
    elif damage == "no config":
        del payload["config"]
    elif damage == "no state_dict":
        del payload["state_dict"]
    elif damage == "size 48":
        payload["config"]["size"] = 48
    elif damage == "mobilestylegan arch on a stylegan2 config":
        payload["arch"] = "mobilestylegan"
    else:
        payload = {"g_ema": None if damage == "g_ema is None" else torch.zeros(64)}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointFormatError, match="bad.pt"):
        load_generator(tmp_path / "bad.pt")


@pytest.mark.parametrize("layout", ["ada state dict", "ada under G_ema", "module. prefix"])
def test_other_state_dict_layouts_load(tmp_path, layout):
    """A stylegan2-ada G_ema.state_dict() saved as .pt (bare or under 'G_ema') and a DataParallel state dict
    ('module.' prefixes) load and render as the generator they came from (were refused; found by the byog hunt)."""
    from nvidia_pkl_writer import rosinality_to_ada

    g = tiny_generator(size=16)
    state = {k: v for k, v in g.state_dict().items() if k != "latent_avg"}
    if layout == "module. prefix":
        payload = {f"module.{k}": v for k, v in state.items()}
    else:
        flat = dict(rosinality_to_ada(state, None))
        payload = flat if layout == "ada state dict" else {"G_ema": flat}
    torch.save(payload, tmp_path / "g.pt")
    loaded = load_generator(tmp_path / "g.pt")
    w = g.mapping(torch.randn(2, g.style_dim, generator=torch.Generator().manual_seed(0)))[:, None].repeat(
        1, g.n_latent, 1)
    with torch.no_grad():
        assert torch.allclose(loaded.synthesis(w, noise_mode="const"), g.synthesis(w, noise_mode="const"), atol=1e-5)
