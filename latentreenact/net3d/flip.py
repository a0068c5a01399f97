"""Horizontal flips that keep Net3D labels consistent (68-point iBUG landmark scheme, 0-based).

Mirroring an image left-right maps landmark ``i`` to ``FLIP_PERMUTATION[i]`` (the left eye's
outer corner 36 becomes the right eye's outer corner 45, the jaw runs the other way, ...) and
x to ``W - 1 - x`` (pixel-centre coordinates). Yaw and roll change sign, pitch does not. The BFM
identity/expression coefficients of the mirrored face are not a fixed function of the originals
(the PCA bases are not exactly symmetric), so callers should not supervise them on flipped rows.
"""

from __future__ import annotations

from typing import Tuple

import torch

__all__ = ["FLIP_PAIRS", "FLIP_PERMUTATION", "flip_angles", "flip_landmarks"]

#: mirror pairs of the 68-point scheme; every index not listed maps to itself (27-30, 33, 51, 57, 62, 66, 8)
FLIP_PAIRS: Tuple[Tuple[int, int], ...] = (
    *((i, 16 - i) for i in range(8)),                               # jaw line 0..16 (8 is the chin)
    (17, 26), (18, 25), (19, 24), (20, 23), (21, 22),               # eyebrows
    (31, 35), (32, 34),                                             # nose bottom (33 centre)
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),     # eyes
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),               # outer lips (51, 57 centre)
    (60, 64), (61, 63), (65, 67),                                   # inner lips (62, 66 centre)
)


def _permutation() -> Tuple[int, ...]:
    perm = list(range(68))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return tuple(perm)


#: ``flipped[:, i] = original[:, FLIP_PERMUTATION[i]]`` (an involution)
FLIP_PERMUTATION: Tuple[int, ...] = _permutation()


def flip_landmarks(landmarks: torch.Tensor, width: float) -> torch.Tensor:
    """Landmarks [..., 68, 2] (px, x right) of the image mirrored left-right (``width`` px wide)."""
    if landmarks.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be [..., 68, 2], got {tuple(landmarks.shape)}")
    perm = torch.tensor(FLIP_PERMUTATION, device=landmarks.device)
    out = landmarks.index_select(-2, perm)
    return torch.stack([(width - 1) - out[..., 0], out[..., 1]], dim=-1)


def flip_angles(angles: torch.Tensor) -> torch.Tensor:
    """Yaw, pitch, roll [..., 3] (degrees) of the mirrored face: yaw and roll change sign."""
    return angles * angles.new_tensor([-1.0, 1.0, -1.0])
