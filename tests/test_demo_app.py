"""The Gradio demo served for real on 127.0.0.1 with the default models: a ``gradio_client`` test of its
API and a headless Chromium test (Debian ``chromium`` + ``chromium-driver``, driven by Selenium) that
loads the page, sees an input error shown in the page, runs the bundled example, saves a screenshot,
and edits the example source in the Edit tab (Apply, Reset).

Without Chromium the browser test is skipped, unless ``LATENTREENACT_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs it) makes it fail instead. ``LATENTREENACT_SCREENSHOT_DIR`` keeps a copy of
the screenshot."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio", reason="the demo tests need the 'demo' extra (gradio)")

from demo.session import DemoLimits, DemoSession  # noqa: E402
from latentreenact.examples import example_path  # noqa: E402
from latentreenact.video import iter_frames, probe_video  # noqa: E402

MAX_FRAMES = 8
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def served(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The app on a free local port: (session, url)."""
    import functools

    from demo.app import launch
    from latentreenact.reenactor import Reenactor

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    previous = os.environ.get("GRADIO_TEMP_DIR")
    session = DemoSession(functools.partial(Reenactor.from_pretrained, "default"),
                          DemoLimits(max_frames=MAX_FRAMES), workdir=tmp_path_factory.mktemp("demo"))
    app, url = launch(session, host="127.0.0.1", port=None, block=False, quiet=True)
    assert url.startswith("http://127.0.0.1:")
    yield session, url
    app.close()
    session.close()
    if previous is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = previous


def test_gradio_client(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from PIL import Image

    session, url = served
    client = Client(url, verbose=False)
    assert {"/preview", "/reenact", "/edit"} <= set(client.view_api(print_info=False,
                                                                     return_format="dict")["named_endpoints"])
    source, driving = handle_file(str(example_path("astronaut"))), handle_file(str(example_path("smile")))
    crop = np.asarray(Image.open(client.predict(source, api_name="/preview")))
    assert crop.shape[:2] == (256, 256)
    video, pair, status = client.predict(source, driving, "none", 0, "relative", 0.5, True, api_name="/reenact")
    assert f"{MAX_FRAMES} frames, 0 without a face" in status
    info = probe_video(video)
    assert info.n_frames == MAX_FRAMES and info.has_audio and info.size == (320, 320)
    assert probe_video(pair).size[0] > 320
    with pytest.raises(AppError, match="upload a driving video first"):
        client.predict(source, None, "none", 0, "relative", 0.5, True, api_name="/reenact")
    # the driving expression itself (relative head): another reenactment of the same clip, wired to the option
    from demo.app import EXPRESSION_MODE

    face = client.predict(source, driving, "none", 0, "relative", 0.5, False, None, False, api_name="/reenact")[0]
    expr, _, status = client.predict(source, driving, "none", 0, EXPRESSION_MODE, 0.5, False, None, False,
                                     api_name="/reenact")
    assert f"{MAX_FRAMES} frames" in status
    assert not np.array_equal(next(iter_frames(face)), next(iter_frames(expr)))
    # the driving eyes (the checkbox, on by default): they reach the video path (frame 0 is their reference)
    eyes = client.predict(source, driving, "none", 0, "relative", 0.5, False, None, True, api_name="/reenact")[0]
    assert not np.array_equal(list(iter_frames(face))[-1], list(iter_frames(eyes))[-1])
    # the driving mouth (its checkbox, on by default): turned off, the lips no longer follow
    shut = client.predict(source, driving, "none", 0, "relative", 0.5, False, None, False, False,
                          api_name="/reenact")[0]
    assert not np.array_equal(list(iter_frames(face))[-1], list(iter_frames(shut))[-1])
    # more photos of the person: tuned jointly with the source (the upload accepts several files)
    mirrored = tmp_path / "mirrored.png"
    Image.open(example_path("astronaut")).transpose(Image.FLIP_LEFT_RIGHT).save(mirrored)
    _, _, status = client.predict(source, driving, "pti", 10, "relative", 0.5, True, [handle_file(str(mirrored))],
                                  api_name="/reenact")
    assert "tuned jointly on 2 photos" in status
    # bad uploads reach our reader (not Gradio's preprocessing) and get our words, without server paths
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(AppError, match="not an image this demo can read") as caught:
        client.predict(handle_file(str(text)), api_name="/preview")
    assert os.sep not in str(caught.value.message) and "preprocess" not in str(caught.value)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(blank)
    with pytest.raises(AppError, match="no face found in the source image") as caught:
        client.predict(handle_file(str(blank)), "none", 0, False, *([0.0] * 13), api_name="/edit")
    assert os.sep not in str(caught.value.message)
    assert any(p.is_file() for p in session.upload_dir.rglob("*"))  # Gradio's uploads live in the session's folder
    controls = [c.name for c in session.edit_controls()]
    assert controls == ["mouth_open", "smile", "eyes_closed", "lips_apart"]
    sliders = [0.0] * (3 + len(controls) + 10)  # yaw, pitch, roll, the controls, 10 expressions
    still = np.asarray(Image.open(client.predict(source, "none", 0, False, *sliders, api_name="/edit")))
    turned = np.asarray(Image.open(client.predict(source, "none", 0, False, 20.0, *sliders[1:], api_name="/edit")))
    eyes = list(sliders)
    eyes[3 + controls.index("eyes_closed")] = 1.0
    closed = np.asarray(Image.open(client.predict(source, "none", 0, False, *eyes, api_name="/edit")))
    lips = list(sliders)
    lips[3 + controls.index("lips_apart")] = 2.0
    parted = np.asarray(Image.open(client.predict(source, "none", 0, False, *lips, api_name="/edit")))
    assert still.shape == turned.shape == closed.shape == parted.shape == (256, 256, 3)
    assert np.abs(still.astype(int) - turned).mean() > 2.0
    assert np.abs(still.astype(int) - closed).mean() > 1.0
    assert np.abs(still.astype(int) - parted).mean() > 1.0
    # the prepared source file: saved, downloaded, uploaded back as the source (no inversion), same render
    saved = client.predict(source, "none", 0, None, api_name="/save_source")
    assert saved.endswith(".lrsource")
    again = np.asarray(Image.open(client.predict(handle_file(saved), "none", 0, False, *sliders, api_name="/edit")))
    np.testing.assert_array_equal(again, still)


def test_errors_are_logged_in_one_line_or_with_a_traceback(caplog) -> None:  # type: ignore[no-untyped-def]
    import gradio as gr

    from demo.app import SERVER_FAILURE, _guarded
    from demo.session import DemoInputError

    def refuse() -> None:
        try:
            raise OSError("/srv/uploads/abc/photo.png:\n  cannot identify")
        except OSError as exc:
            raise DemoInputError("the source image is not an image") from exc

    def bug() -> None:
        raise KeyError("/srv/secret/path")

    caplog.set_level("INFO", logger="demo.app")
    with pytest.raises(gr.Error) as refused:
        _guarded(refuse)()
    assert refused.value.message == "the source image is not an image" and not refused.value.print_exception
    (record,) = caplog.records
    assert record.levelname == "INFO" and record.exc_info is None and "\n" not in record.getMessage()
    # the cause is in the server's log (one line), not on the page
    assert record.getMessage() == ("request refused: the source image is not an image "
                                   "(/srv/uploads/abc/photo.png: cannot identify)")
    caplog.clear()
    with pytest.raises(gr.Error) as failed:
        _guarded(bug)()
    assert failed.value.message == SERVER_FAILURE and "/srv" not in failed.value.message
    (record,) = caplog.records
    assert record.levelname == "ERROR" and record.exc_info is not None and record.exc_info[0] is KeyError


def _browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package")
    if missing:
        message = f"headless browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("LATENTREENACT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _chromium(profile: str, *flags: str):  # type: ignore[no-untyped-def]
    """Headless Chromium under Selenium with a fresh profile folder and any extra ``flags``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1400", f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def open_tab(driver, wait, label: str) -> None:  # type: ignore[no-untyped-def]
    """Click the tab whose button text starts with ``label``, waiting until Gradio has drawn it (the page
    title is set before the tabs exist, so looking them up once races the page's first render)."""
    from selenium.webdriver.common.by import By

    def tab(d):  # type: ignore[no-untyped-def]
        buttons = d.find_elements(By.CSS_SELECTOR, "button[role='tab']")
        return next((b for b in buttons if b.text.strip().startswith(label) and b.is_displayed()), False)

    wait.until(tab).click()


def choose(driver, radio_id: str, value: str) -> None:  # type: ignore[no-untyped-def]
    """Click the option ``value`` of the Gradio radio group ``radio_id``."""
    from selenium.webdriver.common.by import By

    labels = driver.find_elements(By.CSS_SELECTOR, f"#{radio_id} label")
    next(label for label in labels if label.text.strip() == value).click()
    assert driver.find_element(By.CSS_SELECTOR, f"#{radio_id} input[value='{value}']").is_selected()


def test_browser_runs_the_example(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _browser_or_skip()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, url = served
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    driver = _chromium(profile)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "latentreenact" in d.title)
        wait.until(lambda d: d.find_element(By.ID, "run")).click()  # nothing uploaded: the error is shown
        choose(driver, "reenact_tune", "none")  # tuning (the UI default) would take minutes on a CPU
        wait.until(lambda d: "upload a driving video first" in d.page_source)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#examples [data-testid='dataset-cell-0-0']")).click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#crop img"))  # the preview ran
        driver.find_element(By.ID, "run").click()
        WebDriverWait(driver, 300).until(lambda d: "frames" in d.find_element(By.ID, "status").text)
        assert f"{MAX_FRAMES} frames" in driver.find_element(By.ID, "status").text
        src = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#result video").get_attribute("src"))
        assert src and "reenacted.mp4" in src
        shot = tmp_path / "demo.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        # the Edit tab: example source, yaw 20 + Apply changes the image, Reset zeroes the sliders
        open_tab(driver, wait, "Edit")
        wait.until(lambda d: d.find_element(By.ID, "edit_tune").is_displayed())
        choose(driver, "edit_tune", "none")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#edit_examples button.gallery-item")).click()
        first = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#edited img").get_attribute("src"))
        yaw = driver.find_element(By.CSS_SELECTOR, "#edit_yaw input[type='number']")
        yaw.clear()
        yaw.send_keys("20")
        driver.find_element(By.ID, "edit_apply").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#edited img").get_attribute("src") != first)
        driver.find_element(By.ID, "edit_reset").click()
        wait.until(lambda d: float(d.find_element(By.CSS_SELECTOR, "#edit_yaw input[type='number']")
                                   .get_attribute("value")) == 0.0)
        driver.save_screenshot(str(tmp_path / "edit.png"))
        keep = os.environ.get("LATENTREENACT_SCREENSHOT_DIR")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / "demo.png")
            shutil.copy(tmp_path / "edit.png", Path(keep) / "demo_edit.png")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _fake_camera_clip(path: Path) -> Path:
    """The bundled driving clip as a Y4M file, which Chromium's fake camera plays in a loop."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(example_path("smile")),
                    "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(path)], check=True)
    return path


def test_browser_live_camera(served, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The Live tab in headless Chromium with a fake camera fed from the bundled clip: results arrive in
    the page, and each one is what the live reenactor makes of the camera frames that reached the server."""
    _browser_or_skip()
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import demo.app as app_module
    from latentreenact.live import LiveReenactor

    session, url = served
    received = []
    step = app_module.live_step

    def recording(session_, state, frame, *args, **kwargs):  # type: ignore[no-untyped-def]
        out = step(session_, state, frame, *args, **kwargs)
        if frame is not None and out[0] is not None:
            received.append((np.asarray(frame).copy(), out[0].copy()))
        return out

    monkeypatch.setattr(app_module, "live_step", recording)
    camera = _fake_camera_clip(tmp_path / "camera.y4m")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    driver = _chromium(profile, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                       f"--use-file-for-fake-video-capture={camera}")
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "latentreenact" in d.title)
        open_tab(driver, wait, "Live")
        wait.until(lambda d: d.find_element(By.ID, "live_prepare").is_displayed())
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#live_examples button.gallery-item")).click()
        choose(driver, "live_tune", "none")
        wait.until(lambda d: "live_source" in d.page_source and d.find_elements(By.CSS_SELECTOR, "#live_source a"))
        driver.find_element(By.ID, "live_prepare").click()
        wait.until(lambda d: "prepared" in d.find_element(By.ID, "live_status").text)
        driver.find_element(By.CSS_SELECTOR, "#live_camera div[title='grant webcam access'] button").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#live_camera button.capture-button")).click()
        shown, start = set(), time.monotonic()
        while time.monotonic() - start < 90 and len(shown) < 30:
            try:
                shown.update(img.get_attribute("src") for img in driver.find_elements(By.CSS_SELECTOR, "#live_result img"))
            except StaleElementReferenceException:
                pass
            time.sleep(0.05)
        rate = driver.find_element(By.ID, "live_rate").text
        driver.save_screenshot(str(tmp_path / "live.png"))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    assert len(shown) >= 20, (len(shown), rate)  # results arrive in the page, one after another
    counts = re.search(r"face found in (\d+) of (\d+) frames", rate)
    assert "frames/s shown" in rate and counts, rate
    assert int(counts[1]) == int(counts[2]) and 20 <= int(counts[2]) <= len(received)
    frames = [f for f, _ in received]
    assert len({f.tobytes() for f in frames}) > 10  # the camera's frames change (the clip plays)
    # follow: replaying the frames the server got through a fresh live reenactor gives the same results
    src, _ = session.prepared_source(str(example_path("astronaut")), "none", None)
    replay = LiveReenactor(session.reenactor, src)
    for (frame, shown_image) in received:
        assert np.abs(replay.step(frame).image.astype(int) - shown_image.astype(int)).max() <= 1
    moved = max(np.abs(o.astype(int) - received[0][1].astype(int)).mean() for _, o in received)
    assert moved > 5.0  # the face in the results moves with the camera's face
