"""DirectionMatrix and the pose-vector rescaling: closed forms, properties, file formats."""

import numpy as np
import pytest
import torch

from directions import LAYOUTS, DirectionMatrix, PoseVectorSpec, load_ranges, save_ranges, spec_from_ranges
from latentreenact.net3d.pose_vector import RELEASED_RANGE_NAMES
from latentreenact.checkpoints.errors import CheckpointFormatError


def released_ranges(seed=0):
    rng = np.random.default_rng(seed)
    lo = -rng.uniform(0.5, 3.0, size=len(RELEASED_RANGE_NAMES))
    hi = rng.uniform(0.5, 3.0, size=len(RELEASED_RANGE_NAMES))
    return np.stack([lo, hi], 1)


def test_rescale_closed_form():
    spec = spec_from_ranges("deca-voxceleb", released_ranges())
    assert spec.k == 15
    p = torch.zeros(2, 15, dtype=torch.float64)
    p[0, :3] = torch.tensor([40.0, 20.0, -20.0])
    for i, name in enumerate(spec.names[3:], start=3):
        lo, hi = spec.ranges[name]
        p[0, i], p[1, i] = lo, hi
    q = spec.rescale(p)
    assert torch.allclose(q[0, :3], torch.tensor([6.0, 6.0, -6.0], dtype=torch.float64))
    assert torch.allclose(q[0, 3:], torch.full((12,), -6.0, dtype=torch.float64))
    assert torch.allclose(q[1, 3:], torch.full((12,), 6.0, dtype=torch.float64))
    assert torch.allclose(spec.unscale(q), p)
    p[1, :3] = torch.tensor([80.0, -40.0, 0.0])  # angles are not clamped
    assert torch.allclose(spec.rescale(p)[1, :3], torch.tensor([12.0, -12.0, 0.0], dtype=torch.float64))


def test_layouts():
    assert LAYOUTS["bfm"][:3] == ("yaw", "pitch", "roll") and len(LAYOUTS["bfm"]) == 13
    assert "roll" not in LAYOUTS["deca-ffhq"] and len(LAYOUTS["deca-ffhq"]) == 15
    assert LAYOUTS["deca-voxceleb"][3] == "jaw"


def test_delta_and_bad_input():
    spec = PoseVectorSpec(("yaw", "exp_0"), {"exp_0": (-1.0, 3.0)})
    d = spec.delta(torch.tensor([[0.0, 1.0]]), torch.tensor([[20.0, 3.0]]))
    assert torch.allclose(d, torch.tensor([[3.0, 6.0]]))
    with pytest.raises(ValueError, match="2 entries"):
        spec.rescale(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="no \\(min, max\\) range"):
        PoseVectorSpec(("yaw", "exp_0"), {})
    with pytest.raises(ValueError, match="max > min"):
        PoseVectorSpec(("exp_0",), {"exp_0": (1.0, 1.0)})
    with pytest.raises(ValueError, match="\\[54, 2\\]"):
        spec_from_ranges("bfm", np.zeros((10, 2)))


def test_ranges_file_roundtrip(tmp_path):
    r = released_ranges(1)
    save_ranges(tmp_path / "ranges.npy", r)
    back = load_ranges(tmp_path / "ranges.npy")
    assert back.dtype == np.float64 and np.array_equal(back, r)


def test_zero_delta_zero_bias_leaves_wplus_unchanged():
    a = DirectionMatrix(13, num_layers=8, style_dim=16, seed=0)
    w = torch.randn(3, 10, 16)
    assert torch.equal(a.shift(w, torch.zeros(3, 13)), w)


def test_init_and_linearity():
    a = DirectionMatrix(15, 8, 512, seed=0)
    assert abs(a.linear.weight.std().item() - 0.03) < 1e-3 and torch.equal(a.linear.bias, torch.zeros(4096))
    assert torch.equal(DirectionMatrix(15, seed=0).linear.weight, a.linear.weight)
    with torch.no_grad():
        a.linear.bias.normal_()
    x, y = torch.randn(2, 15), torch.randn(2, 15)
    dw = lambda d: a(d) - a(torch.zeros_like(d))  # noqa: E731
    assert torch.allclose(dw(x + 2 * y), dw(x) + 2 * dw(y), atol=1e-5)
    w = torch.randn(2, 18, 512)
    shifted = a.shift(w, x)
    assert torch.equal(shifted[:, 8:], w[:, 8:])
    assert torch.allclose(shifted[:, :8] - w[:, :8], a(x), atol=1e-6)


def test_our_format_roundtrip(tmp_path):
    a = DirectionMatrix(13, 8, 32, seed=3, config={"layout": list(LAYOUTS["bfm"]), "net3d": "bfm-fit"})
    with torch.no_grad():
        a.linear.bias.uniform_()
    a.save(tmp_path / "A.pt")
    b = DirectionMatrix.load(tmp_path / "A.pt")
    assert b.config == a.config and (b.k, b.num_layers, b.style_dim) == (13, 8, 32)
    assert torch.equal(b.linear.weight, a.linear.weight) and torch.equal(b.linear.bias, a.linear.bias)


def test_released_layout_roundtrip_and_trainer_variant(tmp_path):
    a = DirectionMatrix(15, 8, 512, seed=1)
    a.save_released(tmp_path / "A_matrix.pt")
    obj = torch.load(tmp_path / "A_matrix.pt", weights_only=True)
    assert set(obj) == {"A_matrix", "learned_directions", "shift_scale", "w_plus", "num_layers_shift", "shift_dim"}
    assert obj["A_matrix"]["linear.weight"].shape == (4096, 15) and obj["A_matrix"]["linear.bias"].shape == (4096,)
    del obj["shift_dim"]  # trainer-written files lack it: defaults to 512
    torch.save(obj, tmp_path / "trainer.pt")
    for path in ("A_matrix.pt", "trainer.pt"):
        b = DirectionMatrix.load_released(tmp_path / path)
        assert torch.equal(b.linear.weight, a.linear.weight) and b.style_dim == 512 and b.num_layers == 8
        assert DirectionMatrix.load(tmp_path / path).k == 15


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        DirectionMatrix.load(tmp_path / "none.pt")
    torch.save({"A_matrix": {"linear.weight": torch.zeros(4096, 15)}, "learned_directions": 15}, tmp_path / "nobias.pt")
    with pytest.raises(CheckpointFormatError, match="missing keys: bias"):
        DirectionMatrix.load_released(tmp_path / "nobias.pt")
    torch.save({"A_matrix": {"linear.weight": torch.full((4096, 15), float("nan")), "linear.bias": torch.zeros(4096)}},
               tmp_path / "nan.pt")
    with pytest.raises(CheckpointFormatError, match="NaN"):
        DirectionMatrix.load(tmp_path / "nan.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointFormatError, match="not a direction-matrix file"):
        DirectionMatrix.load(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="NaN"):
        DirectionMatrix(3, 2, 4)(torch.tensor([[float("nan"), 0.0, 0.0]]))
    # damaged entries of our own format: each names the file (was: KeyError / TypeError tracebacks, a NaN scale
    # loaded and failing later; found by the byog hunt, session 21)
    good = torch.load(DirectionMatrix(3, 2, 4, seed=0).save(tmp_path / "good.pt"), weights_only=False)
    for name, change in (("no_k", {"k": None}), ("text_dim", {"style_dim": "abc"}), ("no_layers", {"num_layers": 0}),
                         ("nan_scale", {"shift_scale": float("nan")}), ("no_state", {"state_dict": None})):
        payload = {**good, **change}
        if change.get("k", 1) is None:
            del payload["k"]
        torch.save(payload, tmp_path / f"{name}.pt")
        with pytest.raises(CheckpointFormatError, match=f"{name}.pt"):
            DirectionMatrix.load(tmp_path / f"{name}.pt")


def test_no_global_rng_use(tmp_path):
    DirectionMatrix(4, 2, 8, seed=5).save(tmp_path / "A.pt")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DirectionMatrix(4, 2, 8)
    DirectionMatrix.load(tmp_path / "A.pt")
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(DirectionMatrix(4, 2, 8).linear.weight, DirectionMatrix(4, 2, 8).linear.weight)


def test_ranges_with_sidecar_names(tmp_path):
    import json

    from directions import load_ranges_with_names

    rows = list(LAYOUTS["bfm"])
    ranges = np.array([[-40.0, 40.0], [-20.0, 20.0], [-20.0, 20.0]] + [[-1.0 - i, 1.0 + i] for i in range(10)])
    save_ranges(tmp_path / "ranges.npy", ranges)
    (tmp_path / "ranges.json").write_text(json.dumps({"rows": rows}))
    array, names = load_ranges_with_names(tmp_path / "ranges.npy")
    spec = spec_from_ranges("bfm", array, range_names=names)
    assert spec.ranges["exp_9"] == (-10.0, 10.0)
    (tmp_path / "ranges.json").unlink()
    with pytest.raises(ValueError, match="no sidecar"):
        load_ranges_with_names(tmp_path / "ranges.npy")
