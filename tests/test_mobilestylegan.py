"""MobileStyleGAN: our IR reader, the PyTorch port vs OpenVINO / the committed reference, W+ semantics."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from latentreenact.models import mobilestylegan as msg
from latentreenact.models.mobilestylegan import MobileStyleGAN
from latentreenact.models.mobilestylegan_layers import wavelet_to_image
from latentreenact.models.openvino_ir import IRFormatError, IRGraph

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "mobilestylegan_reference.pt"
HAS_RANDOM_FACE = importlib.util.find_spec("random_face") is not None
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
needs_weights = pytest.mark.skipif(
    not HAS_RANDOM_FACE, reason="random_face not installed (pip install --no-deps random-face==2021.7.21.1)")
needs_openvino = pytest.mark.skipif(
    not (HAS_OPENVINO and HAS_RANDOM_FACE), reason="openvino (dev-only) or random_face not installed")

# Measured port error vs OpenVINO (f32, CPU): w 4.7e-6, 1024 px image 2.0e-5 max abs.
# Tolerances leave a 10-20x margin for other CPUs / BLAS builds.
W_TOL = 1e-4
IMG_TOL = 2e-4


def tiny_model(level_heads: bool = False, seed: int = 0, style_layout: str = "per_layer") -> MobileStyleGAN:
    """A random 64 px model with the same structure (3 blocks, n_latent 11), for fast semantic tests."""
    torch.manual_seed(seed)
    G = MobileStyleGAN(style_dim=32, n_mlp=2, channels=(16, 16, 16, 8), level_heads=level_heads,
                       style_layout=style_layout).eval()
    with torch.no_grad():
        for layer in G.synthesis_network.noise_layers():
            layer.strength.fill_(0.5)
    return G


@pytest.fixture(scope="module")
def G() -> MobileStyleGAN:
    return MobileStyleGAN.from_ir()


@pytest.fixture(scope="module")
def reference() -> dict:
    return torch.load(REFERENCE, weights_only=True)


@pytest.fixture(scope="module")
def rendered(G: MobileStyleGAN, reference: dict) -> dict:
    """Our w for the reference z and the 1024 px image of w[0] given as W+ with identical rows."""
    z = torch.randn(len(reference["w_mean"]), 512, generator=torch.Generator().manual_seed(reference["seed"]))
    with torch.inference_mode():
        w = G.mapping(z)
        wplus = w[:1].unsqueeze(1).repeat(1, G.n_latent, 1)
        img = G.synthesis(wplus)
    return {"z": z, "w": w, "img": img}


# ------------------------------------------------------------------------------ IR reader
def write_ir(folder: Path, consts: dict, truncate: int = 0) -> Path:
    """A tiny IR: Parameter -> Add(const a) -> Result, plus loose consts of several element types."""
    blob, layers, offset = b"", [], 0
    layers.append('<layer id="0" name="x" type="Parameter" version="opset1"><data shape="2" element_type="f32"/>'
                  '<output><port id="0" precision="FP32"><dim>2</dim></port></output></layer>')
    for lid, (name, arr) in enumerate(consts.items(), start=1):
        raw = arr.tobytes()
        etype = {"float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32"}[arr.dtype.name]
        shape = ", ".join(str(s) for s in arr.shape)
        layers.append(f'<layer id="{lid}" name="{name}" type="Const" version="opset1"><data element_type="{etype}" '
                      f'shape="{shape}" offset="{offset}" size="{len(raw)}"/><output><port id="0">'
                      + "".join(f"<dim>{s}</dim>" for s in arr.shape) + "</port></output></layer>")
        blob += raw
        offset += len(raw)
    n = len(consts) + 1
    layers.append(f'<layer id="{n}" name="sum" type="Add" version="opset1"><input><port id="0"><dim>2</dim></port>'
                  '<port id="1"><dim>2</dim></port></input><output><port id="2"><dim>2</dim></port></output></layer>')
    layers.append(f'<layer id="{n + 1}" name="out" type="Result" version="opset1"><input><port id="0"><dim>2</dim>'
                  '</port></input></layer>')
    edges = (f'<edge from-layer="0" from-port="0" to-layer="{n}" to-port="0"/>'
             f'<edge from-layer="1" from-port="0" to-layer="{n}" to-port="1"/>'
             f'<edge from-layer="{n}" from-port="2" to-layer="{n + 1}" to-port="0"/>')
    xml = folder / "net.xml"
    xml.write_text(f'<?xml version="1.0"?><net name="tiny" version="11"><layers>{"".join(layers)}</layers>'
                   f"<edges>{edges}</edges></net>")
    (folder / "net.bin").write_bytes(blob[: len(blob) - truncate])
    return xml


def test_ir_reader_decodes_element_types_and_edges(tmp_path: Path) -> None:
    consts = {"a": np.array([1.5, -2.0], np.float32), "h": np.arange(6, dtype=np.float16).reshape(2, 3),
              "l": np.array([-3, 2 ** 40], np.int64), "i": np.array(7, np.int32)}
    graph = IRGraph.load(write_ir(tmp_path, consts))
    for name, arr in consts.items():
        got = graph.const(name)
        assert got.dtype == arr.dtype and got.shape == arr.shape and np.array_equal(got, arr)
    add = graph.layer("sum")
    assert [x.name for x in graph.inputs_of(add)] == ["x", "a"]
    assert [layer.name for layer, _ in graph.consumers(graph.layer("a"))] == ["sum"]
    order = [layer.name for layer in graph.topological_order()]
    assert order.index("a") < order.index("sum") < order.index("out")
    assert graph.results()[0].name == "out" and graph.parameters()[0].name == "x"


def test_ir_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="graph not found"):
        IRGraph.load(tmp_path / "missing.xml")
    xml = write_ir(tmp_path, {"a": np.ones(2, np.float32), "b": np.ones(4, np.float32)}, truncate=4)
    graph = IRGraph.load(xml)
    graph.const("a")
    with pytest.raises(IRFormatError, match="truncated"):
        graph.const("b")
    (tmp_path / "net.bin").unlink()
    with pytest.raises(FileNotFoundError, match="weights not found"):
        IRGraph.load(xml)
    xml.write_text("<net><layers>")
    (tmp_path / "net.bin").write_bytes(b"")
    with pytest.raises(IRFormatError, match="not valid XML"):
        IRGraph.load(xml)


def test_missing_package_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(msg.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps random-face==2021\.7\.21\.1"):
        MobileStyleGAN.from_ir()
    with pytest.raises(FileNotFoundError):
        MobileStyleGAN.from_ir(tmp_path)


# ------------------------------------------------------------------------------ structure (tiny model)
@pytest.mark.parametrize("layout, unused", [("per_layer", set()), ("upstream", {3, 6, 10})])
def test_wplus_rows_follow_the_documented_layout(layout: str, unused: set) -> None:
    """Every row matters in the per-layer layout; upstream's leaves the (absent) heads' rows and the last unused."""
    G = tiny_model(style_layout=layout)
    assert G.n_latent == 11 and G.resolution == 64
    w = G.mapping(torch.randn(1, 32, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        base = G.synthesis(w)
        wplus = w.unsqueeze(1).repeat(1, G.n_latent, 1)
        assert torch.equal(G.synthesis(wplus), base)
        for row in range(G.n_latent):
            edited = wplus.clone()
            edited[:, row] += 1.0
            changed = not torch.allclose(G.synthesis(edited), base)
            assert changed == (row not in unused), row


def test_state_dict_roundtrip_and_noise_modes() -> None:
    G = tiny_model()
    H = MobileStyleGAN(style_dim=32, n_mlp=2, channels=(16, 16, 16, 8))
    H.load_state_dict(G.state_dict())
    w = torch.randn(2, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(G.synthesis(w), H.synthesis(w))
        batch = G.synthesis(w)
        assert torch.allclose(torch.cat([G.synthesis(w[:1]), G.synthesis(w[1:])]), batch, rtol=1e-5, atol=1e-5)
        const = G.synthesis(w, noise_mode="const")
        explicit = [layer.const for layer in G.synthesis_network.noise_layers()]
        assert torch.allclose(G.synthesis(w, noise=explicit), const)
        r1 = G.synthesis(w, noise_mode="random", generator=torch.Generator().manual_seed(5))
        r2 = G.synthesis(w, noise_mode="random", generator=torch.Generator().manual_seed(5))
        assert torch.equal(r1, r2) and not torch.allclose(r1, const)
        assert G.synthesis(w, noise_mode="none").shape == const.shape
        img, latent = G([torch.randn(2, 32)], return_latents=True, randomize_noise=False)
        assert img.shape == (2, 3, 64, 64) and latent.shape == (2, 11, 32)
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(w, noise_mode="fixed")
    with pytest.raises(ValueError, match="resolution"):
        G.synthesis(w, resolution=48)
    with pytest.raises(ValueError, match="noise must be a list"):
        G.synthesis(w, noise=[None])
    with pytest.raises(ValueError, match="W\\+"):
        G.synthesis(torch.zeros(1, 5, 32))


def _textbook_inverse_haar(ll: torch.Tensor, lh: torch.Tensor, hl: torch.Tensor, hh: torch.Tensor) -> torch.Tensor:
    """The inverse Haar transform written out per output pixel parity (closed form)."""
    b, c, h, w = ll.shape
    out = torch.empty(b, c, 2 * h, 2 * w, dtype=ll.dtype)
    out[..., 0::2, 0::2] = ((ll + lh) + (hl + hh)) * 0.5
    out[..., 0::2, 1::2] = ((ll + lh) - (hl + hh)) * 0.5
    out[..., 1::2, 0::2] = ((ll - lh) + (hl - hh)) * 0.5
    out[..., 1::2, 1::2] = ((ll - lh) - (hl - hh)) * 0.5
    return out


def test_inverse_haar_layouts_are_the_closed_form_bit_for_bit() -> None:
    from latentreenact.models.mobilestylegan_layers import inverse_haar, split_bands

    x = torch.randn(2, 24, 5, 7, generator=torch.Generator().manual_seed(0))
    bands = split_bands(x)
    assert [tuple(t.shape) for t in bands] == [(2, 6, 5, 7)] * 4
    assert torch.equal(bands[2], x[:, 6:].reshape(2, 6, 3, 5, 7)[:, :, 1])  # LH, HL, HH interleaved per channel
    expected = _textbook_inverse_haar(*bands)
    with torch.no_grad():  # the inference passes' channels-last formulation
        fast = inverse_haar(*bands, channels_last=True)
    assert fast.is_contiguous(memory_format=torch.channels_last) and torch.equal(fast, expected)
    with torch.no_grad():  # the 1/2 folded into the bands: the same bits
        assert torch.equal(inverse_haar(*(t * 0.5 for t in bands), halved=True, channels_last=True), expected)
        assert torch.equal(inverse_haar(*(t * 0.5 for t in bands), halved=True), expected)
    for channels_last in (False, True):  # recorded: NCHW, or channels-last by stacking (no out= writes)
        leaves = [t.clone().requires_grad_(True) for t in bands]
        slow = inverse_haar(*leaves, channels_last=channels_last)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        assert slow.is_contiguous(memory_format=layout) and torch.equal(slow.detach(), expected)
        slow.sum().backward()  # each band reaches 4 pixels with weights +-0.5: d(sum)/d(LL) = 2, the rest 0
        assert torch.equal(leaves[0].grad, torch.full_like(leaves[0], 2.0))
        assert all(torch.equal(t.grad, torch.zeros_like(t)) for t in leaves[1:])
        probe = torch.randn(expected.shape, generator=torch.Generator().manual_seed(1), dtype=expected.dtype)
        leaves = [t.clone().requires_grad_(True) for t in bands]
        (inverse_haar(*leaves, channels_last=channels_last) * probe).sum().backward()
        p00, p01, p10, p11 = (probe[..., r::2, c::2] for r in (0, 1) for c in (0, 1))
        closed = [p00 + p01 + p10 + p11, p00 + p01 - p10 - p11, p00 - p01 + p10 - p11, p00 - p01 - p10 + p11]
        for leaf, grad in zip(leaves, closed):  # LL, LH (rows), HL (columns), HH
            assert torch.allclose(leaf.grad, 0.5 * grad, atol=1e-6)


def test_batch_one_folded_modulation_matches_the_batched_path() -> None:
    G = tiny_model(level_heads=True)
    w = torch.randn(3, 32, generator=torch.Generator().manual_seed(4))
    wplus = w[:, None].repeat(1, G.n_latent, 1)
    for size in (8, 32, 64):
        batch = G.synthesis(wplus.clone().requires_grad_(True), resolution=size).detach()  # activations modulated
        with torch.no_grad():  # image by image on the CPU: styles folded into the weights
            single = G.synthesis(wplus, resolution=size)
        assert torch.allclose(single, batch, rtol=0, atol=1e-5), size
    # recorded_impl="textbook": passes that autograd records keep the textbook formulation, the same
    # image bits as with the fast paths switched off by hand (every layer called with fast=False)
    syn, index = G.synthesis_network, G.synthesis_network.style_index
    syn.recorded_impl = "textbook"
    wp = wplus[:1].clone().requires_grad_(True)
    recorded = G.synthesis(wp)
    with torch.no_grad():
        x = syn.conv1(syn.const, wplus[:1, index.conv1], "const")
        for k, block in enumerate(syn.blocks):
            i_up, i_conv1, i_conv2, i_img = index.blocks[k]
            x = block.up(x, wplus[:1, i_up])
            x = block.conv1(x, wplus[:1, i_conv1], "const")
            x = block.conv2(x, wplus[:1, i_conv2], "const")
        textbook = wavelet_to_image(syn.blocks[-1].to_img(x, wplus[:1, i_img]))
    assert torch.equal(recorded.detach(), textbook)
    with pytest.raises(ValueError, match="recorded_impl"):
        syn.recorded_impl = "fast"
        G.synthesis(wp)


def _recorded_pass(G: MobileStyleGAN, wplus: torch.Tensor, impl: str, size: int) -> tuple:
    """Image, W+ gradient and parameter gradients of one recorded pass (loss: a fixed random projection)."""
    G.synthesis_network.recorded_impl = impl
    G.zero_grad(set_to_none=True)
    wp = wplus.clone().requires_grad_(True)
    image = G.synthesis(wp, resolution=size)
    probe = torch.randn(image.shape, generator=torch.Generator().manual_seed(9))
    (image * probe).sum().backward()
    grads = {n: p.grad.clone() for n, p in G.named_parameters() if p.grad is not None}
    G.synthesis_network.recorded_impl = "auto"
    return image.detach(), wp.grad, grads


def test_recorded_batch_one_pass_is_the_textbook_formula_and_gradient() -> None:
    """Tuning renders one image with gradients: on the CPU it takes the folded, channels-last form, which
    must give the textbook pass's image and every gradient (W+ and parameters) up to float rounding."""
    G = tiny_model(level_heads=True)
    G.requires_grad_(True)
    wplus = torch.randn(1, G.n_latent, 32, generator=torch.Generator().manual_seed(5))
    for size in (16, 64):
        image, grad_w, grads = _recorded_pass(G, wplus, "textbook", size)
        image_f, grad_w_f, grads_f = _recorded_pass(G, wplus, "auto", size)
        assert not torch.equal(image_f, image)  # a different formulation (rounding), not the same code path
        assert torch.allclose(image_f, image, rtol=0, atol=1e-5)
        assert torch.allclose(grad_w_f, grad_w, rtol=1e-4, atol=1e-6)
        assert grads_f.keys() == grads.keys() and len(grads) > 10
        for name, grad in grads.items():
            assert torch.allclose(grads_f[name], grad, rtol=1e-4, atol=1e-5), (size, name)
    # batches keep the textbook formulation when recorded (training): the same bits either way
    batch = torch.randn(2, G.n_latent, 32, generator=torch.Generator().manual_seed(6))
    assert torch.equal(_recorded_pass(G, batch, "auto", 32)[0], _recorded_pass(G, batch, "textbook", 32)[0])


def test_level_heads_skip_top_blocks() -> None:
    G = tiny_model(level_heads=True)
    w = torch.randn(1, 32, generator=torch.Generator().manual_seed(2))
    for size in (8, 16, 32, 64):
        G.zero_grad(set_to_none=True)
        img = G.synthesis(w, resolution=size)
        assert img.shape == (1, 3, size, size)
        img.square().mean().backward()
        blocks = G.synthesis_network.blocks
        used = int(math.log2(size)) - 3
        assert all(p.grad is None for b in blocks[used:] for p in b.parameters())
        assert all(p.grad is not None for b in blocks[:used] for p in b.conv2.parameters())


# ------------------------------------------------------------------------------ the real weights
@needs_weights
def test_from_ir_structure_and_state_dict(G: MobileStyleGAN) -> None:
    assert (G.style_dim, G.n_latent, G.resolution, G.num_noise) == (512, 23, 1024, 15)
    assert G.synthesis_network.channels == (512, 512, 512, 512, 512, 256, 128, 64)
    assert [b.to_img is not None for b in G.synthesis_network.blocks] == [False] * 6 + [True]
    H = MobileStyleGAN()
    H.load_state_dict(G.state_dict(), strict=True)
    for (name, a), b in zip(G.state_dict().items(), H.state_dict().values()):
        assert torch.equal(a, b), name


@needs_weights
def test_mapping_matches_reference(rendered: dict, reference: dict) -> None:
    assert torch.equal(rendered["z"][:, :8], reference["z_head"]), "torch's seeded RNG changed"
    w = rendered["w"]
    assert (w[:, :16] - reference["w_head"]).abs().max() < W_TOL
    assert (w.mean(1) - reference["w_mean"]).abs().max() < W_TOL
    assert (w.std(1) - reference["w_std"]).abs().max() < W_TOL


@needs_weights
def test_wplus_identical_rows_match_single_w_reference(rendered: dict, reference: dict) -> None:
    """The IR takes one w for every layer: W+ with identical rows must reproduce it."""
    img = rendered["img"][0]
    assert img.shape == (3, 1024, 1024)
    crop = img[:, 496:528, 496:528]
    err = (crop - reference["img_centre_crop"]).abs().max().item()
    assert err < IMG_TOL, f"centre crop max abs error {err:.2e}"
    assert (img.mean((1, 2)) - reference["img_channel_mean"]).abs().max() < 1e-4
    assert (img.std((1, 2)) - reference["img_channel_std"]).abs().max() < 1e-4


@needs_weights
def test_lower_resolutions_are_downscaled_renderings(G: MobileStyleGAN, rendered: dict) -> None:
    full = rendered["img"]
    wplus = rendered["w"][:1].unsqueeze(1).repeat(1, G.n_latent, 1)
    with torch.inference_mode():
        for size in (256, 512):
            img = G.synthesis(wplus, resolution=size)
            assert img.shape == (1, 3, size, size)
            target = F.interpolate(full, size=(size, size), mode="area")
            corr = torch.corrcoef(torch.stack([img.flatten(), target.flatten()]))[0, 1].item()
            assert corr > 0.99, (size, corr)


@needs_weights
def test_gradients_reach_every_synthesis_parameter(G: MobileStyleGAN, rendered: dict) -> None:
    wplus = rendered["w"][:1].clone().unsqueeze(1).repeat(1, G.n_latent, 1).requires_grad_(True)
    G.zero_grad(set_to_none=True)
    try:
        G.synthesis(wplus, resolution=256).square().mean().backward()
        missing = [n for n, p in G.synthesis_network.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing, missing
        assert (wplus.grad[0].abs().sum(1) > 0).all()  # every W+ row is used (per-layer layout)
    finally:
        G.zero_grad(set_to_none=True)


@needs_openvino
def test_matches_openvino(G: MobileStyleGAN) -> None:
    import openvino as ov

    data = msg.random_face_data_dir()
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    mapping = core.compile_model(core.read_model(str(data / "MappingNetwork.xml")), "CPU", config)
    synthesis = core.compile_model(core.read_model(str(data / "SynthesisNetwork.xml")), "CPU", config)
    z = torch.randn(3, 512, generator=torch.Generator().manual_seed(11))
    w_ov = np.concatenate([mapping([row[None]])[mapping.output(0)] for row in z.numpy()])
    with torch.inference_mode():
        w = G.mapping(z)
        w_err = (w - torch.from_numpy(w_ov)).abs().max().item()
        assert w_err < W_TOL, f"mapping max abs error {w_err:.2e}"
        centre = G.mean_latent(256, seed=0)
        for w_in in (w[:1], G.truncate(w[1:2], 0.5, centre)):
            img_ov = torch.from_numpy(synthesis([w_in.numpy()])[synthesis.output(0)])
            img = G.synthesis(w_in.unsqueeze(1).repeat(1, G.n_latent, 1))
            err = (img - img_ov).abs().max().item()
            assert err < IMG_TOL, f"1024 px synthesis max abs error {err:.2e}"
