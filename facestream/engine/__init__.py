"""The runtime: heads, the face layer (numpy), emotion control, and the behaviour every stream
adds (blinks, gaze, head motion, brows). Needs numpy only.

The torch twin of the face layer is `facestream.engine.lbs_torch` (imported explicitly).
"""
from .behaviour import BehaviourOptions
from .emotion import EMOTION_ARKIT, EMOTION_PRESETS, emotion_expression, emotion_vector
from .expressive import add_blinks, apply_emotion, blink_track
from .head import MATERIALS, Head, HeadFileError, default_head_path, load_head

__all__ = ["BehaviourOptions", "EMOTION_ARKIT", "EMOTION_PRESETS", "emotion_expression",
           "emotion_vector", "add_blinks", "apply_emotion", "blink_track",
           "MATERIALS", "Head", "HeadFileError", "default_head_path", "load_head"]
from . import metrics  # noqa: E402,F401  (geometric measures: lip gap, mouth width, lip-teeth)
