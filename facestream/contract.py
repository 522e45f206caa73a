"""The model contract: what an exported facestream model takes, gives and says about itself,
defined once. Torch-free and numpy-free: the network (training) builds its output from these
slices, the exporters write metadata through `build_metadata`, the runtime reads it through
`ModelInfo.from_meta`, so a model and the code that runs it cannot disagree silently.

The exported step (names are the graph's):
    audio     B x (N*HOP)        float32 PCM at vocab.SAMPLE_RATE
    cond      B x N x COND_DIM   per frame: E emotion weights * intensity, then intensity
    <state>   per STATE (see `state_batch_axis`), and <state>_out the new value
 -> out       B x N x OUT_DIM    OUTPUT_FIELDS in order; frame t describes input frame t - L

Format versions: 1 = files from before this module (no "format_version" key; read as 1),
2 = this contract (format_version, output_layout checked). A newer version is refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from . import vocab

FORMAT = "facestream-model"
FORMAT_VERSION = 2
AUDIO_INPUT, COND_INPUT, OUTPUT = "audio", "cond", "out"
STATE_OUT_SUFFIX = "_out"

# ---- outputs ---------------------------------------------------------------------------------
# (name, width) per frame, in order: K ARKit weights, jaw pose, neck pose (axis-angle, rad), and
# the lips-closed probability that gated the lips inside the graph.
OUTPUT_FIELDS: tuple[tuple[str, int], ...] = (("arkit", vocab.NUM_ARKIT), ("jaw", 3), ("neck", 3),
                                              ("closure", 1))


def _layout() -> dict[str, tuple[int, int]]:
    out, start = {}, 0
    for name, width in OUTPUT_FIELDS:
        out[name] = (start, start + width)
        start += width
    return out


OUTPUT_LAYOUT: dict[str, tuple[int, int]] = _layout()  # name -> [start, stop)
OUT_DIM = sum(w for _, w in OUTPUT_FIELDS)
OUT_ARKIT, OUT_JAW, OUT_NECK = (slice(*OUTPUT_LAYOUT[k]) for k in ("arkit", "jaw", "neck"))
OUT_CLOSURE = OUTPUT_LAYOUT["closure"][0]  # an index: one number
COND_DIM = vocab.NUM_EMOTIONS + 1

# ---- states ----------------------------------------------------------------------------------
GRU_STATE = "gru"  # the recurrent state: layers x B x H in the engine's layout
# How a graph lays out its states (metadata "state_layout"): "engine" keeps the GRU state
# layers x B x H (torch's nn.GRU) and every other state B x ...; "batch_first" (the Triton
# export) puts the batch first in every state.
STATE_LAYOUTS = ("engine", "batch_first")


def state_batch_axis(name: str, layout: str = "engine") -> int:
    """The batch axis of state `name` in `layout`."""
    if layout not in STATE_LAYOUTS:
        raise ValueError(f"unknown state layout {layout!r}: expected one of {', '.join(STATE_LAYOUTS)}")
    return 1 if layout == "engine" and name == GRU_STATE else 0


# ---- time --------------------------------------------------------------------------------------
def latency_ms(lookahead: int) -> float:
    """Audio time from a sound to the frame describing it: the hop the frame waits for plus
    the look-ahead (the window's older samples are past, not future)."""
    return 1000.0 * (1 + lookahead) * vocab.HOP_SAMPLES / vocab.SAMPLE_RATE


# ---- vocabulary ----------------------------------------------------------------------------------
def vocabulary() -> dict:
    """The facts a model's inputs and outputs depend on (checkpoints and exports carry them)."""
    return {"arkit_names": list(vocab.ARKIT_NAMES), "emotions": list(vocab.EMOTION_CODES),
            "sample_rate": vocab.SAMPLE_RATE, "hop_samples": vocab.HOP_SAMPLES,
            "internal_fps": vocab.INTERNAL_FPS, "pose_joints": list(vocab.POSE_JOINTS),
            "jaw_open_max_rad": vocab.JAW_OPEN_MAX_RAD}


def vocabulary_differences(found: dict) -> list[str]:
    """Fields of `found` (a model's vocabulary) that differ from this code's; a field the model
    does not carry is not compared (older files carry fewer)."""
    ours = vocabulary()
    return sorted(k for k, v in found.items() if k in ours and v != ours[k])


def _meta_vocabulary(meta: dict) -> dict:
    """The vocabulary an export's metadata carries (strings decoded)."""
    out = {}
    for key, parse in (("arkit_names", json.loads), ("emotions", json.loads),
                       ("pose_joints", json.loads), ("sample_rate", int), ("hop_samples", int),
                       ("internal_fps", int), ("jaw_open_max_rad", float)):
        if key in meta:
            out[key] = parse(meta[key])
    return out


# ---- metadata ------------------------------------------------------------------------------------
def build_metadata(model_config: dict, state_names: list[str], state_shapes_1: list, head: str,
                   *, layout: str = "engine", extra: dict | None = None) -> dict[str, str]:
    """String key/value pairs (ONNX metadata_props and TorchScript extra files alike): the
    runtime reads the state layout and everything else from here, never recomputes it.
    state_shapes_1: each state's shape at batch 1 in `layout`."""
    state_batch_axis("", layout)  # validates the layout
    lookahead = int(model_config["lookahead"])
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "facestream_version": _version(),
        "model_config": json.dumps(model_config),
        "state_names": json.dumps(list(state_names)),
        "state_shapes": json.dumps([list(s) for s in state_shapes_1]),
        "state_layout": layout,
        "output_layout": json.dumps({k: list(v) for k, v in OUTPUT_LAYOUT.items()}),
        "lookahead_frames": str(lookahead),
        "algorithmic_latency_ms": str(latency_ms(lookahead)),
        "head": head,
    }
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in vocabulary().items()})
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    return meta


def _version() -> str:
    from . import __version__
    return __version__


@dataclass
class ModelInfo:
    """What an exported model says about itself, checked against this contract."""

    path: str
    config: dict
    state_names: list[str]
    state_shapes_1: list[tuple[int, ...]]  # each state's shape at batch 1
    state_layout: str
    lookahead: int
    latency_ms: float
    head: str
    format_version: int
    meta: dict

    @classmethod
    def from_meta(cls, path: str, meta: dict) -> "ModelInfo":
        """Read and check a model's metadata; every refusal names the fix."""
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a facestream model (no facestream metadata): export "
                             "it with `facestream export`")
        version = int(meta.get("format_version", 1))
        if version > FORMAT_VERSION:
            raise ValueError(f"{path} is model format {version}, newer than this facestream reads "
                             f"({FORMAT_VERSION}): upgrade facestream")
        layout = meta.get("state_layout", "engine")
        if layout not in STATE_LAYOUTS:
            raise ValueError(f"{path} keeps its states in layout {layout!r}, which this facestream "
                             f"cannot run (it knows {', '.join(STATE_LAYOUTS)}): re-export it with "
                             "`facestream export --format onnx`")
        missing = [k for k in ("state_shapes", "state_names", "model_config", "lookahead_frames")
                   if k not in meta]
        if missing:
            raise ValueError(f"{path} was exported by an older facestream (no {', '.join(missing)} "
                             "in its metadata): re-export it with `facestream export`")
        diff = vocabulary_differences(_meta_vocabulary(meta))
        for key in ("arkit_names", "sample_rate", "hop_samples"):  # every version carries these
            if key not in meta:
                diff.append(key)
        if "output_layout" in meta and json.loads(meta["output_layout"]) != \
                {k: list(v) for k, v in OUTPUT_LAYOUT.items()}:
            diff.append("output_layout")
        if diff:
            raise ValueError(f"{path} was exported with another vocabulary than this facestream "
                             f"uses ({', '.join(sorted(diff))} differ): re-export it with this "
                             "version, or run it with the facestream it was made with")
        lookahead = int(meta["lookahead_frames"])
        return cls(path=str(path), config=json.loads(meta["model_config"]),
                   state_names=json.loads(meta["state_names"]),
                   state_shapes_1=[tuple(x) for x in json.loads(meta["state_shapes"])],
                   state_layout=layout, lookahead=lookahead, latency_ms=latency_ms(lookahead),
                   head=meta.get("head", ""), format_version=version, meta=meta)

    def state_batch_axis(self, name: str) -> int:
        return state_batch_axis(name, self.state_layout)

    def state_shapes(self, batch: int) -> list[tuple[int, ...]]:
        out = []
        for name, shape in zip(self.state_names, self.state_shapes_1):
            shape = list(shape)
            shape[self.state_batch_axis(name)] = batch
            out.append(tuple(shape))
        return out

    def zero_state(self, batch: int = 1) -> list:
        import numpy as np
        return [np.zeros(s, np.float32) for s in self.state_shapes(batch)]
