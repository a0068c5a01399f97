"""The Reenactor API on tiny models: a 16 px generator, a tiny light encoder, a fake Net3D estimator
computed from image statistics, and a small direction matrix. Face detection is bypassed with
``align=False`` (inputs are already aligned crops)."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
import torch

from fixtures.face_photos import single_thread
from tiny_reenactor import RANGES, SIZE, face, tiny_directions, tiny_reenactor, tiny_setup, write_model_dir

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)
setup = pytest.fixture(scope="module")(tiny_setup)


def test_invert_shapes_and_source_checks(setup) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.reenactor import Source

    r, image, src = setup
    assert src.wplus.shape == (1, 6, 8) and src.p.shape == (1, 13)
    assert src.crop.shape == (SIZE, SIZE, 3) and src.crop.dtype == np.uint8
    assert src.transform.shape == (3, 3) and src.generator is r.generator and np.array_equal(src.image, image)
    assert r.render_source(src).shape == (SIZE, SIZE, 3)
    bad = src.wplus.clone()
    bad[0, 2, 3] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        Source(src.crop, bad, src.p, src.generator, src.transform, src.image)
    with pytest.raises(ValueError, match=r"\[1, n_latent, style_dim\]"):
        Source(src.crop, src.wplus[0], src.p, src.generator, src.transform, src.image)
    broken = Source(src.crop, src.wplus.clone(), src.p, src.generator, src.transform, src.image)
    broken.wplus[0, 0, 0] = math.nan  # corrupted after construction: caught before rendering
    with pytest.raises(ValueError, match="NaN"):
        r.edit(broken, yaw=10)
    with pytest.raises(ValueError, match="square"):
        r.invert(image[:, :10], align=False, tune="none")
    with pytest.raises(ValueError, match="Δp must be"):
        r.shift(src, torch.zeros(1, 12))


def test_driving_equals_source_gives_the_source_render(setup) -> None:  # type: ignore[no-untyped-def]
    r, image, src = setup
    frames = r.reenact(src, image, align=False)
    assert len(frames) == 1 and np.array_equal(frames[0], r.render_source(src))
    # the matrix's bias is applied even at Δp = 0 (as in the released model)
    biased = tiny_reenactor(bias=0.5)
    bsrc = biased.invert(image, align=False, tune="none")
    assert not np.array_equal(biased.reenact(bsrc, image, align=False)[0], biased.render_source(bsrc))


def test_edit_relative_and_absolute(setup) -> None:  # type: ignore[no-untyped-def]
    r, _, src = setup
    assert torch.equal(r.edit_latent(src, yaw=0, pitch=0, roll=0, expression={0: 0.0}), src.wplus)
    dp = r.edit_delta(src, yaw=20)
    assert dp[0, 0].item() == pytest.approx(20 * 6 / 40) and torch.count_nonzero(dp) == 1
    edited = r.edit_latent(src, yaw=20, expression={3: 0.5})
    assert not torch.equal(edited[:, :4], src.wplus[:, :4]) and torch.equal(edited[:, 4:], src.wplus[:, 4:])
    # absolute: the given entries are set; others stay at the source's values
    target = src.p.clone()
    target[0, 1] = 5.0
    assert torch.allclose(r.edit_delta(src, pitch=5.0, absolute=True), r.spec.delta(src.p, target))
    assert torch.allclose(r.edit_delta(src, pitch=5.0 - src.p[0, 1].item()), r.spec.delta(src.p, target), atol=1e-5)
    assert r.edit(src, yaw=15).shape == (SIZE, SIZE, 3)
    assert r.edit(src, yaw=15, paste_back=True).shape == src.image.shape
    with pytest.raises(ValueError, match="jaw"):
        r.edit_delta(src, jaw=1.0)  # the bfm layout has no jaw
    with pytest.raises(ValueError, match="exp_12"):
        r.edit_delta(src, expression={12: 1.0})
    with pytest.raises(ValueError, match="finite"):
        r.edit_delta(src, yaw=math.nan)


def test_relative_and_absolute_reenactment(setup) -> None:  # type: ignore[no-untyped-def]
    r, _, src = setup
    a, b = face(r.generator, 11), face(r.generator, 12)
    rel = r.reenact(src, [a, b], align=False, batch_size=1)
    ab = r.reenact(src, [a, b], align=False, relative=False, batch_size=1)
    p, found = r.pose([a, b])
    assert found.all()
    assert np.array_equal(rel[0], r.render_source(src))  # relative: motion from the first driving frame
    expected = r.faces(src, r.spec.rescale(p[1:]) - r.spec.rescale(p[:1]), roll_region="crop")[0]  # then rolled
    assert np.array_equal(rel[1], expected)
    expected = r.faces(src, r.spec.rescale(p[:1]) - r.spec.rescale(src.p), roll_region="crop")[0]
    assert np.array_equal(ab[0], expected) and not np.array_equal(ab[0], rel[0])
    # a single image is always measured against the source
    assert np.array_equal(r.reenact(src, b, align=False)[0], r.reenact(src, b, align=False, relative=False)[0])
    # batching only changes rounding
    batched = r.reenact(src, [a, b], align=False, batch_size=8)
    assert max(np.abs(x.astype(int) - y.astype(int)).max() for x, y in zip(batched, rel)) <= 1


def test_driving_inputs(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from latentreenact.faces import NoFaceError

    r, _, src = setup
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="no images"):
        r.reenact(src, empty, align=False)
    with pytest.raises(ValueError, match="empty list"):
        r.reenact(src, [], align=False)
    with pytest.raises(ValueError, match="shape"):
        r.reenact(src, np.zeros((4, 4, 5), np.uint8), align=False)
    with pytest.raises(FileNotFoundError):
        r.reenact(src, tmp_path / "missing.png", align=False)
    black = np.zeros((SIZE, SIZE, 3), np.uint8)
    with pytest.raises(NoFaceError):
        r.reenact(src, black, align=False)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, seed in enumerate([21, 22, 23]):
        Image.fromarray(black if i == 0 else face(r.generator, seed)).save(folder / f"{i:02d}.png")
    result = r.reenact_images(src, folder, align=False)
    assert result.names == ["00.png", "01.png", "02.png"] and result.frames_without_face == [0]
    assert np.array_equal(result.frames[0], result.frames[1])  # the leading frame takes the next valid pose
    assert np.array_equal(result.frames[1], r.render_source(src))  # relative to the first frame with a face
    sbs = r.reenact_images(src, folder, align=False, side_by_side=True).frames
    assert sbs[0].shape == (SIZE, 2 * SIZE, 3)


def test_pose_track_filling_and_smoothing() -> None:
    from latentreenact.faces import NoFaceError
    from latentreenact.reenact_video import fill_missing, smooth

    p = torch.tensor([[math.nan], [1.0], [math.nan], [3.0]])
    found = torch.tensor([False, True, False, True])
    assert fill_missing(p, found).flatten().tolist() == [1.0, 1.0, 1.0, 3.0]
    assert smooth(torch.tensor([[0.0], [1.0], [1.0]]), 0.5).flatten().tolist() == [0.0, 0.5, 0.75]
    assert smooth(p, 0.0) is p  # off: unchanged
    with pytest.raises(ValueError, match="smoothing"):
        smooth(p, 1.0)
    with pytest.raises(NoFaceError):
        fill_missing(p, torch.zeros(4, dtype=torch.bool))


def test_pose_track_absolute_expression_closed_form() -> None:
    """Relative angles, expression against the source: each column of Δp against its own reference."""
    from types import SimpleNamespace

    from latentreenact.net3d.pose_vector import PoseVectorSpec
    from latentreenact.reenact_video import pose_track

    spec = PoseVectorSpec(("yaw", "pitch", "exp_0", "exp_1"), {"exp_0": (-2.0, 2.0), "exp_1": (0.0, 6.0)})
    reenactor = SimpleNamespace(spec=spec)
    src = SimpleNamespace(p=torch.tensor([[5.0, -3.0, 1.0, 2.0]]))
    p = torch.tensor([[math.nan] * 4, [10.0, 2.0, -1.0, 3.0], [20.0, 4.0, 0.5, 6.0]])
    found = torch.tensor([False, True, True])
    kw = dict(sequence=True, smoothing=0.0, what="frames")
    rel = pose_track(reenactor, src, p, found, relative=True, **kw).dp
    hybrid = pose_track(reenactor, src, p, found, relative=True, absolute_expression=True, **kw).dp
    absolute = pose_track(reenactor, src, p, found, relative=False, **kw).dp
    # yaw: 6/40 per degree, pitch 6/20; exp_0: 12/4 per unit, exp_1 12/6 per unit
    assert torch.allclose(hybrid[2], torch.tensor([10 * 0.15, 2 * 0.3, -0.5 * 3.0, 4.0 * 2.0]))
    assert torch.allclose(hybrid[:, :2], rel[:, :2]) and torch.allclose(hybrid[:, 2:], absolute[:, 2:])
    assert not torch.allclose(hybrid, rel) and not torch.allclose(hybrid, absolute)
    # a single driving image is already taken against the source: the option changes nothing there
    single = dict(relative=True, sequence=False, smoothing=0.0, what="image")
    assert torch.equal(pose_track(reenactor, src, p[1:2], found[1:2], absolute_expression=True, **single).dp,
                       pose_track(reenactor, src, p[1:2], found[1:2], **single).dp)


def test_truncation_compat_setting(setup) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.sampling import render

    r, image, _ = setup
    t = tiny_reenactor(truncation=0.7)
    src = t.invert(image, align=False, tune="none")
    dp = t.edit_delta(src, yaw=10)
    w = t.shift(src, dp)
    centre = t.truncation_centre()
    assert torch.equal(centre, t.truncation_centre())  # stored
    expected = render(src.generator, centre[:, None] + 0.7 * (w - centre[:, None]), SIZE)
    assert torch.allclose(t.render(src, w), expected)
    assert not np.array_equal(t.edit(src, yaw=10), r.edit(r.invert(image, align=False, tune="none"), yaw=10))
    with pytest.raises(ValueError, match="truncation"):
        tiny_reenactor(truncation=-1.0)


def test_tuning_returns_a_copy(setup) -> None:  # type: ignore[no-untyped-def]
    r, image, _ = setup
    before = {k: v.clone() for k, v in r.generator.state_dict().items()}
    src = r.invert(image, align=False, tune="pti", tune_steps=2, perceptual="none")
    assert src.generator is not r.generator and src.info["tune_steps_run"] == 2
    assert all(torch.equal(v, r.generator.state_dict()[k]) for k, v in before.items())
    assert r.edit(src, yaw=5).shape == (SIZE, SIZE, 3)


# ----------------------------------------------------------------------------------------- video

@pytest.fixture(scope="module")
def clip(setup, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A 6-frame 32x32 driving clip at 10 fps with audio, whose frame 2 is black (no face)."""
    import imageio_ffmpeg

    from latentreenact.video import write_video

    r = setup[0]
    folder = tmp_path_factory.mktemp("clip")
    audio = folder / "tone.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-c:a", "aac", str(audio)], check=True)
    frames = [face(r.generator, 30 + i, 32) for i in range(6)]
    frames[2] = np.zeros_like(frames[2])
    path = folder / "driving.mp4"
    write_video(path, frames, 10, audio_from=audio, crf=0)
    return path


def test_video_round_trip(setup, clip, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.video import probe_video

    r, _, src = setup
    out = tmp_path / "out.mp4"
    summary = r.reenact_video(src, clip, out, align=False, paste_back=True, side_by_side=True, batch_size=4)
    info = probe_video(out)
    assert info.n_frames == 6 and info.fps == pytest.approx(10) and info.has_audio
    assert info.size == (2 * SIZE, SIZE)  # [driving resized | source photo with the face pasted back]
    assert summary.frames == 6 and summary.fps == pytest.approx(10) and summary.output == out
    assert summary.frames_without_face == 1 and summary.missing_frames == [2]
    assert summary.seconds > 0 and summary.seconds_per_frame == pytest.approx(summary.seconds / 6)
    gif = tmp_path / "out.gif"
    assert r.reenact_video(src, clip, gif, align=False, smoothing=0.0).frames == 6 and gif.is_file()
    frames = r.reenact(src, clip, align=False, smoothing=0.0, batch_size=1)
    assert len(frames) == 6 and np.array_equal(frames[0], r.render_source(src))  # relative to frame 0
    assert np.array_equal(frames[2], frames[1])  # the faceless frame keeps the previous pose
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gif", "out.mp4"]


def test_pasted_back_frames_are_scaled_to_max_side(setup, clip, tmp_path,  # type: ignore[no-untyped-def]
                                                  monkeypatch) -> None:
    from dataclasses import replace

    from latentreenact.faces import fit_canvas, paste_back
    from latentreenact.reenact_video import ReenactOptions
    from latentreenact.video import probe_video

    r, _, src = setup
    monkeypatch.setattr(r, "roll", "latent")  # no rotation: face-only and pasted-back frames roll alike
    up = np.array([[4.0, 0, 1.5], [0, 4.0, 1.5], [0, 0, 1]])  # the photo 4x larger: x' = (x + 0.5) * 4 - 0.5
    src = replace(src, image=np.repeat(np.repeat(src.image, 4, 0), 4, 1), transform=up @ src.transform)
    big, half = 4 * SIZE, 2 * SIZE
    options = ReenactOptions(align=False, paste_back=True, smoothing=0.0, max_side=half)
    out = tmp_path / "small.mp4"
    r.reenact_video(src, clip, out, options)
    assert probe_video(out).size == (half, half)
    beside = tmp_path / "beside.mp4"  # [driving | output] within max_side as a whole: the photo at SIZE px
    r.reenact_video(src, clip, beside, options.with_(side_by_side=True))
    assert probe_video(beside).size == (half, SIZE)
    frames = r.reenact(src, clip, options)
    faces = r.reenact(src, clip, options.with_(paste_back=False))
    canvas, transform = fit_canvas(src.image, src.transform, half)
    assert canvas.shape == (half, half, 3)
    for frame, rendered in zip(frames, faces):  # each frame: the face pasted into the scaled-down photo
        assert np.array_equal(frame, paste_back(canvas, rendered, transform, transform_size=src.crop.shape[0]))
    assert r.reenact(src, clip, options.with_(max_side=None))[0].shape == (big, big, 3)  # None: the photo's size
    assert r.reenact(src, clip, options.with_(max_side=big))[0].shape == (big, big, 3)  # already small enough
    live = r.live(src, paste_back=True, max_side=half)
    assert live.idle_frame().shape == (half, half, 3)
    with pytest.raises(ValueError, match="at least 16"):
        r.reenact(src, clip, options.with_(max_side=8))


def test_video_failures_leave_nothing(setup, clip, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.faces import NoFaceError
    from latentreenact.video import write_video

    r, _, src = setup
    calls = {"n": 0}
    original = r.render

    def failing(*args, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated failure in the second batch")
        return original(*args, **kw)

    monkeypatch.setattr(r, "render", failing)
    for name in ("out.mp4", "out.gif"):
        calls["n"] = 0
        with pytest.raises(RuntimeError, match="simulated"):
            r.reenact_video(src, clip, tmp_path / name, align=False, batch_size=2)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    dark = tmp_path / "dark.mp4"
    write_video(dark, [np.zeros((32, 32, 3), np.uint8)] * 3, 10)
    with pytest.raises(NoFaceError, match="no face"):
        r.reenact_video(src, dark, tmp_path / "never.mp4", align=False)
    with pytest.raises(ValueError, match="video file"):
        r.reenact_video(src, clip, tmp_path / "never.png", align=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dark.mp4"]


# ----------------------------------------------------------------------------------------- loading

def test_from_pretrained_directory_and_missing_defaults(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latentreenact import Reenactor, zoo
    from latentreenact.checkpoints.errors import CheckpointFormatError

    r, image, _ = setup
    folder = write_model_dir(tmp_path / "model", r)
    loaded = Reenactor.from_pretrained(folder, seed=3)
    assert loaded.render_size == SIZE and loaded.align_size == SIZE and loaded.seed == 3
    assert loaded.estimator.name == "bfm-net" and loaded.spec.names == r.spec.names
    src = loaded.invert(image, align=False, tune="none")
    assert torch.allclose(src.wplus, r.invert(image, align=False, tune="none").wplus, atol=1e-5)
    assert loaded.edit(src, yaw=10).shape == (SIZE, SIZE, 3)
    if not zoo.is_registered("encoder-mobilestylegan-ffhq"):
        with pytest.raises(zoo.ModelNotFoundError, match="encoder-mobilestylegan-ffhq"):
            Reenactor.from_pretrained("default")
    (folder / "reenactor.json").write_text(json.dumps({"encoder": "nothing.pt"}))
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        Reenactor.from_pretrained(folder)
    (folder / "reenactor.json").write_text(json.dumps({"generator": "net3d-bfm-net"}))
    with pytest.raises(ValueError, match="not a generator"):
        Reenactor.from_pretrained(folder)
    (folder / "reenactor.json").write_text("{not json")
    with pytest.raises(CheckpointFormatError):
        Reenactor.from_pretrained(folder)
    # values of the wrong kind name the file and the entry (were tracebacks, silently taken or misleading later;
    # found by the byog hunt, session 21)
    for bad, words in (([["generator", "generator.pt"]], "not a JSON object"), ({"generator": None}, "generator must"),
                       ({"estimator": {"backend": "bfm-net", "foo": 1}}, "do not fit the estimator"),
                       ({"estimator": 5}, "estimator must"), ({"truncation": "x"}, "truncation must"),
                       ({"render_size": "abc"}, "render_size must"), ({"align_size": 7}, "align_size must")):
        (folder / "reenactor.json").write_text(json.dumps(bad))
        with pytest.raises(CheckpointFormatError, match=words) as info:
            Reenactor.from_pretrained(folder)
        assert "reenactor.json" in str(info.value)
    from directions import DirectionMatrix

    DirectionMatrix(r.spec.k, 8, 512, seed=0, config={"layout": "bfm"}).save(folder / "other_A.pt")
    (folder / "reenactor.json").write_text(json.dumps({"directions": "other_A.pt"}))
    with pytest.raises(CheckpointFormatError, match="other_A.pt shifts 8 layers of 512.*generator.pt"):
        Reenactor.from_pretrained(folder)  # was: a message that named neither file
    with pytest.raises(FileNotFoundError, match="neither"):
        Reenactor.from_pretrained(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="name it there"):  # a generator file given as the model
        Reenactor.from_pretrained(folder / "generator.pt")


def test_released_matrix_in_a_model_directory(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A released A_matrix.pt (no layout or ranges in it) used from a model directory whose reenactor.json gives
    'layout' and a 'ranges' file: the reenactor renders what the same matrix in our format does (was: no way short
    of Python; found by the byog hunt, session 21)."""
    from latentreenact.checkpoints.errors import CheckpointFormatError
    from latentreenact.net3d.pose_vector import save_ranges
    from latentreenact.reenactor import Reenactor

    r, image, _ = setup
    folder = write_model_dir(tmp_path / "model", r)
    r.directions.save_released(folder / "A_matrix.pt")
    save_ranges(folder / "ranges.npy", r.spec.ranges_array())
    (folder / "ranges.json").write_text(json.dumps({"rows": list(r.spec.names)}))
    spec = json.loads((folder / "reenactor.json").read_text())
    (folder / "reenactor.json").write_text(json.dumps({**spec, "directions": "A_matrix.pt", "layout": "bfm",
                                                       "ranges": "ranges.npy"}))
    released = Reenactor.from_pretrained(folder)
    ours = Reenactor.from_pretrained(write_model_dir(tmp_path / "ours", r))
    assert released.spec == ours.spec
    src = ours.invert(image, align=False, tune="none")
    assert np.array_equal(released.edit(src, yaw=10, pitch=-5), ours.edit(src, yaw=10, pitch=-5))
    for change, words in (({"layout": None}, "give both"), ({"layout": "nope"}, "layout must be"),
                          ({"layout": ["yaw"]}, "layout must be"),
                          ({"ranges": "missing.npy"}, "missing.npy")):
        (folder / "reenactor.json").write_text(json.dumps({**spec, "directions": "A_matrix.pt", "layout": "bfm",
                                                           "ranges": "ranges.npy", **change}))
        with pytest.raises((CheckpointFormatError, FileNotFoundError), match=words):
            Reenactor.from_pretrained(folder)


def test_spec_from_matrix() -> None:
    from directions import DirectionMatrix
    from directions.matrix import spec_from_matrix

    spec = spec_from_matrix(tiny_directions())
    assert spec.names[:3] == ("yaw", "pitch", "roll") and spec.ranges["exp_0"] == (-2.0, 2.0)
    angles_ignored = DirectionMatrix(13, 4, 8, config={"layout": "bfm", "ranges": [None] * 3 + RANGES[3:]})
    assert spec_from_matrix(angles_ignored) == spec
    with pytest.raises(ValueError, match="layout"):
        spec_from_matrix(DirectionMatrix(15, 4, 8, config={"source": "released"}))
    with pytest.raises(ValueError, match="ranges"):
        spec_from_matrix(DirectionMatrix(13, 4, 8, config={"layout": "bfm", "ranges": RANGES[:5]}))


def test_aligned_path_on_real_photos(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Detection + FFHQ alignment of real photos (the default path), paste-back into the source photo."""
    from fixtures.face_photos import photo
    from latentreenact.faces import NoFaceError, find_face

    r = setup[0]
    portrait, driving = photo("obama_portrait"), photo("biden_blue_room")
    src = r.invert(portrait, tune="none")
    assert src.crop.shape == (SIZE, SIZE, 3) and src.image.shape == portrait.shape
    centre = src.transform @ np.array([(SIZE - 1) / 2, (SIZE - 1) / 2, 1.0])
    x0, y0, x1, y1 = find_face(portrait).box
    assert x0 < centre[0] < x1 and y0 < centre[1] < y1  # the crop's centre lies on the detected face
    out = r.reenact(src, [driving, np.zeros((40, 40, 3), np.uint8), portrait], paste_back=True)
    assert len(out) == 3 and all(f.shape == portrait.shape for f in out)
    assert np.array_equal(out[0], out[1])  # the faceless frame takes its neighbour's pose
    changed = np.abs(out[0].astype(int) - portrait.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.any() and x0 - 40 < xs.mean() < x1 + 40 and y0 - 40 < ys.mean() < y1 + 40
    with pytest.raises(NoFaceError):
        r.invert(np.full((64, 64, 3), 128, np.uint8))
    # landmarks found earlier: the same source without a second detection
    import latentreenact.faces.detection as detection

    landmarks = find_face(portrait).landmarks
    real, calls = detection.detect_faces, []
    monkeypatch.setattr(detection, "detect_faces", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = r.invert(portrait, landmarks=landmarks, tune="none", check_identity=False)  # no detection at all
    crop, transform = r.crop(portrait, landmarks=landmarks)
    assert not calls
    np.testing.assert_array_equal(again.crop, src.crop)
    np.testing.assert_array_equal(crop, src.crop)
    np.testing.assert_allclose(transform, src.transform)


def test_driving_roll_is_measured_in_the_frame(setup) -> None:  # type: ignore[no-untyped-def]
    """The FFHQ alignment levels the eyes, so Net3D sees no roll in the crop; measure() adds the crop's
    own rotation back: a driving photo turned by 10 degrees (counter-clockwise) reads as 10 degrees more roll."""
    from PIL import Image

    from fixtures.face_photos import photo

    r = setup[0]
    portrait = photo("obama_portrait")
    turned = np.asarray(Image.fromarray(portrait).rotate(10, resample=Image.Resampling.BICUBIC))
    p, found = r.measure([portrait, turned])
    assert found.all()
    roll = list(r.spec.names).index("roll")
    assert abs(float(p[1, roll] - p[0, roll]) - 10.0) < 1.5
    yaw = list(r.spec.names).index("yaw")
    assert abs(float(p[1, yaw] - p[0, yaw])) < 1.5  # the other angles barely move
    # align=False: the inputs are crops already, nothing is added
    crops = [r.driving_crop(portrait), r.driving_crop(turned)]
    q, _ = r.measure(crops, align=False)
    assert abs(float(q[1, roll] - q[0, roll])) < 1.5
