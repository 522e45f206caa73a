"""The demo contact sheet: the default head in a few expressions and each emotion preset."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import vocab
from ..engine.emotion import emotion_expression
from ..engine.head import Head


def demo_poses(head: Head) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, expression K, pose 15) for neutral, jaw open, smile, pucker, blink and each
    emotion. On a FLAME head (no ARKit basis) only the jaw can move."""
    k = head.num_expressions

    def arkit(**weights) -> np.ndarray:
        w = np.zeros(vocab.NUM_ARKIT, np.float32)
        for n, x in weights.items():
            w[vocab.ARKIT_INDEX[n]] = x
        return w

    def pose_for(w: np.ndarray) -> np.ndarray:
        p = np.zeros(vocab.POSE_DIM, np.float32)
        p[vocab.POSE_SLICES["jaw"]] = vocab.jaw_open_to_pose(w[vocab.ARKIT_INDEX["jawOpen"]])
        return p

    items = [("neutral", arkit()), ("jaw open", arkit(jawOpen=0.8)),
             ("smile", arkit(mouthSmileLeft=1, mouthSmileRight=1, cheekSquintLeft=0.5,
                             cheekSquintRight=0.5)),
             ("pucker", arkit(mouthPucker=1, mouthFunnel=0.3)),
             ("blink", arkit(eyeBlinkLeft=1, eyeBlinkRight=1))]
    items += [(name, emotion_expression(name, 1.0)) for name in vocab.EMOTION_NAMES[1:]]
    out = []
    for label, w in items:
        expr = w if head.is_arkit else np.zeros(k, np.float32)
        out.append((label, expr, pose_for(w)))
    return out


def render_demo_sheet(head: Head, path: str | Path, size: int = 384) -> dict:
    """Render the demo poses to a PNG contact sheet; returns paths and timings."""
    from .render import Renderer
    from .sheet import contact_sheet

    t0 = time.perf_counter()
    renderer = Renderer(head, size, size)
    t_setup = time.perf_counter() - t0
    images, labels, t_fwd, t_draw = [], [], 0.0, 0.0
    for label, expr, pose in demo_poses(head):
        t = time.perf_counter()
        verts = head.forward(expr, pose)
        t_fwd += time.perf_counter() - t
        t = time.perf_counter()
        images.append(renderer.render(verts))
        t_draw += time.perf_counter() - t
        labels.append(label)
    renderer.release()
    contact_sheet(images, labels, columns=4, path=path,
                  title=f"facestream: {head.name} ({head.num_vertices} vertices)")
    n = len(images)
    return {"path": str(path), "panels": n, "size": size, "setup_s": t_setup,
            "forward_ms_per_frame": 1e3 * t_fwd / n, "render_ms_per_frame": 1e3 * t_draw / n,
            "total_s": time.perf_counter() - t0}
