"""A benchmark report as markdown: the targets, then one section per item, in the issue's
order. The README's Performance section is the same text between two marker comments."""
from __future__ import annotations

import os
import re
from pathlib import Path

from .report import ITEMS
from .stats import machine_line

README_START = "<!-- facestream-bench:start -->"
README_END = "<!-- facestream-bench:end -->"


def _f(x, digits: int = 2) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return out


def _ms3(s: dict) -> str:
    return f"{s['median_ms']:.3f} / {s['p99_ms']:.3f} / {s['max_ms']:.2f}"


def _compute(item: dict) -> list[str]:
    rows = []
    for label, b in item["backends"].items():
        if "skipped" in b:
            rows.append([label, "–", "–", f"skipped: {b['skipped']}", ""])
            continue
        for c in item["chunks_ms"]:
            rows.append([label, b["threads"], f"{c} ms", _ms3(b[str(c)]["model"]), _ms3(b[str(c)]["engine"])])
    return [f"{item['chunks_timed']} consecutive chunks per cell, after a warm-up; the engine "
            "column is `accept_waveform` + `decode_stream` (frames included).", ""] + _table(
        ["backend", "threads", "chunk", "model step median / p99 / max (ms)",
         "engine median / p99 / max (ms)"], rows)


def _latency(item: dict) -> list[str]:
    m = item["metadata"]
    lines = [f"Metadata: **{m['algorithmic_ms']:g} ms** = {m['hop_ms']:g} ms hop + "
             f"{m['lookahead_frames']} look-ahead frames ({m['lookahead_ms']:g} ms); the "
             f"{m['frontend_window_ms']:g} ms analysis window's other {m['frontend_past_ms']:g} ms "
             "lie in the past.", "", f"Measured: {item['method']}.", ""]
    rows = []
    for fps, r in item["measured"].items():
        if "skipped" in r:
            rows.append([f"{fps} fps", f"skipped: {r['skipped']}", "", "", "", ""])
        else:
            rows.append([f"{fps} fps", r["median_ms"], r["min_ms"], r["max_ms"],
                         r["frame_offset_median_ms"],
                         f"{r['onset_frame_median_ms']:.1f} / {r['onset_frame_max_ms']:.1f}"])
    return lines + _table(["output", "delay median (ms)", "min", "max",
                           "responding frame's time − onset (ms)",
                           "frame at the onset's time: median / max (ms)"], rows)


def _mic(item: dict) -> list[str]:
    rows = []
    for label, r in item["configs"].items():
        if "skipped" in r:
            rows.append([label, f"skipped: {r['skipped']}", "", "", "", ""])
        else:
            rows.append([label, r["p50_ms"], r["p99_ms"], r["max_ms"],
                         f"{r['responded']}/{r['onsets']}", r["blocks_lost"]])
    return [f"{item['method']}.", ""] + _table(
        ["microphone", "p50 (ms)", "p99 (ms)", "max (ms)", "onsets answered", "blocks lost"], rows)


def _throughput(item: dict) -> list[str]:
    rows = []
    for mode in ("batched", "sharded", "unbatched"):
        if mode not in item:  # (a report from before the sharded mode)
            continue
        r = item[mode]
        curve = ", ".join(f"{t['streams']}: {_f(t['p99_ms'], 1)}" for t in r["curve"])
        rows.append([mode, f"**{r['max_streams']}**" + (" (search limit)" if r["capped_at_limit"] else ""),
                     _f(r["first_failing"]), curve])
    return [f"{item['fps']} fps streams, {item['chunk_ms']} ms chunks each on a fixed schedule, "
            f"{item['backend']}, {item['trial_seconds']:g} s per trial. batched: one process, "
            f"{item['threads']} threads; sharded: the streams split over {item.get('workers', '?')} "
            f"processes (one per core, 1 thread each), each batching its share; a count passes when p99 frame latency < {item['p99_bound_ms']:g} ms and "
            "≥ 90% of the frames came out.", ""] + _table(
        ["decode", "most streams", "first failing", "p99 ms by stream count"], rows)


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _cell(v) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(map(_f, v)) if all(_scalar(x) for x in v) and len(v) <= 6 else f"{len(v)} values"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_f(x)}" for k, x in v.items()) if all(map(_scalar, v.values())) else "…"
    return _f(v)


def _part(name: str, x) -> list[str]:
    """One measurement of another module's benchmark: a skip, a table of rows (a dict of
    like dicts, e.g. per client count), or a two-column table of its values."""
    if not isinstance(x, dict):
        return [f"**{name}**: {_cell(x)}"]
    if "skipped" in x or "error" in x:
        return [f"**{name}**: " + (f"skipped: {x['skipped']}" if "skipped" in x else f"error: {x['error']}")]
    rows = list(x.values())
    if rows and all(isinstance(r, dict) for r in rows):
        cols = list(dict.fromkeys(k for r in rows for k in r))
        return [f"**{name}**", ""] + _table([""] + cols, [[str(k)] + [_cell(r.get(c)) for c in cols]
                                                          for k, r in x.items()])
    return [f"**{name}**", ""] + _table(["measure", "value"], [[k, _cell(v)] for k, v in x.items()])


def _external(item: dict) -> list[str]:
    out = []
    for name, part in item.items():
        if name != "seconds":
            out += _part(name, part) + [""]
    return out[:-1]


def _memory(item: dict) -> list[str]:
    rows = []
    for path, r in item.items():
        if not isinstance(r, dict):
            continue
        if "skipped" in r:
            rows.append([path, f"skipped: {r['skipped']}", "", "", ""])
        else:
            rows.append([path, r["backend"], r["torch_loaded"], r["rss_mib"], r["peak_rss_mib"]])
    return ["A fresh interpreter opens an engine and decodes 2 s of audio; runtime: `import "
            "torch` is blocked.", ""] + _table(
        ["install", "backend", "torch loaded", "RSS (MiB)", "peak RSS (MiB)"], rows)


def _peers(item: dict) -> list[str]:
    w = item["wav2vec2_base"]
    lines = [f"Cost per second of audio ({item['audio_s']:g} s clip, {item['threads']} thread, "
             "best of several passes); wav2vec2-base built from `Wav2Vec2Config()` with random "
             "weights (no download)."]
    if "skipped" in w:
        lines += ["", f"wav2vec2-base: skipped: {w['skipped']}"]
        rows = [[k, "–", v, "–"] for k, v in item["ours_ms_per_s"].items()]
    else:
        lines[-1] += (f" {w['parameters'] / 1e6:.1f} M parameters; its CNN feature extractor "
                      f"alone: {w['feature_extractor_torch_ms_per_s']:.1f} ms/s (torch).")
        rows = [[k, w["ms_per_s"][k], item["ours_ms_per_s"][k], f"**{item['ratio'][k]:.0f}×**"]
                for k in w["ms_per_s"]]
        if "ours_streaming_20ms_ms_per_s" in item:
            k = "onnxruntime, ours streaming in 20 ms chunks"
            rows.append([k, w["ms_per_s"]["onnxruntime"], item["ours_streaming_20ms_ms_per_s"],
                         f"{item['ratio'][k]:.0f}×"])
    lines += [""] + _table(["runtime", "wav2vec2-base (ms/s)", "facestream (ms/s)", "ratio"], rows)
    if "macs_ratio" in item:
        g, gemm = item["gmacs_onnxruntime"], item["gemm_gmacs"]
        lines += ["", f"Multiply-adds per second of audio: wav2vec2-base "
                  f"{w['macs_per_audio_s'] / 1e9:.2f} G, facestream {item['ours_macs_per_audio_s'] / 1e6:.1f} M: "
                  f"**{item['macs_ratio']:.0f}× fewer**. On onnxruntime wav2vec2-base runs them at "
                  f"{g['wav2vec2_base']:.1f} G/s ({100 * g['wav2vec2_base'] / gemm:.0f}% of this core's "
                  f"{gemm:.1f} G/s on a 512 × 768 × 768 product), facestream at {g['ours']:.1f} G/s "
                  f"({100 * g['ours'] / gemm:.0f}%): the time ratio is the multiply-add ratio times "
                  "our rate over theirs."]
        if "recurrence" in item:
            r = item["recurrence"]
            lines[-1] += (f" One clip is one sequence, so our GRU's recurrence "
                          f"({100 * r['macs_share']:.0f}% of our multiply-adds) is a "
                          f"{' × '.join(map(str, r['shape']))} matrix-vector product every 10 ms "
                          f"step, which a one-node onnxruntime MatMul of that shape runs at {r['gmacs']:.1f} G/s.")
    lines += ["", "Latency each design cannot go below:", ""]
    srows = [[s["system"], "the whole utterance" if s["min_latency_s"] is None else
              f"{s['min_latency_s']:.2f} s", s["why"], s["source"]] for s in item["structural"]]
    return lines + _table(["system", "structural latency", "why", "source"], srows)


def _quality(item: dict) -> list[str]:
    lines = [f"From `{os.path.relpath(item['source'])}` (`facestream eval --json`)."]
    for split, rows in item["splits"].items():
        lines += ["", f"**{split}**", ""]
        lines += _table(["model", "latency (ms)", "LVE (1e-5 m²)", "lip mean (mm)"],
                        [[r["model"], "offline" if r["latency_ms"] is None else r["latency_ms"],
                          r.get("LVE_1e-5m2"), r.get("lip_mean_mm")] for r in rows])
    return lines


def _limit(item: dict) -> list[str]:
    lines = [f"Multiply-adds counted from the graph: **{item['macs_per_audio_s'] / 1e6:.1f} M per "
             f"second of audio** per stream. Each product timed alone as a one-thread "
             f"onnxruntime MatMul at its shape for a tick of {item['batch']} streams × 2 steps "
             f"(mean {item['mean_rate_gmacs']:.1f} G multiply-adds/s): **{item['streams_per_core']:.0f} "
             f"streams per core** at 100% of that rate, {item['streams_at_limit']:.0f} on "
             f"{item['cores']} cores.", ""]
    rows = [[p["node"], p["op"], f"{p['macs'] / 1e6:.2f}", " × ".join(map(str, p["tick_shape"])),
             f"{p['rate_gmacs']:.1f}", f"{1e3 * p['core_s_per_audio_s']:.3f}"] for p in item["products"]]
    lines += _table(["product", "op", "M multiply-adds per audio s", "tick shape M × K × N",
                     "G multiply-adds/s", "core ms per audio s"], rows)
    lines += ["", f"Model step alone, batch {item['batch']}, 1 thread: "
              f"{item['model_streams_per_core']:.0f} streams per core = "
              f"**{100 * item['model_fraction']:.0f}% of the limit**."]
    if "measured_streams" in item:
        lines.append(f"Engine, batched (best of the throughput modes above): {item['measured_streams']} streams = "
                     f"**{100 * item['measured_fraction']:.0f}% of the limit** on {item['cores']} cores.")
    return lines


def _int8(item: dict) -> list[str]:
    rows = [[b, r["float_ms"], r["int8_ms"], f"{r['speedup']:.2f}×"] for b, r in item["batches"].items()]
    return [f"onnxruntime dynamic quantisation of {', '.join(item['quantised_ops'])} (int8 "
            "weights); one 20 ms chunk (2 steps), one thread. Quality: `facestream eval --onnx "
            "FLOAT --onnx INT8` (shipped only within 3% of float on LVE and closure).", ""] + _table(
        ["batch", "float (ms)", "int8 (ms)", "speed-up"], rows)


SECTIONS = {"compute": _compute, "latency": _latency, "mic": _mic, "throughput": _throughput,
            "server": _external, "viewer": _external, "memory": _memory, "peers": _peers,
            "quality": _quality, "limit": _limit, "int8": _int8, "browser": _external}


def render(report: dict, plots: dict[str, str] | None = None, level: int = 2) -> str:
    """Markdown for a report; `plots`: {item: image path as the markdown should link it}."""
    h = "#" * level
    plots = plots or {}
    lines = [f"Machine: {machine_line(report['machine'])}."]
    runs = report.get("runs")
    if runs:
        lines.append(f"Runs: {len(runs)} {'quick' if report['quick'] else 'full'} runs, "
                     + ", ".join(f"{r['started']} ({r['duration_s']:g} s)" for r in runs)
                     + f"; targets: the median of the runs with their spread; the sections below "
                     f"are run {report['details_from_run']} (the median engine path).")
    else:
        lines.append(f"Run: {'quick (CI-sized)' if report['quick'] else 'full'}, "
                     f"{report['started']}, {report['duration_s']:g} s.")
    if report.get("items_rerun"):
        lines.append("Rerun alone afterwards (sections replaced, targets unchanged): "
                     + ", ".join(f"{k} ({v})" for k, v in report["items_rerun"].items()) + ".")
    lines += ["", f"{h} Targets", ""]
    if runs:
        lines += _table(["target", "goal", "median", "runs (spread)", "pass"],
                        [[k, t["target"], _f(t["value"]) if t["measured"] else "not measured",
                          ", ".join(_f(v) for v in t.get("runs_values", [])) or "–",
                          "**yes**" if t["pass"] else "no"] for k, t in report["targets"].items()])
    else:
        lines += _table(["target", "goal", "measured", "pass"],
                        [[k, t["target"], _f(t["value"]) if t["measured"] else "not measured",
                          "**yes**" if t["pass"] else "no"] for k, t in report["targets"].items()])
    for n, (key, title) in enumerate(ITEMS.items(), 1):
        if key not in report["items"]:
            continue
        item = report["items"][key]
        lines += ["", f"{h} {n}. {title}", ""]
        if "error" in item:
            lines.append(f"error: {item['error']}")
        elif "skipped" in item:
            lines.append(f"skipped: {item['skipped']}")
        else:
            lines += SECTIONS[key](item)
        if key in plots:
            lines += ["", f"![{title}]({plots[key]})"]
    return "\n".join(lines) + "\n"


def rewrite_readme(readme: str | Path, section: str) -> bool:
    """Replace the text between README_START and README_END; -> whether the file changed.
    The markers must be there (add them where the section belongs)."""
    readme = Path(readme)
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {README_START} ... {README_END} markers: add them "
                         "where the Performance section should go")
    new = pattern.sub(lambda _: f"{README_START}\n{section.rstrip()}\n{README_END}", text)
    if new != text:
        readme.write_text(new)
    return new != text
