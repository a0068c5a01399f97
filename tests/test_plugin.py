"""The lazy CUDA plugin loader and the impl choice, without compiling anything."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils import cpp_extension

import stylegan2_ops
from stylegan2_ops import _plugin
from stylegan2_ops._impl import IMPL_ENV, resolve_impl
from stylegan2_ops.reference import fused_leaky_relu_reference, upfirdn2d_reference


class FakeCudaTensor(torch.Tensor):
    """A CPU tensor that claims to live on CUDA, to drive the plugin paths on a CPU machine."""

    @property
    def is_cuda(self) -> bool:  # type: ignore[override]
        return True


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty memo, cache dir in tmp_path, default impl choice."""
    monkeypatch.setattr(_plugin, "_LOADED", {})
    monkeypatch.setenv(_plugin.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(IMPL_ENV, raising=False)
    return tmp_path / "cache"


def _pretend_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_plugin, "_check_toolchain", lambda: None)


def _fallback_warnings(record) -> list:
    return [w for w in record if issubclass(w.category, _plugin.PluginFallbackWarning)]


# ------------------------------------------------------------------------------- cache naming
def test_cache_root_default_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(_plugin.CACHE_ENV, raising=False)
    assert _plugin.cache_root() == Path.home() / ".cache" / "latentreenact"
    monkeypatch.setenv(_plugin.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert _plugin.cache_root() == tmp_path / "elsewhere"


def test_build_dir_is_versioned_by_torch_cuda_and_sources(fresh: Path) -> None:
    digest = _plugin.sources_digest()
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    version = f"{torch.__version__}-cu{torch.version.cuda}-{digest[:12]}"
    for name in ("upfirdn2d", "bias_act"):
        assert _plugin.build_dir(name) == fresh / "ops" / version / name


def test_sources_exist_and_digest_follows_their_content(tmp_path: Path) -> None:
    for sources in _plugin.SOURCES.values():
        for source in sources:
            assert (_plugin.CSRC_DIR / source).is_file()
    copy = tmp_path / "csrc"
    shutil.copytree(_plugin.CSRC_DIR, copy)
    assert _plugin.sources_digest(copy) == _plugin.sources_digest()
    (copy / "notes.txt").write_text("not a source")
    assert _plugin.sources_digest(copy) == _plugin.sources_digest()
    kernel = copy / "upfirdn2d_kernel.cu"
    kernel.write_bytes(kernel.read_bytes() + b"\n// changed\n")
    assert _plugin.sources_digest(copy) != _plugin.sources_digest()


def test_unknown_plugin_name_is_an_error(fresh: Path) -> None:
    with pytest.raises(ValueError, match="unknown CUDA plugin"):
        _plugin.load_plugin("conv2d_gradfix")


# ------------------------------------------------------------------------ memoisation, errors
def test_load_is_memoised_per_op(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = []

    def fake_build(name: str) -> types.ModuleType:
        built.append(name)
        return types.ModuleType(f"fake_{name}")

    monkeypatch.setattr(_plugin, "_build", fake_build)
    first = _plugin.load_plugin("upfirdn2d")
    assert _plugin.load_plugin("upfirdn2d") is first
    assert _plugin.load_plugin("bias_act") is not first
    assert _plugin.load_plugin("bias_act") is _plugin.load_plugin("bias_act")
    assert built == ["upfirdn2d", "bias_act"]


def test_build_failure_warns_once_with_cause_and_fallback(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_cuda(monkeypatch)
    calls = []

    def failing_load(**kwargs):
        calls.append(kwargs)
        raise RuntimeError("Error building extension 'latentreenact_upfirdn2d': nvcc fatal: simulated failure")

    monkeypatch.setattr(cpp_extension, "load", failing_load)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert all(_plugin.load_plugin("upfirdn2d") is None for _ in range(3))
    found = _fallback_warnings(record)
    assert len(found) == 1 and len(record) == 1
    text = str(found[0].message)
    assert "upfirdn2d" in text and "simulated failure" in text and "PyTorch implementation" in text
    assert len(calls) == 1
    # the build went to the versioned directory, with the op's sources
    assert calls[0]["build_directory"] == str(_plugin.build_dir("upfirdn2d"))
    assert [Path(s).name for s in calls[0]["sources"]] == list(_plugin.SOURCES["upfirdn2d"])


def test_torch_without_cuda_warns_once(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "cuda", None)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert _plugin.load_plugin("bias_act") is None
        assert _plugin.load_plugin("bias_act") is None
    found = _fallback_warnings(record)
    assert len(found) == 1
    assert "no CUDA support" in str(found[0].message) and "PyTorch implementation" in str(found[0].message)
    assert not fresh.exists()  # nothing written when the toolchain is missing


def test_missing_toolkit_names_cuda_home(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)
    with pytest.warns(_plugin.PluginFallbackWarning, match="CUDA_HOME"):
        assert _plugin.load_plugin("upfirdn2d") is None


def test_failed_plugin_falls_back_to_correct_torch_results(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_build(name: str):
        raise _plugin.PluginUnavailable("simulated: no compiler")

    monkeypatch.setattr(_plugin, "_build", failing_build)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 7, generator=g)
    bias = torch.randn(3, generator=g)
    kernel = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = kernel / kernel.sum()
    fake = x.as_subclass(FakeCudaTensor)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(2):
            y = stylegan2_ops.upfirdn2d(fake, kernel, up=2, pad=(2, 1))
            z = stylegan2_ops.fused_leaky_relu(fake, bias)
            torch.testing.assert_close(y.as_subclass(torch.Tensor), upfirdn2d_reference(x, kernel, 2, 1, (2, 1)))
            torch.testing.assert_close(z.as_subclass(torch.Tensor), fused_leaky_relu_reference(x, bias))
    found = _fallback_warnings(record)
    assert len(found) == 2
    assert {("'upfirdn2d'" in str(w.message)) for w in found} == {True, False}
    assert all("simulated: no compiler" in str(w.message) for w in found)


def test_concurrent_build_waits_for_the_lock(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build held by another process is waited for; the load starts after it finishes."""
    _pretend_cuda(monkeypatch)
    directory = _plugin.build_dir("bias_act")
    directory.mkdir(parents=True)
    released = directory / "other-process-done"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, pathlib, filelock\n"
         "lock = filelock.FileLock(sys.argv[1]); lock.acquire()\n"
         "print('locked', flush=True); time.sleep(1.0)\n"
         "pathlib.Path(sys.argv[2]).write_text('built'); lock.release()\n",
         str(directory / _plugin.LOCK_NAME), str(released)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        seen = []

        def fake_load(**kwargs):
            seen.append(released.exists())
            return types.ModuleType("fake_bias_act")

        monkeypatch.setattr(cpp_extension, "load", fake_load)
        assert _plugin.load_plugin("bias_act") is not None
        assert seen == [True]
    finally:
        holder.wait(timeout=30)


# -------------------------------------------------------------------------------- resolve_impl
def test_resolve_impl_cuda_on_cpu_tensor_is_an_error(fresh: Path) -> None:
    with pytest.raises(ValueError, match="CUDA tensor"):
        resolve_impl("cuda", torch.zeros(1), "upfirdn2d")
    with pytest.raises(ValueError, match="CUDA tensor"):
        stylegan2_ops.upfirdn2d(torch.zeros(1, 1, 4, 4), torch.ones(2), impl="cuda")


def test_resolve_impl_invalid_values(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="impl must be one of"):
        resolve_impl("triton", torch.zeros(1), "bias_act")
    monkeypatch.setenv(IMPL_ENV, "fast")
    with pytest.raises(ValueError, match=IMPL_ENV):
        resolve_impl("auto", torch.zeros(1), "bias_act")


def test_env_torch_forces_the_torch_path(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_load(name: str):
        raise AssertionError("the plugin must not be loaded")

    monkeypatch.setattr(_plugin, "load_plugin", must_not_load)
    fake = torch.zeros(2, 2).as_subclass(FakeCudaTensor)
    monkeypatch.setenv(IMPL_ENV, "torch")
    assert resolve_impl("auto", fake, "bias_act") == "torch"
    assert resolve_impl("torch", fake, "bias_act") == "torch"
    monkeypatch.setenv(IMPL_ENV, "cuda")
    assert resolve_impl("auto", torch.zeros(1), "bias_act") == "torch"  # CPU tensors stay on torch


def test_resolve_impl_uses_the_plugin_when_it_loads(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_plugin, "_build", lambda name: types.ModuleType(name))
    fake = torch.zeros(2, 2).as_subclass(FakeCudaTensor)
    assert resolve_impl("auto", fake, "bias_act") == "cuda"
    assert resolve_impl("cuda", fake, "upfirdn2d") == "cuda"
    assert resolve_impl("auto", torch.zeros(1), "bias_act") == "torch"


def test_import_does_no_plugin_work() -> None:
    code = (
        "import sys, stylegan2_ops\n"
        "assert 'stylegan2_ops._plugin' not in sys.modules, 'plugin loader imported'\n"
        "assert 'stylegan2_ops._cuda' not in sys.modules, 'cuda functions imported'\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_sources_digest_matches_a_manual_hash(tmp_path: Path) -> None:
    (tmp_path / "a.cu").write_bytes(b"A")
    (tmp_path / "b.cpp").write_bytes(b"B")
    expected = hashlib.sha256(b"a.cu\0A\0b.cpp\0B\0").hexdigest()
    assert _plugin.sources_digest(tmp_path) == expected
