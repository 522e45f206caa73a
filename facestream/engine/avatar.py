"""Users' own avatars: a glTF 2.0 / VRM file with ARKit-named morph targets -> a `Head`.

    facestream live --avatar me.vrm        # also: render --avatar, serve --avatar, --head me.glb
    avatar = load_avatar("me.vrm"); print(avatar.report); head = avatar.to_head()

What is read (exporters/gltf.py decodes the container):
- every triangle primitive of every mesh in the default scene, placed where the scene puts it
  at rest (node transforms; a skinned primitive through its joints and inverse bind matrices).
  Primitives that share their vertex accessors (a facestream take's per-material primitives)
  share vertices. A VRM 0.x file faces -z and is turned to face +z, glTF's front;
- morph targets whose names (mesh or primitive `extras.targetNames`) are ARKit's 52 (Perfect
  Sync names), compared case-insensitively. `AvatarReport` lists which of the 52 the avatar has
  and which are missing (those stay at rest); other names are ignored and counted;
- joints, matched to the engine's five (vocab.POSE_JOINTS) by VRM humanoid bone (neck or head,
  jaw, leftEye, rightEye), else by node name (a facestream take's own names, or names with
  "jaw", "neck"/"head", "eye" and a side). Each vertex's skin weights go to the engine joint
  at or above its glTF joint; parts no engine joint carries stay still.
- the jaw: a jaw bone is turned by the engine's jaw pose only where the jawOpen shape does not
  already open the mouth (a facestream take, whose jawOpen shape holds only what the rotation
  leaves, or an avatar without a jawOpen shape); otherwise the mouth opens by jawOpen alone, as
  Perfect Sync avatars expect, and the bone stays at rest (turning both would open it twice).
- a full-body avatar is cropped to its head: the triangles within a box around the vertices the
  ARKit shapes move, grown by HEAD_MARGIN of its size, so the viewer frames the face.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import vocab
from ..exporters.gltf import TAKE_FORMAT, GltfError, read_accessor, read_gltf
from .head import MATERIALS, Head, HeadFileError

AVATAR_SUFFIXES = (".glb", ".gltf", ".vrm")
HEAD_MARGIN = 0.6  # a cropped head: the ARKit shapes' box grown by this much of its size per side
CROP_RATIO = 2.5  # crop when the avatar is this many times taller than the ARKit shapes' box
HEAD_MIN_SIZE = 0.12  # metres: the box is at least this wide each way (an avatar with eye shapes only)
MOVED_MIN = 1e-6  # metres: a vertex an ARKit shape moves less than this is not part of the face

_ARKIT_BY_LOWER = {n.lower(): n for n in vocab.ARKIT_NAMES}
# VRM humanoid bone -> engine joint (VRM 0.x and 1.0 share these names); head when no neck.
_VRM_BONES = {"neck": "neck", "head": "neck", "jaw": "jaw", "leftEye": "eye_left",
              "rightEye": "eye_right"}
_NAME_RULES = (  # (engine joint, pattern on the lower-cased node name without separators)
    ("jaw", re.compile(r"jaw")),
    ("eye_left", re.compile(r"^(eyeleft|lefteye|eyel|leye)$|(^|[^a-z])(left|l)eye|eye(left|l)$")),
    ("eye_right", re.compile(r"^(eyeright|righteye|eyer|reye)$|(^|[^a-z])(right|r)eye|eye(right|r)$")),
    ("neck", re.compile(r"neck")),
    ("neck", re.compile(r"^(mixamorig\d*|bip\d*|jbipc|def|j|c)?head$")),  # not "forehead"
)


class AvatarError(GltfError, HeadFileError):
    """An avatar that cannot be driven: the message says what it lacks and how to add it."""


@dataclass
class AvatarReport:
    """Which of ARKit's 52 shapes an avatar has. present: ARKit name -> the file's own name;
    missing: ARKit names it lacks (driven as zero); ignored: how many other morph targets;
    jaw: how the jaw moves; notes: anything else the reader decided."""

    path: str
    present: dict[str, str]
    missing: tuple[str, ...]
    ignored: int
    jaw: str
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"avatar {self.path}: {len(self.present)} of {vocab.NUM_ARKIT} ARKit shapes"
                 + (f" ({self.ignored} other morph targets ignored)" if self.ignored else "")]
        if self.missing:
            lines.append(f"  missing (held at rest): {', '.join(self.missing)}")
        renamed = [f"{a} <- {f}" for a, f in self.present.items() if a != f]
        if renamed:
            lines.append(f"  matched by case: {', '.join(renamed)}")
        lines.append(f"  jaw: {self.jaw}")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"path": self.path, "present": dict(self.present), "missing": list(self.missing),
                "ignored": self.ignored, "jaw": self.jaw, "notes": list(self.notes)}


@dataclass
class Avatar:
    """An avatar as the engine drives it. vertices: V x 3 rest positions (metres, +y up, facing
    +z); faces: F x 3; targets: 52 x V x 3 ARKit shapes in vocab order (zeros where missing);
    joints: 5 x 3 rest positions of vocab.POSE_JOINTS; skin_weights: V x 5;
    vertex_material: V ids into head.MATERIALS (a facestream take's), or None."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    targets: np.ndarray
    joints: np.ndarray
    skin_weights: np.ndarray
    vertex_material: np.ndarray | None
    report: AvatarReport

    def to_head(self) -> Head:
        return Head(name=self.name, template=self.vertices, faces=self.faces,
                    expr_dirs=self.targets, expr_names=vocab.ARKIT_NAMES, joints=self.joints,
                    skin_weights=self.skin_weights, vertex_material=self.vertex_material,
                    meta={"source": self.report.path, "avatar": self.report.as_dict()})


def load_avatar(path: str | Path) -> Avatar:
    """Read a .glb / .gltf / .vrm avatar (see the module docstring). Raises AvatarError (a
    GltfError) naming what is missing or corrupt."""
    path = Path(path)
    doc, buffers = read_gltf(path)
    try:
        return _Reader(doc, buffers, path).avatar()
    except (KeyError, IndexError, TypeError) as e:
        raise AvatarError(f"{path}: the glTF is malformed ({e!r} missing or out of range): "
                          "re-export it, and check it with the Khronos glTF validator") from None


def avatar_head(path: str | Path) -> Head:
    """The Head of an avatar file (what `--head X.glb` and `--avatar X` load)."""
    return load_avatar(path).to_head()


def head_from_args(args) -> Head | str | None:
    """What the Engine gets from --head or --avatar (one of them): an avatar is read here and
    its report printed."""
    if getattr(args, "avatar", None) is None:
        return args.head
    if args.head:
        raise ValueError("give --head or --avatar, not both (an avatar is the head)")
    avatar = load_avatar(args.avatar)
    print(avatar.report, flush=True)
    return avatar.to_head()


class _Reader:
    """One pass over a glTF document: world transforms, meshes, names, joints."""

    def __init__(self, doc: dict, buffers: list[bytes], path: Path):
        self.doc, self.buffers, self.path = doc, buffers, path
        nodes = doc.get("nodes", [])
        self.parent = {c: i for i, n in enumerate(nodes) for c in n.get("children", [])}
        self.world = [None] * len(nodes)
        scenes = doc.get("scenes") or [{"nodes": [i for i in range(len(nodes)) if i not in self.parent]}]
        roots = scenes[doc.get("scene", 0)]["nodes"]
        self.turn = np.eye(4)
        if "VRM" in doc.get("extensions", {}):  # VRM 0.x faces -z: turn it to glTF's +z
            self.turn = np.diag([-1.0, 1.0, -1.0, 1.0])
        stack = [(r, self.turn) for r in roots]
        while stack:
            i, above = stack.pop()
            self.world[i] = above @ _local_matrix(nodes[i])
            stack += [(c, self.world[i]) for c in nodes[i].get("children", [])]

    def avatar(self) -> Avatar:
        doc, path = self.doc, self.path
        mesh_nodes = [i for i, n in enumerate(doc.get("nodes", []))
                      if "mesh" in n and self.world[i] is not None]
        if not mesh_nodes:
            raise AvatarError(f"{path} has no mesh in its scene: an avatar needs a head mesh "
                              "with ARKit-named morph targets")
        joint_of = self._engine_joints()
        take = self._take_extras(mesh_nodes)
        verts, faces, slots, face_mat, shared = [], [], [], [], {}
        shapes: dict[str, list[tuple[int, np.ndarray]]] = {}  # ARKit -> (vertex offset, deltas)
        present: dict[str, str] = {}
        all_names, n_verts = set(), 0
        for ni in mesh_nodes:
            mesh = doc["meshes"][doc["nodes"][ni]["mesh"]]
            for prim in mesh["primitives"]:
                if prim.get("mode", 4) != 4:
                    continue  # points, lines, strips: not a surface we skin
                names = (prim.get("extras", {}).get("targetNames")
                         or mesh.get("extras", {}).get("targetNames") or [])
                key = (ni, prim["attributes"]["POSITION"])
                if key not in shared:
                    v, lin, slot = self._placed(ni, prim, joint_of)
                    shared[key] = (n_verts, len(v))
                    verts.append(v)
                    slots.append(slot)
                    for t, target in enumerate(prim.get("targets", [])):
                        name = names[t] if t < len(names) else None
                        all_names.add(name)
                        arkit = _ARKIT_BY_LOWER.get((name or "").lower())
                        if arkit is None or "POSITION" not in target:
                            continue
                        if present.setdefault(arkit, name) != name:
                            continue  # a second name for the same shape: the first one wins
                        d = read_accessor(doc, self.buffers, target["POSITION"])
                        shapes.setdefault(arkit, []).append((n_verts, np.einsum("vij,vj->vi", lin, d)))
                    n_verts += len(v)
                off, count = shared[key]
                idx = (read_accessor(doc, self.buffers, prim["indices"]).astype(np.int64)
                       if "indices" in prim else np.arange(count))
                if len(idx) % 3 or (len(idx) and (idx.min() < 0 or idx.max() >= count)):
                    raise AvatarError(f"{path}: a primitive of mesh {mesh.get('name', '?')!r} "
                                      "has indices that are not whole triangles of its vertices")
                faces.append(idx.reshape(-1, 3) + off)
                face_mat.append(np.full(len(idx) // 3, self._material(prim)))
        if not all_names:
            raise AvatarError(f"{path} has no morph targets: facestream drives an avatar through "
                              "blendshapes named as ARKit's 52 (Perfect Sync: jawOpen, "
                              "eyeBlinkLeft, ...); add them as shape keys and export morph targets")
        if not present:
            found = sorted(str(n) for n in all_names)
            unnamed = " (its morph targets have no names: export mesh.extras.targetNames)" \
                if found == ["None"] else f": it has {', '.join(found[:12])}" + \
                (f" and {len(found) - 12} more" if len(found) > 12 else "")
            raise AvatarError(f"{path} has none of the 52 ARKit blendshape names{unnamed}. "
                              "Name the shapes as ARKit does (jawOpen, eyeBlinkLeft, mouthSmileLeft, "
                              "...; case does not matter), e.g. with a Perfect Sync set-up")
        v = np.concatenate(verts).astype(np.float32)
        targets = np.zeros((vocab.NUM_ARKIT, len(v), 3), np.float32)
        for name, parts in shapes.items():
            for off, d in parts:
                targets[vocab.ARKIT_INDEX[name], off:off + len(d)] += d
        missing = tuple(n for n in vocab.ARKIT_NAMES if n not in present)
        report = AvatarReport(str(path), {n: present[n] for n in vocab.ARKIT_NAMES if n in present},
                              missing, len(all_names - set(present.values())), "")
        slot = np.concatenate(slots)
        joints, skin = self._skeleton(v, targets, slot, joint_of, take, report)
        faces = np.concatenate(faces).astype(np.int32)
        mat = _vertex_materials(faces, np.concatenate(face_mat), len(v)) if take else None
        v, faces, targets, skin, mat = _crop_to_head(v, faces, targets, skin, mat, report)
        return Avatar(self.path.stem, v, faces, targets, joints.astype(np.float32), skin, mat, report)

    # ---- placement -------------------------------------------------------------------
    def _placed(self, node: int, prim: dict, joint_of: dict[int, int]):
        """A primitive's rest vertices in the scene (V x 3), the 3x3 linear map of each vertex
        (V x 3 x 3, for its morph deltas) and each vertex's engine-joint weights (V x 5)."""
        doc = self.doc
        p = read_accessor(doc, self.buffers, prim["attributes"]["POSITION"])
        n = len(p)
        slot = np.zeros((n, vocab.NUM_JOINTS), np.float32)
        skin_i = doc["nodes"][node].get("skin")
        if skin_i is not None and "JOINTS_0" in prim["attributes"]:
            skin = doc["skins"][skin_i]
            ibm = (read_accessor(doc, self.buffers, skin["inverseBindMatrices"])
                   .reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major in the file
                   if "inverseBindMatrices" in skin else np.tile(np.eye(4), (len(skin["joints"]), 1, 1)))
            mats = np.stack([self.world[j] @ ibm[k]
                             for k, j in enumerate(skin["joints"])])  # Jg x 4 x 4
            js, ws = [], []
            for a in sorted(k for k in prim["attributes"] if k.startswith("JOINTS_")):
                js.append(read_accessor(doc, self.buffers, prim["attributes"][a]).astype(np.int64))
                ws.append(read_accessor(doc, self.buffers, prim["attributes"]["WEIGHTS_" + a[7:]]))
            j, w = np.concatenate(js, 1), np.concatenate(ws, 1)  # V x 4n each
            w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
            m = np.einsum("vk,vkij->vij", w, mats[j])  # V x 4 x 4 blended bind transforms
            engine_joint = np.array([joint_of.get(g, 0) for g in skin["joints"]])[j]  # V x 4n
            for k in range(j.shape[1]):
                np.add.at(slot, (np.arange(n), engine_joint[:, k]), w[:, k])
        else:
            m = np.broadcast_to(self.world[node], (n, 4, 4))
            slot[:, self._slot_of_node(node, joint_of)] = 1.0
        v = np.einsum("vij,vj->vi", m[:, :3, :3], p) + m[:, :3, 3]
        return v, np.ascontiguousarray(m[:, :3, :3]), slot

    def _material(self, prim: dict) -> int:
        """A facestream take's material names are head.MATERIALS; anything else is skin (0)."""
        if "material" not in prim:
            return 0
        name = self.doc["materials"][prim["material"]].get("name", "")
        return MATERIALS.index(name) if name in MATERIALS else 0

    # ---- joints ------------------------------------------------------------------------
    def _engine_joints(self) -> dict[int, int]:
        """glTF node -> index in vocab.POSE_JOINTS, for the nodes that are one of them."""
        ext = self.doc.get("extensions", {})
        found: dict[str, int] = {}
        bones = ext.get("VRMC_vrm", {}).get("humanoid", {}).get("humanBones", {})  # VRM 1.0
        pairs = [(b, v["node"]) for b, v in bones.items()] if isinstance(bones, dict) else []
        pairs += [(b["bone"], b["node"]) for b in ext.get("VRM", {}).get("humanoid", {})
                  .get("humanBones", [])]  # VRM 0.x
        for bone, node in sorted(pairs, key=lambda p: p[0] == "head"):  # neck before head
            if bone in _VRM_BONES:
                found.setdefault(_VRM_BONES[bone], node)
        nodes = self.doc.get("nodes", [])
        for i, nd in enumerate(nodes):  # a facestream take's joints carry the engine's names
            if nd.get("name") in vocab.POSE_JOINTS and "mesh" not in nd:
                found.setdefault(nd["name"], i)
        for joint, rule in _NAME_RULES:
            for i, nd in enumerate(nodes):
                key = re.sub(r"[\s_.\-:|]", "", str(nd.get("name", "")).lower())
                if joint not in found and "mesh" not in nd and rule.search(key):
                    found[joint] = i
        return {node: vocab.POSE_JOINTS.index(j) for j, node in found.items()
                if node < len(nodes) and self.world[node] is not None}

    def _slot_of_node(self, node: int, joint_of: dict[int, int]) -> int:
        """The engine joint at or above `node` (0, global, when none is)."""
        while node is not None:
            if node in joint_of:
                return joint_of[node]
            node = self.parent.get(node)
        return 0

    def _take_extras(self, mesh_nodes: list[int]) -> dict | None:
        for ni in mesh_nodes:
            fs = self.doc["meshes"][self.doc["nodes"][ni]["mesh"]].get("extras", {}).get("facestream")
            if isinstance(fs, dict) and fs.get("format") == TAKE_FORMAT:
                return fs
        return None

    def _skeleton(self, v, targets, slot, joint_of, take, report):
        """Rest positions of the five engine joints and the V x 5 skin weights, with the jaw
        and neck rules of the module docstring applied (and written into the report)."""
        pos = {j: self.world[n][:3, 3] for n, j in joint_of.items()}
        moved = np.linalg.norm(targets, axis=2).max(0) > MOVED_MIN  # V
        face = v[moved] if moved.any() else v
        lo, hi = face.min(0), face.max(0)
        neck, jaw = vocab.POSE_JOINTS.index("neck"), vocab.POSE_JOINTS.index("jaw")
        skin = slot.copy()
        if neck not in pos or not skin[:, neck].any():
            # No neck or head bone, or none that carries a vertex (an unskinned face): the
            # whole mesh turns with the head, about its neck bone or a point below the face.
            if neck not in pos:
                pos[neck] = np.array([(lo[0] + hi[0]) / 2, lo[1] - 0.5 * (hi[1] - lo[1]),
                                      (lo[2] + hi[2]) / 2])
            skin[:, neck] += skin[:, 0]
            skin[:, 0] = 0.0
            report.notes.append("no vertex follows a neck or head bone: the whole mesh turns "
                                "with the head")
        has_jaw_open = "jawOpen" in report.present
        if jaw in pos and (take is not None or not has_jaw_open):
            bone = self.doc["nodes"][next(n for n, j in joint_of.items() if j == jaw)].get("name", "?")
            report.jaw = (f"bone {bone!r} turned by the jaw pose"
                          + (" with the residual jawOpen shape (a facestream take)" if take else
                             " (no jawOpen shape)"))
        else:
            if jaw in pos:
                skin[:, neck] += skin[:, jaw]  # the bone rides with the head, never turned
                skin[:, jaw] = 0.0
                bone = self.doc["nodes"][next(n for n, j in joint_of.items() if j == jaw)].get("name", "?")
                report.jaw = (f"jawOpen shape (bone {bone!r} left at rest: turning it too "
                              "would open the mouth twice)")
            elif has_jaw_open:
                report.jaw = "jawOpen shape (no jaw bone)"
            else:
                report.jaw = "none: no jaw bone and no jawOpen shape, the mouth cannot open"
            pos[jaw] = pos[neck]
        for j in range(vocab.NUM_JOINTS):
            pos.setdefault(j, pos[neck] if j else np.zeros(3))
        joints = np.stack([pos[j] for j in range(vocab.NUM_JOINTS)])
        return joints, (skin / np.maximum(skin.sum(1, keepdims=True), 1e-12)).astype(np.float32)


def _vertex_materials(faces: np.ndarray, face_mat: np.ndarray, n: int) -> np.ndarray:
    """V material ids from per-triangle ones: each vertex takes its triangles' majority (a
    take writes a triangle's material as most of its vertices have it, so this inverts it
    but at a few boundary vertices)."""
    votes = np.zeros((n, len(MATERIALS)), np.int32)
    for c in range(3):
        np.add.at(votes, (faces[:, c], face_mat), 1)
    return votes.argmax(1).astype(np.uint8)


def _local_matrix(node: dict) -> np.ndarray:
    """A node's local 4x4 transform: `matrix` (column-major) or T * R * S."""
    if "matrix" in node:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T
    m = np.eye(4)
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    m[:3, :3] = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                          [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                          [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    m[:3, :3] *= np.asarray(node.get("scale", (1.0, 1.0, 1.0)))[None, :]
    m[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return m


def _crop_to_head(v, faces, targets, skin, mat, report):
    """Keep the head of a full-body avatar (module docstring); a head-sized one is unchanged."""
    moved = np.linalg.norm(targets, axis=2).max(0) > MOVED_MIN
    lo, hi = v[moved].min(0), v[moved].max(0)
    size = np.maximum(hi - lo, HEAD_MIN_SIZE)
    lo, hi = (lo + hi - size) / 2, (lo + hi + size) / 2
    if (v[:, 1].max() - v[:, 1].min()) <= CROP_RATIO * size[1]:
        return v, faces, targets, skin, mat
    keep = np.all((v >= lo - HEAD_MARGIN * size) & (v <= hi + HEAD_MARGIN * size), axis=1)
    tri = keep[faces].all(1)
    if not tri.any():
        return v, faces, targets, skin, mat
    used = np.zeros(len(v), bool)
    used[faces[tri].reshape(-1)] = True
    new = np.cumsum(used) - 1
    report.notes.append(f"cropped to the head: {int(used.sum())} of {len(v)} vertices "
                        f"(the box around what the ARKit shapes move, grown {HEAD_MARGIN:g}x)")
    return (v[used], new[faces[tri]].astype(np.int32), np.ascontiguousarray(targets[:, used]),
            skin[used], None if mat is None else mat[used])
