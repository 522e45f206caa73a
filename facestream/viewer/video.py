"""`facestream render IN.wav -o OUT.mp4`: offscreen video of the animated head, audio muxed in.

    facestream render speech.wav -o out/speech.mp4                      # one panel
    facestream render speech.wav -o out/cls.mp4 --layout emo-cls --size 384 --sheet out/cls.png
    facestream render speech.wav -o out/rec.mp4 --frames rec.npz       # frames from animate/live

Layouts follow the seed paper's comparison videos (one labelled panel each):
  single   the chosen emotion and intensity
  audio    speech-driven with the emotion | without emotion
  emo-cls  one panel per emotion (vocab.EMOTION_NAMES) at the chosen intensity
  emo-ist  one emotion at rising intensities (EMO_IST_LEVELS)
  fusion   lips from the speech with the emotion's expression laid on by the corpus' fusion
           rule (engine.expressive.apply_emotion; what the model was trained to imitate) | neutral
Every panel hears the same audio and, from the same seed, blinks, looks and moves its head
at the same moments (the engine's behaviour, `--gaze`, `--no-blinks`, ...). Frames come from the
streaming engine (exactly what a live stream would show) and are rendered through EGL, then
encoded by imageio-ffmpeg's ffmpeg (H.264 + AAC); the video has ceil(duration x fps) frames.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import vocab
from ..formats import read_audio, read_frame_file, write_wav
from ..engine.animate import add_behaviour_arguments, animate_array, behaviour_options, parse_emotion
from ..engine.options import add_engine_arguments, open_engine
from ..engine.behaviour import BehaviourOptions
from ..engine.stream import Engine
from . import face

LAYOUTS = ("single", "audio", "emo-cls", "emo-ist", "fusion")
LAYOUT_COLUMNS = {"single": 1, "audio": 2, "emo-cls": 4, "emo-ist": 5, "fusion": 2}
EMO_IST_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_EMOTION = {"single": "neutral", "audio": "happy", "emo-cls": None, "emo-ist": "happy",
                   "fusion": "happy"}
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")
MIN_SIZE, MAX_SIZE = 32, 4096  # pixels per panel side
SHEET_FRAMES = (8, 4)  # moments in the contact sheet: one panel, several panels
SHEET_PANEL_WIDTH = 256  # pixels of a panel in the contact sheet, at most
BACKGROUND = (0.93, 0.94, 0.96)


def example_clip_path() -> Path:
    """The bundled example clip (scripts/make_example_clip.py made it)."""
    from importlib import resources
    return Path(str(resources.files("facestream") / "assets" / "example_speech.flac"))


@dataclass(frozen=True)
class Panel:
    label: str
    emotion: object  # name, or {name: weight} mixture
    intensity: float | str  # 0..1 or "auto"
    fuse: bool = False  # neutral speech + the emotion's expression by the fusion rule


def emotion_label(emotion) -> str:
    if isinstance(emotion, dict):
        total = sum(emotion.values()) or 1.0
        return " + ".join(f"{k} {100 * w / total:.0f}%" for k, w in emotion.items())
    return vocab.EMOTION_NAMES[vocab.emotion_index(emotion)]


def layout_panels(layout: str, emotion=None, intensity: float | str | None = None) -> list[Panel]:
    """The panels of a layout, in reading order."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if emotion is None:
        emotion = DEFAULT_EMOTION[layout]
    if intensity is None:
        intensity = 1.0
    if intensity != "auto":
        intensity = float(intensity)
        if not (math.isfinite(intensity) and 0.0 <= intensity <= 1.0):
            raise ValueError(f"intensity must be within [0, 1] or 'auto', got {intensity}")
    tag = "auto" if intensity == "auto" else f"{intensity:.2f}"
    if layout == "emo-cls":
        if emotion is not None:
            raise ValueError("emo-cls shows every emotion: drop --emotion")
        return [Panel(name, name, intensity) for name in vocab.EMOTION_NAMES]
    name = emotion_label(emotion)
    if layout == "single":
        return [Panel(f"{name} {tag}", emotion, intensity)]
    if name == "neutral":
        raise ValueError(f"layout {layout} compares an emotion with none: pass --emotion "
                         f"(one of {', '.join(vocab.EMOTION_NAMES[1:])})")
    if layout == "audio":
        return [Panel(f"speech + {name} {tag}", emotion, intensity),
                Panel("speech, no emotion", "neutral", 0.0)]
    if layout == "emo-ist":
        if intensity != 1.0:
            raise ValueError(f"emo-ist sweeps the intensity over {EMO_IST_LEVELS}: drop --intensity")
        return [Panel(f"{name} {x:.2f}", emotion, x) for x in EMO_IST_LEVELS]
    return [Panel(f"speech lips + {name} {tag} (fusion)", emotion, intensity, fuse=True),
            Panel("speech, neutral", "neutral", 0.0)]


def parse_size(text: str | int) -> tuple[int, int]:
    """'512' or '640x480' -> (width, height) of one panel."""
    try:
        parts = [int(p) for p in str(text).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(MIN_SIZE <= p <= MAX_SIZE for p in parts):
        raise ValueError(f"bad size {text!r}: give N or WxH, each within {MIN_SIZE}..{MAX_SIZE} "
                         "pixels (the size of one panel)")
    return parts[0], parts[1]


# ---- tracks -----------------------------------------------------------------------------------
def panel_tracks(engine: Engine, samples: np.ndarray, sr: int, panels: list[Panel],
                 fps: int, behaviour: BehaviourOptions | None = None) -> list[dict[str, np.ndarray]]:
    """Per panel: arkit T x 52, jaw_pose/neck_pose T x 3, eye_pose T x 6. Panels with the same
    condition share one engine run; every track has the same T."""
    from ..engine.expressive import apply_emotion

    runs: dict[str, dict[str, np.ndarray]] = {}

    def run(emotion, intensity):
        key = repr((emotion, intensity))
        if key not in runs:
            frames = animate_array(engine, samples, sr, fps=fps, emotion=emotion,
                                   intensity=intensity, behaviour=behaviour)
            runs[key] = face.frames_arrays(frames)
            runs[key]["intensity"] = np.array([f.intensity for f in frames], np.float32)
        return runs[key]

    tracks = []
    for p in panels:
        if not p.fuse:
            tracks.append(run(p.emotion, p.intensity))
            continue
        speech = run("neutral", p.intensity)  # "auto": the fusion follows the voice's arousal
        inten = speech["intensity"] if p.intensity == "auto" else p.intensity
        j = vocab.ARKIT_INDEX["jawOpen"]
        arkit, jaw_open = apply_emotion(speech["arkit"], speech["arkit"][:, j], p.emotion, inten)
        jaw = speech["jaw_pose"].copy()
        jaw[:, 0] += (jaw_open - speech["arkit"][:, j]) * vocab.JAW_OPEN_MAX_RAD
        tracks.append(dict(speech, arkit=arkit, jaw_pose=jaw))
    n = min(len(t["arkit"]) for t in tracks)
    return [{k: v[:n] for k, v in t.items()} for t in tracks]


# ---- pictures ---------------------------------------------------------------------------------
class Canvas:
    """The composite frame: panels in a grid (the last row centred), a caption under each when
    there is more than one. Captions are drawn once; each frame only pastes panels."""

    def __init__(self, labels: list[str], columns: int, size: tuple[int, int]):
        from PIL import Image, ImageDraw

        from .sheet import caption_font
        w, h = size
        n = len(labels)
        columns = min(columns, n)
        rows = -(-n // columns)
        self.cap = 0 if n == 1 else max(16, h // 12) // 2 * 2
        width, height = columns * w, rows * (h + self.cap)
        # H.264 4:2:0 needs even dimensions: pad with background instead of refusing a size
        self.size = (width + width % 2, height + height % 2)
        bg = tuple(int(round(255 * c)) for c in BACKGROUND)
        img = Image.new("RGB", self.size, bg)
        draw = ImageDraw.Draw(img)
        font = caption_font(max(10, int(self.cap * 0.7))) if self.cap else None
        self.origins = []
        for i, label in enumerate(labels):
            r, c = divmod(i, columns)
            in_row = min(columns, n - r * columns)
            x = (width - in_row * w) // 2 + c * w
            y = r * (h + self.cap)
            self.origins.append((x, y))
            if self.cap:
                tw = draw.textlength(label, font=font)
                draw.text((x + (w - tw) / 2, y + h + self.cap * 0.1), label, fill=(30, 30, 30),
                          font=font)
        self.base = np.asarray(img).copy()
        self.frame = self.base.copy()
        self.panel = (w, h)

    def paste(self, i: int, img: np.ndarray) -> None:
        x, y = self.origins[i]
        w, h = self.panel
        self.frame[y:y + h, x:x + w] = img


class Progress:
    """A one-line progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self, total: int, what: str, enabled: bool = True):
        self.total, self.what, self.enabled = max(1, total), what, enabled
        self.t0 = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        frac = done / self.total
        step = int(frac * (40 if self.tty else 10))
        if step == self.shown and done < self.total:
            return
        self.shown = step
        dt = time.perf_counter() - self.t0
        rate = done / dt if dt > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        bar = "#" * int(frac * 30) + "-" * (30 - int(frac * 30))
        line = f"{self.what} [{bar}] {done}/{self.total} frames, {rate:.1f} fps, eta {eta:.0f} s"
        sys.stderr.write(("\r" + line) if self.tty else line + "\n")
        if self.tty and done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _check_output(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"unknown video type {out.suffix!r}: name the output {out.stem}.mp4 "
                         f"(or {', '.join(VIDEO_SUFFIXES[1:])})")
    return out


def render_video(audio: str | Path, out: str | Path, *, layout: str = "single", emotion=None,
                 intensity: float | str | None = None, size: str | int = 512, fps: int = 30,
                 head: str | Path | None = None, frames: str | Path | None = None,
                 sheet: str | Path | None = None, samples: int = 4,
                 behaviour: BehaviourOptions | dict | None = None,
                 progress: bool = True, engine: Engine | None = None) -> dict:
    """Render `audio` animated in `layout` to the video `out` (with the audio); see the module
    docstring. `frames`: a frames .npz to show instead of running the model (single layout);
    behaviour: blinks, gaze, head, brows, articulation and seed of every panel's stream.
    Returns paths, sizes and timings."""
    import imageio_ffmpeg
    from .render import Renderer
    from .sheet import contact_sheet

    t0 = time.perf_counter()
    out = _check_output(out)
    w, h = parse_size(size)
    if frames is None and fps not in vocab.OUTPUT_FPS:
        raise ValueError(f"fps must be one of {vocab.OUTPUT_FPS}, got {fps}")
    panels = layout_panels(layout, emotion, intensity)
    x, sr = read_audio(audio, allow_silent=frames is not None)  # a muted recording is fine
    engine = engine if engine is not None else Engine(head=head)
    if frames is not None:
        if layout != "single":
            raise ValueError("--frames shows one recorded track: use --layout single")
        track, fps = read_frame_file(frames)
        panels = [Panel(Path(frames).stem, "neutral", 0.0)]
        tracks = [track]
    else:
        tracks = panel_tracks(engine, x, sr, panels, fps, BehaviourOptions.from_any(behaviour))
    t_model = time.perf_counter() - t0
    n = len(tracks[0]["arkit"])
    canvas = Canvas([p.label for p in panels], LAYOUT_COLUMNS[layout], (w, h))
    renderer = Renderer(engine.head, w, h, samples=samples, background=BACKGROUND)
    moments = SHEET_FRAMES[len(panels) > 1]
    keep = set(np.linspace(0, n - 1, min(n, moments)).round().astype(int)) if sheet else set()
    kept: list[tuple[int, list[np.ndarray]]] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    bar = Progress(n, f"rendering {out.name}", enabled=progress)
    t_render = t_encode = 0.0
    with tempfile.TemporaryDirectory(prefix="facestream-render-") as tmp:
        wav = os.path.join(tmp, "audio.wav")
        write_wav(wav, x, sr)
        writer = imageio_ffmpeg.write_frames(
            str(out), canvas.size, fps=fps, codec="libx264", quality=7, macro_block_size=1,
            audio_path=wav, audio_codec="aac", ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"])
        writer.send(None)
        try:
            for i0 in range(0, n, face.FORWARD_BATCH):
                sl = slice(i0, min(n, i0 + face.FORWARD_BATCH))
                t = time.perf_counter()
                verts = [face.track_vertices(engine, tr["arkit"][sl], tr["jaw_pose"][sl],
                                             tr["neck_pose"][sl], tr["eye_pose"][sl])
                         for tr in tracks]
                for k in range(sl.stop - sl.start):
                    imgs = [renderer.render(v[k]) for v in verts]
                    for p, img in enumerate(imgs):
                        canvas.paste(p, img)
                    t_render += time.perf_counter() - t
                    t = time.perf_counter()
                    writer.send(canvas.frame)
                    if i0 + k in keep:
                        kept.append((i0 + k, imgs))
                    t_encode += time.perf_counter() - t
                    t = time.perf_counter()
                    bar.update(i0 + k + 1)
        finally:
            renderer.release()
            t = time.perf_counter()
            writer.close()
            t_encode += time.perf_counter() - t
    result = {"video": str(out), "frames": n, "fps": fps, "duration_s": n / fps,
              "audio_s": len(x) / sr, "size": list(canvas.size), "panels": len(panels),
              "layout": layout, "model_s": t_model, "render_s": t_render, "encode_s": t_encode}
    if sheet:
        # one row per moment, one column per panel (a single panel: four moments a row)
        from PIL import Image
        scale = min(1.0, SHEET_PANEL_WIDTH / w)
        small, labels = [], []
        for i, imgs in kept:
            for p, img in zip(panels, imgs):
                small.append(np.asarray(Image.fromarray(img).resize(
                    (round(w * scale), round(h * scale)), Image.LANCZOS)))
                labels.append(f"{i / fps:.2f} s" if len(panels) == 1
                              else f"{p.label}, {i / fps:.2f} s")
        contact_sheet(small, labels, columns=len(panels) if len(panels) > 1 else 4, path=sheet,
                      title=f"facestream render {Path(audio).name}: {layout}")
        result["sheet"] = str(sheet)
    result["total_s"] = time.perf_counter() - t0
    return result


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="render an audio file to a video of the talking head")
    p.add_argument("input", help="audio file (WAV, FLAC, OGG)")
    p.add_argument("-o", "--output", required=True, help="video file to write (.mp4)")
    p.add_argument("--layout", default="single", choices=LAYOUTS,
                   help="single | audio (emotion vs none) | emo-cls (every emotion) | "
                        "emo-ist (rising intensity) | fusion (speech lips + expression vs neutral)")
    p.add_argument("--emotion", help="name or mixture happy:0.7,sad:0.3 (default per layout)")
    p.add_argument("--intensity", help="0..1 or auto (default 1)")
    p.add_argument("--size", default="512", help="pixels of one panel: N or WxH (default 512)")
    p.add_argument("--fps", type=int, default=30, choices=vocab.OUTPUT_FPS)
    add_engine_arguments(p)
    p.add_argument("--frames", help="show frames from `facestream animate -o X.npz` or a live "
                                    "recording instead of running the model")
    p.add_argument("--sheet", help="also write a PNG contact sheet of frames from the video")
    p.add_argument("--samples", type=int, default=4, help="multisampling (antialiasing) samples")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_behaviour_arguments(p)
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    intensity = args.intensity
    if intensity is not None and intensity != "auto":
        try:
            intensity = float(intensity)
        except ValueError:
            raise ValueError(f"--intensity must be a number in [0, 1] or auto, got {intensity!r}") \
                from None
    emotion = None if args.emotion is None else parse_emotion(args.emotion)
    r = render_video(args.input, args.output, layout=args.layout, emotion=emotion,
                     intensity=intensity, size=args.size, fps=args.fps, engine=open_engine(args),
                     frames=args.frames, sheet=args.sheet, samples=args.samples,
                     behaviour=behaviour_options(args), progress=not args.quiet)
    print(f"video: {r['video']} ({r['frames']} frames at {r['fps']} fps, {r['size'][0]}x"
          f"{r['size'][1]}, {r['panels']} panel{'s' if r['panels'] > 1 else ''}, "
          f"{r['duration_s']:.2f} s with {r['audio_s']:.2f} s of audio)")
    if "sheet" in r:
        print(f"contact sheet: {r['sheet']}")
    print(f"timing: model {r['model_s']:.1f} s, render {r['render_s']:.1f} s "
          f"({1e3 * r['render_s'] / r['frames']:.0f} ms/frame), encode {r['encode_s']:.1f} s, "
          f"total {r['total_s']:.1f} s")
    return 0
