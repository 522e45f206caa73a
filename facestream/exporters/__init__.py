"""Exporters of a trained model to ONNX and TorchScript (the engine issue fills this in)."""
