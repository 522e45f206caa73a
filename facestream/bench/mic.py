"""Item 3: microphone-to-frame latency through a PulseAudio virtual microphone.

    python -m facestream.bench.mic --onsets 20      # prints one JSON line

The whole path a user runs with `facestream animate --input mic --device pulse`: vowel
bursts written into the pipe source, PulseAudio, ALSA, PortAudio, `MicSource` and the
engine (`animate_source`). Latency: wall clock from writing a burst's first sample into the
source to the first responding frame (signals.first_response) leaving the engine. A real
microphone adds its own block time before that point. The measurement runs in a child
process because PortAudio must start after the private daemon's address is in the
environment.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from ..formats import float_to_pcm16
from .signals import first_response, vowel
from .stats import skipped

DEFAULT_CONFIG = "animate defaults (16 kHz when offered, 10 ms blocks)"
CONFIGS = {  # label -> MicSource options: animate's defaults, and the engine's own rate
    DEFAULT_CONFIG: {"sample_rate": None, "block_ms": None},
    "16 kHz, 5 ms blocks": {"sample_rate": 16000, "block_ms": 5.0},
}
BURST_S, GAP_S, PREROLL_S = 0.4, 1.0, 1.5


def measure(engine, mic, onsets: int, sample_rate: int | None, block_ms: float | None) -> dict:
    """Play `onsets` bursts into the virtual mic while the engine animates `MicSource`
    (block_ms None: MicSource's default, what `facestream animate --input mic` uses)."""
    from ..engine.animate import animate_source
    from ..engine.sources import MIC_BLOCK_MS, MicSource
    block_ms = MIC_BLOCK_MS if block_ms is None else block_ms
    burst = float_to_pcm16(vowel(BURST_S))
    stop, ids = threading.Event(), []

    def player():
        time.sleep(PREROLL_S)
        for _ in range(onsets):
            ids.append(mic.play(burst))
            time.sleep(BURST_S + GAP_S)
        time.sleep(0.5)
        stop.set()

    emitted, arkit = [], []
    with MicSource("pulse", sample_rate, block_ms=block_ms) as src:
        t = threading.Thread(target=player, name="facestream-bench-player", daemon=True)
        t.start()
        for frame in animate_source(engine, src, stop=stop, fps=30):
            emitted.append(time.perf_counter())
            arkit.append(frame.arkit)
        t.join(PREROLL_S + onsets * (BURST_S + GAP_S) + 1)
        rate, lost = src.sample_rate, src.overflows
    out = _latencies(np.asarray(emitted), np.asarray(arkit),
                     [mic.written[i] for i in ids if i in mic.written])
    return {**out, "sample_rate": rate, "block_ms": block_ms, "blocks_lost": lost}


def _latencies(emitted: np.ndarray, arkit: np.ndarray, writes: list[float]) -> dict:
    lat = []
    for w in writes:
        baseline = (emitted > w - GAP_S + 0.3) & (emitted < w - 0.05)
        after = (emitted > w) & (emitted < w + BURST_S + 0.2)
        k = first_response(arkit, baseline, after)
        if k is not None:
            lat.append(emitted[k] - w)
    if not lat:
        return skipped("no frame responded to the bursts played into the virtual microphone")
    ms = np.asarray(lat) * 1e3
    return {"onsets": len(writes), "responded": len(lat), "p50_ms": float(np.median(ms)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def child(onsets: int) -> dict:
    from .pulse import PacedWriter, PulseServer
    with tempfile.TemporaryDirectory(prefix="facestream-pulse-") as tmp, PulseServer(tmp) as pulse:
        from ..engine.stream import Engine
        from .compute import model_paths
        engine = Engine(model_paths()["onnx"], backend="onnxruntime", threads=1)
        mic = PacedWriter(pulse.fifo)
        try:
            return {label: measure(engine, mic, onsets, **opts) for label, opts in CONFIGS.items()}
        finally:
            mic.close()


def bench_mic(onsets: int = 20) -> dict:
    """Run the measurement in a child process; -> {config: {p50_ms, p99_ms, ...}} or a skip."""
    import importlib.util
    from .pulse import pulse_missing
    reason = pulse_missing()
    if reason is None and importlib.util.find_spec("sounddevice") is None:
        reason = "sounddevice not installed (pip install 'facestream[mic]')"
    if reason is None and importlib.util.find_spec("facestream.engine.sources") is None:
        reason = "facestream.engine.sources (MicSource) is not in this tree"
    if reason:
        return skipped(reason)
    timeout = 60 + len(CONFIGS) * (PREROLL_S + onsets * (BURST_S + GAP_S) + 10)
    proc = subprocess.run([sys.executable, "-m", "facestream.bench.mic", "--onsets", str(onsets)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return skipped(f"the virtual-microphone run failed: {tail}")
    return {"method": "wall clock from writing a vowel burst's first sample into a PulseAudio "
                      "pipe source to the first responding frame leaving the engine "
                      "(MicSource + animate_source, onnxruntime 1 thread)",
            "configs": json.loads(proc.stdout.strip().splitlines()[-1])}


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(prog="python -m facestream.bench.mic", description=__doc__.split("\n")[0])
    ap.add_argument("--onsets", type=int, default=20, help="bursts per configuration")
    print(json.dumps(child(ap.parse_args().onsets)))
