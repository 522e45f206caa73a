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
