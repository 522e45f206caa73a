"""The model in the browser, measured in headless Chromium (issue 19).

    python -m facestream.bench.browser --seconds 10      # prints one JSON line

`facestream export --format web` into a temporary folder, a plain static file server (no
websocket at all), and Chromium with its fake microphone playing speech into the page's
AudioWorklet. Two numbers come back from the page itself:

- per-chunk inference in the Worker: the wall time of each onnxruntime-web `session.run` on
  a 20 ms microphone chunk (two 10 ms model steps), WASM, one thread (a static host is not
  cross-origin isolated);
- microphone to frame: for each frame, the time it is back on the page's main thread minus
  the time the audio at its timestamp reached the main thread from the AudioWorklet. It
  includes the model's look-ahead (40 ms), the 20 ms chunking, the Worker's run and the
  messages between threads; the capture device's own buffering (nothing for the fake
  microphone) comes before it.

`Chromium` (a DevTools-protocol client over `websockets`) and `StaticServer` are what
tests/test_web_model.py drives the page with too.
"""
from __future__ import annotations

import base64
import io
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from functools import partial
from importlib import resources
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from .stats import skipped

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--enable-unsafe-swiftshader",
                  "--autoplay-policy=no-user-gesture-required", "--window-size=800,800",
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    """Why the page cannot be measured here (None: it can)."""
    from ..exporters.web import WebExportError, find_ort
    if chromium_path() is None:
        return "chromium is not installed (make apt installs it; apt-get install chromium)"
    try:
        import websockets  # noqa: F401
    except ImportError:
        return "the DevTools client needs the `server` extra (websockets)"
    try:
        find_ort()
    except WebExportError as e:
        return str(e)
    return None


class StaticServer:
    """A plain static file server for one folder on 127.0.0.1, in a thread; `requests` lists
    (method, path, status) of everything it was asked for."""

    def __init__(self, root: str | Path):
        self.requests: list[tuple[str, str, int]] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                server.requests.append((self.command, self.path, int(code) if str(code).isdigit() else 0))

            def log_message(self, *args):  # the list above is the log
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="facestream-static",
                                       daemon=True)

    def __enter__(self) -> "StaticServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"


class Chromium:
    """Headless Chromium with one page, spoken to over the DevTools protocol. `fake_audio`: a
    WAV file its fake microphone plays (in a loop). Every protocol event is kept in `events`."""

    def __init__(self, profile: str | Path, fake_audio: str | Path | None = None):
        from websockets.sync.client import connect
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium is not installed: apt-get install chromium")
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0"]
        if fake_audio is not None:
            flags.append(f"--use-file-for-fake-audio-capture={fake_audio}")
        self.proc = subprocess.Popen([exe, *flags, "about:blank"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        port = None
        for line in self.proc.stderr:
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            self.close()
            raise RuntimeError("chromium exited before its DevTools endpoint came up")
        # keep reading stderr so a chatty browser never blocks on a full pipe
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.loads(r.read()) if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, compression=None).__enter__()
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 60, **params):
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv(timeout))
            if m.get("id") == i:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            if "method" in m:
                self.events.append(m)

    def eval(self, expr: str, timeout: float = 60):
        """The value of a JavaScript expression (a promise is awaited); a thrown error raises."""
        r = self.call("Runtime.evaluate", timeout=timeout, expression=expr, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(f"page error: {d.get('exception', {}).get('description') or d.get('text')}")
        return r["result"].get("value")

    def state(self) -> dict:
        return json.loads(self.eval("JSON.stringify(window.fsState || {})") or "{}")

    def wait(self, what: str, ready, timeout: float = 60) -> dict:
        """Poll fsState until ready(state); an error the page shows fails at once."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            s = self.state()
            if s.get("errors"):
                raise RuntimeError(f"the page reported: {s['errors']}")
            if ready(s):
                return s
            time.sleep(0.2)
        raise TimeoutError(f"{what}: not within {timeout:.0f} s (page state {self.state()})")

    def screenshot(self, clip: dict | None = None) -> bytes:
        """PNG of the viewport, or of clip {x, y, width, height} (CSS pixels)."""
        kw = {"clip": {**clip, "scale": 1}} if clip else {}
        return base64.b64decode(self.call("Page.captureScreenshot", format="png", **kw)["data"])

    def rect(self, element_id: str) -> dict:
        """An element's box in CSS pixels: {x, y, width, height, ...}."""
        return json.loads(self.eval(f"JSON.stringify(document.getElementById("
                                    f"{json.dumps(element_id)}).getBoundingClientRect())"))

    def region_change(self, box, canvas: str = "view", shots: int = 12, every_s: float = 0.15) -> float:
        """How much a region of a canvas moves: the largest mean grey-level difference (0-255)
        between `shots` screenshots of `box` (x0, y0, x1, y1 in canvas pixels, padded by 40% of
        its width on every side), taken `every_s` apart."""
        from PIL import Image
        rect = self.rect(canvas)
        x0, y0, x1, y1 = box
        pad = 0.4 * (x1 - x0)
        clip = {"x": rect["x"] + x0 - pad, "y": rect["y"] + y0 - pad,
                "width": x1 - x0 + 2 * pad, "height": y1 - y0 + 2 * pad}
        grey = []
        for _ in range(shots):
            png = self.screenshot(clip)
            grey.append(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32))
            time.sleep(every_s)
        return max(float(np.abs(a - b).mean()) for a, b in itertools.combinations(grey, 2))

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def speech_wav(path: str | Path) -> Path:
    """The shipped example speech as a 16 kHz mono 16-bit WAV (what the fake microphone plays)."""
    import soundfile as sf
    import soxr

    clip = resources.files("facestream") / "assets" / "example_speech.flac"
    x, rate = sf.read(str(clip), dtype="float32", always_2d=True)
    x = soxr.resample(x.mean(1), rate, 16000) if rate != 16000 else x.mean(1)
    sf.write(str(path), x, 16000, subtype="PCM_16")
    return Path(path)


def measure(seconds: float = 10.0, site: str | Path | None = None) -> dict:
    """Run the exported page on the fake microphone for `seconds`; -> the two timings."""
    from ..exporters.web import build_site
    from .stats import summarize
    with tempfile.TemporaryDirectory(prefix="facestream-web-") as tmp:
        tmp = Path(tmp)
        if site is None:
            site = tmp / "site"
            build_site(site)
        wav = speech_wav(tmp / "speech.wav")
        with StaticServer(site) as server:
            b = Chromium(tmp / "profile", wav)
            try:
                b.call("Page.navigate", url=server.url + "?autostart=1")
                b.wait("the page's first frames", lambda s: s.get("frames", 0) > 0, 90)
                t0 = time.monotonic()
                b.eval("window.fsState.latencies = []; window.fsStats().then(() => 0)")
                time.sleep(seconds)
                state = b.state()
                steps = b.eval("window.fsStats()")
                frames = state["frames"]
                elapsed = time.monotonic() - t0
            finally:
                b.close()
    steps = np.asarray(steps[-int(seconds * 50):], np.float64) / 1e3  # this run's 20 ms chunks
    return {"worker_run_per_20ms_chunk": summarize(steps),
            "mic_to_frame": summarize(np.asarray(state["latencies"], np.float64) / 1e3),
            "frames_per_s": round(frames / max(elapsed, 1e-9), 1),
            "threads": state["threads"]}


def bench_browser(quick: bool) -> dict:
    reason = missing()
    if reason:
        return skipped(reason)
    r = measure(5.0 if quick else 20.0)
    return {"method": "headless Chromium (SwiftShader), fake microphone playing the example "
                      "speech, the `export --format web` folder from a static file server; "
                      "onnxruntime-web WASM in a Worker",
            "worker": {"run per 20 ms chunk": r["worker_run_per_20ms_chunk"],
                       "mic to frame": r["mic_to_frame"]},
            "page": {"frames per s": r["frames_per_s"], "ort threads": r["threads"]}}


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    print(json.dumps(skipped(missing()) if missing() else measure(args.seconds)))
