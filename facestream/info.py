"""What this installation of facestream has: version, head, backends, audio devices."""
from __future__ import annotations

import importlib.util
import platform

from . import __version__, vocab
from .engine.head import load_head


def inference_backends() -> dict[str, object]:
    """Backends the engine could run on here, found without importing torch."""
    out: dict[str, object] = {}
    if importlib.util.find_spec("onnxruntime") is not None:
        try:
            import onnxruntime as ort
            out["onnxruntime"] = {"version": ort.__version__,
                                  "providers": ort.get_available_providers()}
        except Exception as e:  # a broken install must not break `info`
            out["onnxruntime"] = {"error": str(e)}
    if importlib.util.find_spec("torch") is not None:
        out["torchscript"] = out["torch"] = {"installed": True}
    return out


def audio_devices() -> dict[str, object]:
    """Input devices PortAudio sees, or why none can be listed."""
    from .engine.sources import AudioSourceError, list_input_devices
    try:
        return {"available": True, "inputs": list_input_devices()}
    except AudioSourceError as e:
        return {"available": False, "reason": str(e)}


def collect(head_path=None) -> dict[str, object]:
    head = load_head(head_path)
    return {
        "version": __version__,
        "python": platform.python_version(),
        "head": {"name": head.name, "vertices": head.num_vertices, "faces": head.num_faces,
                 "expressions": head.num_expressions, "arkit": head.is_arkit,
                 "regions": {k: len(v) for k, v in head.regions.items()}},
        "blendshapes": list(vocab.ARKIT_NAMES),
        "emotions": list(vocab.EMOTION_NAMES),
        "sample_rate": vocab.SAMPLE_RATE,
        "fps": list(vocab.OUTPUT_FPS),
        "backends": inference_backends(),
        "audio": audio_devices(),
    }


def format_text(info: dict) -> str:
    h = info["head"]
    lines = [
        f"facestream {info['version']} (Python {info['python']})",
        f"head: {h['name']}: {h['vertices']} vertices, {h['faces']} triangles, "
        f"{h['expressions']} expression shapes" + (" (ARKit)" if h["arkit"] else ""),
        f"blendshapes: {len(info['blendshapes'])} ARKit names; emotions: {', '.join(info['emotions'])}",
        f"audio in: {info['sample_rate']} Hz; frame rates: {', '.join(map(str, info['fps']))} fps",
        "backends: " + (", ".join(info["backends"]) or "none (pip install onnxruntime)"),
    ]
    a = info["audio"]
    if a["available"]:
        lines.append(f"audio inputs: {len(a['inputs'])}")
        lines += [f"  [{d['index']}] {d['name']} ({d['channels']} ch)" for d in a["inputs"]]
    else:
        lines.append(f"audio inputs: none ({a['reason']})")
    return "\n".join(lines)
