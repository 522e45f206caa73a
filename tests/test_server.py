"""The websocket server with real clients on loopback: the protocol round trip (frames equal the
engine's), puppeteer and spectators, every malformed input, auth, Origin, admission, a slow
client beside a fast one, cleanup, metrics, Live Link packets."""
import json
import socket
import struct
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("websockets", reason="the server needs the `server` extra (websockets)")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from facestream import vocab  # noqa: E402
from facestream.engine.animate import animate_array  # noqa: E402
from facestream.engine.stream import Engine  # noqa: E402
from facestream.server import livelink, protocol as P  # noqa: E402
from facestream.server.app import ServerOptions, ServerThread  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    return Engine()  # the shipped model and head: what a deployed server runs


@pytest.fixture(scope="module")
def audio():
    """2 s of a voiced, syllable-like signal at 16 kHz (no speech engine needed)."""
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    x = env * (0.4 * np.sin(2 * np.pi * 140 * t) + 0.2 * np.sin(2 * np.pi * 700 * t))
    return (x + 0.01 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def server(engine):
    with ServerThread(engine, ServerOptions(port=0, max_sessions=4, queue_frames=10,
                                            max_message_bytes=1 << 16)) as st:
        yield st


def ws(url, **kw):
    return connect(url, compression=None, open_timeout=10, close_timeout=2, **kw)


def recv_json(c, timeout=10):
    while True:
        m = c.recv(timeout)
        if isinstance(m, str):
            return json.loads(m)


def status(st, query=""):
    with urllib.request.urlopen(f"http://127.0.0.1:{st.port}/status{query}", timeout=10) as r:
        return json.loads(r.read())


def stream_audio(c, x, sr=16000, fmt="s16le", chunk=320):
    c.send(json.dumps({"type": "start", "sample_rate": sr, "format": fmt}))
    assert recv_json(c)["type"] == "started"
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2") if fmt == "s16le" else x.astype("<f4")
    for i in range(0, len(pcm), chunk):
        c.send(pcm[i:i + chunk].tobytes())
    c.send(json.dumps({"type": "end"}))


def collect(c, until="ended", timeout=30):
    """-> (frames, control messages) until a control message of type `until`."""
    frames, control = [], []
    while True:
        m = c.recv(timeout)
        if isinstance(m, bytes):
            frames.append(P.unpack_frame(m))
        else:
            control.append(json.loads(m))
            if control[-1]["type"] == until:
                return frames, control


def wait_for(pred, timeout=10):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            return False
        time.sleep(0.05)
    return True


def test_hello_comes_from_the_vocabulary(server, engine):
    with ws(server.url) as c:
        h = recv_json(c)
    assert h["type"] == "hello" and h["protocol"] == P.PROTOCOL_VERSION and h["role"] == "puppeteer"
    assert h["arkit_names"] == list(vocab.ARKIT_NAMES)
    assert h["emotion_names"] == list(vocab.EMOTION_NAMES)
    assert h["num_vertices"] == engine.head.num_vertices and h["fps"] == 30
    assert h["latency_ms"] == engine.latency_ms and h["frame_header_bytes"] == P.HEADER_BYTES
    assert set(h["formats"]) == {"arkit", "flame", "vertices"}
    assert h["flame_layout"][-1][1] + h["flame_layout"][-1][2] == engine.head.num_expressions + 12


def test_frames_over_the_socket_equal_the_engines(server, engine, audio):
    want = animate_array(engine, (audio.clip(-1, 1) * 32767).astype(np.int16), 16000)
    with ws(server.url) as c:
        recv_json(c)
        c.send(json.dumps({"type": "subscribe", "formats": ["arkit", "flame", "vertices"]}))
        assert recv_json(c)["type"] == "subscribed"
        stream_audio(c, audio)
        frames, control = collect(c)
    assert control[-1]["frames"] == len(want) == len(frames)
    assert [f.seq for f in frames] == list(range(len(want)))
    np.testing.assert_allclose([f.timestamp for f in frames], [w.timestamp for w in want])
    np.testing.assert_allclose(np.stack([f.arkit for f in frames]),
                               np.stack([w.arkit for w in want]), atol=1e-5)
    flame = np.stack([P.flame_block(w) for w in want])
    np.testing.assert_allclose(np.stack([f.flame for f in frames]), flame, atol=1e-5)
    k = len(want) // 2
    np.testing.assert_allclose(frames[k].vertices, engine.vertices(want[k]), atol=1e-5)
    assert all(f.dropped == 0 and f.stream == 1 for f in frames)


def test_float16_vertices_and_float32_audio_at_another_rate(server, engine, audio):
    import soxr
    x44 = soxr.resample(audio, 16000, 44100).astype(np.float32)
    with ws(server.url) as c:
        recv_json(c)
        c.send(json.dumps({"type": "subscribe", "formats": ["vertices"], "vertex_dtype": "f16"}))
        recv_json(c)
        stream_audio(c, x44, sr=44100, fmt="f32le", chunk=441 * 3)
        frames, _ = collect(c)
    want = animate_array(engine, x44, 44100)
    assert len(frames) == len(want) and frames[0].arkit.size == 0
    assert frames[5].vertices.dtype == np.float16
    np.testing.assert_allclose(frames[5].vertices.astype(np.float32), engine.vertices(want[5]),
                               atol=2e-3)


def test_spectators_watch_a_puppeteer(server, audio):
    with ws(server.url) as pup:
        sid = recv_json(pup)["session"]
        with ws(f"{server.url}?session={sid}") as spec:
            h = recv_json(spec)
            assert h["role"] == "spectator" and h["session"] == sid
            spec.send(b"\0\0" * 160)
            assert recv_json(spec)["name"] == "forbidden"
            spec.send(json.dumps({"type": "start", "sample_rate": 16000}))
            assert recv_json(spec)["name"] == "forbidden"
            pup.send(json.dumps({"type": "set_emotion", "emotion": {"happy": 1}, "intensity": 0.8}))
            note = recv_json(spec)
            assert note["type"] == "emotion" and note["emotion"]["happy"] == 1.0
            assert recv_json(pup)["type"] == "emotion"
            stream_audio(pup, audio)
            a, _ = collect(pup)
            b, _ = collect(spec)
        assert len(a) == len(b) > 0
        np.testing.assert_array_equal(np.stack([f.arkit for f in a]), np.stack([f.arkit for f in b]))
        assert a[-1].intensity == pytest.approx(0.8)
    with pytest.raises(ConnectionClosed) as e, ws(f"{server.url}?session=nope") as c:
        c.recv(10)
    assert e.value.rcvd.code == P.CLOSE_POLICY


@pytest.mark.parametrize("msg, name", [
    ("not json", "bad_json"),
    ("[1, 2]", "bad_json"),
    ('{"type": 3}', "bad_json"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"type": "subscribe", "formats": ["mesh"]}', "bad_field"),
    ('{"type": "subscribe", "formats": ["vertices"], "vertex_dtype": "f64"}', "bad_field"),
    ('{"type": "set_emotion", "emotion": "bored"}', "bad_field"),
    ('{"type": "set_emotion", "emotion": "happy", "intensity": 7}', "bad_field"),
    ('{"type": "set_emotion", "emotion": [1, 2]}', "bad_field"),
    ('{"type": "start", "sample_rate": 1000000000}', "bad_field"),
    ('{"type": "start", "sample_rate": 0}', "bad_field"),
    ('{"type": "start", "sample_rate": "16000"}', "bad_field"),
    ('{"type": "start", "sample_rate": 16000, "format": "mp3"}', "bad_field"),
    ('{"type": "start", "sample_rate": 16000, "channels": 99}', "bad_field"),
    ('{"type": "end"}', "not_started"),
    (b"\0\0" * 100, "not_started"),
])
def test_malformed_input_gets_an_error_and_the_server_survives(server, audio, msg, name):
    with ws(server.url) as c:
        recv_json(c)
        c.send(msg)
        err = recv_json(c)
        assert err["type"] == "error" and err["name"] == name and err["code"] == P.ERRORS[name]
        assert err["message"]
        stream_audio(c, audio[:8000])  # the same connection still works
        frames, _ = collect(c)
        assert len(frames) == 15


@pytest.mark.parametrize("fmt, data", [("s16le", b"\0" * 321), ("f32le", b"\0" * 322),
                                       ("f32le", np.array([0, np.nan], "<f4").tobytes())])
def test_wrong_audio_sizes_and_values(server, fmt, data):
    with ws(server.url) as c:
        recv_json(c)
        c.send(json.dumps({"type": "start", "sample_rate": 16000, "format": fmt}))
        recv_json(c)
        c.send(data)
        assert recv_json(c)["name"] == "bad_audio"
        c.send(np.zeros(160, "<i2" if fmt == "s16le" else "<f4").tobytes())
        c.send(json.dumps({"type": "end"}))
        assert collect(c)[1][-1]["type"] == "ended"


def test_oversized_messages_close_the_connection(server, audio):
    with pytest.raises(ConnectionClosed) as e, ws(server.url) as c:
        recv_json(c)
        c.send(b"\0" * (1 << 17))
        c.recv(10)
    assert e.value.rcvd.code == P.CLOSE_TOO_BIG
    with ws(server.url) as c:  # still serving
        assert recv_json(c)["type"] == "hello"


def test_admission_control_and_cleanup(engine):
    with ServerThread(engine, ServerOptions(port=0, max_sessions=1)) as st:
        with ws(st.url) as first:
            recv_json(first)
            with pytest.raises(ConnectionClosed) as e, ws(st.url) as second:
                second.recv(10)
            assert e.value.rcvd.code == P.CLOSE_TRY_AGAIN and "full" in e.value.rcvd.reason
            with ws(f"{st.url}?session={first_id(st)}") as sp:
                assert recv_json(sp)["role"] == "spectator"  # spectators are not sessions
        assert wait_for(lambda: status(st)["sessions"] == 0 and status(st)["clients"] == 0)
        with ws(st.url) as again:  # the slot is free again
            assert recv_json(again)["type"] == "hello"
        s = status(st)
        assert s["rejected"]["full"] == 1 and s["connections_total"] == 4


def first_id(st):
    return st.call(lambda: next(iter(st.server.hub.sessions)))


def test_token_is_checked_before_anything_else(engine):
    opts = ServerOptions(port=0, token="s3cret", max_sessions=1)
    with ServerThread(engine, opts) as st:
        for url, headers in ((st.url, None), (st.url + "?token=wrong", None),
                             (st.url, {"Origin": "http://evil.example"})):
            with pytest.raises(InvalidStatus) as e:
                ws(url, additional_headers=headers)
            assert e.value.response.status_code == 401  # not 403: the token comes first
        with pytest.raises(urllib.error.HTTPError) as e:
            status(st)
        assert e.value.code == 401
        with ws(st.url + "?token=s3cret") as c:
            assert recv_json(c)["type"] == "hello"
        with ws(st.url, additional_headers={"Authorization": "Bearer s3cret"}) as c:
            assert recv_json(c)["type"] == "hello"
        assert status(st, "?token=s3cret")["rejected"]["auth"] == 4
    with pytest.raises(ValueError, match="--token"):
        ServerThread(engine, ServerOptions(host="0.0.0.0", port=0))


def test_origin_check(engine):
    with ServerThread(engine, ServerOptions(port=0, allow_origins=("https://app.example",))) as st:
        with pytest.raises(InvalidStatus) as e:
            ws(st.url, additional_headers={"Origin": "http://evil.example"})
        assert e.value.response.status_code == 403
        for origin in (f"http://127.0.0.1:{st.port}", "https://app.example"):
            with ws(st.url, additional_headers={"Origin": origin}) as c:
                assert recv_json(c)["type"] == "hello"
        assert status(st)["rejected"]["origin"] == 1


def test_a_slow_client_loses_old_frames_and_never_delays_a_fast_one(server, audio):
    """The spectator reads nothing while 8 s of vertex frames stream; the puppeteer reads as
    it goes and must get every frame, in order, with nothing dropped."""
    x = np.tile(audio, 4)
    before = status(server)["frames_dropped"]
    with ws(server.url, max_queue=2) as pup, ws(f"{server.url}?session={id_of(pup)}",
                                                  max_queue=1) as slow:
        recv_json(slow)
        slow.send(json.dumps({"type": "subscribe", "formats": ["vertices"]}))
        pup.send(json.dumps({"type": "subscribe", "formats": ["arkit", "vertices"]}))
        recv_json(pup)
        stream_audio(pup, x, chunk=1600)
        frames, control = collect(pup, timeout=60)
        assert [f.seq for f in frames] == list(range(control[-1]["frames"]))
        assert all(f.dropped == 0 for f in frames) and len(frames) == 240
        late = []
        try:  # now read what the slow client was left with
            while True:
                m = slow.recv(2)
                if isinstance(m, bytes):
                    late.append(P.unpack_frame(m))
        except TimeoutError:
            pass
    assert late and late[-1].dropped > 0 and len(late) < len(frames)
    assert late[-1].seq == frames[-1].seq  # it sees the newest frames, not stale ones
    assert status(server)["frames_dropped"] - before == late[-1].dropped


def id_of(c):
    return recv_json(c)["session"]


def test_status_metrics_and_static_routes(server, engine):
    s = status(server)
    for key in ("sessions", "clients", "frames_sent", "frames_dropped", "inference", "cpu_s",
                "rss_mb", "errors"):
        assert key in s
    assert s["inference"]["ticks"] > 0 and s["frames_sent"] > 0
    assert s["errors"].get("bad_field", 0) > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10) as r:
        assert b"<canvas" in r.read()
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/head.bin", timeout=10) as r:
        data = r.read()
    n = struct.unpack_from("<I", data)[0]
    meta = json.loads(data[4:4 + n])
    v, f = meta["num_vertices"], meta["num_faces"]
    assert (v, f) == (engine.head.num_vertices, engine.head.faces.shape[0])
    tmpl = np.frombuffer(data, "<f4", v * 3, 4 + n).reshape(v, 3)
    np.testing.assert_array_equal(tmpl, engine.head.template)
    # the brows, lashes and neck fade: the renderer's own numbers, code and colours
    from facestream.viewer import features
    feat = np.frombuffer(data, "<f4", v * 4, len(data) - v * 16).reshape(v, 4)
    np.testing.assert_array_equal(feat, features.feature_attributes(engine.head))
    assert len(data) == 4 + n + v * 12 + f * 12 + -(-v // 4) * 4 + v * 16
    assert meta["features"] == {"names": list(features.FEATURE_NAMES),
                                "glsl": features.FEATURE_GLSL,
                                "brow_colour": list(features.BROW_COLOUR),
                                "lash_colour": list(features.LASH_COLOUR)}
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/static/../app.py", timeout=10)


def test_live_link_packet_bytes():
    arkit = np.zeros(52, np.float32)
    arkit[vocab.ARKIT_INDEX["jawOpen"]] = 0.75
    arkit[vocab.ARKIT_INDEX["mouthLeft"]] = 0.25
    neck = np.array([0.1, 0.2, 0.3], np.float32)  # pitch, yaw, roll
    data = livelink.packet(device_id="dev", subject="s1", frame_number=7, fps=30, arkit=arkit,
                           neck_pose=neck, eye_pose=np.zeros(6, np.float32))
    head = (b"\x06" + b"\0\0\0\x03dev" + b"\0\0\0\x02s1" + struct.pack(">ifii", 7, 0.0, 30, 1)
            + b"\x3d")
    assert data[:len(head)] == head and len(data) == len(head) + 61 * 4
    values = np.frombuffer(data[len(head):], ">f4")
    assert values[17] == 0.75 and values[21] == 0.25  # Unreal's JawOpen and MouthLeft slots
    np.testing.assert_allclose(values[52:55], [0.2, 0.1, 0.3])  # yaw, pitch, roll
    assert values[[i for i in range(52) if i not in (17, 21)]].max() == 0
    p = livelink.parse_packet(data)
    assert (p["version"], p["subject"], p["frame"], p["fps"]) == (6, "s1", 7, (30, 1))


def test_live_link_packets_follow_the_frames(engine, audio):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    port = rx.getsockname()[1]
    with ServerThread(engine, ServerOptions(port=0, livelink=f"127.0.0.1:{port}")) as st:
        with ws(st.url) as c:
            sid = recv_json(c)["session"]
            stream_audio(c, audio[:8000])
            frames, _ = collect(c)
    packets = [livelink.parse_packet(rx.recv(2048)) for _ in frames]
    rx.close()
    assert [p["frame"] for p in packets] == [f.seq for f in frames]
    assert {p["subject"] for p in packets} == {sid}
    np.testing.assert_allclose(packets[-1]["values"][:52],
                               frames[-1].arkit[livelink.UNREAL_INDEX], atol=1e-6)


def test_listen_command_writes_frames(server, audio, tmp_path):
    import soundfile as sf

    from facestream.cli import main
    wav = tmp_path / "a.wav"
    sf.write(wav, audio, 16000)
    out = tmp_path / "f.npz"
    assert main(["listen", server.url, "-o", str(out), "--send", str(wav), "--fast",
                 "--formats", "arkit,flame"]) == 0
    z = np.load(out)
    assert z["arkit"].shape == (60, 52) and z["flame"].shape[0] == 60
    assert list(z["arkit_names"]) == list(vocab.ARKIT_NAMES)
    assert (z["received"] >= z["created"] - 1e-3).all()


def test_mic_session_is_fed_by_an_audio_source(engine, audio, tmp_path):
    """`serve --mic` reads a facestream source on its own thread; here a file stands in for
    the microphone (same `read` interface), and a spectator sets the emotion."""
    import soundfile as sf
    sources = pytest.importorskip("facestream.engine.sources", reason="needs the audio sources")
    wav = tmp_path / "a.wav"
    sf.write(wav, audio, 16000)
    src = sources.FileSource(wav, realtime=True)
    with ServerThread(engine, ServerOptions(port=0), mic_source=src) as st:
        with ws(f"{st.url}?session=mic") as c:
            assert recv_json(c)["role"] == "spectator"
            c.send(json.dumps({"type": "set_emotion", "emotion": "happy", "intensity": 1.0}))
            assert recv_json(c)["type"] == "emotion"
            frames = []
            while len(frames) < 20:
                m = c.recv(10)
                if isinstance(m, bytes):
                    frames.append(P.unpack_frame(m))
        assert [f.seq for f in frames] == list(range(frames[0].seq, frames[0].seq + 20))
        assert max(f.intensity for f in frames) > 0.5


def test_protocol_doc_matches_the_code():
    from pathlib import Path
    doc = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text()
    assert f"version {P.PROTOCOL_VERSION}" in doc.splitlines()[0]
    for name, code in P.ERRORS.items():
        assert f"| {code} | `{name}` |" in doc
    for close in (P.CLOSE_TRY_AGAIN, P.CLOSE_POLICY, P.CLOSE_TOO_BIG, P.CLOSE_GOING_AWAY):
        assert f"**{close}**" in doc
    assert f"A {P.HEADER_BYTES}-byte little-endian header" in doc and P.MAGIC.decode() in doc
    # the header table: offsets and types in FRAME_HEADER's order
    rows = [ln.split("|")[1:3] for ln in doc.splitlines() if ln.startswith("| ") and
            ln.split("|")[1].strip().isdigit() and int(ln.split("|")[1]) < P.HEADER_BYTES]
    fmt = {"4 bytes": "4s", "u8": "B", "u16": "H", "u32": "I", "f32": "f", "f64": "d"}
    assert "<" + "".join(fmt[t.strip()] for _, t in rows) == P.FRAME_HEADER.format
    import struct
    offsets = [int(o) for o, _ in rows]
    sizes = [struct.calcsize("<" + fmt[t.strip()]) for _, t in rows]
    assert offsets == [sum(sizes[:i]) for i in range(len(sizes))]
    for field in P.CLIENT_TYPES:
        assert f"| `{field}` |" in doc
    assert set(P.CLIENT_TYPES) == {"subscribe", "start", "end", "set_emotion", "set_behaviour"}
    assert f"- **{P.PROTOCOL_VERSION}**:" in doc  # the versioning section says what changed
    row = next(ln for ln in doc.splitlines() if ln.startswith("| `set_behaviour` |"))
    for name in P.BEHAVIOUR_FIELDS:
        assert f"`{name}`" in row


@pytest.mark.slow
def test_benchmarks_run_small(engine):
    from facestream.server.bench import bench_delivery, bench_soak
    d = bench_delivery((2,), seconds=1.0, engine=engine)[2]
    assert d["frames_received"] == 2 * d["frames_made"] and d["gaps"] == 0
    assert d["p50_ms"] is not None and d["server_cpu_per_s"] > 0
    s = bench_soak(3.0, spectators=3, engine=engine)
    assert s["watch_gaps"] == 0 and s["watch_frames"] == 3 * 90
    assert s["sessions_left"] == 0 and s["clients_left"] == 0 and s["cycles"] > 0
