"""The judge's helper process: MediaPipe 0.10.21 face mesh behind a pipe (runs in ``.venv-judge``).

Run as a script by :class:`latentreenact.judge.mesh.FaceMeshClient`; it imports nothing from
latentreenact, so the helper environment needs only mediapipe and numpy<2. Protocol (binary, over
stdin / stdout; everything the libraries print goes to stderr):

- on start the worker writes one JSON line ``{"ready": true, "mediapipe": VERSION, "points": 478}``
  (or ``{"ready": false, "error": MESSAGE}`` and exits 1);
- a request is one JSON line ``{"height": H, "width": W}`` followed by ``H*W*3`` bytes (uint8 RGB,
  row-major); the reply is one JSON line ``{"found": BOOL}`` followed, when found, by ``478*3``
  float32 values (little-endian): x, y in pixels and z (depth, larger is farther from the camera) in
  the units of x;
- ``{"quit": true}`` or end of input ends the worker.
"""

import json
import os
import sys


def main() -> int:
    """Serve face-mesh requests until the input ends."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints of the libraries must not corrupt the protocol
    inp = sys.stdin.buffer
    try:
        import mediapipe as mp
        import numpy as np

        mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                               min_detection_confidence=0.5)
    except Exception as exc:  # noqa: BLE001 - reported to the client, which raises JudgeUnavailableError
        out.write((json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
        out.flush()
        return 1
    ready = {"ready": True, "mediapipe": getattr(mp, "__version__", "?"), "points": 478}
    out.write((json.dumps(ready) + "\n").encode())
    out.flush()
    while True:
        line = inp.readline()
        if not line:
            return 0
        request = json.loads(line)
        if request.get("quit"):
            return 0
        h, w = int(request["height"]), int(request["width"])
        data = inp.read(h * w * 3)
        if len(data) != h * w * 3:
            return 2
        image = np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)
        result = mesh.process(image)
        faces = result.multi_face_landmarks or []
        if not faces:
            out.write(b'{"found": false}\n')
        else:
            points = np.array([[p.x * w, p.y * h, p.z * w] for p in faces[0].landmark], dtype="<f4")
            out.write(b'{"found": true}\n' + points.tobytes())
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
