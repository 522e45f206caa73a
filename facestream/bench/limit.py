"""The model's limit on this machine: how many streams one core could run if every one of the
model's matrix products ran at the speed this core sustains for that product's shape.

1. Multiply-adds per second of audio, counted from the ONNX graph: every MatMul, Gemm, Conv
   and GRU at the shapes it really sees (onnx's reference evaluator runs the graph once on
   one second of audio and reports every intermediate's shape).
2. Sustained single-thread throughput of each product at its shape for a batched tick (B
   streams x 2 steps of a 20 ms chunk): a one-node onnxruntime MatMul of that shape, timed
   for a while. Convolutions count as their im2col product, the GRU as its input and
   recurrent products.
3. The limit: seconds of one core per second of audio per stream = the sum over products of
   (multiply-adds / their measured rate); streams per core = its inverse. Measured figures
   (the model step alone, the engine's throughput) are then fractions of it.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import vocab

TICK_STEPS = 2  # model steps per 20 ms chunk
SECOND_STEPS = vocab.INTERNAL_FPS  # model steps in one second of audio


def graph_products(path: str | Path, steps: int = SECOND_STEPS) -> list[dict]:
    """Every matrix product of the graph for one stream and `steps` model steps:
    [{node, op, macs, gemm: (M, K, N) per step-row}] where M counts rows per model step
    (a row of a product that runs once per step is 1)."""
    import onnx
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator
    from ..engine.backends import ModelInfo
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    info = ModelInfo.from_meta(str(path), meta)
    feeds = {"audio": np.zeros((1, steps * vocab.HOP_SAMPLES), np.float32),
             "cond": np.zeros((1, steps, vocab.NUM_EMOTIONS + 1), np.float32),
             **dict(zip(info.state_names, info.zero_state(1)))}
    values = ReferenceEvaluator(model).run(None, feeds, intermediate=True)
    values.update({t.name: numpy_helper.to_array(t) for t in model.graph.initializer})
    shape = {k: np.shape(v) for k, v in values.items()}
    out = []
    for node in model.graph.node:
        i, o = [shape.get(x) for x in node.input], [shape.get(x) for x in node.output]
        if node.op_type in ("MatMul", "Gemm"):
            k, n = i[1][-2], i[1][-1]
            if node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute):
                n, k = i[1]
            rows = int(np.prod(o[0][:-1]))
            out.append({"node": node.name, "op": node.op_type, "macs": rows * k * n,
                        "gemm": (rows / steps, k, n)})
        elif node.op_type == "Conv":
            w = i[1]  # Cout x Cin/group x kernel...
            k = int(np.prod(w[1:]))
            rows = int(np.prod(o[0])) // w[0]  # batch x output positions
            out.append({"node": node.name, "op": "Conv", "macs": rows * k * w[0],
                        "gemm": (rows / steps, k, w[0])})
        elif node.op_type == "GRU":
            seq, batch, width = i[0]
            gates, hidden = i[2][1], i[2][2]  # R: dirs x 3H x H
            out.append({"node": node.name + " (input)", "op": "GRU", "macs": seq * batch * width * gates,
                        "gemm": (seq * batch / steps, width, gates)})
            out.append({"node": node.name + " (recurrent)", "op": "GRU",
                        "macs": seq * batch * hidden * gates, "gemm": (batch, hidden, gates),
                        "sequential": True})
    return out


def gemm_rate(m: int, k: int, n: int, seconds: float = 0.3) -> float:
    """Sustained multiply-adds per second of one onnxruntime thread for an M x K by K x N
    float32 product (median over repeated runs filling `seconds`)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(k, n)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {"x": rng.normal(size=(m, k)).astype(np.float32)}
    sess.run(None, feed)
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return m * k * n / float(np.median(times))


def bench_limit(path: str | Path | None = None, batch: int = 256, seconds: float = 0.3) -> dict:
    """The limit row for B = `batch` streams per model call. -> {macs_per_audio_s, products:
    [...with rate and core seconds], core_s_per_audio_s, streams_per_core, batch}."""
    from ..engine.stream import default_model_path
    path = Path(path) if path is not None else default_model_path()
    products = graph_products(path)
    rates: dict[tuple, float] = {}
    core_s = 0.0
    for p in products:
        per_row_m, k, n = p["gemm"]
        # A tick runs each product over B streams x 2 steps at once; the GRU's recurrence
        # runs one step at a time over the B streams.
        m = max(1, int(round(batch if p.get("sequential") else per_row_m * batch * TICK_STEPS)))
        key = (m, k, n)
        if key not in rates:
            rates[key] = gemm_rate(*key, seconds=seconds)
        p["tick_shape"] = list(key)
        p["rate_gmacs"] = rates[key] / 1e9
        p["core_s_per_audio_s"] = p["macs"] / rates[key]
        p["gemm"] = list(p["gemm"])
        core_s += p["core_s_per_audio_s"]
    macs = sum(p["macs"] for p in products)
    return {"batch": batch, "macs_per_audio_s": macs, "products": products,
            "core_s_per_audio_s": core_s, "streams_per_core": 1.0 / core_s,
            "mean_rate_gmacs": macs / core_s / 1e9}


def model_streams_per_core(engine, batch: int = 256, repeats: int = 20) -> float:
    """Streams one core carries with the model step alone (no engine around it) at batch B:
    1 / (core seconds of a batched 20 ms tick per stream per second of audio)."""
    from .int8 import time_step
    tick = min(time_step(engine.backend, batch, TICK_STEPS, repeats) for _ in range(3))
    return 1.0 / (tick / batch * (1000 / 20))
