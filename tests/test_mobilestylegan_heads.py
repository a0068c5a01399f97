"""Fitted MobileStyleGAN level heads: Haar transform, closed-form fit, heads file, shipped heads."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Dict, List

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from latentreenact.models import mobilestylegan_heads as mh
from latentreenact.models.mobilestylegan import MobileStyleGAN, inverse_haar, wavelet_to_image

HAS_RANDOM_FACE = importlib.util.find_spec("random_face") is not None
needs_weights = pytest.mark.skipif(
    not HAS_RANDOM_FACE, reason="random_face not installed (pip install --no-deps random-face==2021.7.21.1)")


def tiny_model(seed: int = 0) -> MobileStyleGAN:
    """A random 64 px MobileStyleGAN without level heads (as loaded from the IR): heads for 8, 16, 32 px."""
    torch.manual_seed(seed)
    G = MobileStyleGAN(style_dim=32, n_mlp=2, channels=(16, 16, 16, 8), level_heads=False).eval()
    with torch.no_grad():
        for layer in G.synthesis_network.noise_layers():
            layer.strength.fill_(0.5)
    return G


def random_heads(G: MobileStyleGAN, seed: int) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for level in mh.head_levels(G.synthesis_network):
        c = G.synthesis_network.channels[level]
        out[f"{mh.head_prefix(level)}.weight"] = torch.randn(12, c, 1, 1, generator=g)
        out[f"{mh.head_prefix(level)}.bias"] = torch.randn(1, 12, 1, 1, generator=g) * 0.1
    return out


# ------------------------------------------------------------------------------ Haar transform
def test_wavelet_round_trip() -> None:
    g = torch.Generator().manual_seed(0)
    image = torch.randn(2, 3, 16, 16, generator=g, dtype=torch.float64)
    freq = mh.image_to_wavelet(image)
    assert freq.shape == (2, 12, 8, 8)
    assert torch.allclose(wavelet_to_image(freq), image, atol=1e-12)
    coeffs = torch.randn(2, 12, 4, 4, generator=g, dtype=torch.float64)
    assert torch.allclose(mh.image_to_wavelet(wavelet_to_image(coeffs)), coeffs, atol=1e-12)
    # the LL band of the layout is 2x the 2x2 average (what MobileSynthesis.forward relies on)
    assert torch.allclose(freq[:, :3] * 0.5, F.avg_pool2d(image, 2), atol=1e-12)
    bands = mh.haar_bands(image)
    assert torch.allclose(inverse_haar(*bands), image, atol=1e-12)


def test_haar_is_orthonormal() -> None:
    """The transform matrix M (on a 3x4x4 image) satisfies M M^T = I, so wavelet-domain LS = image-domain LS."""
    n = 3 * 4 * 4
    basis = torch.eye(n, dtype=torch.float64).reshape(n, 3, 4, 4)
    forward = mh.image_to_wavelet(basis).reshape(n, n)
    inverse = wavelet_to_image(torch.eye(n, dtype=torch.float64).reshape(n, 12, 2, 2)).reshape(n, n)
    eye = torch.eye(n, dtype=torch.float64)
    assert torch.allclose(forward @ forward.T, eye, atol=1e-12)
    assert torch.allclose(inverse @ inverse.T, eye, atol=1e-12)
    assert torch.allclose(forward @ inverse, eye, atol=1e-12)


# ------------------------------------------------------------------------------ fit (tiny model)
@pytest.mark.parametrize("modulation", ["tied", "constant"])
def test_fit_recovers_a_known_linear_head(modulation: str) -> None:
    G = tiny_model()
    true = random_heads(G, seed=1)
    G_true = mh.attach_heads(copy.deepcopy(G), true, modulation)

    def target_fn(wplus: torch.Tensor, full: torch.Tensor, size: int) -> torch.Tensor:
        return G_true.synthesis(wplus, noise_mode="const", resolution=size)

    fit = mh.fit_heads(G, n_samples=6, seed=3, ridge=0.0, target_fn=target_fn, modulation=modulation)
    assert set(fit.state_dict) == set(true)
    for key, value in true.items():
        err = (fit.state_dict[key] - value).abs().max().item()
        assert err < 1e-3 * max(1.0, value.abs().max().item()), (key, err)
    assert all(p > 80 for p in fit.train_psnr.values()), fit.train_psnr
    G_fit = mh.attach_heads(G, fit.state_dict, modulation)
    w = torch.randn(1, 32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        for size in (8, 16, 32):
            assert torch.allclose(G_fit.synthesis(w, resolution=size), G_true.synthesis(w, resolution=size),
                                  atol=1e-4)


def test_tied_modulation_is_an_exact_copy_and_head_is_linear_in_modulated_features() -> None:
    G = mh.attach_heads(tiny_model(), random_heads(tiny_model(), seed=2))
    syn = G.synthesis_network
    wplus, _ = mh.sample_wplus(G, 2, seed=4)
    with torch.no_grad():
        _, states = syn.forward_levels(wplus)
        for level in mh.head_levels(syn):
            head = syn.to_img1 if level == 0 else syn.blocks[level - 1].to_img
            up = syn.blocks[level].up.modulation
            assert torch.equal(head.modulation.weight, up.weight) and torch.equal(head.modulation.bias, up.bias)
            f = mh.level_features(syn, states, wplus, level)
            expected = F.conv2d(f, head.weight * head.scale) + head.bias
            row = syn.style_index.to_img1 if level == 0 else syn.style_index.blocks[level - 1][3]
            assert torch.allclose(head(states[level], wplus[:, row]), expected, atol=1e-5)


def test_forward_levels_matches_forward() -> None:
    G = tiny_model()
    wplus, _ = mh.sample_wplus(G, 2, seed=5)
    with torch.no_grad():
        image, states = G.synthesis_network.forward_levels(wplus)
        assert torch.equal(image, G.synthesis(wplus))
    assert [s.shape[-1] for s in states] == [4, 8, 16, 32]


def test_normal_equations_match_lstsq() -> None:
    g = torch.Generator().manual_seed(0)
    eq = mh.NormalEquations(5, n_outputs=3)
    feats, targets = [], []
    for _ in range(3):
        f = torch.randn(2, 5, 4, 4, generator=g, dtype=torch.float64)
        y = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
        eq.add(f, y)
        feats.append(f.permute(0, 2, 3, 1).reshape(-1, 5))
        targets.append(y.permute(0, 2, 3, 1).reshape(-1, 3))
    a = torch.cat([torch.cat(feats), torch.ones(96, 1, dtype=torch.float64)], 1)
    y = torch.cat(targets)
    theta = torch.linalg.lstsq(a, y).solution
    weight, bias = eq.solve(ridge=0.0)
    assert torch.allclose(weight, theta[:5].T, atol=1e-10) and torch.allclose(bias, theta[5], atol=1e-10)
    mse = (a @ theta - y).square().mean().item()
    assert abs(eq.mse(weight, bias) - mse) < 1e-10


def test_heads_file_round_trip_and_errors(tmp_path: Path) -> None:
    G = tiny_model()
    state = random_heads(G, seed=6)
    path = mh.save_heads(tmp_path / "heads.pt", state, {"n_samples": 1, "modulation_mode": "constant"})
    loaded, mode = mh.load_heads(path)
    assert mode == "constant" and all(torch.equal(loaded[k], v) for k, v in state.items())
    assert not list(tmp_path.glob(".*part*")), "atomic write left a temporary file"
    with pytest.raises(ValueError, match="missing"):
        mh.attach_heads(tiny_model(), {k: v for k, v in state.items() if "to_img1" not in k})
    bad = dict(state)
    bad["synthesis_network.to_img1.weight"] = torch.zeros(12, 3, 1, 1)
    with pytest.raises(ValueError, match="expected weight"):
        mh.attach_heads(tiny_model(), bad)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a MobileStyleGAN heads file"):
        mh.load_heads(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        mh.load_heads(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="modulation"):
        mh.attach_heads(tiny_model(), state, "learned")


# ------------------------------------------------------------------------------ the shipped heads
@pytest.fixture(scope="module")
def G_heads() -> MobileStyleGAN:
    return MobileStyleGAN.from_ir(heads="default")


@needs_weights
def test_from_ir_without_heads_is_unchanged() -> None:
    G = MobileStyleGAN.from_ir()
    assert G.synthesis_network.to_img1 is None
    assert [b.to_img is not None for b in G.synthesis_network.blocks] == [False] * 6 + [True]
    assert not any("to_img1" in k for k in G.state_dict())


@needs_weights
def test_shipped_heads_file() -> None:
    path = mh.DEFAULT_HEADS_PATH
    assert path.is_file() and path.stat().st_size < 400 * 1024
    payload = mh.read_heads_file("default")
    assert payload["format"] == mh.HEADS_FORMAT and payload["format_version"] == 1
    fit = payload["fit"]
    for key in ("n_samples", "seed", "psi_mix", "ridge", "psnr_db", "date"):
        assert key in fit, key
    assert set(fit["psnr_db"]) == {str(2 ** k) for k in range(3, 10)}


@needs_weights
def test_shipped_heads_skip_top_blocks_and_reach_recorded_psnr(G_heads: MobileStyleGAN) -> None:
    syn = G_heads.synthesis_network
    assert all(syn.has_head(s) for s in (8, 16, 32, 64, 128, 256, 512, 1024))
    calls: List[int] = []
    hooks = [block.conv1.register_forward_pre_hook(lambda m, a, k=k: calls.append(k))
             for k, block in enumerate(syn.blocks)]
    fit = mh.read_heads_file("default")["fit"]
    centre = G_heads.mean_latent(4096, fit["seed"])
    wplus, _ = mh.sample_wplus(G_heads, 2, fit["holdout_seed"], fit["psi_mix"], centre)  # the first 2 held out
    errors = []
    try:
        with torch.inference_mode():
            for i in range(2):
                calls.clear()
                img512 = G_heads.synthesis(wplus[i:i + 1], resolution=512)
                assert img512.shape == (1, 3, 512, 512) and calls == [0, 1, 2, 3, 4, 5]
                calls.clear()
                img256 = G_heads.synthesis(wplus[i:i + 1], resolution=256)
                assert img256.shape == (1, 3, 256, 256) and calls == [0, 1, 2, 3, 4]
                calls.clear()
                full = G_heads.synthesis(wplus[i:i + 1])
                assert calls == list(range(7))
                errors.append((img256 - F.avg_pool2d(full, 4)).double().square().mean().item())
    finally:
        for hook in hooks:
            hook.remove()
    got = mh.psnr(sum(errors) / len(errors))
    assert got >= fit["psnr_db"]["256"] - 1.0, (got, fit["psnr_db"]["256"])


@needs_weights
def test_cli_heads_command(tmp_path: Path) -> None:
    from latentreenact.cli.train_heads import heads

    out = tmp_path / "h.pt"
    result = CliRunner().invoke(heads, ["--samples", "1", "--holdout", "1", "--no-timing", "--no-progress",
                                        "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "held-out" in result.output and " 256 " in result.output
    state, mode = mh.load_heads(out)
    assert mode == "tied" and len(state) == 14
