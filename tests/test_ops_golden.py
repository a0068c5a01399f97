"""The public ops (PyTorch path) and the reference formulations against the golden vectors."""

import pytest
import torch

from stylegan2_ops import fused_bias_act, fused_leaky_relu, upfirdn2d
from stylegan2_ops.reference import fused_leaky_relu_reference, upfirdn2d_reference


@pytest.fixture(scope="module")
def ops(golden_dir):
    return torch.load(golden_dir / "ops" / "ops.pt", map_location="cpu", weights_only=True)


def test_upfirdn2d_golden_forward_and_grad(ops):
    assert len(ops["upfirdn2d"]) >= 6
    for case in ops["upfirdn2d"]:
        x = case["x"].clone().requires_grad_(True)
        y = upfirdn2d(x, case["kernel"], case["up"], case["down"], case["pad"], impl="torch")
        (y * case["R"]).sum().backward()
        assert y.shape == case["y"].shape
        assert (y - case["y"]).abs().max() <= 1e-5
        assert (x.grad - case["grad_x"]).abs().max() <= 1e-3 * case["grad_x"].abs().max()
        ref = upfirdn2d_reference(case["x"], case["kernel"], case["up"], case["down"], case["pad"])
        assert (ref - case["y"]).abs().max() <= 1e-5


def test_fused_leaky_relu_golden(ops):
    for case in ops["fused_leaky_relu"]:
        x = case["x"].clone().requires_grad_(True)
        b = case["bias"].clone().requires_grad_(True)
        y = fused_leaky_relu(x, b, case["negative_slope"], case["scale"], impl="torch")
        (y * case["R"]).sum().backward()
        assert (y - case["y"]).abs().max() <= 1e-6
        assert (x.grad - case["grad_x"]).abs().max() <= 1e-5
        assert (b.grad - case["grad_bias"]).abs().max() <= 1e-5
        assert torch.allclose(fused_leaky_relu_reference(case["x"], case["bias"]), case["y"], atol=1e-6)


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 1)), (2, 1, (2, 1)), (1, 2, (1, 1)), ((2, 1), (1, 2), (0, 1, 2, 0)),
                                         (1, 1, (-1, 2)), (3, 2, (1, 0, 0, 2))])
def test_upfirdn2d_public_double_backward(up, down, pad):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(3, 4, dtype=torch.float64, generator=g)
    fn = lambda t: upfirdn2d(t, k, up, down, pad, impl="torch")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,)) and torch.autograd.gradgradcheck(fn, (x,))
    assert torch.allclose(fn(x), upfirdn2d_reference(x, k, up, down, pad))


def test_upfirdn2d_closed_form_identity_and_box_downsample():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(upfirdn2d(x, torch.ones(1, 1)), x)
    box = upfirdn2d(x, torch.full((2, 2), 0.25), down=2)
    assert torch.equal(box, torch.nn.functional.avg_pool2d(x, 2))
    nearest = upfirdn2d(x, torch.ones(2, 2), up=2, pad=(1, 0))  # zero insert + 2x2 box = nearest upsampling
    assert torch.equal(nearest, x.repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_bias_act_activations_closed_form():
    x = torch.tensor([[-2.0, -0.5, 0.0, 1.5]])
    assert torch.equal(fused_bias_act(x, act="linear"), x)
    assert torch.allclose(fused_bias_act(x, act="relu"), torch.relu(x) * 2 ** 0.5)
    assert torch.allclose(fused_bias_act(x, act="lrelu", alpha=0.1, gain=1.0), torch.where(x > 0, x, 0.1 * x))
    assert torch.allclose(fused_bias_act(x, act="tanh"), torch.tanh(x))
    assert torch.equal(fused_bias_act(x * 1000, act="linear", clamp=256), (x * 1000).clamp(-256, 256))
    assert torch.allclose(fused_bias_act(x.T, torch.tensor([1.0, 2, 3, 4]), dim=0), x.T + torch.tensor([[1.0], [2], [3], [4]]))


def test_bad_arguments():
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="pad"):
        upfirdn2d(x, torch.ones(2, 2), pad=(1, 2, 3))
    with pytest.raises(ValueError, match="up"):
        upfirdn2d(x, torch.ones(2, 2), up=0)
    with pytest.raises(ValueError, match="empty"):
        upfirdn2d(x, torch.ones(2, 2), pad=(-3, -3))
    with pytest.raises(ValueError, match="act"):
        fused_bias_act(x, act="gelu-ish")
    with pytest.raises(ValueError, match="bias"):
        fused_bias_act(x, torch.zeros(3))
