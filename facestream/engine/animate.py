"""`facestream animate IN -o OUT`: audio file or microphone -> per-frame face parameters
(.npz, .json, .csv) or an animated glTF take (.glb, .gltf: exporters/gltf.py). `--input mic`
records until Ctrl-C or `--seconds N`.

The CSV follows Live Link Face's layout (Timecode, BlendShapeCount, then its blendshape
columns and head/eye rotations), so Unreal's importers read it.
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path

import numpy as np

from .. import formats, vocab
from ..formats import read_audio  # noqa: F401  (the one definition; importable from here too)
from .behaviour import BLINK_RATE_REST, BehaviourOptions, parse_gaze
from .options import add_engine_arguments, open_engine
from .sources import AudioSourceError
from .stream import Engine, Frame

def animate_array(engine: Engine, samples: np.ndarray, sample_rate: int, *, fps: int = 30,
                  chunk_ms: float = 20.0, emotion="neutral", intensity=0.0, smoothing=False,
                  vertices=False, behaviour: BehaviourOptions | dict | None = None) -> list[Frame]:
    """Stream an array through the engine in chunks of `chunk_ms`, as a live source would."""
    s = engine.create_stream(fps=fps, emotion=emotion, intensity=intensity,
                             smoothing=smoothing, vertices=vertices, behaviour=behaviour)
    step = max(1, int(sample_rate * chunk_ms / 1000))
    frames: list[Frame] = []
    for i in range(0, len(samples), step):
        s.accept_waveform(sample_rate, samples[i:i + step])
        frames += engine.decode_stream(s)
    s.input_finished()
    return frames + engine.decode_stream(s)


def animate_source(engine: Engine, source, *, max_seconds: float | None = None,
                   stop: threading.Event | None = None, **stream_options):
    """Yield frames while a source (MicSource, FileSource, PushSource) delivers audio, until
    it ends, `max_seconds` of its audio have been read, or `stop` is set; then flush the
    look-ahead. If the source fails, the frames of the audio read before are yielded first
    and its AudioSourceError is raised after them."""
    s = engine.create_stream(**stream_options)
    limit = None if max_seconds is None else int(round(max_seconds * source.sample_rate))
    got, error = 0, None
    try:
        while not (stop is not None and stop.is_set()) and (limit is None or got < limit):
            block = source.read(timeout=0.1)
            if block is None:
                break
            if limit is not None:
                block = block[:limit - got]
            got += len(block)
            s.accept_waveform(source.sample_rate, block)
            yield from engine.decode_stream(s)
    except AudioSourceError as e:
        error = e
    s.input_finished()
    yield from engine.decode_stream(s)
    if error is not None:
        raise error


OUTPUT_TYPES = (".npz", ".json", ".csv", ".glb", ".gltf")


def write_frames(frames: list[Frame], out: str | Path, fps: int, head_name: str,
                 engine: Engine | None = None, audio: tuple[np.ndarray, int] | None = None) -> Path:
    """Write frames by `out`'s type: .npz/.json/.csv (`formats.write_frame_file`) or a glTF
    take (.glb/.gltf), which needs the `engine` (its head); `audio` (samples, rate) is written
    beside a take as `<stem>.wav`."""
    out = Path(out)
    if out.suffix in (".glb", ".gltf"):
        from ..exporters.gltf import write_take
        if engine is None:
            raise ValueError("a glTF take is the head animated: pass the engine (engine=)")
        out.parent.mkdir(parents=True, exist_ok=True)
        return write_take(out, engine, frames, fps, audio=audio)["take"]
    if out.suffix not in OUTPUT_TYPES:
        raise ValueError(f"unknown output type {out.suffix!r}: use {', '.join(OUTPUT_TYPES)}")
    return formats.write_frame_file(out, frames, fps, head_name)


def parse_emotion(text: str):
    """'happy' or a mixture 'happy:0.7,surprised:0.3'."""
    if ":" not in text:
        return text
    mix = {}
    for part in text.split(","):
        name, _, w = part.partition(":")
        try:
            mix[name.strip()] = float(w)
        except ValueError:
            raise ValueError(f"bad emotion mixture {text!r}: write name:weight,name:weight") from None
    return mix


def add_behaviour_arguments(p) -> None:
    """The behaviour flags of animate, render, live and serve (engine/behaviour.py)."""
    g = p.add_argument_group("behaviour (blinks, gaze, head motion, brows, mouth strength)")
    g.add_argument("--no-blinks", action="store_true", help="no spontaneous blinks")
    g.add_argument("--blink-rate", type=float, default=BLINK_RATE_REST,
                   help=f"blinks per minute at rest (default {BLINK_RATE_REST:g}; talking adds more)")
    g.add_argument("--gaze", default="auto", help="auto (at the camera while listening, averted "
                   "while talking), camera, off, or YAW,PITCH degrees (+: subject's left, up)")
    g.add_argument("--head-motion", type=float, default=1.0,
                   help="idle head motion and accent nods, x the default (0: the model's only)")
    g.add_argument("--brows", type=float, default=1.0, help="brow raises on accents (0: none)")
    g.add_argument("--articulation", type=float, default=1.0,
                   help="mouth strength: < 1 damps the speech, > 1 exaggerates it (0..2)")
    g.add_argument("--seed", type=int, default=0, help="random seed of blinks, gaze and head")


def behaviour_options(args) -> BehaviourOptions:
    """The flags of `add_behaviour_arguments` -> options (errors name the flag's rule)."""
    return BehaviourOptions(blinks=not args.no_blinks, blink_rate=args.blink_rate,
                            gaze=parse_gaze(args.gaze), head=args.head_motion, brows=args.brows,
                            articulation=args.articulation, seed=args.seed)


def add_parser(sub) -> None:
    p = sub.add_parser("animate", help="animate a face from an audio file or a microphone")
    p.add_argument("input", nargs="?", help="audio file (WAV, FLAC, OGG)")
    p.add_argument("--input", dest="input_option", metavar="mic|FILE",
                   help="'mic' records from a microphone (until Ctrl-C or --seconds)")
    p.add_argument("--device", help="microphone: index or name substring (`facestream devices`)")
    p.add_argument("--seconds", type=float, help="microphone: stop after this much audio")
    from .sources import MIC_BLOCK_MS
    p.add_argument("--block-ms", type=float, default=MIC_BLOCK_MS, help="microphone block length")
    p.add_argument("--sample-rate", type=int, help="microphone rate; default: the device's")
    p.add_argument("-o", "--output", required=True,
                   help=".npz, .json, .csv (Live Link Face), or .glb/.gltf (an animated glTF take)")
    p.add_argument("--audio", action="store_true",
                   help="glTF take: also write the speech beside it as OUT.wav (glTF has no audio)")
    p.add_argument("--emotion", default="neutral", help="name, or mixture happy:0.7,sad:0.3")
    p.add_argument("--intensity", default="0.5", help="0..1 or auto")
    p.add_argument("--fps", type=int, default=30, choices=vocab.OUTPUT_FPS)
    p.add_argument("--chunk-ms", type=float, default=20.0)
    p.add_argument("--smooth", action="store_true", help="One Euro smoothing")
    p.add_argument("--vertices", action="store_true", help="store vertices (.npz only)")
    add_engine_arguments(p)
    add_behaviour_arguments(p)
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    import time
    if Path(args.output).suffix not in OUTPUT_TYPES:
        raise ValueError(f"unknown output type {Path(args.output).suffix!r}: use "
                         f"{', '.join(OUTPUT_TYPES)}")
    if args.audio and Path(args.output).suffix not in (".glb", ".gltf"):
        raise ValueError("--audio goes with a .glb/.gltf take (the other outputs are data only)")
    if args.input and args.input_option:
        raise ValueError("give the input once: a file, or --input mic / --input FILE")
    args.input = args.input or args.input_option
    if not args.input:
        raise ValueError("no input: give an audio file, or --input mic to record")
    if args.input == "mic" and args.audio:
        raise ValueError("--audio writes an input file's speech beside the take; a microphone "
                         "recording is not kept: record to a WAV first, then animate it")
    if args.input != "mic" and (args.device or args.seconds or args.sample_rate):
        raise ValueError("--device, --seconds and --sample-rate belong to --input mic")
    if args.seconds is not None and not 0 < args.seconds <= 24 * 3600:
        raise ValueError(f"--seconds must be within (0, 86400], got {args.seconds}")
    engine = open_engine(args)
    if not 1.0 <= args.chunk_ms <= 2000.0:
        raise ValueError(f"--chunk-ms must be within 1..2000, got {args.chunk_ms}")
    intensity = "auto" if args.intensity == "auto" else float(args.intensity)
    behaviour = behaviour_options(args)
    if args.input == "mic":
        return _record(engine, args, dict(fps=args.fps, emotion=parse_emotion(args.emotion),
                                          intensity=intensity, smoothing=args.smooth,
                                          vertices=args.vertices, behaviour=behaviour))
    samples, sr = formats.read_audio(args.input)
    t0 = time.perf_counter()
    frames = animate_array(engine, samples, sr, fps=args.fps, chunk_ms=args.chunk_ms,
                           emotion=parse_emotion(args.emotion), intensity=intensity,
                           smoothing=args.smooth, vertices=args.vertices, behaviour=behaviour)
    dt = time.perf_counter() - t0
    out = write_frames(frames, args.output, args.fps, engine.head.name, engine,
                       (samples, sr) if args.audio else None)
    dur = len(samples) / sr
    print(f"{len(frames)} frames at {args.fps} fps ({dur:.2f} s of audio, {dur / dt:.0f}x real "
          f"time on {engine.backend.name}; algorithmic latency {engine.latency_ms:.0f} ms) -> {out}")
    return 0


def _record(engine: Engine, args, stream_options: dict) -> int:
    """Microphone -> frames -> file. The first Ctrl-C ends the recording and still writes the
    output; a second one aborts."""
    from .sources import MicSource
    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    main = threading.current_thread() is threading.main_thread()  # signals reach only it
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    frames, error = [], None
    try:
        with MicSource(args.device, args.sample_rate, block_ms=args.block_ms) as mic:
            until = f"{args.seconds:g} s" if args.seconds else "Ctrl-C"
            print(f"recording from {mic.name} at {mic.sample_rate} Hz, {args.block_ms:g} ms "
                  f"blocks, until {until}", flush=True)
            try:
                for f in animate_source(engine, mic, max_seconds=args.seconds, stop=stop,
                                        **stream_options):
                    frames.append(f)
            except AudioSourceError as e:
                error = e
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    seconds = mic.frames_read / mic.sample_rate
    if not frames:
        raise error or AudioSourceError(f"no audio was recorded from {mic.name}")
    out = write_frames(frames, args.output, args.fps, engine.head.name, engine)
    print(f"{len(frames)} frames at {args.fps} fps from {seconds:.2f} s of audio "
          f"({mic.overflows} blocks lost to overflow) -> {out}")
    if mic.overflows:
        print(f"warning: {mic.overflows} audio blocks were lost (the machine fell behind the "
              "microphone): try a larger --block-ms or fewer threads elsewhere")
    if error is not None:
        raise AudioSourceError(f"{error} (the {seconds:.2f} s recorded before it are in {out})")
    return 0
