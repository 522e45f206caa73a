"""Item 7: resident memory of the runtime-only path and of the full install.

Each path runs in a fresh interpreter (`python -m facestream.bench.memory PATH`) that opens
an engine, decodes two seconds of audio and prints its peak and current RSS:
  runtime: torch cannot be imported at all (an import hook refuses it), onnxruntime engine;
  full:    torch imported, the engine on the eager torch backend (the shipped checkpoint).
"""
from __future__ import annotations

import json
import subprocess
import sys

PATHS = ("runtime", "full")


class _NoTorch:
    """A meta-path finder that makes `import torch` fail, as on a runtime-only install."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in the runtime-only memory measurement")
        return None


def _rss_mib() -> dict[str, float]:
    out = {}
    for line in open("/proc/self/status"):
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[{"VmRSS": "rss_mib", "VmHWM": "peak_rss_mib"}[key]] = int(rest.split()[0]) / 1024
    return out


def child(path: str) -> dict:
    if path == "runtime":
        sys.meta_path.insert(0, _NoTorch())
    from ..engine.stream import Engine
    from .compute import model_paths
    from .signals import SAMPLE_RATE, speechlike
    if path == "runtime":
        engine = Engine(model_paths()["onnx"], backend="onnxruntime", threads=1)
    else:
        import torch  # noqa: F401  (the full install's footprint includes torch itself)
        from ..training.backend import register  # the eager torch backend
        register()
        engine = Engine(model_paths()["checkpoint"], backend="torch", threads=1)
    stream = engine.create_stream(fps=30)
    audio = speechlike(2.0)
    for i in range(0, len(audio), 320):
        stream.accept_waveform(SAMPLE_RATE, audio[i:i + 320])
        engine.decode_stream(stream)
    return {"backend": engine.backend.name, "torch_loaded": "torch" in sys.modules, **_rss_mib()}


def bench_memory(timeout: float = 300.0) -> dict:
    out = {}
    for path in PATHS:
        proc = subprocess.run([sys.executable, "-m", "facestream.bench.memory", path],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            out[path] = {"skipped": f"the {path} process failed: {tail}"}
        else:
            out[path] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in PATHS:
        sys.exit(f"usage: python -m facestream.bench.memory {{{','.join(PATHS)}}}")
    print(json.dumps(child(sys.argv[1])))
