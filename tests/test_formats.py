"""facestream.formats: the one home of audio files, PCM scaling, frame files and Live Link's
two layouts."""
import csv

import numpy as np
import pytest

from facestream import formats, vocab
from facestream.engine.frames import Frame


def frames(n=12, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = rng.random(52).astype(np.float32)
        out.append(Frame(seq=i, timestamp=i / 30, arkit=a, expression=a,
                         jaw_pose=rng.normal(size=3).astype(np.float32) * 0.1,
                         neck_pose=rng.normal(size=3).astype(np.float32) * 0.1,
                         eye_pose=rng.normal(size=6).astype(np.float32) * 0.1,
                         emotion=np.eye(vocab.NUM_EMOTIONS, dtype=np.float32)[i % 3],
                         intensity=0.5))
    return out


def test_pcm16_round_trip_is_exact_and_clips():
    pcm = np.arange(-32768, 32768, 7, dtype=np.int16)
    assert np.array_equal(formats.float_to_pcm16(formats.pcm16_to_float(pcm)), pcm)
    assert formats.float_to_pcm16(np.array([1.0, -1.0, 2.0, -3.0])).tolist() == \
        [32767, -32768, 32767, -32768]


def test_wav_written_reads_back(tmp_path):
    x = (0.5 * np.sin(np.arange(1600) / 5)).astype(np.float32)
    path = formats.write_wav(tmp_path / "a.wav", x, 16000)
    y, sr = formats.read_audio(path)
    assert sr == 16000 and np.abs(y - x).max() <= 1 / 32768


@pytest.mark.parametrize("content, match", [
    (None, "not found"), (b"not audio at all", "cannot read"), ("silent", "silent")])
def test_bad_audio_files_are_named(tmp_path, content, match):
    path = tmp_path / "x.wav"
    if content == "silent":
        formats.write_wav(path, np.zeros(1600, np.float32), 16000)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        formats.read_audio(path)
    if content == "silent":
        assert formats.read_audio(path, allow_silent=True)[1] == 16000


def test_live_link_layouts():
    """Packets: Unreal's enum (jawLeft, jawRight); CSV: the app's columns (JawRight, JawLeft);
    the same 52 names otherwise, and one rotation layout for both."""
    csv_names = [c[0].lower() + c[1:] for c in formats.LIVE_LINK_CSV_COLUMNS]
    assert sorted(csv_names) == sorted(formats.LIVE_LINK_ORDER) == sorted(vocab.ARKIT_NAMES)
    swapped = [i for i, (a, b) in enumerate(zip(csv_names, formats.LIVE_LINK_ORDER)) if a != b]
    assert [formats.LIVE_LINK_ORDER[i] for i in swapped] == ["jawLeft", "jawRight", "mouthLeft",
                                                            "mouthRight"]
    rot = formats.live_link_rotations([0.1, 0.2, 0.3], [1, 2, 3, 4, 5, 6])
    assert rot.tolist() == pytest.approx([0.2, 0.1, 0.3, 2, 1, 3, 5, 4, 6])


def test_frame_files_round_trip(tmp_path):
    fr = frames()
    track, fps = formats.read_frame_file(formats.write_frame_file(tmp_path / "t.npz", fr, 30, "h"))
    assert fps == 30
    for k in ("arkit", "jaw_pose", "neck_pose", "eye_pose"):
        assert np.array_equal(track[k], np.stack([getattr(f, k) for f in fr]))
    rows = list(csv.reader(open(formats.write_frame_file(tmp_path / "t.csv", fr, 30, "h"))))
    head, body = rows[0], rows[1:]
    assert len(body) == len(fr) and head[:2] == ["Timecode", "BlendShapeCount"]
    col = head.index("JawLeft")
    assert float(body[3][col]) == pytest.approx(fr[3].arkit[vocab.ARKIT_INDEX["jawLeft"]], abs=1e-5)
    assert float(body[3][head.index("LeftEyeRoll")]) == pytest.approx(fr[3].eye_pose[2], abs=1e-5)
    with pytest.raises(ValueError, match="unknown frame file type"):
        formats.write_frame_file(tmp_path / "t.txt", fr, 30, "h")
    (tmp_path / "bad.npz").write_bytes(b"zip?")
    with pytest.raises(ValueError, match="not a frames .npz"):
        formats.read_frame_file(tmp_path / "bad.npz")
