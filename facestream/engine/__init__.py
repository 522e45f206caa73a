"""The runtime: heads, the face layer (numpy), emotion control. Needs numpy only.

The torch twin of the face layer is `facestream.engine.lbs_torch` (imported explicitly).
"""
from .emotion import EMOTION_ARKIT, EMOTION_PRESETS, emotion_expression, emotion_vector
from .head import MATERIALS, Head, HeadFileError, default_head_path, load_head

__all__ = ["EMOTION_ARKIT", "EMOTION_PRESETS", "emotion_expression", "emotion_vector",
           "MATERIALS", "Head", "HeadFileError", "default_head_path", "load_head"]
from . import metrics  # noqa: E402,F401  (geometric measures: lip gap, mouth width, lip-teeth)
