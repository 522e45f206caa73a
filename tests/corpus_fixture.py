"""A tiny corpus built once per test session through the real pipeline (speech engines needed)."""
import shutil

import pytest

TINY_VOICES = ("mb-us1", "mb-us2", "flite-slt")


def build_tiny(root, seed=0):
    from facestream.training.corpus.build import BuildConfig, build
    cfg = BuildConfig(minutes_per_voice=0.12, voices=TINY_VOICES, real_sources=(), batch=3)
    return build(root, cfg, seed=seed, workers=1, progress=False)


def require_engines():
    for exe in ("espeak-ng", "mbrola", "flite"):
        if shutil.which(exe) is None:
            pytest.skip(f"{exe} not installed: run `make data-deps`")
