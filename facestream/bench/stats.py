"""Summaries of timing samples, and the machine the numbers come from."""
from __future__ import annotations

import os
import platform
import time
from importlib import metadata

import numpy as np

VERSIONED = ("facestream", "numpy", "onnxruntime", "torch", "transformers", "websockets",
             "moderngl", "matplotlib")


def summarize(seconds) -> dict[str, float]:
    """Timing samples in seconds -> {n, median_ms, p99_ms, max_ms, mean_ms}."""
    x = np.asarray(seconds, dtype=np.float64) * 1e3
    if x.size == 0:
        raise ValueError("no timing samples to summarize")
    return {"n": int(x.size), "median_ms": float(np.median(x)),
            "p99_ms": float(np.percentile(x, 99)), "max_ms": float(x.max()),
            "mean_ms": float(x.mean())}


def skipped(reason: str) -> dict[str, str]:
    return {"skipped": reason}


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe_machine() -> dict:
    """CPU, cores, RAM, OS, package versions and the load when the run began (read without
    importing torch or anything heavy)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in VERSIONED},
        "load_avg_1_5_15": [round(v, 2) for v in load],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def machine_line(m: dict) -> str:
    """One line for tables and the README."""
    v = m["versions"]
    parts = [f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']} "
             f"(kernel {m['kernel']}), Python {m['python']}"]
    parts += [f"{k} {v[k]}" for k in ("onnxruntime", "torch", "transformers") if v.get(k)]
    parts.append(f"load average at start {m['load_avg_1_5_15'][0]}")
    return ", ".join(parts)
