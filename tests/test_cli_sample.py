"""``latentreenact sample``: output, determinism, exit codes, no partial files."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from latentreenact.cli.errors import EXIT_BAD_CHECKPOINT, EXIT_NOT_FOUND, EXIT_USAGE
from latentreenact.cli.main import cli


@pytest.fixture(scope="module")
def ckpt(golden_dir):
    return str(golden_dir / "stylegan2_64" / "generator.pt")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_sample_grid(tmp_path, ckpt):
    out = tmp_path / "grid.png"
    res = run("sample", "--generator", ckpt, "-n", "6", "--columns", "3", "--seed", "1", "--no-progress", "-o", str(out))
    assert res.exit_code == 0, res.output
    img = np.asarray(Image.open(out))
    assert img.shape == (2 * 66 + 2, 3 * 66 + 2, 3)
    assert img[2:66, 2:66].std() > 1  # a rendered image, not padding
    wide = tmp_path / "wide.png"  # more columns than samples: one row of the samples, no empty tiles
    assert run("sample", "--generator", ckpt, "-n", "2", "--columns", "10", "--no-progress", "-o", str(wide)).exit_code == 0
    assert np.asarray(Image.open(wide)).shape == (66 + 2, 2 * 66 + 2, 3)


def test_seed_determinism_and_batch_independence(tmp_path, ckpt):
    paths = []
    for i, (seed, batch) in enumerate([(5, 1), (5, 4), (6, 4)]):
        paths.append(tmp_path / f"g{i}.png")
        res = run("sample", "--generator", ckpt, "-n", "4", "--seed", str(seed), "--batch-size", str(batch),
                  "--no-progress", "-o", str(paths[-1]))
        assert res.exit_code == 0, res.output
    a, b, c = (np.asarray(Image.open(p)).astype(int) for p in paths)
    assert np.abs(a - b).max() <= 1  # batching changes float rounding only
    assert np.abs(a - c).max() > 10


def test_missing_generator_exit_code(tmp_path):
    out = tmp_path / "grid.png"
    res = CliRunner().invoke(cli, ["sample", "--generator", str(tmp_path / "none.pt"), "-o", str(out)])
    assert res.exit_code == EXIT_NOT_FOUND
    assert "not found" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_bad_checkpoint_exit_code(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(3)}, bad)
    res = CliRunner().invoke(cli, ["sample", "--generator", str(bad), "-o", str(tmp_path / "g.png")])
    assert res.exit_code == EXIT_BAD_CHECKPOINT and "not a generator checkpoint" in res.output
    assert list(tmp_path.iterdir()) == [bad]


def test_bad_output_suffix(tmp_path, ckpt):
    res = CliRunner().invoke(cli, ["sample", "--generator", ckpt, "-o", str(tmp_path / "grid.xyz")])
    # an output suffix we cannot write is a bad -o value: exit 2 (usage), one line, before the model loads
    assert res.exit_code == EXIT_USAGE and "suffix '.xyz' is not supported" in res.output, res.output
    assert res.output.count("\n") == 1 and not (tmp_path / "grid.xyz").exists()


def test_bad_option_values(ckpt):
    assert CliRunner().invoke(cli, ["sample", "--generator", ckpt, "-n", "0"]).exit_code == 2
    res = CliRunner().invoke(cli, ["sample", "--generator", ckpt, "--device", "cuda:7"])
    if not torch.cuda.is_available():
        assert res.exit_code == 2 and "no CUDA device" in res.output


def test_help_and_version():
    assert "sample" in run("--help").output
    assert run("--version").output.startswith("latentreenact")
