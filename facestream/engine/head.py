"""The head a face is drawn on: its data, its numpy forward pass, and loading it.

A `Head` owns arrays (template, bases, joints, skin weights, regions); `lbs.py` holds the
math. Two kinds of head exist: the embedded default head (52 ARKit-named expression
shapes, built from CC0 MakeHuman data by scripts/build_default_head.py) and the FLAME
model a user brings (`flame.py`), which has 100 FLAME expression components instead.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .. import vocab
from . import lbs

# Per-vertex material ids of the default head, used by the renderer.
MATERIALS: tuple[str, ...] = (
    "skin", "lips", "teeth", "tongue", "sclera", "iris", "pupil", "mouth",
)
DEFAULT_HEAD_FILE = "default_head.npz"
HEAD_FORMAT_VERSION = 1


class HeadFileError(ValueError):
    """A head file that is missing, corrupt or not a head: the message says which and why."""


@dataclass
class Head:
    """A rigged head mesh.

    template: V x 3 float32 rest vertices in metres (y up, z out of the face, x to the
    subject's left); faces: F x 3 int32; expr_dirs: K x V x 3 expression basis with names
    expr_names (ARKit names for the default head, "expr000".. for FLAME); shape_dirs:
    S x V x 3 identity basis or None; pose_dirs: P x V x 3 pose correctives or None;
    joints: J x 3 rest joint positions (layout vocab.POSE_JOINTS); joint_regressor: J x V
    recomputes joints from a shaped mesh (or None: joints do not move with shape);
    skin_weights: V x J; regions: name -> vertex indices (lips, upper_face, eyes, jaw);
    vertex_material: V ids into MATERIALS, or None.
    """

    name: str
    template: np.ndarray
    faces: np.ndarray
    expr_dirs: np.ndarray
    expr_names: tuple[str, ...]
    joints: np.ndarray
    skin_weights: np.ndarray
    parents: tuple[int, ...] = vocab.JOINT_PARENTS
    shape_dirs: np.ndarray | None = None
    pose_dirs: np.ndarray | None = None
    joint_regressor: np.ndarray | None = None
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    vertex_material: np.ndarray | None = None
    mirror: np.ndarray | None = None  # V ints: the vertex mirrored across x = 0
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.template.shape[0]
        checks = [
            (self.template.ndim == 2 and self.template.shape[1] == 3, "template must be V x 3"),
            (self.faces.ndim == 2 and self.faces.shape[1] == 3, "faces must be F x 3 triangles"),
            (self.expr_dirs.shape[1:] == (v, 3), "expr_dirs must be K x V x 3"),
            (len(self.expr_names) == self.expr_dirs.shape[0], "one name per expression shape"),
            (self.joints.shape == (vocab.NUM_JOINTS, 3), f"joints must be {vocab.NUM_JOINTS} x 3"),
            (self.skin_weights.shape == (v, vocab.NUM_JOINTS), "skin_weights must be V x J"),
            (self.faces.size == 0 or (0 <= self.faces.min() and self.faces.max() < v),
             "faces index vertices that do not exist"),
            (len(self.parents) == vocab.NUM_JOINTS, f"parents must list {vocab.NUM_JOINTS} joints"),
            (self.shape_dirs is None or self.shape_dirs.shape[1:] == (v, 3),
             "shape_dirs must be S x V x 3"),
            (self.pose_dirs is None or self.pose_dirs.shape == (9 * (vocab.NUM_JOINTS - 1), v, 3),
             f"pose_dirs must be {9 * (vocab.NUM_JOINTS - 1)} x V x 3"),
            (self.joint_regressor is None or self.joint_regressor.shape == (vocab.NUM_JOINTS, v),
             "joint_regressor must be J x V"),
        ]
        for ok, msg in checks:
            if not ok:
                raise HeadFileError(f"head {self.name!r} is malformed: {msg}")

    @property
    def num_vertices(self) -> int:
        return int(self.template.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def num_expressions(self) -> int:
        return int(self.expr_dirs.shape[0])

    @property
    def is_arkit(self) -> bool:
        """True when the expression basis is the 52 ARKit shapes in vocab order."""
        return tuple(self.expr_names) == vocab.ARKIT_NAMES

    def forward(self, expression=None, pose=None, shape=None) -> np.ndarray:
        """Vertices for a batch of frames.

        expression: B x K (or K) weights; pose: B x 15 (or 15) axis-angle in vocab.POSE_JOINTS
        layout; shape: B x S (or S) identity coefficients. Missing inputs are zero.
        Returns B x V x 3 float32 metres (V x 3 when every given input was unbatched).
        """
        arrays = [np.asarray(a, dtype=np.float32) for a in (expression, pose, shape) if a is not None]
        single = all(a.ndim == 1 for a in arrays)
        bsz = 1 if single or not arrays else max(a.shape[0] for a in arrays if a.ndim > 1)
        expression = self._batch(expression, self.num_expressions, bsz, "expression")
        pose = self._batch(pose, vocab.POSE_DIM, bsz, "pose")
        v = self.template[None] + lbs.blend_shapes(expression, self.expr_dirs)
        if shape is not None and self.shape_dirs is None:
            raise ValueError(f"head {self.name!r} has no identity shape basis: pass shape=None")
        if shape is not None:
            v = v + lbs.blend_shapes(self._batch(shape, self.shape_dirs.shape[0], bsz, "shape"),
                                     self.shape_dirs)
        if self.joint_regressor is not None:
            # As FLAME/smplx: joints follow the mesh shaped by identity and expression.
            joints = np.einsum("jv,bvc->bjc", self.joint_regressor, v)
        else:
            joints = np.broadcast_to(self.joints, (bsz,) + self.joints.shape)
        out = lbs.lbs(v, np.ascontiguousarray(joints, dtype=np.float32), pose, self.parents,
                      self.skin_weights, self.pose_dirs)
        return out[0] if single else out

    @staticmethod
    def _batch(x, width: int, bsz: int, what: str) -> np.ndarray:
        if x is None:
            return np.zeros((bsz, width), dtype=np.float32)
        x = np.asarray(x, dtype=np.float32)
        x = x[None] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"{what} must be B x {width} (or {width}), got shape {x.shape}")
        if x.shape[0] != bsz:
            x = np.broadcast_to(x, (bsz, width)) if x.shape[0] == 1 else None
            if x is None:
                raise ValueError(f"{what}: batch sizes of the inputs differ")
        if not np.isfinite(x).all():
            raise ValueError(f"{what} contains NaN or infinity: check the values you pass in")
        return x

    # ---- storage -------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the head as a compressed .npz (the format of the embedded default head)."""
        arrays = {
            "template": self.template.astype(np.float32),
            "faces": self.faces.astype(np.int32),
            "expr_dirs": self.expr_dirs.astype(np.float32),
            "joints": self.joints.astype(np.float32),
            "skin_weights": self.skin_weights.astype(np.float32),
            "parents": np.asarray(self.parents, dtype=np.int32),
        }
        for key in ("shape_dirs", "pose_dirs", "joint_regressor", "vertex_material", "mirror"):
            if getattr(self, key) is not None:
                arrays[key] = getattr(self, key)
        for rname, idx in self.regions.items():
            arrays[f"region_{rname}"] = np.asarray(idx, dtype=np.int32)
        header = {"format": "facestream-head", "version": HEAD_FORMAT_VERSION, "name": self.name,
                  "expr_names": list(self.expr_names), "meta": self.meta}
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Head":
        """Read a head written by `save` (or, by its extension, a FLAME pickle or a glTF/VRM
        avatar with ARKit-named morph targets: avatar.py)."""
        path = Path(path)
        if not path.exists():
            raise HeadFileError(f"head file not found: {path} (give the path to a .npz head, "
                                "a FLAME .pkl or a .glb/.gltf/.vrm avatar; omit --head for the "
                                "default head)")
        if path.suffix.lower() == ".pkl":
            from .flame import load_flame
            return load_flame(path)
        if path.suffix.lower() in (".glb", ".gltf", ".vrm"):
            from .avatar import avatar_head
            return avatar_head(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as e:  # zip, npy and OS errors all mean "not a readable npz"
            raise HeadFileError(f"{path} is not a readable facestream head (.npz): {e}") from e
        if "header" not in data:
            raise HeadFileError(f"{path} is an .npz but not a facestream head (no header)")
        try:
            header = json.loads(bytes(data.pop("header")).decode())
        except ValueError as e:
            raise HeadFileError(f"{path}: corrupt head header: {e}") from e
        if header.get("format") != "facestream-head":
            raise HeadFileError(f"{path}: not a facestream head file")
        if header.get("version", 0) > HEAD_FORMAT_VERSION:
            raise HeadFileError(f"{path}: head format {header['version']} is newer than this "
                                f"facestream reads ({HEAD_FORMAT_VERSION}): upgrade facestream")
        missing = {"template", "faces", "expr_dirs", "joints", "skin_weights"} - set(data)
        if missing:
            raise HeadFileError(f"{path}: head file lacks {sorted(missing)}")
        regions = {k[len("region_"):]: data.pop(k) for k in list(data) if k.startswith("region_")}
        return cls(
            name=header["name"], template=data["template"], faces=data["faces"],
            expr_dirs=data["expr_dirs"], expr_names=tuple(header["expr_names"]),
            joints=data["joints"], skin_weights=data["skin_weights"],
            parents=tuple(int(p) for p in data.get("parents", vocab.JOINT_PARENTS)),
            shape_dirs=data.get("shape_dirs"), pose_dirs=data.get("pose_dirs"),
            joint_regressor=data.get("joint_regressor"),
            vertex_material=data.get("vertex_material"), mirror=data.get("mirror"),
            regions=regions,
            meta=header.get("meta", {}),
        )


def default_head_path() -> Path:
    """Path of the embedded default head asset inside the installed package."""
    return Path(str(resources.files("facestream") / "assets" / DEFAULT_HEAD_FILE))


_DEFAULT_CACHE: dict[str, Head] = {}


def load_head(path: str | Path | None = None) -> Head:
    """The head at `path` (.npz or FLAME .pkl), or the embedded default head when None."""
    if path is not None:
        return Head.load(path)
    if "default" not in _DEFAULT_CACHE:
        p = default_head_path()
        if not p.exists():
            raise HeadFileError(f"the embedded default head is missing at {p}: reinstall "
                                "facestream or rebuild it with `make head`")
        _DEFAULT_CACHE["default"] = Head.load(p)
    return _DEFAULT_CACHE["default"]
