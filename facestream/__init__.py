"""facestream: real-time, speech-driven 3D facial animation.

    from facestream import Engine
    engine = Engine()                       # shipped model, embedded head, best backend
    s = engine.create_stream(fps=30)
    s.accept_waveform(16000, chunk)         # any rate, int16/float, mono or (S, C)
    for frame in engine.decode_stream(s):   # Frame: arkit K, jaw/neck/eye poses, vertices
        ...

Importing this package is cheap: it loads numpy and the vocabulary, never torch, moderngl,
pyglet, sounddevice or onnxruntime. The streaming API (`Engine`, `Stream`, `Frame`) and the
audio sources load on first use (PEP 562 `__getattr__`).
"""
from . import vocab
from .engine import (BehaviourOptions, Head, HeadFileError, emotion_expression, emotion_vector,
                     load_head)

__version__ = "0.1.0"

# name -> module that defines it, imported on first access
_LAZY = {"Engine": ".engine.stream", "Stream": ".engine.stream", "Frame": ".engine.stream",
         "MicSource": ".engine.sources", "FileSource": ".engine.sources",
         "PushSource": ".engine.sources", "AudioSourceError": ".engine.sources",
         "read_audio": ".formats"}

__all__ = ["__version__", "vocab", "BehaviourOptions", "Head", "HeadFileError",
           "emotion_expression", "emotion_vector", "load_head", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later accesses skip this function
        return value
    raise AttributeError(f"module 'facestream' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
