"""Drives the live viewer's real window for the tests; prints a JSON report on the last line.
tests/test_live.py and tests/test_live_window.py start it under xvfb-run:

    xvfb-run -a python tests/live_driver.py SPEECH.flac OUT_DIR      # keys and a recording
    xvfb-run -a python tests/live_driver.py --screens OUT_DIR        # screenshots of the window

--screens shows a closed and an open mouth, then a resized window, and takes an `xwd -root`
screenshot of each: what a person at that X display sees, not a framebuffer read.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from facestream import vocab
from facestream.cli import build_parser
from facestream.viewer.live import _pyglet, run_live

SETTLE_FRAMES = 4  # drawn before each screenshot (the first after a change allocates)
SETTLE_S = 0.3  # then this long for the X server to show the last swap


def keys_and_recording(audio: str, out: str) -> None:
    _, key = _pyglet()
    args = build_parser().parse_args(
        ["live", "--input", audio, "--duration", "4.0", "--emotion", "happy", "--intensity", "0.5",
         "--record-dir", out, "--size", "256", "--no-playback"])
    # record from 0.3 s to 3.3 s; sad at 0.9 s; intensity 0.5 -> 0.7 at 1.5 s
    script = [(0.3, key.R), (0.9, key._3), (1.5, key.UP), (1.55, key.UP), (3.3, key.R)]
    print(json.dumps(run_live(args, script=script)))


def _frame(jaw_open: float):
    """An engine frame with only the jaw opened: arkit jawOpen and the jaw bone together."""
    from facestream.engine.stream import Frame
    arkit = np.zeros(vocab.NUM_ARKIT, np.float32)
    arkit[vocab.ARKIT_INDEX["jawOpen"]] = jaw_open
    jaw = np.asarray(vocab.jaw_open_to_pose(np.float32(jaw_open)), np.float32).reshape(3)
    return Frame(seq=0, timestamp=0.0, arkit=arkit, expression=arkit.copy(), jaw_pose=jaw,
                 neck_pose=np.zeros(3, np.float32), eye_pose=np.zeros(6, np.float32),
                 emotion=np.eye(vocab.NUM_EMOTIONS, dtype=np.float32)[0], intensity=0.0)


def _project_box(renderer, verts: np.ndarray, size) -> list[int]:
    """Pixel box [x0, y0, x1, y1] (top-left origin) of `verts` (N x 3) in a w x h window."""
    w, h = size
    mvp, _ = renderer.camera.matrices(w / h)
    clip = np.c_[verts, np.ones(len(verts))] @ mvp.T  # N x 4
    ndc = clip[:, :2] / clip[:, 3:]
    x = (ndc[:, 0] + 1) / 2 * w
    y = (1 - ndc[:, 1]) / 2 * h
    return [int(x.min()), int(y.min()), int(np.ceil(x.max())), int(np.ceil(y.max()))]


def screens(out: str) -> None:
    from facestream.engine.head import MATERIALS
    from facestream.engine.sources import PushSource
    from facestream.engine.stream import Engine
    from facestream.viewer import face
    from facestream.viewer.live import LiveWindow
    from facestream.viewer.session import LiveSession

    out_dir = Path(out)
    engine = Engine()
    # never started: this driver publishes the frames itself, so it knows what each shot shows
    session = LiveSession(engine, PushSource(16000), emotion="neutral", intensity=0.0,
                          record_dir=out_dir)
    window = LiveWindow(session, size=320, max_fps=None, source_name="screenshot test")
    head = engine.head
    mouth_ids = np.flatnonzero(np.isin(head.vertex_material, [MATERIALS.index(m) for m in
                                                               ("lips", "teeth", "mouth")]))
    report = {"gl_renderer": window.gl_renderer, "samples": window.renderer.samples, "shots": {}}

    def shot(name: str, verts: np.ndarray) -> None:
        session.latest = (_frame(0.0), verts)
        for _ in range(SETTLE_FRAMES):
            window.pyglet.clock.tick()
            window.window.dispatch_events()
            window.draw(time.perf_counter())
        window.ctx.finish()
        time.sleep(SETTLE_S)
        path = out_dir / f"{name}.xwd"
        with open(path, "wb") as f:
            subprocess.run(["xwd", "-root", "-silent"], stdout=f, check=True, timeout=30)
        size = window.window.get_size()
        report["shots"][name] = {
            "xwd": str(path), "location": list(window.window.get_location()), "size": list(size),
            "framebuffer_size": list(window.window.get_framebuffer_size()),
            "mouth_box": _project_box(window.renderer, verts[mouth_ids], size)}

    try:
        closed = face.frame_vertices(engine, _frame(0.0))
        opened = face.frame_vertices(engine, _frame(1.0))
        shot("closed", closed)
        shot("open", opened)
        window.window.set_size(400, 300)
        shot("resized", closed)
        report["frames_drawn"] = window.drawn
    finally:
        session.stop()
        window.close()
    print(json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1] == "--screens":
        screens(sys.argv[2])
    else:
        keys_and_recording(sys.argv[1], sys.argv[2])
