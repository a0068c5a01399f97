"""Compile-only check of the CUDA plugins' sources, on a machine without a GPU or a CUDA toolkit.

    python -m stylegan2_ops.compile_check [--arch sm_90] [--sources DIR]

Installs NVIDIA's toolkit wheels from PyPI (nvcc, cicc, the CUDA and CCCL headers; about
130 MB, kept in ``$LATENTREENACT_CACHE_DIR/cuda-wheels``) into a cached folder, then compiles
every ``.cu`` file with nvcc and every ``.cpp`` file with the host compiler against the installed
PyTorch's headers, with the flags ``torch.utils.cpp_extension`` uses (object files only: no
linking, no GPU). CPU builds of PyTorch lack one generated header,
``c10/cuda/cuda_cmake_macros.h``; it is written into a temporary include folder.

Before the real sources, two deliberately broken files (one ``.cu``, one ``.cpp``) must fail to
compile: that proves a failure is seen. Exit status 0 when every source compiles, 1 when one
does not, 2 when the toolkit cannot be installed.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import torch
from torch.utils.cpp_extension import include_paths

from ._plugin import CSRC_DIR, cache_root

log = logging.getLogger(__name__)

#: the toolkit wheels, pinned (the versions the check was written against)
CUDA_WHEELS = ("nvidia-cuda-nvcc==13.5.37", "nvidia-nvvm==13.5.37", "nvidia-cuda-crt==13.5.37",
               "nvidia-cuda-cccl==13.3.5.0.6", "nvidia-cuda-runtime==13.5.37")
NVCC_FLAGS = ("-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__",
              "-D__CUDA_NO_BFLOAT16_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__", "--expt-relaxed-constexpr")
MACROS_HEADER = "#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n"
BROKEN_CU = "__global__ void broken(float* x) { x[0] = undefined_name; }\n"
BROKEN_CPP = "int broken() { return undefined_name; }\n"


class ToolkitUnavailable(RuntimeError):
    """The CUDA toolkit wheels could not be downloaded or installed."""


def toolkit_home() -> Path:
    """The CUDA toolkit folder (``bin/nvcc``, ``nvvm/bin/cicc``, ``include``), installed on first use."""
    wheels = cache_root() / "cuda-wheels"
    target = cache_root() / ("cuda-toolkit-" + "-".join(w.split("==")[1] for w in CUDA_WHEELS[:1]))
    home = target / "nvidia" / "cu13"
    if (home / "bin" / "nvcc").is_file() and (home / "nvvm" / "bin" / "cicc").is_file():
        return home
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    have = {p.name.split("-")[0].replace("_", "-") for p in wheels.glob("*.whl")}
    missing = [w for w in CUDA_WHEELS if w.split("==")[0] not in have]
    if missing:
        run(pip + ["download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), *missing], "downloading")
    run(pip + ["install", "--no-deps", "--no-index", "--upgrade", "--target", str(target),
               *[str(p) for p in sorted(wheels.glob("*.whl"))]], "installing")
    if not (home / "bin" / "nvcc").is_file():
        raise ToolkitUnavailable(f"nvcc not found in {home} after installing {', '.join(CUDA_WHEELS)}")
    return home


def run(cmd: Sequence[str], what: str) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolkitUnavailable(f"{what} the CUDA toolkit wheels failed:\n{proc.stderr[-2000:]}")


def commands(source: Path, out: Path, home: Path, include: Path, arch: str) -> List[str]:
    """The compile command of one source (nvcc for ``.cu``, the host compiler for ``.cpp``)."""
    includes = [f"-I{include}", *(f"-I{p}" for p in include_paths()), f"-I{sysconfig.get_paths()['include']}"]
    defines = ["-DTORCH_EXTENSION_NAME=latentreenact_check", "-DTORCH_API_INCLUDE_EXTENSION_H",
               f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}"]
    if source.suffix == ".cu":
        return [str(home / "bin" / "nvcc"), "-c", str(source), "-o", str(out), "-std=c++20", f"-arch={arch}",
                "-O3", *NVCC_FLAGS, "--compiler-options", "-fPIC", *includes, *defines]
    cxx = os.environ.get("CXX", "c++")
    return [cxx, "-c", str(source), "-o", str(out), "-std=c++20", "-O1", "-fPIC", f"-I{home / 'include'}",
            *includes, *defines]


def compile_one(source: Path, home: Path, include: Path, arch: str, workdir: Path) -> Tuple[bool, float, str]:
    """(compiled, seconds, the compiler's error output)."""
    start = time.perf_counter()
    proc = subprocess.run(commands(source, workdir / (source.name + ".o"), home, include, arch),
                          capture_output=True, text=True)
    errors = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if "error" in line.lower())
    return proc.returncode == 0, time.perf_counter() - start, errors or proc.stderr[-2000:]


def check(sources: Path, arch: str = "sm_90", report: Callable[[str], None] = log.info) -> int:
    """Compile every source in ``sources``; 0 when all compile, 1 otherwise. Each result line goes
    to ``report`` (default: this module's logger; the command writes them to stdout)."""
    home = toolkit_home()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        include = work / "include"
        (include / "c10" / "cuda" / "impl").mkdir(parents=True)
        (include / "c10" / "cuda" / "impl" / "cuda_cmake_macros.h").write_text(MACROS_HEADER)
        for name, text in (("broken_check.cu", BROKEN_CU), ("broken_check.cpp", BROKEN_CPP)):
            (work / name).write_text(text)
            ok, _, _ = compile_one(work / name, home, include, arch, work)
            if ok:
                report(f"FAIL  {name}: a broken source compiled, so this check cannot see failures")
                return 1
            report(f"ok    {name}: a broken source fails as it must")
        files = sorted(p for p in sources.iterdir() if p.suffix in (".cu", ".cpp"))
        if not files:
            report(f"FAIL  no .cu or .cpp sources in {sources}")
            return 1
        failed = 0
        for source in files:
            ok, seconds, errors = compile_one(source, home, include, arch, work)
            report(f"{'ok  ' if ok else 'FAIL'}  {source.name} ({arch}, {seconds:.0f} s)")
            if not ok:
                failed += 1
                report(errors)
    report(f"{len(files) - failed} compiled, {failed} failed")
    return 1 if failed else 0


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="sm_90", help="GPU architecture for nvcc (default sm_90, Hopper)")
    parser.add_argument("--sources", type=Path, default=CSRC_DIR, help="folder of .cu/.cpp files")
    args = parser.parse_args(list(argv) or None)
    try:
        return check(args.sources, args.arch, report=lambda line: sys.stdout.write(line + "\n"))
    except ToolkitUnavailable as exc:
        sys.stderr.write(f"compile check not run: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
