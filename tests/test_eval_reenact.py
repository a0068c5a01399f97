"""The reenactment evaluation harness: clip sampling, the baselines' closed-form cases, the report
files, and ``latentreenact eval reenact`` end to end on a tiny model over clips cut from the bundled
driving video."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from latentreenact.examples import example_path
from latentreenact.video import iter_frames, write_video
from tiny_reenactor import tiny_reenactor, write_model_dir

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Two 12-frame clips (the bundled driving video's first and last 12 frames) and a still clip."""
    root = tmp_path_factory.mktemp("eval")
    frames = list(iter_frames(example_path("smile")))
    write_video(root / "a.mp4", frames[:12], 24)
    write_video(root / "b.mp4", frames[-12:], 24)
    still = root / "still"
    still.mkdir()
    write_video(still / "s.mp4", [frames[30]] * 6, 24, crf=0)  # lossless: every decoded frame is the same
    return root


@pytest.fixture(scope="module")
def reenactor():  # type: ignore[no-untyped-def]
    from latentreenact.reenactor import Reenactor

    r = tiny_reenactor()
    return Reenactor(r.generator, r.encoder, r.estimator, r.directions, render_size=16, align_size=128)


@pytest.fixture(scope="module")
def scorer(reenactor):  # type: ignore[no-untyped-def]
    from inversion.losses import sface_feature_loss
    from latentreenact.evaluation.scoring import Scorer, dlib_face
    from latentreenact.metrics import IdentityFeatures

    return Scorer(reenactor.estimator, reenactor.spec.names, IdentityFeatures(), dlib_face(),
                  perceptual=sface_feature_loss())


def _align(reenactor):  # type: ignore[no-untyped-def]
    return lambda frame, name: reenactor.driving_crop(frame, True, name)


def test_sampling_self_and_cross(clips_dir, reenactor) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.evaluation.data import clips_from_videos, derangement, sample_video, video_files

    files = video_files(clips_dir)
    assert [f.name for f in files] == ["a.mp4", "b.mp4"]
    sample = sample_video(files[0], 3, _align(reenactor))
    assert sample.frame_ids == [0, 4, 7, 11] and sample.skipped == 0
    assert all(c.shape == (128, 128, 3) for c in sample.crops)
    clips = clips_from_videos(files, 3, _align(reenactor), ("self", "cross"), seed=0)
    assert [(c.mode, c.name) for c in clips] == [("self", "a"), ("self", "b"), ("cross", "a<-b"), ("cross", "b<-a")]
    assert clips[0].targets is not None and clips[2].targets is None
    np.testing.assert_array_equal(clips[2].source, clips[0].source)  # a's source driven by b's frames
    np.testing.assert_array_equal(clips[2].reference, clips[1].reference)
    for seed in range(5):
        perm = derangement(4, seed)
        assert sorted(perm) == [0, 1, 2, 3] and all(p != i for i, p in enumerate(perm))
    with pytest.raises(ValueError, match="two videos"):
        derangement(1, 0)
    (clips_dir / "empty").mkdir(exist_ok=True)
    with pytest.raises(ValueError, match="no video files"):
        video_files(clips_dir / "empty")
    with pytest.raises(FileNotFoundError):
        video_files(clips_dir / "nope")


def test_baselines_on_a_still_clip_are_exact(clips_dir, reenactor, scorer) -> None:  # type: ignore[no-untyped-def]
    """A still clip: the driving frames equal the source, so both baselines must return the source and
    every self-reenactment distance is zero (CSIM one)."""
    from latentreenact.evaluation.data import clips_from_videos
    from latentreenact.evaluation.methods import IdentityBaseline, WarpBaseline, dlib_landmarks

    (clip,) = clips_from_videos([clips_dir / "still" / "s.mp4"], 3, _align(reenactor), ("self",), seed=0)
    for frame in clip.driving:
        np.testing.assert_array_equal(frame, clip.source)
    for method in (IdentityBaseline(), WarpBaseline(dlib_landmarks())):
        outputs = method(clip)
        for out in outputs:
            np.testing.assert_array_equal(out, clip.source)
        scores = scorer.frame_scores(clip, outputs)
        np.testing.assert_allclose(scores["csim_source"], 1.0, atol=1e-6)
        np.testing.assert_allclose(scores["csim_target"], 1.0, atol=1e-6)
        for key in ("l1", "nme", "pose_l1", "expression_l1"):
            np.testing.assert_allclose(scores[key], 0.0, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(scores["perceptual"], 0.0, atol=1e-5)
        assert np.isnan(scores["lpips"]).all()  # no backbone given: reported as missing, not zero


def test_evaluate_and_report(clips_dir, reenactor, scorer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.evaluation.data import clips_from_videos, video_files
    from latentreenact.evaluation.methods import IdentityBaseline, ReenactorMethod
    from latentreenact.evaluation.runner import evaluate, write_report

    clips = clips_from_videos(video_files(clips_dir), 2, _align(reenactor), ("self", "cross"), seed=0)
    ours = ReenactorMethod(reenactor)
    calls = []
    invert = reenactor.invert
    reenactor.invert = lambda *a, **k: calls.append(k["name"]) or invert(*a, **k)
    try:
        result = evaluate(clips, [ours, IdentityBaseline()], scorer)
    finally:
        del reenactor.invert
    assert len(calls) == 2  # two distinct sources over four clips: each inverted once
    assert len(result.rows) == 2 * 4 * 2  # 2 methods x 4 clips x 2 frames
    ident = [e for e in result.summary if e["method"].startswith("identity")]
    assert {e["mode"] for e in ident} == {"self", "cross"}
    assert all(abs(e["csim_source"] - 1.0) < 1e-6 for e in ident)
    cross = next(e for e in ident if e["mode"] == "cross")
    assert cross["l1"] is None and cross["l1_n"] == 0 and cross["ifd"] is not None and cross["ifd"] >= 0
    ours_self = next(e for e in result.summary if e["mode"] == "self" and e["method"].startswith("ours"))
    assert ours_self["frames"] == 4 and ours_self["l1"] > 0
    paths = write_report(result, tmp_path / "report")
    with open(paths["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 16 and rows[0]["mode"] in ("self", "cross")
    summary = json.loads(paths["json"].read_text())
    assert len(summary["summary"]) == 4
    table = paths["markdown"].read_text()
    assert "**self-reenactment**" in table and "identity baseline" in table and "LPIPS" not in table
    assert not list((tmp_path / "report").glob(".*part*"))


def test_cli_end_to_end_and_errors(clips_dir, reenactor, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.cli.errors import EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_USAGE
    from latentreenact.cli.eval_reenact import reenact

    model = write_model_dir(tmp_path / "model", reenactor, json_extra={"align_size": 128})
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(reenact, [str(clips_dir), "-o", str(out), "--frames", "2", "--tune", "none", "--model", str(model),
                                     "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "landmark warp baseline" in result.output and "cross-reenactment" in result.output
    assert {p.name for p in out.iterdir()} == {"frames.csv", "summary.json", "summary.md"}
    meta = json.loads((out / "summary.json").read_text())["meta"]
    assert meta["clips"] == 4 and meta["fid"] is False
    result = runner.invoke(reenact, [str(tmp_path / "missing"), "-o", str(tmp_path / "o2")])
    assert result.exit_code == EXIT_NOT_FOUND and not (tmp_path / "o2").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(reenact, [str(empty), "-o", str(tmp_path / "o3")])
    assert result.exit_code == EXIT_BAD_INPUT and "no video files" in result.output
    result = runner.invoke(reenact, [str(clips_dir / "still"), "-o", str(tmp_path / "o4"), "--mode", "cross"])
    assert result.exit_code == EXIT_USAGE and "two or more videos" in result.output
    bad_csv = tmp_path / "pairs.csv"
    bad_csv.write_text("a,b\n1,2\n")
    result = runner.invoke(reenact, [str(bad_csv), "-o", str(tmp_path / "o5"), "--tune", "none", "--model", str(model)])
    assert result.exit_code == EXIT_BAD_INPUT and "source,driving" in result.output
    assert not (tmp_path / "o5").exists()


def test_pairs_csv(reenactor, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from latentreenact.evaluation.data import pair_clips

    frames = list(iter_frames(example_path("smile"), 40))
    for name, frame in (("s.png", frames[0]), ("d.png", frames[39])):
        Image.fromarray(frame).save(tmp_path / name)
    (tmp_path / "pairs.csv").write_text("source,driving,target\ns.png,d.png,d.png\ns.png,d.png,\n")
    clips = pair_clips(tmp_path / "pairs.csv", _align(reenactor))
    assert [c.mode for c in clips] == ["self", "cross"]
    np.testing.assert_array_equal(clips[0].reference, clips[0].source)


class _MeanStd(torch.nn.Module):
    """A stand-in for stylegan2-ada's TorchScript Inception: per-channel mean and std of [0, 255] images."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def test_cli_with_user_supplied_networks(clips_dir, reenactor, golden_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--identity-weights (IR-SE50, official layout), --lpips-backbone and --fid-features end to end."""
    from golden_weights import rebuild_from_manifest
    from latentreenact.cli.eval_reenact import reenact
    from test_perceptual import random_backbone

    vectors = torch.load(golden_dir / "e4e" / "irse50_vectors.pt", map_location="cpu", weights_only=True)
    torch.save(rebuild_from_manifest(golden_dir / "e4e" / "irse50_manifest.json", int(vectors["seed"])),
               tmp_path / "model_ir_se50.pth")
    torch.save(random_backbone("alex", 7), tmp_path / "alexnet.pth")
    torch.jit.script(_MeanStd()).save(str(tmp_path / "inception.pt"))
    model = write_model_dir(tmp_path / "model", reenactor, json_extra={"align_size": 128})
    out = tmp_path / "out"
    result = CliRunner().invoke(reenact, [str(clips_dir), "-o", str(out), "--frames", "2", "--tune", "none", "--model", str(model),
                                          "--methods", "identity", "--identity-weights", str(tmp_path / "model_ir_se50.pth"),
                                          "--lpips-backbone", str(tmp_path / "alexnet.pth"),
                                          "--fid-features", str(tmp_path / "inception.pt"), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["identity"] == "identity-embedding (ir-se50)" and summary["meta"]["lpips"]
    self_row = next(e for e in summary["summary"] if e["mode"] == "self")
    assert self_row["lpips"] is not None and self_row["lpips"] > 0 and self_row["fid"] is not None
    assert abs(self_row["csim_source"] - 1.0) < 1e-6  # identity baseline under IR-SE50 too
    table = (out / "summary.md").read_text()
    assert "LPIPS" in table and "FID" in table
