"""Tests of facestream.engine.flame: loading FLAME model pickles into a Head.

FLAME is licence-gated and never shipped, so every pickle here is GENERATED: plausible
random arrays in FLAME's layout (5023 vertices, 9976 faces, 300 + 100 shape components,
5 joints). The chumpy-style pickles are written without chumpy, by fake classes that pickle
under chumpy's names, and in the byte format python 2 wrote (str as BINSTRING,
`__builtin__`, `numpy.core.multiarray`, `scipy.sparse.csc`).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from scipy.spatial.transform import Rotation

import facestream
from facestream import vocab
from facestream.engine.flame import ChumpyStandIn, load_flame
from facestream.engine.head import Head, HeadFileError

V, F, J = 5023, 9976, 5
N_SHAPE, N_EXPR = 300, 100
ROOT = 4294967295  # uint32(-1), FLAME's kintree_table root parent id


# ---- generating FLAME-format data ----------------------------------------------------------

def make_flame(nv: int = V, nf: int = F, seed: int = 0) -> dict:
    """A FLAME-layout dict of arrays: a deformed sphere head with random bases."""
    rng = np.random.default_rng(seed)
    i = np.arange(nv) + 0.5  # Fibonacci sphere, squashed to a head-sized ellipsoid
    polar, azim = np.arccos(1 - 2 * i / nv), np.pi * (1 + 5 ** 0.5) * i
    unit = np.stack([np.cos(azim) * np.sin(polar), np.cos(polar), np.sin(azim) * np.sin(polar)], 1)
    v_template = unit * [0.08, 0.11, 0.095] * (1 + 0.05 * rng.standard_normal((nv, 1)))
    # Joints: global and neck low, jaw lower front, eyes upper front left / right.
    targets = np.array([[0, -0.11, 0], [0, -0.08, -0.02], [0, -0.04, 0.04],
                        [0.03, 0.03, 0.08], [-0.03, 0.03, 0.08]])
    rows, cols, vals = [], [], []
    for j, t in enumerate(targets):
        near = np.argsort(np.linalg.norm(v_template - t, axis=1))[:6]
        rows += [j] * 6
        cols += list(near)
        vals += list(np.full(6, 1 / 6))
    j_reg = scipy.sparse.csc_matrix((vals, (rows, cols)), shape=(J, nv))
    d = np.linalg.norm(v_template[:, None] - targets[None], axis=-1)
    weights = np.exp(-d / 0.03) + 1e-3 * rng.random((nv, J))
    weights /= weights.sum(1, keepdims=True)
    return {
        "v_template": v_template,
        "f": rng.integers(0, nv, (nf, 3)).astype(np.uint32),
        "shapedirs": 1e-3 * rng.standard_normal((nv, 3, N_SHAPE + N_EXPR)),
        "posedirs": 1e-3 * rng.standard_normal((nv, 3, (J - 1) * 9)),
        "J_regressor": j_reg,
        "weights": weights,
        "kintree_table": np.array([[ROOT, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32),
        "J": j_reg @ v_template,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


class Py2Pickler(pickle._Pickler):
    """Writes protocol 2 the way python 2 did: bytes and str as BINSTRING (no _codecs)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_str8(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        n = len(raw)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else \
            pickle.BINSTRING + struct.pack("<i", n)
        self.write(head + raw)
        self.memoize(obj)

    dispatch[bytes] = _save_str8
    dispatch[str] = _save_str8


def py2_dumps(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    # The module names python 2's numpy and scipy wrote.
    return (buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            .replace(b"scipy.sparse._csc", b"scipy.sparse.csc"))


# Fake chumpy classes: they pickle as chumpy.ch.Ch and chumpy.reordering.Select.
class FakeCh:
    def __init__(self, x):
        self.__dict__.update(x=np.asarray(x, np.float64), _dirty_vars=set(), _itr=None,
                             _depends_on_deps={}, _make_dense=False, _make_sparse=False)


class FakeSelect:
    def __init__(self, a, idxs, preferred_shape):
        self.__dict__.update(a=a, idxs=idxs, preferred_shape=preferred_shape,
                             _dirty_vars=set(), _itr=None, _depends_on_deps={})


class FakeAdd:  # chumpy.ch_ops.add: an expression, not data
    def __init__(self, a, b):
        self.__dict__.update(a=a, b=b, _dirty_vars=set())


FAKES = {"chumpy.ch": {"Ch": FakeCh}, "chumpy.reordering": {"Select": FakeSelect},
         "chumpy.ch_ops": {"add": FakeAdd}}


@contextlib.contextmanager
def fake_chumpy():
    """Register the fake classes under chumpy's module names, only while pickling."""
    saved = {n: sys.modules.get(n) for n in ["chumpy", *FAKES]}
    originals = {c: (c.__module__, c.__qualname__, c.__name__)
                 for cls in FAKES.values() for c in cls.values()}
    try:
        sys.modules["chumpy"] = types.ModuleType("chumpy")
        for mod_name, classes in FAKES.items():
            mod = types.ModuleType(mod_name)
            for name, cls in classes.items():
                cls.__module__, cls.__qualname__, cls.__name__ = mod_name, name, name
                setattr(mod, name, cls)
            sys.modules[mod_name] = mod
        yield
    finally:
        for c, (m, q, n) in originals.items():
            c.__module__, c.__qualname__, c.__name__ = m, q, n
        for n, mod in saved.items():
            if mod is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = mod


def chumpify(data: dict) -> dict:
    """Wrap arrays the way the FLAME 2020/2023 pickles do: Ch objects and a Select."""
    out = dict(data)
    for key in ("v_template", "shapedirs", "weights"):
        out[key] = FakeCh(data[key])
    pd = data["posedirs"]
    out["posedirs"] = FakeSelect(FakeCh(pd.ravel()[::-1].copy()),
                                 np.arange(pd.size)[::-1].copy(), pd.shape)
    return out


def write(path, obj, protocol: int = 2):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return path


@pytest.fixture(scope="module")
def flame_data() -> dict:
    return make_flame()


@pytest.fixture(scope="module")
def flame_pkl(tmp_path_factory, flame_data):
    return write(tmp_path_factory.mktemp("flame") / "flame2023_Open.pkl", flame_data)


@pytest.fixture(scope="module")
def chumpy_pkl(tmp_path_factory, flame_data):
    path = tmp_path_factory.mktemp("flame") / "generic_model.pkl"
    with fake_chumpy():
        path.write_bytes(py2_dumps(chumpify(flame_data)))
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules
    return path


@pytest.fixture(scope="module")
def flame_head(flame_pkl) -> Head:
    return load_flame(flame_pkl)


@pytest.fixture
def small(tmp_path):
    """Write a small FLAME-layout model (60 vertices), optionally edited, and return its path."""
    def _write(edit=None, name="small.pkl"):
        data = make_flame(nv=60, nf=100, seed=1)
        if edit is not None:
            edit(data)
        return write(tmp_path / name, data)
    return _write


# ---- an independent FLAME reference (smplx's lbs, in float64) -------------------------------

def flame_reference(data, shape, expr, pose, expression_moves_joints=True):
    """Vertices B x V x 3 of FLAME. shape: B x 300, expr: B x 100, pose: B x 15.

    expression_moves_joints: official FLAME (and smplx) regress the joints from the mesh
    shaped by identity AND expression; False regresses them from identity only.
    """
    v_t = data["v_template"]
    sd = data["shapedirs"]
    j_reg = data["J_regressor"].toarray()
    w = data["weights"]
    parents = data["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    posedirs = data["posedirs"].reshape(-1, (J - 1) * 9).T  # smplx: P x (V*3)
    out = []
    for b in range(shape.shape[0]):
        d_id = sd[:, :, :N_SHAPE] @ shape[b]
        d_ex = sd[:, :, N_SHAPE:] @ expr[b]
        v_shaped = v_t + d_id + d_ex
        joints = j_reg @ (v_shaped if expression_moves_joints else v_t + d_id)
        rot = Rotation.from_rotvec(pose[b].reshape(J, 3)).as_matrix()
        feat = (rot[1:] - np.eye(3)).reshape(-1)
        v_posed = v_shaped + (feat @ posedirs).reshape(-1, 3)
        world = []
        for j in range(J):
            local = np.eye(4)
            local[:3, :3] = rot[j]
            local[:3, 3] = joints[j] - (joints[parents[j]] if j else 0)
            world.append(local if j == 0 else world[parents[j]] @ local)
        rel = np.stack(world)
        rel[:, :3, 3] -= np.einsum("jik,jk->ji", rel[:, :3, :3], joints)
        t = np.einsum("vj,jik->vik", w, rel)
        out.append(np.einsum("vik,vk->vi", t[:, :3, :3], v_posed) + t[:, :3, 3])
    return np.stack(out)


def random_params(bsz=3, seed=5):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((bsz, N_SHAPE)), rng.standard_normal((bsz, N_EXPR)),
            0.4 * rng.standard_normal((bsz, vocab.POSE_DIM)))


# ---- loading -------------------------------------------------------------------------------

def test_layout(flame_head, flame_data):
    h = flame_head
    assert h.num_vertices == V and h.num_faces == F
    assert h.joints.shape == (J, 3) and tuple(h.parents) == (-1, 0, 1, 1, 1)
    assert h.expr_dirs.shape == (N_EXPR, V, 3) and h.num_expressions == 100
    assert h.shape_dirs.shape == (N_SHAPE, V, 3)
    assert h.pose_dirs.shape == ((J - 1) * 9, V, 3)
    assert h.joint_regressor.shape == (J, V) and h.skin_weights.shape == (V, J)
    assert h.expr_names[0] == "expr000" and h.expr_names[-1] == "expr099"
    assert not h.is_arkit and h.regions == {}
    assert h.name == "FLAME flame2023_Open"
    assert h.meta["source"] == "flame2023_Open.pkl"
    assert h.meta["flame_version_guess"] == "2023 Open" and h.meta["chumpy"] is False
    for arr in (h.template, h.expr_dirs, h.shape_dirs, h.pose_dirs, h.joints):
        assert arr.dtype == np.float32
    assert h.faces.dtype == np.int32
    sd, pd = flame_data["shapedirs"], flame_data["posedirs"]
    np.testing.assert_allclose(h.shape_dirs[7, 11], sd[11, :, 7], rtol=1e-6)
    np.testing.assert_allclose(h.expr_dirs[7, 11], sd[11, :, 307], rtol=1e-6)
    np.testing.assert_allclose(h.pose_dirs[20, 11], pd[11, :, 20], rtol=1e-6)
    np.testing.assert_allclose(h.joints, flame_data["J"], atol=1e-6)


def test_zero_params_give_template(flame_head):
    out = flame_head.forward(np.zeros(N_EXPR), np.zeros(vocab.POSE_DIM), np.zeros(N_SHAPE))
    np.testing.assert_allclose(out, flame_head.template, atol=1e-7)
    np.testing.assert_allclose(flame_head.forward().reshape(V, 3), flame_head.template, atol=1e-7)


def test_forward_matches_reference(flame_head, flame_data):
    shape, expr, pose = random_params()
    got = flame_head.forward(expr, pose, shape)
    want = flame_reference(flame_data, shape, expr, pose)
    assert np.abs(got - want).max() < 1e-5
    # The check can tell the joint conventions apart: identity-only joints are far off.
    other = flame_reference(flame_data, shape, expr, pose, expression_moves_joints=False)
    assert np.abs(got - other).max() > 1e-3
    # Unbatched inputs, and identity left out.
    want = flame_reference(flame_data, np.zeros((1, N_SHAPE)), expr[:1], pose[:1])[0]
    assert np.abs(flame_head.forward(expr[0], pose[0]) - want).max() < 1e-5


def test_chumpy_pickle_loads_without_chumpy(chumpy_pkl, flame_head, monkeypatch):
    for name in ("chumpy", "chumpy.ch", "chumpy.reordering", "chumpy.ch_ops"):
        monkeypatch.setitem(sys.modules, name, None)  # `import chumpy` now fails
    assert b"chumpy.ch" in chumpy_pkl.read_bytes() and b"__builtin__" in chumpy_pkl.read_bytes()
    ch_head = load_flame(chumpy_pkl)
    assert ch_head.meta["chumpy"] is True and ch_head.meta["flame_version_guess"] == "2020"
    for key in ("template", "expr_dirs", "shape_dirs", "pose_dirs", "joints", "skin_weights",
                "joint_regressor"):
        np.testing.assert_array_equal(getattr(ch_head, key), getattr(flame_head, key),
                                      err_msg=key)
    np.testing.assert_array_equal(ch_head.faces, flame_head.faces)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_protocols_and_sizes(small, protocol, tmp_path):
    data = make_flame(nv=60, nf=100, seed=1)
    path = write(tmp_path / "m.pkl", data, protocol)
    h = load_flame(path, n_shape=10, n_expr=50)
    assert h.num_vertices == 60 and h.shape_dirs.shape == (10, 60, 3)
    assert h.expr_dirs.shape == (50, 60, 3) and len(h.expr_names) == 50
    np.testing.assert_allclose(h.expr_dirs[0], data["shapedirs"][:, :, 300], rtol=1e-6)
    assert load_flame(path, n_shape=0).shape_dirs is None


def test_head_load_routes_pkl_and_saves(flame_pkl, flame_head, small, tmp_path):
    h = Head.load(flame_pkl)
    assert h.name == flame_head.name and h.num_expressions == 100
    h = Head.load(small())
    h.save(tmp_path / "flame_head.npz")  # meta must be JSON-serialisable
    back = Head.load(tmp_path / "flame_head.npz")
    np.testing.assert_array_equal(back.pose_dirs, h.pose_dirs)
    assert back.meta == h.meta


def test_torch_head_matches_numpy(flame_head):
    torch = pytest.importorskip("torch")
    from facestream.engine.lbs_torch import TorchHead

    shape, expr, pose = random_params(seed=9)
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        got = TorchHead(flame_head)(t(expr), t(pose), t(shape)).numpy()
    assert np.abs(got - flame_head.forward(expr, pose, shape)).max() < 1e-5


# ---- bad files -----------------------------------------------------------------------------

def _raises(path, *words, **kw):
    with pytest.raises(HeadFileError) as info:
        load_flame(path, **kw)
    msg = str(info.value)
    for w in words:
        assert w in msg, msg
    return msg


def test_missing_file(tmp_path):
    msg = _raises(tmp_path / "nope.pkl", "not found", "nope.pkl")
    assert "flame.is.tue.mpg.de" in msg  # says where the fix is
    _raises(tmp_path, "directory")
    with pytest.raises(HeadFileError, match="not found"):
        Head.load(tmp_path / "nope.pkl")


def test_garbage_and_truncated(tmp_path, flame_data):
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle\x00\xff" * 40)
    _raises(garbage, "not a readable FLAME model pickle")
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    _raises(empty, "not a readable FLAME model pickle")
    whole = pickle.dumps(make_flame(nv=60, nf=100), protocol=2)
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(whole[: len(whole) // 2])
    _raises(cut, "truncated")


def test_not_a_dict(tmp_path):
    _raises(write(tmp_path / "list.pkl", [1, 2, 3]), "list", "not a FLAME model")


def test_missing_keys(small):
    _raises(small(lambda d: d.pop("posedirs")), "lacks ['posedirs']")


@pytest.mark.parametrize("key,value,words", [
    ("v_template", lambda d: d["v_template"][:, :2], ["v_template", "V x 3"]),
    ("weights", lambda d: d["weights"][:, :4], ["weights", "60 x 5"]),
    ("posedirs", lambda d: d["posedirs"][..., :35], ["posedirs", "60 x 3 x 36"]),
    ("shapedirs", lambda d: d["shapedirs"][:59], ["shapedirs", "60 x 3 x *"]),
    ("J_regressor", lambda d: scipy.sparse.csc_matrix(d["J_regressor"].toarray()[:, :59]),
     ["J_regressor", "5 x 60"]),
    ("f", lambda d: d["f"][:, :2], ["f must be"]),
    ("f", lambda d: d["f"] + 60, ["outside 0..59"]),
    ("shapedirs", lambda d: d["shapedirs"][..., :350], ["350 components"]),
    ("shapedirs", lambda d: np.where(np.arange(400) == 3, np.nan, d["shapedirs"]), ["NaN"]),
    ("weights", lambda d: d["weights"] * 2, ["sum to 1"]),
    ("kintree_table", lambda d: np.array([[ROOT, 0, 0, 1, 1], [0, 1, 2, 3, 4]], np.uint32),
     ["parents (-1, 0, 0, 1, 1)", "(-1, 0, 1, 1, 1)"]),
    ("kintree_table", lambda d: d["kintree_table"][:, :4], ["kintree_table", "2 x 5"]),
    ("v_template", lambda d: "hello", ["v_template"]),
])
def test_malformed_arrays(small, key, value, words):
    def edit(d):
        d[key] = value(d)
    _raises(small(edit), "not a valid FLAME model", *words)


def test_bad_arguments(small):
    path = small()
    _raises(path, "fewer than 300 identity + 101", n_expr=101)
    with pytest.raises(ValueError, match="n_shape"):
        load_flame(path, n_shape=301)
    with pytest.raises(ValueError, match="n_expr"):
        load_flame(path, n_expr=-1)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    data = make_flame(nv=60, nf=100)
    data["bs_style"] = _Evil(marker)
    msg = _raises(write(tmp_path / "evil.pkl", data), "refusing to load", "system")
    assert not marker.exists(), msg
    # A disallowed class elsewhere (not chumpy, numpy or scipy.sparse) is refused too.
    _raises(write(tmp_path / "cls.pkl", {"v_template": _Evil}), "refusing to load", "_Evil")
    # eval / exec are builtins, but not containers.
    evil = b"\x80\x02c__builtin__\neval\nq\x00X\x04\x00\x00\x001+1\x85R."
    (tmp_path / "eval.pkl").write_bytes(evil)
    _raises(tmp_path / "eval.pkl", "refusing to load builtins.eval")


def test_unconvertible_chumpy(tmp_path, monkeypatch):
    data = make_flame(nv=60, nf=100)
    data["shapedirs"] = FakeAdd(FakeCh(data["shapedirs"]), FakeCh(data["shapedirs"]))
    path = tmp_path / "expr.pkl"
    with fake_chumpy():
        path.write_bytes(py2_dumps(data))
    monkeypatch.setitem(sys.modules, "chumpy", None)
    _raises(path, "'shapedirs'", "chumpy.ch_ops.add", "cannot convert")


def test_old_scipy_sparse_state(tmp_path):
    """scipy before 0.14 pickled a sparse matrix's shape as "shape", not "_shape"."""
    data = make_flame(nv=60, nf=100)
    raw = py2_dumps(data)
    assert raw.count(b"U\x06_shape") == 1
    path = tmp_path / "old_scipy.pkl"
    path.write_bytes(raw.replace(b"U\x06_shape", b"U\x05shape"))
    h = load_flame(path)
    np.testing.assert_allclose(h.joint_regressor, data["J_regressor"].toarray(), rtol=1e-6)


def test_stand_in_records_state():
    obj = ChumpyStandIn.__new__(ChumpyStandIn, 1, 2)
    obj.__setstate__({"x": 3})
    assert obj.args == (1, 2) and obj.state == {"x": 3}


# ---- retargeting: a FLAME-format head animates its whole face with no map -------------------

def flame_from_head(head: Head, seed: int = 0) -> dict:
    """A FLAME-layout dict of arrays holding `head` (100 expression components): the joints
    come back through a sparse J_regressor of four nearby vertices per joint."""
    rng = np.random.default_rng(seed)
    nv = head.num_vertices
    rows, cols, vals = [], [], []
    for j, joint in enumerate(head.joints.astype(np.float64)):
        near = np.argsort(np.linalg.norm(head.template - joint, axis=1))[:12]
        pick = near[[0, 3, 7, 11]]
        a = np.vstack([head.template[pick].T.astype(np.float64), np.ones(4)])  # 4 x 4
        rows += [j] * 4
        cols += list(pick)
        vals += list(np.linalg.lstsq(a, np.r_[joint, 1.0], rcond=None)[0])
    shapedirs = np.concatenate([1e-4 * rng.standard_normal((nv, 3, N_SHAPE)),
                                head.expr_dirs.transpose(1, 2, 0).astype(np.float64)], axis=2)
    return {
        "v_template": head.template.astype(np.float64), "f": head.faces.astype(np.uint32),
        "shapedirs": shapedirs, "posedirs": np.zeros((nv, 3, (J - 1) * 9)),
        "J_regressor": scipy.sparse.csc_matrix((vals, (rows, cols)), shape=(J, nv)),
        "weights": head.skin_weights.astype(np.float64),
        "kintree_table": np.array([[ROOT, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32),
    }


@pytest.fixture(scope="module")
def foreign_flame_pkl(tmp_path_factory):
    from test_retarget import foreign_head
    head, _ = foreign_head(k_head=N_EXPR)
    with fake_chumpy():  # as FLAME 2020/2023 ship it: chumpy objects, python 2 bytes
        raw = py2_dumps(chumpify(flame_from_head(head)))
    path = tmp_path_factory.mktemp("flame") / "flame2023.pkl"
    path.write_bytes(raw)
    return path


def test_flame_head_animates_whole_face_without_a_map(foreign_flame_pkl, tmp_path, monkeypatch):
    from facestream.engine.animate import animate_array, write_frames
    from facestream.formats import read_audio
    from facestream.engine.stream import Engine
    from facestream.server import protocol
    monkeypatch.setenv("FACESTREAM_CACHE_DIR", str(tmp_path / "cache"))
    engine = Engine(head=foreign_flame_pkl)
    assert engine.head.meta["chumpy"] and engine.head.num_expressions == N_EXPR
    assert engine.expression_map is not None and engine.warning is None
    assert engine.retarget_fit.max_mm.max() < 5.0
    audio, sr = read_audio(Path(facestream.__file__).parent / "assets" / "example_speech.flac")
    frames = animate_array(engine, audio[: 3 * sr], sr, vertices=True)
    expr = np.stack([f.expression for f in frames])  # T x 100
    arkit = np.stack([f.arkit for f in frames])
    np.testing.assert_allclose(expr, arkit @ engine.expression_map.T, rtol=1e-4, atol=1e-5)
    assert np.abs(expr).max() > 0.05
    # the lips move beyond what the jaw does: the expression part of the vertices
    rest_expr = engine.head.forward(np.zeros_like(expr), np.stack(
        [engine.skin_pose(f.jaw_pose, f.neck_pose, f.eye_pose) for f in frames]))
    verts = np.stack([f.vertices for f in frames])
    assert np.linalg.norm(verts - rest_expr, axis=-1).max() > 2e-3
    # every output carries the coefficients: the websocket flame block, npz and json
    assert np.array_equal(protocol.flame_block(frames[10])[:N_EXPR], frames[10].expression)
    z = np.load(write_frames(frames, tmp_path / "t.npz", 30, engine.head.name))
    assert np.array_equal(z["expression"], expr)
    js = json.loads(write_frames(frames, tmp_path / "t.json", 30, engine.head.name).read_text())
    np.testing.assert_allclose(js["frames"][10]["expression"], expr[10], atol=1e-5)
    # a second engine reads the cache instead of fitting again
    again = Engine(head=foreign_flame_pkl)
    assert again.retarget_fit.meta["cache"] == engine.retarget_fit.meta["cache"]
    assert np.array_equal(again.expression_map, engine.expression_map)


def test_unfittable_flame_head_still_loads_with_a_reason(flame_pkl, tmp_path, monkeypatch):
    """The random-sphere pickles have no face: the engine says so and moves jaw, neck, eyes."""
    from facestream.engine.stream import Engine
    monkeypatch.setenv("FACESTREAM_CACHE_DIR", str(tmp_path / "cache"))
    engine = Engine(head=flame_pkl)
    assert engine.expression_map is None
    assert "--arkit-map" in engine.warning and "jaw" in engine.warning
