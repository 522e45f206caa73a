"""`facestream export --format triton`: a Triton model repository whose graph keeps every
state batch-first (as Triton's implicit state wants) and streams exactly like the model."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export needs the train extra")
ort = pytest.importorskip("onnxruntime")
from facestream import vocab  # noqa: E402
from facestream.exporters.triton import (config_pbtxt, export_triton, state_dims,  # noqa: E402
                                         validate_config)
from facestream.training.network import DecodedNet, ModelConfig, StreamingFaceNet  # noqa: E402

CFG = ModelConfig(n_mels=32, channels=48, conv_layers=2, gru_hidden=64, gru_layers=2, lookahead=2)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    torch.manual_seed(3)
    net = StreamingFaceNet(CFG).eval()
    root = tmp_path_factory.mktemp("triton")
    return net, export_triton(net, root, head="facestream-default-head", name="face")


def test_repository_layout_and_config(repo):
    net, model_dir = repo
    assert (model_dir / "1" / "model.onnx").is_file()
    text = (model_dir / "config.pbtxt").read_text()
    assert text.startswith(config_pbtxt(net, "face"))
    sess = ort.InferenceSession(str(model_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    dims = state_dims(net)
    # every state input is batch-first and its other dims are what config.pbtxt declares
    for inp in sess.get_inputs()[2:]:
        assert inp.shape[0] == "batch" and list(inp.shape[1:]) == dims[inp.name], inp
        assert f'input_name: "{inp.name}"' in text and f'output_name: "{inp.name}_out"' in text
    assert dims["gru"] == [2, 64]


def test_config_passes_tritons_schema(repo):
    pytest.importorskip("tritonclient", reason="the triton extra provides Triton's schema")
    from google.protobuf import text_format
    _, model_dir = repo
    cfg = validate_config((model_dir / "config.pbtxt").read_text())
    assert cfg.max_batch_size == 64 and cfg.backend == "onnxruntime"
    assert [s.input_name for s in cfg.sequence_batching.state] == ["ctx", "conv0", "conv1", "gru"]
    assert all(s.initial_state[0].zero_data for s in cfg.sequence_batching.state)
    with pytest.raises(text_format.ParseError):
        validate_config("name: \"x\"\nmax_batch_size: 4\nsequence_batching { bogus_field: 1 }\n")


def test_implicit_state_streaming_matches_the_model(repo):
    """Feed the graph as Triton does: states start at zero (sequence_start), each chunk's
    output states become the next chunk's inputs, several sequences batched per call."""
    net, model_dir = repo
    sess = ort.InferenceSession(str(model_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    b, steps, n = 3, 6, 2  # 3 sequences, 6 chunks of 20 ms each
    audio = (rng.normal(size=(b, steps * n * vocab.HOP_SAMPLES)) * 0.1).astype(np.float32)
    cond = rng.random((b, steps * n, 8)).astype(np.float32)
    names = [i.name for i in sess.get_inputs()[2:]]
    dims = state_dims(net)
    state = {k: np.zeros([b, *dims[k]], np.float32) for k in names}
    outs = []
    for c in range(steps):
        feed = {"audio": audio[:, c * n * vocab.HOP_SAMPLES:(c + 1) * n * vocab.HOP_SAMPLES],
                "cond": cond[:, c * n:(c + 1) * n], **state}
        out, *new = sess.run(None, feed)
        state = dict(zip(names, new))
        outs.append(out)
    got = np.concatenate(outs, axis=1)
    with torch.no_grad():
        ref, *_ = DecodedNet(net)(torch.from_numpy(audio), torch.from_numpy(cond), *net.init_state(b))
    assert np.abs(got - ref.numpy()).max() < 1e-4


def test_cli_exports_a_repository(tmp_path, capsys):
    from facestream.cli import main
    from facestream.training.checkpoint import save_checkpoint
    torch.manual_seed(0)
    net = StreamingFaceNet(CFG)
    save_checkpoint(tmp_path / "c.pt", net, head="facestream-default-head", step=3)
    assert main(["export", str(tmp_path / "c.pt"), "--format", "triton", "-o", str(tmp_path / "repo")]) == 0
    assert (tmp_path / "repo" / "facestream" / "config.pbtxt").is_file()
    offline = StreamingFaceNet(ModelConfig(n_mels=16, channels=16, conv_layers=2, gru_hidden=16, offline=True))
    save_checkpoint(tmp_path / "o.pt", offline, head="facestream-default-head")
    assert main(["export", str(tmp_path / "o.pt"), "--format", "triton", "-o", str(tmp_path / "r2")]) != 0
    assert "cannot stream" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


def test_engine_runs_the_batch_first_graph_like_the_plain_export(repo, tmp_path):
    """The Triton graph records state_layout batch_first; the engine reads it (a GRU of two
    layers would otherwise get its state's batch on the wrong axis) and streams many streams
    in one batch exactly as from the plain ONNX export."""
    from facestream.engine.stream import Engine
    from facestream.exporters.export import export_onnx
    net, model_dir = repo
    plain = export_onnx(net, tmp_path / "plain.onnx", head="facestream-default-head")
    rng = np.random.default_rng(0)
    audio = [(0.1 * rng.standard_normal(16000)).astype(np.float32) for _ in range(3)]
    out = {}
    for name, path in (("triton", model_dir / "1" / "model.onnx"), ("plain", plain)):
        eng = Engine(str(path))
        streams = [eng.create_stream(seed=i) for i in range(len(audio))]
        frames = {id(s): [] for s in streams}
        for k in range(0, 16000, 320):
            for s, a in zip(streams, audio):
                s.accept_waveform(16000, a[k:k + 320])
            for key, fr in eng.decode_streams(streams).items():
                frames[key] += fr
        out[name] = np.stack([np.stack([f.arkit for f in frames[id(s)]]) for s in streams])
    assert out["triton"].shape == out["plain"].shape and out["triton"].shape[1] > 20
    np.testing.assert_allclose(out["triton"], out["plain"], atol=1e-5)


def test_engine_refuses_an_unknown_state_layout():
    from facestream.engine.backends import ModelInfo
    meta = {"format": "facestream-model", "state_shapes": "[]", "state_layout": "time_major"}
    with pytest.raises(ValueError, match="layout 'time_major'"):
        ModelInfo.from_meta("m.onnx", meta)
