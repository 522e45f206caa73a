"""`facestream live --input FILE` in a real window under Xvfb: keys change the emotion and the
intensity of the frames, R records a WAV, the frames and an mp4; and the session alone."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facestream import vocab
from facestream.viewer.video import example_clip_path

HERE = Path(__file__).parent
ROOT = HERE.parent


def _xvfb_run():
    exe = shutil.which("xvfb-run")
    if exe is None:
        pytest.skip("xvfb-run is not installed (make deps installs xvfb)")
    return [exe, "-a", "-s", "-screen 0 1024x768x24"]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.gl
@pytest.mark.slow
def test_live_window_reacts_to_keys_and_records(tmp_path):
    pytest.importorskip("pyglet", reason="the live viewer needs the viewer extra")
    cmd = _xvfb_run() + [sys.executable, str(HERE / "live_driver.py"), str(example_clip_path()),
                         str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    stats = json.loads(p.stdout.strip().splitlines()[-1])
    assert stats["keys"] == ["R", "_3", "UP", "UP", "R"]
    assert stats["frames_drawn"] > 10 and stats["engine_frames"] > 60
    assert stats["emotion"] == "sad" and stats["intensity"] == pytest.approx(0.7)
    assert stats["render_codes"] == [0]
    (rec,) = stats["recordings"]
    frames = np.load(rec["npz"])
    emo, inten, t = frames["emotion"], frames["intensity"], frames["timestamps"]
    # the recording spans the R presses (0.3 s .. 3.3 s of wall clock, the file plays in real time)
    assert 0.2 < t[0] < 0.8 and 2.6 < t[-1] < 3.6
    happy, sad = vocab.emotion_index("happy"), vocab.emotion_index("sad")
    assert emo[0].argmax() == happy and inten[0] == pytest.approx(0.5, abs=0.01)
    assert emo[-1].argmax() == sad and emo[-1, sad] > 0.99
    assert inten[-1] == pytest.approx(0.7, abs=0.01)
    assert np.all(np.diff(inten) >= -1e-6), "intensity rose smoothly"
    # the mp4 carries those frames and the audio they were made from
    import imageio_ffmpeg
    from test_render_video import _probe
    nframes, _, asecs = _probe(rec["mp4"])
    assert nframes == len(t)
    assert abs(asecs - nframes / int(frames["fps"])) < 0.07


def test_live_without_a_display_says_how_to_run_headless(tmp_path):
    pytest.importorskip("pyglet", reason="the live viewer needs the viewer extra")
    env = _env()
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    p = subprocess.run([sys.executable, "-m", "facestream", "live", "--input",
                        str(example_clip_path())], capture_output=True, text=True, timeout=120,
                       env=env, cwd=tmp_path)
    assert p.returncode == 2
    assert "xvfb-run" in p.stderr and "Traceback" not in p.stderr


def test_live_refuses_bad_options(tmp_path):
    env = _env()
    for extra, msg in ((["--input", str(tmp_path / "none.wav")], "not found"),
                       (["--intensity", "2"], "within [0, 1]"),
                       (["--duration", "-1"], "positive")):
        p = subprocess.run([sys.executable, "-m", "facestream", "live", *extra], capture_output=True,
                           text=True, timeout=120, env=env, cwd=tmp_path)
        assert p.returncode == 2 and msg in p.stderr, p.stderr


def test_session_applies_controls_on_its_own_thread_and_records(tmp_path):
    """No window: the engine thread over a push source, controls from this thread."""
    from facestream.engine.sources import PushSource
    from facestream.engine.stream import Engine
    from facestream.viewer.session import LiveSession
    import soundfile as sf
    x, sr = sf.read(str(example_clip_path()), dtype="float32")
    src = PushSource(sr, max_blocks=1000)
    s = LiveSession(Engine(), src, fps=30, emotion="neutral", intensity=0.4,
                    record_dir=tmp_path).start()
    block = sr // 50
    blocks = [x[i:i + block] for i in range(0, len(x), block)]
    for i, b in enumerate(blocks):
        if i == 10:
            s.toggle_recording()
            s.set_emotion("angry")
            s.change_intensity(+0.1)
            s.change_intensity(+0.1)
        if i == 150:
            s.toggle_mute()
        src.push(b)
        time.sleep(0.001)
    src.close()
    assert s.ended.wait(60)
    s.stop()
    assert s.error is None
    assert s.latest is not None and s.latest[1].shape == (s.engine.head.num_vertices, 3)
    assert s.frames_out >= int(len(x) / sr * 30) - 1
    assert s.level_db == -60.0, "muted input reads as silence"
    (paths,) = s.saved  # the recording in progress was saved when the input ended
    rec = np.load(paths["npz"])
    assert rec["emotion"][-1].argmax() == vocab.emotion_index("angry")
    assert rec["intensity"][-1] == pytest.approx(0.6, abs=1e-6)
    wav, wsr = sf.read(str(paths["wav"]))
    assert wsr == sr and abs(len(wav) / sr - len(rec["timestamps"]) / 30) < 1 / sr + 1e-9
    assert np.abs(wav[-sr // 2:]).max() < 1e-4, "the muted tail was recorded as silence"
    assert s.wait_renders() == [0] and paths["mp4"].exists()
