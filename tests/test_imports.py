import subprocess
import sys


def test_import_facestream_is_light():
    """`import facestream` (and its engine) must not pull torch, GL, windowing or audio libs."""
    code = (
        "import sys, facestream, facestream.engine, facestream.viewer, facestream.cli;"
        "heavy = {'torch', 'moderngl', 'pyglet', 'sounddevice', 'onnxruntime', 'PIL'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_public_api_is_importable_from_the_top_and_loads_lazily():
    """`from facestream import Engine` works; `import facestream` alone does not load the
    engine's modules; every name in __all__ resolves."""
    code = (
        "import sys, facestream;"
        "before = 'facestream.engine.stream' in sys.modules;"
        "from facestream import Engine, Stream, Frame, MicSource, read_audio;"
        "from facestream.engine.stream import Engine as E2;"
        "missing = [n for n in facestream.__all__ if not hasattr(facestream, n)];"
        "print(before, Engine is E2, Stream.__name__, Frame.__name__, missing)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "Stream", "Frame", "[]"], out.stdout + out.stderr
    bad = subprocess.run([sys.executable, "-c", "import facestream; facestream.Engin"],
                         capture_output=True, text=True)
    assert "has no attribute 'Engin'" in bad.stderr
