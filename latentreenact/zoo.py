"""Model registry: names -> files inside installed packages, this repository, or user paths.

A name resolves, in order, to: a directory given by the caller (``root=``); the directory named by
``LATENTREENACT_MODEL_DIR`` (``<dir>/<name>/`` holding the same file names); the registered
source (an installed package's data files, or files shipped inside this package). Files are
checked against their recorded size and SHA-256 once per process; a missing or altered file
raises :class:`ModelNotFoundError` saying what to install.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Tuple, Union

from .models.mobilestylegan import MobileStyleGAN

if TYPE_CHECKING:
    import torch

MODEL_DIR_ENV = "LATENTREENACT_MODEL_DIR"


class ModelNotFoundError(FileNotFoundError):
    """A registered model's files are missing or do not match their checksums."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: its path relative to the source directory, size and SHA-256."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelEntry:
    """A registered model."""

    name: str
    kind: str                  # "generator", ...
    arch: str                  # the builder that reads the files, e.g. "mobilestylegan"
    version: str
    files: Tuple[ModelFile, ...]
    package: Optional[str] = None   # import name of the package carrying the files ...
    package_dir: str = ""           # ... and the folder inside it
    install: str = ""               # how to get the files
    licence: str = ""
    description: str = ""
    config: Dict[str, object] = field(default_factory=dict)


REGISTRY: Dict[str, ModelEntry] = {
    "mobilestylegan-ffhq": ModelEntry(
        name="mobilestylegan-ffhq",
        kind="generator",
        arch="mobilestylegan",
        version="random-face==2021.7.21.1",
        files=(
            ModelFile("MappingNetwork.xml", 59865, "73e2096cad6e696e4af47df2477e048ab4c42c0e0dec83c7c66604822689e55b"),
            ModelFile("MappingNetwork.bin", 8405040, "212dd716bdb556e18db603ea97300d4fa3c872b878c726b2402fea80820e7305"),
            ModelFile("SynthesisNetwork.xml", 425183, "7918fce515243954d3e06628cb39a23902d6b1d5d02932cc0c2faee7a2aeeedd"),
            ModelFile("SynthesisNetwork.bin", 32025440, "c7da15fa22d508c82e1c30dd6b4cdf67fe3ccdddaf85b310ee764dbf0c289645"),
        ),
        package="random_face",
        package_dir="data",
        install="pip install --no-deps random-face==2021.7.21.1",
        licence="research / non-commercial: weights distilled from NVIDIA's StyleGAN2-FFHQ",
        description="MobileStyleGAN (1024 px FFHQ faces, 23 style inputs) from OpenVINO IR files",
    ),
    "mobilestylegan-ffhq-heads": ModelEntry(
        name="mobilestylegan-ffhq-heads",
        kind="generator",
        arch="mobilestylegan",
        version="heads fit 1 (latentreenact 0.1.0) on random-face==2021.7.21.1",
        files=(
            ModelFile("mobilestylegan_ffhq_heads.pt", 149053,
                      "9a48b26e2ee90828659e8d2711844d64071d7c42b13f03a3c6ccf1eaa2dee83a"),
        ),
        package=None,  # shipped inside latentreenact/weights
        package_dir="weights",
        install="reinstall latentreenact (the heads ship inside it) and "
                "pip install --no-deps random-face==2021.7.21.1",
        licence="research / non-commercial: fitted on renders of a model derived from NVIDIA's StyleGAN2-FFHQ",
        description="mobilestylegan-ffhq plus fitted 8..512 px heads: fast low-resolution previews "
                    "(about 23 dB PSNR at 256 px against the downscaled 1024 px render; see weights/MODEL_CARD.md)",
        config={"base": "mobilestylegan-ffhq"},
    ),
    "net3d-bfm-net": ModelEntry(
        name="net3d-bfm-net",
        kind="net3d",
        arch="bfm-net",
        version="run 1 (latentreenact 0.1.0): 1,536 default-generator faces, 2,000 steps",
        files=(ModelFile("net3d_bfm_net.pt", 7836943,
                            "47f8904c8c670c96b96aa987bdf99824e24c5688f81944c7e518770d52d23485"),),
        package=None,  # shipped inside latentreenact/weights
        package_dir="weights",
        install="reinstall latentreenact (the weights ship inside it)",
        licence="research / non-commercial: trained on renders of a model derived from NVIDIA's StyleGAN2-FFHQ",
        description="the bfm-net regressor: yaw/pitch/roll, BFM identity/expression and 68 landmarks from "
                    "256 px FFHQ-aligned crops (see weights/NET3D_MODEL_CARD.md)",
    ),
    "encoder-mobilestylegan-ffhq": ModelEntry(
        name="encoder-mobilestylegan-ffhq",
        kind="encoder",
        arch="light-encoder",
        version="run 2 (latentreenact 0.1.0): 1,603 default-generator pairs, 2,500 latent-only steps + 300 with "
                "image losses",
        files=(ModelFile("encoder_mobilestylegan_ffhq.pt", 16340512,
                         "182b1853df6f2250199483b396b68ac2df6f240f271464970764ef3734e35bc8"),),
        package=None,  # shipped inside latentreenact/weights
        package_dir="weights",
        install="reinstall latentreenact (the weights ship inside it)",
        licence="research / non-commercial: trained on renders of a model derived from NVIDIA's StyleGAN2-FFHQ",
        description="light W+ encoder (8.1 M parameters, 128 px input) for mobilestylegan-ffhq: a coarse "
                    "first guess for tuning on real photos (see weights/ENCODER_MODEL_CARD.md)",
    ),
    "directions-mobilestylegan-ffhq": ModelEntry(
        name="directions-mobilestylegan-ffhq",
        kind="directions",
        arch="direction-matrix",
        version="rigid 1 (latentreenact 0.1.0): identity-held two-stage ridge start over 6,000 faces labelled by "
                "bfm-rigid with bfm-net's yaw and pitch as instruments, no training",
        files=(ModelFile("directions_mobilestylegan_ffhq.pt", 232261,
                         "5d43f1b1ca322c2c5ed6d0479765eb62db095b159139ae330121fce06eea1262"),),
        package=None,  # shipped inside latentreenact/weights
        package_dir="weights",
        install="reinstall latentreenact (the weights ship inside it)",
        licence="research / non-commercial: fitted on renders of a model derived from NVIDIA's StyleGAN2-FFHQ",
        description="A for mobilestylegan-ffhq with the BFM pose vector (yaw, pitch, roll, 10 BFM expressions) as the "
                    "driving estimator bfm-rigid measures it: a ridge-regression start that holds the faces' identity "
                    "embedding fixed (see weights/DIRECTIONS_MODEL_CARD.md)",
    ),
    "controls-mobilestylegan-ffhq": ModelEntry(
        name="controls-mobilestylegan-ffhq",
        kind="latent-controls",
        arch="latent-controls",
        version="fit 3 (latentreenact 0.1.0): train controls over 4,000 faces, seed 0; eyes_closed holds the skin's "
                "tone and texture too (fit 2 washed the face out as the eyes closed); lips_apart as in fit 2",
        files=(ModelFile("controls_mobilestylegan_ffhq.pt", 6737,
                         "dbf7630a1ed57f49a13609feb36f2ecdfaa5fc3fe14fedf3ba9085016c2b4775"),),
        package=None,  # shipped inside latentreenact/weights
        package_dir="weights",
        install="reinstall latentreenact (the weights ship inside it)",
        licence="research / non-commercial: fitted on renders of a model derived from NVIDIA's StyleGAN2-FFHQ",
        description="the eyes_closed and lips_apart directions in mobilestylegan-ffhq's W (layers 0-11): the eyes "
                    "with the pose vector, identity embedding and skin held, the lips with the head angles, identity, "
                    "eye opening and mouth width held (see weights/DIRECTIONS_MODEL_CARD.md)",
    ),
}


def list_models() -> Dict[str, ModelEntry]:
    """All registered models by name."""
    return dict(REGISTRY)


def is_registered(name: Union[str, "os.PathLike[str]"]) -> bool:
    """True when ``name`` is a registered model name (also as a path: the command line hands names over as
    paths)."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    return isinstance(name, str) and name in REGISTRY


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered models: {sorted(REGISTRY)}") from None


def _package_dir(entry: ModelEntry) -> Optional[Path]:
    if entry.package is None:
        return Path(__file__).resolve().parent / entry.package_dir
    spec = importlib.util.find_spec(entry.package)  # locates without importing the package
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / entry.package_dir


def _verified(path: str, size: int, sha256: str) -> Optional[str]:
    """None when the file matches, else what is wrong."""
    file = Path(path)
    if not file.is_file():
        return "missing"
    stat = file.stat()
    if stat.st_size != size:
        return f"size {stat.st_size} bytes, expected {size}"
    return _hash_matches(path, stat.st_mtime_ns, stat.st_size, sha256)


@functools.lru_cache(maxsize=None)
def _hash_matches(path: str, mtime_ns: int, size: int, sha256: str) -> Optional[str]:
    """Hash check, cached per process for an unchanged file (same path, mtime and size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        return "checksum mismatch"
    return None


def resolve(name: str, root: Optional[Union[str, "os.PathLike[str]"]] = None, verify: bool = True) -> Path:
    """Directory holding the verified files of model ``name``."""
    entry = get_entry(name)
    candidates = []
    if root is not None:
        candidates.append(("argument", Path(root)))
    if os.environ.get(MODEL_DIR_ENV):
        candidates.append((MODEL_DIR_ENV, Path(os.environ[MODEL_DIR_ENV]) / name))
    if not candidates:
        package_dir = _package_dir(entry)
        if package_dir is None:
            raise ModelNotFoundError(f"model {name!r} needs the package {entry.package!r}, which is not installed: "
                                     f"{entry.install}")
        candidates.append(("package", package_dir))
    origin, directory = candidates[0]
    if verify:
        problems = {f.name: _verified(str(directory / f.name), f.size, f.sha256) for f in entry.files}
        problems = {k: v for k, v in problems.items() if v}
        if problems:
            detail = ", ".join(f"{k}: {v}" for k, v in problems.items())
            raise ModelNotFoundError(f"model {name!r} ({entry.version}) in {directory} (from {origin}) is incomplete "
                                     f"or altered ({detail}); to install it: {entry.install}")
    return directory


def model_file(name: str, kind: Optional[str] = None, root: Optional[Union[str, "os.PathLike[str]"]] = None) -> Path:
    """The verified file of a one-file registered model (its first file); ``kind`` (e.g. ``"encoder"``)
    is checked against the entry's: the one way a registered name becomes a file path."""
    entry = get_entry(name)
    if kind is not None and entry.kind != kind:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValueError(f"model {name!r} is a {entry.kind}, not {article} {kind}")
    return resolve(name, root) / entry.files[0].name


def load_registered_generator(name: str, root: Optional[Union[str, "os.PathLike[str]"]] = None) -> "torch.nn.Module":
    """Build the registered generator ``name`` from its verified files (eval mode, frozen, CPU)."""
    entry = get_entry(name)
    if entry.kind != "generator":
        raise ValueError(f"model {name!r} is a {entry.kind}, not a generator")
    directory = resolve(name, root)
    if entry.arch == "mobilestylegan":
        base = entry.config.get("base")
        if base is None:
            return MobileStyleGAN.from_ir(directory).eval().requires_grad_(False)
        return MobileStyleGAN.from_ir(resolve(str(base)), heads=model_file(name, root=root)).eval().requires_grad_(False)
    raise ValueError(f"model {name!r}: no builder for architecture {entry.arch!r}")
