"""The face stack on faces rendered by the embedded default generator (seeded)."""

import importlib.util

import numpy as np
import pytest

from latentreenact.faces import align_ffhq, find_face, paste_back
from latentreenact.shape3d import fit_landmarks

pytestmark = pytest.mark.skipif(importlib.util.find_spec("random_face") is None,
                                reason="random-face not installed: pip install --no-deps random-face==2021.7.21.1")


@pytest.fixture(scope="module")
def generated_faces():
    from latentreenact import load_generator
    from latentreenact.sampling import sample_images

    g = load_generator("mobilestylegan-ffhq")
    return sample_images(g, 2, seed=3, truncation=0.7, size=512)  # uint8 [2, 512, 512, 3], exact downscales


def test_landmarks_fit_and_round_trip_on_generated_faces(generated_faces):
    for image in generated_faces:
        face = find_face(image, name="generated sample")
        x0, y0, x1, y1 = face.box
        assert (x1 - x0) > 100  # FFHQ-style renders: a large, centred face
        lm = face.landmarks
        assert lm[36:48, 1].mean() < lm[48:68, 1].mean()  # eyes above the mouth
        fit = fit_landmarks(lm[None])
        assert float(fit.error[0]) / (x1 - x0) < 0.025  # mean reprojection error under 2.5% of the face width
        assert abs(float(fit.yaw[0])) < 45 and abs(float(fit.pitch[0])) < 30
        crop, transform = align_ffhq(image, lm, size=256)
        out = paste_back(image, crop, transform)
        alpha = paste_back(np.zeros_like(image), np.full_like(crop, 255), transform)[:, :, 0]
        inside = alpha > 250
        assert inside.sum() > 20000
        err = np.abs(out.astype(np.float64) - image)[inside].mean()
        assert err < 4.0, err  # two resamplings (512 -> 256 crop -> back)
