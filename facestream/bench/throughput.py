"""Item 4: how many concurrent 30 fps streams one engine sustains with p99 frame latency
under a bound, decoding them batched (`decode_streams`) or one by one (`decode_stream`).

Every stream receives a 20 ms chunk each 20 ms, on a fixed schedule (as a server's clients
would send it). A trial runs the schedule for a few seconds; a frame's latency is the wall
time from its chunk's scheduled arrival to the end of the decode that produced it. A
consumer that falls behind starts late, so its backlog shows as growing latency.
"""
from __future__ import annotations

import time

import numpy as np

from .signals import SAMPLE_RATE, speechlike

CHUNK_MS = 20
FPS = 30
P99_BOUND_MS = 50.0


def run_trial(engine, streams: int, seconds: float, batched: bool) -> dict:
    """Feed `streams` streams in real time for `seconds`; -> latency summary of their frames."""
    n = CHUNK_MS * SAMPLE_RATE // 1000
    ticks = max(1, int(round(seconds * 1000 / CHUNK_MS)))
    audio = speechlike(ticks * CHUNK_MS / 1000.0 + 0.5)
    pool = [engine.create_stream(fps=FPS) for _ in range(streams)]
    offsets = np.random.default_rng(streams).integers(0, int(0.4 * SAMPLE_RATE), streams)
    lat, frames = [], 0
    t0 = time.perf_counter() + 0.005
    for k in range(ticks):
        due = t0 + k * CHUNK_MS / 1000.0
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        for s, off in zip(pool, offsets):
            s.accept_waveform(SAMPLE_RATE, audio[off + k * n: off + (k + 1) * n])
        if batched:
            out = engine.decode_streams(pool)
            done = time.perf_counter()
            got = sum(len(v) for v in out.values())
            lat += [done - due] * got
            frames += got
        else:
            for s in pool:
                got = len(engine.decode_stream(s))
                if got:
                    lat += [time.perf_counter() - due] * got
                    frames += got
    lat_ms = np.asarray(lat) * 1e3
    return {"streams": streams, "frames": frames,
            "p50_ms": float(np.median(lat_ms)) if frames else None,
            "p99_ms": float(np.percentile(lat_ms, 99)) if frames else None,
            "expected_frames": int(streams * ticks * CHUNK_MS * FPS // 1000)}


def _ok(trial: dict) -> bool:
    # Every frame must have come out too: a stalled consumer delivers few, late frames.
    return (trial["p99_ms"] is not None and trial["p99_ms"] < P99_BOUND_MS
            and trial["frames"] >= 0.9 * trial["expected_frames"])


def max_streams(engine, batched: bool, seconds: float, start: int = 8, limit: int = 4096,
                refine: int = 3) -> dict:
    """Double the stream count until a trial fails, then bisect `refine` times.
    -> {max_streams, curve: [trials sorted by streams]}."""
    curve, best, n, bad = [], 0, start, None
    while n <= limit:
        t = run_trial(engine, n, seconds, batched)
        curve.append(t)
        if not _ok(t):
            bad = n
            break
        best, n = n, n * 2
    lo, hi = best, bad
    for _ in range(refine if hi is not None else 0):
        if hi - lo <= max(1, lo // 16):
            break
        mid = (lo + hi) // 2
        t = run_trial(engine, mid, seconds, batched)
        curve.append(t)
        lo, hi = (mid, hi) if _ok(t) else (lo, mid)
    return {"max_streams": lo, "first_failing": hi, "capped_at_limit": hi is None,
            "curve": sorted(curve, key=lambda t: t["streams"])}


def bench_throughput(engine, seconds: float = 5.0) -> dict:
    out = {"fps": FPS, "chunk_ms": CHUNK_MS, "p99_bound_ms": P99_BOUND_MS,
           "trial_seconds": seconds, "threads": engine.backend.session.get_session_options()
           .intra_op_num_threads if hasattr(engine.backend, "session") else None,
           "backend": engine.backend.name}
    for mode, batched in (("batched", True), ("unbatched", False)):
        out[mode] = max_streams(engine, batched, seconds)
    return out


def decode_cost(engine, streams: int, ticks: int = 100, warmup: int = 10) -> dict:
    """Cost of one batched tick: `streams` streams each get a 20 ms chunk, then one
    `decode_streams` call, back to back (no real-time schedule). The model's share is timed
    by wrapping `engine.backend.step`; the rest is per-stream Python/numpy overhead.
    -> medians over `ticks` ticks (ms): decode, model, overhead."""
    n = CHUNK_MS * SAMPLE_RATE // 1000
    audio = speechlike((warmup + ticks) * CHUNK_MS / 1000.0 + 0.5)
    pool = [engine.create_stream(fps=FPS) for _ in range(streams)]
    offsets = np.random.default_rng(streams).integers(0, int(0.4 * SAMPLE_RATE), streams)
    step, model_s = engine.backend.step, []

    def timed_step(*args):
        t = time.perf_counter()
        try:
            return step(*args)
        finally:
            model_s.append(time.perf_counter() - t)

    engine.backend.step = timed_step  # an instance attribute shadows the method; removed below
    decode, model = [], []
    try:
        for k in range(warmup + ticks):
            for s, off in zip(pool, offsets):
                s.accept_waveform(SAMPLE_RATE, audio[off + k * n: off + (k + 1) * n])
            model_s.clear()
            t = time.perf_counter()
            engine.decode_streams(pool)
            if k >= warmup:
                decode.append(time.perf_counter() - t)
                model.append(sum(model_s))
    finally:
        del engine.backend.step
    decode_ms, model_ms = np.median(decode) * 1e3, np.median(model) * 1e3
    return {"streams": streams, "ticks": ticks, "decode_ms": float(decode_ms),
            "model_ms": float(model_ms),
            "overhead_ms": float(np.median(np.subtract(decode, model)) * 1e3)}
