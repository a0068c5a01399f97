"""Serving the demo and stopping it: ``latentreenact demo`` in a subprocess on the tiny model, with
its temporary folder under a test folder, answers real requests (uploads and a result video), and
SIGTERM leaves that folder empty; :func:`demo.app.serve` in this process does the same on SIGINT."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the demo tests need the 'demo' extra (gradio)")

from demo.session import DemoLimits, DemoSession  # noqa: E402
from latentreenact.examples import example_path  # noqa: E402
from tiny_reenactor import model_files, tiny_reenactor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"latentreenact demo at (http://\S+)")


def wait_for_url(proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> str:
    """The URL the demo prints once it listens (fails with its log if it exits or takes too long)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = URL.search(log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if proc.poll() is not None:
            pytest.fail(f"the demo exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    pytest.fail(f"the demo did not start in {timeout} s:\n{log.read_text(errors='replace')}")


def test_sigterm_removes_uploads_and_results(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client, handle_file

    _, model = model_files(tmp_path)
    temp_root, log = tmp_path / "temp", tmp_path / "demo.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "LATENTREENACT_DEMO_TMPDIR": str(temp_root), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    command = [sys.executable, "-c", "from latentreenact.cli.main import cli; cli()", "demo", "--port", "0",
               "--model", str(model), "--max-frames", "2", "--no-examples"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        url = wait_for_url(proc, log)
        client = Client(url, verbose=False)
        source = handle_file(str(example_path("astronaut")))
        client.predict(source, api_name="/preview")
        video, _, status = client.predict(source, handle_file(str(example_path("smile"))), "none", 0, "relative",
                                          0.5, True, api_name="/reenact")
        assert "2 frames" in status
        (workdir,) = temp_root.iterdir()  # one folder for the whole demo, under the given root
        assert list(workdir.glob("run-*/reenacted.mp4")), "the result is in the demo's folder"
        assert any(p.is_file() for p in (workdir / "uploads").rglob("*")), "Gradio's uploads are in it too"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert temp_root.is_dir() and not list(temp_root.iterdir()), "SIGTERM left files behind"
    assert "stopped (SIGTERM); temporary files removed" in log.read_text(errors="replace")


def test_serve_stops_on_sigint_and_cleans_up(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from demo.app import serve

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GRADIO_TEMP_DIR", "unset")  # monkeypatch restores it; serve sets its own
    session = DemoSession(tiny_reenactor, DemoLimits(max_frames=2), temp_root=tmp_path / "temp", default_tune="none")
    result = session.reenact(str(example_path("astronaut")), str(example_path("smile")))
    assert result.video.is_file()
    urls = []

    def ready(url: str) -> None:
        urls.append(url)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()

    before = signal.getsignal(signal.SIGINT)
    assert serve(session, port=0, examples=False, ready=ready) == "SIGINT"
    assert urls and urls[0].startswith("http://127.0.0.1:") and not urls[0].endswith(":0/")
    assert not list((tmp_path / "temp").iterdir())  # the session's folder is gone
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are put back
