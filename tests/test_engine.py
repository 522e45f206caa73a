"""The streaming engine: chunking and sample rates are invisible, batching is exact,
emotion transitions are smooth, smoothing smooths, vertices follow the parameters, bad input
is refused with a clear message. Runs as users run the engine: numpy + onnxruntime, on a tiny
committed ONNX model (tests/make_tiny_model.py), no torch."""
from pathlib import Path

import numpy as np
import pytest
import soxr

from facestream import vocab
from facestream.engine.stream import Engine

TINY_MODEL = Path(__file__).parent / "data" / "tiny_model.onnx"


@pytest.fixture(scope="module")
def engine():
    return Engine(TINY_MODEL)


def test_tiny_model_fixture_is_current(tmp_path):
    """The committed fixture is byte for byte what the exporter writes today (torch only)."""
    pytest.importorskip("torch", reason="re-exporting the fixture needs torch")
    pytest.importorskip("onnx", reason="re-exporting the fixture needs onnx")
    import make_tiny_model
    fresh = make_tiny_model.export(tmp_path / "tiny.onnx")
    assert fresh.read_bytes() == TINY_MODEL.read_bytes(), (
        "tests/data/tiny_model.onnx is stale: run `.venv/bin/python tests/make_tiny_model.py`")


@pytest.fixture(scope="module")
def audio():
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (rng.random(t.size) > 0.3)
            + 0.05 * rng.normal(size=t.size)).astype(np.float32)


def run(engine, chunks, sr=16000, **opts):
    s = engine.create_stream(**opts)
    frames = []
    for c in chunks:
        s.accept_waveform(sr, c)
        frames += engine.decode_stream(s)
    s.input_finished()
    return frames + engine.decode_stream(s)


def arr(frames):
    return np.stack([f.arkit for f in frames])


def test_frames_cover_the_audio_at_the_asked_rate(engine, audio):
    for fps in (30, 60):
        frames = run(engine, [audio], fps=fps)
        assert len(frames) == 2 * fps
        assert [f.seq for f in frames] == list(range(2 * fps))
        assert frames[1].timestamp == pytest.approx(1 / fps)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_chunkings_give_the_same_frames(engine, audio, seed):
    whole = arr(run(engine, [audio]))
    rng = np.random.default_rng(seed)
    parts = np.split(audio, np.sort(rng.choice(len(audio), 40, replace=False)))
    assert np.abs(arr(run(engine, parts)) - whole).max() < 1e-4


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_other_sample_rates_stream_like_offline_resampling(engine, audio, sr):
    x = soxr.resample(audio, 16000, sr)
    offline = arr(run(engine, [soxr.resample(x, sr, 16000)]))
    rng = np.random.default_rng(sr)
    parts = np.split(x, np.sort(rng.choice(len(x), 25, replace=False)))
    streamed = arr(run(engine, parts, sr=sr))
    assert len(streamed) == len(offline)
    assert np.abs(streamed - offline).max() < 1e-3


def test_int16_and_multichannel_input(engine, audio):
    ref = arr(run(engine, [audio]))
    i16 = np.round(audio * 32767).astype(np.int16)
    assert np.abs(arr(run(engine, [i16])) - ref).max() < 2e-3
    stereo = np.stack([audio, audio], axis=1).astype(np.float64)
    assert np.abs(arr(run(engine, [stereo])) - ref).max() < 1e-4


def test_batched_decode_equals_single(engine, audio):
    ref = arr(run(engine, [audio]))
    streams = [engine.create_stream() for _ in range(3)]
    for k, s in enumerate(streams):
        s.accept_waveform(16000, audio[: 16000 + 160 * k])
    out = engine.decode_streams(streams)
    for k, s in enumerate(streams):
        s.accept_waveform(16000, audio[16000 + 160 * k:])
        s.input_finished()
    out2 = engine.decode_streams(streams)
    for s in streams:
        got = arr(out[id(s)] + out2[id(s)])
        assert np.abs(got - ref).max() < 1e-4


def frame_fields(f):
    return np.concatenate([f.arkit, f.expression, f.jaw_pose, f.neck_pose, f.eye_pose, f.emotion,
                           [f.intensity, f.timestamp, f.seq]])


def test_batched_decode_equals_each_stream_alone_over_many_ticks(engine, audio):
    """Streams with different settings, chunk sizes and emotion changes, decoded batched (a
    changing subset each tick, sometimes one alone, one reset midway) give the frames each
    gives decoded alone: batching shares state arrays, so it must not leak between streams."""
    opts = [{}, {"intensity": "auto"}, {"emotion": "happy", "intensity": 0.7, "smoothing": True},
            {"fps": 60}, {"intensity": "auto", "smoothing": True, "fps": 60}]
    rng = np.random.default_rng(7)
    audio = np.concatenate([audio, audio[::-1]])  # 4 s: enough for 120 ticks of up to 700
    batched = [engine.create_stream(**o) for o in opts]
    alone = [engine.create_stream(**o) for o in opts]
    got, want = [[] for _ in opts], [[] for _ in opts]
    pos = [0] * len(opts)
    changes = [("angry", 0.9, 0.3), ("sad", "auto", 0.1), ({"happy": 0.5, "sad": 0.5}, None, 0.0),
               ("neutral", 0.2, 0.5)]
    for tick in range(120):
        for i in range(len(opts)):
            # A change applies from the next undecoded step: make it where both twins stand.
            if batched[i].ready_frames == 0 and rng.random() < 0.1:
                emotion, intensity, transition = changes[int(rng.integers(len(changes)))]
                for s in (batched[i], alone[i]):
                    s.set_emotion(emotion, intensity, transition=transition)
            n = int(rng.integers(0, 700))
            chunk = audio[pos[i]:pos[i] + n]
            pos[i] += n
            for s in (batched[i], alone[i]):
                s.accept_waveform(16000, chunk)
            want[i] += engine.decode_stream(alone[i])
        if tick == 60:  # a reset stream starts over; the others must not notice
            for s in (batched[2], alone[2]):
                s.reset()
            got[2], want[2] = [], []
        subset = [k for k in range(len(opts)) if rng.random() < 0.8]
        if tick % 25 == 7 and subset:
            k = subset.pop()
            got[k] += engine.decode_stream(batched[k])
        out = engine.decode_streams([batched[k] for k in subset])
        for k in subset:
            got[k] += out[id(batched[k])]
    for i in range(len(opts)):
        for s in (batched[i], alone[i]):
            s.input_finished()
        want[i] += engine.decode_stream(alone[i])
    out = engine.decode_streams(batched)
    for i in range(len(opts)):
        got[i] += out[id(batched[i])]
        assert len(got[i]) == len(want[i]) > 30
        assert [f.seq for f in got[i]] == [f.seq for f in want[i]]
        for g, w in zip(got[i], want[i]):
            assert g.arkit.dtype == w.arkit.dtype == np.float32
            np.testing.assert_allclose(frame_fields(g), frame_fields(w), rtol=0, atol=1e-6)


def test_emotion_transition_is_smooth_and_reaches_its_target(engine, audio):
    s = engine.create_stream(fps=60)
    s.accept_waveform(16000, audio[:8000])
    frames = engine.decode_stream(s)
    s.set_emotion("happy", 0.9, transition=0.5)
    s.accept_waveform(16000, audio[8000:])
    s.input_finished()
    frames += engine.decode_stream(s)
    inten = np.array([f.intensity for f in frames])
    happy = np.array([f.emotion[vocab.emotion_index("happy")] for f in frames])
    assert inten[0] == 0.0 and inten[-1] == pytest.approx(0.9)
    assert happy[-1] == pytest.approx(1.0)
    assert np.abs(np.diff(inten)).max() < 0.9 / 0.5 / 60 * 2  # no jump: spread over the transition
    assert np.all(np.diff(inten) >= -1e-6)


def test_auto_intensity_follows_loudness(engine, audio):
    """intensity="auto": within [0, 1], higher in loud speech than in quiet speech."""
    quiet = audio * 0.02
    frames = run(engine, [np.concatenate([quiet, audio])], intensity="auto")
    inten = np.array([f.intensity for f in frames])
    half = len(inten) // 2
    assert np.all((inten >= 0) & (inten <= 1))
    assert inten[half + 10:].mean() > inten[10:half].mean() + 0.05


def test_smoothing_smooths(engine, audio):
    """One Euro smoothing lowers frame-to-frame jitter and keeps the track where it was."""
    opts = dict(fps=60, behaviour={"blinks": False}, seed=1)
    rough = arr(run(engine, [audio], **opts))
    smooth = arr(run(engine, [audio], smoothing=True, **opts))
    jitter = lambda a, n: np.abs(np.diff(a, n=n, axis=0)).mean()  # noqa: E731
    assert rough.shape == smooth.shape
    assert jitter(smooth, 1) < 0.9 * jitter(rough, 1)  # slower changes
    assert jitter(smooth, 2) < 0.75 * jitter(rough, 2)  # and far less frame-to-frame shake
    assert np.abs(smooth.mean(0) - rough.mean(0)).max() < 0.05  # no drift, no lag offset


def test_vertices_on_request_follow_the_parameters(engine, audio):
    """A frame's vertices are the head's face layer at that frame's parameters (as
    `engine.vertices(frame)` computes them), and jaw opening moves the chin down."""
    frames = run(engine, [audio[:8000]], vertices=True)
    head = engine.head
    assert frames[0].vertices.shape == (head.num_vertices, 3)
    for f in frames[::5]:
        np.testing.assert_allclose(f.vertices, engine.vertices(f), atol=1e-5)
    f = frames[len(frames) // 2]
    rest = engine.vertices(type(f)(**{**f.__dict__, "jaw_pose": np.zeros(3, np.float32),
                                      "vertices": None}))
    opened = engine.vertices(type(f)(**{**f.__dict__, "vertices": None,
                                        "jaw_pose": np.array([0.3, 0, 0], np.float32)}))
    moved = np.linalg.norm(opened - rest, axis=1)
    assert moved.max() > 1e-3  # metres: the chin drops millimetres
    assert (moved > 1e-4).mean() < 0.5  # and only the lower face moves


@pytest.mark.parametrize("bad, rate, match", [
    (np.array([0.0, np.nan]), 16000, "NaN"),
    (np.zeros((2, 2, 2)), 16000, "shape"),
    (np.zeros(10), 0, "sample_rate"),
    (np.zeros(10), 10_000_000, "sample_rate"),
    (np.array(["a"]), 16000, "unsupported sample type"),
])
def test_bad_input_is_refused_and_the_stream_survives(engine, audio, bad, rate, match):
    s = engine.create_stream()
    s.accept_waveform(16000, audio[:1600])
    with pytest.raises(ValueError, match=match):
        s.accept_waveform(rate, bad)
    s.accept_waveform(16000, audio[1600:3200])  # nothing was lost or corrupted
    s.input_finished()
    assert len(engine.decode_stream(s)) == 6


def test_bad_settings(engine):
    s = engine.create_stream()
    with pytest.raises(ValueError, match="unknown emotion"):
        s.set_emotion("bored")
    with pytest.raises(ValueError, match="intensity"):
        s.set_emotion("happy", 1.5)
    with pytest.raises(ValueError, match="fps"):
        engine.create_stream(fps=25)
    with pytest.raises(FileNotFoundError):
        Engine("/nonexistent/model.onnx")
