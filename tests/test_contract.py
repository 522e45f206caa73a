"""The model contract (facestream/contract.py): one definition that the network, the exporters
and the runtime share, checked when a model is opened; and the runtime's import drawing."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from facestream import contract, vocab
from facestream.contract import ModelInfo

ROOT = Path(__file__).resolve().parents[1]
TINY = Path(__file__).parent / "data" / "tiny_model.onnx"


def tiny_meta() -> dict:
    import onnxruntime as ort
    return dict(ort.InferenceSession(str(TINY)).get_modelmeta().custom_metadata_map)


def test_output_layout_is_contiguous_and_matches_the_vocabulary():
    stops = [contract.OUTPUT_LAYOUT[n] for n, _ in contract.OUTPUT_FIELDS]
    assert stops[0][0] == 0 and all(a[1] == b[0] for a, b in zip(stops, stops[1:]))
    assert stops[-1][1] == contract.OUT_DIM == vocab.NUM_ARKIT + 7
    assert contract.OUT_ARKIT == slice(0, vocab.NUM_ARKIT)
    assert contract.COND_DIM == vocab.NUM_EMOTIONS + 1


def test_network_builds_its_output_from_the_contract():
    pytest.importorskip("torch")
    from facestream.training import network
    assert network.OUT_DIM is contract.OUT_DIM and network.OUT_JAW == contract.OUT_JAW
    assert network.ModelConfig(lookahead=2).algorithmic_latency_ms == contract.latency_ms(2) == 30.0


def test_an_export_carries_the_contract():
    meta = tiny_meta()
    info = ModelInfo.from_meta("tiny", meta)
    assert info.format_version == contract.FORMAT_VERSION
    assert json.loads(meta["output_layout"]) == {k: list(v) for k, v in contract.OUTPUT_LAYOUT.items()}
    assert info.state_batch_axis("gru") == 1 and info.state_batch_axis("ctx") == 0
    assert info.latency_ms == contract.latency_ms(info.lookahead)


@pytest.mark.parametrize("key, value, field", [
    ("emotions", json.dumps(list(reversed(vocab.EMOTION_CODES))), "emotions"),
    ("jaw_open_max_rad", str(vocab.JAW_OPEN_MAX_RAD * 2), "jaw_open_max_rad"),
    ("arkit_names", json.dumps(sorted(vocab.ARKIT_NAMES, key=len)), "arkit_names"),
    ("sample_rate", "22050", "sample_rate"),
    ("output_layout", json.dumps({"arkit": [0, 52], "jaw": [52, 55], "neck": [55, 58],
                                  "closure": [58, 60]}), "output_layout"),
])
def test_a_model_of_another_vocabulary_is_refused_naming_what_differs(key, value, field):
    meta = tiny_meta()
    meta[key] = value
    with pytest.raises(ValueError, match=f"another vocabulary.*{field}.*re-export"):
        ModelInfo.from_meta("m.onnx", meta)


def test_format_versions():
    meta = tiny_meta()
    old = {k: v for k, v in meta.items() if k not in ("format_version", "output_layout")}
    assert ModelInfo.from_meta("old.onnx", old).format_version == 1  # files from before
    with pytest.raises(ValueError, match="newer than this facestream reads.*upgrade"):
        ModelInfo.from_meta("new.onnx", dict(meta, format_version=str(contract.FORMAT_VERSION + 1)))
    with pytest.raises(ValueError, match="not a facestream model"):
        ModelInfo.from_meta("x.onnx", {})
    with pytest.raises(ValueError, match="cannot run"):
        ModelInfo.from_meta("x.onnx", dict(meta, state_layout="time_major"))


def test_checkpoint_of_another_vocabulary_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    from facestream.training.checkpoint import load_checkpoint, save_checkpoint
    from facestream.training.network import ModelConfig, StreamingFaceNet
    net = StreamingFaceNet(ModelConfig(n_mels=16, channels=16, conv_layers=1, gru_hidden=16))
    path = tmp_path / "c.pt"
    save_checkpoint(path, net, head="h")
    load_checkpoint(path)
    blob = torch.load(path, weights_only=False)
    blob["vocab"]["jaw_open_max_rad"] = 1.0
    torch.save(blob, path)
    with pytest.raises(ValueError, match="different vocabulary \\(jaw_open_max_rad\\)"):
        load_checkpoint(path)


def test_checkpoints_need_the_training_side_backend(tmp_path):
    """The runtime alone refuses a checkpoint with the fix; after registering (as the CLI
    does) the torch backend runs it."""
    pytest.importorskip("torch")
    code = (
        "import sys; from facestream.engine.stream import Engine\n"
        "try:\n    Engine(sys.argv[1])\nexcept ValueError as e:\n    print('refused:', e)\n"
        "from facestream.training.backend import register; register()\n"
        "print('ran:', Engine(sys.argv[1]).backend.name)\n")
    ckpt = ROOT / "facestream" / "assets" / "default_model.pt"
    out = subprocess.run([sys.executable, "-c", code, str(ckpt)], capture_output=True, text=True,
                         check=True).stdout
    assert "refused:" in out and "training checkpoint" in out and "facestream export" in out
    assert "ran: torch" in out


def _imports(path: Path) -> set[str]:
    """Absolute module names a source file imports (relative ones resolved)."""
    pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _module_file(name: str) -> Path | None:
    rel = ROOT.joinpath(*name.split("."))
    for p in (rel.with_suffix(".py"), rel / "__init__.py"):
        if p.is_file():
            return p
    return None


def _closure(files: list[Path]) -> dict[str, str]:
    """Every facestream module reachable by imports from `files` -> who imported it first."""
    seen: dict[str, str] = {}
    todo = [(f, str(f.relative_to(ROOT))) for f in files]
    while todo:
        f, via = todo.pop()
        for name in _imports(f):
            if not name.startswith("facestream"):
                continue
            target = _module_file(name)
            if target is None:
                continue  # a name inside a module (from X import name)
            mod = ".".join(target.relative_to(ROOT).with_suffix("").parts)
            if mod not in seen:
                seen[mod] = via
                todo.append((target, mod))
    return seen


@pytest.mark.parametrize("package", ["engine", "viewer", "server"])
def test_the_runtime_never_imports_training(package):
    """The import drawing: nothing that engine/, viewer/ or server/ imports, directly or through
    other modules, is facestream.training or the CLI (exporters/bench/cli may import training:
    they are the training side or the place where both meet)."""
    files = sorted((ROOT / "facestream" / package).rglob("*.py"))
    reach = _closure(files)
    bad = {m: via for m, via in reach.items() if m.startswith(("facestream.training", "facestream.cli"))}
    assert not bad, bad


def test_runtime_modules_stay_small():
    """One job per module: nothing in the runtime grows past ~450 lines (a little slack)."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for d in ("engine", "viewer", "server") for p in (ROOT / "facestream" / d).glob("*.py")}
    assert {k: v for k, v in sizes.items() if v > 480} == {}
