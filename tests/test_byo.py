import pickle

import numpy as np
import pytest
from scipy.io import wavfile

from facestream import vocab
from facestream.training.corpus.byo import (
    ByoDataError, PairDirectory, Vocaset, audio_to_16k, load_pair, open_byo, resample_track,
)

V = 5023  # VOCASET's FLAME mesh


def tone(seconds, sr, f=440.0):
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def write_vocaset(root, seqs=(("FaceTalk_A", "sentence01", 40), ("FaceTalk_A", "sentence02", 30),
                              ("FaceTalk_B", "sentence01", 35)), audio_dtype=np.int16):
    """The VOCASET layout with tiny sequences; vertex x of row r is r (to follow rows)."""
    root.mkdir(parents=True, exist_ok=True)
    n = sum(k for _, _, k in seqs)
    verts = np.zeros((n, V, 3), np.float32)
    verts[:, :, 0] = np.arange(n, dtype=np.float32)[:, None]
    verts[:, :, 1] = np.linspace(-0.1, 0.1, V, dtype=np.float32)[None]
    np.save(root / "data_verts.npy", verts)
    audio, idx, templates, row = {}, {}, {}, 0
    for subj, sent, k in seqs:
        a = tone(k / 60.0, 22000)
        if audio_dtype == np.int16:
            a = (a * 32767).astype(np.int16)
        audio.setdefault(subj, {})[sent] = {"audio": a, "sample_rate": 22000}
        # frame numbers as VOCASET has them: not starting at 0
        idx.setdefault(subj, {})[sent] = {f + 1: row + f for f in range(k)}
        templates[subj] = np.full((V, 3), 0.5, np.float32)
        row += k
    for name, obj in (("raw_audio_fixed.pkl", audio), ("subj_seq_to_idx.pkl", idx),
                      ("templates.pkl", templates)):
        with open(root / name, "wb") as f:
            pickle.dump(obj, f, protocol=2)
    return root


def write_pair(root, name, frames=50, fps=30.0, sr=44100, n_expr=10, seconds=None,
               store_fps=True, **override):
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(frames) / fps
    params = {
        "expression": np.stack([np.sin(t * (k + 1)) for k in range(n_expr)], 1).astype(np.float32),
        "jaw_pose": np.stack([0.2 * t / t[-1], 0 * t, 0 * t], 1).astype(np.float32),
        "neck_pose": np.full((frames, 3), 0.05, np.float32),
        "eye_pose": np.tile(np.array([0.1, 0, 0, -0.1, 0, 0], np.float32), (frames, 1)),
        "shape": np.arange(20, dtype=np.float32) / 20,
        "fps": np.array(fps) if store_fps else None,
    }
    params.update(override)
    params = {k: v for k, v in params.items() if v is not None}
    np.savez(root / f"{name}.npz", **params)
    pcm = (tone(seconds if seconds is not None else frames / fps, sr) * 32767).astype(np.int16)
    wavfile.write(root / f"{name}.wav", sr, np.stack([pcm, pcm], 1))  # stereo on purpose
    return root / f"{name}.wav"


def test_resample_track_linear_at_frame_centres():
    src = np.arange(60, dtype=np.float32)[:, None]  # value = frame number at 60 fps
    out = resample_track(src, np.arange(60) / 60.0, 100)
    t = (np.arange(100) + 0.5) / 100
    np.testing.assert_allclose(out[:, 0], np.clip(t * 60, 0, 59), atol=1e-4)
    assert resample_track(np.ones((1, 4, 3)), np.zeros(1), 7).shape == (7, 4, 3)


def test_audio_to_16k():
    x = audio_to_16k(tone(1.0, 22000), 22000)
    assert x.dtype == np.float32 and len(x) == 16000
    spec = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spec) - 440) <= 1  # 1 Hz bins: the tone is still at 440 Hz
    y = audio_to_16k((tone(0.5, 44100) * 32767).astype(np.int16), 44100)
    assert len(y) == 8000 and 0.45 < np.abs(y).max() < 0.55
    with pytest.raises(ByoDataError, match="shape"):
        audio_to_16k(np.zeros((2, 3, 4)), 16000)


def test_vocaset_layout_loads_and_resamples(tmp_path):
    root = write_vocaset(tmp_path / "voca")
    ds = open_byo(root)
    assert isinstance(ds, Vocaset)
    assert ds.keys() == [("FaceTalk_A", "sentence01"), ("FaceTalk_A", "sentence02"),
                         ("FaceTalk_B", "sentence01")]
    seqs = list(ds)
    assert len(seqs) == 3 and ds.unpaired == []
    s = ds.load("FaceTalk_A", "sentence02")
    assert s.name == "FaceTalk_A/sentence02" and s.subject == "FaceTalk_A"
    assert s.audio.dtype == np.float32 and abs(len(s.audio) - 30 / 60 * 16000) <= 1
    assert s.vertices.shape == (s.num_frames, V, 3) and s.vertices.dtype == np.float32
    assert s.num_frames == -(-len(s.audio) // vocab.HOP_SAMPLES)
    assert s.template.shape == (V, 3) and s.source_fps == 60.0
    # rows 40..69 belong to this sequence; x follows the row linearly at frame centres
    t = (np.arange(s.num_frames) + 0.5) / 100
    np.testing.assert_allclose(s.vertices[:, 0, 0], np.clip(40 + t * 60, 40, 69), atol=1e-3)
    np.testing.assert_allclose(s.vertices[3, :, 1], np.linspace(-0.1, 0.1, V), atol=1e-6)


def test_vocaset_float_audio_and_errors(tmp_path):
    root = write_vocaset(tmp_path / "voca", audio_dtype=np.float32)
    assert np.abs(Vocaset(root).load("FaceTalk_B", "sentence01").audio).max() == \
        pytest.approx(0.5, abs=0.02)
    with pytest.raises(ByoDataError, match="no sequence FaceTalk_C"):
        Vocaset(root).load("FaceTalk_C", "sentence01")

    (root / "templates.pkl").unlink()
    with pytest.raises(ByoDataError, match="missing templates.pkl"):
        Vocaset(root)

    bad = write_vocaset(tmp_path / "short")
    with open(bad / "raw_audio_fixed.pkl", "rb") as f:
        audio = pickle.load(f)
    audio["FaceTalk_A"]["sentence01"]["audio"] = np.zeros(22000 * 3, np.int16)  # 3 s vs 0.67 s
    with open(bad / "raw_audio_fixed.pkl", "wb") as f:
        pickle.dump(audio, f, protocol=2)
    with pytest.raises(ByoDataError, match="frames at 60 fps.*audio lasts 3.00 s"):
        Vocaset(bad).load("FaceTalk_A", "sentence01")
    assert Vocaset(bad, max_length_mismatch_s=5).load("FaceTalk_A", "sentence01").num_frames == 300

    np.save(bad / "data_verts.npy", np.zeros((10, V), np.float32))
    with pytest.raises(ByoDataError, match="N x V x 3"):
        Vocaset(bad)


def test_pickles_cannot_run_code(tmp_path):
    root = write_vocaset(tmp_path / "voca")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(root / "templates.pkl", "wb") as f:
        pickle.dump({"FaceTalk_A": Evil()}, f, protocol=2)
    with pytest.raises(ByoDataError, match="refusing to unpickle builtins.print"):
        Vocaset(root)


def test_pair_directory_loads_flame_parameters(tmp_path):
    d = tmp_path / "pairs"
    write_pair(d, "clip_a", frames=50, fps=30.0)
    write_pair(d / "sub", "clip_b", frames=120, fps=60.0, sr=16000, eye_pose=None, neck_pose=None)
    ds = open_byo(d)
    assert isinstance(ds, PairDirectory) and ds.names() == ["clip_a", "sub/clip_b"]
    a = ds.load("clip_a")
    assert a.audio.dtype == np.float32 and abs(len(a.audio) - 50 / 30 * 16000) <= 1
    T = a.num_frames
    assert a.expression.shape == (T, 10) and a.pose.shape == (T, vocab.POSE_DIM)
    assert a.shape.shape == (20,) and a.source_fps == 30.0
    jaw, neck = a.pose[:, vocab.POSE_SLICES["jaw"]], a.pose[:, vocab.POSE_SLICES["neck"]]
    np.testing.assert_allclose(neck, 0.05, atol=1e-6)
    np.testing.assert_allclose(a.pose[:, vocab.POSE_SLICES["eye_left"]][:, 0], 0.1, atol=1e-6)
    np.testing.assert_allclose(a.pose[:, vocab.POSE_SLICES["eye_right"]][:, 0], -0.1, atol=1e-6)
    assert not a.pose[:, vocab.POSE_SLICES["global"]].any()
    # the jaw ramps linearly over the capture: the resampled track ramps at the same speed
    t = (np.arange(T) + 0.5) / 100
    np.testing.assert_allclose(jaw[:, 0], np.clip(0.2 * t / (49 / 30), 0, 0.2), atol=1e-4)
    np.testing.assert_allclose(a.expression[:, 2], np.sin(3 * np.clip(t, 0, 49 / 30)), atol=3e-3)
    b = ds.load("sub/clip_b")
    assert b.num_frames == 200 and not b.pose[:, vocab.POSE_SLICES["eye_left"]].any()
    assert len(list(ds)) == 2


def test_pair_errors_name_the_problem(tmp_path):
    d = tmp_path / "p"
    wav = write_pair(d, "x")
    (d / "x.npz").unlink()
    with pytest.raises(ByoDataError, match="x.npz is missing"):
        load_pair(wav)
    with pytest.raises(ByoDataError, match="without a partner"):
        PairDirectory(d)
    with pytest.raises(ByoDataError, match="jaw_pose must be T x 3 with T = 50"):
        load_pair(write_pair(d, "y", jaw_pose=np.zeros((49, 3), np.float32)))
    with pytest.raises(ByoDataError, match="lacks expression"):
        load_pair(write_pair(d, "z", expression=None))
    with pytest.raises(ByoDataError, match="no 'fps'"):
        load_pair(write_pair(d, "w", store_fps=False))
    assert load_pair(d / "w.wav", fps=30.0).num_frames > 0
    with pytest.raises(ByoDataError, match="audio lasts 4.00 s"):
        load_pair(write_pair(d, "v", seconds=4.0))
    with pytest.raises(ByoDataError, match="eye_pose must be T x 6"):
        load_pair(write_pair(d, "u", eye_pose=np.zeros((50, 3), np.float32)))
    with pytest.raises(ByoDataError, match="does not exist"):
        open_byo(tmp_path / "nothing")
