"""Entry point of the ``latentreenact`` command: a click group of sub-commands."""

from __future__ import annotations

import logging

import click

from .. import __version__
from .demo import demo
from .edit import edit
from .eval_directions import directions as eval_directions_cmd
from .eval_motion import motion as eval_motion_cmd
from .eval_reenact import reenact as eval_reenact_cmd
from .faces import faces
from .invert import invert
from .net3d_dataset import dataset as net3d_dataset
from .pose import pose
from .reenact import reenact
from .sample import sample
from .stats import stats
from .train_controls import controls as train_controls_cmd
from .train_directions import directions as train_directions_cmd
from .train_encoder import encoder as train_encoder_cmd
from .train_heads import heads as train_heads
from .train_net3d import net3d as train_net3d_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="latentreenact")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """One-shot face reenactment with StyleGAN2 latent directions."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


cli.add_command(sample)
cli.add_command(stats)
cli.add_command(invert)
cli.add_command(reenact)
cli.add_command(edit)
cli.add_command(demo)


@cli.group()
def train() -> None:
    """Fit or train model parts (MobileStyleGAN's level heads, the Net3D regressor, the encoder, A, the W-space
    controls)."""


train.add_command(train_heads)
train.add_command(train_net3d_cmd)
train.add_command(train_encoder_cmd)
train.add_command(train_directions_cmd)
train.add_command(train_controls_cmd)


@cli.group()
def net3d() -> None:
    """Net3D tools (pseudo-labelled training data for the bfm-net regressor)."""


net3d.add_command(net3d_dataset)
cli.add_command(faces)
faces.add_command(pose)


@cli.group("eval")
def eval_group() -> None:
    """Evaluate trained parts on held-out data."""


eval_group.add_command(eval_directions_cmd)
eval_group.add_command(eval_reenact_cmd)
eval_group.add_command(eval_motion_cmd)
