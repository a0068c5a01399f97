"""DECA backend: file readers (official layouts, generated here with random weights), FLAME LBS,
DECA's crop and camera, the estimator end to end, differentiability."""

from __future__ import annotations

import io
import pickle
import struct
import sys
import types
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch

from latentreenact.checkpoints.errors import CheckpointFormatError, UnsafePickleError
from latentreenact.net3d import PoseParams, get_estimator
from latentreenact.net3d.deca import (CODE_SPLIT, FLAME, DecaEncoder, DecaEstimator, apply_transform,
                                      crop_from_boxes, crop_from_landmarks, load_deca_encoder,
                                      read_flame_model, read_landmark_embedding, rodrigues, split_code,
                                      warp_to_crop)
from latentreenact.net3d.deca.estimator import orthographic_projection
from latentreenact.net3d.deca.flame_files import flame_unpickle
from latentreenact.shape3d import euler_from_rotation

N_V, N_F, JAW = 40, 60, 2  # vertices, faces, jaw joint index
PARENTS = [-1, 0, 1, 1, 1]
TINY = dict(stem=8, widths=(4, 4, 8, 8), blocks=(1, 2, 1, 1), hidden=32)


# ----------------------------------------------------------------------------- file writers


def _fake_chumpy() -> Dict[str, types.ModuleType]:
    """A stand-in ``chumpy.ch`` module whose ``Ch`` pickles like chumpy's (``__dict__`` with ``x``)."""
    chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.__dict__.update({"x": np.asarray(x, np.float64), "_dirty_vars": set(), "_itr": None,
                                  "_depends_on_deps": {}, "_make_dense": False, "_make_sparse": False})

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    chumpy.ch = ch
    return {"chumpy": chumpy, "chumpy.ch": ch}


def flame_arrays(seed: int = 0) -> Dict[str, np.ndarray]:
    """Random FLAME-layout arrays (small V; the full 400 blendshapes and 5 joints)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(N_V, 3)) * 0.05
    weights = rng.random((N_V, 5))
    weights[:8] = np.eye(5)[JAW]          # vertices 0..7 move with the jaw only
    weights[8:12] = np.eye(5)[0]          # vertices 8..11 with the root only
    weights /= weights.sum(1, keepdims=True)
    j_reg = np.zeros((5, N_V))
    for j in range(5):  # each joint regressed from a few vertices (sparse, as FLAME's)
        idx = rng.choice(N_V, 4, replace=False)
        j_reg[j, idx] = rng.random(4)
        j_reg[j] /= j_reg[j].sum()
    return {"v_template": v, "shapedirs": rng.normal(size=(N_V, 3, 400)) * 1e-3,
            "posedirs": rng.normal(size=(N_V, 3, 36)) * 1e-2, "J_regressor": j_reg,
            "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
            "weights": weights, "f": rng.integers(0, N_V, size=(N_F, 3)).astype(np.uint32)}


def write_flame_pkl(path: Path, arrays: Dict[str, np.ndarray], py2_names: bool = False) -> None:
    """``generic_model.pkl`` as FLAME ships it: a protocol-2 pickle of chumpy Ch arrays and a csc J_regressor."""
    import scipy.sparse

    fake = _fake_chumpy()
    saved = {k: sys.modules.get(k) for k in fake}
    sys.modules.update(fake)
    try:
        ch = fake["chumpy.ch"].Ch
        obj = {"v_template": ch(arrays["v_template"]), "shapedirs": ch(arrays["shapedirs"]),
               "posedirs": arrays["posedirs"], "J_regressor": scipy.sparse.csc_matrix(arrays["J_regressor"]),
               "kintree_table": arrays["kintree_table"], "weights": ch(arrays["weights"]), "f": arrays["f"],
               "J": ch(arrays["J_regressor"] @ arrays["v_template"]), "bs_style": "lbs", "bs_type": "lrotmin"}
        data = pickle.dumps(obj, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    if py2_names:  # the module names that Python-2 era numpy/scipy wrote
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        data = data.replace(b"scipy.sparse._csc", b"scipy.sparse.csc")
    path.write_bytes(data)


def write_landmark_embedding(path: Path, seed: int = 0) -> Dict[str, np.ndarray]:
    """DECA's ``landmark_embedding.npy``: an object .npy holding a dict (dynamic entries as torch tensors)."""
    rng = np.random.default_rng(seed)
    bary = rng.random((1, 68, 3))
    emb = {"static_lmk_faces_idx": rng.integers(0, N_F, 51).astype(np.int64),
           "static_lmk_bary_coords": rng.random((51, 3)),
           "dynamic_lmk_faces_idx": torch.from_numpy(rng.integers(0, N_F, (79, 17))),
           "dynamic_lmk_bary_coords": torch.from_numpy(rng.random((79, 17, 3))),
           "full_lmk_faces_idx": rng.integers(0, N_F, (1, 68)).astype(np.int64),
           "full_lmk_bary_coords": bary / bary.sum(-1, keepdims=True)}
    with open(path, "wb") as fh:
        np.save(fh, np.array(emb, dtype=object), allow_pickle=True)
    return emb


def write_deca_tar(path: Path, seed: int = 0, **widths) -> DecaEncoder:
    """``deca_model.tar`` (torch.save) with ``E_flame`` and other nets that must be ignored."""
    torch.manual_seed(seed)
    enc = DecaEncoder(**(widths or TINY)).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        enc.layers[2].weight.mul_(0.05)
    torch.save({"E_flame": enc.state_dict(), "E_detail": {"w": torch.zeros(3)}, "D_detail": {"w": torch.ones(2)},
                "opt": {"lr": torch.tensor(1e-4)}}, path)
    return enc


@pytest.fixture(scope="module")
def deca_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("deca")
    write_flame_pkl(folder / "generic_model.pkl", flame_arrays())
    write_landmark_embedding(folder / "landmark_embedding.npy")
    write_deca_tar(folder / "deca_model.tar")
    return folder


@pytest.fixture(scope="module")
def estimator(deca_dir: Path) -> DecaEstimator:
    return DecaEstimator(data_dir=deca_dir, crop="full")


# ----------------------------------------------------------------------------- readers


@pytest.mark.parametrize("py2_names", [False, True])
def test_flame_reader_without_chumpy(tmp_path: Path, py2_names: bool, monkeypatch) -> None:
    arrays = flame_arrays(1)
    write_flame_pkl(tmp_path / "m.pkl", arrays, py2_names=py2_names)
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules

    class Trap(types.ModuleType):  # reading must never look a class up in a real module
        def __getattr__(self, name):
            raise AssertionError(f"the reader resolved chumpy.ch.{name}")

    monkeypatch.setitem(sys.modules, "chumpy.ch", Trap("chumpy.ch"))
    data = read_flame_model(tmp_path / "m.pkl")
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    assert "chumpy" not in sys.modules
    np.testing.assert_array_equal(data.v_template, arrays["v_template"])
    np.testing.assert_array_equal(data.shapedirs, arrays["shapedirs"])
    np.testing.assert_array_equal(data.posedirs, arrays["posedirs"])
    np.testing.assert_array_equal(data.J_regressor, arrays["J_regressor"])  # dense from the csc matrix
    np.testing.assert_array_equal(data.weights, arrays["weights"])
    np.testing.assert_array_equal(data.faces, arrays["f"])
    assert data.parents.tolist() == PARENTS


def test_landmark_embedding_reader(tmp_path: Path) -> None:
    emb = write_landmark_embedding(tmp_path / "l.npy", seed=3)
    out = read_landmark_embedding(tmp_path / "l.npy")
    assert out["full_lmk_faces_idx"].shape == (68,) and out["full_lmk_bary_coords"].shape == (68, 3)
    np.testing.assert_array_equal(out["full_lmk_faces_idx"], emb["full_lmk_faces_idx"][0])
    np.testing.assert_array_equal(out["dynamic_lmk_faces_idx"], emb["dynamic_lmk_faces_idx"].numpy())
    np.testing.assert_array_equal(out["static_lmk_bary_coords"], emb["static_lmk_bary_coords"])


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


class _EvilNumpy:
    def __reduce__(self):
        return (np.load, ("/etc/passwd",))


def test_readers_refuse_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for evil in (_Evil(marker), _EvilNumpy()):
        (tmp_path / "m.pkl").write_bytes(pickle.dumps({"v_template": evil}, protocol=2))
        with pytest.raises(UnsafePickleError, match="refusing"):
            read_flame_model(tmp_path / "m.pkl")
        with open(tmp_path / "l.npy", "wb") as fh:
            np.save(fh, np.array({"full_lmk_faces_idx": evil}, dtype=object), allow_pickle=True)
        with pytest.raises(UnsafePickleError):
            read_landmark_embedding(tmp_path / "l.npy")
    assert not marker.exists()
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x02}q\x00(X\x01")  # truncated
    with pytest.raises(CheckpointFormatError):
        read_flame_model(tmp_path / "bad.pkl")
    with pytest.raises(FileNotFoundError, match="flame.is.tue.mpg.de"):
        read_flame_model(tmp_path / "missing.pkl")


def test_python2_array_pickle() -> None:
    """A numpy array as Python 2 pickled it (raw bytes as a py2 str, protocol 2) reads via latin-1."""
    raw = struct.pack("<2d", 1.5, -2.0)  # holds bytes >= 0x80
    data = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
            b"(K\x01K\x02\x85cnumpy\ndtype\nU\x02f8K\x00K\x01\x87R"
            b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89U\x10" + raw + b"tb.")
    assert pickle.loads(data, encoding="latin1").tolist() == [1.5, -2.0]  # the reference reading
    np.testing.assert_array_equal(flame_unpickle(io.BytesIO(data), "py2"), [1.5, -2.0])
    with pytest.raises(UnsafePickleError):  # numpy.ndarray is not callable through the pickle
        flame_unpickle(io.BytesIO(b"\x80\x02cnumpy\nndarray\nK\x02\x85R."), "call")


def test_flame_reader_checks_shapes(tmp_path: Path) -> None:
    arrays = flame_arrays()
    arrays["weights"] = arrays["weights"][:, :4]
    write_flame_pkl(tmp_path / "m.pkl", arrays)
    with pytest.raises(CheckpointFormatError, match="weights"):
        read_flame_model(tmp_path / "m.pkl")


def test_encoder_layout_and_loading(tmp_path: Path) -> None:
    full = DecaEncoder()  # ResNet-50 (torchvision key layout, no fc) + MLP 2048 -> 1024 -> 236
    keys = list(full.state_dict())
    assert keys[:6] == ["encoder.conv1.weight", "encoder.bn1.weight", "encoder.bn1.bias", "encoder.bn1.running_mean",
                        "encoder.bn1.running_var", "encoder.bn1.num_batches_tracked"]
    assert "encoder.layer1.0.downsample.0.weight" in keys and "encoder.layer4.2.conv3.weight" in keys
    assert keys[-4:] == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    trunk = sum(p.numel() for n, p in full.named_parameters() if n.startswith("encoder."))
    assert trunk == 25_557_032 - 2_049_000  # torchvision resnet50 minus its fc
    assert full.layers[0].in_features == 2048 and full.layers[2].out_features == 236
    del full
    enc = write_deca_tar(tmp_path / "deca_model.tar", seed=1)
    loaded = load_deca_encoder(tmp_path / "deca_model.tar")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), enc(x))
    bad = dict(enc.state_dict())
    bad["layers.2.weight"], bad["layers.2.bias"] = bad["layers.2.weight"][:200], bad["layers.2.bias"][:200]
    torch.save({"E_flame": bad}, tmp_path / "bad.tar")
    with pytest.raises(CheckpointFormatError, match="236"):
        load_deca_encoder(tmp_path / "bad.tar")
    torch.save({"E_detail": {}}, tmp_path / "none.tar")
    with pytest.raises(CheckpointFormatError, match="E_flame"):
        load_deca_encoder(tmp_path / "none.tar")


def test_split_code_order() -> None:
    code = torch.arange(236.0)[None]
    parts = split_code(code)
    assert [n for n, _ in CODE_SPLIT] == ["shape", "tex", "exp", "pose", "cam", "light"]
    assert parts["exp"][0, 0] == 150 and parts["pose"][0, 3] == 203 and parts["cam"][0].tolist() == [206, 207, 208]
    assert parts["light"].shape == (1, 9, 3)


# ----------------------------------------------------------------------------- FLAME / LBS


@pytest.fixture(scope="module")
def flame(deca_dir: Path) -> FLAME:
    return FLAME.load(deca_dir / "generic_model.pkl", deca_dir / "landmark_embedding.npy", dtype=torch.float64)


def test_zero_parameters_give_template(flame: FLAME) -> None:
    z = lambda n: torch.zeros(2, n, dtype=torch.float64)  # noqa: E731
    verts, lmk, joints = flame(z(100), z(50), z(6))
    assert verts.shape == (2, N_V, 3) and lmk.shape == (2, 68, 3) and joints.shape == (2, 5, 3)
    torch.testing.assert_close(verts[0], flame.v_template, rtol=0, atol=1e-12)


def test_jaw_rotation_matches_numpy(flame: FLAME) -> None:
    arrays = flame_arrays()
    theta = 0.3
    pose = torch.zeros(1, 6, dtype=torch.float64)
    pose[0, 3] = theta  # jaw axis-angle about x
    z = lambda n: torch.zeros(1, n, dtype=torch.float64)  # noqa: E731
    verts = flame(z(100), z(50), pose)[0][0].numpy()
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    feature = np.zeros(36)
    feature[9:18] = (rot - np.eye(3)).ravel()  # non-root joints: neck 0..8, jaw 9..17, eyes
    v_posed = arrays["v_template"] + np.einsum("vkf,f->vk", arrays["posedirs"], feature)
    joints = arrays["J_regressor"] @ arrays["v_template"]
    expected_jaw = (v_posed[:8] - joints[JAW]) @ rot.T + joints[JAW]
    np.testing.assert_allclose(verts[:8], expected_jaw, atol=1e-12)
    np.testing.assert_allclose(verts[8:12], v_posed[8:12], atol=1e-12)  # root-only vertices stay


def test_global_rotation_and_angles(flame: FLAME) -> None:
    axis_angle = torch.tensor([[0.2, -0.4, 0.1]], dtype=torch.float64)
    pose = torch.cat([axis_angle, torch.zeros(1, 3, dtype=torch.float64)], 1)
    z = lambda n: torch.zeros(1, n, dtype=torch.float64)  # noqa: E731
    verts = flame(z(100), z(50), pose)[0][0]
    rot = rodrigues(axis_angle)[0]
    root = flame.j_regressor[0] @ flame.v_template
    torch.testing.assert_close(verts, (flame.v_template - root) @ rot.T + root, rtol=0, atol=1e-12)
    torch.testing.assert_close(rot @ rot.T, torch.eye(3, dtype=torch.float64))
    # rodrigues agrees with the matrix exponential, small angles included
    for v in (axis_angle, torch.tensor([[1e-6, 0.0, -2e-6]], dtype=torch.float64)):
        k = torch.tensor([[0, -v[0, 2], v[0, 1]], [v[0, 2], 0, -v[0, 0]], [-v[0, 1], v[0, 0], 0]], dtype=torch.float64)
        torch.testing.assert_close(rodrigues(v)[0], torch.linalg.matrix_exp(k), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- crop and camera


def test_crop_formula_and_round_trip() -> None:
    points = torch.tensor([[[100.0, 80.0], [200.0, 160.0], [150.0, 120.0]]]).expand(1, 3, 2)
    t = crop_from_landmarks(points)
    side = int((100 + 80) / 2 * 1.1 * 1.25)  # DECA: old_size = mean(w, h) * 1.1, size = int(old_size * 1.25)
    corner = torch.tensor([[[150 - side / 2, 120 - side / 2], [150 + side / 2, 120 + side / 2]]], dtype=torch.float64)
    torch.testing.assert_close(apply_transform(t, corner), torch.tensor([[[0.0, 0.0], [223.0, 223.0]]],
                                                                      dtype=torch.float64))
    mapped = apply_transform(t, points.double())
    assert bool(((mapped > 0) & (mapped < 223)).all())
    back = apply_transform(torch.linalg.inv(t), mapped)
    torch.testing.assert_close(back, points.double())
    box = crop_from_boxes([[100.0, 80.0, 200.0, 160.0]])  # detector box: centre moved down by 0.12 * size
    torch.testing.assert_close(apply_transform(torch.linalg.inv(box), torch.tensor([[[111.5, 111.5]]],
                                                                                  dtype=torch.float64)),
                               torch.tensor([[[150.0, 120.0 + 90 * 0.12]]], dtype=torch.float64), atol=1e-3, rtol=0)


def test_warp_samples_the_right_pixels() -> None:
    h, w = 300, 260
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    image = torch.stack([xx, yy, xx + 2 * yy])[None]  # linear ramps: bilinear sampling is exact
    t = crop_from_landmarks(torch.tensor([[[90.0, 100.0], [170.0, 190.0]]]))
    crop = warp_to_crop(image, t)
    v, u = 17, 201
    src = apply_transform(torch.linalg.inv(t), torch.tensor([[[float(u), float(v)]]], dtype=torch.float64))[0, 0]
    torch.testing.assert_close(crop[0, :, v, u], torch.stack([src[0], src[1], src[0] + 2 * src[1]]))


def test_orthographic_projection_convention() -> None:
    pts = torch.tensor([[[0.1, 0.2, 0.3]]])
    cam = torch.tensor([[2.0, 0.05, -0.1]])
    torch.testing.assert_close(orthographic_projection(pts, cam), torch.tensor([[[0.3, -0.2]]]))


# ----------------------------------------------------------------------------- estimator


def test_estimator_outputs(estimator: DecaEstimator) -> None:
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    p = estimator.estimate(images)
    assert isinstance(p, PoseParams) and p.backend == "deca"
    assert p.angles.shape == (2, 3) and p.expression.shape == (2, 50) and p.jaw.shape == (2,)
    assert p.identity.shape == (2, 100) and p.landmarks.shape == (2, 68, 2) and p.vertices.shape == (2, N_V, 3)
    assert p.found.tolist() == [True, True]
    shapes = {k: tuple(v.shape) for k, v in p.extras.items()}
    assert shapes == {"shape": (2, 100), "tex": (2, 50), "exp": (2, 50), "pose": (2, 6), "cam": (2, 3),
                      "light": (2, 9, 3), "landmarks3d": (2, 68, 3), "landmarks_crop": (2, 68, 2),
                      "rotation": (2, 3, 3), "crop_transform": (2, 3, 3)}
    torch.testing.assert_close(p.jaw, p.extras["pose"][:, 3])
    torch.testing.assert_close(p.angles, euler_from_rotation(rodrigues(p.extras["pose"][:, :3])))
    # landmarks: s * (X + t), y flipped, [-1, 1] -> 224 px crop, crop -> image (64 px: scale 223 / 63)
    proj = orthographic_projection(p.extras["landmarks3d"], p.extras["cam"])
    crop_px = (proj + 1) * 112
    torch.testing.assert_close(p.extras["landmarks_crop"], crop_px)
    torch.testing.assert_close(p.landmarks, crop_px * (63 / 223), rtol=1e-5, atol=1e-4)
    assert p.to_vector("deca-voxceleb").shape == (2, 15) and p.to_vector("deca-ffhq").shape == (2, 15)
    assert p.to_vector("bfm").shape == (2, 13) and len(p.range_names()) == 54
    # uint8 list input of different sizes gives the same numbers for the same pixels
    from latentreenact.images import to_uint8

    rgb = list(to_uint8(images))
    q = estimator.estimate([rgb[0], rgb[1]])
    torch.testing.assert_close(q.angles, p.angles, atol=0.05, rtol=0)  # uint8 rounding only
    r = estimator.estimate([np.zeros((48, 80, 3), np.uint8)])
    assert r.landmarks.shape == (1, 68, 2)


def test_estimator_is_differentiable(estimator: DecaEstimator) -> None:
    torch.manual_seed(1)
    images = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    landmarks = torch.tensor([[10.0, 12.0], [50.0, 55.0]]).repeat(34, 1)[None].repeat(2, 1, 1)
    for kwargs in ({}, {"landmarks": landmarks}):
        images.grad = None
        p = estimator.estimate(images, **kwargs)
        (p.angles.sum() + p.expression.sum() + p.jaw.sum() + p.landmarks.sum()).backward()
        assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert not any(prm.requires_grad for prm in estimator.encoder.parameters())


def test_deca_ranges_have_the_released_rows(estimator: DecaEstimator) -> None:
    from latentreenact.net3d.pose_vector import RELEASED_RANGE_NAMES
    from helpers import tiny_generator
    from latentreenact.net3d.ranges import collect_ranges

    result = collect_ranges(tiny_generator(size=16, style_dim=8), estimator, 3, batch_size=2)
    assert result.names == list(RELEASED_RANGE_NAMES) and result.ranges().shape == (54, 2) and result.count == 3


def test_registry_builds_deca_and_reports_missing_files(deca_dir: Path, tmp_path: Path, monkeypatch) -> None:
    est = get_estimator("deca", data_dir=deca_dir, crop="full")
    assert est.differentiable and est.name == "deca"
    monkeypatch.delenv("LATENTREENACT_DECA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="LATENTREENACT_DECA_DIR"):
        get_estimator("deca")
    with pytest.raises(FileNotFoundError, match="deca_model.tar"):
        get_estimator("deca", data_dir=tmp_path)


def test_detect_mode_masks_images_without_faces(estimator: DecaEstimator, deca_dir: Path) -> None:
    pytest.importorskip("dlib")
    est = DecaEstimator(data_dir=deca_dir, crop="detect")
    blank = torch.zeros(2, 3, 64, 64)
    p = est.estimate(blank, missing="mask")
    assert p.found.tolist() == [False, False] and torch.isnan(p.angles).all()
    from latentreenact.faces import NoFaceError

    with pytest.raises(NoFaceError):
        est.estimate(blank)
    from fixtures.face_photos import photo
    from latentreenact.faces import find_face

    image = photo("obama_portrait")
    p = est.estimate([image, np.zeros((64, 64, 3), np.uint8)], missing="mask")
    assert p.found.tolist() == [True, False] and torch.isfinite(p.angles[0]).all()
    inside = apply_transform(p.extras["crop_transform"][:1], torch.as_tensor(find_face(image).landmarks[None]).double())
    assert bool(((inside > 0) & (inside < 223)).all())  # the detected face lies inside DECA's crop
