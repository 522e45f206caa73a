"""VMC protocol output, checked by python-osc's own OSC server (not our parser)."""
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pythonosc", reason="VMC output needs the `vmc` extra (python-osc)")
from pythonosc.dispatcher import Dispatcher  # noqa: E402
from pythonosc.osc_server import BlockingOSCUDPServer  # noqa: E402

from facestream import vocab  # noqa: E402
from facestream.engine.stream import Engine  # noqa: E402
from facestream.server import vmc  # noqa: E402

BLINK = [vocab.ARKIT_INDEX["eyeBlinkLeft"], vocab.ARKIT_INDEX["eyeBlinkRight"]]
JAW = vocab.ARKIT_INDEX["jawOpen"]
PER_FRAME = 52 + 1 + 4 + 2  # Blend/Val x 52, Apply, Bone/Pos x 4, OK, T


class Receiver:
    """python-osc's UDP server on a free port, keeping (address, args) in arrival order (one
    thread, so bundles are never interleaved)."""

    def __init__(self):
        self.messages: list[tuple[str, tuple]] = []
        d = Dispatcher()
        d.set_default_handler(lambda address, *args: self.messages.append((address, args)))
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), d)
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait(self, n: int, timeout: float = 10.0) -> list:
        end = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < end:
            time.sleep(0.01)
        return list(self.messages)


def frames_of(messages):
    """Split the stream of messages at each /VMC/Ext/T (the last of a frame's bundle)."""
    out, cur = [], []
    for m in messages:
        cur.append(m)
        if m[0] == "/VMC/Ext/T":
            out.append(cur)
            cur = []
    assert not cur, f"messages after the last frame: {cur[:3]}"
    return out


def rotvec_from_unity(q):
    """Inverse of vmc.unity_quaternion, written independently: quaternion -> FLAME axis-angle."""
    x, y, z, w = q
    s = np.sqrt(x * x + y * y + z * z)
    angle = 2 * np.arctan2(s, w)
    r = np.zeros(3) if s < 1e-12 else np.array([x, y, z]) / s * angle
    return np.array([r[0], -r[1], -r[2]])


def rotate(q, v):
    """Rotate vector v by unit quaternion q = (x, y, z, w)."""
    u, w = np.array(q[:3]), q[3]
    return v + 2 * np.cross(u, np.cross(u, v) + w * v)


@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.fixture(scope="module")
def take(engine):
    """Frames of ~3 s of the example clip with frequent blinks."""
    from facestream.formats import read_audio
    from facestream.viewer.video import example_clip_path
    x, sr = read_audio(example_clip_path())
    x = np.concatenate([np.zeros(sr // 2, np.float32), x[:int(2.5 * sr)]])
    st = engine.create_stream(behaviour={"blink_rate": 60}, seed=3)
    st.accept_waveform(sr, x)
    st.input_finished()
    return engine.decode_stream(st)


def test_names_and_addresses():
    names = vmc.blend_names()
    assert len(names) == 52 and names[vocab.ARKIT_INDEX["jawOpen"]] == "JawOpen"
    assert names[vocab.ARKIT_INDEX["eyeBlinkLeft"]] == "EyeBlinkLeft"
    assert vmc.blend_names("arkit") == vocab.ARKIT_NAMES
    with pytest.raises(ValueError, match="perfect-sync"):
        vmc.blend_names("vrm")
    assert vmc.parse_address("127.0.0.1:39539") == ("127.0.0.1", 39539)
    assert vmc.parse_address("[::1]:39540") == ("::1", 39540)
    for bad in ("127.0.0.1", "39539", ":39539", "127.0.0.1:0", "127.0.0.1:70000", "host:port"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            vmc.parse_address(bad)
    with pytest.raises(ValueError, match="does not resolve"):
        vmc.parse_address("no-such-host.invalid:39539")


def test_quaternions_follow_unity_axes():
    # FLAME +yaw turns the face to the subject's left; Unity's x is the avatar's right, so the
    # forward vector (0, 0, 1) must swing to -x; FLAME +pitch looks down in both.
    yaw = vmc.unity_quaternion([0.0, 0.3, 0.0])
    assert rotate(yaw, np.array([0, 0, 1.0]))[0] == pytest.approx(-np.sin(0.3))
    pitch = vmc.unity_quaternion([0.2, 0.0, 0.0])
    assert rotate(pitch, np.array([0, 0, 1.0]))[1] == pytest.approx(-np.sin(0.2))
    assert vmc.unity_quaternion([0, 0, 0]) == (0.0, 0.0, 0.0, 1.0)
    r = np.array([0.1, -0.25, 0.05])
    np.testing.assert_allclose(rotvec_from_unity(vmc.unity_quaternion(r)), r, atol=1e-9)
    pos = vmc.bone_positions()
    assert pos["LeftEye"][0] < 0 < pos["RightEye"][0]  # the avatar's left is Unity's -x
    assert pos["Head"][1] > 0.05 and pos["LeftEye"][2] > 0  # above the neck; eyes in front


def test_independent_receiver_gets_every_frame_in_spec_order(take):
    with Receiver() as rx:
        sender = vmc.VMCSender(f"127.0.0.1:{rx.port}", queue_frames=len(take))
        cost = 0.0
        for f in take:
            t = time.perf_counter()
            sender.send(f)
            cost += time.perf_counter() - t
            time.sleep(0.005)  # frames come 33 ms apart at 30 fps; a burst could overrun UDP
        enqueue_ms = 1e3 * cost / len(take)
        assert sender.flush(10)
        msgs = rx.wait(PER_FRAME * len(take))
        sender.close()
    assert enqueue_ms < 1.0, f"send() on the inference thread took {enqueue_ms:.3f} ms a frame"
    frames = frames_of(msgs)
    assert len(frames) == len(take) == sender.stats()["sent"]
    names = vmc.blend_names()
    blends, heads = [], []
    for got, f in zip(frames, take):
        addresses = [a for a, _ in got]
        assert addresses == (["/VMC/Ext/Blend/Val"] * 52 + ["/VMC/Ext/Blend/Apply"]
                             + ["/VMC/Ext/Bone/Pos"] * 4 + ["/VMC/Ext/OK", "/VMC/Ext/T"])
        vals = got[:52]
        assert [a[0] for _, a in vals] == list(names)
        assert all(isinstance(a[1], float) and 0.0 <= a[1] <= 1.0 for _, a in vals)
        assert got[52][1] == ()
        blends.append([a[1] for _, a in vals])
        bones = {a[0]: a[1:] for _, a in got[53:57]}
        assert list(bones) == ["Neck", "Head", "LeftEye", "RightEye"]
        for b in bones.values():
            assert len(b) == 7 and all(isinstance(v, float) for v in b)
            assert np.linalg.norm(b[3:]) == pytest.approx(1.0, abs=1e-5)
        neck = rotvec_from_unity(bones["Neck"][3:]) + rotvec_from_unity(bones["Head"][3:])
        np.testing.assert_allclose(neck, f.neck_pose, atol=1e-5)
        np.testing.assert_allclose(rotvec_from_unity(bones["LeftEye"][3:]), f.eye_pose[:3], atol=1e-5)
        np.testing.assert_allclose(rotvec_from_unity(bones["RightEye"][3:]), f.eye_pose[3:], atol=1e-5)
        heads.append(neck)
        assert got[57][1] == (1, 3, 0)  # loaded, calibrated, normal mode (V2.5)
        assert isinstance(got[58][1][0], float)
    blends = np.array(blends)
    np.testing.assert_allclose(blends, np.clip([f.arkit for f in take], 0, 1), atol=1e-6)
    assert blends[:, BLINK].max() > 0.8, "no blink reached the receiver"
    assert blends[:, JAW].max() - blends[:, JAW].min() > 0.15, "jawOpen does not move"
    assert np.std(heads, axis=0).max() > 0.002, "the head bones do not move"
    times = [got[58][1][0] for got in frames]
    assert times == sorted(times)


def test_unreachable_receiver_never_stalls(take):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there: the kernel answers with port-unreachable
    sender = vmc.VMCSender(f"127.0.0.1:{port}", queue_frames=4)
    worst = 0.0
    for _ in range(3):
        for f in take:
            t = time.perf_counter()
            sender.send(f)
            worst = max(worst, time.perf_counter() - t)
    sender.close()
    st = sender.stats()
    assert worst < 0.005, f"send() blocked for {1e3 * worst:.1f} ms"
    assert st["sent"] + st["failed"] + st["dropped"] >= 3 * len(take) - 4


def test_one_session_drives_the_avatar(take):
    with Receiver() as rx:
        sender = vmc.VMCSender(f"127.0.0.1:{rx.port}", queue_frames=64)
        for f in take[:10]:
            sender.send(f, "a")
            sender.send(f, "b")  # a second session at the same time: not sent
        sender.flush()
        msgs = rx.wait(PER_FRAME * 10)
        sender.close()
    assert len(frames_of(msgs)) == 10 and sender.subject == "a"


def test_live_session_taps_every_frame(engine, tmp_path):
    """`facestream live --vmc`: the live session hands each frame it makes to the sender."""
    pytest.importorskip("soundfile", reason="FileSource needs the `mic` extra (soundfile)")
    from facestream.engine.sources import FileSource
    from facestream.viewer.session import LiveSession
    from facestream.viewer.video import example_clip_path

    class Tap:
        def __init__(self):
            self.frames = []

        def send(self, frame):
            self.frames.append(frame.seq)

    tap = Tap()
    session = LiveSession(engine, FileSource(example_clip_path()), taps=[tap]).start()
    assert session.ended.wait(60)
    session.stop()
    assert session.error is None
    assert tap.frames == list(range(session.frames_out)) and session.frames_out > 100


def test_cli_rejects_bad_vmc_addresses(capsys):
    from facestream.cli import main
    from facestream.viewer.video import example_clip_path
    assert main(["serve", "--port", "0", "--vmc", "localhost"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert main(["live", "--input", str(example_clip_path()), "--vmc", "no-such-host.invalid:1"]) == 2
    assert "does not resolve" in capsys.readouterr().err


def test_serve_vmc_end_to_end():
    """`facestream serve --vmc`: a websocket client's frames reach python-osc's receiver."""
    pytest.importorskip("websockets", reason="the server needs the `server` extra (websockets)")
    from websockets.sync.client import connect

    from facestream.server import protocol as P
    x = (np.sin(2 * np.pi * 3 * np.arange(32000) / 16000).clip(0) * 0.5
         * np.sin(2 * np.pi * 180 * np.arange(32000) / 16000)).astype(np.float32)
    with Receiver() as rx:
        proc, url = _start_serve(rx.port)
        try:
            with connect(url, compression=None, open_timeout=10) as c:
                json.loads(c.recv(10))
                c.send(json.dumps({"type": "start", "sample_rate": 16000, "format": "f32le"}))
                for i in range(0, len(x), 320):  # in real time, as a microphone would:
                    c.send(x[i:i + 320].tobytes())  # audio pushed faster makes frames in
                    time.sleep(0.02)  # bursts, and the sender keeps only the newest 8
                c.send(json.dumps({"type": "end"}))
                frames = []
                while True:
                    m = c.recv(30)
                    if isinstance(m, bytes):
                        frames.append(P.unpack_frame(m))
                    elif json.loads(m)["type"] == "ended":
                        break
            msgs = frames_of(rx.wait(PER_FRAME * len(frames)))
        finally:
            proc.send_signal(signal.SIGINT)
            out = proc.communicate(timeout=20)[0]
    assert len(msgs) == len(frames) > 30
    jaw = [got[JAW][1][1] for got in msgs]
    np.testing.assert_allclose(jaw, [f.arkit[JAW] for f in frames], atol=1e-6)
    m = re.search(r"VMC: (\d+) frames sent, 0 failed, 0 dropped", out)
    assert m and int(m.group(1)) == len(frames), out[-500:]


@contextlib.contextmanager
def _serving(rx_port: int, preexec_fn=None):
    """(serve process, ws url); the process is killed on the way out if it still runs."""
    proc, url = _start_serve(rx_port, preexec_fn)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _assert_clean_exit(proc: subprocess.Popen, out: str) -> None:
    assert proc.returncode == 0, out[-1000:]
    assert re.search(r"VMC: \d+ frames sent, 0 failed", out), out[-1000:]
    assert "Traceback" not in out, out[-2000:]


def _start_serve(rx_port: int, preexec_fn=None) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "facestream", "serve", "--port", "0",
                             "--vmc", f"127.0.0.1:{rx_port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=preexec_fn)
    url = None
    for line in proc.stdout:
        m = re.search(r"(ws://\S+/ws)", line)
        url = m.group(1) if m else url
        if "VMC: sending" in line:
            break
    assert url, "serve did not print its address"
    return proc, url


@pytest.mark.parametrize("signals", [1, 2], ids=["sigint", "sigint-twice"])
def test_serve_stops_on_sigint_mid_session(signals):
    """Ctrl-C while a client is still streaming: serve closes the connection, stops the hub and
    the VMC sender, prints the sender's summary and exits 0 — once or pressed twice."""
    pytest.importorskip("websockets", reason="the server needs the `server` extra (websockets)")
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    x = (0.3 * np.sin(2 * np.pi * 180 * np.arange(16000) / 16000)).astype(np.float32)
    with Receiver() as rx, _serving(rx.port) as (proc, url):
        with connect(url, compression=None, open_timeout=10) as c:
            json.loads(c.recv(10))
            c.send(json.dumps({"type": "start", "sample_rate": 16000, "format": "f32le"}))
            with pytest.raises(ConnectionClosed):  # the server closes it, not us
                for i in range(0, len(x), 320):
                    c.send(x[i:i + 320].tobytes())
                    if i == 320 * 25:  # half a second in, with the session live
                        for _ in range(signals):
                            proc.send_signal(signal.SIGINT)
                            time.sleep(0.05)
                    time.sleep(0.02)
                while True:
                    c.recv(10)
        out = proc.communicate(timeout=20)[0]
    _assert_clean_exit(proc, out)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_serve_stops_when_started_as_a_background_job(sig):
    """A shell starts background jobs with SIGINT ignored, and asyncio.run then installs no
    Ctrl-C handler; serve handles SIGINT and SIGTERM itself, so both still stop it cleanly."""
    ignore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731
    with Receiver() as rx, _serving(rx.port, preexec_fn=ignore_sigint) as (proc, _):
        proc.send_signal(sig)
        out = proc.communicate(timeout=20)[0]
    _assert_clean_exit(proc, out)
