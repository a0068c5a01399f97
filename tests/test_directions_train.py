"""The A trainer: targets, 3D losses, gradient isolation, modes, exact resume, regression init."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from directions.init import regression_init
from directions.losses import EYE_PAIRS, ShapeLosses, pair_distances
from directions.matrix import DirectionMatrix
from latentreenact.net3d.pose_vector import LAYOUTS, PoseVectorSpec
from directions.train import Components, DirectionsConfig, LatentBank, laplace, shift_targets, train_directions
from helpers import tiny_generator
from latentreenact.net3d.params import PoseParams

NAMES = LAYOUTS["bfm"]
SPEC = PoseVectorSpec(NAMES, {n: (-1.0, 1.0) for n in NAMES[3:]})


pytestmark = pytest.mark.usefixtures("one_thread")


class FakeEstimator(torch.nn.Module):
    """A fixed random linear read-out of 4x4 thumbnails: differentiable, deterministic, with identity."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.proj = torch.nn.Parameter(torch.randn(48, 3 + 10 + 40 + 136, generator=g) * 0.5)

    def forward(self, images: torch.Tensor) -> PoseParams:
        feats = F.adaptive_avg_pool2d(images, 4).flatten(1) @ self.proj
        angles, expression, identity, lmk = feats.split([3, 10, 40, 136], 1)
        return PoseParams(angles=angles * 20, expression=expression, landmarks=lmk.reshape(-1, 68, 2),
                          identity=identity, backend="fake")


@pytest.fixture(scope="module")
def shape_losses():
    from latentreenact.shape3d import LinearShapeModel

    return ShapeLosses(LinearShapeModel.load(), dense=False)


@pytest.fixture()
def comp(shape_losses):
    G = tiny_generator(size=16, style_dim=8)
    return Components(G, FakeEstimator(), shape_losses, SPEC, "bfm",
                      identity=lambda x, y: (x - y).square().mean(dim=(1, 2, 3)), perceptual=None)


def _cfg(**kw) -> DirectionsConfig:
    opts = dict(steps=6, batch_size=4, lr=1e-2, render_size=16, num_layers=4, eval_every=3, n_eval=4, seed=2)
    opts.update(kw)
    return DirectionsConfig(**opts)


def test_shift_targets_single_attribute_rows() -> None:
    g = torch.Generator().manual_seed(0)
    p_s, p_t = torch.randn(6, 13) * 3, torch.randn(6, 13) * 3
    dp, p_gt = shift_targets(SPEC, p_s, p_t, 3, g)
    q_s, q_t, q_gt = SPEC.rescale(p_s), SPEC.rescale(p_t), SPEC.rescale(p_gt)
    assert torch.allclose(dp, q_gt - q_s, atol=1e-5)
    for row in range(3):  # exactly one entry changed, to a value in [-a, a]
        changed = torch.nonzero((q_gt[row] - q_s[row]).abs() > 1e-5)[:, 0]
        assert len(changed) == 1 and abs(float(q_gt[row, changed[0]])) <= 6.0
    assert torch.allclose(q_gt[3:], q_t[3:], atol=1e-5)


def test_shift_targets_driving_like_rows() -> None:
    g = torch.Generator().manual_seed(0)
    p_s, p_t = torch.randn(8, 13) * 3, torch.randn(8, 13) * 3
    dp, p_gt = shift_targets(SPEC, p_s, p_t, 2, g, n_driving=4, angle_scale=0.5)
    q_s, q_t, q_gt = SPEC.rescale(p_s), SPEC.rescale(p_t), SPEC.rescale(p_gt)
    assert torch.allclose(dp, q_gt - q_s, atol=1e-5)
    drive = slice(2, 6)  # after the two single-entry rows
    assert torch.allclose(q_gt[drive, 3:], q_t[drive, 3:], atol=1e-4)  # the target's expression
    turn = (q_gt[drive, :3] - q_s[drive, :3]).abs()  # small turns from the source's angles, not the target's
    assert float(turn.min()) > 0 and float(turn.max()) < 5.0
    assert torch.allclose(q_gt[6:], q_t[6:], atol=1e-4)
    for row in range(2):
        assert int(((q_gt[row] - q_s[row]).abs() > 1e-5).sum()) == 1


def test_laplace_samples_match_the_closed_form() -> None:
    x = laplace(200_000, 1, 0.6, torch.Generator().manual_seed(3))[:, 0].double()
    # Laplace(0, b): median |x| = b ln 2, P(|x| > t) = exp(-t / b), mean 0
    assert float(x.abs().median()) == pytest.approx(0.6 * math.log(2), rel=0.01)
    assert float((x.abs() > 1.5).double().mean()) == pytest.approx(math.exp(-1.5 / 0.6), rel=0.03)
    assert abs(float(x.mean())) < 0.01


def test_config_rejects_shares_over_one() -> None:
    with pytest.raises(ValueError, match="sum <= 1"):
        _cfg(single_attribute=0.6, driving_like=0.5).check()
    with pytest.raises(ValueError, match="driving_angle_scale"):
        _cfg(driving_angle_scale=0.0).check()


def test_shape_losses_closed_forms(shape_losses) -> None:
    ident, expr = torch.randn(2, 40) * 1e5, torch.randn(2, 10)
    a0 = torch.zeros(2, 3)
    a1 = torch.tensor([[30.0, 0, 0], [0, 10.0, -5.0]])
    same = shape_losses((ident, expr, a0), (ident, expr, a0))
    assert all(float(v.abs().max()) == 0 for v in same.values())
    turned = shape_losses((ident, expr, a1), (ident, expr, a0))
    # a rotation changes the posed shape but not distances between landmarks
    assert float(turned["shape"].min()) > 1e-3
    assert float(turned["eye"].max()) < 1e-4 and float(turned["mouth"].max()) < 1e-4
    pts = torch.zeros(1, 68, 2)
    pts[0, 39] = torch.tensor([3.0, 4.0])
    assert float(pair_distances(pts, EYE_PAIRS)[0, 0]) == pytest.approx(5.0)


def test_training_moves_only_A_and_writes_outputs(comp, tmp_path: Path) -> None:
    before = {k: v.clone() for k, v in comp.generator.state_dict().items()}
    est_before = comp.estimator.proj.detach().clone()
    result = train_directions(comp, tmp_path / "run", _cfg())
    assert all(torch.equal(before[k], v) for k, v in comp.generator.state_dict().items())
    assert torch.equal(est_before, comp.estimator.proj)
    assert all(p.grad is None for p in comp.generator.parameters())
    assert comp.estimator.proj.grad is None
    A = DirectionMatrix.load(result["matrix"])
    assert A.k == 13 and A.num_layers == 4 and A.config["layout"] == "bfm"
    assert float(A.linear.bias.detach().abs().max()) > 0  # the bias trains too
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["split"] == "eval"]
    assert [r["step"] for r in evals] == [0, 3, 6]
    assert {"pose_error", "yaw_error", "expression_error", "identity_similarity"} <= set(evals[-1])
    assert (tmp_path / "run" / "eval_000006.png").is_file()


def test_init_matrix_must_match_the_run(comp, tmp_path: Path) -> None:
    for wrong in (DirectionMatrix(13, 3, 8, SPEC.shift_scale), DirectionMatrix(13, 4, 8, SPEC.shift_scale / 2)):
        with pytest.raises(ValueError, match="init matrix"):
            train_directions(comp, tmp_path / "run", _cfg(), init=wrong)
    start = DirectionMatrix(13, 4, 8, SPEC.shift_scale, seed=5)
    result = train_directions(comp, tmp_path / "ok", _cfg(steps=1, lr=1e-12), init=start)
    torch.testing.assert_close(DirectionMatrix.load(result["matrix"]).linear.weight, start.linear.weight)


def test_resume_is_bit_identical(comp, tmp_path: Path) -> None:
    mix = dict(checkpoint_every=2, single_attribute=0.25, driving_like=0.5)  # driving-like rows in the batches
    train_directions(comp, tmp_path / "full", _cfg(**mix))
    train_directions(comp, tmp_path / "cut", _cfg(**mix), stop_after=4)
    assert not (tmp_path / "cut" / "A.pt").exists()
    train_directions(comp, tmp_path / "cut", _cfg(**mix), resume=True)
    a = DirectionMatrix.load(tmp_path / "full" / "A.pt").state_dict()
    b = DirectionMatrix.load(tmp_path / "cut" / "A.pt").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == (tmp_path / "cut" / "metrics.jsonl").read_text()
    with pytest.raises(ValueError, match="changed: lr"):
        train_directions(comp, tmp_path / "cut", _cfg(**mix, lr=1.0), resume=True)
    with pytest.raises(ValueError, match="changed: driving_like"):
        train_directions(comp, tmp_path / "cut", _cfg(**{**mix, "driving_like": 0.0}), resume=True)
    # another generator of the same shape (was: resumed, and A.pt claimed it; found by the byog hunt, session 21)
    other = Components(tiny_generator(size=16, style_dim=8, seed=5), comp.estimator, comp.shape_losses, SPEC, "bfm",
                       identity=comp.identity, perceptual=None)
    with pytest.raises(ValueError, match="changed: generator"):
        train_directions(other, tmp_path / "cut", _cfg(**mix), resume=True)


def test_real_and_paired_modes(comp, tmp_path: Path) -> None:
    G = comp.generator
    w = G.mapping(torch.randn(6, 8, generator=torch.Generator().manual_seed(1)))
    bank = LatentBank(w[:, None].repeat(1, G.n_latent, 1).detach(), torch.tensor([0, 0, 0, 1, 1, 2]))
    for mode in ("real", "real+synthetic", "paired"):
        res = train_directions(comp, tmp_path / mode, _cfg(mode=mode, steps=2, eval_every=2), bank=bank)
        assert res["complete"]
    with pytest.raises(ValueError, match="latent bank"):
        train_directions(comp, tmp_path / "nobank", _cfg(mode="real"))
    lonely = LatentBank(bank.wplus[:2], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="two or more frames"):
        train_directions(comp, tmp_path / "lonely", _cfg(mode="paired", steps=1), bank=lonely)


def test_regression_init_recovers_planted_directions() -> None:
    g = torch.Generator().manual_seed(0)
    spec = PoseVectorSpec(NAMES, {n: (-2.0, 2.0) for n in NAMES[3:]})
    p = torch.randn(500, 13, generator=g) * torch.tensor([20.0, 10, 10] + [1.0] * 10)
    B = torch.randn(13, 8, generator=g)
    w = 0.3 + spec.rescale(p) @ B + 0.01 * torch.randn(500, 8, generator=g)
    A = regression_init(w, p, spec, num_layers=3, ridge=1e-6)
    assert torch.allclose(A.linear.weight[:8].T, B, atol=0.01)
    assert torch.equal(A.linear.weight[:8], A.linear.weight[16:])
    assert float(A.linear.bias.abs().max()) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        regression_init(w * float("nan"), p, spec)


def test_regression_init_covariates_remove_correlated_attributes() -> None:
    """w = B q + C u with u correlated with q: the plain regression's pose block is B plus the leak
    C Γ (Γ: regression of u on q); with u as covariates it is B again."""
    g = torch.Generator().manual_seed(0)
    spec = PoseVectorSpec(NAMES, {n: (-2.0, 2.0) for n in NAMES[3:]})
    n = 4000
    p = torch.randn(n, 13, generator=g) * torch.tensor([20.0, 10, 10] + [1.0] * 10)
    q = spec.rescale(p)
    gamma = torch.randn(13, 2, generator=g)
    u = q @ gamma + torch.randn(n, 2, generator=g)  # attributes that co-vary with the pose vector
    B, C = torch.randn(13, 8, generator=g), torch.randn(2, 8, generator=g)
    w = 0.3 + q @ B + u @ C + 0.01 * torch.randn(n, 8, generator=g)
    plain = regression_init(w, p, spec, num_layers=2, ridge=1e-9).linear.weight[:8].T
    adjusted = regression_init(w, p, spec, num_layers=2, ridge=1e-9, covariates=u).linear.weight[:8].T
    assert float((plain - (B + gamma @ C)).abs().max()) < 0.1  # the leak, in closed form (up to sampling noise)
    assert float((plain - B).abs().max()) > 0.5
    assert torch.allclose(adjusted, B, atol=0.02)
    with pytest.raises(ValueError, match="covariates"):
        regression_init(w, p, spec, covariates=u[:10])
    with pytest.raises(ValueError, match="NaN"):
        regression_init(w, p, spec, covariates=u * float("nan"))


def test_sampled_latents_are_seeded_and_measured(comp) -> None:
    from directions.init import sampled_latents
    from latentreenact.sampling import render, wplus_from_z

    class Embed:
        def embed(self, images: torch.Tensor) -> torch.Tensor:
            return images.mean(dim=(2, 3))

    G = comp.generator
    w, p, e = sampled_latents(G, comp.estimator, 20, seed=3, truncation=1.0, size=16, identity=Embed(), batch_size=8)
    assert w.shape == (20, 8) and p.shape == (20, 13) and e.shape == (20, 3)
    z = torch.randn(20, G.style_dim, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(w, wplus_from_z(G, z)[:, 0])
    image = render(G, wplus_from_z(G, z[5:6]), 16).clamp(-1, 1)
    torch.testing.assert_close(p[5:6], comp.estimator(image).to_vector("bfm"), atol=1e-5, rtol=1e-5)
    again = sampled_latents(G, comp.estimator, 20, seed=3, truncation=1.0, size=16, batch_size=5)
    torch.testing.assert_close(again[0], w)
    assert again[2] is None
    A = regression_init(w.repeat(4, 1) + 0.01 * torch.randn(80, 8, generator=torch.Generator().manual_seed(0)),
                        p.repeat(4, 1), SPEC, num_layers=4, covariates=e.repeat(4, 1))
    assert torch.isfinite(A.linear.weight).all()


def test_train_directions_cli_takes_one_init_source(tmp_path) -> None:
    from click.testing import CliRunner

    from latentreenact.cli.main import cli

    ranges = tmp_path / "ranges.npy"
    ranges.write_bytes(b"")
    result = CliRunner().invoke(cli, ["train", "directions", "-o", str(tmp_path / "run"), "--ranges", str(ranges),
                                      "--steps", "1", "--init-from-data", str(tmp_path), "--init-samples", "64"])
    assert result.exit_code == 2 and "not both" in result.output
    assert not (tmp_path / "run").exists()


def test_train_directions_cli_init_matrix_checks(tmp_path) -> None:
    from click.testing import CliRunner

    from directions.matrix import DirectionMatrix
    from latentreenact.cli.main import cli

    def run(*args: str):
        return CliRunner().invoke(cli, ["train", "directions", "-o", str(tmp_path / "run"), "--steps", "1", *args])

    no_ranges = run()
    assert no_ranges.exit_code == 2 and "--ranges" in no_ranges.output
    missing = run("--init-matrix", str(tmp_path / "nothing.pt"))
    assert missing.exit_code == 2 and "neither a registered directions model nor a file" in missing.output
    bare = DirectionMatrix(13, 2, 8, 6.0, seed=0, config={"layout": "bfm"}).save(tmp_path / "bare.pt")
    no_stored = run("--init-matrix", str(bare))
    assert no_stored.exit_code == 2 and "stores no pose-vector ranges" in no_stored.output
    ranges = np.tile([-1.0, 1.0], (13, 1))
    stored = DirectionMatrix(13, 2, 8, 6.0, seed=0, config={"layout": "bfm", "ranges": ranges.tolist()})
    path = stored.save(tmp_path / "A.pt")
    np.save(tmp_path / "other.npy", ranges * 2)
    differ = run("--init-matrix", str(path), "--ranges", str(tmp_path / "other.npy"))
    assert differ.exit_code == 2 and "differs from the ranges stored" in differ.output
    both = run("--init-matrix", str(path), "--init-samples", "64")
    assert both.exit_code == 2 and "not both" in both.output
    assert not (tmp_path / "run").exists()


def test_train_directions_cli_rejects_shares_over_one(tmp_path) -> None:
    from click.testing import CliRunner

    from latentreenact.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "directions", "-o", str(tmp_path / "run"), "--steps", "1",
                                      "--init-matrix", "directions-mobilestylegan-ffhq", "--single-share", "0.6",
                                      "--driving-share", "0.5"])
    assert result.exit_code == 2 and "exceeds 1" in result.output
    assert not (tmp_path / "run").exists()


def test_save_start_writes_the_regression_start_without_training(comp, tmp_path: Path) -> None:
    from directions.train import save_start

    w = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    p = torch.randn(200, 13, generator=torch.Generator().manual_seed(1)) * 5
    start = regression_init(w, p, comp.spec, num_layers=4)
    path = save_start(comp, tmp_path / "run", start, {"backend": "bfm-rigid", "init": {"estimator": "bfm-rigid"}}, 4)
    A = DirectionMatrix.load(path)
    assert path == tmp_path / "run" / "A.pt"
    assert torch.equal(A.linear.weight, start.linear.weight) and torch.equal(A.linear.bias, start.linear.bias)
    assert A.config["backend"] == "bfm-rigid" and A.config["init"] == {"estimator": "bfm-rigid"}
    assert A.config["names"] == list(comp.spec.names) and "train" not in A.config
    np.testing.assert_allclose(np.asarray(A.config["ranges"]), comp.spec.ranges_array())
    with pytest.raises(ValueError, match="layers"):
        save_start(comp, tmp_path / "other", start, {}, 8)


def test_train_directions_cli_zero_steps_needs_a_regression_start(tmp_path) -> None:
    from click.testing import CliRunner

    from latentreenact.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "directions", "-o", str(tmp_path / "run"), "--steps", "0",
                                      "--init-matrix", "directions-mobilestylegan-ffhq"])
    assert result.exit_code == 2 and "0 steps writes a regression start" in result.output
    assert not (tmp_path / "run").exists()
    bad = CliRunner().invoke(cli, ["train", "directions", "-o", str(tmp_path / "run"), "--steps", "0",
                                   "--init-samples", "64", "--init-estimator", "deca"])
    assert bad.exit_code == 2 and "bfm-rigid" in bad.output
    same = CliRunner().invoke(cli, ["train", "directions", "-o", str(tmp_path / "run"), "--steps", "0",
                                    "--init-samples", "64", "--init-instrument", "bfm-net"])
    assert same.exit_code == 2 and "another estimator" in same.output
    assert not (tmp_path / "run").exists()
    from latentreenact import zoo
    from latentreenact.net3d.pose_vector import save_ranges

    shipped = DirectionMatrix.load(zoo.model_file("directions-mobilestylegan-ffhq", kind="directions"))
    ranges = save_ranges(tmp_path / "ranges.npy", np.asarray(shipped.config["ranges"]))
    (tmp_path / "ranges.json").write_text(json.dumps({"rows": shipped.config["names"]}))
    few = CliRunner().invoke(cli, ["train", "directions", "-o", str(tmp_path / "run"), "--steps", "0", "--ranges",
                                   str(ranges), "--init-samples", "100", "--no-progress"])  # the identity hold: 141
    assert few.exit_code == 2 and "141 regressors" in few.output, few.output  # before labelling them (was: after)
    assert not (tmp_path / "run").exists()


def test_train_directions_cli_writes_a_rigid_labelled_start(tmp_path) -> None:
    """``--steps 0 --init-estimator bfm-rigid --init-instrument bfm-net`` on the default generator: A.pt is the
    two-stage ridge start over faces labelled by bfm-rigid, with the ranges given and a config that says how it
    was made (64 faces: no identity hold, which needs more faces than its 141 regressors)."""
    from click.testing import CliRunner

    from latentreenact import zoo
    from latentreenact.cli.main import cli
    from latentreenact.net3d.pose_vector import save_ranges

    shipped = DirectionMatrix.load(zoo.model_file("directions-mobilestylegan-ffhq", kind="directions"))
    ranges = save_ranges(tmp_path / "ranges.npy", np.asarray(shipped.config["ranges"]))
    (tmp_path / "ranges.json").write_text(json.dumps({"rows": shipped.config["names"]}))  # the rows' names
    result = CliRunner().invoke(cli, ["train", "directions", "-o", str(tmp_path / "run"), "--ranges", str(ranges),
                                      "--init-samples", "64", "--init-hold", "none", "--init-estimator", "bfm-rigid",
                                      "--init-instrument", "bfm-net", "--steps", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    A = DirectionMatrix.load(tmp_path / "run" / "A.pt")
    assert A.config["backend"] == "bfm-rigid" and A.config["init"]["estimator"] == "bfm-rigid"
    assert A.config["init"]["hold"] == "none" and 0 < A.config["init"]["samples"] <= 64
    assert A.config["init"]["instrument"] == "bfm-net"
    np.testing.assert_allclose(np.asarray(A.config["ranges"]), np.asarray(shipped.config["ranges"]))
    assert torch.isfinite(A.linear.weight).all() and float(A.linear.weight.abs().max()) > 0
    assert "train" not in A.config and "no training" in result.output


def test_instrumented_labels_undo_the_shrinkage_of_noisy_angle_labels() -> None:
    """Closed form: w moves by a along the true pitch T; the labels read T plus noise as large as T (ridge on them
    halves the column), the instrument reads T / 2 plus independent noise. The two-stage start recovers a."""
    from directions.init import instrumented_labels

    g = torch.Generator().manual_seed(0)
    n = 20000
    truth = torch.randn(n, 13, generator=g) * 5
    a = torch.randn(8, generator=g)
    pitch = SPEC.names.index("pitch")
    w = SPEC.rescale(truth)[:, pitch:pitch + 1] * a + 0.05 * torch.randn(n, 8, generator=g)
    labels = truth.clone()
    labels[:, pitch] += 5 * torch.randn(n, generator=g)  # noise as large as the signal
    instrument = truth * 0.5 + torch.randn(n, 13, generator=g)
    plain = regression_init(w, labels, SPEC, num_layers=1, ridge=0.0).linear.weight[:, pitch]
    fixed = instrumented_labels(labels, instrument, SPEC, entries=("pitch",))
    assert torch.equal(fixed[:, :pitch], labels[:, :pitch]) and torch.equal(fixed[:, pitch + 1:], labels[:, pitch + 1:])
    two_stage = regression_init(w, fixed, SPEC, num_layers=1, ridge=0.0).linear.weight[:, pitch]
    torch.testing.assert_close(plain, a * 0.5, atol=0.03, rtol=0.05)  # attenuated by var(T) / var(label)
    torch.testing.assert_close(two_stage, a, atol=0.03, rtol=0.05)
    with pytest.raises(ValueError, match="unknown entries"):
        instrumented_labels(labels, instrument, SPEC, entries=("tilt",))
    with pytest.raises(ValueError, match="same"):
        instrumented_labels(labels, instrument[:10], SPEC)


def test_train_directions_cli_on_a_small_generator(tmp_path, monkeypatch) -> None:
    """A generator under 256 px (found by the byog hunt, session 21): --render-size above its resolution is refused
    before any work, naming the option (was: 'size must be in [1, 32], got 256' mid-run, an empty run folder left),
    and the regression start's faces are rendered at its own size (was: always 256 px)."""
    from click.testing import CliRunner

    import latentreenact.cli.train_directions as cli_module
    from helpers import tiny_generator
    from latentreenact import zoo
    from latentreenact.checkpoints.loading import save_generator
    from latentreenact.cli.main import cli
    from latentreenact.net3d.pose_vector import save_ranges

    path = save_generator(tiny_generator(size=32, style_dim=8), tmp_path / "g32.pt")
    shipped = DirectionMatrix.load(zoo.model_file("directions-mobilestylegan-ffhq", kind="directions"))
    ranges = save_ranges(tmp_path / "ranges.npy", np.asarray(shipped.config["ranges"]))
    (tmp_path / "ranges.json").write_text(json.dumps({"rows": shipped.config["names"]}))
    args = ["train", "directions", "-o", str(tmp_path / "run"), "--generator", str(path), "--ranges", str(ranges),
            "--no-progress"]
    big = CliRunner().invoke(cli, [*args, "--steps", "1"])  # the default --render-size, 256
    assert big.exit_code == 2 and "--render-size" in big.output and "32 px" in big.output, big.output
    assert not (tmp_path / "run").exists()
    sizes = []

    def labelled(*a, **k):  # type: ignore[no-untyped-def]
        sizes.append(k["size"])
        raise ValueError("stop here")

    monkeypatch.setattr(cli_module, "sampled_labels", labelled)
    start = CliRunner().invoke(cli, [*args, "--render-size", "32", "--steps", "0", "--init-samples", "200",
                                     "--init-hold", "none"])
    assert start.exit_code == 5 and "stop here" in start.output and sizes == [32], start.output
