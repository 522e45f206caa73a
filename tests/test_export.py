"""Exported models give the network's numbers: torch, TorchScript, ONNX and onnx's reference."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export needs the train extra")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from facestream import vocab  # noqa: E402
from facestream.exporters.export import export_onnx, export_torchscript  # noqa: E402
from facestream.training.network import DecodedNet, ModelConfig, StreamingFaceNet  # noqa: E402

CFG = ModelConfig(n_mels=32, channels=48, conv_layers=2, gru_hidden=64, lookahead=2)


@pytest.fixture(scope="module", params=[0.0, 1.0], ids=["absolute", "cmn"])
def exported(tmp_path_factory, request):
    """A small random model, without and with the running normalisation (an extra state)."""
    from dataclasses import replace
    torch.manual_seed(1)
    net = StreamingFaceNet(replace(CFG, cmn_s=request.param)).eval()
    if net.norm is not None:
        net.norm.prior.normal_()  # a prior that is not zeros, as a trained model's
    d = tmp_path_factory.mktemp("export")
    return net, export_onnx(net, d / "m.onnx", head="facestream-default-head"), \
        export_torchscript(net, d / "m.ts", head="facestream-default-head")


def _inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    audio = (rng.normal(size=(1, n * vocab.HOP_SAMPLES)) * 0.1).astype(np.float32)
    cond = rng.random((1, n, 8)).astype(np.float32)
    return audio, cond


def _chunked(run, state, audio, cond, sizes):
    outs, t = [], 0
    for n in sizes:
        o, *state = run(audio[:, t * vocab.HOP_SAMPLES:(t + n) * vocab.HOP_SAMPLES], cond[:, t:t + n], state)
        outs.append(o)
        t += n
    return np.concatenate(outs, axis=1)


def test_torch_torchscript_onnx_agree_on_random_chunkings(exported):
    net, onnx_path, ts_path = exported
    names = net.state_names()
    audio, cond = _inputs(47)
    with torch.no_grad():
        ref = DecodedNet(net)(torch.from_numpy(audio), torch.from_numpy(cond), *net.init_state(1))[0].numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ts = torch.jit.load(str(ts_path))
    zero = [s.numpy() for s in net.init_state(1)]

    def run_onnx(a, c, st):
        return sess.run(None, {"audio": a, "cond": c, **dict(zip(names, st))})

    def run_ts(a, c, st):
        with torch.no_grad():
            r = ts(torch.from_numpy(a), torch.from_numpy(c), *[torch.from_numpy(x) for x in st])
        return [x.numpy() for x in r]

    rng = np.random.default_rng(5)
    for _ in range(3):
        sizes = []
        while sum(sizes) < 47:
            sizes.append(int(min(rng.integers(1, 9), 47 - sum(sizes))))
        assert np.abs(_chunked(run_onnx, zero, audio, cond, sizes) - ref).max() < 1e-4
        assert np.abs(_chunked(run_ts, zero, audio, cond, sizes) - ref).max() < 1e-4


def test_onnx_passes_checker_and_reference_evaluator(exported):
    from onnx.reference import ReferenceEvaluator
    net, onnx_path, _ = exported
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    audio, cond = _inputs(3, seed=2)
    feeds = {"audio": audio, "cond": cond,
             **{n: s.numpy() for n, s in zip(net.state_names(), net.init_state(1))}}
    ref = ReferenceEvaluator(model).run(None, feeds)[0]
    got = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.abs(ref - got).max() < 1e-4


def test_metadata_travels_inside_the_files(exported):
    net, onnx_path, ts_path = exported
    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(meta["model_config"])["lookahead"] == 2
    assert json.loads(meta["arkit_names"]) == list(vocab.ARKIT_NAMES)
    assert meta["head"] == "facestream-default-head" and float(meta["algorithmic_latency_ms"]) == 30.0
    extra = {"facestream.json": ""}
    torch.jit.load(str(ts_path), _extra_files=extra)
    assert json.loads(extra["facestream.json"])["lookahead_frames"] == "2"
