"""The reenactment API: ``Reenactor`` (invert a source face, reenact it from driving faces, edit it).

Data flow (docs/architecture.md §2): source photo -> FFHQ crop -> encoder -> W+ (optionally a tuned generator
copy) and Net3D -> p_s; driving face -> crop -> Net3D -> p_t; Δp = rescale(p_t) - rescale(p_ref);
W+ layers 0..L-1 += A Δp; the generator renders the source identity in the driving pose.

Which reference ``p_ref`` is used:

- ``relative=True`` (default): a *sequence* (a video, a list or a folder of images) moves the
  source by the motion relative to the first driving frame with a face (the paper's relative
  reenactment: Δp_t = rescale(p_t) - rescale(p_first)); a *single* driving image uses the source,
  Δp = rescale(p_t) - rescale(p_s).
- ``relative=False`` (absolute): Δp = rescale(p_t) - rescale(p_s) for every frame.
- ``absolute_expression=True`` with ``relative=True`` (opt-in): the angles as in relative mode, the
  expression entries against the source, so the source takes the driving face's expression itself.

Roll (``roll="rotate"``, the default): an FFHQ-aligned generator draws every face with level eyes and A's
roll column hardly rolls the head, so the roll entry of Δp is taken out of A's input and applied after
rendering as an in-plane rotation of the face region (:func:`latentreenact.faces.roll.roll_faces`);
``roll="latent"`` feeds it to A as the paper does.

Per-source calibration (``calibrate=True``, the default): A is linear and was trained on generated faces, so
how far a given (tuned) source's face turns per degree asked of it varies from face to face (0.3 to 1.6 of the
request, docs/driving.md). After inversion the reenactor renders the source at ±8° of pitch and ±10° of yaw
through A, measures the renders with its own estimator and stores the gains (``Source.pose_gains``); a driving
Δp's pitch and yaw are divided by them, so the estimator sees the output move as much as it saw the driving face
move (a scale error of the estimator cancels, as it measures both). A's expression columns also turn the head
(up to 4° of yaw at ±4 units): the source is rendered at ±4 units of each, the yaw the estimator reads per unit
is stored (``Source.pose_leaks``) and taken out of a driving Δp's yaw before the gains divide it. Edits are
not calibrated: they ask for angles, which the estimator's scale on renders would distort (calibrated pitch
edits overshot by up to 1.7x, docs/driving.md).

The matrix's bias is applied even when Δp = 0, as in the released model. With ``truncation=psi``
(the official renders' "compat" setting, docs/architecture.md §7) every latent is rendered as
``centre + psi * (w - centre)`` after the shift, around a stored (seeded) truncation centre.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from directions.matrix import DirectionMatrix, spec_from_matrix
from inversion.invert import invert_aligned
from inversion.recipes import DEFAULT_RECIPE, get_recipe, run_recipe

from .driving_landmarks import DrivingMeasurement, landmark_openings
from .edit_controls import EditControls
from .face_meter import ALIGN_SIZE, FaceMeter
from .faces import NoFaceError, as_rgb_uint8, read_image
from .faces.roll import roll_faces
from .fileio import CheckpointFormatError
from .identity.same_person import SAME_PERSON_DISTANCE, face_distance
from .images import from_uint8, resize_square, to_greyscale, to_uint8
from .latent_controls import LatentControls
from .live import LiveReenactor
from .model_parts import check_fit, load_parts
from .pose_delta import apply_gains, remove_leaks, split_roll
from .net3d.pose_vector import PoseVectorSpec
from .output_frame import compose, roll_region_for
from .reenact_video import (ImageReenactment, ReenactOptions, VideoSummary, driving_kind, reenact_images,
                            reenact_video, video_frames)
from .sampling import render, truncation_centre
from .source import Source
from .source_calibration import follower_gains, pose_gains, pose_leaks
from .source_file import load_source, model_fingerprint, save_source

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
ImageInput = Union[np.ndarray, PathLike]

#: Net3D backends that measure in the same BFM pose and coefficient space (an A trained with one drives with another)
BFM_BACKENDS = {"bfm-net", "bfm-fit", "bfm-rigid"}
DEFAULT_RENDER_SIZE = 256
#: how the roll entry of Δp moves the face: an in-plane rotation after rendering, or A's roll column
ROLL_MODES = ("rotate", "latent")
# ----------------------------------------------------------------------------------------- helpers

def _as_image(image: ImageInput, name: str) -> Tuple[np.ndarray, str]:
    if isinstance(image, (str, os.PathLike)):
        return read_image(image), str(image)
    return as_rgb_uint8(image, name=name), name


def _finite_check(tensor: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{what} contains NaN or Inf")
    return tensor


# ----------------------------------------------------------------------------------------- reenactor

class Reenactor:
    """Invert a source face, reenact it from driving faces, or edit its pose and expression.

    ``generator``: any generator of the protocol; ``encoder``: an e4e-style encoder (``None``: the
    slow optimisation projector); ``estimator``: a Net3D backend taking aligned crops;
    ``directions``: the matrix A (its ``config`` gives the pose-vector layout and ranges unless
    ``spec`` is passed). ``render_size`` defaults to min(256, generator resolution);
    ``align_size`` is the crop size fed to Net3D; ``truncation``: the compat psi (None: off);
    ``seed`` seeds every random step (truncation centre, projector, tuning); ``detector``: the
    face detector for ``align=True`` inputs; ``roll``: one of :data:`ROLL_MODES`; ``calibrate``: measure each
    inverted source's gains (pitch, yaw) and yaw leaks (expression entries), by
    :mod:`~latentreenact.source_calibration` (see this module's docstring); ``controls``: the W-space controls
    (``eyes_closed``, ``lips_apart``, :mod:`latentreenact.latent_controls`), None to offer none.
    """

    def __init__(self, generator: Any, encoder: Any, estimator: Any, directions: DirectionMatrix, *,
                 render_size: Optional[int] = None, truncation: Optional[float] = None, align_size: int = ALIGN_SIZE,
                 spec: Optional[PoseVectorSpec] = None, seed: int = 0, detector: str = "hog",
                 roll: str = "rotate", calibrate: bool = True, controls: Optional[LatentControls] = None) -> None:
        self.generator, self.encoder = generator, encoder
        self.device = generator.device
        self.directions = directions.to(self.device).eval().requires_grad_(False)
        self.meter = FaceMeter(estimator, spec if spec is not None else spec_from_matrix(directions), align_size,
                               detector, self.device)
        self.seed = int(seed)
        resolution = int(generator.resolution)
        self.render_size = int(render_size) if render_size else min(DEFAULT_RENDER_SIZE, resolution)
        if not 1 <= self.render_size <= resolution:
            raise ValueError(f"render_size must be in [1, {resolution}] for this generator, got {render_size}")
        if truncation is not None and not (math.isfinite(truncation) and truncation > 0):
            raise ValueError(f"truncation psi must be a positive number or None, got {truncation}")
        self.truncation = truncation
        if roll not in ROLL_MODES:
            raise ValueError(f"unknown roll mode {roll!r}; choose from {', '.join(ROLL_MODES)}")
        self.roll, self.calibrate_sources = roll, bool(calibrate)
        if self.spec.k != directions.k:
            raise ValueError(f"the pose vector has {self.spec.k} entries but the direction matrix takes {directions.k}")
        check_fit(generator, encoder, directions)
        backend = directions.config.get("backend")
        used = getattr(estimator, "name", backend)
        same_space = {backend, used} <= BFM_BACKENDS  # one BFM coefficient space: bfm-net regresses bfm-fit's labels
        if backend and used != backend and not same_space:
            log.warning("the direction matrix was trained with Net3D backend %r but the estimator is %r",
                        backend, getattr(estimator, "name", "?"))
        self._centre: Optional[torch.Tensor] = None
        self.edits = EditControls(self.spec, generator.n_latent)
        self.latent_controls = controls

    @classmethod
    def from_pretrained(cls, model: PathLike = "default", device: Union[str, torch.device] = "cpu", seed: int = 0,
                        exact: bool = False, **overrides: Any) -> "Reenactor":
        """A reenactor from ``"default"`` (registered models; ``exact=True`` renders with the exact
        1024 px generator instead of the fast 256 px heads) or a model directory (see
        :func:`latentreenact.model_parts.load_parts`).
        ``overrides``: constructor arguments (e.g. ``truncation=0.7``)."""
        return cls(**{**load_parts(model, device, exact), "seed": seed, **overrides})

    # ------------------------------------------------------------------ latents and rendering
    def truncation_centre(self) -> torch.Tensor:
        """The stored truncation centre [1, D] (the generator's average w, or a seeded mean)."""
        if self._centre is None:
            with torch.no_grad():
                self._centre = truncation_centre(self.generator, seed=self.seed).to(self.device)
        return self._centre

    def shift(self, src: Source, dp: torch.Tensor, offset: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The source's W+ moved by Δp [B, k] (rescaled), plus a W+ ``offset`` [1, n_latent, D] when given (the
        W-space controls, :meth:`control_offset`): [B, n_latent, D]."""
        self._check_source(src)
        dp = self._checked_delta(dp).to(self.device)
        with torch.no_grad():
            wplus = src.wplus.to(self.device)
            if offset is not None:
                offset = _finite_check(torch.as_tensor(offset), "W+ offset")
                if offset.ndim != 3 or offset.shape[1:] != wplus.shape[1:] or offset.shape[0] not in (1, dp.shape[0]):
                    raise ValueError(f"the W+ offset must be [1 or {dp.shape[0]}, {wplus.shape[1]}, {wplus.shape[2]}], "
                                     f"got {tuple(offset.shape)}")
                wplus = wplus + offset.to(wplus)
            return self.directions.shift(wplus.expand(dp.shape[0], -1, -1), dp)

    def render(self, src: Source, wplus: torch.Tensor) -> torch.Tensor:
        """Render W+ [B, L, D] with the source's generator at ``render_size``: [B, 3, S, S] in [-1, 1]."""
        _finite_check(wplus, "W+")
        with torch.no_grad():
            if self.truncation is not None:
                wplus = self.generator.truncate(wplus, self.truncation, self.truncation_centre())
            return render(src.generator, wplus.to(self.device), self.render_size, noise_mode="const")

    def _checked_delta(self, dp: torch.Tensor) -> torch.Tensor:
        """Δp as float32, after checking that it is [B, k] and finite (ValueError)."""
        dp = _finite_check(torch.as_tensor(dp, dtype=torch.float32), "Δp")
        if dp.ndim != 2 or dp.shape[1] != self.spec.k or dp.shape[0] == 0:
            raise ValueError(f"Δp must be [B, {self.spec.k}] with B >= 1, got {tuple(dp.shape)}")
        return dp

    def split_roll(self, dp: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Δp [B, k] as A takes it and the roll applied after rendering, in degrees [B]: with ``roll="rotate"``
        and a layout with roll, Δp without its roll entry and that entry unscaled; otherwise ``(Δp, None)``."""
        return split_roll(self.spec, dp) if self.roll == "rotate" else (dp, None)

    def calibrated(self, src: Source, dp: torch.Tensor) -> torch.Tensor:
        """Δp [B, k] with the head turn of its expression entries taken out of each angle of ``src.pose_leaks``
        (:func:`~latentreenact.pose_delta.remove_leaks`), then each entry of ``src.pose_gains`` divided by its gain
        (clipped to :data:`~latentreenact.pose_delta.GAIN_LIMITS`)."""
        return apply_gains(self.spec, remove_leaks(self.spec, dp, src.pose_leaks), src.pose_gains)

    def calibrate_leaks(self, src: Source) -> Dict[str, Dict[str, float]]:
        """How far the estimator sees this source's head turn per unit asked of each expression entry, as
        ``{angle: {entry: leak}}`` (:func:`~latentreenact.source_calibration.pose_leaks`)."""
        return pose_leaks(self, src)

    def calibrate_followers(self, src: Source) -> Dict[str, float]:
        """How far this source's renders open per unit asked of each following control, as ``{measure: gain}``
        (:func:`~latentreenact.source_calibration.follower_gains`)."""
        return follower_gains(self, src)

    def _calibrate_source(self, src: Source) -> None:
        """Measure and store the source's pose gains, yaw leaks and follower gains (in ``src`` and ``src.info``)."""
        src.pose_gains = self.calibrate(src)
        src.info["pose_gains"] = dict(src.pose_gains)
        src.pose_leaks = self.calibrate_leaks(src)
        src.info["pose_leaks"] = {angle: dict(leaks) for angle, leaks in src.pose_leaks.items()}
        for measure, gain in self.calibrate_followers(src).items():
            src.info[f"{measure}_gain"] = gain

    # ------------------------------------------------------------------ prepared source files
    def fingerprint(self) -> str:
        """SHA-256 of the models a prepared source depends on (:func:`~latentreenact.source_file.model_fingerprint`),
        computed from the models as they are now (about 0.1 s)."""
        return model_fingerprint(self.generator, self.directions, self.spec.names,
                                 str(getattr(self.estimator, "name", type(self.estimator).__name__)),
                                 self.latent_controls)

    def save_source(self, src: Source, path: Union[str, "os.PathLike[str]"]) -> Path:
        """Save an inverted (tuned, calibrated) source, to be loaded by :meth:`load_source` with the same models
        (:mod:`latentreenact.source_file`; the ``.lrsource`` suffix is what the command line recognises)."""
        self._check_source(src)
        return save_source(src, path, self.generator, self.fingerprint())

    def load_source(self, path: Union[str, "os.PathLike[str]"]) -> Source:
        """A source saved by :meth:`save_source` with the same models (``CheckpointFormatError`` otherwise). With
        ``calibrate=False`` its gains and leaks are dropped; with ``calibrate=True`` a source saved without them is
        calibrated now."""
        src = load_source(path, self.generator, self.fingerprint(), self.device)
        if src.crop.shape[:2] != (self.align_size, self.align_size):
            raise CheckpointFormatError(f"{path}: the source's crop is {src.crop.shape[0]} px; this reenactor aligns "
                                        f"faces at {self.align_size} px")
        self._check_source(src)
        if not self.calibrate_sources:
            src.pose_gains, src.pose_leaks = {}, {}
        elif "pose_gains" not in src.info:
            self._calibrate_source(src)
        elif not src.pose_gains and src.info["pose_gains"]:  # saved by a reenactor that did not calibrate
            src.pose_gains = {k: float(v) for k, v in src.info["pose_gains"].items()}
            src.pose_leaks = {a: {k: float(v) for k, v in leaks.items()}
                              for a, leaks in (src.info.get("pose_leaks") or {}).items()}
        return src

    def calibrate(self, src: Source, steps: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
        """The source's pose gains: the estimator's reading of renders at -step and +step through A alone, over
        2 step, per entry of ``steps`` (default :data:`~latentreenact.pose_delta.CALIBRATION_STEPS`; see
        :func:`~latentreenact.source_calibration.pose_gains`)."""
        return pose_gains(self, src, steps)

    def faces(self, src: Source, dp: torch.Tensor, calibrate: bool = True,
              offset: Optional[torch.Tensor] = None, roll_region: str = "face") -> np.ndarray:
        """The source's face moved by Δp [B, k] (rescaled): calibrated (:meth:`calibrated`; ``calibrate=False``
        for edits, which ask for angles rather than a driving face's measured motion), the shifted W+ (plus
        ``offset``, see :meth:`shift`) rendered, then rolled (see :meth:`split_roll`; ``roll_region``: ``"face"``
        for faces to paste back, ``"crop"`` for face-only output, see :func:`~latentreenact.faces.roll.roll_faces`);
        uint8 [B, S, S, 3]."""
        dp = self._checked_delta(dp)  # before the calibration and the roll split index its columns
        latent, degrees = self.split_roll(self.calibrated(src, dp) if calibrate else dp)
        images = self.render(src, self.shift(src, latent, offset))
        if degrees is not None:
            images = roll_faces(images, degrees, region=roll_region)
        return _in_source_colours(src, to_uint8(images))

    def render_source(self, src: Source) -> np.ndarray:
        """The source's reconstruction (no shift) as uint8 [S, S, 3]."""
        return _in_source_colours(src, to_uint8(self.render(src, src.wplus)))[0]

    def _check_source(self, src: Source) -> None:
        if not isinstance(src, Source):
            raise TypeError(f"expected a Source (from Reenactor.invert or load_source), got {type(src).__name__}; "
                            "invert a photo first: src = reenactor.invert(photo)")
        if tuple(src.wplus.shape[1:]) != (self.generator.n_latent, self.generator.style_dim):
            raise ValueError(f"{src.name}: W+ {tuple(src.wplus.shape)} does not fit the generator "
                             f"[1, {self.generator.n_latent}, {self.generator.style_dim}]")
        if src.p.shape[1] != self.spec.k:
            raise ValueError(f"{src.name}: p has {src.p.shape[1]} entries, the layout {self.spec.k}")
        _finite_check(src.wplus, f"{src.name}: W+")

    # ------------------------------------------------------------------ faces and pose (see FaceMeter)
    @property
    def spec(self) -> PoseVectorSpec:
        """The pose-vector layout: what Net3D measures and A takes."""
        return self.meter.spec

    @property
    def estimator(self) -> Any:
        """The Net3D backend that measures source and driving crops."""
        return self.meter.estimator

    @property
    def detector(self) -> str:
        """The face detector for ``align=True`` inputs."""
        return self.meter.detector

    @property
    def align_size(self) -> int:
        """The size of the aligned crops fed to Net3D."""
        return self.meter.align_size

    def crop(self, image: np.ndarray, align: bool = True, name: str = "input", *,
             warn_several: bool = False, landmarks: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """The aligned crop of the largest face and its crop->image transform (:meth:`FaceMeter.crop`)."""
        return self.meter.crop(image, align, name, warn_several=warn_several, landmarks=landmarks)

    def driving_crop(self, frame: np.ndarray, align: bool = True, name: str = "frame") -> Optional[np.ndarray]:
        """The aligned crop of a driving frame, or None without a usable face (:meth:`FaceMeter.driving_crop`)."""
        return self.meter.driving_crop(frame, align, name)

    def pose(self, crops: Sequence[np.ndarray]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Raw pose vectors of aligned crops: (p [N, k], found [N]) (:meth:`FaceMeter.pose`)."""
        return self.meter.pose(crops)

    def pose_in_frame(self, crops: Sequence[np.ndarray], transforms: Sequence[np.ndarray],
                      landmarks: Optional[Sequence[np.ndarray]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`pose` of crops cut from frames, with roll in the frame (:meth:`FaceMeter.measure_in_frame`)."""
        measured = self.meter.measure_in_frame(crops, transforms, landmarks)
        return measured.p, measured.found

    def measure_in_frame(self, crops: Sequence[np.ndarray], transforms: Sequence[np.ndarray],
                         landmarks: Optional[Sequence[np.ndarray]] = None) -> DrivingMeasurement:
        """:meth:`pose_in_frame` plus each crop's eye and mouth opening (:meth:`FaceMeter.measure_in_frame`)."""
        return self.meter.measure_in_frame(crops, transforms, landmarks)

    def measure(self, frames: Iterable[np.ndarray], align: bool = True, batch_size: int = 8,
                progress: bool = False, total: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Raw pose vectors of driving frames, streamed: (p [N, k], found [N]) (:meth:`FaceMeter.measure_driving`)."""
        measured = self.meter.measure_driving(frames, align, batch_size, progress, total)
        return measured.p, measured.found

    def measure_driving(self, frames: Iterable[np.ndarray], align: bool = True, batch_size: int = 8,
                        progress: bool = False, total: Optional[int] = None) -> DrivingMeasurement:
        """:meth:`measure`, plus each frame's eye and mouth opening (:meth:`FaceMeter.measure_driving`)."""
        return self.meter.measure_driving(frames, align, batch_size, progress, total)

    # ------------------------------------------------------------------ inversion
    def invert(self, image: ImageInput, tune: Optional[str] = DEFAULT_RECIPE, align: bool = True, *,
               tune_steps: Optional[int] = None, perceptual: Any = "default", projector_steps: int = 200,
               progress: bool = False, name: Optional[str] = None, check_identity: bool = True,
               landmarks: Optional[np.ndarray] = None, tune_callback: Optional[Callable[[int], None]] = None,
               also: Sequence[ImageInput] = (), also_landmarks: Optional[Sequence[np.ndarray]] = None) -> Source:
        """Invert the largest face of ``image`` (a path or an array; several faces: a warning says so): crop,
        encoder (or projector) -> W+, Net3D -> p; ``tune``: an inversion recipe of
        :data:`inversion.recipes.RECIPES` (default ``"released"``, the paper's tuning; ``"editable"``: pivot
        search then tuning with the locality term; ``None`` / ``"none"``: the encoder's W+ as it is).
        ``also``: more photos of the same person, used only by the tuning (joint tuning over all photos,
        each with its own pivot; the first photo is the one reenacted and edited); ``also_landmarks``: their
        faces' 68 points, found earlier (no detection).
        ``check_identity``: measure the reconstruction's dlib distance to the crop (``info["identity_distance"]``)
        and log a warning above 0.6 (another person by dlib's convention). ``align=False``: ``image`` is
        already an aligned square crop (no detection); ``landmarks``: the face's 68 points in ``image``,
        found earlier (no detection); ``tune_callback``: called after each pivot-search and tuning step (an
        exception it raises stops the inversion)."""
        recipe = get_recipe(tune)  # an unknown recipe fails before any work
        if isinstance(also, (str, os.PathLike)):
            raise TypeError(f"also must be a list of photos of the same person, got one path {str(also)!r}: "
                            "pass also=[path]")
        if also and recipe.tuning is None:
            raise ValueError(f"extra photos of the person are used only by tuning; recipe {tune!r} does not tune "
                             f"(choose released, pti, local or editable)")
        if also_landmarks is not None and len(also_landmarks) != len(also):
            raise ValueError(f"also_landmarks must hold one entry per extra photo ({len(also)}), "
                             f"got {len(also_landmarks)}")
        photo, label = _as_image(image, name or "source")
        crop, transform = self.crop(photo, align, label, warn_several=landmarks is None, landmarks=landmarks)
        wplus, _, info = invert_aligned(self.generator, crop, self.render_size, encoder=self.encoder,
                                        steps=projector_steps, perceptual=perceptual, seed=self.seed,
                                        progress=progress)
        wplus = _finite_check(wplus.detach(), f"{label}: the inverted W+")
        if wplus.shape[2] != self.generator.style_dim:
            raise ValueError(f"the encoder predicts {wplus.shape[2]}-d styles; the generator takes "
                             f"{self.generator.style_dim}")
        params = self.meter.estimate([crop])
        p, found = self.meter.vectors(params)
        if not bool(found[0]):
            raise NoFaceError(f"{label}: Net3D found no usable face in the aligned source crop")
        openings = {measure: float(v[0]) for measure, v in landmark_openings(params)._asdict().items()}
        if align:
            p = self.meter.frame_roll(p, [transform])  # in the photo's frame, like the driving frames
        generator = self.generator
        if tune not in (None, "none"):
            extras = [self._extra_crop(extra, align, f"{label} (extra photo {i + 1})", projector_steps, perceptual,
                                       None if also_landmarks is None else also_landmarks[i])
                      for i, extra in enumerate(also)]
            crops = [crop] + [c for c, _ in extras]
            target = torch.cat([from_uint8(resize_square(c, self.render_size), self.device) for c in crops])
            wplus = torch.cat([wplus] + [w for _, w in extras])
            wplus, tuned, recipe_info = run_recipe(self.generator, wplus, target, tune, tune_steps=tune_steps,
                                                   perceptual=perceptual, seed=self.seed, progress=progress,
                                                   callback=tune_callback)
            wplus = _finite_check(wplus[:1].detach(), f"{label}: the pivot W+")
            recipe_info["photos"] = 1 + len(also)
            if tuned is not None:
                generator = tuned.eval().requires_grad_(False)
            info = {**info, **recipe_info}
        src = Source(crop=crop, wplus=wplus, p=p, generator=generator, transform=transform, image=photo,
                     name=label, info=info)
        for measure, value in openings.items():
            if math.isfinite(value):
                src.info[f"{measure}_opening"] = value
        if self.calibrate_sources:
            self._calibrate_source(src)
        if check_identity:
            distance = face_distance(crop, self.render_source(src))
            src.info["identity_distance"] = distance
            if distance is None or distance > SAME_PERSON_DISTANCE:
                measured = "no face was found in it" if distance is None else f"dlib distance {distance:.2f} > 0.6"
                advice = (f"use a tuning recipe (the default tune={DEFAULT_RECIPE!r}, --tune {DEFAULT_RECIPE})"
                          if tune in (None, "none", "pivot")
                          else "try a sharper, frontal, well-lit photo, or more tuning steps")
                log.warning("%s: the inverted face looks like another person (%s); %s", label, measured, advice)
        return src

    def _extra_crop(self, image: ImageInput, align: bool, label: str, projector_steps: int,
                    perceptual: Any, landmarks: Optional[np.ndarray] = None) -> Tuple[np.ndarray, torch.Tensor]:
        """Another photo of the source person for joint tuning: its crop and the encoder's W+ [1, L, D]."""
        photo, label = _as_image(image, label)
        crop, _ = self.crop(photo, align, label, warn_several=landmarks is None, landmarks=landmarks)
        wplus, _, _ = invert_aligned(self.generator, crop, self.render_size, encoder=self.encoder,
                                     steps=projector_steps, perceptual=perceptual, seed=self.seed)
        return crop, _finite_check(wplus.detach(), f"{label}: the inverted W+")

    # ------------------------------------------------------------------ editing
    @property
    def latent_controls(self) -> Optional[LatentControls]:
        """The W-space controls (``eyes_closed``, ``lips_apart``), or None; checked against the generator when set."""
        return self.edits.latent

    @latent_controls.setter
    def latent_controls(self, controls: Optional[LatentControls]) -> None:
        if controls is not None:
            controls.check_fits(self.generator.n_latent, self.generator.style_dim)
        self.edits.latent = controls

    def control_names(self) -> Tuple[str, ...]:
        """The expression controls offered: the pose-vector ones (``mouth_open``, ``smile``) and the W-space ones
        (``eyes_closed``, ``lips_apart`` with the default model); see :class:`EditControls`."""
        return self.edits.names()

    def control_offset(self, controls: Optional[Mapping[str, float]]) -> Optional[torch.Tensor]:
        """ΔW+ [1, n_latent, D] of the W-space controls among ``controls`` (None when there are none)."""
        return self.edits.offset(controls)

    def control_series(self, name: str, values: torch.Tensor) -> torch.Tensor:
        """ΔW+ [N, n_latent, D] of one W-space control taking ``values`` [N] (e.g. ``eyes_closed`` per frame)."""
        return self.edits.series(name, values)

    def control_directions(self) -> Dict[str, torch.Tensor]:
        """Raw Δp [k] of a value of 1 of each pose-vector control (``mouth_open``, ``smile``)."""
        return self.edits.pose_directions()

    def edit_delta(self, src: Source, yaw: Optional[float] = None, pitch: Optional[float] = None,
                   roll: Optional[float] = None, expression: Optional[Mapping[int, float]] = None,
                   jaw: Optional[float] = None, absolute: bool = False,
                   controls: Optional[Mapping[str, float]] = None) -> torch.Tensor:
        """Δp [1, k] for an edit of ``src`` (:meth:`EditControls.delta`): angles in degrees, expressions
        (``{index: value}``) in raw units, added to the source's values or set (``absolute=True``); ``controls``
        (``{"mouth_open": 1.0, "eyes_closed": 0.5}``, see :meth:`control_names`) on top."""
        self._check_source(src)
        return self.edits.delta(src.p, yaw=yaw, pitch=pitch, roll=roll, expression=expression, jaw=jaw,
                                absolute=absolute, controls=controls)

    def edit_latent(self, src: Source, **edit: Any) -> torch.Tensor:
        """The edited W+ [1, L, D] (arguments of :meth:`edit_delta`); with ``roll="rotate"`` it holds no roll
        (the roll is a rotation of the rendered face, see :meth:`faces`)."""
        dp = self.split_roll(self.edit_delta(src, **edit))[0]
        return self.shift(src, dp, self.control_offset(edit.get("controls")))

    def edit(self, src: Source, yaw: Optional[float] = None, pitch: Optional[float] = None,
             roll: Optional[float] = None, expression: Optional[Mapping[int, float]] = None,
             jaw: Optional[float] = None, absolute: bool = False, paste_back: bool = False,
             controls: Optional[Mapping[str, float]] = None) -> np.ndarray:
        """The source with its pose / expression edited (see :meth:`edit_delta`): uint8 [S, S, 3], or
        the source photo with the edited face pasted back."""
        dp = self.edit_delta(src, yaw=yaw, pitch=pitch, roll=roll, expression=expression, jaw=jaw,
                             absolute=absolute, controls=controls)
        face = self.faces(src, dp, calibrate=False, offset=self.control_offset(controls),
                          roll_region=roll_region_for(paste_back))[0]
        return compose(src, face, paste_back=paste_back)

    # ------------------------------------------------------------------ reenactment
    def reenact_images(self, src: Source, driving: Any, options: Optional[ReenactOptions] = None,
                       **settings: Any) -> ImageReenactment:
        """Reenact from driving images (a path, an array, a list of them or a folder): frames, names
        and the frames without a face (see :func:`latentreenact.reenact_video.reenact_images`).
        ``options`` / ``settings``: a :class:`ReenactOptions` and keyword changes to it."""
        self._check_source(src)
        return reenact_images(self, src, driving, _options(options, settings))

    def reenact(self, src: Source, driving: Any, options: Optional[ReenactOptions] = None,
                **settings: Any) -> List[np.ndarray]:
        """Reenacted uint8 frames for driving images (path, array, list, folder) or a video path (all its
        frames are returned in memory: use :meth:`reenact_video` for long clips). ``options`` /
        ``settings``: a :class:`ReenactOptions` and keyword changes to it (``smoothing`` None: 0.5 for
        videos, 0 for images)."""
        self._check_source(src)
        opts = _options(options, settings)
        if driving_kind(driving) == "video":
            return list(video_frames(self, src, Path(driving), opts)[1])
        return reenact_images(self, src, driving, opts).frames

    def live(self, src: Source, **settings: Any) -> LiveReenactor:
        """A frame-by-frame reenactor of ``src`` for a camera or a stream (``live.step(frame)`` per frame; see
        :class:`latentreenact.live.LiveReenactor` for ``smoothing``, ``relative``, ``absolute_expression``,
        ``follow_eyes``, ``follow_mouth``, ``expression_limit``, ``paste_back``, ``max_side``, ``track``)."""
        self._check_source(src)
        return LiveReenactor(self, src, **settings)

    def reenact_video(self, src: Source, video: PathLike, output: PathLike, options: Optional[ReenactOptions] = None,
                      *, max_frames: Optional[int] = None, **settings: Any) -> VideoSummary:
        """Reenact from a driving video (its first ``max_frames`` frames if given) into ``output`` (.mp4
        etc. with the driving clip's audio, or .gif), streamed and written atomically (see
        :func:`latentreenact.reenact_video.reenact_video`). ``options`` / ``settings``: as :meth:`reenact`."""
        self._check_source(src)
        return reenact_video(self, src, video, output, _options(options, settings), max_frames=max_frames)


def _in_source_colours(src: Source, faces: np.ndarray) -> np.ndarray:
    """Rendered faces uint8 [B, S, S, 3], in grey when the source's face is grey (a black-and-white photo: the
    generator renders every face in colour)."""
    return to_greyscale(faces) if src.greyscale else faces


def _options(options: Optional[ReenactOptions], settings: Dict[str, Any]) -> ReenactOptions:
    """``options`` (default: the defaults) with the keyword ``settings`` applied."""
    if options is not None and not isinstance(options, ReenactOptions):
        raise TypeError(f"options must be a ReenactOptions, got {type(options).__name__}; pass settings as keywords "
                        "(reenact(src, driving, smoothing=0.3)) or ReenactOptions(**settings)")
    base = options if options is not None else ReenactOptions()
    return base.with_(**settings) if settings else base
