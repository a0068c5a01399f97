"""The shipped default encoder and direction matrix, checked on fresh generated faces (not their training data)."""

from __future__ import annotations

import pytest
import torch

from directions.matrix import spec_from_matrix
from directions.matrix import DirectionMatrix
from inversion import load_encoder
from latentreenact import zoo

HOLDOUT_SEED = 987654  # z for these checks: far from the dataset's seed-0 stream


@pytest.fixture(scope="module")
def heads_generator():
    from latentreenact import load_generator

    return load_generator("mobilestylegan-ffhq-heads")


@pytest.fixture(scope="module")
def default_matrix() -> DirectionMatrix:
    entry = zoo.get_entry("directions-mobilestylegan-ffhq")
    return DirectionMatrix.load(zoo.resolve(entry.name) / entry.files[0].name)


def test_default_parts_load_frozen(heads_generator, default_matrix) -> None:
    """Every default part comes back in eval mode without gradients (trainers enable what they train)."""
    from latentreenact.net3d import get_estimator

    estimator = get_estimator("bfm-net")
    modules = [heads_generator, default_matrix, load_encoder("encoder-mobilestylegan-ffhq")]
    modules += [m for m in vars(estimator).values() if isinstance(m, torch.nn.Module)] or [estimator]
    for module in modules:
        assert isinstance(module, torch.nn.Module) and not module.training, type(module).__name__
        assert not any(p.requires_grad for p in module.parameters()), type(module).__name__


def _holdout_w(G, n: int) -> torch.Tensor:
    from latentreenact.sampling import truncation_centre

    z = torch.randn(n, G.style_dim, generator=torch.Generator().manual_seed(HOLDOUT_SEED))
    with torch.no_grad():
        return G.truncate(G.mapping(z), 0.7, truncation_centre(G, seed=0))


def test_default_encoder_beats_the_mean_latent_on_unseen_faces(heads_generator) -> None:
    import torch.nn.functional as F

    enc = load_encoder("encoder-mobilestylegan-ffhq")
    assert enc.n_styles == heads_generator.n_latent == 23
    w = _holdout_w(heads_generator, 3)
    wplus = w[:, None].repeat(1, 23, 1)
    with torch.no_grad():  # the exact 1024 px render, area-downscaled: what the encoder was trained on
        images = F.interpolate(heads_generator.synthesis(wplus, noise_mode="const"),
                               size=(enc.input_size,) * 2, mode="area")
        codes = enc(images)
    err = (codes - wplus).square().mean()
    baseline = (enc.latent_avg[None] - wplus).square().mean()
    assert err < 0.85 * baseline, (float(err), float(baseline))


def test_default_matrix_config_and_zero_shift(default_matrix) -> None:
    A = default_matrix
    spec = spec_from_matrix(A)
    assert spec.names[:3] == ("yaw", "pitch", "roll") and A.k == spec.k == 13 and A.num_layers == 8
    assert A.config["generator"] == "mobilestylegan-ffhq" and A.config["backend"] == "bfm-rigid"
    assert A.config["init"] == {"estimator": "bfm-rigid", "hold": "identity", "instrument": "bfm-net", "samples": 6000,
                                "seed": 0}
    wplus = torch.randn(2, 23, 512)
    zero = torch.zeros(2, 13)
    shifted = A.shift(wplus, zero)
    assert torch.allclose(shifted[:, :8] - wplus[:, :8], A.linear.bias.view(1, 8, 512).expand(2, -1, -1), atol=1e-6)
    assert torch.equal(shifted[:, 8:], wplus[:, 8:])
    unbiased = DirectionMatrix(A.k, A.num_layers, A.style_dim, seed=None)
    unbiased.linear.weight.data.copy_(A.linear.weight)
    assert torch.equal(unbiased.shift(wplus, zero), wplus)  # Δp = 0 with zero bias: W+ unchanged


def test_default_matrix_yaw_edit_is_monotonic(heads_generator, default_matrix) -> None:
    from latentreenact.net3d import get_estimator
    from latentreenact.sampling import render

    A, est = default_matrix, get_estimator("bfm-net")
    spec = spec_from_matrix(A)
    w = _holdout_w(heads_generator, 1)[:, None].repeat(1, 23, 1)
    steps = torch.tensor([-20.0, -10.0, 0.0, 10.0, 20.0])  # degrees of yaw
    dp = torch.zeros(len(steps), 13)
    dp[:, 0] = spec.rescale(torch.stack([torch.cat([s[None], torch.zeros(12)]) for s in steps]))[:, 0]
    with torch.no_grad():
        images = render(heads_generator, A.shift(w.expand(len(steps), -1, -1), dp), 256)
        yaw = est.estimate(images).angles[:, 0]
    assert bool((yaw[1:] > yaw[:-1]).all()), yaw.tolist()
    assert float(yaw[-1] - yaw[0]) > 20.0, yaw.tolist()  # most of the requested 40 degrees


def test_default_model_ignores_files_named_like_its_parts(tmp_path, monkeypatch) -> None:
    """The default model's parts are registered names: a folder or file of that name in the working directory must
    not stand in for them (was: 'encoder-mobilestylegan-ffhq: is a directory'; found by the code review)."""
    from latentreenact.model_parts import DEFAULT_MODEL, load_parts

    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_MODEL["encoder"]).mkdir()
    (tmp_path / DEFAULT_MODEL["generator"]).write_bytes(b"not a generator")
    parts = load_parts("default")
    assert type(parts["encoder"]).__name__ == "LightEncoder" and parts["generator"].n_latent > 0
