"""High-frequency energy and the artifact ratio: closed forms and properties."""

import math

import numpy as np
import pytest

from latentreenact.metrics.high_frequency import artifact_ratio, high_frequency_energy


def sinusoid(size: int, cycles: int, amplitude: float = 0.3) -> np.ndarray:
    x = np.arange(size)
    row = 0.5 + amplitude * np.sin(2 * math.pi * cycles * x / size)
    return np.tile(row, (size, 1))


@pytest.mark.parametrize("cycles", [8, 16, 32, 48])
@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_sinusoid_matches_the_closed_form(cycles, sigma):
    size, a = 128, 0.3
    f = cycles / size
    expected = (a * (1 - math.exp(-2 * math.pi ** 2 * sigma ** 2 * f ** 2))) ** 2 / 2
    assert high_frequency_energy(sinusoid(size, cycles, a), sigma) == pytest.approx(expected, rel=0.02)


def test_ratio_is_one_for_the_same_image_and_orders_blur_and_grid():
    rng = np.random.default_rng(0)
    image = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    assert artifact_ratio(image, image) == pytest.approx(1.0)
    smooth = np.repeat(np.repeat(image[::2, ::2], 2, 0), 2, 1)  # loses the finest detail
    assert artifact_ratio(smooth, image) < 0.8
    soft = sinusoid(64, 4)
    grid = soft + 0.05 * ((np.indices((64, 64)).sum(0) % 2) * 2 - 1)  # a checkerboard on top
    assert artifact_ratio(grid, soft) > 10


def test_bad_inputs():
    with pytest.raises(ValueError, match="flat"):
        artifact_ratio(np.zeros((8, 8)), np.full((8, 8), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        high_frequency_energy(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="sigma"):
        high_frequency_energy(np.zeros((8, 8)), sigma=0)
