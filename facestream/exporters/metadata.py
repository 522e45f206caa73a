"""What every exported model carries about itself (read back by the runtime without torch)."""
from __future__ import annotations

import json

from .. import __version__, vocab

# Names of the exported graph's inputs/outputs besides the states.
AUDIO_INPUT, COND_INPUT, OUTPUT = "audio", "cond", "out"
STATE_OUT_SUFFIX = "_out"


def build_metadata(net, head: str, extra: dict | None = None) -> dict[str, str]:
    """String key/value pairs (ONNX metadata_props and TorchScript extra files alike) for a
    StreamingFaceNet: the runtime reads the state layout from here, never recomputes it."""
    model_config = net.config.to_dict()
    state_names = net.state_names()
    lookahead = int(model_config["lookahead"])
    meta = {
        "format": "facestream-model",
        "facestream_version": __version__,
        "model_config": json.dumps(model_config),
        "state_names": json.dumps(state_names),
        "state_shapes": json.dumps(net.state_shapes(1)),  # at batch 1; see state_batch_axis
        "output_layout": json.dumps({"arkit": [0, vocab.NUM_ARKIT],
                                     "jaw": [vocab.NUM_ARKIT, vocab.NUM_ARKIT + 3],
                                     "neck": [vocab.NUM_ARKIT + 3, vocab.NUM_ARKIT + 6],
                                     "closure": [vocab.NUM_ARKIT + 6, vocab.NUM_ARKIT + 7]}),
        "arkit_names": json.dumps(list(vocab.ARKIT_NAMES)),
        "emotions": json.dumps(list(vocab.EMOTION_CODES)),
        "sample_rate": str(vocab.SAMPLE_RATE),
        "hop_samples": str(vocab.HOP_SAMPLES),
        "internal_fps": str(vocab.INTERNAL_FPS),
        "lookahead_frames": str(lookahead),
        "algorithmic_latency_ms": str(1000.0 * (1 + lookahead) * vocab.HOP_SAMPLES / vocab.SAMPLE_RATE),
        "jaw_open_max_rad": str(vocab.JAW_OPEN_MAX_RAD),
        "head": head,
    }
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    return meta
