"""Net3D interface: PoseParams and the pose vector, the backend registry, the ``bfm-fit`` backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentreenact.net3d.pose_vector import LAYOUTS, RELEASED_RANGE_NAMES
from fixtures.face_photos import photo
from latentreenact.net3d import BACKENDS, MissingEntryError, PoseParams, get_estimator


def _params(jaw: bool, n_exp: int, batch: int = 3) -> PoseParams:
    g = torch.Generator().manual_seed(0)
    return PoseParams(angles=torch.randn(batch, 3, generator=g), expression=torch.randn(batch, n_exp, generator=g),
                      landmarks=torch.zeros(batch, 68, 2), backend="deca" if jaw else "bfm-fit",
                      jaw=torch.randn(batch, generator=g) if jaw else None)


def test_to_vector_layouts() -> None:
    deca = _params(jaw=True, n_exp=50)
    p = deca.to_vector("deca-voxceleb")
    assert p.shape == (3, 15)
    torch.testing.assert_close(p[:, :3], deca.angles)
    torch.testing.assert_close(p[:, 3], deca.jaw)
    torch.testing.assert_close(p[:, 4:], deca.expression[:, :11])
    ffhq = deca.to_vector("deca-ffhq")  # no roll, 12 expressions
    torch.testing.assert_close(ffhq[:, :2], deca.angles[:, :2])
    torch.testing.assert_close(ffhq[:, 2], deca.jaw)
    torch.testing.assert_close(ffhq[:, 3:], deca.expression[:, :12])
    assert deca.range_names() == list(RELEASED_RANGE_NAMES)  # the released 54-row ranges file
    assert deca.to_vector(["exp_3", "yaw"]).shape == (3, 2)

    bfm = _params(jaw=False, n_exp=10)
    assert bfm.to_vector("bfm").shape == (3, len(LAYOUTS["bfm"]))
    assert bfm.range_names() == ["yaw", "pitch", "roll"] + [f"exp_{i}" for i in range(10)]
    with pytest.raises(MissingEntryError, match="'deca-voxceleb'.*jaw"):
        bfm.to_vector("deca-voxceleb")
    with pytest.raises(MissingEntryError, match="exp_12"):
        _params(jaw=True, n_exp=12).to_vector(["exp_12"])
    with pytest.raises(ValueError, match="unknown pose-vector layout"):
        bfm.to_vector("nope")
    sub = deca.select(torch.tensor([True, False, True]))
    assert len(sub) == 2 and sub.jaw.shape == (2,) and sub.found.all()


def test_pose_params_validates_shapes() -> None:
    with pytest.raises(ValueError, match="landmarks"):
        PoseParams(angles=torch.zeros(2, 3), expression=torch.zeros(2, 10), landmarks=torch.zeros(2, 5, 2),
                   backend="x")
    with pytest.raises(ValueError, match="angles"):
        PoseParams(angles=torch.zeros(2, 2), expression=torch.zeros(2, 10), landmarks=torch.zeros(2, 68, 2),
                   backend="x")


def test_registry() -> None:
    assert set(BACKENDS) == {"bfm-fit", "bfm-rigid", "deca", "bfm-net"}
    assert get_estimator("bfm-net").name == "bfm-net"  # the shipped default weights
    with pytest.raises(ValueError, match="unknown Net3D backend"):
        get_estimator("nope")


@pytest.fixture(scope="module")
def bfm_fit():
    try:
        return get_estimator("bfm-fit")
    except FileNotFoundError as exc:  # BFM or dlib files missing
        pytest.skip(str(exc))


def test_bfm_fit_backend(bfm_fit) -> None:
    from latentreenact.faces import NoFaceError, find_face
    from latentreenact.images import from_uint8
    from latentreenact.shape3d import fit_landmarks

    portrait, congress = photo("obama_portrait"), photo("obama_congress")
    p = bfm_fit.estimate([portrait, congress])
    assert p.backend == "bfm-fit" and p.jaw is None and p.found.tolist() == [True, True]
    assert p.angles.shape == (2, 3) and p.expression.shape == (2, 10) and p.identity.shape == (2, 40)
    assert p.landmarks.shape == (2, 68, 2) and p.vertices is None
    reference = fit_landmarks(np.stack([find_face(portrait).landmarks, find_face(congress).landmarks]))
    torch.testing.assert_close(p.angles, reference.angles)
    assert float(p.yaw[1]) > 8  # turned towards the image's left (as in test_shape3d_photos)
    assert p.to_vector("bfm").shape == (2, 13)
    with pytest.raises(MissingEntryError, match="jaw"):
        p.to_vector("deca-voxceleb")
    # tensor input in [-1, 1], and an image without a face
    blank = np.zeros_like(portrait)
    tensor = from_uint8(np.stack([portrait, blank]))
    q = bfm_fit.estimate(tensor, missing="mask")
    assert q.found.tolist() == [True, False] and torch.isnan(q.angles[1]).all()
    torch.testing.assert_close(q.angles[0], p.angles[0])
    with pytest.raises(NoFaceError, match=r"\[1\]"):
        bfm_fit.estimate(tensor)


def test_bfm_fit_with_given_boxes_equals_detection_with_those_boxes() -> None:
    from latentreenact.faces import find_face
    from latentreenact.faces.alignment import face_crop

    estimator = get_estimator("bfm-rigid")
    crop = face_crop(photo("astronaut"), 256).crop
    box = find_face(crop).box  # the box the detector gives: the landmarks, and so the fit, are the same
    detected = estimator.estimate([crop])
    boxed = estimator.estimate_boxes([crop], [box])
    assert torch.equal(boxed.angles, detected.angles) and torch.equal(boxed.expression, detected.expression)
    shifted = estimator.estimate_boxes([crop], [tuple(v + 3 for v in box)])  # a tracked box, a little off
    assert shifted.found.all() and (shifted.angles - detected.angles).abs().max() < 3.0
    with pytest.raises(ValueError, match="1 images but 2 boxes"):
        estimator.estimate_boxes([crop], [box, box])
