"""Checkpoints that carry everything needed to rebuild and check a model.

A checkpoint is a torch file with the weights plus: the model config (dimensions), the
training config, the head the targets were made for, the vocabulary (ARKit names, emotion
codes, sample rate, hop, internal frame rate) and versions. Loading rebuilds the network
from the saved config and refuses a checkpoint whose vocabulary differs from this code's.
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch

from .. import __version__
from ..contract import vocabulary, vocabulary_differences
from .network import MODEL_VERSION, ModelConfig, StreamingFaceNet


def save_checkpoint(path: str | Path, model: StreamingFaceNet, *, head: str, step: int = 0,
                    train_config=None, optimizer=None, extra: dict | None = None) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "model": model.state_dict(),
        "model_config": model.config.to_dict(),
        "train_config": asdict(train_config) if is_dataclass(train_config) else train_config,
        "head": head,
        "vocab": vocabulary(),
        "facestream_version": __version__,
        "model_version": MODEL_VERSION,
        "step": step,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": extra or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, map_location="cpu") -> tuple[StreamingFaceNet, dict]:
    """-> (model in eval mode, the checkpoint dict). Checks versions and vocabulary."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path} (train one with `facestream train`)")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        raise ValueError(f"{path} is not a readable facestream checkpoint: {e}") from e
    if not isinstance(blob, dict) or "model_config" not in blob or "model" not in blob:
        raise ValueError(f"{path} is not a facestream checkpoint (no model_config)")
    if blob.get("model_version", 0) > MODEL_VERSION:
        raise ValueError(f"{path}: model version {blob['model_version']} is newer than this "
                         f"facestream supports ({MODEL_VERSION}): upgrade facestream")
    if blob.get("vocab") != vocabulary():
        found = blob.get("vocab") or {}
        diff = vocabulary_differences(found) + sorted(set(vocabulary()) - set(found))
        raise ValueError(f"{path} was trained with a different vocabulary ({', '.join(diff)}): "
                         "retrain it or use the facestream version it was made with")
    model = StreamingFaceNet(ModelConfig(**blob["model_config"]))
    model.load_state_dict(blob["model"])
    return model.eval(), blob
