"""The command line: info (text and JSON), demo, and errors for bad heads."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facestream import vocab

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, "-m", "facestream", *args], capture_output=True,
                          text=True, timeout=300)


def test_info_json():
    out = run("info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["blendshapes"] == list(vocab.ARKIT_NAMES)
    assert info["head"]["vertices"] > 4000 and info["head"]["faces"] > 8000
    assert "onnxruntime" in info["backends"]
    assert "available" in info["audio"]


def test_info_text_names_the_head():
    out = run("info")
    assert out.returncode == 0 and "facestream-default-head" in out.stdout


def test_bad_head_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"garbage")
    out = run("info", "--head", str(bad))
    assert out.returncode == 2
    assert "not a readable facestream head" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.gl
def test_demo_writes_a_contact_sheet(tmp_path):
    pytest.importorskip("moderngl")
    png = tmp_path / "sheet.png"
    out = run("demo", "-o", str(png), "--size", "128")
    assert out.returncode == 0, out.stderr
    assert str(png) in out.stdout
    from PIL import Image
    img = np.asarray(Image.open(png).convert("RGB"), np.float32)
    skin = (img[..., 0] - img[..., 2] > 40) & (img[..., 0] > 120)  # the faces' skin, not the
    assert 0.05 < skin.mean() < 0.6  # background, the labels or the eyes
    cols = skin[: img.shape[0] // 3].any(axis=0).astype(int)  # the first row of panels
    assert np.count_nonzero(np.diff(cols) == 1) + cols[0] >= 3  # several faces side by side


@pytest.mark.parametrize("command, positional", [
    ("animate", ["in.wav", "-o", "x.npz"]), ("render", ["in.wav", "-o", "x.mp4"]),
    ("live", []), ("serve", [])])
def test_engine_options_are_one_set_for_every_command(command, positional):
    """--model, --backend, --threads, --head, --avatar, --arkit-map mean the same everywhere."""
    from facestream.cli import build_parser
    args = build_parser().parse_args([command, *positional, "--model", "m.onnx", "--backend",
                                      "onnxruntime", "--threads", "2", "--head", "h.npz",
                                      "--arkit-map", "map.npz"])
    assert (args.model, args.backend, args.threads, args.head, args.arkit_map, args.avatar) == \
        ("m.onnx", "onnxruntime", 2, "h.npz", "map.npz", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, *positional, "--backend", "tensorflow"])


def test_render_runs_the_model_it_is_given(tmp_path):
    clip = ROOT / "facestream" / "assets" / "example_speech.flac"
    out = run("render", str(clip), "-o", str(tmp_path / "v.mp4"), "--model", str(tmp_path / "none.onnx"))
    assert out.returncode == 2 and "model not found" in out.stderr and "none.onnx" in out.stderr
    tiny = ROOT / "tests" / "data" / "tiny_model.onnx"
    out = run("animate", str(clip), "-o", str(tmp_path / "f.npz"), "--model", str(tiny), "--threads", "2")
    assert out.returncode == 0, out.stderr
    assert np.load(tmp_path / "f.npz")["arkit"].shape[1] == 52
