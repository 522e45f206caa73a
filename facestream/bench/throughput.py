"""Item 4: how many concurrent 30 fps streams one engine sustains with p99 frame latency
under a bound, decoding them batched (`decode_arrays`; also sharded over one process per core) or one by one (`decode_stream`).

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
    lat, frames, expected = _feed(engine, streams, seconds, batched, seed=streams)
    return _summary(streams, lat, frames, expected)


def _feed(engine, streams: int, seconds: float, batched: bool, seed: int,
          start_at: float | None = None) -> tuple[list[float], int, int]:
    """The schedule itself, from `start_at` (time.monotonic, a shared clock) or now.
    -> (latency of every frame in s, frames, frames expected). Batched decoding takes the
    frames as arrays (`decode_arrays`): no per-frame Python objects, as a server would."""
    n = CHUNK_MS * SAMPLE_RATE // 1000
    ticks = max(1, int(round(seconds * 1000 / CHUNK_MS)))
    audio = speechlike(ticks * CHUNK_MS / 1000.0 + 0.5)
    pool = [engine.create_stream(fps=FPS) for _ in range(streams)]
    offsets = np.random.default_rng(seed).integers(0, int(0.4 * SAMPLE_RATE), streams)
    lat, frames = [], 0
    t0 = (time.monotonic() + 0.005) if start_at is None else start_at
    for k in range(ticks):
        due = t0 + k * CHUNK_MS / 1000.0
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        for s, off in zip(pool, offsets):
            s.accept_waveform(SAMPLE_RATE, audio[off + k * n: off + (k + 1) * n])
        if batched:
            got = len(engine.decode_arrays(pool))
            done = time.monotonic()
            lat += [done - due] * got
            frames += got
        else:
            for s in pool:
                got = len(engine.decode_stream(s))
                if got:
                    lat += [time.monotonic() - due] * got
                    frames += got
    return lat, frames, int(streams * ticks * CHUNK_MS * FPS // 1000)


def _summary(streams: int, lat: list[float], frames: int, expected: int, **extra) -> dict:
    lat_ms = np.asarray(lat) * 1e3
    return {"streams": streams, "frames": frames,
            "p50_ms": float(np.median(lat_ms)) if frames else None,
            "p99_ms": float(np.percentile(lat_ms, 99)) if frames else None,
            "expected_frames": expected, **extra}


def _shard(model, share: int, seconds: float, seed: int, barrier, results) -> None:
    """One worker process of a sharded trial: its own engine (1 thread) and its share of the
    streams, decoded batched, on the schedule every worker starts together."""
    from ..engine.stream import Engine
    engine = Engine(model, backend="onnxruntime", threads=1)
    _feed(engine, share, 0.2, True, seed)  # warm-up (sessions, allocations)
    barrier.wait()
    results.put(_feed(engine, share, seconds, True, seed, start_at=time.monotonic() + 0.05))


def run_sharded_trial(model, streams: int, seconds: float, workers: int) -> dict:
    """`streams` streams split over `workers` processes (one per core, 1 onnxruntime thread
    each), each decoding its share batched: how a server would use a machine's cores, since
    one Python thread serialises the per-stream work between model calls."""
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    shares = [streams // workers + (i < streams % workers) for i in range(workers)]
    procs = [ctx.Process(target=_shard, args=(str(model), sh, seconds, streams + i, barrier, results),
                         daemon=True) for i, sh in enumerate(shares)]
    for p in procs:
        p.start()
    try:
        parts = [results.get(timeout=120 + 4 * seconds) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return _summary(streams, [x for lat, _, _ in parts for x in lat], sum(f for _, f, _ in parts),
                    sum(e for _, _, e in parts), workers=workers)


def _ok(trial: dict) -> bool:
    # Every frame must have come out too: a stalled consumer delivers few, late frames.
    return (trial["p99_ms"] is not None and trial["p99_ms"] < P99_BOUND_MS
            and trial["frames"] >= 0.9 * trial["expected_frames"])


def max_streams(trial, start: int = 8, limit: int = 4096, refine: int = 3) -> dict:
    """Double the stream count until a trial (streams -> summary) fails, then bisect
    `refine` times. -> {max_streams, curve: [trials sorted by streams]}."""
    curve, best, n, bad = [], 0, start, None
    while n <= limit:
        t = trial(n)
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
        t = trial(mid)
        curve.append(t)
        lo, hi = (mid, hi) if _ok(t) else (lo, mid)
    return {"max_streams": lo, "first_failing": hi, "capped_at_limit": hi is None,
            "curve": sorted(curve, key=lambda t: t["streams"])}


def bench_throughput(engine, seconds: float = 5.0, workers: int | None = None) -> dict:
    """Modes: batched (one process, `engine`'s threads), sharded (`workers` processes, one
    per core by default, each batched with 1 thread), unbatched (one stream per model call).
    best_batched: the larger of the two batched counts."""
    import os
    workers = workers or os.cpu_count() or 1
    out = {"fps": FPS, "chunk_ms": CHUNK_MS, "p99_bound_ms": P99_BOUND_MS,
           "trial_seconds": seconds, "threads": engine.backend.session.get_session_options()
           .intra_op_num_threads if hasattr(engine.backend, "session") else None,
           "backend": engine.backend.name, "workers": workers}
    out["batched"] = max_streams(lambda n: run_trial(engine, n, seconds, True))
    out["sharded"] = max_streams(lambda n: run_sharded_trial(engine.model_path, n, seconds, workers),
                                 start=64)
    out["unbatched"] = max_streams(lambda n: run_trial(engine, n, seconds, False))
    out["best_batched"] = max(out["batched"]["max_streams"], out["sharded"]["max_streams"])
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
            engine.decode_arrays(pool)
            if k >= warmup:
                decode.append(time.perf_counter() - t)
                model.append(sum(model_s))
    finally:
        del engine.backend.step
    decode_ms, model_ms = np.median(decode) * 1e3, np.median(model) * 1e3
    return {"streams": streams, "ticks": ticks, "decode_ms": float(decode_ms),
            "model_ms": float(model_ms),
            "overhead_ms": float(np.median(np.subtract(decode, model)) * 1e3)}
