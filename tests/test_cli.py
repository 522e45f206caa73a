"""The command line: info (text and JSON), demo, and errors for bad heads."""
import json
import subprocess
import sys

import numpy as np
import pytest

from facestream import vocab


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
