"""``latentreenact train controls``: fit the W-space control directions (``eyes_closed``, ``lips_apart``)."""

from __future__ import annotations

from pathlib import Path

import click

from directions.latent_fit import fit_latent_controls, label_faces
from inversion.losses import resolve_loss

from ..checkpoints.loading import load_generator
from ..net3d import get_estimator
from ..output_paths import check_output
from .errors import reports_errors
from .options import device_option, parse_device, progress_option, seed_option


@click.command("controls")
@click.option("--generator", "generator_path", default="mobilestylegan-ffhq-heads", show_default=True,
              help="Generator (registered name or checkpoint) whose W the directions live in.")
@click.option("--samples", type=click.IntRange(200, 1_000_000), default=4000, show_default=True,
              help="Generated faces to label (about 0.25 s each on 2 cores).")
@click.option("--truncation", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.7, show_default=True,
              help="Truncation psi of the sampled faces.")
@click.option("--layers", type=(click.IntRange(0, None), click.IntRange(1, None)), default=(0, 12),
              show_default=True, help="W+ layers LO HI (HI excluded) the directions are added to.")
@click.option("--ridge", type=click.FloatRange(0.0, None, min_open=True), default=1e-2, show_default=True,
              help="Ridge of the regressions on w (relative to N times the mean variance of w).")
@click.option("--hold-skin/--no-hold-skin", default=True, show_default=True,
              help="eyes_closed also holds the skin's tone and texture in six regions placed by dlib's landmarks "
                   "(without it the face brightens and smooths as the eyes close).")
@seed_option
@device_option
@progress_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Controls file to write (.pt).")
@reports_errors
def controls(generator_path: str, samples: int, truncation: float, layers: tuple, ridge: float, hold_skin: bool,
             seed: int, device: str, progress: bool, output: Path) -> None:
    """Label generated faces (pose vector by bfm-net; dlib's 68 landmarks and the head angles by bfm-rigid;
    identity by SFace; the skin's tone and texture around the landmarks) and fit the eyes-closed direction (pose
    vector, identity and skin held) and the lips-apart direction (head angles, identity, eye opening and mouth width
    held) in W; writes OUTPUT."""
    check_output(output, "checkpoint")
    torch_device = parse_device(device)
    generator = load_generator(generator_path, device=torch_device)
    if layers[1] > generator.n_latent or layers[0] >= layers[1]:
        raise click.BadParameter(f"need 0 <= LO < HI <= {generator.n_latent}", param_hint="--layers")
    faces = label_faces(generator, get_estimator("bfm-net", device=torch_device),
                        get_estimator("bfm-rigid", device=torch_device),
                        resolve_loss("sface", "identity", torch_device), samples, seed=seed, truncation=truncation,
                        progress=progress)
    fitted = fit_latent_controls(faces, tuple(layers), ridge,
                                 {"generator": generator_path.replace("-heads", ""), "estimator": "bfm-net",
                                  "landmarker": "bfm-rigid",
                                  "identity": "sface", "landmarks": "dlib 68", "seed": seed,
                                  "truncation": truncation}, hold_skin=hold_skin)
    fitted.save(output)
    fit = fitted.config["fit_correlation"]
    click.echo(f"labelled {len(faces.w)} of {samples} faces; fit r: eye opening {fit['eyes_closed']:.3f}, "
               f"inner-lip gap {fit['lips_apart']:.3f} -> {output}", err=True)
