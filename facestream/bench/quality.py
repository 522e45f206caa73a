"""Item 9: quality against latency, read from `facestream eval --json` (docs/eval/eval.json).

The evaluation owns the numbers; this only arranges its look-ahead table as points
(latency in ms, or None for the offline model) per split, for the table and the plot.
"""
from __future__ import annotations

import json
from pathlib import Path

METRICS = {"LVE_1e-5m2": "LVE (1e-5 m²)", "lip_mean_mm": "mean lip error (mm)"}


def default_eval_path() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "eval" / "eval.json"


def bench_quality(path: str | Path | None = None) -> dict:
    """-> {source, splits: {split: [{model, latency_ms, LVE_1e-5m2, lip_mean_mm}]}, roles:
    {model: what it is in the evaluation (baseline, sweep, compare, shipped, ...)}}."""
    path = Path(path) if path is not None else default_eval_path()
    if not path.exists():
        return {"skipped": f"no evaluation at {path}: run `facestream eval --json` first"}
    data = json.loads(path.read_text())
    if "latency_ms" not in data or "splits" not in data:
        return {"skipped": f"{path} has no look-ahead table (latency_ms and splits)"}
    latency = data["latency_ms"]
    splits = {}
    for split, models in data["splits"].items():
        rows = []
        for model, m in models.items():
            lat = latency.get(model)
            rows.append({"model": model, "latency_ms": None if lat is None else float(lat),
                         **{k: float(m[k]) for k in METRICS if k in m}})
        splits[split] = rows
    return {"source": str(path), "metrics": METRICS, "splits": splits,
            "roles": dict(data.get("roles", {}))}


def as_eval_results(quality: dict) -> dict:
    """The rows back in `facestream eval --json`'s shape, for its own plot."""
    latency, splits = {}, {}
    for split, rows in quality["splits"].items():
        splits[split] = {}
        for r in rows:
            latency[r["model"]] = r["latency_ms"]
            splits[split][r["model"]] = {k: r[k] for k in METRICS if k in r}
    return {"latency_ms": latency, "splits": splits, "roles": dict(quality.get("roles", {}))}
