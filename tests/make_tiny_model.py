"""Write tests/data/tiny_model.onnx: a small, randomly initialised model for the engine's tests,
so they run where users run the engine (numpy + onnxruntime, no torch).

    .venv/bin/python tests/make_tiny_model.py      # after a change to the exporter or the network

`tests/test_engine.py::test_tiny_model_fixture_is_current` (with torch) fails when the file no
longer equals a fresh export.
"""
from __future__ import annotations

import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "data" / "tiny_model.onnx"
HEAD = "facestream-default-head"


def build_net():
    """The seeded tiny network (torch)."""
    import torch

    from facestream.training.network import ModelConfig, StreamingFaceNet
    torch.manual_seed(0)
    return StreamingFaceNet(ModelConfig(n_mels=32, channels=48, conv_layers=2, gru_hidden=64,
                                        lookahead=3)).eval()


def export(path: Path) -> Path:
    from facestream.exporters.export import export_onnx
    return export_onnx(build_net(), path, head=HEAD)


if __name__ == "__main__":
    print(export(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE))
