"""Viewer benchmarks: offscreen render rate and the live loop's frame rate.

    .venv/bin/python -c "from facestream.viewer.bench import bench_render; print(bench_render())"
    xvfb-run -a -s "-screen 0 1024x768x24" .venv/bin/python -c "from facestream.viewer.bench import bench_live; print(bench_live())"

Both reuse the real code paths (Renderer.render; run_live with the bundled clip), so the
numbers are what `facestream render` and `facestream live` get.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from .. import vocab


def _speech_like_vertices(head, n: int) -> np.ndarray:
    """n x V x 3: the jaw and lips cycling at a syllable rate, so every frame uploads new
    vertices and new normals."""
    t = np.arange(n) / 30.0
    w = np.zeros((n, vocab.NUM_ARKIT), np.float32)
    open_ = 0.5 - 0.5 * np.cos(2 * np.pi * 4.0 * t)
    pose = np.zeros((n, vocab.POSE_DIM), np.float32)
    if head.is_arkit:
        w[:, vocab.ARKIT_INDEX["jawOpen"]] = open_
        w[:, vocab.ARKIT_INDEX["mouthSmileLeft"]] = w[:, vocab.ARKIT_INDEX["mouthSmileRight"]] = 0.3
    pose[:, vocab.POSE_SLICES["jaw"]] = vocab.jaw_open_to_pose(open_)
    expr = w if head.is_arkit else np.zeros((n, head.num_expressions), np.float32)
    return head.forward(expr, pose)


def bench_render(sizes=(512, 1024), frames: int = 60, samples: int = 4, head=None) -> dict:
    """Offscreen frames per second per square size, each frame = vertex upload + normals on
    the CPU + draw + multisample resolve + readback. -> {"fps": {size: fps}, ...}."""
    from ..engine.head import load_head
    from .render import Renderer, vertex_normals

    head = head if head is not None else load_head(head)
    verts = _speech_like_vertices(head, frames)
    t = time.perf_counter()
    for v in verts:
        vertex_normals(v, head.faces)
    normals_ms = 1e3 * (time.perf_counter() - t) / frames
    out = {"frames": frames, "samples": samples, "vertices": head.num_vertices,
           "triangles": head.num_faces, "normals_ms": normals_ms, "fps": {}, "ms_per_frame": {}}
    for size in sizes:
        r = Renderer(head, size, size, samples=samples)
        try:
            out["gl_renderer"] = r.ctx.info["GL_RENDERER"]
            for v in verts[:3]:  # shader compilation and first allocations are not the rate
                r.render(v)
            t = time.perf_counter()
            for v in verts:
                r.render(v)
            dt = time.perf_counter() - t
        finally:
            r.release()
        out["fps"][int(size)] = frames / dt
        out["ms_per_frame"][int(size)] = 1e3 * dt / frames
    return out


def bench_live(seconds: float = 3.0, size: int = 512) -> dict:
    """The live loop (engine thread + window drawing as fast as it can) on the bundled clip,
    under the current DISPLAY. -> its statistics, or {"skipped": reason}."""
    if not os.environ.get("DISPLAY"):
        return {"skipped": "no DISPLAY: run under `xvfb-run -a -s '-screen 0 1024x768x24'` or in a desktop session"}
    import argparse

    from .live import add_parser, run_live
    from .render import GLError
    from .video import example_clip_path

    with tempfile.TemporaryDirectory(prefix="facestream-bench-") as tmp:
        parser = argparse.ArgumentParser()
        add_parser(parser.add_subparsers())  # the live command's own options, not the whole CLI
        args = parser.parse_args(
            ["live", "--input", str(example_clip_path()), "--duration", str(seconds),
             "--max-fps", "0", "--size", str(size), "--no-playback", "--record-dir", tmp])
        try:
            stats = run_live(args)
        except GLError:
            raise  # a window that draws no face must fail the benchmark, not skip it
        except (RuntimeError, ImportError) as e:
            return {"skipped": str(e)}
    stats["size"] = size
    return stats
