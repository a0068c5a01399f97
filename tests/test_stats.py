"""Pose-parameter ranges over generated faces (``latentreenact stats``): seeded, resumable, failures counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from helpers import InterruptibleEstimator, tiny_generator
from latentreenact.cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from latentreenact.cli.stats import stats
from latentreenact.net3d import PoseEstimator, PoseParams
from latentreenact.net3d.ranges import collect_ranges, sidecar_path, state_path


class FakeEstimator(InterruptibleEstimator, PoseEstimator):
    """Deterministic numbers from the pixels; about a quarter of the images "have no face".

    ``interrupt_at``: raise KeyboardInterrupt on that call (1-based) to simulate a killed run
    (``helpers.InterruptibleEstimator``).
    """

    def labels(self, images):
        x = images.double()
        b = x.shape[0]
        mean, std = x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))
        found = (x.abs().sum(dim=(1, 2, 3)) * 1000).long() % 4 != 0
        nan = torch.where(found, 0.0, float("nan"))[:, None]
        angles = torch.stack([mean * 40, std * 20, x[:, 0, 0, 0] * 10], 1) + nan
        expression = x[:, 1].mean(dim=2)[:, :5] + nan
        return PoseParams(angles=angles, expression=expression, landmarks=torch.zeros(b, 68, 2), backend=self.name,
                          jaw=x[:, 2, 0, 1] + nan[:, 0], found=found)


@pytest.fixture(scope="module")
def generator():
    return tiny_generator(size=16, style_dim=8)


def _fields(result):
    return result.ranges(), result.count, result.failed_indices, result.names


def test_collect_ranges(generator) -> None:
    result = collect_ranges(generator, FakeEstimator(), 23, seed=3, batch_size=4, truncation=0.7)
    ranges = result.ranges()
    assert result.names == ["yaw", "pitch", "roll", "jaw"] + [f"exp_{i}" for i in range(5)]
    assert ranges.shape == (9, 2) and ranges.dtype == np.float64 and (ranges[:, 1] >= ranges[:, 0]).all()
    assert result.count + result.failures == 23 and 0 < result.failures < 23
    assert result.next_index == 23 and result.done
    again = collect_ranges(generator, FakeEstimator(), 23, seed=3, batch_size=4, truncation=0.7)
    np.testing.assert_array_equal(again.ranges(), ranges)  # seeded
    other = collect_ranges(generator, FakeEstimator(), 23, seed=4, batch_size=4, truncation=0.7)
    assert not np.array_equal(other.ranges(), ranges)


@pytest.mark.parametrize("checkpoint_every,interrupt_at", [(1, 3), (2, 4), (2, 5)])
def test_resume_matches_uninterrupted_run(generator, tmp_path: Path, checkpoint_every: int, interrupt_at: int) -> None:
    kw = dict(num=22, seed=1, batch_size=3, truncation=0.8, checkpoint_every=checkpoint_every)
    full = collect_ranges(generator, FakeEstimator(), **kw)
    state = tmp_path / "r.npy.state.json"
    with pytest.raises(KeyboardInterrupt):
        collect_ranges(generator, FakeEstimator(interrupt_at=interrupt_at), state_file=state, **kw)
    saved = json.loads(state.read_text())
    done_batches = ((interrupt_at - 1) // checkpoint_every) * checkpoint_every
    assert saved["next_index"] == 3 * done_batches
    resumed = collect_ranges(generator, FakeEstimator(), state_file=state, resume=True, **kw)
    np.testing.assert_array_equal(resumed.ranges(), full.ranges())  # exactly, not approximately
    assert _fields(resumed)[1:] == _fields(full)[1:]
    with pytest.raises(ValueError, match="cannot resume a different run.*num"):
        collect_ranges(generator, FakeEstimator(), state_file=state, resume=True, **{**kw, "num": 30})
    with pytest.raises(FileNotFoundError):
        collect_ranges(generator, FakeEstimator(), state_file=tmp_path / "none.json", resume=True, **kw)


def test_stats_command_resumes(generator, tmp_path: Path, monkeypatch) -> None:
    from latentreenact import save_generator
    from latentreenact.net3d import registry

    gen_file = tmp_path / "g.pt"
    save_generator(generator, gen_file)
    calls = {"interrupt_at": 0}
    monkeypatch.setitem(registry.BACKENDS, "bfm-fit",
                        (lambda **kw: FakeEstimator(interrupt_at=calls["interrupt_at"]), "fake"))
    args = ["--generator", str(gen_file), "-n", "10", "--seed", "2", "--size", "16", "--batch-size", "3",
            "--checkpoint-every", "1", "--no-progress"]
    fresh = tmp_path / "fresh.npy"
    result = CliRunner().invoke(stats, args + ["-o", str(fresh)])
    assert result.exit_code == 0, result.output
    side = json.loads(sidecar_path(fresh).read_text())
    assert side["rows"] == ["yaw", "pitch", "roll", "jaw"] + [f"exp_{i}" for i in range(5)]
    assert side["faces"] + side["failures"] == 10 and side["seed"] == 2 and side["generator"] == str(gen_file)
    assert np.load(fresh).shape == (9, 2)
    assert "without a usable face" in result.output

    out = tmp_path / "r.npy"
    calls["interrupt_at"] = 3
    result = CliRunner().invoke(stats, args + ["-o", str(out)])
    assert result.exit_code == EXIT_INTERRUPTED and not out.exists() and state_path(out).is_file()
    calls["interrupt_at"] = 0
    bad = CliRunner().invoke(stats, args[:-1] + ["--seed", "5", "-o", str(out), "--resume", "--no-progress"])
    assert bad.exit_code == EXIT_BAD_INPUT and "cannot resume" in bad.output
    result = CliRunner().invoke(stats, args + ["-o", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(out), np.load(fresh))
    assert json.loads(sidecar_path(out).read_text())["failed_indices"] == side["failed_indices"]


def test_stats_command_rejects_unknown_backend(tmp_path: Path) -> None:
    result = CliRunner().invoke(stats, ["--backend", "bfm-nope", "-o", str(tmp_path / "r.npy")])
    assert result.exit_code == 2 and "bfm-nope" in result.output


def test_stats_smoke_default_generator(tmp_path: Path) -> None:
    """Two real faces from the embedded MobileStyleGAN through the bfm-fit backend (about 10 s)."""
    from latentreenact import zoo

    try:
        zoo.resolve("mobilestylegan-ffhq")
        from latentreenact.shape3d import find_bfm_dir

        find_bfm_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"default generator or BFM files not installed: {exc}")
    out = tmp_path / "ranges.npy"
    result = CliRunner().invoke(stats, ["-n", "2", "--batch-size", "2", "--no-progress", "-o", str(out)])
    assert result.exit_code == 0, result.output
    side = json.loads(sidecar_path(out).read_text())
    assert side["rows"] == ["yaw", "pitch", "roll"] + [f"exp_{i}" for i in range(10)]
    assert side["faces"] == 2 and side["backend"] == "bfm-fit" and np.load(out).shape == (13, 2)
