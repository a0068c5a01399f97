"""``latentreenact stats``: (min, max) ranges of the pose parameters over generated faces."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..checkpoints.loading import load_generator
from ..net3d import get_estimator
from ..net3d.ranges import collect_ranges, sidecar_path, state_path, write_ranges
from ..output_paths import check_output
from .errors import reports_errors
from .options import detector_option, device_option, generator_option, parse_device, progress_option, seed_option

BACKEND_NAMES = ("bfm-fit", "deca", "bfm-net")


@click.command("stats")
@generator_option
@click.option("-n", "--num", type=click.IntRange(1, 10_000_000), default=10000, show_default=True,
              help="Number of generated samples.")
@seed_option
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="bfm-fit", show_default=True,
              help="Net3D backend measuring the faces.")
@click.option("--truncation", type=click.FloatRange(0.0, 2.0), default=0.7, show_default=True,
              help="Truncation psi (1 = none); centre: the generator's average w, else the mean of 4096 samples.")
@click.option("--size", type=click.IntRange(8, 4096), default=256, show_default=True,
              help="Render size in pixels (at most the generator's resolution).")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Faces rendered and measured per pass.")
@detector_option("Face detector used by the backend.")
@click.option("--deca-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with deca_model.tar, generic_model.pkl, landmark_embedding.npy "
                   "(default: $LATENTREENACT_DECA_DIR); --backend deca only.")
@click.option("--checkpoint-every", type=click.IntRange(1, 100_000), default=4, show_default=True,
              help="Save the resumable state every this many batches.")
@click.option("--resume", is_flag=True, help="Continue the run recorded in OUTPUT.state.json.")
@device_option
@progress_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("ranges.npy"),
              show_default=True, help="Ranges file (.npy float64 [n, 2]); a .json sidecar names the rows.")
@reports_errors
def stats(generator_path: str, num: int, seed: int, backend: str, truncation: float, size: int, batch_size: int,
          detector: str, deca_dir: Optional[Path], checkpoint_every: int, resume: bool, device: str,
          progress: bool, output: Path) -> None:
    """Measure NUM generated faces with a Net3D backend and write each entry's (min, max).

    Rows: yaw, pitch, roll (degrees), jaw (DECA only, radians), then every expression
    coefficient (BFM: exp_0..exp_9; DECA: exp_0..exp_49, the released file's 54 rows). Samples
    without a usable face are counted and listed in the sidecar, not fatal. The run checkpoints
    to OUTPUT.state.json; --resume continues it exactly.
    """
    check_output(output, "ranges")  # a .npy in a writable folder, before any work
    torch_device = parse_device(device)
    options = {"device": torch_device, "detector": detector}
    if backend == "deca" and deca_dir is not None:
        options["data_dir"] = deca_dir
    estimator = get_estimator(backend, **options)
    generator = load_generator(generator_path, device=torch_device)
    if size > generator.resolution:
        raise ValueError(f"--size {size} exceeds the generator's resolution ({generator.resolution} px)")
    result = collect_ranges(generator, estimator, num, seed=seed, truncation=truncation, size=size,
                            batch_size=batch_size, state_file=state_path(output), resume=resume,
                            checkpoint_every=checkpoint_every, progress=progress,
                            config={"generator": str(generator_path), "detector": detector})
    write_ranges(result, output)
    click.echo(f"wrote {len(result.names)} ranges ({result.count} faces, {result.failures} of {num} samples "
               f"without a usable face) to {output} and {sidecar_path(output)}", err=True)
