"""The runtime path needs no torch: `import facestream`, the shipped ONNX model and a second
of audio through the engine, in a process where importing torch fails."""
import json
import subprocess
import sys

CODE = r"""
import json, re, sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is blocked: the runtime must not need it")
        return None

sys.meta_path.insert(0, NoTorch())
import numpy as np
import facestream
from facestream.engine.stream import Engine

engine = Engine()  # backend "auto": must settle on onnxruntime without asking for torch
t = np.arange(16000) / 16000
x = (0.4 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
s = engine.create_stream(fps=30)
frames = []
for i in range(0, len(x), 320):
    s.accept_waveform(16000, x[i:i + 320])
    frames += engine.decode_stream(s)
s.input_finished()
frames += engine.decode_stream(s)
arkit = np.stack([f.arkit for f in frames])
jaw = arkit[:, facestream.vocab.ARKIT_INDEX["jawOpen"]]
print(json.dumps({"backend": engine.backend.name, "frames": len(frames),
                  "finite": bool(np.isfinite(arkit).all()), "jaw_range": float(np.ptp(jaw)),
                  "torch_loaded": any(m == "torch" or m.startswith("torch.") for m in sys.modules),
                  # VmHWM is this process's own peak: getrusage's ru_maxrss keeps the peak of
                  # the forked parent (pytest) across exec, so it grows with the test session.
                  "maxrss_mb": int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read())
                                   .group(1)) / 1024}))
"""


def test_onnx_runtime_without_torch():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nno-torch runtime: {r['backend']}, {r['frames']} frames, "
          f"peak RSS {r['maxrss_mb']:.0f} MB")
    assert r["backend"] == "onnxruntime" and not r["torch_loaded"]
    assert r["frames"] == 30 and r["finite"] and r["jaw_range"] > 0.01
    assert r["maxrss_mb"] < 1024  # torch alone would add several hundred MB
