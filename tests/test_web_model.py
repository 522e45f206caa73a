"""The model in the browser (issue 19): the folder `facestream export --format web` writes,
served by a plain static file server (no websocket anywhere), in headless Chromium with a fake
microphone. The page's frames equal the Python engine's on the same audio and chunking; the
face speaks from the microphone; the numbers come from the Python modules; failures say what
to do. Chromium is driven over the DevTools protocol (facestream.bench.browser.Chromium)."""
import base64
import io
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from facestream import vocab
from facestream.engine import behaviour, expressive
from facestream.engine.emotion import EMOTION_ARKIT
from facestream.engine.head import load_head
from facestream.exporters.web import (PAGE_FILES, WebExportError, build_site, find_ort, rig_bin,
                                      static_dir, web_config)

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "facestream" / "assets" / "example_speech.flac"
BEHAVIOUR_OFF = {"blinks": False, "gaze": "off", "head": 0.0, "brows": 0.0}


def _browser_missing():
    from facestream.bench.browser import missing
    try:
        return missing()
    except ImportError as e:
        return f"facestream.bench.browser cannot load here ({e})"


def _ort_missing():
    try:
        find_ort()
    except WebExportError as e:
        return str(e)
    return None


needs_ort = pytest.mark.skipif(_ort_missing() is not None, reason=f"{_ort_missing()}")
needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=f"{_browser_missing()}")


def clip16k(seconds=None):
    import soundfile as sf
    x, rate = sf.read(str(CLIP), dtype="float32", always_2d=True)
    assert rate == vocab.SAMPLE_RATE  # the shipped clip is 16 kHz: no resampler in the comparison
    x = x.mean(1)
    return x if seconds is None else x[: int(seconds * rate)]


# ---- without a browser ------------------------------------------------------------------------
def model_info():
    from facestream.engine.backends import open_backend
    from facestream.engine.stream import default_model_path
    return open_backend(default_model_path(), "onnxruntime").info


def test_web_config_numbers_come_from_the_python_modules():
    info, head = model_info(), load_head()
    cfg = json.loads(json.dumps(web_config(info, head)))  # what the page reads
    c = cfg["behaviour"]["constants"]
    for name in ("BLINK_RATE_REST", "FIXATION_S", "GLANCE_TALKING_S", "BROW_EMOTION_GAIN",
                 "ENVELOPE_TAU_S", "BLINK_DEPTH", "MOUTH"):
        assert np.array_equal(np.float32(c[name]), np.float32(getattr(behaviour, name))), name
    assert c["GAZE_MODES"] == list(behaviour.GAZE_MODES)
    assert c["BLINK_CLOSE_S"] == list(expressive.BLINK_CLOSE_S)
    assert c["DOUBLE_BLINK_P"] == expressive.DOUBLE_BLINK_P
    assert np.array_equal(np.float32(cfg["emotion"]["arkit"]), EMOTION_ARKIT)
    assert cfg["arkit_names"] == list(vocab.ARKIT_NAMES)
    assert cfg["emotion_names"] == list(vocab.EMOTION_NAMES)
    assert (cfg["sample_rate"], cfg["hop_samples"], cfg["internal_fps"]) == \
        (vocab.SAMPLE_RATE, vocab.HOP_SAMPLES, vocab.INTERNAL_FPS)
    m = cfg["model"]
    assert m["state_names"] == info.state_names and m["lookahead"] == info.lookahead
    assert [tuple(s) for s in m["state_shapes"]] == info.state_shapes_1
    assert m["output_dim"] == 59 and m["output_layout"]["jaw"] == [52, 55]
    assert cfg["behaviour"]["defaults"]["blink_rate"] == behaviour.BehaviourOptions().blink_rate


def test_page_code_has_no_copy_of_the_numbers():
    """The behaviour's and the rig's parameters appear in the JavaScript only as names: a
    constant's value typed into the page's code is a second source of truth (issue 19)."""
    info, head = model_info(), load_head()
    c = web_config(info, head)["behaviour"]["constants"]
    values = {vocab.JAW_OPEN_MAX_RAD, *vocab.EYE_LOOK_RAD.values()}
    for v in c.values():
        flat = np.ravel(np.asarray(v, dtype=object))
        values |= {float(x) for x in flat if isinstance(x, (int, float)) and not isinstance(x, bool)}
    # Fractional literals only (integers are loop bounds, bit shifts, unit conversions), in the
    # files that carry the engine's logic; 0.5 is a half wherever it appears.
    files = ("pipeline.js", "behaviour.js", "rig.js", "worker.js", "web.js")
    code = "\n".join(re.sub(r"//.*", "", (static_dir() / n).read_text()) for n in files)
    literals = {float(x) for x in re.findall(r"(?<![\w.])(\d+\.\d+)(?![\w.])", code)}
    copies = sorted(v for v in (literals & values) - {0.5} if v != int(v))
    assert not copies, f"numbers typed into the page's code instead of read from facestream.json: {copies}"


def test_rig_bin_holds_the_heads_basis_and_skinning():
    head = load_head()
    buf = rig_bin(head)
    n = int(np.frombuffer(buf[:4], "<u4")[0])
    meta = json.loads(buf[4:4 + n])
    off = 4 + n
    dense = np.zeros_like(head.expr_dirs)
    for k, count in enumerate(meta["counts"]):
        idx = np.frombuffer(buf, "<u4", count, off)
        off += 4 * count
        dense[k, idx] = np.frombuffer(buf, "<f4", 3 * count, off).reshape(count, 3)
        off += 12 * count
    assert np.array_equal(dense, head.expr_dirs)
    skin = np.frombuffer(buf, "<f4", head.num_vertices * vocab.NUM_JOINTS, off)
    assert np.array_equal(skin.reshape(head.skin_weights.shape), head.skin_weights)
    assert off + skin.nbytes == len(buf)
    assert meta["expr_names"] == list(vocab.ARKIT_NAMES) and meta["parents"] == list(head.parents)


def test_missing_onnxruntime_web_says_how_to_get_it(tmp_path):
    with pytest.raises(WebExportError, match=r"make js-deps.*FACESTREAM_ORT_DIR"):
        find_ort(tmp_path / "nowhere")
    (tmp_path / "package.json").write_text('{"version": "1.17.0"}')
    with pytest.raises(WebExportError, match=r"version 1\.17\.0, need 1\.30\.0"):
        find_ort(tmp_path)


@needs_ort
def test_export_web_cli_writes_the_static_folder(tmp_path, capsys):
    import argparse

    from facestream.exporters.cli import add_parser
    parser = argparse.ArgumentParser(prog="facestream")
    add_parser(parser.add_subparsers())

    def main(argv):
        args = parser.parse_args(argv)
        return args.func(args)

    out = tmp_path / "site"
    assert main(["export", "--format", "web", "-o", str(out)]) == 0
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == {"index.html", "facestream.json", "model.onnx", "head.bin", "rig.bin",
                     "ort/LICENSE", "ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.mjs",
                     "ort/ort-wasm-simd-threaded.wasm", *PAGE_FILES}
    assert "MIT License" in (out / "ort" / "LICENSE").read_text()
    assert "web.js" in (out / "index.html").read_text()
    assert "serve it with any static file host" in capsys.readouterr().out
    with pytest.raises(ValueError, match="export CHECKPOINT --format onnx"):
        main(["export", "model.pt", "--format", "web", "-o", str(out)])


# ---- in the browser ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if _browser_missing():
        pytest.skip(_browser_missing())
    out = tmp_path_factory.mktemp("web") / "site"
    build_site(out)
    return out


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    from facestream.bench.browser import Chromium, StaticServer, speech_wav
    tmp = tmp_path_factory.mktemp("chromium")
    with StaticServer(site) as server:
        b = Chromium(tmp / "profile", speech_wav(tmp / "speech.wav"))
        b.server = server
        try:
            b.call("Network.enable")
            b.call("Page.enable")  # addScriptToEvaluateOnNewDocument needs it
            b.call("Emulation.setDeviceMetricsOverride", width=800, height=800,
                   deviceScaleFactor=1, mobile=False)
            yield b
        finally:
            b.close()


def open_page(b, query=""):
    b.call("Page.navigate", url=b.server.url + query)
    time.sleep(0.2)  # the old document's state must not answer the first poll
    return b.wait("the model loaded in the page", lambda s: s.get("ready"), 90)


def run_file(b, x, chunk, **options):
    """fsRunFile in the page: the same worker and pipeline as the microphone."""
    b64 = base64.b64encode(np.asarray(x, "<f4").tobytes()).decode()
    expr = (f"(async () => {{ const u = Uint8Array.from(atob('{b64}'), (c) => c.charCodeAt(0));"
            f"return await window.fsRunFile(new Float32Array(u.buffer), {chunk}, "
            f"{json.dumps(options)}); }})()")
    return b.eval(expr, timeout=300)


def python_frames(x, chunk, **options):
    from facestream.engine.stream import Engine
    engine = Engine(backend="onnxruntime")
    s = engine.create_stream(**options)
    frames = []
    for off in range(0, len(x), chunk):
        s.accept_waveform(vocab.SAMPLE_RATE, x[off:off + chunk])
        frames += engine.decode_stream(s)
    s.input_finished()
    return engine, frames + engine.decode_stream(s)


def columns(frames, page: bool):
    if page:
        return {k: np.array([f[k] for f in frames], np.float64) for k in ("arkit", "jaw", "neck")}
    return {"arkit": np.array([f.arkit for f in frames], np.float64),
            "jaw": np.array([f.jaw_pose for f in frames], np.float64),
            "neck": np.array([f.neck_pose for f in frames], np.float64)}


@pytest.mark.slow
@needs_browser
@pytest.mark.parametrize("chunk, options", [
    (320, {"behaviour": BEHAVIOUR_OFF}),  # the page's microphone chunking: 20 ms
    (1000, {"emotion": "happy", "intensity": 0.7, "behaviour": {**BEHAVIOUR_OFF, "articulation": 1.3}}),
])
def test_page_frames_equal_the_python_engine(browser, chunk, options):
    """Same audio, same chunking: every frame's ARKit weights, jaw and neck within 1e-3 of the
    Python engine's (onnxruntime-web's WASM kernels round differently from onnxruntime's).
    The behaviour's random parts are off (the page draws its own random numbers); emotion,
    intensity and the articulation strength are deterministic and on in the second case."""
    open_page(browser)
    x = clip16k(4.0)
    page = run_file(browser, x, chunk, fps=30, **options)
    _, py = python_frames(x, chunk, fps=30, **options)
    assert [f["seq"] for f in page] == [f.seq for f in py] and len(py) == 120
    a, b = columns(page, True), columns(py, False)
    err = {k: float(np.abs(a[k] - b[k]).max()) for k in a}
    print("parity max abs error", chunk, err)
    assert max(err.values()) < 1e-3, err
    assert np.ptp(b["arkit"][:, vocab.ARKIT_INDEX["jawOpen"]]) > 0.1  # speech, not silence


@pytest.mark.slow
@needs_browser
def test_page_skins_the_head_as_the_engine_does(browser):
    open_page(browser)
    x = clip16k(1.5)
    page = run_file(browser, x, 320, fps=30, behaviour=BEHAVIOUR_OFF)
    engine, py = python_frames(x, 320, fps=30, behaviour=BEHAVIOUR_OFF)
    worst = 0.0
    for i in (10, 25, 40):
        f = page[i]
        v = np.array(browser.eval(f"window.fsSkin({f['arkit']}, {f['jaw']}, {f['neck']})"))
        want = engine.vertices(py[i]).reshape(-1)
        worst = max(worst, float(np.abs(v - want).max()))
    assert worst < 2e-5, worst  # metres: the model's 1e-3 differences move vertices ~1e-5


@pytest.mark.slow
@needs_browser
def test_living_face_runs_in_the_page(browser):
    """Blinks, gaze and head motion from the page's behaviour, on the model's face: the mouth
    stays the model's (behaviour never touches speech shapes at articulation 1); the same seed
    gives the same frames."""
    open_page(browser)
    x = clip16k(6.0)
    on = columns(run_file(browser, x, 320, fps=30, seed=3), True)
    again = columns(run_file(browser, x, 320, fps=30, seed=3), True)
    off = columns(run_file(browser, x, 320, fps=30, behaviour=BEHAVIOUR_OFF), True)
    assert all(np.array_equal(on[k], again[k]) for k in on)
    mouth = behaviour.MOUTH
    assert np.abs(on["arkit"][:, mouth] - off["arkit"][:, mouth]).max() < 1e-6
    blink = on["arkit"][:, vocab.ARKIT_INDEX["eyeBlinkLeft"]]
    assert blink.max() > 0.8, "no blink in 6 s"
    looks = [i for n, i in vocab.ARKIT_INDEX.items() if n.startswith("eyeLook")]
    assert np.abs(on["arkit"][:, looks] - off["arkit"][:, looks]).max() > 0.02, "the eyes never moved"
    assert np.abs(on["neck"] - off["neck"]).max() > np.radians(0.2), "the head never moved"


def gray(png):
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)


@pytest.mark.slow
@needs_browser
def test_static_page_speaks_from_the_fake_microphone_with_no_websocket(browser, site, tmp_path):
    """The face speaks from Chromium's fake microphone, and every request the page made (the
    worker's too) was for a file of the folder: no websocket, no other host, nothing missing."""
    b = browser
    b.events.clear()
    b.server.requests.clear()
    open_page(b, "?autostart=1")
    state = b.wait("60 frames from the microphone", lambda s: s.get("frames", 0) >= 60, 90)
    assert state["micLabel"].startswith("Fake") and state["audioChunks"] > 0
    jaw = np.array(state["mouthOpen"])
    assert jaw.max() - jaw.min() > 0.1, "the jaw did not follow the speech"
    assert state["maxDisplacement"] > 1e-3  # the page skinned the head away from its rest
    diff = b.region_change(state["mouthBox"])  # the mouth region while it speaks
    full = b.screenshot()
    (tmp_path / "web_page.png").write_bytes(full)
    assert diff > 1.0, f"the mouth region did not change between screenshots ({diff:.2f})"
    img, rect = gray(full), b.rect("view")
    cx, cy = int(rect["x"] + rect["width"] / 2), int(rect["y"] + rect["height"] / 2)
    face, corner = img[cy - 40:cy + 40, cx - 40:cx + 40], img[int(rect["y"]) + 5, int(rect["x"]) + 5]
    assert np.abs(face - corner).mean() > 40, "no face in the middle of the canvas"
    assert img.std() > 10
    latencies = np.array(b.state()["latencies"])
    assert len(latencies) > 30 and np.median(latencies) > 40  # never before the model's look-ahead

    kinds = {e["method"] for e in b.events}
    assert "Network.webSocketCreated" not in kinds
    urls = [e["params"]["request"]["url"] for e in b.events if e["method"] == "Network.requestWillBeSent"]
    served = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert urls and all(u.startswith(b.server.url) for u in urls), urls
    paths = [p.split("?")[0].lstrip("/") or "index.html" for _, p, _ in b.server.requests]
    assert all(m == "GET" and code in (200, 304) for m, _, code in b.server.requests), b.server.requests
    assert set(paths) <= served and {"model.onnx", "ort/ort-wasm-simd-threaded.wasm"} <= set(paths)


@pytest.mark.slow
@needs_browser
def test_page_says_what_is_wrong(browser, site, tmp_path):
    """No WebAssembly, the microphone denied, a broken model: each ends in a message that says
    what to do, not a blank page."""
    b = browser
    script = b.call("Page.addScriptToEvaluateOnNewDocument", source="delete window.WebAssembly;")
    try:
        b.call("Page.navigate", url=b.server.url)
        time.sleep(0.5)
        errors = b.wait("the page's error", lambda s: s.get("errors"), 30)["errors"]
    except RuntimeError as e:
        errors = [str(e)]
    finally:
        b.call("Page.removeScriptToEvaluateOnNewDocument", identifier=script["identifier"])
    assert any("no WebAssembly" in e for e in errors), errors

    deny = ("navigator.mediaDevices.getUserMedia = () => Promise.reject("
            "new DOMException('Permission denied', 'NotAllowedError'));")
    script = b.call("Page.addScriptToEvaluateOnNewDocument", source=deny)
    try:
        open_page(b)
        b.eval("document.getElementById('mic').click(), 0")
        time.sleep(1.0)
        errors = b.state()["errors"]
    finally:
        b.call("Page.removeScriptToEvaluateOnNewDocument", identifier=script["identifier"])
    assert any("microphone permission was denied" in e and "allow the microphone" in e
               for e in errors), errors

    from facestream.bench.browser import StaticServer
    broken = tmp_path / "broken"
    shutil.copytree(site, broken)
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    with StaticServer(broken) as server:
        b.call("Page.navigate", url=server.url)
        time.sleep(0.5)
        with pytest.raises(RuntimeError, match="the model failed to load in onnxruntime-web"):
            b.wait("the page's error", lambda s: False, 60)


@pytest.mark.slow
@needs_browser
def test_serve_offers_the_page_run_in_this_browser(browser, tmp_path):
    """`facestream serve`'s page links to /web/ (with its token), and the page there runs the
    model in the browser on the microphone: no websocket to the server."""
    pytest.importorskip("websockets", reason="the server needs the `server` extra (websockets)")
    from facestream.engine.stream import Engine
    from facestream.server.app import ServerOptions, ServerThread
    b = browser
    with ServerThread(Engine(), ServerOptions(port=0, token="s3cret")) as st:
        b.call("Page.navigate", url=f"http://127.0.0.1:{st.port}/?token=s3cret")
        t0, href = time.monotonic(), None
        while time.monotonic() - t0 < 30 and not (href or "").endswith("token=s3cret"):
            time.sleep(0.2)  # the page adds its token to the link once it has loaded the head
            href = b.eval("(document.getElementById('local') || {}).href || null")
        assert href == f"http://127.0.0.1:{st.port}/web/?token=s3cret"
        b.events.clear()
        b.call("Page.navigate", url=href + "&autostart=1")
        time.sleep(0.2)
        state = b.wait("frames from the microphone under /web/", lambda s: s.get("frames", 0) >= 30, 90)
    assert state["micLabel"].startswith("Fake") and np.ptp(state["mouthOpen"]) > 0.05
    assert "Network.webSocketCreated" not in {e["method"] for e in b.events}


@pytest.mark.slow
@needs_browser
def test_audioworklet_resamples_the_microphone_to_16k(browser):
    """capture16k.js, run by an OfflineAudioContext at 48 kHz on two tones: its 16 kHz output
    equals soxr's resampling of the same signal to 1e-3 of full scale (aligned: the worklet
    waits 1 ms for its kernel's future half, but does not shift the signal), and a tone above
    8 kHz (it would alias to 4 kHz) is gone. Measured: 1e-5 and 2e-5."""
    import soxr
    open_page(browser)
    rate = 48000
    t = np.arange(rate) / rate
    x = (0.4 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    alias = (0.5 * np.sin(2 * np.pi * 12000 * t)).astype(np.float32)
    run = """(async (x) => {
      const ctx = new OfflineAudioContext(1, x.length, %d);
      await ctx.audioWorklet.addModule("capture16k.js");
      const buf = ctx.createBuffer(1, x.length, ctx.sampleRate); buf.copyToChannel(Float32Array.from(x), 0);
      const src = ctx.createBufferSource(); src.buffer = buf;
      const node = new AudioWorkletNode(ctx, "facestream-capture-16k", { processorOptions: { rate: 16000, block: 160 } });
      const out = []; node.port.onmessage = (ev) => out.push(...ev.data);
      src.connect(node); node.connect(ctx.destination); src.start();
      await ctx.startRendering();
      await new Promise((r) => setTimeout(r, 500));  // the last blocks' messages
      return out; })(%s)"""
    y = np.array(browser.eval(run % (rate, json.dumps(x.tolist())), timeout=120))
    ya = np.array(browser.eval(run % (rate, json.dumps(alias.tolist())), timeout=120))
    want = soxr.resample(x, rate, 16000, quality="HQ")
    n = min(len(y), len(want)) - 400  # the end: input the kernel had not seen / soxr's flush
    assert n > 15000
    err = np.abs(y[200:n] - want[200:n]).max()
    assert err < 1e-3, err
    assert np.abs(ya[400:]).max() < 0.01  # 12 kHz at 0.5 does not fold into the band
