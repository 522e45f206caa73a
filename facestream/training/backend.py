"""The eager torch backend: runs a training checkpoint without exporting it (slowest; for
trying a checkpoint straight out of training). It lives with training because it needs the
network's code; the runtime reaches it only through `engine.backends.register_backend`.

    from facestream.training.backend import register
    register()                                   # the facestream command does this
    Engine("runs/default/model.pt", backend="torch")
"""
from __future__ import annotations

from pathlib import Path

from ..engine.backends import _TorchStep, register_backend


class TorchBackend(_TorchStep):
    """Eager torch from a training checkpoint (no export needed)."""

    name = "torch"

    def __init__(self, path: str | Path, threads: int = 1, device: str = "cpu"):
        self._start(threads, device)
        from ..contract import ModelInfo
        from ..exporters.metadata import build_metadata
        from .checkpoint import load_checkpoint
        from .network import DecodedNet
        net, blob = load_checkpoint(path, map_location=device)
        self.module = DecodedNet(net).to(device).eval()
        self.info = ModelInfo.from_meta(str(path), build_metadata(net, blob.get("head", "")))


def register() -> None:
    """Let the engine open checkpoints (and backend="torch") with this backend."""
    register_backend("torch", TorchBackend)
