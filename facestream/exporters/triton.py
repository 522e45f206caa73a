"""Export a trained network as a Triton Inference Server model repository (GPU fleets).

    facestream export CHECKPOINT --format triton -o REPO [--name facestream]

writes

    REPO/NAME/config.pbtxt        sequence batching with implicit state
    REPO/NAME/1/model.onnx        the streaming graph, every state batch-first

Triton keeps each sequence's state tensors itself ("implicit state management"): a client
sends only `audio` (1 x N*HOP float32 PCM at 16 kHz) and `cond` (1 x N x 8: emotion weights x
intensity, then intensity; see training.network.make_cond) with a sequence id, sequence_start
on its first chunk (the states start at zero, as `init_state` does) and sequence_end on its
last, and gets `out` (1 x N x 59: the engine's output layout). Triton batches the chunks of
different sequences into one model call; sequences batched together must send chunks of the
same length (e.g. 20 ms = 320 samples), as the engine's own `decode_streams` groups them.

Triton puts the batch first in every tensor, so this graph differs from the regular export in
one place: the GRU state is B x layers x H (transposed inside the graph) instead of
layers x B x H. Everything else (frontend, weights, decoding, metadata) is the same export.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..contract import COND_DIM, OUT_DIM, latency_ms
from ..training.network import DecodedNet, StreamingFaceNet
from .export import export_onnx
from .metadata import AUDIO_INPUT, COND_INPUT, OUTPUT, STATE_OUT_SUFFIX

MAX_BATCH = 64
IDLE_US = 5_000_000  # a sequence idle this long is dropped (its state freed)


class BatchFirstNet(nn.Module):
    """DecodedNet with the GRU state batch-first: gru B x layers x H in and out."""

    def __init__(self, net: StreamingFaceNet):
        super().__init__()
        self.inner = DecodedNet(net)

    @property
    def config(self):
        return self.inner.net.config

    def state_names(self) -> list[str]:
        return self.inner.net.state_names()

    def state_shapes(self, batch: int) -> list[tuple[int, ...]]:
        *rest, (layers, b, h) = self.inner.net.state_shapes(batch)
        return [*rest, (b, layers, h)]

    def init_state(self, batch: int = 1) -> list[torch.Tensor]:
        return [torch.zeros(s) for s in self.state_shapes(batch)]

    def forward(self, audio: torch.Tensor, cond: torch.Tensor, *state: torch.Tensor):
        *rest, gru = state
        out, *new = self.inner(audio, cond, *rest, gru.transpose(0, 1).contiguous())
        *new_rest, new_gru = new
        return (out, *new_rest, new_gru.transpose(0, 1).contiguous())


def state_dims(net: StreamingFaceNet) -> dict[str, list[int]]:
    """Per state: its shape without the (leading) batch axis, as Triton's config wants it."""
    dims = {}
    for name, shape in zip(net.state_names(), net.state_shapes(1)):
        shape = list(shape)
        del shape[1 if name == "gru" else 0]
        dims[name] = shape
    return dims


def config_pbtxt(net: StreamingFaceNet, name: str, max_batch: int = MAX_BATCH,
                 meta: dict | None = None) -> str:
    """Triton's model configuration (protobuf text format) for the batch-first export."""
    lines = [f'name: "{name}"', 'backend: "onnxruntime"', f"max_batch_size: {max_batch}",
             "input [",
             f'  {{ name: "{AUDIO_INPUT}" data_type: TYPE_FP32 dims: [ -1 ] }},',
             f'  {{ name: "{COND_INPUT}" data_type: TYPE_FP32 dims: [ -1, {COND_DIM} ] }}',
             "]", "output [",
             f'  {{ name: "{OUTPUT}" data_type: TYPE_FP32 dims: [ -1, {OUT_DIM} ] }}',
             "]", "sequence_batching {",
             f"  max_sequence_idle_microseconds: {IDLE_US}",
             "  oldest { max_candidate_sequences: %d max_queue_delay_microseconds: 1000 }" % max_batch]
    for state, dims in state_dims(net).items():
        d = ", ".join(str(x) for x in dims)
        lines += ["  state {",
                  f'    input_name: "{state}"',
                  f'    output_name: "{state}{STATE_OUT_SUFFIX}"',
                  "    data_type: TYPE_FP32",
                  f"    dims: [ {d} ]",
                  f'    initial_state {{ data_type: TYPE_FP32 dims: [ {d} ] zero_data: true name: "zero" }}',
                  "  }"]
    lines.append("}")
    lines.append('instance_group [ { kind: KIND_AUTO count: 1 } ]')
    for key, value in (meta or {}).items():
        lines.append(f'parameters {{ key: "{key}" value {{ string_value: {json.dumps(str(value))} }} }}')
    return "\n".join(lines) + "\n"


def export_triton(net: StreamingFaceNet, repo: str | Path, *, head: str, name: str = "facestream",
                  extra_meta: dict | None = None, max_batch: int = MAX_BATCH) -> Path:
    """Write REPO/NAME/{config.pbtxt, 1/model.onnx}; returns the model directory."""
    model_dir = Path(repo) / name
    wrapper = BatchFirstNet(net).eval()
    export_onnx(wrapper, model_dir / "1" / "model.onnx", head=head, extra_meta=extra_meta,
                layout="batch_first", decoded=True)
    summary = {"head": head, "lookahead_frames": net.config.lookahead,
               "algorithmic_latency_ms": latency_ms(net.config.lookahead),
               "state_layout": "batch_first"}
    (model_dir / "config.pbtxt").write_text(config_pbtxt(net, name, max_batch, summary))
    return model_dir


def validate_config(text: str):
    """Parse config.pbtxt with Triton's own ModelConfig schema (tritonclient's generated
    model_config_pb2, loaded without tritonclient's gRPC client). -> the parsed message.
    Raises ImportError when tritonclient is not installed, ParseError on a bad config."""
    import importlib.util
    from google.protobuf import text_format
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tritonclient is not installed (pip install 'facestream[triton]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "grpc" / "model_config_pb2.py"
    mod_spec = importlib.util.spec_from_file_location("_facestream_triton_model_config", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return text_format.Parse(text, module.ModelConfig())
