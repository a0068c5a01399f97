"""Tiny reenactor parts shared by the Reenactor, CLI and demo tests: a 16 px generator, a tiny light
encoder, a fake Net3D estimator computed from image statistics, and a small direction matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from helpers import tiny_generator
from latentreenact.images import to_uint8
from latentreenact.latent_controls import LatentControls

SIZE = 16
RANGES = [[-40, 40], [-20, 20], [-20, 20]] + [[-2.0, 2.0]] * 10


class FakeEstimator:
    """Deterministic, differentiable pose from image statistics: angles from the mean colour channels,
    expressions from the mean grey level of 10 horizontal bands; near-black images have no face."""

    name = "fake"
    differentiable = True
    with_landmarks = False

    def estimate(self, images, missing="raise"):  # type: ignore[no-untyped-def]
        from latentreenact.net3d.params import PoseParams

        x = images.float()
        angles = 30.0 * x.mean(dim=(2, 3))
        expression = 2.0 * F.adaptive_avg_pool2d(x.mean(1, keepdim=True), (10, 1)).flatten(1)
        found = x.mean(dim=(1, 2, 3)) > -0.9
        if missing == "raise" and not found.all():
            raise ValueError("no face")
        angles = torch.where(found[:, None], angles, torch.nan)
        expression = torch.where(found[:, None], expression, torch.nan)
        extras = {}
        if self.with_landmarks:  # "detected" landmarks: eye aspect ratio 0.3 + 0.1 * the mean of channel 1, inner-lip
            # gap 0.1 + 0.05 * the mean of channel 2
            extras["detected_landmarks"] = face_landmarks(0.3 + 0.1 * x[:, 1].mean(dim=(1, 2)),
                                                          0.1 + 0.05 * x[:, 2].mean(dim=(1, 2)))
        return PoseParams(angles=angles, expression=expression, landmarks=torch.zeros(len(x), 68, 2),
                          backend=self.name, found=found, extras=extras)


def eye_landmarks(ratios: torch.Tensor) -> torch.Tensor:
    """68 landmarks [B, 68, 2] whose two eyes (20 px wide) have eye aspect ratio ``ratios`` [B]; other points 0."""
    points = torch.zeros(len(ratios), 68, 2)
    for a, b, ups, lows, x0 in ((36, 39, (37, 38), (41, 40), 0.0), (42, 45, (43, 44), (47, 46), 50.0)):
        points[:, a, 0], points[:, b, 0] = x0, x0 + 20.0
        for k, (up, low) in enumerate(zip(ups, lows)):
            points[:, up, 0] = points[:, low, 0] = x0 + 20.0 * (k + 1) / 3
            points[:, up, 1], points[:, low, 1] = -10.0 * ratios, 10.0 * ratios
    return points


def face_landmarks(eye: torch.Tensor, mouth: torch.Tensor, width: Optional[torch.Tensor] = None) -> torch.Tensor:
    """68 landmarks [B, 68, 2] with eye aspect ratio ``eye``, inner-lip gap ``mouth`` and mouth width ``width``
    (default 0.5; both over the 70 px between the outer eye corners) [B]."""
    points = eye_landmarks(eye)
    width = torch.full_like(mouth, 0.5) if width is None else width
    for up, low in ((61, 67), (62, 66), (63, 65)):
        points[:, up, 1], points[:, low, 1] = 40.0 - 35.0 * mouth, 40.0 + 35.0 * mouth
    points[:, 48, 0], points[:, 54, 0] = 35.0 - 35.0 * width, 35.0 + 35.0 * width
    return points


def tiny_encoder(generator, seed: int = 0):  # type: ignore[no-untyped-def]
    from inversion.light_encoder import LightEncoder

    encoder = LightEncoder({"input_size": 16, "widths": [8], "hidden": 16, "n_styles": generator.n_latent,
                            "style_dim": generator.style_dim})
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in encoder.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        encoder.set_latent_avg(generator.mean_latent(256, seed=0))
    return encoder.eval()


def tiny_directions(bias: float = 0.0):  # type: ignore[no-untyped-def]
    from directions import DirectionMatrix

    matrix = DirectionMatrix(13, num_layers=4, style_dim=8, seed=1,
                             config={"layout": "bfm", "ranges": RANGES, "backend": "fake", "generator": "tiny"})
    with torch.no_grad():
        matrix.linear.weight.mul_(10.0)  # visible shifts in a tiny generator
        matrix.linear.bias.fill_(bias)
    return matrix


def tiny_controls(style_dim: int = 8, names: Sequence[str] = ("eyes_closed", "lips_apart")) -> "LatentControls":
    """W-space controls for the tiny generator: seeded directions for ``names`` on layers 0-1 (``lips_apart``'s
    sign chosen so that the fake estimator's mouth opens with it, as the eyes close with ``eyes_closed``)."""
    direction = torch.randn(len(names), style_dim, generator=torch.Generator().manual_seed(5))
    direction[[i for i, n in enumerate(names) if n == "lips_apart"]] *= -1
    return LatentControls(list(names), direction, (0, 2), {"generator": "tiny"})


def tiny_reenactor(**kw):  # type: ignore[no-untyped-def]
    """The tiny reenactor; ``with_controls=True`` gives it :func:`tiny_controls`."""
    from latentreenact.reenactor import Reenactor

    g = tiny_generator(size=SIZE, style_dim=8)
    controls = tiny_controls() if kw.pop("with_controls", False) else None
    return Reenactor(g, tiny_encoder(g), FakeEstimator(), tiny_directions(kw.pop("bias", 0.0)),
                     render_size=SIZE, align_size=SIZE, controls=controls, **kw)


def tiny_setup():  # type: ignore[no-untyped-def]
    """(tiny reenactor, a generated face crop, its untuned source): what the API tests start from."""
    r = tiny_reenactor()
    image = face(r.generator, 3)
    return r, image, r.invert(image, align=False, tune="none")


def face(generator, seed: int, size: int = SIZE) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A generated uint8 face crop of ``size`` px."""
    with torch.no_grad():
        w = generator.mapping(torch.randn(1, generator.style_dim, generator=torch.Generator().manual_seed(seed)))
        image = generator.synthesis(w[:, None].repeat(1, generator.n_latent, 1))
        if size != image.shape[-1]:
            image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)
    return to_uint8(image)[0]


def write_model_dir(folder: Path, reenactor, json_extra=None) -> Path:  # type: ignore[no-untyped-def]
    """A model directory: generator.pt, encoder.pt, directions.pt, a tiny bfm-net regressor, controls.pt when the
    reenactor has W-space controls, and reenactor.json."""
    from inversion.light_encoder import save_light_encoder
    from latentreenact.checkpoints.loading import save_generator
    from latentreenact.net3d.regressor import Net3DRegressor

    folder.mkdir(parents=True, exist_ok=True)
    save_generator(reenactor.generator, folder / "generator.pt")
    save_light_encoder(folder / "encoder.pt", reenactor.encoder)
    reenactor.directions.save(folder / "directions.pt")
    extra = dict(json_extra or {})
    if reenactor.latent_controls is not None:
        reenactor.latent_controls.save(folder / "controls.pt")
        extra.setdefault("controls", "controls.pt")
    torch.manual_seed(0)
    Net3DRegressor({"input_size": 16, "widths": [4], "blocks": [1], "pool": 1, "hidden": 8}).save(folder / "net3d.pt")
    spec = {"estimator": {"backend": "bfm-net", "weights": "net3d.pt"}, "render_size": SIZE, "align_size": SIZE,
            **extra}
    (folder / "reenactor.json").write_text(json.dumps(spec))
    return folder


def model_files(root: Path):  # type: ignore[no-untyped-def]
    """A tiny reenactor, its model directory ``root/model`` and ``root/source.png``: (reenactor, model dir)."""
    from PIL import Image

    r = tiny_reenactor(with_controls=True)
    model = write_model_dir(root / "model", r)
    Image.fromarray(face(r.generator, 3)).save(root / "source.png")
    return r, model
