"""The Gradio app of ``latentreenact demo``: a Reenact tab (source and driving uploads with bundled
examples, aligned-crop preview, options, progress, result and side-by-side videos), an Edit tab
(yaw / pitch / roll / expression sliders with Reset) and a Live tab (a prepared source driven by the
browser's camera, frame by frame, with the frame rate shown). Each tab can save the prepared source as a
``.lrsource`` file, which the source input takes back instead of a photo (no inversion then). The work is done by
:class:`demo.session.DemoSession` (and :mod:`demo.live` for the camera stream).

The source photo is a file input, so Gradio hands over the uploaded file without decoding it and our
reader checks it. Users see our messages only: refused inputs (:class:`DemoInputError`) are logged in
one line, anything else is logged with its traceback and shown as a generic failure. :func:`serve`
runs the app until SIGTERM or SIGINT and then removes every file the demo made (Gradio's uploads
included: they go to the session's ``upload_dir``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from latentreenact.examples import example_path
from latentreenact.identity.same_person import SAME_PERSON_DISTANCE
from latentreenact.source_file import SOURCE_SUFFIX

from .errors import DemoInputError
from .live import LiveState, follow_setting, live_step
from .session import DEFAULT_RECIPE, TUNE_PRESETS, DemoLimits, DemoSession

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)

EXPRESSION_MODE = "relative head, driving expression"
ANGLE_SLIDERS = (("yaw", 30.0), ("pitch", 20.0), ("roll", 20.0))
DEFAULT_TUNE = DEFAULT_RECIPE
TUNE_INFO = ("How the source is inverted after the encoder (without this the encoder's coarse guess is a look-alike "
             "at best). 'released' (the default, as in the CLI and the API) is the paper's tuning of a copy of the "
             "generator; 'editable' refines the latent first and keeps the tuned generator close to the original "
             "elsewhere (less blur on some photos, slower); 'pivot' and 'local' are its two halves; 'none' is "
             "the encoder alone. About 1 to 2 minutes on 2 CPU cores, seconds on a GPU. Each source is inverted "
             "once and cached.")
INTRO = ("# latentreenact\nOne-shot face reenactment: the source face is inverted into the generator's latent "
         "space and moved along learned directions (Δw = A·Δp) by the driving face's head pose and expression.")
SAVE_INFO = (f"Prepared source ({SOURCE_SUFFIX}): upload it as the source next time to skip the inversion "
             f"and tuning (the same demo models only)")
#: what a user sees when the server fails (the details are in the server's log)
SERVER_FAILURE = "the server failed on this request (the details are in its log); try again or another input"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: seconds between camera frames sent by the browser in the live tab (at most 12.5 frames/s)
LIVE_STREAM_EVERY = 0.08
LIVE_INFO = ("Prepare inverts (and tunes) the source once; then start the camera: every frame drives the source "
             "(tracking the face between detections). 'none' prepares in a second but is a look-alike at best.")


def _shown(exc: BaseException) -> "gr.Error":
    """The page's error for a failed request: a refused input in one log line and our message; anything
    else with its traceback in the log and a generic message (which names no server path)."""
    import gradio as gr

    if isinstance(exc, DemoInputError):
        cause = f" ({' '.join(str(exc.__cause__).split())})" if exc.__cause__ is not None else ""  # one line
        log.info("request refused: %s%s", exc, cause)
        return gr.Error(str(exc), print_exception=False)
    log.error("request failed", exc_info=exc)
    return gr.Error(SERVER_FAILURE, print_exception=False)


def _guarded(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` with every exception turned into the page's error by :func:`_shown`."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure is shown in our words
            raise _shown(exc) from exc

    return run


def _steps(value: Optional[float]) -> Optional[int]:
    """The tuning-steps slider: 0 means the preset's own count."""
    return None if not value else int(value)


def build_app(session: DemoSession, examples: bool = True) -> "gr.Blocks":
    """The Blocks app over ``session`` (models are loaded now, to size the expression sliders)."""
    import gradio as gr

    expression_names = session.expression_names()
    control_names = [c.name for c in session.edit_controls()]
    preview, reenact, edit = _handlers(gr, session, expression_names, control_names)
    keep_s = max(int(session.outputs.keep_s), 1)
    with gr.Blocks(title="latentreenact demo", analytics_enabled=False, delete_cache=(keep_s, keep_s)) as app:
        gr.Markdown(INTRO)
        with gr.Tab("Reenact", id="reenact"):
            ui = _reenact_tab(gr, session.limits, examples)
        with gr.Tab("Edit", id="edit"):
            ed = _edit_tab(gr, session, expression_names, examples)
        with gr.Tab("Live (webcam)", id="live"):
            lv = _live_tab(gr, session.limits, examples)

        ui["source"].change(preview, inputs=ui["source"], outputs=ui["crop"], api_name="preview")
        ui["run"].click(reenact, inputs=[ui[k] for k in ("source", "driving", "tune", "tune_steps", "mode",
                                                        "smoothing", "paste_back", "extras", "follow_eyes",
                                                        "follow_mouth")],
                        outputs=[ui["result"], ui["pair"], ui["status"]], api_name="reenact")
        sliders = ed["sliders"]
        edit_inputs = [ed["source"], ed["tune"], ed["steps"], ed["paste"], *sliders, ed["extras"]]
        ed["apply"].click(edit, inputs=edit_inputs, outputs=ed["edited"], api_name="edit")
        # the same edit on slider release, new source and reset: not separate API endpoints
        hidden: Dict[str, Any] = {"api_visibility": "private"}
        for slider in sliders:
            slider.release(edit, inputs=edit_inputs, outputs=ed["edited"], **hidden)
        ed["source"].change(edit, inputs=edit_inputs, outputs=ed["edited"], **hidden)
        ed["reset"].click(lambda: [0.0] * len(sliders), outputs=sliders, **hidden).then(
            edit, inputs=edit_inputs, outputs=ed["edited"], **hidden)
        save = _save_handler(session)
        ui["save"].click(save, inputs=[ui["source"], ui["tune"], ui["tune_steps"], ui["extras"]],
                         outputs=ui["saved"], api_name="save_source")
        ed["save"].click(save, inputs=[ed["source"], ed["tune"], ed["steps"], ed["extras"]], outputs=ed["saved"],
                         **hidden)
        lv["save"].click(save, inputs=[lv["source"], lv["tune"], lv["steps"]], outputs=lv["saved"], **hidden)
        prepare, live = _live_handlers(session)
        lv["prepare"].click(prepare, inputs=[lv["source"], lv["tune"], lv["steps"]], outputs=lv["status"],
                            api_name="prepare")
        lv["camera"].stream(live, inputs=[lv["camera"], lv["state"], lv["source"], lv["tune"], lv["steps"],
                                          lv["paste"], lv["follow_eyes"], lv["follow_mouth"]],
                            outputs=[lv["result"], lv["rate"], lv["state"]], stream_every=LIVE_STREAM_EVERY,
                            concurrency_limit=1, concurrency_id="live", show_progress="hidden", **hidden)
    return app


def _handlers(gr: Any, session: DemoSession, expression_names: Sequence[str],
              control_names: Sequence[str]) -> Tuple[Callable[..., Any], ...]:
    """The app's event handlers over ``session``: ``(preview, reenact, edit)``; failures become gr.Error."""

    @_guarded
    def preview(image: Optional[str]) -> Optional[np.ndarray]:
        return session.preview(image) if image else None

    def reenact(image: Optional[str], driving: Optional[str], tune: str, tune_steps: float, mode: str,
                smoothing: float, paste_back: bool, extras: Optional[List[str]] = None, follow_eyes: bool = True,
                follow_mouth: bool = True,
                progress: gr.Progress = gr.Progress(track_tqdm=True)) -> Tuple[str, str, str]:
        progress(0.0, desc="inverting the source")
        result = _guarded(session.reenact)(image, driving, tune=tune, tune_steps=_steps(tune_steps),
                                           relative=mode != "absolute", absolute_expression=mode == EXPRESSION_MODE,
                                           smoothing=smoothing, paste_back=paste_back,
                                           follow_eyes=follow_setting(follow_eyes),
                                           follow_mouth=follow_setting(follow_mouth),
                                           progress=True, extras=extras or ())
        for note in result.notes:
            gr.Warning(note)
        return str(result.video), str(result.side_by_side), result.summary

    def edit(image: Optional[str], tune: str, tune_steps: float, paste_back: bool, yaw: float, pitch: float,
             roll: float, progress: gr.Progress = gr.Progress(track_tqdm=True),
             *values: float) -> Optional[np.ndarray]:
        # progress comes before *values: Gradio only looks for gr.Progress among positional parameters;
        # values: the expression controls (control_names order), the raw expression coefficients, then the
        # extra photos of the person (a list of paths or None)
        if not image:
            return None
        *values, extras = values
        controls = dict(zip(control_names, values[:len(control_names)]))
        expression = dict(zip(expression_names, values[len(control_names):]))
        return _guarded(session.edit)(image, yaw, pitch, roll, expression, controls=controls, tune=tune,
                                      tune_steps=_steps(tune_steps), paste_back=paste_back, progress=True,
                                      extras=extras or ())

    return preview, reenact, edit


def _save_handler(session: DemoSession) -> Callable[..., Any]:
    """The "Save prepared source" buttons' handler: the prepared source file to download."""

    @_guarded
    def save(image: Optional[str], tune: str, tune_steps: float, extras: Optional[List[str]] = None) -> str:
        if not image:
            raise DemoInputError("upload a source photo first")
        return str(session.save_prepared(image, tune=tune, tune_steps=_steps(tune_steps), extras=extras or (),
                                         progress=True))

    return save


def _save_controls(gr: Any, key: str) -> Tuple[Any, Any]:
    """A button that saves the prepared source and the file to download."""
    button = gr.Button("Save prepared source", elem_id=f"{key}_save_source")
    saved = gr.File(label=SAVE_INFO, interactive=False, elem_id=f"{key}_saved_source", height=80)
    return button, saved


def _live_handlers(session: DemoSession) -> Tuple[Callable[..., Any], Callable[..., Any]]:
    """The live tab's handlers: ``(prepare, step)``."""

    @_guarded
    def prepare(image: Optional[str], tune: str, tune_steps: float) -> str:
        if not image:
            raise DemoInputError("upload a source photo first")
        start = time.perf_counter()
        src = session.source(image, tune=tune, tune_steps=_steps(tune_steps), progress=True)
        distance = src.info.get("identity_distance")
        warning = ("" if distance is not None and distance <= SAME_PERSON_DISTANCE
                   else "; the inverted face may look like another person (try the 'released' recipe)")
        return (f"source prepared ({src.info.get('recipe', tune)}) in {time.perf_counter() - start:.1f} s{warning}; "
                f"start the camera to drive it")

    def step(frame: Optional[np.ndarray], state: Optional[LiveState], image: Optional[str], tune: str,
             tune_steps: float, paste_back: bool, follow_eyes: bool = True,
             follow_mouth: bool = True) -> Tuple[Optional[np.ndarray], str, Optional[LiveState]]:
        try:
            return live_step(session, state, frame, image, tune, _steps(tune_steps), paste_back,
                             follow_eyes=follow_eyes, follow_mouth=follow_mouth)
        except DemoInputError as exc:  # e.g. not prepared yet: said under the result, the stream goes on
            return None, str(exc), state
        except Exception as exc:  # noqa: BLE001 - every failure is shown in our words
            raise _shown(exc) from exc

    return prepare, step


def _live_tab(gr: Any, limits: DemoLimits, examples: bool) -> Dict[str, Any]:
    """The live tab's components, by name."""
    with gr.Row():
        with gr.Column():
            source = _photo_input(gr, "live_source", limits)
            if examples:
                gr.Examples([[str(example_path("astronaut"))]], inputs=[source], label="Examples",
                            elem_id="live_examples")
            tune, steps = _tuning_controls(gr, limits.max_tune_steps, "live")
            paste = gr.Checkbox(False, label="Paste the face back into the source photo")
            eyes = gr.Checkbox(True, label="Follow the camera face's eyes (blinks)", elem_id="live_follow_eyes")
            mouth = gr.Checkbox(True, label="Follow the camera face's mouth (lips)", elem_id="live_follow_mouth")
            prepare = gr.Button("Prepare", variant="primary", elem_id="live_prepare")
            status = gr.Markdown(LIVE_INFO, elem_id="live_status")
            save, saved = _save_controls(gr, "live")
        with gr.Column():
            camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera (driving face)",
                              elem_id="live_camera")
        with gr.Column():
            result = gr.Image(label="Live result", interactive=False, elem_id="live_result")
            rate = gr.Markdown(elem_id="live_rate")
    return {"source": source, "tune": tune, "steps": steps, "paste": paste, "follow_eyes": eyes,
            "follow_mouth": mouth, "prepare": prepare, "status": status, "save": save, "saved": saved,
            "camera": camera, "result": result, "rate": rate, "state": gr.State(None)}


def _reenact_tab(gr: Any, limits: DemoLimits, examples: bool) -> Dict[str, Any]:
    """The Reenact tab's components, by name."""
    with gr.Row():
        with gr.Column():
            source = _photo_input(gr, "source", limits)
            extras = _extra_photos_input(gr, "extras", limits)
            crop = gr.Image(label="Aligned crop (what the encoder sees)", interactive=False,
                            elem_id="crop", height=192)
        with gr.Column():
            driving = gr.Video(label=f"Driving video (first {limits.max_frames} frames are used)",
                               elem_id="driving", sources=["upload"])
        with gr.Column():
            tune, tune_steps = _tuning_controls(gr, limits.max_tune_steps, "reenact")
            mode = gr.Radio(["relative", EXPRESSION_MODE, "absolute"], value="relative", label="Pose reference",
                            info="relative: motion since the clip's first face; relative head, driving "
                                 "expression: the head moves as the clip's does, the face takes the driving "
                                 "expression itself (opens a closed mouth; costs some likeness); absolute: the "
                                 "driving pose itself")
            smoothing = gr.Slider(0.0, 0.95, value=0.5, step=0.05, label="Temporal smoothing",
                                  info="exponential moving average of the driving pose (0 = off)")
            paste_back = gr.Checkbox(True, label="Paste the face back into the source photo")
            follow_eyes = gr.Checkbox(True, label="Follow the driving eyes (blinks)", elem_id="follow_eyes",
                                      info="closes the source's eyes with the driving eyes where the model can "
                                           "(the default model does)")
            follow_mouth = gr.Checkbox(True, label="Follow the driving mouth (lips)", elem_id="follow_mouth",
                                       info="parts the source's lips with the driving mouth, on top of the "
                                            "expression, where the model can (the default model does)")
            run = gr.Button("Reenact", variant="primary", elem_id="run")
            save, saved = _save_controls(gr, "reenact")
    if examples:
        with gr.Row():
            gr.Examples([[str(example_path("astronaut")), str(example_path("smile"))]],
                        inputs=[source, driving], label="Examples (source, driving)",
                        elem_id="examples")
    status = gr.Markdown(elem_id="status")
    with gr.Row():
        result = gr.Video(label="Result", elem_id="result", interactive=False)
        pair = gr.Video(label="Driving | result", elem_id="side_by_side", interactive=False)
    return {"source": source, "extras": extras, "crop": crop, "driving": driving, "tune": tune,
            "tune_steps": tune_steps, "mode": mode, "smoothing": smoothing, "paste_back": paste_back,
            "follow_eyes": follow_eyes, "follow_mouth": follow_mouth, "run": run, "status": status, "result": result,
            "pair": pair, "save": save, "saved": saved}


def _edit_tab(gr: Any, session: DemoSession, expression_names: Sequence[str], examples: bool) -> Dict[str, Any]:
    """The Edit tab's components, by name (``sliders``: the angle sliders, the expression controls, then the raw
    expression coefficients)."""
    with gr.Row():
        with gr.Column():
            edit_source = _photo_input(gr, "edit_source", session.limits)
            edit_extras = _extra_photos_input(gr, "edit_extras", session.limits)
            if examples:
                gr.Examples([[str(example_path("astronaut"))]], inputs=[edit_source], label="Examples",
                            elem_id="edit_examples")
            edit_tune, edit_steps = _tuning_controls(gr, session.limits.max_tune_steps, "edit")
            edit_paste = gr.Checkbox(False, label="Paste the face back into the source photo")
            save, saved = _save_controls(gr, "edit")
        with gr.Column():
            sliders = [gr.Slider(-bound, bound, value=0.0, step=1.0, label=f"{name} (degrees)",
                                 elem_id=f"edit_{name}") for name, bound in ANGLE_SLIDERS]
            sliders += [gr.Slider(*control.range, value=0.0, step=0.05, label=control.name.replace("_", " "),
                                  info=control.description, elem_id=f"edit_{control.name}")
                        for control in session.edit_controls()]
            with gr.Accordion("Raw expression coefficients (advanced)", open=False):
                sliders += [_expression_slider(gr, session, name) for name in expression_names]
            with gr.Row():
                apply = gr.Button("Apply", variant="primary", elem_id="edit_apply")
                reset = gr.Button("Reset", elem_id="edit_reset")
        with gr.Column():
            edited = gr.Image(label="Edited", interactive=False, elem_id="edited")
    return {"source": edit_source, "extras": edit_extras, "tune": edit_tune, "steps": edit_steps, "paste": edit_paste,
            "sliders": sliders, "apply": apply, "reset": reset, "edited": edited, "save": save, "saved": saved}


def _photo_input(gr: Any, elem_id: str, limits: DemoLimits) -> Any:
    """A source photo upload: a file input, so that Gradio does not decode it (our reader does)."""
    return gr.File(type="filepath", file_count="single", elem_id=elem_id, height=120,
                   label=f"Source face (a photo: PNG, JPEG or WebP, at most {limits.max_image_pixels / 1e6:g} "
                         f"megapixels; or a {SOURCE_SUFFIX} file saved here earlier: no tuning then)")


def _extra_photos_input(gr: Any, elem_id: str, limits: DemoLimits) -> Any:
    """Optional more photos of the source person: the tuning fits all of them (joint tuning)."""
    return gr.File(value=[], type="filepath", file_count="multiple", elem_id=elem_id, height=130,
                   label=f"More photos of the same person (optional, at most {limits.max_extra_photos}): "
                         f"tuned jointly, slower; the first photo is the one animated")


def _tuning_controls(gr: Any, max_steps: int, key: str) -> Tuple[Any, Any]:
    with gr.Group():
        tune = gr.Radio(list(TUNE_PRESETS), value=DEFAULT_TUNE, label="Inversion recipe", info=TUNE_INFO,
                        elem_id=f"{key}_tune")
        steps = gr.Slider(0, max_steps, value=0, step=10, label="Tuning steps (0 = the recipe's own)",
                          info="100 halves the preparation of 'released' (200 steps, about a minute on 2 cores) "
                               "for a slightly softer likeness; edits judged as good (docs/benchmarks.md)",
                          elem_id=f"{key}_tune_steps")
    return tune, steps


def _expression_slider(gr: Any, session: DemoSession, name: str) -> Any:
    low, high = session.expression_range(name)
    half = max(abs(high - low) / 2.0, 1e-3)
    return gr.Slider(-half, half, value=0.0, step=half / 50.0, label=f"{name} (raw units, added)", elem_id=f"edit_{name}")


def launch(session: DemoSession, host: str = "127.0.0.1", port: Optional[int] = None, examples: bool = True,
           block: bool = True, quiet: bool = False) -> Tuple[Any, str]:
    """Build and serve the app (queue: one model job at a time, 16 waiting); returns (app, local URL).
    ``block=False`` returns at once (the server runs in a thread; ``app.close()`` stops it). ``port``: 0 for
    any free port, ``None`` for Gradio's first free one from 7860. Gradio's uploads and cached outputs go
    to ``session.upload_dir`` (``GRADIO_TEMP_DIR`` is set to it, for this process)."""
    os.environ["GRADIO_TEMP_DIR"] = str(session.upload_dir)
    port = _free_port(host) if port == 0 else port
    app = build_app(session, examples=examples)
    app.queue(default_concurrency_limit=1, max_size=16)
    allowed: List[str] = [str(Path(example_path("astronaut")).parent), str(session.workdir)]
    kwargs: Dict[str, Any] = dict(server_name=host, server_port=port, max_file_size=f"{session.limits.max_upload_mb}mb",
                                  allowed_paths=allowed, show_error=False, ssr_mode=False, quiet=quiet,
                                  prevent_thread_lock=not block, share=False, inbrowser=False)
    _, url, _ = app.launch(**kwargs)
    return app, url


def _free_port(host: str) -> int:
    """A port nobody listens on now (the system's choice)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def serve(session: DemoSession, host: str = "127.0.0.1", port: Optional[int] = None, examples: bool = True,
          ready: Callable[[str], None] = lambda url: None) -> str:
    """Serve the app until SIGTERM or SIGINT (``ready`` is called with its URL once it listens), then stop
    the server and close the session, which removes its files. Call from the main thread; returns the
    name of the signal that stopped it."""
    stop = threading.Event()
    received: List[str] = []
    serving = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()
        if not serving.is_set():  # still loading the models: leave now, through the finally below
            raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    app = None
    try:
        app, url = launch(session, host=host, port=port, examples=examples, block=False, quiet=True)
        serving.set()
        ready(url)
        while not stop.wait(0.5):
            pass
        log.info("stopping on %s", received[0])
        return received[0]
    finally:
        serving.set()
        if app is not None:
            app.close()
        session.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
