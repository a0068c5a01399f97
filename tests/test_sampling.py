"""The seeded faces that the labelling commands measure (latentreenact.sampling.seeded_face_batches)."""

import pytest
import torch

from helpers import tiny_generator
from latentreenact.sampling import render, seeded_face_batches, truncation_centre, wplus_from_z


def _all(generator, **kwargs):
    batches = list(seeded_face_batches(generator, **kwargs))
    return torch.cat([w for w, _ in batches]), torch.cat([x for _, x in batches]), len(batches)


def test_faces_follow_the_seed_not_the_batch_size() -> None:
    G = tiny_generator(size=16, style_dim=8)
    w4, x4, n4 = _all(G, n=7, seed=3, size=16, batch_size=4)
    w7, x7, n7 = _all(G, n=7, seed=3, size=16, batch_size=7)
    assert (n4, n7) == (2, 1) and w4.shape[0] == x4.shape[0] == 7
    assert torch.allclose(w4, w7, atol=1e-6) and torch.allclose(x4, x7, atol=1e-5)
    w_other, _, _ = _all(G, n=7, seed=4, size=16, batch_size=4)
    assert not torch.allclose(w4, w_other)


def test_faces_are_the_truncated_renders_of_the_seeded_z() -> None:
    """The closed form: z = randn(n, D) from the seed, W+ truncated toward the seeded centre, rendered and clamped."""
    G = tiny_generator(size=16, style_dim=8)
    w, x, _ = _all(G, n=5, seed=1, truncation=0.5, size=8, batch_size=2)
    z = torch.randn(5, G.style_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = wplus_from_z(G, z, 0.5, truncation_centre(G, seed=1))
        images = render(G, want, 8).clamp(-1, 1)
    assert torch.allclose(w, want, atol=1e-6) and torch.allclose(x, images, atol=1e-5)
    assert x.shape == (5, 3, 8, 8) and float(x.abs().max()) <= 1
    assert not w.requires_grad and not x.requires_grad


def test_no_gradient_mode_leaks_to_the_caller() -> None:
    G = tiny_generator(size=16, style_dim=8)
    for _ in seeded_face_batches(G, n=2, batch_size=1, size=16):
        assert torch.is_grad_enabled()


def test_needs_a_positive_count() -> None:
    with pytest.raises(ValueError, match="positive"):
        next(seeded_face_batches(tiny_generator(size=16, style_dim=8), n=0))
