"""Item 1: compute per audio chunk for each backend, median / p99 / max.

Two costs per chunk: the model step alone (`backend.step`) and the whole engine path a user
pays (`accept_waveform` + `decode_stream`, frames included). Backends: onnxruntime on one
thread and on all cores, TorchScript and eager torch on one thread, CUDA where present.
TorchScript is exported from the shipped checkpoint into a temporary folder.
"""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import vocab
from .signals import SAMPLE_RATE, speechlike
from .stats import skipped, summarize

CHUNKS_MS = (10, 20, 40)


def model_paths() -> dict[str, Path]:
    from ..engine.stream import default_model_path
    onnx = default_model_path()
    return {"onnx": onnx, "checkpoint": onnx.with_suffix(".pt")}


def _torch_reason() -> str | None:
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install 'facestream[train]')"
    return None


def _export_torchscript(checkpoint: Path, folder: Path) -> Path:
    from ..exporters.export import export_torchscript
    from ..training.checkpoint import load_checkpoint
    net, blob = load_checkpoint(checkpoint)
    return export_torchscript(net, folder / "model_ts.pt", head=blob.get("head", ""))


def _cuda_reasons() -> dict[str, str | None]:
    try:
        import onnxruntime as ort
        ort_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        ort_cuda = False
    return {"onnxruntime-cuda": None if ort_cuda else
            "onnxruntime has no CUDAExecutionProvider here (the gpu extra on a GPU machine)"}


@contextmanager
def engines():
    """Yield [(label, threads, Engine or skip reason)] for every backend, CPU then CUDA."""
    from ..engine.stream import Engine
    paths = model_paths()
    cores = os.cpu_count() or 1
    specs: list[tuple[str, int, object]] = []
    with tempfile.TemporaryDirectory(prefix="facestream-bench-") as tmp:
        specs.append(("onnxruntime", 1, lambda: Engine(paths["onnx"], backend="onnxruntime", threads=1)))
        specs.append((f"onnxruntime ({cores} threads)", cores,
                      lambda: Engine(paths["onnx"], backend="onnxruntime", threads=cores)))
        reason = _torch_reason() or (None if paths["checkpoint"].exists() else
                                     f"no checkpoint at {paths['checkpoint']}")
        specs.append(("torchscript", 1, reason or (lambda: Engine(
            _export_torchscript(paths["checkpoint"], Path(tmp)), backend="torchscript", threads=1))))
        from ..training.backend import register  # the eager torch backend
        register()
        specs.append(("torch (eager)", 1, reason or (lambda: Engine(
            paths["checkpoint"], backend="torch", threads=1))))
        cuda = _cuda_reasons()["onnxruntime-cuda"]
        specs.append(("onnxruntime-cuda", 1, cuda or (lambda: Engine(
            paths["onnx"], backend="onnxruntime-cuda", threads=1))))
        out = []
        for label, threads, make in specs:
            if isinstance(make, str):
                out.append((label, threads, make))
                continue
            try:
                out.append((label, threads, make()))
            except (ImportError, RuntimeError, ValueError, FileNotFoundError) as e:
                out.append((label, threads, f"could not open: {type(e).__name__}: {e}"))
        yield out


def time_chunks(engine, chunk_ms: int, chunks: int, warmup: int = 20) -> dict:
    """Time `chunks` consecutive chunks of `chunk_ms` through the model step and the engine."""
    n = chunk_ms * SAMPLE_RATE // 1000
    hops = n // vocab.HOP_SAMPLES
    audio = speechlike((chunks + warmup) * chunk_ms / 1000.0)
    cond = np.zeros((1, hops, vocab.NUM_EMOTIONS + 1), np.float32)
    state = engine.info.zero_state(1)
    model_t = []
    for i in range(chunks + warmup):
        x = audio[None, i * n:(i + 1) * n]
        t0 = time.perf_counter()
        _, state = engine.backend.step(x, cond, state)
        if i >= warmup:
            model_t.append(time.perf_counter() - t0)
    stream = engine.create_stream(fps=vocab.DEFAULT_FPS)
    engine_t, frames = [], 0
    for i in range(chunks + warmup):
        x = audio[i * n:(i + 1) * n]
        t0 = time.perf_counter()
        stream.accept_waveform(SAMPLE_RATE, x)
        out = engine.decode_stream(stream)
        if i >= warmup:
            engine_t.append(time.perf_counter() - t0)
            frames += len(out)
    return {"model": summarize(model_t), "engine": summarize(engine_t), "frames": frames}


def bench_compute(chunks: int = 2000) -> dict:
    """{chunks_ms, backends: {label: {threads, name, "10": {...}, ...} or {skipped}}}."""
    result: dict = {"chunks_ms": list(CHUNKS_MS), "chunks_timed": chunks, "backends": {}}
    with engines() as found:
        for label, threads, engine in found:
            if isinstance(engine, str):
                result["backends"][label] = skipped(engine)
                continue
            entry = {"backend": engine.backend.name, "threads": threads}
            for ms in CHUNKS_MS:
                entry[str(ms)] = time_chunks(engine, ms, chunks)
            result["backends"][label] = entry
    return result
