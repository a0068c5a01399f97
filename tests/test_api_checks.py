"""The Reenactor API refuses what it cannot use with a clear exception, before any work, instead of an internal
error or a silently wrong result (found by an API-level bug hunt, session 20). Tiny models, aligned inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures.face_photos import single_thread
from latentreenact.output_paths import OutputIsInputError
from latentreenact.reenact_video import ReenactOptions
from tiny_reenactor import face, tiny_reenactor, tiny_setup

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)
setup = pytest.fixture(scope="module")(tiny_setup)


@pytest.mark.parametrize("call", [
    lambda r, img: r.reenact("photo.jpg", [img], align=False),
    lambda r, img: r.reenact_images(img, [img], align=False),
    lambda r, img: r.reenact_video(None, "clip.mp4", "out.mp4"),
    lambda r, img: r.edit(img, yaw=5),
    lambda r, img: r.live("photo.jpg"),
    lambda r, img: r.save_source(img, "x.lrsource"),
])
def test_a_photo_where_a_source_belongs_is_a_type_error(setup, call) -> None:  # type: ignore[no-untyped-def]
    r, image, _ = setup
    with pytest.raises(TypeError, match="expected a Source"):
        call(r, image)


def test_options_must_be_reenact_options(setup) -> None:  # type: ignore[no-untyped-def]
    r, image, src = setup
    with pytest.raises(TypeError, match="ReenactOptions"):
        r.reenact(src, [image], {"smoothing": 0.3})
    assert len(r.reenact(src, [image], ReenactOptions(align=False), smoothing=0.3)) == 1


def test_the_video_path_never_writes_over_its_clip(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latentreenact.video import write_video

    r, image, src = setup
    clip = tmp_path / "clip.mp4"
    write_video(clip, [image] * 3, 10)
    before = clip.read_bytes()
    with pytest.raises(OutputIsInputError, match="would overwrite"):
        r.reenact_video(src, clip, clip, ReenactOptions(align=False))
    assert clip.read_bytes() == before


def test_an_unknown_detector_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown face detector 'cnn'"):
        tiny_reenactor(detector="cnn")


def test_images_on_another_scale_are_refused_and_pil_images_taken(setup) -> None:  # type: ignore[no-untyped-def]
    r, image, src = setup
    options = ReenactOptions(align=False)
    with pytest.raises(ValueError, match=r"image / 255"):
        r.reenact(src, image.astype(np.float64), options)  # 0-255 floats: was white, then "no face"
    with pytest.raises(ValueError, match=r"\(image \+ 1\) / 2"):
        r.reenact(src, image / 127.5 - 1.0, options)
    from_float = r.reenact(src, image / 255.0, options)
    from_pil = r.reenact(src, Image.fromarray(image), options)  # was: 'JpegImageFile' object is not iterable
    assert np.array_equal(from_pil[0], r.reenact(src, image, options)[0]) and np.array_equal(from_float[0], from_pil[0])
    with pytest.raises(TypeError, match="driving must be"):
        r.reenact(src, 42, options)
    with pytest.raises(ValueError, match="is a video"):  # was: "cannot read image" (and a GIF's first frame only)
        r.reenact_images(src, "clip.gif", options)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"expression": {1.5: 1.0}}, ValueError, "coefficient indices"),  # was: exp_1, silently
    ({"expression": {"exp_0": 1.0}}, ValueError, "coefficient indices"),
    ({"expression": [1.0, 2.0]}, TypeError, "must be a mapping"),
    ({"controls": [("smile", 1.0)]}, TypeError, "must be a mapping"),
    ({"controls": {"smile": None}}, TypeError, r"controls\['smile'\] must be a number"),
    ({"yaw": "5"}, TypeError, "yaw must be a number"),
])
def test_edit_arguments_are_checked(setup, kwargs, error, message) -> None:  # type: ignore[no-untyped-def]
    r, _, src = setup
    with pytest.raises(error, match=message):
        r.edit(src, **kwargs)


def test_an_integral_float_index_and_numpy_numbers_are_fine(setup) -> None:  # type: ignore[no-untyped-def]
    r, _, src = setup
    assert np.array_equal(r.edit(src, expression={1.0: 0.5}), r.edit(src, expression={1: np.float32(0.5)}))


def test_gains_survive_a_round_trip_through_an_uncalibrated_reenactor(tmp_path) -> None:
    """Was: a source saved by a reenactor with calibrate=False came back without its gains, though its info kept
    them, so a calibrating reenactor reenacted it uncalibrated (49 grey levels off), without a word."""
    r = tiny_reenactor()
    image = face(r.generator, 3)
    src = r.invert(image, align=False, tune="none")
    r.save_source(src, tmp_path / "a.lrsource")
    plain = tiny_reenactor(calibrate=False)
    passed = plain.load_source(tmp_path / "a.lrsource")
    assert passed.pose_gains == {}
    plain.save_source(passed, tmp_path / "b.lrsource")
    back = r.load_source(tmp_path / "b.lrsource")
    assert back.pose_gains == pytest.approx(src.pose_gains) and back.pose_leaks == src.pose_leaks
    dp = torch.zeros(2, r.spec.k)
    dp[1, 1] = 2.0
    assert np.array_equal(r.faces(back, dp), r.faces(src, dp))


def test_render_arguments_are_checked(setup) -> None:  # type: ignore[no-untyped-def]
    r, image, src = setup
    with pytest.raises(ValueError, match="B >= 1"):
        r.faces(src, torch.zeros(0, r.spec.k))  # was: numpy's "zero-size array to reduction operation"
    with pytest.raises(ValueError, match="W\\+ offset must be"):
        r.faces(src, torch.zeros(1, r.spec.k), offset=torch.zeros(1, 5, src.wplus.shape[2]))  # was: a torch error
    with pytest.raises(TypeError, match="pass also=\\[path\\]"):
        r.invert(image, align=False, tune="pti", also="other.jpg")  # was: each character read as a path


@pytest.mark.parametrize("settings, message", [
    ({"batch_size": 2.5}, "batch_size must be an integer"), ({"batch_size": True}, "batch_size must be an integer"),
    ({"smoothing": 1.0}, "smoothing must be in"), ({"max_side": 15}, "at least 16"),
    ({"expression_limit": 0}, "expression limit must be > 0"),
])
def test_reenact_options_are_checked_when_made(settings, message) -> None:  # type: ignore[no-untyped-def]
    """Was: batch_size 2.5 or True taken, max_side under 16 taken without paste-back."""
    with pytest.raises(ValueError, match=message):
        ReenactOptions(**settings)


def test_reenact_options_take_numpy_integers() -> None:
    """Was: ``max_side=np.int64(1024)`` refused as 'at least 16 pixels' (found by the code review)."""
    import numpy as np

    options = ReenactOptions(batch_size=np.int64(4), max_side=np.int32(1024))
    assert options.batch_size == 4 and options.max_side == 1024
    assert type(options.batch_size) is int and type(options.max_side) is int
    with pytest.raises(ValueError, match="max_side must be an integer"):
        ReenactOptions(max_side=1024.0)


def test_live_checks_its_bound_when_made(setup) -> None:  # type: ignore[no-untyped-def]
    r, _, src = setup
    with pytest.raises(ValueError, match="expression limit must be > 0"):
        r.live(src, expression_limit=0)  # was: at the first frame with a face
