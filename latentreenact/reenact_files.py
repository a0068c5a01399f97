"""File-level flows of the pipeline, as the ``latentreenact reenact`` and ``edit`` commands run them.

Check the files of a run before any model loads (the source photo, the driving input, the output
path); load a reenactor and invert a source photo, or load a prepared source (``.lrsource``, see
:mod:`latentreenact.source_file`); reenact a driving video, image or folder into output files; render edit
sweeps into a grid image or a GIF. Outputs are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .faces import probe_image, read_image
from .fileio import write_outputs
from .images import make_grid, save_image
from .latent_controls import LATENT_CONTROLS
from .net3d.controls import CONTROLS
from .output_paths import IMAGE_FORMATS, UnsupportedOutputError, check_none_is_input, check_not_input, check_output
from .reenact_video import ReenactOptions, driving_kind, folder_images
from .source import Source
from .reenactor import Reenactor
from .source_file import is_source_file
from .video import probe_video, write_gif

Sweep = Tuple[str, List[float]]


def check_source(source: Path) -> None:
    """Check a source photo from its header (a prepared ``.lrsource`` file: that it is a file), before any model
    loads: ``FileNotFoundError`` when it is missing, ``ValueError`` for a directory, a file that is not an image or
    one too large."""
    what = "prepared source" if is_source_file(source) else "source image"
    if not source.exists():
        raise FileNotFoundError(f"{what} not found: {source}")
    if source.is_dir():
        raise ValueError(f"{what} {source} is a directory; give a file")
    if not is_source_file(source):
        probe_image(source)


def check_saved_source(path: Optional[Path]) -> None:
    """Before any model loads: a prepared source is written to a ``.lrsource`` file (``UnsupportedOutputError``
    otherwise) in a writable place (:func:`~latentreenact.output_paths.check_output`); None: none is written."""
    if path is not None:
        check_output(path, "source")


def check_driving(driving: Path) -> str:
    """Check a driving input before any model loads and return its kind (``video`` or ``images``):
    a video is probed, every driving image is decoded (and dropped). ``FileNotFoundError`` when it is
    missing; ``ValueError`` (``VideoError``) for an unreadable one or a folder without images."""
    if not driving.exists():
        raise FileNotFoundError(f"driving input not found: {driving}")
    kind = driving_kind(driving)
    if kind == "video":
        probe_video(driving)
    else:
        for path in folder_images(driving) if driving.is_dir() else [driving]:
            read_image(path)
    return kind


def check_reenact_output(output: Path, driving: Path) -> str:
    """Check the output of :func:`reenact_to_files` before any model loads; return its kind: ``video``
    for a driving video, else ``image`` (one driving image into a file) or ``directory``.

    Raises ``UnsupportedOutputError`` for a suffix that does not fit the driving input and
    ``OutputNotWritableError`` for a path that cannot be written (``output_paths.check_output``)."""
    if driving_kind(driving) == "video":
        try:
            return check_output(output, "video")
        except UnsupportedOutputError as exc:
            raise UnsupportedOutputError(f"a driving video makes a video: {exc}") from None
    if driving.is_dir() and not output.is_dir() and output.suffix.lower() in IMAGE_FORMATS:
        raise UnsupportedOutputError(f"a driving folder makes one image per driving image: give an output "
                                     f"directory, not {output}")
    if driving.is_dir():
        return check_output(output, "directory")
    return check_output(output, "image", "directory")


def reenactor_overrides(detector: str = "hog", truncation: Optional[float] = None, roll: str = "rotate",
                        calibrate: bool = True) -> Dict[str, Any]:
    """The :class:`Reenactor` keyword arguments for a detector, a truncation (``None``: off), a roll mode and
    whether sources are calibrated (what the commands' model options set)."""
    return {"detector": detector, "roll": roll, "calibrate": calibrate,
            **({"truncation": truncation} if truncation is not None else {})}


def load_reenactor(model: str = "default", *, exact: bool = False, truncation: Optional[float] = None,
                   device: Union[str, torch.device] = "cpu", seed: int = 0, detector: str = "hog", roll: str = "rotate",
                   calibrate: bool = True) -> Reenactor:
    """The reenactor of ``model`` with the commands' model options (:func:`reenactor_overrides`)."""
    return Reenactor.from_pretrained(model, device=device, seed=seed, exact=exact,
                                     **reenactor_overrides(detector, truncation, roll, calibrate))


def load_and_invert(source: Path, model: str = "default", *, exact: bool = False, truncation: Optional[float] = None,
                    device: Union[str, torch.device] = "cpu", seed: int = 0, detector: str = "hog",
                    tune: Optional[str] = None, tune_steps: Optional[int] = None, align: bool = True,
                    progress: bool = False, also: Sequence[Path] = (), roll: str = "rotate",
                    calibrate: bool = True, check: Optional[Callable[[Reenactor], None]] = None
                    ) -> Tuple[Reenactor, Source]:
    """Read the source photo (and ``also``: more photos of the same person for joint tuning), load the
    reenactor (``roll``: its roll mode, see :data:`~latentreenact.reenactor.ROLL_MODES`; ``calibrate``: measure
    the source's pitch gain) and invert (and tune on) the source.

    The photos are read first, so an unreadable image fails before any model loads; ``check(reenactor)`` runs
    before the inversion (what the command will ask of the model: it fails before the minute of tuning).
    """
    photo = read_image(source)
    extra = [read_image(path) for path in also]
    reenactor = load_reenactor(model, exact=exact, truncation=truncation, device=device, seed=seed, detector=detector,
                               roll=roll, calibrate=calibrate)
    if check is not None:
        check(reenactor)
    src = reenactor.invert(photo, tune=tune, align=align, tune_steps=tune_steps, progress=progress, name=str(source),
                           also=extra)
    return reenactor, src


def load_prepared(path: Path, model: str = "default", *, exact: bool = False, truncation: Optional[float] = None,
                  device: Union[str, torch.device] = "cpu", seed: int = 0, detector: str = "hog", roll: str = "rotate",
                  calibrate: bool = True, check: Optional[Callable[[Reenactor], None]] = None
                  ) -> Tuple[Reenactor, Source]:
    """Load the reenactor and a source it prepared earlier (``Reenactor.save_source``): no inversion, no tuning."""
    if not Path(path).exists():
        raise FileNotFoundError(f"prepared source not found: {path}")
    reenactor = load_reenactor(model, exact=exact, truncation=truncation, device=device, seed=seed, detector=detector,
                               roll=roll, calibrate=calibrate)
    if check is not None:
        check(reenactor)
    return reenactor, reenactor.load_source(path)


def output_file_names(names: Sequence[str]) -> List[str]:
    """The files that :func:`write_images` writes into an output directory for driving images of these names:
    ``<stem>.png``, or ``<name>.png`` where two names share a stem."""
    stems = [Path(n).stem for n in names]
    return [f"{s}.png" if stems.count(s) == 1 else f"{n}.png" for s, n in zip(stems, names)]


def write_images(frames: Sequence[np.ndarray], names: Sequence[str], output: Path) -> None:
    """One image to a file OUT, or ``OUT/<name>.png`` per frame (staged: all or nothing)."""
    if output.suffix and not output.is_dir():
        save_image(frames[0], output)
        return
    files = output_file_names(names)
    write_outputs(output, {name: (lambda p, f=f: save_image(f, p)) for name, f in zip(files, frames)})


def check_outputs_not_inputs(output: Path, driving: Path, *sources: Path) -> None:
    """Before any work: ``OutputIsInputError`` when :func:`reenact_to_files` would overwrite an input: the output
    itself, or, for an output directory, any of the files it would write there (a driving image or a source photo
    in that folder under the same name)."""
    inputs = [driving, *sources]
    check_not_input(output, *inputs)
    if driving_kind(driving) == "video" or (output.suffix and not output.is_dir()):
        return
    files = folder_images(driving) if driving.is_dir() else [driving]
    check_none_is_input([output / name for name in output_file_names([f.name for f in files])], [*inputs, *files])


def reenact_to_files(reenactor: Reenactor, src: Source, driving: Path, output: Path, options: ReenactOptions,
                     max_frames: Optional[int] = None) -> Tuple[int, int]:
    """Reenact ``src`` with a driving video (to a video file) or images (to image files).

    Returns ``(frames, frames without a face)``.
    """
    if driving_kind(driving) == "video":
        summary = reenactor.reenact_video(src, driving, output, options, max_frames=max_frames)
        return summary.frames, summary.frames_without_face
    result = reenactor.reenact_images(src, driving, options)
    write_images(result.frames, result.names, output)
    return len(result.frames), len(result.frames_without_face)


def edit_args(fixed: Dict[str, Any], name: Optional[str] = None, value: float = 0.0) -> Dict[str, Any]:
    """Keyword arguments of ``Reenactor.edit`` with entry ``name`` (``yaw``, ..., ``exp_I``, or a control such as
    ``mouth_open`` or ``eyes_closed``) set to ``value``."""
    args = {**fixed, "expression": dict(fixed["expression"]), "controls": dict(fixed.get("controls") or {})}
    if name is not None:
        if name in CONTROLS or name in LATENT_CONTROLS:
            args["controls"][name] = value
        elif name.startswith("exp_"):
            args["expression"][int(name[4:])] = value
        else:
            args[name] = value
    return args


def render_sweeps(reenactor: Reenactor, src: Source, fixed: Dict[str, Any],
                  sweeps: Sequence[Sweep]) -> List[List[np.ndarray]]:
    """One row of edited images per sweep ``(name, values)``, the other settings from ``fixed``. Every value is
    checked (``Reenactor.edit_delta``, ``control_offset``) before any is rendered, so an out-of-range one fails at
    once."""
    for name, values in sweeps:
        for v in values:
            args = edit_args(fixed, name, v)
            args.pop("paste_back", None)
            reenactor.edit_delta(src, **args)
            reenactor.control_offset(args.get("controls"))
    return [[reenactor.edit(src, **edit_args(fixed, name, v)) for v in values] for name, values in sweeps]


def write_sweeps(rows: List[List[np.ndarray]], output: Path, fps: float = 8.0) -> None:
    """Write sweep rows as a GIF (each sweep forwards and back) or a grid image (one row per sweep)."""
    if output.suffix.lower() == ".gif":
        frames = [f for row in rows for f in row + row[-2:0:-1]]
        write_gif(output, frames, fps)
        return
    columns = max(len(row) for row in rows)
    blank = np.zeros_like(rows[0][0])
    tiles = [f for row in rows for f in row + [blank] * (columns - len(row))]
    save_image(make_grid(np.stack(tiles), columns=columns), output)
