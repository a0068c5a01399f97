"""Identity networks: the ONNX importer vs onnxruntime, SFace on real photos, ArcFace alignment,
IR-SE50 against the golden vectors, dlib's descriptor and the identity loss."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from fixtures.face_photos import PEOPLE, photo, single_thread
from golden_weights import rebuild_from_manifest
from latentreenact.checkpoints.errors import CheckpointFormatError
from latentreenact.faces import align_ffhq, find_face, five_points
from latentreenact.faces.model_files import onnx_model_path
from latentreenact.identity import (ARCFACE_TEMPLATE, IRSE50, IdentityLoss, arcface_align, arcface_align_numpy,
                                    arcface_align_torch, dlib_distance, dlib_face_descriptor, e4e_crop,
                                    identity_similarity, import_onnx, load_irse50, load_sface, sface_embedding,
                                    similarity_transform)
from latentreenact.identity.arcface_align import similarity_transform_torch
from latentreenact.images import from_uint8

_threads = pytest.fixture(scope="module", autouse=True)(single_thread)


# ----------------------------------------------------------------------------- ONNX importer
def _ort_session(path):
    """An onnxruntime session for our comparison. Two edits that keep the graph's meaning:
    drop stale graph inputs that no node reads (onnxruntime would demand them), and write the
    single-block DequantizeLinear scales as per-tensor scalars (onnxruntime rejects a block size
    on a size-1 scale); the input's spatial size is made free."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test-only dependency) is not installed")
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    keep = [i for i in graph.input if i.name in used]
    del graph.input[:]
    graph.input.extend(keep)
    for value in graph.input:
        for j, dim in enumerate(value.type.tensor_type.shape.dim):
            if j >= 2:
                dim.dim_param = f"d{j}"
    inits = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and int(np.prod(inits[node.input[1]].dims)) == 1:
            attrs = [a for a in node.attribute if a.name not in ("block_size", "axis")]
            del node.attribute[:]
            node.attribute.extend(attrs)
            for name in node.input[1:]:
                inits[name].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(inits[name]).reshape(()), name))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("kind,shape", [("sface", (2, 3, 112, 112)), ("yunet", (1, 3, 160, 224))])
def test_onnx_import_matches_onnxruntime(kind, shape):
    session = _ort_session(onnx_model_path(kind))
    module = import_onnx(onnx_model_path(kind)).eval()
    x = torch.rand(shape, generator=torch.Generator().manual_seed(7)) * 255
    with torch.no_grad():
        ours = module(x)
    ours = ours if isinstance(ours, tuple) else (ours,)
    for b in range(shape[0]):
        ref = session.run(None, {module.input_names[0]: x[b:b + 1].numpy()})
        assert len(ref) == len(ours)
        for mine, theirs in zip(ours, ref):
            assert np.abs(mine[b:b + 1].numpy() - theirs).max() < 1e-4


def test_sface_conventions_and_gradients():
    sface = load_sface()
    assert not any(p.requires_grad for p in sface.parameters())
    x = torch.rand(2, 3, 112, 112, generator=torch.Generator().manual_seed(0)) * 2 - 1
    raw = sface.graph((x + 1) * 127.5)
    assert torch.allclose(sface(x, normalize=False), raw)
    emb = sface(x)
    assert emb.shape == (2, 128) and torch.allclose(emb.norm(dim=1), torch.ones(2))
    x.requires_grad_(True)
    sface(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    maps = sface.feature_maps(x.detach())
    assert [m.shape[-1] for m in maps] == [112, 56, 28, 14, 7]
    with pytest.raises(ValueError, match="112"):
        sface(torch.zeros(1, 3, 64, 64))


# ----------------------------------------------------------------------------- identity on real photos
@pytest.fixture(scope="module")
def faces_found():
    return {name: find_face(photo(name), name=name) for name in PEOPLE}


def _pairs():
    same, diff = [], []
    for a, b in itertools.combinations(sorted(PEOPLE), 2):
        (same if PEOPLE[a] == PEOPLE[b] else diff).append((a, b))
    return same, diff


def test_sface_separates_identities(faces_found):
    emb = {n: sface_embedding(photo(n), faces_found[n]) for n in PEOPLE}
    same, diff = _pairs()
    s = [identity_similarity(emb[a], emb[b]) for a, b in same]
    d = [identity_similarity(emb[a], emb[b]) for a, b in diff]
    # measured: same person 0.74..0.80, different people 0.09..0.29 (OpenCV's threshold: 0.363)
    assert min(s) > 0.6 and max(d) < 0.4 and min(s) - max(d) > 0.3, (s, d)


def test_dlib_descriptor_separates_identities(faces_found):
    desc = {n: dlib_face_descriptor(photo(n), faces_found[n]) for n in PEOPLE}
    assert desc["astronaut"].shape == (128,)
    same, diff = _pairs()
    s = [dlib_distance(desc[a], desc[b]) for a, b in same]
    d = [dlib_distance(desc[a], desc[b]) for a, b in diff]
    assert max(s) < 0.6 < min(d), (s, d)  # dlib's same-person threshold


def test_identity_similarity_numpy_and_torch():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [-1.0, -1.0]])
    assert np.allclose(identity_similarity(a, b), [1.0, -1.0])
    assert identity_similarity(a[0], b[0]) == pytest.approx(1.0)
    t = identity_similarity(torch.tensor(a), torch.tensor(b))
    assert torch.allclose(t, torch.tensor([1.0, -1.0], dtype=t.dtype))


def test_identity_loss_sface_on_ffhq_crops(faces_found):
    crops = {n: align_ffhq(photo(n), faces_found[n].landmarks, 256).crop for n in PEOPLE}
    loss = IdentityLoss("sface")
    x = from_uint8(np.stack([crops["obama_portrait"], crops["obama_portrait"]]))
    y = from_uint8(np.stack([crops["obama_congress"], crops["biden_blue_room"]]))
    with torch.no_grad():
        same_self = loss(x[:1], x[:1])
        value = loss(x, y)
    assert same_self.abs().max() < 1e-5
    assert value[0] < 0.5 < value[1], value


# ----------------------------------------------------------------------------- ArcFace alignment
def test_similarity_transform_recovers_a_known_one():
    theta, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    m = scale * np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    src = ARCFACE_TEMPLATE.astype(np.float64)
    dst = src @ m.T + shift
    t = similarity_transform(src, dst)
    assert np.allclose(t[:2, :2], m) and np.allclose(t[:2, 2], shift)
    noisy = src + np.random.default_rng(0).normal(0, 2.0, src.shape)
    tt = similarity_transform_torch(torch.tensor(noisy)[None], torch.tensor(dst))[0].numpy()
    assert np.allclose(tt, similarity_transform(noisy, dst), atol=1e-9)


def test_arcface_align_numpy_and_torch_agree(faces_found):
    image = photo("obama_portrait")
    p5 = five_points(faces_found["obama_portrait"].landmarks)
    crop, transform = arcface_align_numpy(image, p5)
    assert crop.shape == (112, 112, 3)
    assert np.allclose(np.linalg.inv(transform)[:2] @ np.c_[p5, np.ones(5)].T,
                       similarity_transform(p5, ARCFACE_TEMPLATE)[:2] @ np.c_[p5, np.ones(5)].T)
    t = arcface_align(from_uint8(image), torch.from_numpy(p5)[None])
    assert t.shape == (1, 3, 112, 112)
    ours = ((t[0].permute(1, 2, 0) + 1) * 127.5).numpy()
    assert np.abs(ours - crop).mean() < 1.0  # both bilinear, same geometry


def test_arcface_align_torch_is_differentiable():
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, 40, 48, dtype=torch.float64, generator=g).requires_grad_(True)
    pts = (torch.tensor(ARCFACE_TEMPLATE * 0.35 + 4.0, dtype=torch.float64)[None].repeat(2, 1, 1)
           + torch.rand(2, 5, 2, dtype=torch.float64, generator=g)).requires_grad_(True)
    weight = torch.rand(2, 3, 24, 24, dtype=torch.float64, generator=g)
    f = lambda im, p: (arcface_align_torch(im, p, size=24) * weight).sum()  # noqa: E731
    f(images, pts).backward()
    assert images.grad.abs().sum() > 0 and pts.grad.abs().sum() > 0
    # directional derivative along the points vs central differences (bilinear sampling is only
    # piecewise smooth, so compare loosely rather than with gradcheck)
    direction = torch.randn(pts.shape, dtype=torch.float64, generator=g) * 1e-4
    with torch.no_grad():
        numeric = (f(images, pts + direction) - f(images, pts - direction)) / 2
    assert abs(float(numeric) - float((pts.grad * direction).sum())) < 0.05 * abs(float(numeric)) + 1e-9


# ----------------------------------------------------------------------------- IR-SE50
def _golden_irse50_state(golden_dir):
    """Rebuild the seeded IR-SE50 weights exactly as golden/README.md describes."""
    vectors = torch.load(golden_dir / "e4e" / "irse50_vectors.pt", map_location="cpu", weights_only=True)
    state = rebuild_from_manifest(golden_dir / "e4e" / "irse50_manifest.json", int(vectors["seed"]))
    return state, vectors


@pytest.fixture(scope="module")
def irse50_file(golden_dir, tmp_path_factory):
    state, vectors = _golden_irse50_state(golden_dir)
    path = tmp_path_factory.mktemp("irse50") / "model_ir_se50.pth"
    torch.save(state, path)  # the official layout: a plain state_dict
    return path, vectors


def test_irse50_matches_golden(irse50_file):
    path, vectors = irse50_file
    model = load_irse50(path)
    assert list(model.state_dict()) == list(torch.load(path, weights_only=True))
    with torch.no_grad():
        features = model(vectors["x"])
    assert (features - vectors["features"]).abs().max() < 1e-4


def test_load_irse50_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_ir_se50"):
        load_irse50(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"foo": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointFormatError, match="missing keys"):
        load_irse50(bad)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointFormatError):
        load_irse50(tmp_path / "junk.pth")


def test_identity_loss_irse50_e4e_crop(irse50_file):
    path, _ = irse50_file
    loss = IdentityLoss("irse50", irse50_path=str(path))
    x = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(3)) * 2 - 1
    manual = torch.nn.functional.adaptive_avg_pool2d(x[:, :, 35:223, 32:220], (112, 112))
    assert torch.equal(e4e_crop(x), manual)
    assert e4e_crop(torch.zeros(1, 3, 1024, 1024)).shape == (1, 3, 112, 112)
    y = x.flip(0).clone().requires_grad_(True)
    value = loss(x, y)
    assert value.shape == (2,) and (value > 0).all()
    value.sum().backward()
    assert y.grad.abs().sum() > 0
    with torch.no_grad():
        assert loss(x, x).abs().max() < 1e-5
    with pytest.raises(ValueError, match="irse50_path"):
        IdentityLoss("irse50")
    assert isinstance(loss.net, IRSE50)


def test_torch_alignment_fills_black_outside_the_image():
    """The differentiable path pads with black (-1), like the numpy path, not with mid-grey (0)."""
    from latentreenact.identity import ARCFACE_TEMPLATE, arcface_align_torch

    image = torch.ones(1, 3, 60, 60)  # white
    points = torch.as_tensor(np.asarray(ARCFACE_TEMPLATE, dtype=np.float32))[None] - 40  # crop = image shifted by 40
    crop = arcface_align_torch(image, points, size=112)
    assert torch.allclose(crop[0, :, 0, 0], torch.full((3,), -1.0))  # maps to (-40, -40): outside, black
    assert torch.allclose(crop[0, :, 60, 60], torch.ones(3))  # maps to (20, 20): inside, white
