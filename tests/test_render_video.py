"""`facestream render`: engine frames drawn offscreen, panels per layout, the mp4's streams."""
import re
import subprocess

import numpy as np
import pytest

from facestream import formats
from facestream import vocab
from facestream.viewer import video

pytest.importorskip("moderngl", reason="rendering needs the viewer extra")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The first 1.5 s of the bundled clip (speech from ~0.1 s on), as a WAV."""
    import soundfile as sf
    x, sr = sf.read(str(video.example_clip_path()), dtype="float32")
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    formats.write_wav(path, x[: int(1.5 * sr)], sr)
    return path


@pytest.fixture(scope="module")
def engine():
    from facestream.engine.stream import Engine
    return Engine()


# ---- layouts (no GL) ----------------------------------------------------------------------------
@pytest.mark.parametrize("layout,count", [("single", 1), ("audio", 2), ("emo-cls", 7),
                                          ("emo-ist", len(video.EMO_IST_LEVELS)), ("fusion", 2)])
def test_layout_panel_counts_and_labels(layout, count):
    panels = video.layout_panels(layout)
    assert len(panels) == count
    assert len({p.label for p in panels}) == count, "every panel has its own label"
    if layout == "emo-cls":
        assert [p.emotion for p in panels] == list(vocab.EMOTION_NAMES)
    if layout == "emo-ist":
        assert [p.intensity for p in panels] == list(video.EMO_IST_LEVELS)


def test_bad_layouts_sizes_and_options_are_refused():
    with pytest.raises(ValueError, match="expected one of"):
        video.layout_panels("grid")
    with pytest.raises(ValueError, match="pass --emotion"):
        video.layout_panels("audio", emotion="neutral")
    with pytest.raises(ValueError, match="drop --emotion"):
        video.layout_panels("emo-cls", emotion="sad")
    with pytest.raises(ValueError, match="within"):
        video.layout_panels("single", intensity=1.5)
    for bad in ("0", "12", "axb", "100x", "9000"):
        with pytest.raises(ValueError, match="bad size"):
            video.parse_size(bad)
    assert video.parse_size("640x360") == (640, 360)


def test_canvas_grid_centres_the_last_row_and_is_even():
    c = video.Canvas([str(i) for i in range(7)], 4, (65, 49))
    assert c.size[0] % 2 == 0 and c.size[1] % 2 == 0
    assert c.origins[:4] == [(0, 0), (65, 0), (130, 0), (195, 0)]
    assert c.origins[4][0] == 65 // 2 and c.origins[4][1] == 49 + c.cap
    assert video.Canvas(["only"], 1, (64, 48)).size == (64, 48), "one panel: no caption"


def test_bad_inputs_are_refused_before_rendering(tmp_path, clip):
    with pytest.raises(FileNotFoundError):
        video.render_video(tmp_path / "missing.wav", tmp_path / "x.mp4")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="cannot read"):
        video.render_video(junk, tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="unknown video type"):
        video.render_video(clip, tmp_path / "x.gif")
    with pytest.raises(ValueError, match="not a frames"):
        video.render_video(clip, tmp_path / "x.mp4", frames=junk)


# ---- rendering --------------------------------------------------------------------------------
def _foreground(img):
    return np.abs(img.astype(int) - img[0, 0].astype(int)).sum(2) > 30


def _probe(path):
    """(video frames, video seconds, audio seconds) decoded by imageio-ffmpeg's ffmpeg."""
    import imageio_ffmpeg
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    assert re.search(r"Stream #0:\d.*: Video: h264", info), info
    assert re.search(r"Stream #0:\d.*: Audio: aac", info), info
    nframes, vsecs = imageio_ffmpeg.count_frames_and_secs(str(path))
    log = subprocess.run([exe, "-hide_banner", "-i", str(path), "-map", "0:a:0", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", log)[-1]
    return nframes, vsecs, int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("layout", video.LAYOUTS)
def test_each_layout_renders_its_panels_with_audio_in_sync(layout, clip, engine, tmp_path):
    import imageio_ffmpeg
    out = tmp_path / f"{layout}.mp4"
    r = video.render_video(clip, out, layout=layout, size=96, engine=engine, progress=False,
                           sheet=tmp_path / f"{layout}.png")
    panels = video.layout_panels(layout)
    assert r["panels"] == len(panels)
    nframes, vsecs, asecs = _probe(out)
    assert nframes == r["frames"] == int(np.ceil(1.5 * 30 - 1e-6))
    assert abs(nframes / 30 - 1.5) <= 1 / 30
    # AAC frames are 64 ms at 16 kHz: the audio ends within one of them of the video
    assert abs(asecs - nframes / 30) < 0.07, (asecs, nframes)
    # a face in every panel of a decoded frame, and background between the grid's cells
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    w, h = meta["size"]
    frame = np.frombuffer(next(reader), np.uint8).reshape(h, w, 3)
    reader.close()
    canvas = video.Canvas([p.label for p in panels], video.LAYOUT_COLUMNS[layout], (96, 96))
    assert (w, h) == canvas.size
    for x0, y0 in canvas.origins:
        cell = frame[y0:y0 + 96, x0:x0 + 96]
        assert 0.1 < _foreground(cell).mean() < 0.8, f"no face in the panel at {(x0, y0)}"
    assert (tmp_path / f"{layout}.png").exists()
