"""The engine's behaviour (engine/behaviour.py): blinks, gaze, head motion, brows and mouth
strength. Statistics over 5 minutes of speech and silence fall in the ranges docs/behaviour.md
cites; the same seed gives the same frames; every output path carries blinks and eye rotations;
switching a behaviour off removes exactly it; the viewer imports no training code."""
import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from facestream import vocab
from facestream.engine.animate import animate_array, write_frames
from facestream.engine.behaviour import Behaviour, BehaviourOptions, parse_gaze
from facestream.engine.stream import Engine

K = vocab.ARKIT_INDEX
BLINK = [K["eyeBlinkLeft"], K["eyeBlinkRight"]]
LOOK = [i for n, i in K.items() if n.startswith("eyeLook")]
BROWS = [K["browInnerUp"], K["browOuterUpLeft"], K["browOuterUpRight"]]
MOUTH = [i for n, i in K.items() if n.startswith(("jaw", "mouth")) or n == "tongueOut"]
JAW, NECK, EYES = [52, 53, 54], [55, 56, 57], list(range(58, 64))  # columns of `stacked`
ALL_OFF = dict(blinks=False, gaze="off", head=0.0, brows=0.0, articulation=1.0)


def speech_levels(seconds: float, fps: int, seed: int = 0):
    """Per-frame audio levels (dB) of phrases of syllables (1-5 s, 4 Hz) between pauses
    (0.4-3 s) -> (levels T, talking T bool)."""
    r = np.random.default_rng(seed)
    n = int(seconds * fps)
    t = np.arange(n) / fps
    db, talk, i = np.full(n, -75.0), np.zeros(n, bool), 0
    while i < n:
        seg = slice(i, min(n, i + int(r.uniform(1.0, 5.0) * fps)))
        db[seg] = -40 + 22 * np.sin(2 * np.pi * 4 * t[seg] + r.uniform(0, 6)) ** 2
        talk[seg] = True
        i = seg.stop + int(r.uniform(0.4, 3.0) * fps)
    return db, talk


def run_behaviour(options: BehaviourOptions, seconds=300.0, fps=30):
    """Drive a Behaviour over a neutral, still model face -> (behaviour, arkit T x K, neck T x 3)."""
    db, _ = speech_levels(seconds, fps)
    b = Behaviour(options, fps)
    emotion = np.eye(vocab.NUM_EMOTIONS, dtype=np.float32)[0]
    arkit = np.zeros((len(db), vocab.NUM_ARKIT), np.float32)
    neck = np.zeros((len(db), 3), np.float32)
    jaw = np.zeros(3, np.float32)
    for i, level in enumerate(db):
        b.step(arkit[i], jaw, neck[i], float(level), emotion, 0.0)
    return b, arkit, neck


@pytest.fixture(scope="module")
def five_minutes():
    return run_behaviour(BehaviourOptions(seed=1))


def events(b, kind):
    return [e for e in b.events if e[0] == kind]


# ---- statistics over 5 minutes (docs/behaviour.md gives the ranges and their sources) -----------
def test_blink_rate_and_durations(five_minutes):
    b, arkit, _ = five_minutes
    blinks = events(b, "blink")
    rate = len(blinks) / 5.0
    assert 15.0 <= rate <= 32.5, rate  # between rest (17) and conversation (26; CI 10.5-32.5)
    durations = np.array([e[2] for e in blinks])
    assert durations.min() >= 0.1 and durations.max() <= 0.4  # 100-400 ms
    # in the frames: the lids close (>= 0.8 at 30 fps) and every closure ends within 400 ms
    closed = arkit[:, BLINK[0]] > 0.5
    assert closed.any()
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, closed.astype(int), 0])))[::2]
    assert runs.max() / 30 <= 0.4
    starts = np.flatnonzero(np.diff(closed.astype(int)) == 1)
    assert len(starts) >= 0.8 * len(blinks)  # nearly every blink reaches half closure
    intervals = np.diff([e[1] for e in blinks])
    assert np.median(intervals) > 1.0 and (intervals >= 0.2).all()


def test_blinks_follow_speech():
    """Blinks cluster just after phrases end, and come more often while talking than deep in
    a silence."""
    b, arkit, _ = run_behaviour(BehaviourOptions(seed=2, gaze="off"))
    _, talk = speech_levels(300.0, 30)
    ends = np.flatnonzero(np.diff(talk.astype(int)) == -1) + 1
    after_end = np.zeros(len(talk), bool)
    for e in ends:
        after_end[e:e + 18] = True  # 0.6 s
    deep_silence = ~talk & ~after_end
    onsets = np.array([int(e[1] * 30) for e in events(b, "blink")])
    rate = {name: np.isin(onsets, np.flatnonzero(m)).sum() / m.mean()
            for name, m in (("after", after_end), ("talking", talk), ("silence", deep_silence))}
    assert rate["after"] > 2 * rate["talking"] and rate["talking"] > rate["silence"], rate


def test_gaze_amplitudes_and_intervals(five_minutes):
    b, arkit, _ = five_minutes
    sacc = events(b, "saccade")
    amp = np.array([e[2] for e in sacc])
    assert (amp < 15).mean() >= 0.83  # Malinov et al. 2000: 83% < 15 deg
    assert 0.4 <= (amp < 5).mean() <= 0.9  # ... and 53% < 5 deg
    durations = np.array([e[4] for e in sacc])
    assert durations.min() >= 0.02 and durations.max() <= 0.2  # 20-200 ms
    intervals = np.diff([e[1] for e in sacc])
    assert 0.2 <= np.median(intervals) <= 0.5  # fixations of 200-350 ms (Rayner)
    assert (intervals >= 0.15).mean() >= 0.95  # the rest: a glance turning the eyes at once
    micro = events(b, "micro")
    assert 1.0 <= len(micro) / 300 <= 2.0  # 1-2 per second
    micro_amp = np.array([e[2] for e in micro])
    assert micro_amp.min() >= 0.1 and micro_amp.max() <= 1.0  # 0.1-1 deg
    assert arkit[:, LOOK].max() > 0.1


def test_gaze_averted_while_talking_at_the_camera_while_listening(five_minutes):
    b, _, _ = five_minutes
    _, talk = speech_levels(300.0, 30)
    at = np.ones(len(talk), bool)
    state, last = True, 0
    for _, t, at_listener, _ in events(b, "glance"):
        at[last:int(t * 30)] = state
        state, last = at_listener, int(t * 30)
    at[last:] = state
    listening, talking = at[~talk].mean(), at[talk].mean()
    assert listening > 0.6 and talking < 0.6 and listening - talking > 0.2, (listening, talking)
    aversions = [e[2] for e in events(b, "saccade") if e[3] == "aversion"]
    assert len(aversions) > 20


def test_lids_follow_vertical_gaze():
    b = Behaviour(BehaviourOptions(gaze=(0.0, -15.0), blinks=False, head=0.0, brows=0.0), 30)
    arkit = np.zeros((60, vocab.NUM_ARKIT), np.float32)
    for i in range(60):
        b.step(arkit[i], np.zeros(3), np.zeros(3), -80.0, np.eye(7, dtype=np.float32)[0], 0.0)
    assert arkit[30:, K["eyeLookDownLeft"]].mean() > 0.5
    assert arkit[30:, BLINK].min() > 0.2  # the upper lid comes down with the eyes


def test_head_motion_breathes_and_nods(five_minutes):
    b, _, neck = five_minutes
    deg = np.degrees(neck)
    assert 0.3 < deg[:, 0].std() < 3.0 and 0.3 < deg[:, 1].std() < 3.0
    assert np.abs(deg).max() < 8.0


# ---- determinism, chunking, switches ----------------------------------------------------------
@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.fixture(scope="module")
def clip():
    from facestream.formats import read_audio
    from facestream.viewer.video import example_clip_path
    x, sr = read_audio(example_clip_path())
    return np.concatenate([np.zeros(sr, np.float32), x, np.zeros(2 * sr, np.float32)]), sr


def stacked(frames):
    return np.concatenate([np.stack([f.arkit for f in frames]), np.stack([f.jaw_pose for f in frames]),
                           np.stack([f.neck_pose for f in frames]),
                           np.stack([f.eye_pose for f in frames])], axis=1)


def test_same_seed_same_frames_any_chunking(engine, clip):
    x, sr = clip
    a = stacked(animate_array(engine, x, sr, behaviour={"seed": 4}))
    again = stacked(animate_array(engine, x, sr, behaviour={"seed": 4}))
    b = stacked(animate_array(engine, x, sr, chunk_ms=170.0, behaviour={"seed": 4}))
    c = stacked(animate_array(engine, x, sr, behaviour={"seed": 5}))
    np.testing.assert_array_equal(a, again)
    # other chunks: the model's float rounding only (test_engine's bound); no decision flips
    assert np.abs(a - b).max() < 1e-4
    assert np.abs(a - c).max() > 0.1
    assert a[:, BLINK].max() > 0.8 and a[:, LOOK].max() > 0.05


def test_each_switch_removes_exactly_its_behaviour(engine, clip):
    x, sr = clip
    run = lambda **o: stacked(animate_array(engine, x, sr, behaviour=dict(o, seed=3)))  # noqa: E731
    off = run(**ALL_OFF)
    on = run()
    # everything off is the model alone: no blinks or gaze beyond what it outputs
    assert off[:, BLINK].max() < 0.05 and np.abs(off[:, LOOK]).max() < 0.05
    lids = BLINK + [K["eyeWideLeft"], K["eyeWideRight"]]
    neck, eyes = NECK, EYES
    owns = {"blinks": lids, "gaze": LOOK + lids + eyes + neck, "head": neck, "brows": BROWS}
    switch = {"blinks": dict(blinks=False), "gaze": dict(gaze="off"), "head": dict(head=0.0),
              "brows": dict(brows=0.0)}
    for name, cols in owns.items():
        others = [c for c in range(on.shape[1]) if c not in cols]
        without = run(**switch[name])
        # the rest of the face is untouched by this switch...
        np.testing.assert_array_equal(without[:, others], on[:, others], err_msg=name)
        # ...and alone on the model, the behaviour changes only its own channels
        alone = run(**{**ALL_OFF, **{k: v for k, v in BehaviourOptions().to_dict().items()
                                     if k in switch[name]}})
        changed = np.flatnonzero(np.abs(alone - off).max(0) > 0)
        assert len(changed) and set(changed) <= set(cols), (name, changed)


def test_articulation_scales_the_mouth_and_jaw(engine, clip):
    x, sr = clip
    run = lambda a: stacked(animate_array(engine, x, sr, behaviour=dict(ALL_OFF, articulation=a)))  # noqa: E731
    base, loud, quiet = run(1.0), run(1.5), run(0.5)
    j = K["jawOpen"]
    assert loud[:, j].mean() > 1.3 * base[:, j].mean() and quiet[:, j].mean() < 0.7 * base[:, j].mean()
    # the jaw joint's pitch moves with jawOpen
    np.testing.assert_allclose(loud[:, JAW[0]] - base[:, JAW[0]],
                               (loud[:, j] - base[:, j]) * vocab.JAW_OPEN_MAX_RAD, atol=1e-5)
    np.testing.assert_array_equal(np.delete(loud, MOUTH + JAW, 1), np.delete(base, MOUTH + JAW, 1))


def test_set_behaviour_live_and_validation(engine, clip):
    x, sr = clip
    s = engine.create_stream(seed=1)
    s.accept_waveform(sr, x[: sr * 2])
    engine.decode_stream(s)
    assert s.set_behaviour(blinks=False, gaze=[5, -3]).gaze == (5.0, -3.0)
    s.accept_waveform(sr, x[sr * 2:])
    frames = engine.decode_stream(s)
    assert max(f.arkit[BLINK].max() for f in frames[10:]) < 0.5
    with pytest.raises(ValueError, match="unknown behaviour option"):
        s.set_behaviour(blink=True)
    with pytest.raises(ValueError, match="articulation must be"):
        s.set_behaviour(articulation=5)
    with pytest.raises(ValueError, match="gaze must be"):
        parse_gaze("left")
    assert parse_gaze("10,-5") == (10.0, -5.0)


# ---- every output path carries blinks and eye rotations ------------------------------------------
def test_files_carry_blinks_and_eyes(engine, clip, tmp_path):
    x, sr = clip
    frames = animate_array(engine, x, sr, behaviour={"seed": 2})
    a = stacked(frames)
    assert a[:, BLINK].max() > 0.8 and np.abs(a[:, EYES]).max() > 0.01
    z = np.load(write_frames(frames, tmp_path / "f.npz", 30, "h"))
    assert z["arkit"][:, BLINK].max() > 0.8 and np.abs(z["eye_pose"]).max() > 0.01
    j = json.loads(write_frames(frames, tmp_path / "f.json", 30, "h").read_text())
    assert max(f["arkit"][BLINK[0]] for f in j["frames"]) > 0.8
    assert max(abs(v) for f in j["frames"] for v in f["eye_pose"]) > 0.01
    import csv
    rows = list(csv.DictReader(open(write_frames(frames, tmp_path / "f.csv", 30, "h"))))
    assert max(float(r["EyeBlinkLeft"]) for r in rows) > 0.8
    assert max(abs(float(r["LeftEyeYaw"])) + abs(float(r["LeftEyePitch"])) for r in rows) > 0.01
    assert np.std([float(r["HeadYaw"]) for r in rows]) > 0.002


def test_live_link_and_websocket_carry_blinks_and_eyes(engine, clip):
    pytest.importorskip("websockets", reason="the server needs the `server` extra (websockets)")
    from websockets.sync.client import connect

    from facestream.server import livelink, protocol as P
    from facestream.server.app import ServerOptions, ServerThread
    x, sr = clip
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    opts = ServerOptions(port=0, livelink=f"127.0.0.1:{udp.getsockname()[1]}")
    frames, packets = [], []
    with ServerThread(engine, opts) as st, connect(st.url, compression=None) as c:
        hello = json.loads(c.recv(10))
        assert hello["behaviour"]["blinks"] and hello["protocol"] == P.PROTOCOL_VERSION
        c.send(json.dumps({"type": "subscribe", "formats": ["arkit", "flame", "vertices"]}))
        c.send(json.dumps({"type": "set_behaviour", "blink_rate": 40, "gaze": "auto"}))
        c.send(json.dumps({"type": "start", "sample_rate": sr, "format": "f32le"}))
        c.send(x.astype("<f4").tobytes())
        c.send(json.dumps({"type": "end"}))
        notes = []
        while True:
            m = c.recv(20)
            if isinstance(m, bytes):
                frames.append(P.unpack_frame(m))
            else:
                notes.append(json.loads(m))
                if notes[-1]["type"] == "ended":
                    break
        c.send(json.dumps({"type": "set_behaviour", "articulation": 9}))
        err = json.loads(c.recv(10))
        while True:
            try:
                packets.append(livelink.parse_packet(udp.recv(4096)))
            except socket.timeout:
                break
    udp.close()
    behaviour = next(n for n in notes if n["type"] == "behaviour")
    assert behaviour["blink_rate"] == 40 and behaviour["gaze"] == "auto"
    assert err["type"] == "error" and err["name"] == "bad_field" and "articulation" in err["message"]
    arkit = np.stack([f.arkit for f in frames])
    flame = np.stack([f.flame for f in frames])
    eyes = flame[:, 58:64]  # flame_layout: eye_pose after 52 + 3 + 3
    assert arkit[:, BLINK].max() > 0.8 and arkit[:, LOOK].max() > 0.05
    assert np.abs(eyes).max() > 0.01
    # the vertices move the lids: the lash-line vertices drop during the strongest blink
    k = int(np.argmax(arkit[:, BLINK[0]]))
    assert np.abs(frames[k].vertices - frames[0].vertices).max() > 1e-3
    values = np.stack([p["values"] for p in packets])
    unreal_blink = livelink.UNREAL_ARKIT_ORDER.index("eyeBlinkLeft")
    assert values[:, unreal_blink].max() > 0.8
    assert np.abs(values[:, -6:]).max() > 0.01  # eye yaw/pitch of the last nine values
    assert np.abs(values[:, -9:-6]).std(0).max() > 0.002  # head rotations move


def test_viewer_frames_blink(engine, clip):
    from facestream.viewer import face
    x, sr = clip
    frames = animate_array(engine, x, sr, behaviour={"seed": 2})
    a = np.stack([f.arkit for f in frames])
    k, still = int(np.argmax(a[:, BLINK[0]])), int(np.argmin(a[:, BLINK[0]]))
    closed, opened = face.frame_vertices(engine, frames[k]), face.frame_vertices(engine, frames[still])
    lid = engine.head.expr_dirs[K["eyeBlinkLeft"]]
    moving = np.linalg.norm(lid, axis=1) > 0.5 * np.linalg.norm(lid, axis=1).max()
    assert np.abs(closed[moving] - opened[moving]).max() > 2e-3


def test_viewer_imports_no_training_code():
    code = ("import sys, facestream.viewer.face, facestream.viewer.video, facestream.viewer.session,"
            " facestream.viewer.live, facestream.engine.behaviour;"
            "print(sorted(m for m in sys.modules if m.startswith('facestream.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
