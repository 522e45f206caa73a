"""Inference backends for an exported model: onnxruntime (CPU or CUDA), TorchScript, torch.

Every backend runs the same step: (audio B x (N*HOP), cond B x N x (E+1), states) ->
(out B x N x OUT_DIM, new states), all numpy float32 at the boundary. A backend holds the
model only; the states belong to the streams (facestream.engine.stream).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BACKENDS = ("onnxruntime", "onnxruntime-cuda", "torchscript", "torch")


@dataclass
class ModelInfo:
    """What an exported model says about itself (its metadata)."""

    path: str
    config: dict
    state_names: list[str]
    state_shapes_1: list[tuple[int, ...]]  # each state's shape at batch 1
    lookahead: int
    latency_ms: float
    head: str
    meta: dict

    @classmethod
    def from_meta(cls, path: str, meta: dict) -> "ModelInfo":
        if meta.get("format") != "facestream-model":
            raise ValueError(f"{path} is not a facestream model (no facestream metadata): export "
                             "it with `facestream export`")
        layout = meta.get("state_layout", "engine")
        if layout not in STATE_LAYOUTS:
            raise ValueError(f"{path} keeps its states in layout {layout!r}, which this facestream "
                             f"cannot run (it knows {', '.join(STATE_LAYOUTS)}): re-export it with "
                             "`facestream export --format onnx`")
        from .. import vocab
        if "state_shapes" not in meta:
            raise ValueError(f"{path} was exported by an older facestream (no state_shapes in its "
                             "metadata): re-export it with `facestream export`")
        if json.loads(meta["arkit_names"]) != list(vocab.ARKIT_NAMES) or \
                int(meta["sample_rate"]) != vocab.SAMPLE_RATE or int(meta["hop_samples"]) != vocab.HOP_SAMPLES:
            raise ValueError(f"{path} was exported with another vocabulary or frame rate than this "
                             "facestream uses: re-export it with this version")
        return cls(path=str(path), config=json.loads(meta["model_config"]),
                   state_names=json.loads(meta["state_names"]),
                   state_shapes_1=[tuple(x) for x in json.loads(meta["state_shapes"])],
                   lookahead=int(meta["lookahead_frames"]),
                   latency_ms=float(meta["algorithmic_latency_ms"]), head=meta["head"], meta=meta)

    def state_shapes(self, batch: int) -> list[tuple[int, ...]]:
        out = []
        for name, shape in zip(self.state_names, self.state_shapes_1):
            shape = list(shape)
            shape[self.state_batch_axis(name)] = batch
            out.append(tuple(shape))
        return out

    def zero_state(self, batch: int = 1) -> list[np.ndarray]:
        return [np.zeros(s, np.float32) for s in self.state_shapes(batch)]

    def state_batch_axis(self, name: str) -> int:
        """The batch axis of a state: in the engine's layout the GRU state is layers x B x H and
        every other state B x ...; a "batch_first" graph (the Triton export) has every state
        B x ..."""
        if self.meta.get("state_layout", "engine") == "batch_first":
            return 0
        return 1 if name == "gru" else 0


# How an exported graph lays out its state tensors (metadata "state_layout"; absent = "engine").
STATE_LAYOUTS = ("engine", "batch_first")


class OnnxBackend:
    """onnxruntime session pinned to a known number of threads (silero-vad style)."""

    def __init__(self, path: str | Path, threads: int = 1, cuda: bool = False):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError("the ONNX backend needs onnxruntime: pip install onnxruntime") from e
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if cuda:
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeError("CUDA was asked for but onnxruntime has no CUDA provider here: "
                                   "install onnxruntime-gpu (and uninstall onnxruntime) on a GPU machine")
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.info = ModelInfo.from_meta(str(path), self.session.get_modelmeta().custom_metadata_map)
        self.name = "onnxruntime-cuda" if cuda else "onnxruntime"
        self.output_names = [o.name for o in self.session.get_outputs()]

    def step(self, audio: np.ndarray, cond: np.ndarray, states: list[np.ndarray]):
        feeds = {"audio": audio, "cond": cond, **dict(zip(self.info.state_names, states))}
        out, *new = self.session.run(self.output_names, feeds)
        return out, new


class _TorchStep:
    """The step of the torch-based backends: numpy in, `self.module` on `self.device`, numpy out."""

    def step(self, audio, cond, states):
        t = self.torch
        with t.inference_mode():
            args = [t.from_numpy(np.ascontiguousarray(x)).to(self.device) for x in (audio, cond, *states)]
            out, *new = self.module(*args)
        return out.cpu().numpy(), [s.cpu().numpy() for s in new]


class TorchScriptBackend(_TorchStep):
    def __init__(self, path: str | Path, threads: int = 1, device: str = "cpu"):
        try:
            import torch
        except ImportError as e:
            raise ImportError("the TorchScript backend needs torch: pip install 'facestream[train]'") from e
        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        extra = {"facestream.json": ""}
        self.module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        self.info = ModelInfo.from_meta(str(path), json.loads(extra["facestream.json"] or "{}"))
        self.device = device
        self.name = "torchscript"


class TorchBackend(_TorchStep):
    """Eager torch from a training checkpoint (no export needed; slowest)."""

    def __init__(self, path: str | Path, threads: int = 1, device: str = "cpu"):
        try:
            import torch
        except ImportError as e:
            raise ImportError("the torch backend needs torch: pip install 'facestream[train]'") from e
        from ..exporters.metadata import build_metadata
        from ..training.checkpoint import load_checkpoint
        from ..training.network import DecodedNet
        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        net, blob = load_checkpoint(path, map_location=device)
        self.module = DecodedNet(net).to(device).eval()
        meta = build_metadata(net, blob.get("head", ""))
        self.info = ModelInfo.from_meta(str(path), meta)
        self.device = device
        self.name = "torch"


def open_backend(model: str | Path, backend: str = "auto", threads: int = 1):
    """Open `model` (.onnx, TorchScript .pt/.ts, or a training checkpoint .pt) on a backend.

    backend "auto": onnxruntime with CUDA when available, else CPU, for .onnx files;
    TorchScript for traced files; eager torch for checkpoints."""
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path} (export one with `facestream export`, "
                                "or omit --model for the shipped default)")
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"unknown backend {backend!r}: expected auto or one of {', '.join(BACKENDS)}")
    if path.suffix == ".onnx":
        if backend in ("torchscript", "torch"):
            raise ValueError(f"{path} is an ONNX model: use backend onnxruntime (or auto)")
        cuda = backend == "onnxruntime-cuda"
        if backend == "auto":
            try:
                import onnxruntime as ort
                cuda = "CUDAExecutionProvider" in ort.get_available_providers()
            except ImportError:
                cuda = False
        return OnnxBackend(path, threads, cuda)
    if backend in ("onnxruntime", "onnxruntime-cuda"):
        raise ValueError(f"{path} is not an .onnx file: export it with --format onnx")
    if backend in ("auto", "torchscript"):
        try:
            return TorchScriptBackend(path, threads)
        except RuntimeError:
            if backend == "torchscript":
                raise
    return TorchBackend(path, threads)
