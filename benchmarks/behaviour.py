"""Cost of the engine's behaviour (blinks, gaze, head, brows: engine/behaviour.py) per output
frame, and its share of one stream's per-chunk decode time.

    .venv/bin/python benchmarks/behaviour.py                 # 30 fps, 20 ms chunks
    .venv/bin/python benchmarks/behaviour.py --fps 60 --repeats 5

Two rows: `Behaviour.step` alone over 5 minutes of frames (speech and silence levels, a still
model face), and `Engine.decode_stream` per 20 ms chunk of the bundled clip with every
behaviour on vs every behaviour off (the same model calls; the difference is the behaviour).
Medians over repeats: the machine is shared.
"""
import argparse
import time

import numpy as np

from facestream import vocab
from facestream.engine.animate import read_audio
from facestream.engine.behaviour import Behaviour, BehaviourOptions
from facestream.engine.stream import Engine
from facestream.viewer.video import example_clip_path

ALL_OFF = dict(blinks=False, gaze="off", head=0.0, brows=0.0)


def step_us(fps: int, seconds: float = 300.0) -> float:
    """Microseconds per Behaviour.step over speech-like levels (4 Hz syllables, pauses)."""
    t = np.arange(int(seconds * fps)) / fps
    levels = np.where(np.sin(2 * np.pi * 0.2 * t) > -0.3,
                      -40 + 22 * np.sin(2 * np.pi * 4 * t) ** 2, -75.0)
    b = Behaviour(BehaviourOptions(), fps)
    emotion = np.eye(vocab.NUM_EMOTIONS, dtype=np.float32)[0]
    arkit, jaw, neck = (np.zeros(n, np.float32) for n in (vocab.NUM_ARKIT, 3, 3))
    t0 = time.perf_counter()
    for level in levels:
        b.step(arkit, jaw, neck, float(level), emotion, 0.0)
    return 1e6 * (time.perf_counter() - t0) / len(levels)


def chunk_ms(engine: Engine, x: np.ndarray, sr: int, fps: int, behaviour: dict) -> float:
    """Median ms of decode_stream per 20 ms chunk of x."""
    s = engine.create_stream(fps=fps, behaviour=behaviour)
    step, times = sr // 50, []
    for i in range(0, len(x) - step, step):
        s.accept_waveform(sr, x[i:i + step])
        t0 = time.perf_counter()
        engine.decode_stream(s)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fps", type=int, default=30, choices=vocab.OUTPUT_FPS)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    engine = Engine(backend="onnxruntime", threads=1)
    x, sr = read_audio(example_clip_path())
    x = np.tile(x, 4)
    per_frame = float(np.median([step_us(args.fps) for _ in range(args.repeats)]))
    on = float(np.median([chunk_ms(engine, x, sr, args.fps, {}) for _ in range(args.repeats)]))
    off = float(np.median([chunk_ms(engine, x, sr, args.fps, ALL_OFF) for _ in range(args.repeats)]))
    frames_per_chunk = args.fps * 0.02
    print(f"fps={args.fps}  repeats={args.repeats}")
    print("| what | cost |")
    print("|---|--:|")
    print(f"| Behaviour.step, all on | {per_frame:.1f} µs/frame |")
    print(f"| its share of a 20 ms chunk | {per_frame * frames_per_chunk / 1e3:.3f} ms/chunk "
          f"({100 * per_frame * frames_per_chunk / 1e3 / off:.1f}% of decode_stream) |")
    print(f"| decode_stream per 20 ms chunk, behaviour on / off | {on:.3f} / {off:.3f} ms |")
