"""The real microphone path: speech played into a PulseAudio virtual source is recorded by
`facestream animate --input mic` (sounddevice -> PortAudio -> ALSA -> PulseAudio) and gives
the frames `facestream animate FILE` gives for the same audio.

The test starts its own pulseaudio (a private socket, anonymous auth) with a pipe source fed
in real time by a thread: silence until speech is asked for, so the device never stalls.
Recipe: ../shared/ENVIRONMENT.md; packages: scripts/install_data_deps.sh (make data-deps).
"""
import contextlib
import select
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from facestream import vocab
from facestream.bench.pulse import RATE, PacedWriter, PulseServer, pulse_missing

pytestmark = pytest.mark.slow
sf = pytest.importorskip("soundfile", reason="the test writes its speech file with soundfile")
soxr = pytest.importorskip("soxr")

TEXT = ("Papa bought a big blue ball and a bag of apples. Open wide and say ah, then hum "
        "a little: mama made me marmalade.")


def need_pulse_and_portaudio():
    reason = pulse_missing()
    if reason:
        pytest.skip(reason)
    sd_check = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True)
    if sd_check.returncode != 0:
        pytest.skip(f"sounddevice/PortAudio unavailable: {sd_check.stderr.decode()[-200:]}")


@contextlib.contextmanager
def private_pulse(run):
    """A PulseAudio daemon of our own (socket and state under `run`) whose only and default
    source is the pipe source 'vmic', fed in real time (facestream.bench.pulse).
    -> (environment for clients, PacedWriter, the pipe source's module id)."""
    with PulseServer(run) as server:
        mic = PacedWriter(server.fifo)
        try:
            yield server.client_env(), mic, server.module
        finally:
            mic.close()


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    """-> (environment for clients, PacedWriter) of a daemon shared by this module's tests."""
    need_pulse_and_portaudio()
    with private_pulse(tmp_path_factory.mktemp("pulse")) as (env, mic, _):
        yield env, mic


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """~5 s of espeak-ng speech at 16 kHz, as int16 samples and as a WAV file."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make data-deps)")
    d = tmp_path_factory.mktemp("speech")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(d / "raw.wav"), TEXT],
                   check=True)
    x, sr = sf.read(d / "raw.wav", dtype="float32")
    x = soxr.resample(x, sr, RATE)
    x = np.round(np.clip(x / np.abs(x).max() * 0.7, -1, 1) * 32767).astype(np.int16)
    sf.write(d / "speech.wav", x, RATE, subtype="PCM_16")
    return x, d / "speech.wav"


def facestream(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "facestream", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def wait_for_recording(proc, seconds=60.0) -> str:
    """The 'recording from ...' line, which animate prints once the stream is running."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("recording from"):
        proc.kill()
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"animate --input mic did not start recording: {line}{out}{err}")
    return line


def align(long: np.ndarray, short: np.ndarray, jaw: int) -> tuple[float, np.ndarray]:
    """Where `short` (T x K) sits inside `long`: the whole-frame offset with the highest jawOpen
    correlation, refined to a tenth of a frame (the microphone's start is not frame-aligned).
    -> (offset in frames, `long` resampled at that offset, T x K)."""
    def at(offset):
        pos = offset + np.arange(len(short))
        return np.stack([np.interp(pos, np.arange(len(long)), c) for c in long.T], axis=1)

    def r(offset):
        return np.corrcoef(at(offset)[:, jaw], short[:, jaw])[0, 1]
    coarse = max(range(len(long) - len(short) + 1), key=r)
    fine = max(np.arange(max(0, coarse - 1), min(coarse + 1, len(long) - len(short)) + 1e-9,
                         0.1), key=r)
    return float(fine), at(fine)


def test_microphone_frames_match_the_file(pulse, speech, tmp_path):
    env, mic = pulse
    x, wav = speech
    fps = 60  # finer frames: a finer alignment of the microphone's unknown start
    seconds = len(x) / RATE + 3.0  # speech starts ~1 s in; the rest is margin
    # The engine's own behaviour (blinks, gaze, head, brows) runs on the stream's clock, which
    # starts at an unknown offset from the speech on a microphone: compare the audio path only.
    still = ["--no-blinks", "--gaze", "off", "--head-motion", "0", "--brows", "0"]
    proc = facestream("animate", "--input", "mic", "--device", "pulse", "--seconds",
                      f"{seconds:.2f}", "--fps", str(fps), "-o", str(tmp_path / "mic.npz"),
                      *still, env=env)
    line = wait_for_recording(proc)
    time.sleep(1.0)
    mic.play(x)
    out, err = proc.communicate(timeout=seconds + 60)
    assert proc.returncode == 0, err
    lost = out.split(" blocks lost to overflow")[0].rsplit("(", 1)[-1]

    ref = subprocess.run([sys.executable, "-m", "facestream", "animate", str(wav), "--fps",
                          str(fps), "-o", str(tmp_path / "file.npz"), *still],
                         capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr
    m, f = np.load(tmp_path / "mic.npz")["arkit"], np.load(tmp_path / "file.npz")["arkit"]
    assert abs(len(m) - float(f"{seconds:.2f}") * fps) <= 1  # --seconds is audio time
    jaw = vocab.ARKIT_INDEX["jawOpen"]
    lag, aligned = align(m, f, jaw)
    r_jaw = np.corrcoef(aligned[:, jaw], f[:, jaw])[0, 1]
    err_all = np.abs(aligned - f)
    # Whole-output agreement: every weight that moves, not just the one used to align.
    moving = f.std(0) > 0.01
    r_each = [np.corrcoef(aligned[:, k], f[:, k])[0, 1] for k in np.flatnonzero(moving)]
    print(f"\nmic vs file ({line.strip()}): lag {lag:.1f} frames ({lag / fps:.3f} s), jawOpen "
          f"r={r_jaw:.4f} MAE={err_all[:, jaw].mean():.4f} max={err_all[:, jaw].max():.4f} "
          f"(file jawOpen std {f[:, jaw].std():.4f}); all 52: MAE={err_all.mean():.4f}, "
          f"p99={np.percentile(err_all, 99):.4f}; {moving.sum()} moving weights: median "
          f"r={np.median(r_each):.4f}, min r={min(r_each):.4f}; {lost} blocks lost to overflow")
    assert r_jaw > 0.98
    assert err_all[:, jaw].mean() < 0.2 * f[:, jaw].std()
    assert np.median(r_each) > 0.95


def test_ctrl_c_ends_the_recording_and_writes_the_output(pulse, speech, tmp_path):
    env, mic = pulse
    x, _ = speech
    out_path = tmp_path / "mic.csv"
    proc = facestream("animate", "--input", "mic", "-o", str(out_path), env=env)
    wait_for_recording(proc)
    mic.play(x[: RATE * 2])
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "frames at 30 fps" in out and "Traceback" not in err
    rows = out_path.read_text().splitlines()
    assert rows[0].startswith("Timecode,BlendShapeCount,EyeBlinkLeft")
    assert len(rows) - 1 >= 30  # at least the second of audio it surely heard


def test_a_source_that_vanishes_mid_recording(speech, tmp_path):
    """Removing the PulseAudio source under a running recording: a clear error, no hang, and
    the audio heard before is written."""
    need_pulse_and_portaudio()
    x, _ = speech
    out_path = tmp_path / "mic.npz"
    with private_pulse(tmp_path) as (env, mic, module):
        proc = facestream("animate", "--input", "mic", "--device", "pulse", "-o", str(out_path),
                          env=env)
        wait_for_recording(proc)
        mic.play(x[: RATE * 2])
        time.sleep(1.5)
        subprocess.run(["pactl", "unload-module", module], env=env, check=True)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("animate --input mic hung after its source was removed")
    print(f"\nsource removed: {err.strip().splitlines()[-1]}")
    assert proc.returncode == 2
    assert "stopped (device removed or its driver failed)" in err or "stopped delivering" in err
    assert "recorded before it are in" in err and "Traceback" not in err
    assert len(np.load(out_path)["arkit"]) >= 30  # at least the second it surely heard
