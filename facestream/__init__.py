"""facestream: real-time, speech-driven 3D facial animation.

Importing this package is cheap: it loads numpy and the vocabulary, never torch, moderngl,
pyglet or sounddevice (those load where they are used).
"""
from . import vocab
from .engine import Head, HeadFileError, emotion_expression, emotion_vector, load_head

__version__ = "0.1.0"

__all__ = ["__version__", "vocab", "Head", "HeadFileError", "emotion_expression",
           "emotion_vector", "load_head"]
