"""LPIPS with a user-supplied backbone, the identity-feature loss and (MS-)SSIM."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Dict, List

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentreenact.checkpoints.errors import CheckpointFormatError
from latentreenact.perceptual import LPIPS, IdentityFeatureLoss, find_lpips_heads, ms_ssim, ssim

HAVE_LPIPS = importlib.util.find_spec("lpips") is not None
needs_lpips = pytest.mark.skipif(not HAVE_LPIPS, reason="lpips package (lin heads) not installed")

# torchvision layouts written out independently of the library: (index, out, in, kernel)
ALEX_CONVS = [(0, 64, 3, 11), (3, 192, 64, 5), (6, 384, 192, 3), (8, 256, 384, 3), (10, 256, 256, 3)]
VGG_CONVS = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256),
             (14, 256, 256), (17, 512, 256), (19, 512, 512), (21, 512, 512), (24, 512, 512),
             (26, 512, 512), (28, 512, 512)]


def random_backbone(net: str, seed: int) -> Dict[str, torch.Tensor]:
    """A torchvision-style full-model state_dict with He-initialised random convs."""
    g = torch.Generator().manual_seed(seed)
    convs = ALEX_CONVS if net == "alex" else [(i, o, c, 3) for i, o, c in VGG_CONVS]
    state = {}
    for index, out, cin, k in convs:
        state[f"features.{index}.weight"] = torch.randn(out, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5
        state[f"features.{index}.bias"] = 0.1 * torch.randn(out, generator=g)
    state["classifier.1.weight"] = torch.randn(10, 4, generator=g)  # ignored
    return state


def reference_lpips(state: Dict[str, torch.Tensor], heads: List[torch.Tensor], net: str,
                    x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Straightforward LPIPS: explicit layer loop with F.conv2d, written from the paper/package."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    if net == "alex":
        plan = [("c", 0, 4, 2), "r", "T", ("p", 3, 2), ("c", 3, 1, 2), "r", "T", ("p", 3, 2), ("c", 6, 1, 1), "r",
                "T", ("c", 8, 1, 1), "r", "T", ("c", 10, 1, 1), "r", "T"]
    else:
        plan, idx = [], 0
        for block, n in enumerate([2, 2, 3, 3, 3]):
            if block:
                plan.append(("p", 2, 2))
                idx += 1
            for _ in range(n):
                plan += [("c", idx, 1, 1), "r"]
                idx += 2
            plan.append("T")

    def taps(img: torch.Tensor) -> List[torch.Tensor]:
        h, out = (img - shift) / scale, []
        for step in plan:
            if step == "r":
                h = torch.relu(h)
            elif step == "T":
                out.append(h)
            elif step[0] == "c":
                _, i, stride, pad = step
                h = F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], stride=stride, padding=pad)
            else:
                h = F.max_pool2d(h, step[1], step[2])
        return out

    total = torch.zeros(x.shape[0])
    for fx, fy, w in zip(taps(x), taps(y), heads):
        nx = fx / (torch.sqrt((fx ** 2).sum(1, keepdim=True)) + 1e-10)
        ny = fy / (torch.sqrt((fy ** 2).sum(1, keepdim=True)) + 1e-10)
        total = total + ((nx - ny) ** 2 * w.view(1, -1, 1, 1)).sum(1).mean(dim=(1, 2))
    return total


def images(seed: int, n: int = 2, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(n, 3, size // 8, size // 8, generator=g), size=size, mode="bilinear")
    return (base * 2 - 1 + 0.1 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1)


_STATES: Dict[str, Dict[str, torch.Tensor]] = {}


def backbone_state(net: str) -> Dict[str, torch.Tensor]:
    """The test's random backbone for ``net`` (seed 7), made once."""
    if net not in _STATES:
        _STATES[net] = random_backbone(net, seed=7)
    return _STATES[net]


@pytest.fixture(scope="module", params=["alex", "vgg"])
def backbone_file(request, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("backbone") / f"{request.param}.pth"
    torch.save(backbone_state(request.param), path)
    return path


# ----------------------------------------------------------------------------- LPIPS


def _pair(net: str, seed: int):
    """Test images: two 64 px pairs for AlexNet, one 32 px pair for the much slower VGG16."""
    n, size = (2, 64) if net == "alex" else (1, 32)
    return images(seed, n=n, size=size), images(seed + 1, n=n, size=size)


@needs_lpips
def test_lpips_loads_random_backbone_and_matches_reference(backbone_file: Path) -> None:
    net = backbone_file.stem
    model = LPIPS.load(backbone_file)
    assert model.net == net
    assert not any(p.requires_grad for p in model.parameters())
    heads = [w.float() for w in torch.load(find_lpips_heads(net), map_location="cpu", weights_only=True).values()]
    x, y = _pair(net, 0)
    got = model(x, y)
    torch.testing.assert_close(got, reference_lpips(backbone_state(net), heads, net, x, y), rtol=1e-4, atol=1e-6)
    assert (got > 0).all()
    torch.testing.assert_close(model(x, x), torch.zeros(len(x)), atol=1e-6, rtol=0)


@needs_lpips
def test_lpips_properties(tmp_path: Path) -> None:
    path = tmp_path / "alex.pth"
    torch.save(backbone_state("alex"), path)
    model = LPIPS.load(path, net="alex")
    x, y = _pair("alex", 10)
    d = model(x, y)
    torch.testing.assert_close(model(y, x), d, rtol=1e-5, atol=1e-7)  # symmetric
    assert (d > 0).all() and (model(x, x + 0.01 * (y - x)) < d).all()
    assert sum(model.layer_distances(x, y)).sub(d).abs().max() < 1e-6
    xg = x.clone().requires_grad_(True)
    model(xg, y).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
    with pytest.raises(CheckpointFormatError, match="holds a alex backbone"):
        LPIPS.load(path, net="vgg")


@needs_lpips
def test_lpips_matches_the_lpips_package_code(backbone_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the package's own LPIPS class with a stand-in ``torchvision`` serving our random backbone."""
    net = backbone_file.stem
    pytest.importorskip("scipy.ndimage", reason="the lpips package imports scipy")
    state = backbone_state(net)
    ours = LPIPS.load(backbone_file)

    def make(pretrained: bool = False, **_: object) -> types.SimpleNamespace:
        features = ours.backbone.features.__class__(*[type(m)(**_ctor(m)) for m in ours.backbone.features])
        features.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")})
        return types.SimpleNamespace(features=features)

    fake = types.ModuleType("torchvision")
    fake.models = types.ModuleType("torchvision.models")
    fake.models.alexnet = fake.models.vgg16 = make
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.models", fake.models)
    before = set(sys.modules)
    try:
        lpips = importlib.import_module("lpips")
        reference = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False)
        x, y = _pair(net, 2)
        torch.testing.assert_close(ours(x, y), reference(x, y).flatten(), rtol=1e-5, atol=1e-7)
    finally:
        for name in set(sys.modules) - before:
            if name == "lpips" or name.startswith("lpips."):
                del sys.modules[name]


def _ctor(module: nn.Module) -> dict:
    if isinstance(module, nn.Conv2d):
        return dict(in_channels=module.in_channels, out_channels=module.out_channels,
                    kernel_size=module.kernel_size, stride=module.stride, padding=module.padding)
    if isinstance(module, nn.MaxPool2d):
        return dict(kernel_size=module.kernel_size, stride=module.stride)
    return {}


def test_lpips_backbone_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="torchvision"):
        LPIPS.load(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    state = random_backbone("alex", 0)
    del state["features.8.weight"]
    torch.save(state, bad)
    with pytest.raises(CheckpointFormatError, match="features.8|8.weight"):
        LPIPS.load(bad, heads=bad)
    torch.save({"foo": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointFormatError, match="features.0.weight"):
        LPIPS.load(bad)


# ----------------------------------------------------------------------------- (MS-)SSIM


def test_ssim_closed_forms() -> None:
    x = images(4, n=3, size=96)
    torch.testing.assert_close(ssim(x, x), torch.ones(3))
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(3))
    # constant images: contrast-structure = 1, luminance = (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.2, -0.4, (0.01 * 2.0) ** 2
    ca, cb = torch.full((1, 3, 64, 64), a), torch.full((1, 3, 64, 64), b)
    lum = (2 * a * b + c1) / (a * a + b * b + c1)
    torch.testing.assert_close(ssim(ca, cb), torch.tensor([lum]))
    # 64 px -> 3 scales (64, 32, 16 >= 11); only the last carries luminance
    w = torch.tensor([0.0448, 0.2856, 0.3001])
    w = w / w.sum()
    torch.testing.assert_close(ms_ssim(ca, cb), torch.tensor([max(lum, 0.0) ** float(w[-1])]))


def test_gaussian_filter_matches_2d_convolution() -> None:
    from latentreenact.perceptual.msssim import _filter, _gaussian

    x = torch.randn(2, 3, 40, 37, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    w = _gaussian(11, 1.5, x)
    assert abs(float(w.sum()) - 1.0) < 1e-12
    kernel = (w[:, None] * w[None, :]).view(1, 1, 11, 11)
    want = F.conv2d(x.reshape(6, 1, 40, 37), kernel).reshape(2, 3, 30, 27)
    torch.testing.assert_close(_filter(x, w), want)


def test_ms_ssim_range_symmetry_and_noise() -> None:
    g = torch.Generator().manual_seed(5)
    x = images(6, n=2, size=176)  # five scales
    noise = torch.randn(x.shape, generator=g)
    values = [ms_ssim(x, x + s * noise) for s in (0.02, 0.1, 0.3, 1.0)]
    for v in values:
        assert ((v >= 0) & (v <= 1)).all()
    for lo, hi in zip(values[1:], values[:-1]):
        assert (lo < hi).all()
    y = x + 0.1 * noise
    torch.testing.assert_close(ms_ssim(x, y), ms_ssim(y, x))
    xg = x.clone().requires_grad_(True)
    ms_ssim(xg, y).sum().backward()
    assert torch.isfinite(xg.grad).all()
    with pytest.raises(ValueError, match="smaller than"):
        ms_ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


# ----------------------------------------------------------------------------- identity features


class TinyNet(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.b = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=g))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        f1 = torch.relu(self.a(x))
        return [f1, torch.relu(self.b(f1))]


def test_identity_feature_loss() -> None:
    net = TinyNet(0)
    x, y = images(7, size=64), images(8, size=64)
    loss = IdentityFeatureLoss(net, layer_weights=[1.0, 0.5])
    torch.testing.assert_close(loss(x, x), torch.zeros(2))
    value = loss(x, y)
    assert value.shape == (2,) and (value > 0).all()
    f = net(x), net(y)
    manual = (f[0][0] - f[1][0]).abs().mean(dim=(1, 2, 3)) + 0.5 * (f[0][1] - f[1][1]).abs().mean(dim=(1, 2, 3))
    torch.testing.assert_close(value, manual)
    torch.testing.assert_close(loss(y, x), value)
    with_ssim = IdentityFeatureLoss(net, msssim_weight=2.0, normalize=True)
    xg = x.clone().requires_grad_(True)
    with_ssim(xg, y).mean().backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError, match="layer weights"):
        IdentityFeatureLoss(net, layer_weights=[1.0])(x, y)


def test_identity_feature_loss_reuses_a_fixed_targets_features_only() -> None:
    net = TinyNet(1)
    calls = []
    net.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    loss = IdentityFeatureLoss(net, normalize=True)
    x, y = images(3, size=32), images(4, size=32)
    first = loss(x, y)
    assert len(calls) == 2
    again = loss(x + 0.1, y)  # same target tensor: its features are not computed again ...
    assert len(calls) == 3
    fresh = IdentityFeatureLoss(net, normalize=True)
    torch.testing.assert_close(again, fresh(x + 0.1, y), rtol=0, atol=0)  # ... and the value is the same
    y.mul_(0.5)  # changed in place: computed again
    torch.testing.assert_close(loss(x, y), fresh(x, y.clone()), rtol=0, atol=0)
    copy = y.clone()  # a new tensor, even with the same values: computed again
    before = len(calls)
    loss(x, copy)
    assert len(calls) == before + 2
    yg = y.clone().requires_grad_(True)  # a target that needs gradients: never cached, gradients reach it
    loss(x, yg).sum().backward()
    assert yg.grad is not None and yg.grad.abs().sum() > 0
    assert first.shape == (2,)
