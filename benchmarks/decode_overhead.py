"""Per-tick cost of the batched decode (`Engine.decode_arrays`), split into the model's share
and the per-stream Python/numpy overhead, for several stream counts; `--sections` also says
where the overhead goes.

    .venv/bin/python benchmarks/decode_overhead.py                     # B = 1, 50, 100, 200
    .venv/bin/python benchmarks/decode_overhead.py --streams 200 --threads 2 --repeats 5
    .venv/bin/python benchmarks/decode_overhead.py --streams 1 256 --sections

Each tick gives every stream a 20 ms chunk and makes one decode call; the table holds medians
over ticks, then the median over repeats (the machine is shared: repeat). The measurement is
`facestream.bench.throughput.decode_cost`. `--sections` times the engine's own steps by
wrapping them (each wrapper costs ~0.3 us per call, so read the small rows as upper bounds):
`accept_waveform`, the model call, the rest of `_step` (taking audio, levels, conditioning,
track rows), `_frames` split into `_due` (which frames are due), `Behaviour.step` and the
rest (blending, clipping, eye poses, `Frames`).
"""
import argparse
import time

import numpy as np

from facestream.bench.signals import SAMPLE_RATE, speechlike
from facestream.bench.throughput import CHUNK_MS, FPS, decode_cost
from facestream.engine import behaviour, stream
from facestream.engine.stream import Engine, Stream


def sections(engine: Engine, streams: int, ticks: int = 200, warmup: int = 20) -> dict:
    """Median ms per tick of each part of `streams` streams' accept_waveform + decode_arrays."""
    acc: dict[str, float] = {}

    def wrap(owner, name, label):
        f = getattr(owner, name)

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                acc[label] = acc.get(label, 0.0) + time.perf_counter() - t
        setattr(owner, name, timed)
        return f

    saved = [(engine.backend, "step", wrap(engine.backend, "step", "model")),
             (engine, "_step", wrap(engine, "_step", "_step")),
             (engine, "_frames", wrap(engine, "_frames", "_frames")),
             (Stream, "_due", wrap(Stream, "_due", "due")),
             (Stream, "accept_waveform", wrap(Stream, "accept_waveform", "accept")),
             (behaviour.Behaviour, "step", wrap(behaviour.Behaviour, "step", "behaviour"))]
    try:
        n = CHUNK_MS * SAMPLE_RATE // 1000
        audio = speechlike((warmup + ticks) * CHUNK_MS / 1000.0 + 0.5)
        pool = [engine.create_stream(fps=FPS) for _ in range(streams)]
        offsets = np.random.default_rng(streams).integers(0, int(0.4 * SAMPLE_RATE), streams)
        per_tick = []
        for k in range(warmup + ticks):
            acc.clear()
            t = time.perf_counter()
            for s, off in zip(pool, offsets):
                s.accept_waveform(SAMPLE_RATE, audio[off + k * n: off + (k + 1) * n])
            engine.decode_arrays(pool)
            if k >= warmup:
                per_tick.append({"total": time.perf_counter() - t, **acc})
    finally:
        for owner, name, f in saved:
            if owner is engine or owner is engine.backend:
                delattr(owner, name)  # the instance attribute shadowed the method
            else:
                setattr(owner, name, f)
    for d in per_tick:  # (a tick where no stream had a frame due calls no behaviour)
        d.setdefault("behaviour", 0.0)
        d["step_rest"] = d["_step"] - d["model"]
        d["frames_rest"] = d["_frames"] - d["due"] - d["behaviour"]
    keys = ("total", "accept", "model", "step_rest", "due", "behaviour", "frames_rest")
    return {"streams": streams, **{k: float(np.median([d[k] for d in per_tick])) * 1e3 for k in keys}}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, nargs="+", default=[1, 50, 100, 200])
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--ticks", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", help="an exported model (default: the shipped one)")
    p.add_argument("--sections", action="store_true", help="also where the time goes")
    args = p.parse_args()
    engine = Engine(args.model, backend="onnxruntime", threads=args.threads)
    print(f"threads={args.threads}  ticks={args.ticks}  repeats={args.repeats}")
    print("| streams | decode ms/tick | model ms/tick | overhead ms/tick |")
    print("|--:|--:|--:|--:|")
    for b in args.streams:
        runs = [decode_cost(engine, b, args.ticks) for _ in range(args.repeats)]
        med = {k: float(np.median([r[k] for r in runs])) for k in ("decode_ms", "model_ms", "overhead_ms")}
        print(f"| {b} | {med['decode_ms']:.2f} | {med['model_ms']:.2f} | {med['overhead_ms']:.2f} |",
              flush=True)
    if args.sections:
        cols = ("total", "accept", "model", "step_rest", "due", "behaviour", "frames_rest")
        print("\nms per tick (median; accept_waveform of every stream + one decode_arrays), "
              "per stream in us below each")
        print("| streams | " + " | ".join(cols) + " |")
        print("|--:|" + "--:|" * len(cols))
        for b in args.streams:
            runs = [sections(engine, b, 2 * args.ticks) for _ in range(args.repeats)]
            med = {k: float(np.median([r[k] for r in runs])) for k in cols}
            print(f"| {b} | " + " | ".join(f"{med[k]:.3f} ({1e3 * med[k] / b:.1f} us)" for k in cols) + " |",
                  flush=True)
