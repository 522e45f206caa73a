"""The server's browser page in headless Chromium with a fake microphone playing speech: the
page captures it, streams it, receives vertex frames and draws a face whose mouth moves, with
the renderer's brows, lashes and neck fade. Chromium is driven over the DevTools protocol with
the websockets client (no npm: facestream.bench.browser.Chromium)."""
import io
import json
import shutil
import subprocess
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("websockets", reason="the server needs the `server` extra (websockets)")

from facestream.bench.browser import Chromium  # noqa: E402
from facestream.engine.stream import Engine  # noqa: E402
from facestream.server import protocol as P  # noqa: E402
from facestream.server.app import ServerOptions, ServerThread  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make apt "
                                 "installs it; apt-get install chromium)")]


def speech_wav(path):
    """Speech from espeak-ng when present, else a voiced syllable-like signal (16 kHz WAV)."""
    import soundfile as sf
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(path), "Hello there. We talk and the face "
                        "follows every word we say, open and closed, again and again."],
                       check=True, capture_output=True)
        return path
    t = np.arange(16000 * 4) / 16000
    x = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) * 0.5 * np.sin(2 * np.pi * 150 * t)
    sf.write(path, x.astype(np.float32), 16000)
    return path


class Browser(Chromium):
    """Headless Chromium with one page and the fake microphone playing `wav`, spoken to over
    CDP (facestream.bench.browser.Chromium, which the in-browser page's tests use too)."""

    def __init__(self, tmp, wav):
        try:
            super().__init__(tmp / "profile", wav)
        except RuntimeError as e:
            pytest.skip(str(e))


def gray(png):
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)


def rgb(png):
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)


def open_page(b, port, query=""):
    """Load the page and wait for its first drawing of the head and the server's hello."""
    b.call("Page.navigate", url=f"http://127.0.0.1:{port}/{query}")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        state = json.loads(b.eval("JSON.stringify(window.fsState || {})") or "{}")
        assert not state.get("errors"), state.get("errors")
        if state.get("mouthBox") and state.get("hello"):
            return
        time.sleep(0.25)
    pytest.fail("the page did not draw the head within 60 s")


def canvas_shot(b):
    """The canvas as RGB, H x W x 3 in canvas pixels (shown at 1:1), cut from the whole
    viewport (a CDP clip is not always where the page says it is). The status line above it
    can rewrap and move it: shoot until it stays put."""
    where = "JSON.stringify(document.getElementById('view').getBoundingClientRect())"
    for _ in range(10):
        rect = json.loads(b.eval(where))
        img = rgb(b.screenshot())
        if json.loads(b.eval(where)) == rect:
            x, y = round(rect["x"]), round(rect["y"])
            return img[y:y + round(rect["height"]), x:x + round(rect["width"])]
    pytest.fail("the canvas kept moving")


def box_of(b, points):
    """Canvas-pixel box (x0, y0, x1, y1) of points in the head's frame, projected by the page."""
    px = np.array(b.eval(f"window.fsProject({json.dumps(np.asarray(points).tolist())})"))
    (x0, y0), (x1, y1) = np.floor(px.min(0)).astype(int), np.ceil(px.max(0)).astype(int) + 1
    return x0, y0, x1, y1


def test_browser_page_streams_the_microphone_and_moves_the_mouth(tmp_path):
    wav = speech_wav(tmp_path / "speech.wav")
    with ServerThread(Engine(), ServerOptions(port=0)) as st:
        b = Browser(tmp_path, wav)
        try:
            b.call("Page.enable")
            b.call("Page.navigate", url=f"http://127.0.0.1:{st.port}/?autostart=1")
            t0 = time.monotonic()
            state = {}
            while time.monotonic() - t0 < 60:
                state = b.eval("JSON.stringify(window.fsState || {})")
                state = json.loads(state) if state else {}
                if state.get("frames", 0) >= 60 or state.get("errors"):
                    break
                time.sleep(0.25)
            assert not state.get("errors"), state.get("errors")
            assert state["micLabel"] and state["audioChunks"] > 0
            assert state["frames"] >= 60 and state["hello"]["protocol"] == P.PROTOCOL_VERSION
            assert state["maxDisplacement"] > 1e-3  # vertices moved away from the rest mesh
            jaw = np.array(state["mouthOpen"])
            assert jaw.max() - jaw.min() > 0.1  # the jaw opened and closed with the speech
            # the engine's behaviour reaches the page, and its toggles reach the engine
            assert state["behaviour"]["blinks"] and state["behaviour"]["gaze"] == "auto"
            assert state["maxLook"] > 0.0
            b.eval("document.getElementById('blinks').click(), 0")
            t1 = time.monotonic()
            while time.monotonic() - t1 < 10:
                if not json.loads(b.eval("JSON.stringify(window.fsState)"))["behaviour"]["blinks"]:
                    break
                time.sleep(0.1)
            assert not json.loads(b.eval("JSON.stringify(window.fsState)"))["behaviour"]["blinks"]
            diff = b.region_change(state["mouthBox"])
            full = b.screenshot()
            (tmp_path / "face.png").write_bytes(full)
            status = json.loads(urllib.request.urlopen(
                f"http://127.0.0.1:{st.port}/status", timeout=10).read())
        finally:
            b.close()
    assert diff > 1.0, f"the mouth region did not change between screenshots ({diff:.2f})"
    assert gray(full).std() > 10  # a face, not a blank canvas
    assert status["frames_sent"] >= 60 and status["audio_seconds_in"] > 1.0


def test_browser_page_draws_brows_lashes_and_a_fading_neck(tmp_path):
    """The page paints what the renderer paints, from the numbers /head.bin carries: dark brow
    hair and a lash line above the left eye, and a neck cut that fades into the background;
    none of it with ?features=0 (the bare head the page drew before)."""
    from facestream.viewer.features import feature_attributes
    engine = Engine()
    head = engine.head
    eye = head.joints[3]  # eye_left; features.py lays the brows out from it
    a = abs(float(eye[0]))
    # the bands test_live_face.py looks at in the renderer's image: the brow above the eye,
    # below the forehead; the lash line along the upper lid, above the pupil
    brow = [[0.3 * a, eye[1] + 1.05 * a, eye[2]], [1.6 * a, eye[1] + 0.35 * a, eye[2]]]
    lash = [[0.55 * a, eye[1] + 0.45 * a, eye[2]], [1.45 * a, eye[1] + 0.15 * a, eye[2]]]
    cut = head.template[feature_attributes(head)[:, 3] >= 1]  # fully faded: the cut, its flaps
    assert len(cut) > 10
    with ServerThread(engine, ServerOptions(port=0)) as st:
        b = Browser(tmp_path, speech_wav(tmp_path / "speech.wav"))
        try:
            b.call("Page.enable")
            # the whole canvas in the viewport
            b.call("Emulation.setDeviceMetricsOverride", width=800, height=800,
                   deviceScaleFactor=1, mobile=False)
            shots, boxes = {}, {}
            for query in ("?features=0", ""):
                open_page(b, st.port, query)
                shots[query] = canvas_shot(b)
                boxes = {k: box_of(b, pts) for k, pts in (("brow", brow), ("lash", lash),
                                                          ("cut", cut))}
            (tmp_path / "page.png").write_bytes(b.screenshot())
        finally:
            b.close()

    def dark(box):
        x0, y0, x1, y1 = boxes[box]
        return {k: float((im[y0:y1, x0:x1].mean(-1) < 100).mean()) for k, im in shots.items()}

    # measured: brow 0.20 of its box dark with the features, 0.0 without; lash 0.24 and 0.04
    # (the top of the iris)
    for box in ("brow", "lash"):
        d = dark(box)
        assert d[""] > 0.12 and d["?features=0"] < 0.08 and d[""] > 3 * d["?features=0"], (box, d)
    x0, y0, x1, y1 = boxes["cut"]
    low = slice((y0 + y1) // 2, y1)  # the cut's lower half: below anything only half faded
    bg = shots[""][2, 2]  # a corner of the canvas: the page's background
    diff = {k: np.abs(im[low, x0:x1] - bg).max(-1) for k, im in shots.items()}
    # measured: at most 4 levels from the background with the fade; 43% drawn without it
    assert diff[""].max() <= 12, "the ragged cut and its flaps are not drawn"
    assert (diff["?features=0"] > 24).mean() > 0.2, "without the fade they are"
    face = np.abs(shots[""][:y0] - bg).max(-1) > 24
    assert face.mean() > 0.2, "the head above the neck is drawn"
