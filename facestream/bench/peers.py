"""Item 8: the peers, side by side in the same run.

Compute: the wav2vec2-base encoder that FaceFormer, CodeTalker and the seed paper put in
front of their decoders, built from its public configuration (`Wav2Vec2Config()` defaults
are the base model) with random weights, so nothing is downloaded; weights do not change
the arithmetic. It and our whole model run on the same audio with the same thread count;
the ratio is their cost per second of audio over ours.

Arithmetic: both sides' multiply-adds per second of audio, counted (ours from the exported
graph, `limit.graph_products`; wav2vec2's from forward hooks on its convolutions and linear
layers plus its attention products), and the rate each side reaches against this core's
sustained GEMM rate: the time ratio is the multiply-add ratio times the ratio of the rates.

Structure: the look-ahead each peer's design cannot go below, with where it is written.
"""
from __future__ import annotations

import time

import numpy as np

from .signals import speechlike

STRUCTURAL = [
    {"system": "Audio2Face (regression network)", "min_latency_s": 0.26,
     "why": "each frame is predicted from a ~0.52 s audio window centred on it: 0.26 s of "
            "future audio",
     "source": "Karras et al., Audio-Driven Facial Animation by Joint End-to-End Learning of "
               "Pose and Emotion, SIGGRAPH 2017 (Fig. 1); NVIDIA, Audio2Face-3D, arXiv:2508.16401"},
    {"system": "NeuroSync", "min_latency_s": 128 / 60,
     "why": "the model maps 128-frame windows at 60 fps: audio arrives in 2.13 s chunks",
     "source": "AnimaVR/NeuroSync_Local_API, utils/config.py (frame_size 128, frame_rate 60)"},
    {"system": "FaceFormer / CodeTalker / seed paper (full-clip wav2vec2 encoders)",
     "min_latency_s": None,
     "why": "a bidirectional transformer encodes the whole utterance before the first frame",
     "source": "Fan et al., FaceFormer, CVPR 2022, arXiv:2112.05329; Xing et al., CodeTalker, "
               "CVPR 2023, arXiv:2301.02379; Chen et al., arXiv:2301.02008"},
]


def _best_of(fn, repeats: int) -> float:
    fn()  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def wav2vec2_macs(model, samples: int) -> int:
    """Multiply-adds of a `Wav2Vec2Model` forward pass over one clip of `samples` samples:
    every Conv1d and Linear at the shapes it sees (forward hooks), plus each layer's two
    attention products (QK^T and the weighted sum of V: 2 T^2 d for T frames, width d)."""
    import torch
    from torch import nn
    total = [0]

    def conv(mod, inp, out):
        total[0] += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0]

    def linear(mod, inp, out):
        total[0] += out.numel() * mod.in_features

    hooks = [m.register_forward_hook(conv if isinstance(m, nn.Conv1d) else linear)
             for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    try:
        with torch.inference_mode():
            hidden = model(torch.zeros(1, samples)).last_hidden_state
    finally:
        for h in hooks:
            h.remove()
    frames, width = hidden.shape[1], hidden.shape[2]
    return total[0] + model.config.num_hidden_layers * 2 * frames * frames * width


def time_wav2vec2(audio: np.ndarray, threads: int, repeats: int) -> dict:
    """Seconds for the whole wav2vec2-base encoder on eager torch and, exported to ONNX in a
    temporary folder, on onnxruntime; and for its CNN feature extractor alone (torch)."""
    import tempfile
    import warnings

    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config()).eval()
    x = torch.from_numpy(audio)[None]
    with torch.inference_mode():
        full = _best_of(lambda: model(x), repeats)
        cnn = _best_of(lambda: model.feature_extractor(x), repeats)
    with tempfile.TemporaryDirectory(prefix="facestream-w2v2-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = f"{tmp}/wav2vec2_base.onnx"
        torch.onnx.export(model, (x,), path, input_names=["audio"], output_names=["hidden"],
                          dynamic_axes={"audio": {1: "samples"}}, opset_version=17, dynamo=False)
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        feed = {"audio": audio[None]}
        onnx = _best_of(lambda: sess.run(None, feed), repeats)
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "torch_s": full, "onnxruntime_s": onnx, "feature_extractor_s": cnn,
            "macs": wav2vec2_macs(model, len(audio))}


def time_ours(engine, audio: np.ndarray, repeats: int) -> float:
    """Seconds for our whole model over the clip in one call (as the encoder sees it)."""
    from .. import vocab
    hops = len(audio) // vocab.HOP_SAMPLES
    x = audio[None, : hops * vocab.HOP_SAMPLES]
    cond = np.zeros((1, hops, vocab.NUM_EMOTIONS + 1), np.float32)
    return _best_of(lambda: engine.backend.step(x, cond, engine.info.zero_state(1)), repeats)


def bench_peers(seconds: float = 10.0, threads: int = 1, repeats: int = 5,
                streaming_ms_per_20ms: float | None = None) -> dict:
    """Cost per second of audio of wav2vec2-base and of our model, each on onnxruntime and
    on eager torch; the ratios pair like with like (same runtime, threads and audio).
    `streaming_ms_per_20ms`: our engine's measured cost per 20 ms chunk, to set the
    encoder against our streaming path too."""
    import importlib.util
    from ..engine.stream import Engine
    from .compute import model_paths
    from .limit import gemm_rate, graph_products
    out: dict = {"audio_s": seconds, "threads": threads, "structural": STRUCTURAL}
    audio = speechlike(seconds)
    ours = {"onnxruntime": time_ours(Engine(model_paths()["onnx"], backend="onnxruntime",
                                            threads=threads), audio, repeats)}
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        out["wav2vec2_base"] = {"skipped": f"{' and '.join(missing)} not installed "
                                           "(pip install 'facestream[train,bench]')"}
    else:
        from ..training.backend import register  # the eager torch backend
        register()
        ours["torch"] = time_ours(Engine(model_paths()["checkpoint"], backend="torch",
                                         threads=threads), audio, repeats)
        w = time_wav2vec2(audio, threads, repeats)
        out["wav2vec2_base"] = {"parameters": w["parameters"], "macs_per_audio_s": w["macs"] / seconds,
                                "ms_per_s": {"onnxruntime": 1e3 * w["onnxruntime_s"] / seconds,
                                             "torch": 1e3 * w["torch_s"] / seconds},
                                "feature_extractor_torch_ms_per_s": 1e3 * w["feature_extractor_s"] / seconds}
    out["ours_ms_per_s"] = {k: 1e3 * v / seconds for k, v in ours.items()}
    products = graph_products(model_paths()["onnx"])
    out["ours_macs_per_audio_s"] = sum(p["macs"] for p in products)
    # This core's sustained rate on a large product (wav2vec2's transformer shapes): what a
    # side's rate is read against; and on our recurrence, one step of one sequence at a time.
    out["gemm_gmacs"] = gemm_rate(512, 768, 768) / 1e9
    rec = [p for p in products if p.get("sequential")]
    if rec:
        _, k, n = rec[0]["gemm"]
        out["recurrence"] = {"shape": [1, k, n], "gmacs": gemm_rate(1, k, n) / 1e9,
                             "macs_share": sum(p["macs"] for p in rec) / out["ours_macs_per_audio_s"]}
    if "ms_per_s" in out["wav2vec2_base"]:
        w = out["wav2vec2_base"]
        enc = w["ms_per_s"]
        out["ratio"] = {k: enc[k] / out["ours_ms_per_s"][k] for k in enc}
        out["macs_ratio"] = w["macs_per_audio_s"] / out["ours_macs_per_audio_s"]
        out["gmacs_onnxruntime"] = {
            "wav2vec2_base": w["macs_per_audio_s"] / enc["onnxruntime"] / 1e6,
            "ours": out["ours_macs_per_audio_s"] / out["ours_ms_per_s"]["onnxruntime"] / 1e6}
        if streaming_ms_per_20ms is not None:
            out["ours_streaming_20ms_ms_per_s"] = streaming_ms_per_20ms * 50
            out["ratio"]["onnxruntime, ours streaming in 20 ms chunks"] = \
                enc["onnxruntime"] / out["ours_streaming_20ms_ms_per_s"]
    return out
