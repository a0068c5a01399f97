"""Images as the user gets them (found by trying the commands, session 20): a black-and-white source photo gets
grey faces, though the generator renders every face in colour (the colour test and the conversion in closed form,
the reenactor's faces of a grey source); JPEG and WebP outputs at quality 95."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from latentreenact.images import is_greyscale, to_greyscale
from tiny_reenactor import face, tiny_reenactor


def test_luma_closed_form() -> None:
    pixels = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [200, 200, 200]], np.uint8)
    grey = to_greyscale(pixels)
    assert grey.shape == (5, 3) and (grey == grey[:, :1]).all()
    assert grey[:, 0].tolist() == [76, 150, 29, 18, 200]  # 0.299 R + 0.587 G + 0.114 B, rounded


def test_grey_photos_are_told_from_colour_ones() -> None:
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 256, (64, 64, 1), dtype=np.uint8), 3, axis=2)
    colour = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert is_greyscale(grey) and not is_greyscale(colour)
    buffer = io.BytesIO()  # a grey photo saved as a colour JPEG keeps a little chroma noise
    Image.fromarray(np.repeat(np.linspace(0, 255, 64 * 64).reshape(64, 64, 1), 3, axis=2).astype(np.uint8)).save(
        buffer, format="JPEG", quality=70)
    assert is_greyscale(np.asarray(Image.open(buffer).convert("RGB")))
    patched = grey.copy()
    patched[:8, :8] = [200, 40, 40]  # a red patch on 1.6 % of the pixels: colour
    assert not is_greyscale(patched)
    assert not is_greyscale(np.zeros((0, 3), np.uint8))


def test_a_grey_source_gets_grey_faces() -> None:
    r = tiny_reenactor()
    src = r.invert(face(r.generator, 3), align=False, tune="none")
    dp = torch.zeros(3, r.spec.k)
    dp[1, 0], dp[2, 1] = 2.0, -2.0
    coloured = r.faces(src, dp)
    assert not is_greyscale(coloured)  # the tiny generator renders in colour
    grey_src = replace(src, crop=to_greyscale(src.crop), image=to_greyscale(src.image))
    faces = r.faces(grey_src, dp)
    assert np.array_equal(faces, to_greyscale(coloured))  # the same faces, in grey
    assert np.array_equal(r.render_source(grey_src), to_greyscale(r.render_source(src)))


def test_lossy_outputs_keep_detail(tmp_path) -> None:
    """JPEG and WebP outputs at quality 95 (was Pillow's 75, with 4:2:0 chroma: visibly soft faces, session 20)."""
    from fixtures.face_photos import photo
    from latentreenact.images import save_image

    image = photo("astronaut")
    for suffix, bound in ((".jpg", 1.2), (".webp", 1.5), (".png", 0.0)):
        back = np.asarray(Image.open(save_image(image, tmp_path / f"a{suffix}")).convert("RGB")).astype(float)
        assert np.abs(back - image).mean() <= bound, suffix  # quality 75: 2.7 for the JPEG
