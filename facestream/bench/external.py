"""Items 5 and 6: the server's and the viewer's own benchmarks, called as they ship them.

`facestream.server.bench` (websocket delivery for 1/10/50 clients, server CPU, the soak run)
and `facestream.viewer.bench` (offscreen rendering at 512² and 1024², the live loop) own
their measurements; here they are only called with run-sized arguments. A missing module or
function is a skip with the reason; any other failure is reported as the item's error.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys

from .stats import skipped


def _call(module: str, function: str, **kwargs):
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        return skipped(f"{module} is not importable here ({e})")
    fn = getattr(mod, function, None)
    if fn is None:
        return skipped(f"{module} has no {function}()")
    return fn(**kwargs)


def bench_server(quick: bool) -> dict:
    return {"delivery": _call("facestream.server.bench", "bench_delivery", clients=(1, 10, 50),
                              seconds=1.0 if quick else 5.0),
            "soak": _call("facestream.server.bench", "bench_soak", seconds=3.0 if quick else 60.0)}


def bench_viewer(quick: bool) -> dict:
    return {"render": _call("facestream.viewer.bench", "bench_render", sizes=(512, 1024),
                            frames=20 if quick else 120),
            "live": _live_in_own_process(seconds=2.0 if quick else 10.0)}


def _live_in_own_process(seconds: float) -> dict:
    """bench_live in a fresh interpreter, as `facestream live` runs: after the offscreen
    render bench has made an EGL context in this process, a GLX window context can no longer
    be detected in it (glXGetCurrentContext fails), which the live window never meets."""
    code = ("import json, sys; from facestream.viewer.bench import bench_live; "
            f"json.dump(bench_live(seconds={seconds!r}), sys.stdout)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=seconds * 10 + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"the live benchmark's process failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)
