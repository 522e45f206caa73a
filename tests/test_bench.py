"""`facestream bench`: the quick run end to end gives a complete, well-formed report, and the
pieces it is built from behave (response detection, causality of the onset test, report
checks, README rewriting). No timing is asserted: the targets are flags in the report."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from facestream.bench import ITEMS, README_END, README_START, judge, problems, render, rewrite_readme
from facestream.bench.signals import first_response, onset_signal
from facestream.bench.stats import summarize


def test_first_response_finds_the_step():
    arkit = np.zeros((40, 52), np.float32)
    arkit[25:, 24] = np.linspace(0.05, 0.5, 15)  # jawOpen rises from frame 25
    t = np.arange(40)
    k = first_response(arkit, baseline=t < 15, after=t >= 20)
    assert k == 25
    assert first_response(np.zeros((40, 52)), t < 15, t >= 20) is None  # a face that never moves


def test_onset_signal_is_silent_until_the_onset():
    x, onset = onset_signal(0.5, 0.2)
    assert onset == 8000 and not x[:onset].any() and x[onset] != 0
    assert np.abs(x).max() <= 0.5 + 1e-6


def test_onset_response_is_causal_and_within_the_models_latency():
    """The first responding frame never leaves before the onset's audio arrived, and no later
    than the model's latency plus one output frame and one fed chunk."""
    from facestream.bench.onset import onset_trial
    from facestream.engine.stream import Engine
    engine = Engine(backend="onnxruntime")
    for fps, shift in ((30, 0), (30, 200), (60, 90)):
        r = onset_trial(engine, fps, shift)
        assert r is not None, "the shipped model did not respond to a vowel burst"
        assert 0 < r["delay_ms"] <= engine.latency_ms + 1000 / fps + 10


def test_summarize():
    s = summarize([0.001] * 99 + [0.01])
    assert s["n"] == 100 and s["median_ms"] == pytest.approx(1.0) and s["max_ms"] == pytest.approx(10.0)
    with pytest.raises(ValueError):
        summarize([])


def _report(items):
    return {"machine": {}, "quick": True, "options": {"only": []}, "items": items,
            "started": "now", "duration_s": 1.0}


def test_problems_catch_missing_items_nans_empty_reasons_and_bad_flags():
    rep = _report({k: {"skipped": "not here"} for k in ITEMS})
    rep["targets"] = judge(rep)
    assert problems(rep) == []
    assert all(t["pass"] is False and t["measured"] is False for t in rep["targets"].values())
    rep["items"]["compute"] = {"x": float("nan")}
    rep["items"]["mic"] = {"skipped": ""}
    del rep["items"]["quality"]
    rep["targets"]["t"] = {"pass": 1, "measured": True}
    found = " ".join(problems(rep))
    for what in ("compute", "mic", "quality", "target t"):
        assert what in found


def test_readme_section_is_rewritten_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Performance\n{README_START}\nold\n{README_END}\n\n## Next\n")
    assert rewrite_readme(readme, "new table\n")
    text = readme.read_text()
    assert "new table" in text and "old" not in text and text.endswith("## Next\n")
    assert not rewrite_readme(readme, "new table\n")
    (tmp_path / "bare.md").write_text("# nothing\n")
    with pytest.raises(ValueError, match="markers"):
        rewrite_readme(tmp_path / "bare.md", "x")


def test_several_runs_report_the_median_with_the_spread():
    """Three runs: each target's value is the median, all three values are kept, the pass is
    judged on the median, the sections come from the median run, and the markdown says so."""
    from facestream.bench.report import combine
    runs = []
    for k, (ms, streams) in enumerate(((0.30, 700), (0.20, 400), (0.26, 520))):
        rep = _report({"compute": {"backends": {"onnxruntime": {"20": {"engine": {"median_ms": ms}}}}},
                       "throughput": {"best_batched": streams}})
        rep["started"] = f"run{k}"
        rep["targets"] = judge(rep)
        runs.append(rep)
    both = combine(runs)
    engine = both["targets"]["compute per 20 ms chunk, 1 thread"]
    streams = both["targets"]["concurrent 30 fps streams with p99 < 50 ms"]
    assert engine["value"] == pytest.approx(0.26) and engine["runs_values"] == [0.30, 0.20, 0.26]
    assert engine["pass"] is False and streams["value"] == 520 and streams["pass"] is True
    assert both["details_from_run"] == 3 and both["items"]["throughput"]["best_batched"] == 520
    assert [r["started"] for r in both["runs"]] == ["run0", "run1", "run2"]
    assert runs[0]["targets"]["compute per 20 ms chunk, 1 thread"]["value"] == 0.30  # not mutated
    from facestream.bench.stats import describe_machine
    both["items"], both["machine"] = {}, describe_machine()
    text = render(both)
    assert "3 quick runs" in text and "| median | runs (spread) |" in text and "0.30, 0.20, 0.26" in text
    assert combine(runs[:1]) is runs[0]


def test_update_replaces_items_that_feed_no_target_and_refuses_the_others():
    """`--update`: a failed section rerun alone goes into the report in place of the old one,
    the targets stay the runs' medians, the markdown says what was rerun; an item a target
    reads is refused (its median would go stale)."""
    from facestream.bench.report import update
    base = _report({"compute": {"backends": {"onnxruntime": {"20": {"engine": {"median_ms": 0.3}}}}},
                    "viewer": {"error": "Exception: no context"}})
    base["targets"] = judge(base)
    fresh = _report({"viewer": {"render": {"frames": 20}, "live": {"fps": 30.0}}})
    fresh["started"] = "rerun-time"
    both = update(base, fresh)
    assert both["items"]["viewer"] == {"render": {"frames": 20}, "live": {"fps": 30.0}}
    assert both["targets"] == base["targets"] and both["items_rerun"] == {"viewer": "rerun-time"}
    assert "error" in base["items"]["viewer"]  # not mutated
    from facestream.bench.stats import describe_machine
    both["items"], both["machine"] = {}, describe_machine()
    assert "Rerun alone afterwards" in render(both) and "viewer (rerun-time)" in render(both)
    with pytest.raises(ValueError, match="feed the targets"):
        update(base, _report({"throughput": {"best_batched": 900}}))
    with pytest.raises(ValueError, match="quick"):
        update(base, {**fresh, "quick": not base["quick"]})


def test_update_cli_refuses_a_target_item_before_running(tmp_path):
    from facestream.cli import main
    report = tmp_path / "r.json"
    report.write_text(json.dumps(_report({})))
    assert main(["bench", "--only", "compute", "--update", str(report)]) == 2
    assert main(["bench", "--update", str(report)]) == 2


def _finite_numbers(x):
    if isinstance(x, dict):
        return all(_finite_numbers(v) for v in x.values())
    if isinstance(x, list):
        return all(_finite_numbers(v) for v in x)
    return not isinstance(x, float) or math.isfinite(x)


@pytest.mark.slow
def test_quick_bench_report_is_complete(tmp_path):
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    proc = subprocess.run([sys.executable, "-m", "facestream", "bench", "--quick", "--json", str(out),
                           "--markdown", str(md), "--plots", str(tmp_path / "plots")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert problems(rep) == []
    assert set(rep["items"]) == set(ITEMS) and _finite_numbers(rep)
    assert rep["machine"]["cores"] >= 1 and rep["machine"]["cpu"]
    assert len(rep["targets"]) == 6
    for t in rep["targets"].values():
        assert isinstance(t["pass"], bool) and isinstance(t["measured"], bool)
        assert t["measured"] == (t["value"] is not None)

    items = rep["items"]
    for key, item in items.items():  # measured, or a reason why not
        assert "error" not in item, f"{key}: {item.get('error')}"
    ort = items["compute"]["backends"]["onnxruntime"]
    for chunk in ("10", "20", "40"):
        s = ort[chunk]["engine"]
        assert 0 < s["median_ms"] <= s["p99_ms"] <= s["max_ms"]
    for b in items["compute"]["backends"].values():
        assert "skipped" in b or all(c in b for c in ("10", "20", "40"))
    assert items["latency"]["metadata"]["algorithmic_ms"] > 0
    assert set(items["latency"]["measured"]) == {"30", "60"}
    assert "skipped" in items["mic"] or all("p50_ms" in c or "skipped" in c
                                            for c in items["mic"]["configs"].values())
    for mode in ("batched", "sharded", "unbatched"):
        assert items["throughput"][mode]["curve"] and items["throughput"][mode]["max_streams"] >= 0
    assert items["throughput"]["best_batched"] == max(items["throughput"][m]["max_streams"]
                                                      for m in ("batched", "sharded"))
    assert items["memory"]["runtime"].get("torch_loaded") is False or "skipped" in items["memory"]["runtime"]
    assert "structural" in items["peers"] and ("ratio" in items["peers"]
                                               or "skipped" in items["peers"]["wav2vec2_base"])
    if "ratio" in items["peers"]:  # time ratio = multiply-add ratio x (our rate / theirs)
        p = items["peers"]
        g = p["gmacs_onnxruntime"]
        assert p["ratio"]["onnxruntime"] == pytest.approx(p["macs_ratio"] * g["ours"] / g["wav2vec2_base"])
    assert "splits" in items["quality"] or "skipped" in items["quality"]

    text = md.read_text()
    assert "## Targets" in text
    for n, title in enumerate(ITEMS.values(), 1):
        assert f"## {n}. {title}" in text
    assert (tmp_path / "plots" / "compute.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "throughput.png").stat().st_size > 1000
    assert render(rep) == render(json.loads(out.read_text()))  # the JSON alone re-renders it


def test_the_limit_counts_the_models_products_as_its_config_says():
    """The multiply-adds read from the graph are the config's arithmetic: per model step,
    each causal conv is C_in x kernel x C_out, the GRU 3H x (C + H), the frontend's DFT
    window x 2(N_FFT/2 + 1)."""
    from facestream.audio import N_FFT, WIN_SAMPLES
    from facestream.bench.limit import SECOND_STEPS, graph_products
    from facestream.engine.stream import Engine
    info = Engine(backend="onnxruntime").info
    c = info.config
    products = {p["node"]: p for p in graph_products(info.path)}
    per_step = {k: p["macs"] / SECOND_STEPS for k, p in products.items()}
    convs = [per_step[k] for k in sorted(per_step) if "convs." in k]
    widths = [c["n_mels"]] + [c["channels"]] * (c["conv_layers"] - 1)
    assert convs == [w * c["conv_kernel"] * c["channels"] for w in widths]
    h = c["gru_hidden"]
    gru = sum(v for k, v in per_step.items() if "GRU" in k)
    assert gru == 3 * h * (c["channels"] + h)
    assert per_step["/net/frontend/MatMul"] == WIN_SAMPLES * 2 * (N_FFT // 2 + 1)
    assert all(p["macs"] > 0 and len(p["gemm"]) == 3 for p in products.values())


def test_int8_variant_opens_with_its_metadata_and_stays_near_float(tmp_path):
    from facestream import vocab
    from facestream.bench.int8 import quantize_int8
    from facestream.bench.signals import speechlike
    from facestream.engine.backends import OnnxBackend
    from facestream.engine.stream import default_model_path
    fp = OnnxBackend(default_model_path())
    q8 = OnnxBackend(quantize_int8(default_model_path(), tmp_path / "m8.onnx"))
    assert q8.info.state_names == fp.info.state_names and q8.info.lookahead == fp.info.lookahead
    n = 200
    audio = speechlike(n / vocab.INTERNAL_FPS)[None, : n * vocab.HOP_SAMPLES]
    cond = np.zeros((1, n, vocab.NUM_EMOTIONS + 1), np.float32)
    a, _ = fp.step(audio, cond, fp.info.zero_state(1))
    b, _ = q8.step(audio, cond, q8.info.zero_state(1))
    assert not np.array_equal(a, b)  # it is quantised
    assert np.abs(a - b).max() < 0.1 and np.abs(a - b).mean() < 0.01


def test_int8_quality_judged_relative_to_float():
    from facestream.bench.int8 import judge_quality
    res = {"splits": {"real": {"f": {"LVE_1e-5m2": 2.0, "closure_rate": 0.5},
                               "q": {"LVE_1e-5m2": 2.05, "closure_rate": 0.49}},
                      "synthetic": {"f": {"LVE_1e-5m2": 2.0, "closure_rate": 0.5},
                                    "q": {"LVE_1e-5m2": 2.2, "closure_rate": 0.5}}}}
    out = judge_quality(res, "f", "q")
    assert out["real"]["within_tolerance"] and not out["synthetic"]["within_tolerance"]
    assert out["real"]["LVE_change"] == pytest.approx(0.025)


def test_wav2vec2_multiply_adds_follow_its_config():
    """The hook count equals the encoder's arithmetic written out from `Wav2Vec2Config`: the
    CNN's convolutions, the projection, the grouped positional conv, and per transformer layer
    four d x d projections, the feed-forward pair and the two attention products."""
    pytest.importorskip("transformers")
    from transformers import Wav2Vec2Config, Wav2Vec2Model
    from facestream.bench.peers import wav2vec2_macs
    cfg = Wav2Vec2Config(num_hidden_layers=2)
    model = Wav2Vec2Model(cfg).eval()
    samples = 16000
    n, cin, want = samples, 1, 0
    for c, k, s in zip(cfg.conv_dim, cfg.conv_kernel, cfg.conv_stride):
        n = (n - k) // s + 1
        want += n * c * cin * k
        cin = c
    d = cfg.hidden_size
    want += n * cin * d  # feature projection
    # the positional conv pads its even kernel by half on both sides: n + 1 outputs, the last
    # trimmed after the product
    want += (n + 1) * d * (d // cfg.num_conv_pos_embedding_groups) * cfg.num_conv_pos_embeddings
    want += cfg.num_hidden_layers * (n * (4 * d * d + 2 * d * cfg.intermediate_size) + 2 * n * n * d)
    assert n == 49
    assert wav2vec2_macs(model, samples) == want


def test_quality_item_keeps_the_evaluation_roles(tmp_path):
    """The quality item carries `facestream eval`'s roles to its plot, so an earlier shipped
    model given with --compare is a reference line there, not a point of the look-ahead sweep
    (before, every name starting with "causal" was plotted as the sweep)."""
    from facestream.bench.quality import as_eval_results, bench_quality
    from facestream.training.evaluate import plot_latency_curve
    ev = {"latency_ms": {"energy heuristic": 10, "causal L=3 (prev)": 40, "causal L=5": 60,
                         "shipped model (L=3)": 40},
          "splits": {"test": {n: {"LVE_1e-5m2": v, "lip_mean_mm": 1.0} for n, v in
                              (("energy heuristic", 3.7), ("causal L=3 (prev)", 1.6),
                               ("causal L=5", 1.4), ("shipped model (L=3)", 1.5))}},
          "roles": {"energy heuristic": "baseline", "causal L=3 (prev)": "compare",
                    "causal L=5": "sweep", "shipped model (L=3)": "shipped"}}
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(ev))
    q = bench_quality(path)
    assert q["roles"] == ev["roles"]
    back = as_eval_results(q)
    assert back["roles"]["causal L=3 (prev)"] == "compare"
    assert back["splits"]["test"]["causal L=5"]["LVE_1e-5m2"] == 1.4
    png = tmp_path / "q.png"
    plot_latency_curve(back, png)
    assert png.stat().st_size > 1000
