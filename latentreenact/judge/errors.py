"""Errors of the independent judge."""

from __future__ import annotations

from ..faces.types import NoFaceError

#: how to create the judge's helper environment (quoted in the error messages)
INSTALL_HINT = ("run `make judge-env` in the repository (it creates .venv-judge with mediapipe==0.10.21 and "
                "numpy<2), or set LATENTREENACT_JUDGE_PYTHON to a Python interpreter that has them")


class JudgeUnavailableError(RuntimeError):
    """The judge's landmark model (MediaPipe face mesh in its helper environment) cannot be started."""


class JudgeWorkerError(RuntimeError):
    """The judge's helper process failed or broke the protocol while running."""


class JudgeNoFaceError(NoFaceError):
    """The judge found no face in any of the frames it was given (a ``NoFaceError``, so a ``ValueError``)."""
