"""glTF takes and avatars (issue 17): a take of the example clip checked by the Khronos
validator and drawn by three.js's GLTFLoader in headless Chromium; read back as an avatar it
is the default head again; a VRM the test builds drives the engine; bad files get errors that
say what is missing. The npm packages come from `make js-deps` (build/npm)."""
import http.server
import io
import json
import shutil
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from facestream import vocab
from facestream.engine.animate import animate_array
from facestream.formats import read_audio
from facestream.engine.avatar import AvatarError, load_avatar
from facestream.engine.head import MATERIALS, Head, load_head
from facestream.engine.stream import Engine
from facestream.exporters.gltf import (GltfError, axis_angle_to_quat, pack_glb, read_accessor,
                                       read_gltf, write_take)

ROOT = Path(__file__).resolve().parents[1]
NPM = ROOT / "build" / "npm" / "node_modules"
CLIP = ROOT / "facestream" / "assets" / "example_speech.flac"
NODE = shutil.which("node")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def need_npm(package):
    if NODE is None:
        pytest.skip("node is not installed (apt-get install nodejs npm; `make js-deps`)")
    if not (NPM / package / "package.json").exists():
        pytest.skip(f"npm package {package} is missing from {NPM}: run `make js-deps`")


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    engine = Engine()
    x, sr = read_audio(CLIP)
    frames = animate_array(engine, x, sr, fps=30)
    d = tmp_path_factory.mktemp("take")
    written = write_take(d / "take.glb", engine, frames, 30, audio=(x, sr))
    written.update({f"gltf_{k}": v for k, v in write_take(d / "take.gltf", engine, frames, 30).items()})
    return SimpleNamespace(engine=engine, frames=frames, glb=written["take"],
                           gltf=written["gltf_take"], wav=written["audio"], audio_s=len(x) / sr)


# ---- the take's contents -----------------------------------------------------------------
def test_take_holds_the_head_its_shapes_and_the_frames(take):
    doc, buffers = read_gltf(take.glb)
    head, frames = take.engine.head, take.frames
    mesh = doc["meshes"][0]
    assert mesh["extras"]["targetNames"] == list(vocab.ARKIT_NAMES)
    assert [m["name"] for m in doc["materials"]] == [
        m for i, m in enumerate(MATERIALS) if (head.vertex_material == i).any()]
    prim = mesh["primitives"][0]
    np.testing.assert_array_equal(read_accessor(doc, buffers, prim["attributes"]["POSITION"]),
                                  head.template)
    jaw_open = vocab.ARKIT_INDEX["jawOpen"]
    np.testing.assert_allclose(read_accessor(doc, buffers, prim["targets"][jaw_open]["POSITION"]),
                               head.expr_dirs[jaw_open], atol=1e-7)
    assert sum(len(p["targets"]) == vocab.NUM_ARKIT for p in mesh["primitives"]) == len(mesh["primitives"])

    anim = doc["animations"][0]
    times = read_accessor(doc, buffers, anim["samplers"][0]["input"])
    np.testing.assert_allclose(times, [f.timestamp for f in frames], atol=1e-6)
    weights = read_accessor(doc, buffers, anim["samplers"][0]["output"]).reshape(len(frames), -1)
    np.testing.assert_allclose(weights, np.stack([f.arkit for f in frames]), atol=1e-7)
    assert weights[:, jaw_open].max() > 0.3  # the mouth opens in this clip
    nodes = doc["nodes"]
    by_target = {(nodes[c["target"]["node"]]["name"], c["target"]["path"]): c["sampler"]
                 for c in anim["channels"]}
    assert set(by_target) == {(head.name, "weights"), ("neck", "rotation"), ("jaw", "rotation")}
    jaw_q = read_accessor(doc, buffers, anim["samplers"][by_target["jaw", "rotation"]]["output"])
    np.testing.assert_allclose(jaw_q, axis_angle_to_quat(np.stack([f.jaw_pose for f in frames])),
                               atol=1e-6)
    sizes = {p.name: p.stat().st_size for p in (take.glb, take.gltf, take.gltf.with_suffix(".bin"),
                                                take.wav)}
    print(f"take of {take.audio_s:.2f} s, {len(frames)} frames: "
          + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))
    import soundfile as sf
    assert abs(sf.info(str(take.wav)).duration - take.audio_s) < 1e-3


def run_validator(path):
    r = subprocess.run([NODE, str(ROOT / "tests" / "js" / "validate_gltf.js"), str(path)],
                       capture_output=True, text=True, timeout=120,
                       env={"NODE_PATH": str(NPM), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("kind", ["glb", "gltf"])
def test_khronos_validator_finds_no_errors(take, kind):
    need_npm("gltf-validator")
    report = run_validator(getattr(take, kind))
    issues = report["issues"]
    print(f"gltf-validator {report['validatorVersion']} on take.{kind}: {issues['numErrors']} errors, "
          f"{issues['numWarnings']} warnings, {issues['numInfos']} infos, {issues['numHints']} hints")
    for m in issues["messages"]:
        print(f"  {m['severity']} {m['code']} {m.get('pointer', '')}: {m['message']}")
    assert issues["numErrors"] == 0, issues["messages"]
    info = report["info"]
    assert info["hasMorphTargets"] and info["hasSkins"] and info["animationCount"] == 1


def test_khronos_validator_sees_a_broken_take(take, tmp_path):
    """The validator run above can fail: the same take with a morph target pointing past its
    data is reported."""
    need_npm("gltf-validator")
    doc, buffers = read_gltf(take.glb)
    sparse = doc["accessors"][doc["meshes"][0]["primitives"][0]["targets"][0]["POSITION"]]["sparse"]
    sparse["count"] += 10 ** 6
    bad = tmp_path / "bad.glb"
    bad.write_bytes(pack_glb(doc, buffers[0]))
    assert run_validator(bad)["issues"]["numErrors"] > 0


# ---- three.js in headless Chromium ------------------------------------------------------
class _Files(http.server.SimpleHTTPRequestHandler):
    """/three/* from the npm install, /take/* from the take's folder, the rest from tests/js."""

    def __init__(self, *a, take_dir, **kw):
        self.take_dir = take_dir
        super().__init__(*a, directory=str(ROOT / "tests" / "js"), **kw)

    def translate_path(self, path):
        path = path.split("?", 1)[0]
        for prefix, base in (("/three/", NPM / "three"), ("/take/", self.take_dir)):
            if path.startswith(prefix):
                return str(base / path[len(prefix):])
        return super().translate_path(path)

    def log_message(self, *a):
        pass


def screenshot(browser, port, t):
    browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/gltf_take.html?src=/take/take.glb&t={t}")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        state = json.loads(browser.eval("JSON.stringify(window.fsState || {})") or "{}")
        assert not state.get("errors"), state["errors"]
        if state.get("ready"):
            return state, browser.screenshot(clip={"x": 0, "y": 0, "width": 512, "height": 512})
        time.sleep(0.2)
    pytest.fail("three.js did not load the take within 60 s")


@pytest.mark.slow
def test_three_js_plays_the_take_with_the_mouth_open(take, tmp_path):
    need_npm("three")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make apt installs it)")
    pytest.importorskip("websockets", reason="Chromium is driven over CDP with websockets")
    from PIL import Image
    from test_server_browser import Browser
    jaw_open = [f.arkit[vocab.ARKIT_INDEX["jawOpen"]] for f in take.frames]
    open_frame = take.frames[int(np.argmax(jaw_open))]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Files, take_dir=take.glb.parent))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    browser = Browser(tmp_path, take.wav)
    try:
        rest_state, rest_png = screenshot(browser, httpd.server_port, "rest")
        state, open_png = screenshot(browser, httpd.server_port, f"{open_frame.timestamp:.4f}")
        head = take.engine.head
        lips = head.template[head.regions["lips"]]
        mouth_px = browser.eval("JSON.stringify(window.project(%f, %f, %f))" % tuple(lips.mean(0)))
        brow_px = browser.eval("JSON.stringify(window.project(0, %f, %f))" % (
            head.joints[3, 1] + 0.03, lips[:, 2].max()))
    finally:
        browser.close()
        httpd.shutdown()
    assert state["targetNames"] == list(vocab.ARKIT_NAMES)
    assert state["animations"][0]["name"] == "speech"
    assert {"jaw.quaternion", "neck.quaternion"} <= set(state["animations"][0]["tracks"])
    got = state["weights"][vocab.ARKIT_INDEX["jawOpen"]]
    assert abs(got - max(jaw_open)) < 0.02, (got, max(jaw_open))
    rest, opened = (np.asarray(Image.open(io.BytesIO(p)).convert("RGB"), np.float32)
                    for p in (rest_png, open_png))
    (tmp_path / "three_rest.png").write_bytes(rest_png)
    (tmp_path / "three_open.png").write_bytes(open_png)
    print(f"three.js screenshots: {tmp_path / 'three_rest.png'}, {tmp_path / 'three_open.png'} "
          f"(t = {open_frame.timestamp:.3f} s, jawOpen {max(jaw_open):.2f})")
    background = rest[2, 2]
    face = np.abs(rest - background).sum(2) > 30
    assert 0.2 < face.mean() < 0.9, f"the face covers {face.mean():.0%} of the image"
    cy, cx = (int(round(c)) for c in np.argwhere(face).mean(0))
    r, g, b = rest[cy - 10:cy + 10, cx - 10:cx + 10].reshape(-1, 3).mean(0)
    assert r > g > b and r > 120, f"the face's centre is not skin-coloured: {(r, g, b)}"

    def crop(img, px, half=28):
        x, y = (int(round(c)) for c in json.loads(px))
        return img[y - half:y + half, x - 2 * half:x + 2 * half]

    mouth_change = np.abs(crop(opened, mouth_px) - crop(rest, mouth_px)).mean()
    brow_change = np.abs(crop(opened, brow_px) - crop(rest, brow_px)).mean()
    print(f"mean change: mouth {mouth_change:.1f}, between the brows {brow_change:.1f} (0..255)")
    assert mouth_change > 8.0 and mouth_change > 3 * brow_change


# ---- avatars in: the take read back, a VRM built here ---------------------------------------
@pytest.mark.parametrize("kind", ["glb", "gltf"])
def test_a_take_read_back_is_the_head_it_was_written_from(take, kind):
    avatar = load_avatar(getattr(take, kind))
    head = take.engine.head
    assert not avatar.report.missing and len(avatar.report.present) == 52
    assert "bone 'jaw'" in avatar.report.jaw
    back = avatar.to_head()
    assert back.is_arkit and back.num_vertices == head.num_vertices
    np.testing.assert_allclose(back.expr_dirs, head.expr_dirs, atol=1e-7)
    np.testing.assert_allclose(back.template, head.template, atol=1e-7)
    np.testing.assert_allclose(back.joints, head.joints, atol=1e-7)
    assert (back.vertex_material != head.vertex_material).mean() < 0.002
    # the same frames pose both the same way (skin with <= 4 influences: exact)
    engine = Engine(head=back)
    for f in take.frames[::40]:
        np.testing.assert_allclose(engine.vertices(f), take.engine.vertices(f), atol=1e-6)


def test_render_drives_a_round_tripped_take(take, tmp_path, capsys):
    pytest.importorskip("moderngl", reason="render needs the viewer extra")
    pytest.importorskip("imageio_ffmpeg", reason="render needs the viewer extra")
    import soundfile as sf
    from PIL import Image

    from facestream.cli import main
    x, sr = read_audio(CLIP)
    sf.write(tmp_path / "short.wav", x[: int(1.5 * sr)], sr)
    outs = {}
    for name, extra in (("avatar", ["--avatar", str(take.glb)]), ("default", [])):
        out = tmp_path / f"{name}.mp4"
        try:
            code = main(["render", str(tmp_path / "short.wav"), "-o", str(out), "--size", "96",
                         "--samples", "1", "--quiet", "--sheet", str(tmp_path / f"{name}.png"), *extra])
        except RuntimeError as e:  # no EGL
            pytest.skip(f"no offscreen OpenGL: {e}")
        assert code == 0 and out.stat().st_size > 1000
        outs[name] = np.asarray(Image.open(tmp_path / f"{name}.png"), np.float32)
    assert "52 of 52 ARKit shapes" in capsys.readouterr().out
    assert np.abs(outs["avatar"] - outs["default"]).mean() < 2.0  # the same face, the same frames


def test_serve_sends_the_avatar_to_the_browser_page(take):
    pytest.importorskip("websockets", reason="the server needs the `server` extra")
    from facestream.server.app import ServerOptions, ServerThread
    head = load_head(take.glb)  # --head takes an avatar file too
    with ServerThread(Engine(head=head), ServerOptions(port=0)) as st:
        port = int(st.url.split(":")[2].split("/")[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/head.bin", timeout=10) as r:
            blob = r.read()
    n = struct.unpack_from("<I", blob)[0]
    meta = json.loads(blob[4:4 + n])
    assert meta["name"] == "take" and meta["num_vertices"] == head.num_vertices


def build_avatar(path, shapes: dict, *, vrm: str | None = "0", bones=(), skin_lower_to=None,
                 names=True, scale=1.0):
    """A small avatar: a 6 x 6 grid 'face' 16 cm wide (+ a 2 m body strip when scale > 1), its
    morph targets `shapes` (file name -> V x 3 deltas, or None for a generic move), VRM 0.x or
    1.0 humanoid bones (`bones`: names of nodes under a root, e.g. ("neck", "head", "jaw")),
    the grid's lower half skinned to the node `skin_lower_to`. -> (path, rest vertices)."""
    g = np.stack(np.meshgrid(np.linspace(-0.08, 0.08, 6), np.linspace(1.50, 1.70, 6)), -1).reshape(-1, 2)
    v = np.column_stack([g, np.full(len(g), 0.1)]).astype(np.float32)
    quads = [(r * 6 + c, r * 6 + c + 1, r * 6 + c + 7, r * 6 + c + 6) for r in range(5) for c in range(5)]
    faces = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.uint16)
    if scale > 1:  # a body below the face
        body = np.array([[-0.2, 0.0, 0.0], [0.2, 0.0, 0.0], [0.0, 1.4, 0.05]], np.float32)
        faces = np.vstack([faces, np.array([[len(v), len(v) + 1, len(v) + 2]], np.uint16)])
        v = np.vstack([v, body])
    if vrm == "0":  # VRM 0.x faces -z: store it turned
        v = v * np.array([-1, 1, -1], np.float32)
    parts, views, accessors = [], [], []

    def add(a, kind, bounds=False):
        a = np.ascontiguousarray(a)
        off = sum(len(p) for p in parts)
        parts.append(a.tobytes() + b"\0" * (-a.nbytes % 4))
        views.append({"buffer": 0, "byteOffset": off, "byteLength": a.nbytes})
        acc = {"bufferView": len(views) - 1, "count": len(a), "type": kind,
               "componentType": {np.float32: 5126, np.uint16: 5123, np.uint8: 5121}[a.dtype.type]}
        if bounds:
            acc["min"], acc["max"] = a.min(0).tolist(), a.max(0).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    nodes = [{"name": "Face", "mesh": 0}, {"name": "Root", "children": []}]
    for i, b in enumerate(bones):
        nodes.append({"name": b, "translation": [0.0, 1.45 + 0.05 * i, 0.0] if i == 0 else [0.0, 0.05, 0.0]})
        (nodes[-2] if i else nodes[1]).setdefault("children", []).append(len(nodes) - 1)
    attributes = {"POSITION": add(v, "VEC3", True)}
    if skin_lower_to is not None:
        j = nodes.index(next(n for n in nodes if n["name"] == skin_lower_to))
        world_y = sum(n.get("translation", [0, 0, 0])[1] for n in nodes[2:j + 1])
        lower = (v[:, 1] < 1.60).astype(np.float32)
        attributes["JOINTS_0"] = add(np.column_stack([np.where(lower > 0, 1, 0), np.zeros((len(v), 3))]).astype(np.uint8), "VEC4")
        attributes["WEIGHTS_0"] = add(np.column_stack([np.ones(len(v)), np.zeros((len(v), 3))]).astype(np.float32), "VEC4")
        ibm = np.tile(np.eye(4, dtype=np.float32), (2, 1, 1))
        ibm[1, 3, :3] = [0.0, -world_y, 0.0]  # column-major: the translation is the 4th column
        nodes[0]["skin"] = 0
        skins = [{"joints": [1, j], "inverseBindMatrices": add(ibm.reshape(2, 16), "MAT4")}]
    targets = []
    for k, d in enumerate(shapes.values()):
        d = np.zeros_like(v) if d is None else d
        if d is None or not np.any(d):
            d = np.zeros_like(v)
            d[k % len(v), 2] = 0.002
        targets.append({"POSITION": add(d.astype(np.float32), "VEC3", True)})
    prim = {"attributes": attributes, "indices": add(faces.reshape(-1), "SCALAR")}
    if targets:
        prim["targets"] = targets
    mesh = {"name": "Face", "primitives": [prim]}
    if names and shapes:
        mesh["extras"] = {"targetNames": list(shapes)}
    doc = {"asset": {"version": "2.0", "generator": "tests/test_gltf.py"}, "scene": 0,
           "scenes": [{"nodes": [0, 1]}], "nodes": nodes, "meshes": [mesh],
           "accessors": accessors, "bufferViews": views,
           "buffers": [{"byteLength": sum(len(p) for p in parts)}]}
    if skin_lower_to is not None:
        doc["skins"] = skins
    index = {n["name"]: i for i, n in enumerate(nodes)}
    if vrm == "0":
        doc["extensions"] = {"VRM": {"specVersion": "0.0", "humanoid": {"humanBones": [
            {"bone": b, "node": index[b]} for b in bones]}}}
        doc["extensionsUsed"] = ["VRM"]
    elif vrm == "1":
        doc["extensions"] = {"VRMC_vrm": {"specVersion": "1.0", "humanoid": {"humanBones": {
            b: {"node": index[b]} for b in bones}}}}
        doc["extensionsUsed"] = ["VRMC_vrm"]
    path.write_bytes(pack_glb(doc, b"".join(parts)))
    return path, v


def test_a_vrm_with_perfect_sync_names_drives_the_engine(tmp_path):
    """VRM 0.x (faces -z), Perfect Sync names in other cases, a neck and head but no jaw bone:
    the report lists what is there and missing, the face is turned to +z, jawOpen opens it."""
    v0 = build_avatar(tmp_path / "probe.vrm", {})[1]
    lower = (v0[:, 1] < 1.60)
    jaw = np.zeros_like(v0)
    jaw[lower, 1] = -0.02  # in the file's own (turned) frame
    path, _ = build_avatar(tmp_path / "me.vrm", {"JawOpen": jaw, "EYEBLINKLEFT": None,
                                                 "mouthSmileLeft": None, "Fcl_ALL_Angry": None},
                           bones=("neck", "head"))
    avatar = load_avatar(path)
    rep = avatar.report
    print(rep)
    assert set(rep.present) == {"jawOpen", "eyeBlinkLeft", "mouthSmileLeft"}
    assert rep.present["jawOpen"] == "JawOpen" and rep.ignored == 1
    assert len(rep.missing) == 49 and "tongueOut" in rep.missing
    assert rep.jaw == "jawOpen shape (no jaw bone)"
    assert "tongueOut" in str(rep) and "JawOpen" in str(rep)
    head = avatar.to_head()
    assert head.is_arkit and head.template[:, 2].min() > 0  # turned to face +z
    np.testing.assert_allclose(head.joints[1], [0.0, 1.45, 0.0], atol=1e-6)  # the VRM neck
    # the face is not skinned: it turns with the head, about the VRM neck bone
    assert (head.skin_weights[:, vocab.POSE_JOINTS.index("neck")] == 1).all()
    engine = Engine(head=head)
    x, sr = read_audio(CLIP)
    frames = animate_array(engine, x, sr, fps=30, vertices=True)
    k = int(np.argmax([f.arkit[vocab.ARKIT_INDEX["jawOpen"]] for f in frames]))
    w = frames[k].arkit[vocab.ARKIT_INDEX["jawOpen"]]
    assert w > 0.3
    # the lower half dropped by jawOpen's 2 cm (turned with the head's small motion)
    drop = head.template[lower, 1].mean() - frames[k].vertices[lower, 1].mean()
    rise = head.template[~lower, 1].mean() - frames[k].vertices[~lower, 1].mean()
    assert abs(drop - rise - 0.02 * w) < 0.003, (drop, rise, w)


def test_vrm_names_and_bones(tmp_path):
    """VRM 1.0 with a jaw bone and no jawOpen shape: the bone opens the mouth; with a jawOpen
    shape the bone is left at rest."""
    path, v = build_avatar(tmp_path / "jaw.vrm", {"mouthFunnel": None}, vrm="1",
                           bones=("neck", "head", "jaw"), skin_lower_to="jaw")
    avatar = load_avatar(path)
    assert avatar.report.jaw.startswith("bone 'jaw'")
    head = avatar.to_head()
    j = vocab.POSE_JOINTS.index("jaw")
    np.testing.assert_allclose(head.joints[j], [0.0, 1.55, 0.0], atol=1e-6)
    lower = v[:, 1] < 1.60
    assert (head.skin_weights[lower, j] == 1).all() and (head.skin_weights[~lower, j] == 0).all()
    pose = np.zeros(vocab.POSE_DIM, np.float32)
    pose[vocab.POSE_SLICES["jaw"]] = vocab.jaw_open_to_pose(1.0)
    moved = np.linalg.norm(head.forward(None, pose) - head.template, axis=1)
    assert moved[lower].min() > 0.001 and moved[~lower].max() == 0

    path, _ = build_avatar(tmp_path / "both.vrm", {"jawOpen": None}, vrm="1",
                           bones=("neck", "head", "jaw"), skin_lower_to="jaw")
    avatar = load_avatar(path)
    assert "left at rest" in avatar.report.jaw
    assert (avatar.to_head().skin_weights[:, j] == 0).all()


def test_a_full_body_avatar_is_cropped_to_its_head(tmp_path):
    path, v = build_avatar(tmp_path / "body.glb", {"jawOpen": None, "eyeBlinkRight": None},
                           vrm=None, scale=2.0)
    avatar = load_avatar(path)
    assert any("cropped to the head" in n for n in avatar.report.notes)
    assert avatar.vertices[:, 1].min() > 1.0  # the body strip is gone


# ---- bad input ---------------------------------------------------------------------------
def test_bad_avatars_get_errors_naming_what_is_missing(tmp_path, take):
    with pytest.raises(AvatarError, match="has no morph targets.*ARKit"):
        load_avatar(build_avatar(tmp_path / "plain.glb", {}, vrm=None)[0])
    with pytest.raises(AvatarError, match="none of the 52 ARKit.*it has Fcl_ALL_Angry, Fcl_MTH_A"):
        load_avatar(build_avatar(tmp_path / "vroid.vrm", {"Fcl_MTH_A": None, "Fcl_ALL_Angry": None})[0])
    with pytest.raises(AvatarError, match="no names"):
        load_avatar(build_avatar(tmp_path / "unnamed.glb", {"jawOpen": None}, names=False)[0])
    data = take.glb.read_bytes()
    (tmp_path / "short.glb").write_bytes(data[:len(data) // 2])
    with pytest.raises(GltfError, match="truncated"):
        load_avatar(tmp_path / "short.glb")
    (tmp_path / "noise.glb").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(GltfError, match="neither a GLB.*nor glTF JSON"):
        load_avatar(tmp_path / "noise.glb")
    (tmp_path / "v1.gltf").write_text(json.dumps({"asset": {"version": "1.0"}}))
    with pytest.raises(GltfError, match="not glTF 2.0"):
        load_avatar(tmp_path / "v1.gltf")
    lonely = tmp_path / "lonely.gltf"
    lonely.write_text(take.gltf.read_text())
    with pytest.raises(GltfError, match="take.bin.*missing"):
        load_avatar(lonely)
    with pytest.raises(GltfError, match="file not found"):
        load_avatar(tmp_path / "nothing.vrm")
    # through the command line: one line naming the problem, exit code 2
    from facestream.cli import main
    assert main(["render", str(CLIP), "-o", str(tmp_path / "x.mp4"),
                 "--avatar", str(tmp_path / "plain.glb")]) != 0


def test_head_and_avatar_are_one_choice(take, tmp_path):
    from facestream.engine.avatar import head_from_args
    args = SimpleNamespace(head="x.npz", avatar=str(take.glb))
    with pytest.raises(ValueError, match="--head or --avatar, not both"):
        head_from_args(args)
    assert isinstance(head_from_args(SimpleNamespace(head=None, avatar=str(take.glb))), Head)
    assert head_from_args(SimpleNamespace(head="h.npz", avatar=None)) == "h.npz"


_LIVE = """
import json, sys
from facestream.cli import build_parser
from facestream.viewer.live import _pyglet, run_live
_, key = _pyglet()
args = build_parser().parse_args(["live", "--input", sys.argv[1], "--avatar", sys.argv[2],
    "--duration", "2.5", "--size", "160", "--no-playback", "--record-dir", sys.argv[3]])
print(json.dumps(run_live(args, script=[(0.3, key.R), (1.8, key.R)])))
"""


@pytest.mark.gl
@pytest.mark.slow
def test_live_drives_a_round_tripped_take(take, tmp_path):
    """`live --avatar take.glb` in a real window (Xvfb): the avatar's report, frames drawn, and
    a recording re-rendered with the avatar as its head."""
    pytest.importorskip("pyglet", reason="the live viewer needs the viewer extra")
    import soundfile as sf
    from test_live import _env, _xvfb_run
    x, sr = read_audio(CLIP)
    sf.write(tmp_path / "short.wav", x[: 3 * sr], sr)
    p = subprocess.run(_xvfb_run() + [sys.executable, "-c", _LIVE,
                                      str(tmp_path / "short.wav"), str(take.glb), str(tmp_path / "rec")],
                       capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "52 of 52 ARKit shapes" in p.stdout
    stats = json.loads(p.stdout.strip().splitlines()[-1])
    assert stats["frames_drawn"] > 10 and stats["engine_frames"] > 30
    assert stats["render_codes"] == [0]  # the recording's video, rendered with --head take.glb
    (rec,) = stats["recordings"]
    assert Path(rec["mp4"]).stat().st_size > 1000
