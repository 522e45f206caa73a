"""Item 2: algorithmic latency, from the model's metadata and measured by an onset test.

Measured: silence, then a vowel switched on at one sample, fed in hop-sized chunks. The
delay is the audio that had to arrive after the onset before the engine handed out the
first frame that responds (see `signals.first_response`): audio time, no wall clock. With
look-ahead that frame may show a moment just before the onset (frame_offset < 0), so the
delay until the frame showing the onset's own time is reported too. The
onset is moved across the output frame and hop grid over the trials.
"""
from __future__ import annotations

import numpy as np

from .. import audio as faudio
from .. import vocab
from .signals import SAMPLE_RATE, first_response, onset_signal

SILENCE_S, BURST_S = 1.0, 0.4


def metadata_latency(info) -> dict:
    """What the exported model says: the hop a frame waits for plus its look-ahead; the
    analysis window's older part lies in the past and adds nothing."""
    hop_ms = 1000.0 * vocab.HOP_SAMPLES / SAMPLE_RATE
    return {"algorithmic_ms": info.latency_ms, "hop_ms": hop_ms,
            "lookahead_frames": info.lookahead, "lookahead_ms": info.lookahead * hop_ms,
            "frontend_window_ms": 1000.0 * faudio.WIN_SAMPLES / SAMPLE_RATE,
            "frontend_past_ms": 1000.0 * faudio.CONTEXT_SAMPLES / SAMPLE_RATE}


def onset_trial(engine, fps: int, shift: int, chunk: int = vocab.HOP_SAMPLES) -> dict | None:
    """One onset `shift` samples later than a whole second; -> {delay_ms, frame_offset_ms}."""
    x, onset = onset_signal(SILENCE_S + shift / SAMPLE_RATE, BURST_S)
    stream = engine.create_stream(fps=fps)
    fed, rows, stamps = [], [], []
    for i in range(0, len(x), chunk):
        stream.accept_waveform(SAMPLE_RATE, x[i:i + chunk])
        for f in engine.decode_stream(stream):
            fed.append(min(i + chunk, len(x)))
            rows.append(f.arkit)
            stamps.append(f.timestamp)
    fed, stamps = np.asarray(fed), np.asarray(stamps)
    baseline = (stamps > 0.3) & (stamps < onset / SAMPLE_RATE - 0.1)
    after = (fed > onset) & (stamps < (onset / SAMPLE_RATE) + BURST_S)
    k = first_response(np.asarray(rows), baseline, after)
    at = np.nonzero(stamps >= onset / SAMPLE_RATE)[0]  # the frames showing the onset's time
    if k is None or not at.size:
        return None
    return {"delay_ms": 1000.0 * (fed[k] - onset) / SAMPLE_RATE,
            "frame_offset_ms": 1000.0 * (stamps[k] - onset / SAMPLE_RATE),
            "onset_frame_delay_ms": 1000.0 * (fed[at[0]] - onset) / SAMPLE_RATE}


def bench_onset(engine, trials: int = 12) -> dict:
    """Metadata latency and the measured onset-to-frame delay at each output frame rate."""
    out = {"metadata": metadata_latency(engine.info), "measured": {},
           "method": "silence then a vowel burst switched on at one sample, fed in 10 ms "
                     "chunks; delay = audio after the onset when the first responding frame "
                     "(10% of the burst's peak excursion) leaves the engine; onset_frame: the same for the "
                     "first frame whose timestamp is at or after the onset"}
    for fps in vocab.OUTPUT_FPS:
        grid = SAMPLE_RATE // fps  # samples per output frame (rounded down)
        shifts = np.linspace(0, grid, trials, endpoint=False).astype(int)
        res = [r for r in (onset_trial(engine, fps, int(s)) for s in shifts) if r is not None]
        if not res:
            out["measured"][str(fps)] = {"skipped": "the model never responded to the burst"}
            continue
        d = np.array([r["delay_ms"] for r in res])
        o = np.array([r["frame_offset_ms"] for r in res])
        at = np.array([r["onset_frame_delay_ms"] for r in res])
        out["measured"][str(fps)] = {
            "trials": len(res), "median_ms": float(np.median(d)), "min_ms": float(d.min()),
            "max_ms": float(d.max()), "frame_offset_median_ms": float(np.median(o)),
            "onset_frame_median_ms": float(np.median(at)), "onset_frame_max_ms": float(at.max())}
    return out
