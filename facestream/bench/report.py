"""Run the benchmark items, collect one report, and judge it against the targets.

A report is JSON: {machine, quick, started, duration_s, items: {key: result}, targets}.
Every item's result is a dict of measurements or {"skipped": reason} or {"error": message};
targets are {label: {target, value, pass, measured}} with `pass` always a boolean (a target
whose measurement is missing does not pass).
"""
from __future__ import annotations

import math
import sys
import time
import traceback
from dataclasses import asdict, dataclass

import numpy as np

from .mic import DEFAULT_CONFIG as MIC_DEFAULT_CONFIG
from .stats import describe_machine

# key -> title, in report order (the numbering).
ITEMS = {
    "compute": "Compute per chunk",
    "latency": "Algorithmic latency",
    "mic": "Microphone to frame",
    "throughput": "Throughput",
    "server": "Websocket delivery",
    "viewer": "Rendering",
    "memory": "Memory",
    "peers": "Peers",
    "quality": "Quality versus latency",
    "limit": "The model's limit",
    "int8": "int8 variant",
    "browser": "The model in the browser",
}


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False  # CI-sized: fewer samples, shorter trials
    compute_chunks: int = 2000  # chunks timed per backend and chunk size
    onset_trials: int = 12  # onset positions per output frame rate
    mic_onsets: int = 20  # bursts per microphone configuration
    throughput_seconds: float = 5.0  # wall time of each stream-count trial
    peers_audio_s: float = 10.0  # clip both encoders time
    peers_repeats: int = 5  # best of this many forward passes
    only: tuple[str, ...] = ()  # item keys to run (empty: all)

    def validate(self) -> None:
        unknown = sorted(set(self.only) - set(ITEMS))
        if unknown:
            raise ValueError(f"unknown benchmark item(s) {', '.join(unknown)}: choose from "
                             f"{', '.join(ITEMS)}")


def options(quick: bool = False, only=()) -> BenchOptions:
    if quick:
        opts = BenchOptions(quick=True, compute_chunks=200, onset_trials=4, mic_onsets=3,
                            throughput_seconds=1.0, peers_audio_s=2.0, peers_repeats=2,
                            only=tuple(only))
    else:
        opts = BenchOptions(only=tuple(only))
    opts.validate()
    return opts


def _run_item(key: str, opts: BenchOptions, report: dict):
    import os
    from ..engine.stream import Engine
    if key == "compute":
        from .compute import bench_compute
        return bench_compute(opts.compute_chunks)
    if key == "latency":
        from .onset import bench_onset
        return bench_onset(Engine(backend="onnxruntime", threads=1), opts.onset_trials)
    if key == "mic":
        from .mic import bench_mic
        return bench_mic(opts.mic_onsets)
    if key == "throughput":
        from .throughput import bench_throughput
        return bench_throughput(Engine(backend="onnxruntime", threads=os.cpu_count() or 1),
                                opts.throughput_seconds)
    if key == "server":
        from .external import bench_server
        return bench_server(opts.quick)
    if key == "viewer":
        from .external import bench_viewer
        return bench_viewer(opts.quick)
    if key == "memory":
        from .memory import bench_memory
        return bench_memory()
    if key == "peers":
        from .peers import bench_peers
        return bench_peers(opts.peers_audio_s, threads=1, repeats=opts.peers_repeats,
                           streaming_ms_per_20ms=_get(report, "compute", "backends",
                                                      "onnxruntime", "20", "engine", "median_ms"))
    if key == "quality":
        from .quality import bench_quality
        return bench_quality()
    if key == "limit":
        return _limit(opts, report)
    if key == "int8":
        import tempfile
        from .int8 import bench_int8
        with tempfile.TemporaryDirectory(prefix="facestream-int8-") as tmp:
            out = bench_int8(tmp, repeats=50 if opts.quick else 200)
        out["path"] = "a temporary folder"
        return out
    if key == "browser":  # issue 19: onnxruntime-web in headless Chromium (bench/browser.py)
        from .browser import bench_browser
        return bench_browser(opts.quick)
    raise ValueError(f"unknown benchmark item {key!r}")


def _limit(opts: BenchOptions, report: dict) -> dict:
    """The limit row, with the model step alone and the engine's batched throughput (when
    it ran in this report) as fractions of it."""
    import os
    from ..engine.stream import Engine
    from .limit import bench_limit, model_streams_per_core
    cores = os.cpu_count() or 1
    out = bench_limit(seconds=0.1 if opts.quick else 0.3)
    out["cores"] = cores
    out["streams_at_limit"] = out["streams_per_core"] * cores
    model = model_streams_per_core(Engine(backend="onnxruntime", threads=1), out["batch"],
                                   repeats=5 if opts.quick else 20)
    out["model_streams_per_core"] = model
    out["model_fraction"] = model / out["streams_per_core"]
    measured = _get(report, "throughput", "best_batched")
    if measured is not None:
        out["measured_streams"] = measured
        out["measured_fraction"] = measured / out["streams_at_limit"]
    return out


def run_bench(opts: BenchOptions, log=sys.stderr) -> dict:
    t0 = time.perf_counter()
    report = {"machine": describe_machine(), "quick": opts.quick, "options": asdict(opts),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "items": {}}
    keys = [k for k in ITEMS if not opts.only or k in opts.only]
    for n, key in enumerate(keys, 1):
        t = time.perf_counter()
        print(f"[{n}/{len(keys)}] {ITEMS[key]} ...", file=log, flush=True)
        try:
            result = _run_item(key, opts, report)
        except Exception as e:  # one broken item must not lose the others' numbers
            traceback.print_exc(file=log)
            result = {"error": f"{type(e).__name__}: {e}"}
        result["seconds"] = round(time.perf_counter() - t, 1)
        report["items"][key] = result
        print(f"[{n}/{len(keys)}] {ITEMS[key]}: {result['seconds']} s", file=log, flush=True)
    report["duration_s"] = round(time.perf_counter() - t0, 1)
    report["targets"] = judge(report)
    return report


def combine(reports: list[dict]) -> dict:
    """Several full runs as one report: each target's value is the median over the runs,
    with every run's value kept (`runs_values`, the spread) and the pass judged on the median;
    the items (the detailed sections) are those of the run whose engine path per 20 ms chunk
    is the median one (the first target when that did not run). `runs`: what each run gave."""
    import copy
    if not reports:
        raise ValueError("combine needs at least one report")
    if len(reports) == 1:
        return reports[0]
    labels = list(reports[0]["targets"])
    key = labels[0] if labels else None
    order = sorted(range(len(reports)), key=lambda i: (
        reports[i]["targets"].get(key, {}).get("value") is None,
        reports[i]["targets"].get(key, {}).get("value") or 0.0))
    middle = order[(len(order) - 1) // 2]
    out = copy.deepcopy(reports[middle])
    out["runs"] = [{"started": r["started"], "duration_s": r["duration_s"],
                    "targets": {k: t.get("value") for k, t in r["targets"].items()}} for r in reports]
    out["details_from_run"] = middle + 1
    for label, t in out["targets"].items():
        values = [r["targets"][label]["value"] for r in reports
                  if label in r["targets"] and r["targets"][label]["measured"]]
        t["runs_values"] = values
        if values:
            v = float(np.median(values))
            op, bound = t["target"].split()[:2]
            t["value"], t["measured"] = v, True
            t["pass"] = bool(v <= float(bound) if op == "<=" else v >= float(bound))
    return out


def check_update(report: dict, items, quick: bool) -> None:
    """Raise ValueError unless a run of `items` (quick or not) may go into `report` by
    `update`: an item a target reads (`_TARGET_SPEC`), or the limit row, which reads the
    throughput, would leave the runs' medians stale."""
    target_items = {path[0] for *_, path in _TARGET_SPEC} | {"limit"}
    bad = sorted(k for k in items if k in target_items)
    if bad:
        raise ValueError(f"items {bad} feed the targets or the limit row: rerun the whole "
                         f"benchmark instead (items that can be rerun alone: "
                         f"{sorted(k for k in ITEMS if k not in target_items)})")
    if quick != report.get("quick"):
        raise ValueError("cannot put a quick run's items into a full report or the other way round")


def update(report: dict, fresh: dict) -> dict:
    """`report` with the items of `fresh` (a run of a few non-target items, e.g. after fixing
    one that failed) in place of its own; `items_rerun` records which were replaced and when."""
    import copy
    check_update(report, fresh["items"], fresh.get("quick"))
    out = copy.deepcopy(report)
    out["items"].update(copy.deepcopy(fresh["items"]))
    out.setdefault("items_rerun", {}).update({k: fresh["started"] for k in fresh["items"]})
    return out


def _get(report: dict, *path):
    x = report.get("items", {})
    for p in path:
        if not isinstance(x, dict) or p not in x:
            return None
        x = x[p]
    return x


_TARGET_SPEC = [
    ("compute per 20 ms chunk, 1 thread", "<=", 0.25, "ms",
     ("compute", "backends", "onnxruntime", "20", "engine", "median_ms")),
    ("algorithmic latency (model metadata)", "<=", 40.0, "ms",
     ("latency", "metadata", "algorithmic_ms")),
    ("onset to first responding frame, 30 fps (median)", "<=", 40.0, "ms",
     ("latency", "measured", "30", "median_ms")),
    ("microphone to frame p50 (animate defaults)", "<=", 60.0, "ms",
     ("mic", "configs", MIC_DEFAULT_CONFIG, "p50_ms")),
    ("concurrent 30 fps streams with p99 < 50 ms", ">=", 500, "streams",
     ("throughput", "best_batched")),
    ("less compute than wav2vec2-base (onnxruntime both)", ">=", 100.0, "x",
     ("peers", "ratio", "onnxruntime")),
]


def judge(report: dict) -> dict:
    """The issue's targets for the items that ran, each {target, value, unit, pass, measured}."""
    out = {}
    for label, op, bound, unit, path in _TARGET_SPEC:
        if path[0] not in report.get("items", {}):  # not run (--only): not judged
            continue
        v = _get(report, *path)
        measured = isinstance(v, (int, float)) and math.isfinite(v)
        ok = measured and (v <= bound if op == "<=" else v >= bound)
        out[label] = {"target": f"{op} {bound:g} {unit}", "value": v if measured else None,
                      "unit": unit, "pass": bool(ok), "measured": bool(measured)}
    return out


def problems(report: dict) -> list[str]:
    """What makes a report incomplete or malformed (empty: fine): every item present, every
    number finite, every skip or error a non-empty reason, every flag a boolean."""
    bad = [f"item {key} missing" for key in (report["options"]["only"] or ITEMS)
           if key not in report.get("items", {})]
    for key, item in report.get("items", {}).items():
        bad += [f"{key}: {p}" for p in _leaf_problems(item)]
    for label, t in report.get("targets", {}).items():
        if not isinstance(t.get("pass"), bool) or not isinstance(t.get("measured"), bool):
            bad.append(f"target {label}: flags must be booleans")
    return bad


def _leaf_problems(x, path="") -> list[str]:
    if isinstance(x, dict):
        out = []
        for k, v in x.items():
            if k in ("skipped", "error") and not (isinstance(v, str) and v.strip()):
                out.append(f"{path}/{k}: needs a reason")
            out += _leaf_problems(v, f"{path}/{k}")
        return out
    if isinstance(x, list):
        return [p for i, v in enumerate(x) for p in _leaf_problems(v, f"{path}[{i}]")]
    if isinstance(x, float) and not math.isfinite(x):
        return [f"{path}: not a finite number"]
    return []
