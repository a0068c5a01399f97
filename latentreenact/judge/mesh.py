"""MediaPipe face mesh (478 points with depth), run in the judge's helper environment.

MediaPipe 0.10.21 is the last release whose wheel ships its face models, and it needs numpy<2, which
our environment does not have; so it runs in ``.venv-judge`` (``make judge-env``) behind a pipe
(protocol: ``mediapipe_worker.py``). Neither Net3D nor any trainer of the project uses it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import IO, Any, Optional, Union

import numpy as np

from ..faces.image_input import as_rgb_uint8
from .errors import INSTALL_HINT, JudgeUnavailableError, JudgeWorkerError

#: environment variable naming the helper interpreter (default: ``<repository>/.venv-judge/bin/python``)
JUDGE_PYTHON_ENV = "LATENTREENACT_JUDGE_PYTHON"
MESH_POINTS = 478
WORKER = Path(__file__).resolve().with_name("mediapipe_worker.py")


def judge_python() -> Path:
    """The helper interpreter: ``$LATENTREENACT_JUDGE_PYTHON`` or ``.venv-judge/bin/python`` beside the package
    (``JudgeUnavailableError`` naming the install step when it is missing)."""
    configured = os.environ.get(JUDGE_PYTHON_ENV)
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / ".venv-judge" / "bin" / "python"
    if not path.is_file():
        where = f"${JUDGE_PYTHON_ENV} = {configured}" if configured else str(path)
        raise JudgeUnavailableError(f"the judge's MediaPipe environment is missing ({where} does not exist); "
                                    f"{INSTALL_HINT}")
    return path


def judge_available() -> bool:
    """Whether the helper interpreter exists (it is started, and checked further, on first use)."""
    try:
        judge_python()
    except JudgeUnavailableError:
        return False
    return True


class FaceMeshClient:
    """MediaPipe face mesh in a helper process (started on the first call, one image at a time).

    ``client(image)`` returns float64 [478, 3] points of the largest face in image coordinates (x right and
    y down in pixels, z depth away from the camera in the units of x), or None when no face is found.
    Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, python: Optional[Union[str, "os.PathLike[str]"]] = None) -> None:
        self._python = Path(python) if python is not None else None
        self._proc: Optional[subprocess.Popen] = None
        self._stderr: Optional[IO[bytes]] = None
        self.version: Optional[str] = None

    def __enter__(self) -> "FaceMeshClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        return " | ".join(lines[-5:])

    def start(self) -> None:
        """Start the helper process (done by the first call); ``JudgeUnavailableError`` if it cannot run."""
        if self._proc is not None:
            return
        python = self._python or judge_python()
        if not python.is_file():
            raise JudgeUnavailableError(f"the judge's interpreter {python} does not exist; {INSTALL_HINT}")
        self._stderr = tempfile.TemporaryFile()
        env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONNOUSERSITE": "1"}
        self._proc = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr, env=env)
        try:
            header = self._header()
        except JudgeWorkerError as exc:
            self.close()
            raise JudgeUnavailableError(f"the judge's MediaPipe worker did not start ({exc}); {INSTALL_HINT}") from exc
        if not header.get("ready"):
            error = header.get("error", "unknown error")
            self.close()
            raise JudgeUnavailableError(f"the judge's MediaPipe worker cannot load its model ({error}); {INSTALL_HINT}")
        self.version = str(header.get("mediapipe"))

    def _header(self) -> dict:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise JudgeWorkerError(f"the MediaPipe worker exited (code {self._proc.poll()}): {self._stderr_tail()}")
        try:
            return json.loads(line)
        except json.JSONDecodeError as exc:
            raise JudgeWorkerError(f"the MediaPipe worker wrote {line[:80]!r} instead of a JSON header") from exc

    def __call__(self, image: np.ndarray) -> Optional[np.ndarray]:
        """Face-mesh points [478, 3] of one RGB image, or None when MediaPipe finds no face."""
        rgb = np.ascontiguousarray(as_rgb_uint8(image))
        self.start()
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        h, w = rgb.shape[:2]
        try:
            self._proc.stdin.write(json.dumps({"height": h, "width": w}).encode() + b"\n" + rgb.tobytes())
            self._proc.stdin.flush()
        except BrokenPipeError as exc:
            raise JudgeWorkerError(f"the MediaPipe worker is gone: {self._stderr_tail()}") from exc
        header = self._header()
        if not header.get("found"):
            return None
        size = MESH_POINTS * 3 * 4
        data = self._proc.stdout.read(size)
        if len(data) != size:
            raise JudgeWorkerError(f"the MediaPipe worker sent {len(data)} of {size} bytes: {self._stderr_tail()}")
        return np.frombuffer(data, dtype="<f4").reshape(MESH_POINTS, 3).astype(np.float64)

    def close(self) -> None:
        """Stop the helper process (safe to call twice)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.write(b'{"quit": true}\n')
                    proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
