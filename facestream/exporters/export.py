"""Export a trained network to ONNX and TorchScript, with its metadata inside the file.

    facestream export CHECKPOINT --format onnx|torchscript -o DIR

The exported graph is the decoded network (`DecodedNet`): raw PCM chunk + conditioning +
states in, final parameters + new states out, any chunk length (multiples of the hop).
ONNX uses the TorchScript-based exporter (dynamo=False): the dynamo exporter bakes the
time length into nn.GRU (see ../shared/ENVIRONMENT.md), which breaks streaming.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from ..contract import COND_DIM, state_batch_axis
from ..training.network import DecodedNet, StreamingFaceNet
from .metadata import AUDIO_INPUT, COND_INPUT, OUTPUT, STATE_OUT_SUFFIX, build_metadata

ONNX_OPSET = 17


def _example(net: StreamingFaceNet, frames: int = 4):
    from .. import vocab
    audio = torch.zeros(1, frames * vocab.HOP_SAMPLES)
    cond = torch.zeros(1, frames, COND_DIM)
    return audio, cond, net.init_state(1)


def export_onnx(net: StreamingFaceNet, path: str | Path, *, head: str,
                extra_meta: dict | None = None, layout: str = "engine",
                decoded: bool = False) -> Path:
    """Write `path` (.onnx) with dynamic batch and time axes and metadata_props.

    net: a StreamingFaceNet (wrapped in DecodedNet here), or with decoded=True a module that
    already emits decoded outputs and has the same state_names/init_state/config interface
    (exporters.triton.BatchFirstNet); layout: how its states are laid out (contract.STATE_LAYOUTS:
    "engine" keeps the GRU state layers x B x H, "batch_first" puts B first everywhere)."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = net.state_names()
    wrapper = (net if decoded else DecodedNet(net)).eval()
    audio, cond, state = _example(net)
    dyn = {AUDIO_INPUT: {0: "batch", 1: "samples"}, COND_INPUT: {0: "batch", 1: "frames"},
           OUTPUT: {0: "batch", 1: "frames"}}
    for n in names:
        axis = state_batch_axis(n, layout)
        dyn[n] = {axis: "batch"}
        dyn[n + STATE_OUT_SUFFIX] = {axis: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (audio, cond, *state), str(path),
                          input_names=[AUDIO_INPUT, COND_INPUT, *names],
                          output_names=[OUTPUT, *[n + STATE_OUT_SUFFIX for n in names]],
                          dynamic_axes=dyn, opset_version=ONNX_OPSET, dynamo=False)
    model = onnx.load(str(path))
    meta = build_metadata(net, head, extra_meta, layout=layout)
    del model.metadata_props[:]
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def export_torchscript(net: StreamingFaceNet, path: str | Path, *, head: str,
                       extra_meta: dict | None = None) -> Path:
    """Write `path` (.pt) as a traced TorchScript module with metadata in its extra files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = DecodedNet(net).eval()
    audio, cond, state = _example(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, (audio, cond, *state), check_trace=False)
    meta = build_metadata(net, head, extra_meta)
    torch.jit.save(traced, str(path), _extra_files={"facestream.json": json.dumps(meta)})
    return path
