"""stylegan2-ada-pytorch network pickles: read G_ema without executing embedded code."""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
import torch

from latentreenact.checkpoints.errors import CheckpointFormatError, UnsafePickleError
from latentreenact.checkpoints.nvidia_pkl import read_stylegan2_ada_pkl
from latentreenact.checkpoints.restricted_pickle import (
    OpaqueObject,
    PersistentRecord,
    restricted_load,
    restricted_load_path,
)
from nvidia_pkl_writer import (
    fake_ada_modules,
    rosinality_to_ada,
    write_ada_pkl,
    write_stylegan2_ada_pkl,
)

FAKE_MODULES = ("dnnlib", "dnnlib.util", "torch_utils", "torch_utils.persistence")


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> Tuple[Dict[str, torch.Tensor], torch.Tensor, Dict[str, Any]]:
    ckpt = torch.load(golden_dir / "stylegan2_64" / "generator.pt", map_location="cpu", weights_only=False)
    vectors = torch.load(golden_dir / "stylegan2_64" / "vectors.pt", map_location="cpu", weights_only=False)
    meta = json.loads((golden_dir / "stylegan2_64" / "meta.json").read_text())
    return ckpt["g_ema"], vectors["mean_latent"][0], meta


def _marker_src(marker: Path) -> str:
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module_src ran')\n"


def _assert_no_fake_modules() -> None:
    for name in FAKE_MODULES:
        assert name not in sys.modules, f"{name} left in sys.modules: the reader must not need it"


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_reads_g_ema_as_golden_rosinality_state(golden, tmp_path: Path, protocol: int) -> None:
    g_ema, w_avg, meta = golden
    marker = tmp_path / "module_src_ran"
    path = write_stylegan2_ada_pkl(
        tmp_path / "net.pkl", g_ema, w_avg, extra_classes=True, module_src=_marker_src(marker),
        protocol=protocol,
    )
    _assert_no_fake_modules()

    result = read_stylegan2_ada_pkl(path)

    assert not marker.exists(), "the embedded module_src was executed"
    _assert_no_fake_modules()
    sd = result["state_dict"]
    expected = {k: v for k, v in g_ema.items() if not k.endswith((".blur.kernel", ".upsample.kernel"))}
    assert set(sd) == set(expected)
    for key, want in expected.items():
        got = sd[key]
        assert isinstance(got, torch.Tensor) and type(got) is torch.Tensor, key
        assert got.dtype == torch.float32, key
        assert got.shape == want.shape, key
        assert torch.equal(got, want), key
        assert not got.requires_grad, key
    assert torch.equal(result["latent_avg"], w_avg)
    assert result["meta"] == {
        "resolution": meta["size"],
        "style_dim": meta["style_dim"],
        "n_mlp": meta["n_mlp"],
        "channels": {int(k): v for k, v in meta["channels"].items()},
        "source": "stylegan2-ada-pkl",
        "conv_clamp": None,
    }


def test_without_w_avg_latent_avg_is_none(golden, tmp_path: Path) -> None:
    g_ema, _, _ = golden
    path = write_stylegan2_ada_pkl(tmp_path / "net.pkl", g_ema, None, extra_classes=False)
    result = read_stylegan2_ada_pkl(path)
    assert result["latent_avg"] is None
    assert torch.equal(result["state_dict"]["style.1.weight"], g_ema["style.1.weight"])


def test_writer_pickle_would_run_module_src_under_plain_pickle(golden, tmp_path: Path) -> None:
    """Sanity check of the fixture: an ordinary unpickler executes module_src."""
    g_ema, w_avg, _ = golden
    marker = tmp_path / "module_src_ran"
    path = write_stylegan2_ada_pkl(tmp_path / "net.pkl", g_ema, w_avg, extra_classes=False,
                                   module_src=_marker_src(marker))
    with fake_ada_modules(), pytest.raises(RuntimeError, match="stand-in"):
        with open(path, "rb") as f:
            pickle.load(f)
    assert marker.exists()
    _assert_no_fake_modules()


# ----------------------------------------------------------------------------- restricted unpickler


def test_restricted_unpickler_tensors_and_foreign_classes(tmp_path: Path) -> None:
    import io

    import numpy as np

    base = torch.arange(40, dtype=torch.float32).reshape(5, 8)
    view = base[1:, ::3]  # non-zero storage offset and non-contiguous strides
    data = {
        "view": view,
        "param": torch.nn.Parameter(torch.ones(2, 2)),
        "half": torch.arange(3).half(),
        "od": OrderedDict(a=1),
        "set": {1, 2},
        "array": np.zeros(3),
    }
    loaded = restricted_load(io.BytesIO(pickle.dumps(data, protocol=4)))
    assert torch.equal(loaded["view"], view) and loaded["view"].stride() == view.stride()
    assert type(loaded["param"]) is torch.Tensor and torch.equal(loaded["param"], torch.ones(2, 2))
    assert loaded["half"].dtype == torch.float16
    assert loaded["od"] == OrderedDict(a=1) and loaded["set"] == {1, 2}
    assert isinstance(loaded["array"], OpaqueObject)
    assert "numpy" in loaded["array"].pickled_global


def test_persistent_records_hold_state_not_source(golden, tmp_path: Path) -> None:
    g_ema, w_avg, _ = golden
    path = write_stylegan2_ada_pkl(tmp_path / "net.pkl", g_ema, w_avg)
    data = restricted_load_path(path)
    record = data["G_ema"]
    assert isinstance(record, PersistentRecord) and record.class_name == "Generator"
    assert not hasattr(record, "module_src")
    assert isinstance(record.state["_modules"]["mapping"], PersistentRecord)
    assert isinstance(data["training_set_kwargs"], dict)
    assert data["training_set_kwargs"]["resolution"] == 64


class _Evil:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self) -> Any:
        return (os.system, (self.cmd,))


def _evil_pickles(marker: Path) -> Dict[str, bytes]:
    cmd = f"touch {marker}"
    return {
        "os.system (pickled by pickle itself)": pickle.dumps({"G_ema": _Evil(cmd)}, protocol=4),
        "os.system protocol 0": b"cos\nsystem\n(V" + cmd.encode() + b"\ntR.",
        "builtins.eval": b"cbuiltins\neval\n(V__import__('os').system('" + cmd.encode() + b"')\ntR.",
        "__builtin__.exec": b"c__builtin__\nexec\n(V__import__('os').system('" + cmd.encode() + b"')\ntR.",
        "subprocess.Popen": b"csubprocess\nPopen\n((V/bin/sh\nV-c\nV" + cmd.encode() + b"\nltR.",
        "builtins.getattr": b"cbuiltins\ngetattr\n(cbuiltins\nobject\nV__class__\ntR.",
    }


@pytest.mark.parametrize("case", list(_evil_pickles(Path("x"))))
def test_code_execution_globals_are_refused(tmp_path: Path, case: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_evil_pickles(marker)[case])
    with pytest.raises(UnsafePickleError, match="refusing"):
        read_stylegan2_ada_pkl(path)
    assert not marker.exists()


def test_malicious_storage_bytes_are_refused(tmp_path: Path) -> None:
    import torch.storage

    marker = tmp_path / "pwned"
    inner = pickle.dumps(_Evil(f"touch {marker}"), protocol=2)

    class EvilStorage:
        def __reduce__(self) -> Any:
            return (torch.storage._load_from_bytes, (inner,))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": EvilStorage()}, protocol=4))
    with pytest.raises(CheckpointFormatError):
        read_stylegan2_ada_pkl(path)
    assert not marker.exists()


def test_persistent_ids_are_refused(tmp_path: Path) -> None:
    import io

    class PidPickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return "storage-0" if obj == "external" else None

    buf = io.BytesIO()
    PidPickler(buf, protocol=4).dump({"G_ema": "external"})
    path = tmp_path / "pid.pkl"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UnsafePickleError, match="persistent ids"):
        read_stylegan2_ada_pkl(path)


# ----------------------------------------------------------------------------- format errors


def test_truncated_file(golden, tmp_path: Path) -> None:
    g_ema, w_avg, _ = golden
    path = write_stylegan2_ada_pkl(tmp_path / "net.pkl", g_ema, w_avg)
    payload = path.read_bytes()
    for cut in (len(payload) // 2, 100, 3):
        path.write_bytes(payload[:cut])
        with pytest.raises(CheckpointFormatError):
            read_stylegan2_ada_pkl(path)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path: Path, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    path = tmp_path / "random.pkl"
    path.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=g, dtype=torch.uint8).tolist()))
    with pytest.raises(CheckpointFormatError):
        read_stylegan2_ada_pkl(path)


def test_empty_zip_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointFormatError, match="empty"):
        read_stylegan2_ada_pkl(empty)
    zipped = tmp_path / "zipped.pt"
    torch.save({"g_ema": {}}, zipped)
    with pytest.raises(CheckpointFormatError, match="zip"):
        read_stylegan2_ada_pkl(zipped)
    with pytest.raises(CheckpointFormatError, match="cannot read"):
        read_stylegan2_ada_pkl(tmp_path / "does_not_exist.pkl")
    not_dict = tmp_path / "list.pkl"
    not_dict.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointFormatError, match="not the dict"):
        read_stylegan2_ada_pkl(not_dict)


def test_missing_g_ema_takes_nothing_from_g(golden, tmp_path: Path) -> None:
    g_ema, w_avg, _ = golden
    path = write_ada_pkl(tmp_path / "net.pkl", None, extra_classes=True)
    with pytest.raises(CheckpointFormatError, match="no 'G_ema'"):
        read_stylegan2_ada_pkl(path)


def test_stylegan3_layout_is_rejected(golden, tmp_path: Path) -> None:
    g_ema, w_avg, _ = golden
    flat = {k: v for k, v in rosinality_to_ada(g_ema, w_avg).items() if not k.startswith("synthesis.")}
    flat.update({
        "synthesis.input.weight": torch.randn(64, 4),
        "synthesis.input.affine.weight": torch.randn(4, 64),
        "synthesis.input.freqs": torch.randn(64, 2),
        "synthesis.L0_36_512.weight": torch.randn(64, 64, 3, 3),
        "synthesis.L0_36_512.affine.weight": torch.randn(64, 64),
        "synthesis.L1_36_512.weight": torch.randn(64, 64, 3, 3),
    })
    path = write_ada_pkl(tmp_path / "sg3.pkl", flat)
    with pytest.raises(CheckpointFormatError, match="StyleGAN3"):
        read_stylegan2_ada_pkl(path)


def test_conditional_mapping_is_rejected(golden, tmp_path: Path) -> None:
    g_ema, w_avg, _ = golden
    flat = rosinality_to_ada(g_ema, w_avg)
    flat["mapping.embed.weight"] = torch.randn(64, 10)
    flat["mapping.embed.bias"] = torch.zeros(64)
    path = write_ada_pkl(tmp_path / "cond.pkl", flat)
    with pytest.raises(CheckpointFormatError, match="conditional"):
        read_stylegan2_ada_pkl(path)


def test_resnet_architecture_is_rejected(golden, tmp_path: Path) -> None:
    g_ema, w_avg, _ = golden
    flat = rosinality_to_ada(g_ema, w_avg)
    flat["synthesis.b8.skip.weight"] = torch.randn(64, 64, 1, 1)
    path = write_ada_pkl(tmp_path / "resnet.pkl", flat)
    with pytest.raises(CheckpointFormatError, match="resnet"):
        read_stylegan2_ada_pkl(path)


@pytest.mark.parametrize(
    "key",
    [
        "synthesis.b16.conv1.noise_const",
        "synthesis.b32.torgb.weight",  # 'orig' architecture: ToRGB only in the last block
        "synthesis.b4.const",
        "mapping.fc1.bias",
        "synthesis.b64.conv0.affine.weight",
    ],
)
def test_missing_tensor_is_reported(golden, tmp_path: Path, key: str) -> None:
    g_ema, w_avg, _ = golden
    flat = rosinality_to_ada(g_ema, w_avg)
    del flat[key]
    path = write_ada_pkl(tmp_path / "missing.pkl", flat)
    with pytest.raises(CheckpointFormatError, match="missing") as info:
        read_stylegan2_ada_pkl(path)
    assert key in str(info.value)


def test_wrong_shape_is_reported(golden, tmp_path: Path) -> None:
    g_ema, w_avg, _ = golden
    flat = rosinality_to_ada(g_ema, w_avg)
    flat["synthesis.b16.conv0.affine.weight"] = torch.randn(63, 64)
    path = write_ada_pkl(tmp_path / "shape.pkl", flat)
    with pytest.raises(CheckpointFormatError, match="b16.conv0.affine.weight"):
        read_stylegan2_ada_pkl(path)


@pytest.mark.parametrize(
    "payload",
    [
        b"ctorch._utils\n_rebuild_tensor_v2\n(dVpwned\nI1\nsb.",
        b"ctorch.storage\n_load_from_bytes\n(N(dV__defaults__\n(I1\ntstb.",
        b"cdnnlib.util\nEasyDict\n(dVpwned\nI1\nsb.",
        b"ccollections\nOrderedDict\n(N(dVpwned\nI1\nstb.",
    ],
)
def test_build_cannot_modify_allowed_globals(tmp_path: Path, payload: bytes) -> None:
    from latentreenact.checkpoints import restricted_pickle as rp

    path = tmp_path / "build.pkl"
    path.write_bytes(payload)
    with pytest.raises(CheckpointFormatError):
        read_stylegan2_ada_pkl(path)
    assert not hasattr(rp._rebuild_tensor_v2, "pwned")
    assert rp._load_from_bytes.__defaults__ is None
    assert not hasattr(rp.PickledDict, "pwned") and not hasattr(OrderedDict, "pwned")


def _ada_clamped_reference(generator, clamp: float):
    """stylegan2-ada's clamp, applied by hooks to an unclamped generator in the reference formulation.

    The reference clamps ``bias_act``'s output of every SynthesisLayer (after the gain) and the
    ToRGBLayer's output (conv + bias) before the skip image is added. Returns the hook handles."""
    from latentreenact.models.stylegan2_layers import FusedLeakyReLU, ToRGB, set_formulation

    set_formulation(generator, "reference")
    handles = []
    for module in generator.modules():
        if isinstance(module, FusedLeakyReLU):
            handles.append(module.register_forward_hook(lambda m, i, out: out.clamp(-clamp, clamp)))
        elif isinstance(module, ToRGB):
            def rgb_hook(m, i, out, bias=module.bias):
                return (out + bias).clamp(-clamp, clamp) - bias  # the conv output that, plus bias, is clamped
            handles.append(module.conv.register_forward_hook(rgb_hook))
    return handles


@pytest.mark.parametrize("clamp", [0.5, 256.0])
def test_conv_clamp_is_honoured(golden, golden_dir: Path, tmp_path: Path, clamp: float) -> None:
    from latentreenact import load_generator

    g_ema, w_avg, _ = golden
    vectors = torch.load(golden_dir / "stylegan2_64" / "vectors.pt", map_location="cpu", weights_only=True)
    path = write_stylegan2_ada_pkl(tmp_path / "clamped.pkl", g_ema, w_avg, extra_classes=False, conv_clamp=clamp)
    assert read_stylegan2_ada_pkl(path)["meta"]["conv_clamp"] == clamp
    ours = load_generator(path)
    assert ours.conv_clamp == clamp and ours.config["conv_clamp"] == clamp
    plain = load_generator(write_stylegan2_ada_pkl(tmp_path / "plain.pkl", g_ema, w_avg, extra_classes=False))
    assert plain.conv_clamp is None
    wplus = vectors["wplus"]
    with torch.no_grad():
        unclamped = plain.synthesis(wplus)
        reference = load_generator(tmp_path / "plain.pkl")
        handles = _ada_clamped_reference(reference, clamp)
        expected = reference.synthesis(wplus)
        for h in handles:
            h.remove()
        got = ours.synthesis(wplus)
    assert (got - expected).abs().max().item() <= 1e-4
    engaged = (unclamped - expected).abs().max().item()
    if clamp == 0.5:
        assert engaged > 0.1  # the clamp engages: without it the image is far off
    else:
        assert engaged <= 1e-4 and torch.equal(got, unclamped)  # 256 never engages on these weights
    # The clamp survives save/load in our own format.
    from latentreenact.checkpoints.loading import save_generator

    again = load_generator(save_generator(ours, tmp_path / "ours.pt"))
    assert again.conv_clamp == clamp


def test_conv_clamp_disagreeing_layers_are_refused(golden, tmp_path: Path) -> None:
    g_ema, w_avg, _ = golden
    path = write_stylegan2_ada_pkl(tmp_path / "net.pkl", g_ema, w_avg, extra_classes=False, conv_clamp=256)
    data = restricted_load_path(path)
    layer = data["G_ema"].state["_modules"]["synthesis"].state["_modules"]["b8"].state["_modules"]["conv0"]
    layer.state["conv_clamp"] = 128
    from latentreenact.checkpoints.nvidia_pkl import read_conv_clamp

    with pytest.raises(CheckpointFormatError, match="different conv_clamp"):
        read_conv_clamp(data["G_ema"])
    layer.state["conv_clamp"] = float("nan")
    with pytest.raises(CheckpointFormatError, match="conv_clamp is nan"):
        read_conv_clamp(data["G_ema"])
