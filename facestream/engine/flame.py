"""Load a FLAME model pickle (2020, 2023 or 2023 Open) as a facestream `Head`.

FLAME is licence-gated: facestream never ships it, the user points at the pickle they
downloaded from https://flame.is.tue.mpg.de. The pickles are python-2 pickles; the 2020 and
2023 ones hold some arrays as chumpy objects. chumpy is not needed: a restricted unpickler
maps every `chumpy.*` class to a stand-in that only records its state, and the stand-ins
are turned into numpy arrays afterwards. The unpickler refuses every class that is not
numpy, a scipy.sparse matrix, a chumpy stand-in or a plain builtin container, so a pickle
cannot run arbitrary code on load.

The pickle's keys (V = 5023 vertices, F = 9976 faces, J = 5 joints for the real model):
    v_template   V x 3           rest mesh, metres
    f            F x 3           triangles
    shapedirs    V x 3 x 400     300 identity components, then 100 expression components
    posedirs     V x 3 x 36      pose correctives, (J-1)*9 per-joint rotation-matrix entries
    J_regressor  J x V           scipy.sparse (csc) matrix: joints from vertices
    weights      V x J           skin weights
    kintree_table 2 x J          parent ids (root 4294967295 = uint32 -1) over joint ids
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import safe_pickle, vocab
from .head import Head, HeadFileError

FLAME_SHAPE_SPACE = 300  # shapedirs[..., :300] is identity, shapedirs[..., 300:] expression
FLAME_PARENTS: tuple[int, ...] = (-1, 0, 1, 1, 1)  # global, neck, jaw, eye_left, eye_right
REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights",
                 "kintree_table")
_FIX = " (give the path of an unmodified FLAME 2020/2023 model .pkl from flame.is.tue.mpg.de)"

# ---- restricted unpickling ----------------------------------------------------------------

_SPARSE_CLASSES = {"csc_matrix", "csr_matrix", "coo_matrix", "lil_matrix", "dok_matrix",
                   "bsr_matrix", "dia_matrix", "csc_array", "csr_array", "coo_array"}


class ChumpyStandIn:
    """What a chumpy object unpickles to: the class it was (`chumpy_class`, "module.Name"),
    the constructor args (`args`, when pickled by REDUCE) and its `__setstate__` state."""

    chumpy_class = "chumpy.?"
    args: tuple = ()
    state = None

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.args = args
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<{self.chumpy_class} stand-in>"


_STAND_INS: dict[str, type] = {}


def _stand_in(module: str, name: str) -> type:
    key = f"{module}.{name}"
    if key not in _STAND_INS:
        _STAND_INS[key] = type(name, (ChumpyStandIn,), {"chumpy_class": key})
    return _STAND_INS[key]


class _FlameUnpickler(safe_pickle.DataUnpickler):
    """numpy and plain data (the base), plus scipy.sparse matrices and chumpy, whose classes
    become stand-ins; any other global raises HeadFileError."""

    refused = HeadFileError

    def allow(self, module: str, name: str):
        if module == "chumpy" or module.startswith("chumpy."):
            return _stand_in(module, name)
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) \
                and name in _SPARSE_CLASSES:
            import scipy.sparse
            return getattr(scipy.sparse, name)
        return None

    def refusal(self, module: str, name: str) -> Exception:
        return HeadFileError(f"refusing to load {module}.{name} from a FLAME pickle: only numpy, "
                             "scipy.sparse and chumpy data may appear in one" + _FIX)


def _read_pickle(path: Path):
    return safe_pickle.load(path, _FlameUnpickler, "FLAME model pickle",
                            hint="; the file may be truncated or not a FLAME .pkl" + _FIX)


# ---- turning what was unpickled into arrays ------------------------------------------------

def _chumpy_value(obj: ChumpyStandIn, key: str) -> np.ndarray:
    """The array a chumpy object evaluates to, for the classes FLAME pickles contain."""
    state = obj.state if isinstance(obj.state, dict) else {}
    kind = obj.chumpy_class.rsplit(".", 1)[-1]
    try:
        if kind == "Ch" and "x" in state:
            return _to_array(state["x"], key)
        if kind == "Select" and {"a", "idxs"} <= set(state):
            out = _to_array(state["a"], key).ravel()[np.asarray(state["idxs"])].copy()
            shape = state.get("preferred_shape")
            return out if shape is None else out.reshape(shape)
        if kind == "Reshape" and {"a", "newshape"} <= set(state):
            return _to_array(state["a"], key).reshape(state["newshape"])
        if kind == "transpose" and "a" in state:
            return np.transpose(_to_array(state["a"], key), state.get("axes"))
    except (ValueError, IndexError, TypeError) as e:
        raise HeadFileError(f"FLAME pickle entry {key!r}: cannot evaluate the chumpy "
                            f"{obj.chumpy_class} object: {e}" + _FIX) from e
    raise HeadFileError(f"FLAME pickle entry {key!r} is a chumpy {obj.chumpy_class} object that "
                        f"facestream cannot convert to an array (state keys: "
                        f"{sorted(state)[:8]}); convert the pickle with chumpy installed "
                        "(save each array as numpy) or use FLAME 2023 Open")


def _to_array(obj, key: str) -> np.ndarray:
    """obj (ndarray, chumpy stand-in, scipy.sparse matrix or nested lists) -> dense ndarray."""
    if isinstance(obj, ChumpyStandIn):
        return _chumpy_value(obj, key)
    if type(obj).__module__.startswith("scipy.sparse"):  # J_regressor
        try:
            return np.asarray(obj.toarray())
        except Exception:  # an old scipy's state (e.g. "shape" not "_shape"): rebuild it
            return _sparse_from_state(obj, key)
    try:
        arr = np.asarray(obj)
    except Exception as e:
        raise HeadFileError(f"FLAME pickle entry {key!r} is not an array: {e}" + _FIX) from e
    if arr.dtype == object:
        raise HeadFileError(f"FLAME pickle entry {key!r} is not a numeric array "
                            f"(got {type(obj).__name__})" + _FIX)
    return arr


def _sparse_from_state(obj, key: str) -> np.ndarray:
    import scipy.sparse
    d = obj.__dict__
    shape = d.get("_shape", d.get("shape"))
    fmt = type(obj).__name__
    try:
        if fmt in ("csc_matrix", "csr_matrix"):
            rebuilt = getattr(scipy.sparse, fmt)((d["data"], d["indices"], d["indptr"]),
                                                 shape=shape)
        else:
            rebuilt = scipy.sparse.coo_matrix((d["data"], (d["row"], d["col"])), shape=shape)
        return np.asarray(rebuilt.toarray())
    except Exception as e:
        raise HeadFileError(f"FLAME pickle entry {key!r}: unreadable sparse matrix "
                            f"({type(e).__name__}: {e})" + _FIX) from e


def _parents(kintree: np.ndarray) -> tuple[int, ...]:
    """kintree_table 2 x J (row 0: parent ids, row 1: joint ids) -> J parent indices."""
    ids = [int(i) for i in kintree[1]]
    col = {jid: c for c, jid in enumerate(ids)}
    return tuple(col.get(int(p), -1) for p in kintree[0])


def flame_version_guess(path: Path, had_chumpy: bool) -> str:
    """A best guess from the file name (generic_model.pkl, flame2023.pkl, flame2023_Open.pkl)."""
    stem = path.stem.lower()
    if "2023" in stem:
        return "2023 Open" if "open" in stem else "2023"
    if "2020" in stem or stem in ("generic_model", "female_model", "male_model"):
        return "2020"
    return "unknown (chumpy pickle: 2020 or 2023)" if had_chumpy else "unknown"


# ---- the loader ----------------------------------------------------------------------------

def load_flame(path: str | Path, n_shape: int = 300, n_expr: int = 100) -> Head:
    """Read a FLAME model pickle into a Head.

    path: a FLAME .pkl; n_shape: identity components to keep (<= 300); n_expr: expression
    components to keep (<= the pickle's, 100 for FLAME). Returns a Head with template V x 3,
    faces F x 3, expr_dirs n_expr x V x 3 (names "expr000".."), shape_dirs n_shape x V x 3
    (None when n_shape == 0), pose_dirs 36 x V x 3, joints 5 x 3 = J_regressor @ v_template,
    joint_regressor 5 x V, skin_weights V x 5, parents (-1, 0, 1, 1, 1). Raises HeadFileError
    for a missing, unreadable, unsafe or malformed file.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not" if path.is_dir() else "not found:"
        raise HeadFileError(f"FLAME model {what} {path}" + _FIX)
    for what, n in (("n_shape", n_shape), ("n_expr", n_expr)):
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{what} must be a non-negative int, got {n!r}")
    if n_shape > FLAME_SHAPE_SPACE:
        raise ValueError(f"n_shape must be <= {FLAME_SHAPE_SPACE} (FLAME's identity space), "
                         f"got {n_shape}")

    raw = _read_pickle(path)
    if not isinstance(raw, dict):
        raise HeadFileError(f"{path} holds a pickled {type(raw).__name__}, not a FLAME model "
                            "(a dict of arrays)" + _FIX)
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise HeadFileError(f"{path} is not a FLAME model: it lacks {missing} (has "
                            f"{sorted(map(str, raw))[:12]})" + _FIX)
    had_chumpy = any(isinstance(raw[k], ChumpyStandIn) for k in REQUIRED_KEYS)
    a = {k: _to_array(raw[k], k) for k in REQUIRED_KEYS}
    _validate(path, a, n_expr)

    v_template = a["v_template"].astype(np.float64)
    j_reg = a["J_regressor"].astype(np.float64)
    shapedirs = a["shapedirs"]  # V x 3 x (300 + E)
    as_basis = lambda d: np.ascontiguousarray(d.transpose(2, 0, 1), dtype=np.float32)  # noqa: E731
    return Head(
        name=f"FLAME {path.stem}",
        template=v_template.astype(np.float32),
        faces=a["f"].astype(np.int32),
        expr_dirs=as_basis(shapedirs[:, :, FLAME_SHAPE_SPACE:FLAME_SHAPE_SPACE + n_expr]),
        expr_names=tuple(f"expr{i:03d}" for i in range(n_expr)),
        joints=(j_reg @ v_template).astype(np.float32),
        skin_weights=a["weights"].astype(np.float32),
        parents=FLAME_PARENTS,
        shape_dirs=as_basis(shapedirs[:, :, :n_shape]) if n_shape else None,
        # (V, 3, P) -> (P, V, 3): row p flattened is smplx's posedirs.reshape(-1, P).T[p], so
        # lbs.py's feature (R[1:] - I) flattened row-major per joint meets the same columns.
        pose_dirs=as_basis(a["posedirs"]),
        joint_regressor=j_reg.astype(np.float32),
        regions={},
        meta={"source": path.name, "flame_version_guess": flame_version_guess(path, had_chumpy),
              "chumpy": had_chumpy, "n_shape": int(n_shape), "n_expr": int(n_expr)},
    )


def _validate(path: Path, a: dict[str, np.ndarray], n_expr: int) -> None:
    """Check the arrays agree with each other and with FLAME's rig; raise HeadFileError."""
    def bad(msg: str) -> HeadFileError:
        return HeadFileError(f"{path} is not a valid FLAME model: {msg}" + _FIX)

    v_t = a["v_template"]
    if v_t.ndim != 2 or v_t.shape[1] != 3 or v_t.shape[0] == 0:
        raise bad(f"v_template must be V x 3, got {v_t.shape}")
    nv, nj = v_t.shape[0], vocab.NUM_JOINTS
    expected = {
        "f": (None, 3),
        "shapedirs": (nv, 3, None),
        "posedirs": (nv, 3, (nj - 1) * 9),
        "J_regressor": (nj, nv),
        "weights": (nv, nj),
        "kintree_table": (2, nj),
    }
    for key, want in expected.items():
        got = a[key].shape
        if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
            shown = " x ".join("*" if w is None else str(w) for w in want)
            raise bad(f"{key} must be {shown} (V = {nv} from v_template), got {got}")
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        if not np.issubdtype(a[key].dtype, np.number) or not np.isfinite(a[key]).all():
            raise bad(f"{key} holds non-numeric, NaN or infinite values")
    faces = a["f"]
    if not np.issubdtype(faces.dtype, np.integer):
        if not np.issubdtype(faces.dtype, np.number) or np.any(faces != np.round(faces)):
            raise bad("f must hold integer vertex indices")
    if faces.size and (faces.min() < 0 or faces.max() >= nv):
        raise bad(f"f indexes vertices outside 0..{nv - 1}")
    n_comp = a["shapedirs"].shape[2]
    if n_comp < FLAME_SHAPE_SPACE + n_expr:
        raise bad(f"shapedirs has {n_comp} components, fewer than {FLAME_SHAPE_SPACE} identity "
                  f"+ {n_expr} expression ones (pass a smaller n_expr?)")
    row_sums = a["weights"].sum(axis=1)
    if np.abs(row_sums - 1.0).max() > 1e-3:
        raise bad(f"skin weights rows must sum to 1 (worst row sums to "
                  f"{row_sums[np.abs(row_sums - 1).argmax()]:.4f})")
    if not np.issubdtype(a["kintree_table"].dtype, np.integer):
        raise bad("kintree_table must hold integer joint ids")
    parents = _parents(a["kintree_table"])
    if parents != FLAME_PARENTS:
        raise bad(f"kintree_table gives joint parents {parents}, not FLAME's {FLAME_PARENTS} "
                  f"({', '.join(vocab.POSE_JOINTS)})")
