"""Inference backends for an exported model: onnxruntime (CPU or CUDA), TorchScript, torch.

Every backend runs the same step: (audio B x (N*HOP), cond B x N x (E+1), states) ->
(out B x N x OUT_DIM, new states), all numpy float32 at the boundary. A backend holds the
model only; the states belong to the streams (facestream.engine.stream).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

# ModelInfo (what a model says about itself, checked) and the state layouts: the contract's.
from ..contract import AUDIO_INPUT, COND_INPUT, STATE_LAYOUTS, ModelInfo  # noqa: F401

BACKENDS = ("onnxruntime", "onnxruntime-cuda", "torchscript", "torch")

# Backends that live outside the runtime (the eager torch backend, with training) register a
# factory `factory(path, threads) -> backend` under their name: `register_backend`.
_EXTERNAL: dict[str, Callable] = {}


def register_backend(name: str, factory: Callable) -> None:
    """Make `open_backend(..., backend=name)` (and checkpoints, for "torch") use `factory`."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
    _EXTERNAL[name] = factory


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
        feeds = {AUDIO_INPUT: audio, COND_INPUT: cond, **dict(zip(self.info.state_names, states))}
        out, *new = self.session.run(self.output_names, feeds)
        return out, new


class _TorchStep:
    """The step of the torch-based backends: numpy in, `self.module` on `self.device`, numpy out."""

    name = "torch"

    def _start(self, threads: int, device: str) -> None:
        """Import torch (naming the extra when it is missing) and pin its threads."""
        try:
            import torch
        except ImportError as e:
            raise ImportError(f"the {self.name} backend needs torch: pip install 'facestream[train]'") from e
        self.torch, self.device = torch, device
        if threads:
            torch.set_num_threads(threads)

    def step(self, audio, cond, states):
        t = self.torch
        with t.inference_mode():
            args = [t.from_numpy(np.ascontiguousarray(x)).to(self.device) for x in (audio, cond, *states)]
            out, *new = self.module(*args)
        return out.cpu().numpy(), [s.cpu().numpy() for s in new]


class TorchScriptBackend(_TorchStep):
    name = "torchscript"

    def __init__(self, path: str | Path, threads: int = 1, device: str = "cpu"):
        self._start(threads, device)
        extra = {"facestream.json": ""}
        self.module = self.torch.jit.load(str(path), map_location=device, _extra_files=extra)
        self.info = ModelInfo.from_meta(str(path), json.loads(extra["facestream.json"] or "{}"))


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
    if "torch" not in _EXTERNAL:
        raise ValueError(f"{path} is a training checkpoint: run it on the torch backend, which "
                         "lives with training (the facestream command loads it; in Python call "
                         "facestream.training.backend.register() first), or export it with "
                         "`facestream export` and run the .onnx")
    return _EXTERNAL["torch"](path, threads)
