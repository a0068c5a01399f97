"""``latentreenact eval motion`` and latentreenact.evaluation.motion: the statistics' closed forms, the judge
on outputs that are the driving frames (gain 1) or their mirror images (yaw and roll gain -1), the report
files, and the CLI's errors (no judge environment, no face in the outputs)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
import pytest
from click.testing import CliRunner

from judge_env import needs_judge
from latentreenact.examples import example_path
from latentreenact.judge import SIGNALS
from latentreenact.judge.signals import flip_image

NAMES = ["yaw", "pitch", "roll"] + [f"exp_{i}" for i in range(10)]


def test_link_stats_of_a_known_slope():
    from latentreenact.evaluation.motion import link_stats

    x = np.sin(np.linspace(0, 6, 50))
    stats = link_stats(x, 0.25 * x - 1.0)
    assert stats["gain"] == pytest.approx(0.25) and stats["correlation"] == pytest.approx(1.0)
    assert stats["output_std"] == pytest.approx(0.25 * stats["driving_std"]) and stats["frames"] == 50


def test_bfm_links_pick_the_best_expression_coefficient():
    from latentreenact.evaluation.motion import bfm_links, bfm_series

    rng = np.random.default_rng(0)
    n = 30
    p = rng.normal(size=(n, len(NAMES)))
    bfm = bfm_series(p, NAMES, reference=2)
    col = {name: i for i, name in enumerate(NAMES)}
    assert bfm["yaw"][2] == 0.0 and bfm["exp_3"][2] == p[2, col["exp_3"]]  # angles relative, expressions raw

    class Fake:
        def __init__(self, values):
            self.values = values

        def signal(self, name):
            return self.values[name]

    judge = Fake({"pitch": 2.0 * bfm["pitch"], "yaw": bfm["yaw"], "roll": -bfm["roll"],
                  "mouth": -3.0 * p[:, col["exp_7"]],
                  "eye": p[:, col["exp_4"]] + 0.01 * rng.normal(size=n)})
    links = bfm_links(judge, bfm, judge_is_driving=True)
    assert links["pitch"]["gain"] == pytest.approx(0.5) and links["roll"]["correlation"] == pytest.approx(-1.0)
    assert links["mouth"]["best"] == "exp_7" and links["mouth"]["correlation"] == pytest.approx(-1.0)
    assert links["eye"]["best"] == "exp_4"
    assert links["mouth"]["readout_r2"] == pytest.approx(1.0) and links["eye"]["readout_r2"] > 0.99
    assert bfm_links(judge, bfm, judge_is_driving=False)["pitch"]["gain"] == pytest.approx(2.0)


def test_linear_readout_r2():
    from latentreenact.evaluation.motion import linear_readout_r2

    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3))
    assert linear_readout_r2(x @ [1.0, -2.0, 0.5] + 3.0, x) == pytest.approx(1.0)
    assert linear_readout_r2(rng.normal(size=40), x) < 0.2  # no readout: about 0 or below
    assert np.isnan(linear_readout_r2(np.ones(3), x[:3]))


@pytest.fixture(scope="module")
def clip():
    from latentreenact.video import iter_frames

    return list(iter_frames(example_path("smile")))[::12]  # 6 frames: the head turns and looks up, the mouth opens


@pytest.fixture(scope="module")
def source_photo():
    from latentreenact.faces import read_image

    return read_image(example_path("astronaut"))


def _bfm(n):
    rng = np.random.default_rng(1)
    from latentreenact.evaluation.motion import bfm_series

    return bfm_series(rng.normal(size=(n, len(NAMES))), NAMES, 0)


def test_outputs_equal_to_the_driving_frames_have_gain_one(judge, clip, source_photo):
    from latentreenact.evaluation.motion import judge_pair

    result = judge_pair(judge, clip, clip, source_photo, _bfm(len(clip)), source="astronaut.jpg", driving="smile")
    for name in SIGNALS:
        assert result.signals[name]["gain"] == pytest.approx(1.0, abs=1e-6), name
        assert result.signals[name]["correlation"] == pytest.approx(1.0, abs=1e-6), name
    ident = result.identity
    assert ident["dlib_mean"] > 0.6 and ident["frames_without_face"] == 0  # a different person than the source
    assert -1.0 <= ident["sface_mean"] <= 1.0 and result.seconds_per_frame >= 0.0


def test_mirrored_outputs_have_yaw_and_roll_gain_minus_one(judge, clip, source_photo, tmp_path):
    from latentreenact.evaluation.motion import judge_pair, write_motion_report

    result = judge_pair(judge, clip, [flip_image(f) for f in clip], source_photo, _bfm(len(clip)))
    assert result.signals["yaw"]["gain"] == pytest.approx(-1.0, abs=1e-4)
    assert result.signals["roll"]["gain"] == pytest.approx(-1.0, abs=1e-4)
    assert result.signals["pitch"]["gain"] == pytest.approx(1.0, abs=1e-4)
    assert result.signals["mouth"]["gain"] == pytest.approx(1.0, abs=1e-4)
    paths = write_motion_report([result], tmp_path, {"test": True})
    data = json.loads(paths["json"].read_text())
    assert data["meta"] == {"test": True} and len(data["results"][0]["series"]["driving"]["yaw"]) == len(clip)
    assert "yaw r / gain" in paths["markdown"].read_text()
    # a mirrored clip follows pitch and mouth exactly and yaw the wrong way: the acceptance says so
    assert data["acceptance"]["pairs"][0]["signals"] == {"pitch": True, "yaw": False, "mouth": True}
    assert data["acceptance"]["cells_met"] == 2 and "| **met** | | 1 of 1 | 0 of 1 | 1 of 1 |" in \
        paths["markdown"].read_text()
    png = paths["plot0"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # the frames to look at: every driving frame of this 6-frame clip above its output, which is its mirror image
    assert [i for i, _, _ in result.samples] == list(range(len(clip)))
    sheet = np.asarray(Image.open(paths["frames0"])).astype(float)
    assert sheet.shape == (320, 160 * len(clip), 3) and paths["frames0"].name in paths["markdown"].read_text()
    for i in range(len(clip)):
        top, bottom = sheet[40:160, i * 160:(i + 1) * 160], sheet[200:320, i * 160:(i + 1) * 160]
        assert np.abs(bottom - top[:, ::-1]).mean() < 10, i
        assert np.abs(bottom - top).mean() > 2 * np.abs(bottom - top[:, ::-1]).mean(), i  # not merely alike


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tiny_reenactor import tiny_reenactor, write_model_dir

    return write_model_dir(tmp_path_factory.mktemp("tiny_model"), tiny_reenactor(), json_extra={"align_size": 128})


def test_cli_without_the_judge_environment_exits_6(tmp_path, monkeypatch):
    from latentreenact.cli.main import cli

    monkeypatch.setenv("LATENTREENACT_JUDGE_PYTHON", str(tmp_path / "missing" / "python"))
    result = CliRunner().invoke(cli, ["eval", "motion", "--source", str(example_path("astronaut")), "--driving",
                                      str(example_path("smile")), "-o", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 6, result.output
    assert "make judge-env" in result.output and not (tmp_path / "out").exists()


def test_cli_missing_inputs_exit_3(tmp_path):
    from latentreenact.cli.main import cli

    result = CliRunner().invoke(cli, ["eval", "motion", "--source", str(tmp_path / "nope.jpg"), "--driving",
                                      str(example_path("smile")), "-o", str(tmp_path / "out")])
    assert result.exit_code == 3 and "nope.jpg" in result.output


def test_cli_outputs_without_a_face_exit_5(tiny_model, tmp_path, one_thread):
    """The tiny model renders 16 px noise: the judge finds no face in any output and says so."""
    from latentreenact.cli.main import cli

    needs_judge()
    result = CliRunner().invoke(cli, ["eval", "motion", "--source", str(example_path("astronaut")), "--driving",
                                      str(example_path("smile")), "--max-frames", "3", "--tune", "none", "--model", str(tiny_model),
                                      "-o", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 5, result.output
    assert "the judge found no face" in result.output
