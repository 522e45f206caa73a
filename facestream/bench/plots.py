"""PNG plots of a benchmark report (matplotlib, headless). Each takes the report's item."""
from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_compute(compute: dict, path: Path) -> Path:
    """Engine cost per chunk (median bar, p99 whisker) per backend and chunk size."""
    plt = _pyplot()
    rows = [(k, v) for k, v in compute["backends"].items() if "skipped" not in v]
    chunks = [str(c) for c in compute["chunks_ms"]]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / max(1, len(rows))
    for i, (label, v) in enumerate(rows):
        xs = [j + i * width for j in range(len(chunks))]
        med = [v[c]["engine"]["median_ms"] for c in chunks]
        p99 = [v[c]["engine"]["p99_ms"] for c in chunks]
        ax.bar(xs, med, width, label=label)
        ax.errorbar(xs, med, yerr=[[0] * len(med), [p - m for p, m in zip(p99, med)]],
                    fmt="none", ecolor="k", lw=0.8, capsize=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(chunks))], [f"{c} ms" for c in chunks])
    ax.set_xlabel("audio chunk")
    ax.set_ylabel("ms per chunk (median, p99 whisker)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("compute per chunk, whole engine path")
    return _save(fig, plt, path)


def plot_throughput(throughput: dict, path: Path) -> Path:
    """p99 (solid) and p50 (dotted) frame latency against concurrent streams."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    modes = [m for m in ("batched", "sharded", "unbatched") if m in throughput]
    for mode in modes:
        curve = throughput[mode]["curve"]
        xs = [t["streams"] for t in curve]
        line, = ax.plot(xs, [t["p99_ms"] for t in curve], "o-", label=f"{mode} p99")
        ax.plot(xs, [t["p50_ms"] for t in curve], ":", color=line.get_color(), label=f"{mode} p50")
    ax.axhline(throughput["p99_bound_ms"], color="r", lw=0.8, ls="--", label="p99 bound")
    counts = [t["streams"] for m in modes for t in throughput[m]["curve"]]
    if counts and max(counts) > 20 * min(counts):
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"concurrent {throughput['fps']} fps streams")
    ax.set_ylabel("frame latency (ms)")
    ax.legend(fontsize=7)
    ax.set_title("throughput")
    return _save(fig, plt, path)


def plot_quality(quality: dict, path: Path) -> Path:
    from ..training.evaluate import plot_latency_curve
    from .quality import as_eval_results
    plot_latency_curve(as_eval_results(quality), path)
    return path


def _save(fig, plt, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


PLOTS = {"compute": ("compute.png", plot_compute), "throughput": ("throughput.png", plot_throughput),
         "quality": ("quality_latency.png", plot_quality)}


def write_plots(report: dict, folder: str | Path) -> dict[str, str]:
    """Every plot whose item was measured -> {item: path}."""
    out = {}
    for key, (name, fn) in PLOTS.items():
        item = report["items"].get(key, {})
        if "skipped" not in item and "error" not in item:
            out[key] = str(fn(item, Path(folder) / name))
    return out
