"""The int8 variant of a model: onnxruntime's dynamic quantisation (int8 weights, activations
quantised per call) of its matrix products, timed against the float model in the same run.
Its quality is judged by `facestream eval --onnx FLOAT --onnx INT8` on real speech (LVE and
bilabial closure within INT8_QUALITY_TOLERANCE of float, or it is not shipped).

    .venv/bin/python -m facestream.bench.int8 out/int8     # writes the variant, prints timings
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from .. import vocab

INT8_QUALITY_TOLERANCE = 0.03  # relative, on LVE and closure rate
# The DFT frontend (the /net/frontend/ products) and the GRU stay float: onnxruntime's dynamic quantisation has no
# GRU kernel, and an 8-bit DFT would quantise the spectrum every later layer reads.
QUANTISED_OPS = ("MatMul", "Gemm")
FRONTEND_PREFIX = "/net/frontend/"


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    """Write the int8 variant of `src` to `dst`, carrying `src`'s facestream metadata."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    frontend = [n.name for n in onnx.load(str(src), load_external_data=False).graph.node
                if n.name.startswith(FRONTEND_PREFIX)]
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                     op_types_to_quantize=list(QUANTISED_OPS), nodes_to_exclude=frontend)
    model, meta = onnx.load(str(dst)), onnx.load(str(src), load_external_data=False).metadata_props
    have = {p.key for p in model.metadata_props}
    for p in meta:
        if p.key not in have:
            model.metadata_props.add(key=p.key, value=p.value)
    onnx.save(model, str(dst))
    return dst


def time_step(backend, batch: int, frames: int, repeats: int) -> float:
    """Median seconds of one `backend.step` of `batch` streams x `frames` model steps."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.normal(size=(batch, frames * vocab.HOP_SAMPLES))).astype(np.float32)
    cond = np.zeros((batch, frames, vocab.NUM_EMOTIONS + 1), np.float32)
    state = backend.info.zero_state(batch)
    backend.step(audio, cond, state)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        backend.step(audio, cond, state)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_int8(folder: str | Path, repeats: int = 200, batches=(1, 256)) -> dict:
    """Quantise the shipped model into `folder`; time it and the float model (1 thread) on a
    20 ms chunk (2 steps) at each batch size, interleaved so both see the same machine.
    -> {path, batches: {B: {float_ms, int8_ms, speedup}}}."""
    from ..engine.backends import OnnxBackend
    from ..engine.stream import default_model_path
    src = default_model_path()
    dst = quantize_int8(src, Path(folder) / "default_model.int8.onnx")
    fp, q8 = OnnxBackend(src, threads=1), OnnxBackend(dst, threads=1)
    out: dict = {"path": str(dst), "quantised_ops": list(QUANTISED_OPS), "batches": {}}
    for b in batches:
        reps = max(5, repeats // b)
        f = min(time_step(fp, b, 2, reps) for _ in range(3))
        q = min(time_step(q8, b, 2, reps) for _ in range(3))
        out["batches"][str(b)] = {"float_ms": 1e3 * f, "int8_ms": 1e3 * q, "speedup": f / q}
    return out


def judge_quality(eval_json: dict, float_name: str, int8_name: str) -> dict:
    """From `facestream eval --json` results: per split, int8's LVE and closure rate relative
    to float, and whether both are within INT8_QUALITY_TOLERANCE."""
    out = {}
    for split, rows in eval_json["splits"].items():
        f, q = rows[float_name], rows[int8_name]
        lve = q["LVE_1e-5m2"] / f["LVE_1e-5m2"] - 1
        closure = q["closure_rate"] / f["closure_rate"] - 1 if f["closure_rate"] else float("nan")
        out[split] = {"float_LVE": f["LVE_1e-5m2"], "int8_LVE": q["LVE_1e-5m2"],
                      "LVE_change": lve, "float_closure": f["closure_rate"],
                      "int8_closure": q["closure_rate"], "closure_change": closure,
                      "within_tolerance": bool(abs(lve) <= INT8_QUALITY_TOLERANCE
                                               and abs(closure) <= INT8_QUALITY_TOLERANCE)}
    return out


if __name__ == "__main__":
    import json
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(json.dumps(bench_int8(sys.argv[1]), indent=1))
