"""Takes out as glTF 2.0: the head, its 52 ARKit shapes as morph targets, a skin, one animation.

    facestream animate speech.wav -o take.glb [--audio]     # or take.gltf (+ take.bin)

What a take holds (written with numpy against the glTF 2.0 spec, no glTF library):
- the head's mesh, one primitive per material (skin, lips, teeth, ...: viewer/render.py's
  colours as PBR base colours), all sharing one set of vertex attributes;
- 52 morph targets in ARKit order, named in `mesh.extras.targetNames` (Blender's importer and
  three.js's GLTFLoader read the names there). Position and normal deltas are sparse accessors:
  each ARKit shape moves a few hundred of the head's vertices. A head without the ARKit basis
  (FLAME) gets the 52 shapes its ARKit->head map makes of its own basis;
- a skin with the engine's five joints (vocab.POSE_JOINTS: global, neck, jaw, eye_left,
  eye_right) and the head's skin weights. The jaw and neck are a skin, not baked into morph
  weights, because that is what the engine computes: the default head's jawOpen shape holds
  only what the jaw's rotation does not explain (vocab.JAW_OPEN_MAX_RAD), so the two together
  are the jaw; a bone also survives retargeting in a DCC tool, a baked shape would not. The
  eyes turn by their eyeLook shapes on an ARKit head (as Engine.skin_pose does), so the eye
  joints are keyed only on a head without them;
- one animation "speech": morph weights and the neck/jaw (eye) rotations at each output frame,
  at the frame's audio time, linear interpolation.

glTF has no audio: `--audio` writes the speech beside the take with the same base name.
`mesh.extras.facestream` records the head, frame rate and the jaw convention, so
engine/avatar.py reads a take back as an avatar with its jaw driven as written.

The container helpers (GLB packing and parsing, accessor decoding) live here too and serve
the avatar reader, so the format is read and written in one place.
"""
from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__, vocab

GLB_MAGIC = 0x46546C67  # b"glTF"
CHUNK_JSON = 0x4E4F534A  # b"JSON"
CHUNK_BIN = 0x004E4942  # b"BIN\0"

# componentType -> numpy dtype (glTF 2.0, 3.6.2.2) and the width of each accessor type.
COMPONENT_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16,
                    5125: np.uint32, 5126: np.float32}
TYPE_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES = 4

TAKE_FORMAT = "facestream-take"
TAKE_VERSION = 1
# Morph normal deltas smaller than this (unit vectors) are left out of the sparse accessors:
# they change no pixel and would make every shape touch most of the head.
NORMAL_DELTA_MIN = 1e-3


class GltfError(ValueError):
    """A glTF file that cannot be read or written: the message says what is wrong."""


@dataclass(frozen=True)
class Take:
    """A take's animation. times: T seconds of audio (strictly increasing); weights: T x K
    morph weights (ARKit order); pose: T x 15 axis-angle in vocab.POSE_JOINTS layout (local
    rotations, rest = 0); fps: the output frame rate."""

    times: np.ndarray
    weights: np.ndarray
    pose: np.ndarray
    fps: int

    def __post_init__(self) -> None:
        t = np.asarray(self.times)
        if t.ndim != 1 or len(t) == 0:
            raise ValueError("a take needs at least one frame")
        if t[0] < 0 or (len(t) > 1 and np.diff(t).min() <= 0):
            raise ValueError("frame times must be non-negative and strictly increasing")
        if self.weights.shape[0] != len(t) or self.pose.shape != (len(t), vocab.POSE_DIM):
            raise ValueError(f"weights must be T x K and pose T x {vocab.POSE_DIM} for T = {len(t)}")


def take_from_frames(engine, frames, fps: int) -> Take:
    """Engine frames -> Take: ARKit weights and the pose that skins the engine's head."""
    if not frames:
        raise ValueError("no frames to write: the audio was too short to animate")
    arkit = np.stack([f.arkit for f in frames]).astype(np.float32)  # T x 52
    pose = engine.skin_pose(np.stack([f.jaw_pose for f in frames]),
                            np.stack([f.neck_pose for f in frames]),
                            np.stack([f.eye_pose for f in frames]))  # T x 15
    return Take(times=np.array([f.timestamp for f in frames], np.float64), weights=arkit,
                pose=pose.astype(np.float32), fps=int(fps))


def arkit_basis(head, expression_map: np.ndarray | None = None) -> np.ndarray:
    """The head's 52 ARKit shapes, 52 x V x 3: its own basis on an ARKit head, else its
    basis through the K_head x 52 ARKit->head map (`Engine.expression_map`)."""
    if head.is_arkit:
        return head.expr_dirs
    if expression_map is None:
        raise GltfError(f"head {head.name!r} has no ARKit shapes and no ARKit->head map: give "
                        "--arkit-map, or let the engine retarget it, to export ARKit morph targets")
    return np.einsum("ki,kvc->ivc", expression_map, head.expr_dirs).astype(np.float32)


def write_take(path: str | Path, engine, frames, fps: int,
               audio: tuple[np.ndarray, int] | None = None) -> dict[str, Path]:
    """Write the engine's head animated by `frames` to `path` (.glb, or .gltf with a .bin
    beside it); audio=(samples, sample_rate) also writes `<stem>.wav`. -> the paths written."""
    path = Path(path)
    doc, blob = build_take(engine.head, arkit_basis(engine.head, engine.expression_map),
                           take_from_frames(engine, frames, fps))
    path.parent.mkdir(parents=True, exist_ok=True)
    written = {"take": path}
    if path.suffix.lower() == ".glb":
        path.write_bytes(pack_glb(doc, blob))
    elif path.suffix.lower() == ".gltf":
        bin_path = path.with_suffix(".bin")
        doc["buffers"][0]["uri"] = bin_path.name
        bin_path.write_bytes(blob)
        path.write_text(json.dumps(doc, indent=1))
        written["bin"] = bin_path
    else:
        raise GltfError(f"unknown glTF file type {path.suffix!r}: use .glb or .gltf")
    if audio is not None:
        import soundfile as sf
        written["audio"] = path.with_suffix(".wav")
        sf.write(written["audio"], np.asarray(audio[0]), int(audio[1]))
    return written


class _Buffer:
    """One binary buffer being filled: each view starts 4-byte aligned (the spec's rule for
    every component type used here)."""

    def __init__(self) -> None:
        self.doc: dict = {"bufferViews": [], "accessors": []}
        self.parts: list[bytes] = []
        self.size = 0

    def view(self, data: bytes, target: int | None = None) -> int:
        pad = -self.size % 4
        self.parts.append(b"\0" * pad)
        self.size += pad
        v = {"buffer": 0, "byteOffset": self.size, "byteLength": len(data)}
        if target is not None:
            v["target"] = target
        self.parts.append(data)
        self.size += len(data)
        self.doc["bufferViews"].append(v)
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, a: np.ndarray, kind: str, target: int | None = None,
                 bounds: bool = False, normalized: bool = False) -> int:
        """a: N x width (or N for SCALAR) of a dtype in COMPONENT_DTYPES."""
        a = np.ascontiguousarray(a)
        acc = {"bufferView": self.view(a.tobytes(), target), "count": int(a.shape[0]),
               "componentType": _component_type(a.dtype), "type": kind}
        if normalized:
            acc["normalized"] = True
        if bounds:
            flat = a.reshape(len(a), -1)
            acc["min"], acc["max"] = flat.min(0).tolist(), flat.max(0).tolist()
        return self._add(acc)

    def sparse_delta(self, delta: np.ndarray, min_norm: float = 0.0) -> int:
        """A V x 3 float32 morph delta as a sparse VEC3 accessor over zeros: only the rows
        longer than `min_norm` are stored (none: an all-zero accessor with no data)."""
        rows = np.flatnonzero(np.linalg.norm(delta, axis=1) > min_norm)
        acc = {"count": int(len(delta)), "componentType": 5126, "type": "VEC3"}
        kept = np.zeros_like(delta)
        if len(rows):
            idx = rows.astype(np.uint16 if len(delta) <= 0xFFFF else np.uint32)
            acc["sparse"] = {
                "count": int(len(rows)),
                "indices": {"bufferView": self.view(idx.tobytes()),
                            "componentType": _component_type(idx.dtype)},
                "values": {"bufferView": self.view(
                    np.ascontiguousarray(delta[rows], np.float32).tobytes())}}
            kept[rows] = delta[rows]
        # min/max of what the accessor holds (the spec's rule for POSITION), zeros included
        acc["min"], acc["max"] = kept.min(0).tolist(), kept.max(0).tolist()
        return self._add(acc)

    def _add(self, acc: dict) -> int:
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def blob(self) -> bytes:
        data = b"".join(self.parts)
        return data + b"\0" * (-len(data) % 4)


def _component_type(dtype) -> int:
    for code, dt in COMPONENT_DTYPES.items():
        if np.dtype(dt) == dtype:
            return code
    raise GltfError(f"glTF has no component type for {dtype}")


def build_take(head, basis: np.ndarray, take: Take) -> tuple[dict, bytes]:
    """head (engine/head.Head), basis 52 x V x 3, take -> (glTF JSON document, binary buffer)."""
    from ..engine.head import MATERIALS
    from ..viewer.render import MATERIAL_COLOURS, vertex_normals

    k = basis.shape[0]
    if take.weights.shape[1] != k:
        raise GltfError(f"the take has {take.weights.shape[1]} weights a frame, the head {k} shapes")
    buf = _Buffer()
    template = head.template.astype(np.float32)
    normals = vertex_normals(template, head.faces)
    attributes = {"POSITION": buf.accessor(template, "VEC3", ARRAY_BUFFER, bounds=True),
                  "NORMAL": buf.accessor(normals, "VEC3", ARRAY_BUFFER)}
    joints, weights = _top4(head.skin_weights)
    attributes["JOINTS_0"] = buf.accessor(joints, "VEC4", ARRAY_BUFFER)
    attributes["WEIGHTS_0"] = buf.accessor(weights, "VEC4", ARRAY_BUFFER)
    targets = [{"POSITION": buf.sparse_delta(basis[i].astype(np.float32)),
                "NORMAL": buf.sparse_delta(vertex_normals(template + basis[i], head.faces) - normals,
                                           NORMAL_DELTA_MIN)}
               for i in range(k)]

    # One primitive per material. A triangle takes the material most of its vertices have.
    vmat = (head.vertex_material if head.vertex_material is not None
            else np.zeros(head.num_vertices, np.uint8))
    m = vmat[head.faces]  # F x 3
    tri_mat = np.where(m[:, 1] == m[:, 2], m[:, 1], m[:, 0])
    index_dtype = np.uint16 if head.num_vertices <= 0xFFFF else np.uint32
    materials, primitives = [], []
    for mid, name in enumerate(MATERIALS):
        tris = head.faces[tri_mat == mid]
        if not len(tris):
            continue
        colour, spec = MATERIAL_COLOURS[name]
        # double-sided, as the renderer draws: the head's winding is not consistent everywhere
        # (one-sided, the irises vanish behind the sclera in three.js)
        materials.append({"name": name, "doubleSided": True, "pbrMetallicRoughness": {
            "baseColorFactor": [*colour, 1.0], "metallicFactor": 0.0,
            "roughnessFactor": round(1.0 - 0.6 * spec, 3)}})
        primitives.append({"attributes": attributes, "mode": TRIANGLES, "targets": targets,
                           "material": len(materials) - 1,
                           "indices": buf.accessor(tris.reshape(-1).astype(index_dtype), "SCALAR",
                                                   ELEMENT_ARRAY_BUFFER)})

    # Nodes: 0 the mesh (at the scene's root, as the spec wants a skinned mesh), then the
    # joints in vocab.POSE_JOINTS order, each translated from its parent at rest.
    nodes: list[dict] = [{"name": head.name, "mesh": 0, "skin": 0}]
    for j, jname in enumerate(vocab.POSE_JOINTS):
        parent = head.parents[j]
        offset = head.joints[j] - (head.joints[parent] if parent >= 0 else 0)
        nodes.append({"name": jname, "translation": [float(x) for x in offset]})
        if parent >= 0:
            nodes[1 + parent].setdefault("children", []).append(1 + j)
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (vocab.NUM_JOINTS, 1, 1))
    inverse_bind[:, :3, 3] = -head.joints
    # glTF matrices are column-major: write each transpose's rows
    ibm = buf.accessor(inverse_bind.transpose(0, 2, 1).reshape(-1, 16), "MAT4")
    skin = {"joints": [1 + j for j in range(vocab.NUM_JOINTS)], "skeleton": 1,
            "inverseBindMatrices": ibm, "name": "facestream"}

    animation = _animation(buf, take, head)
    jaw = "skin+morph" if head.is_arkit else "skin"
    doc = {
        "asset": {"version": "2.0", "generator": f"facestream {__version__}"},
        "scene": 0,
        "scenes": [{"name": "take", "nodes": [0, 1]}],
        "nodes": nodes,
        "meshes": [{"name": head.name, "primitives": primitives, "weights": [0.0] * k,
                    "extras": {"targetNames": list(vocab.ARKIT_NAMES),
                               "facestream": {"format": TAKE_FORMAT, "version": TAKE_VERSION,
                                              "head": head.name, "fps": take.fps, "jaw": jaw,
                                              "jaw_open_max_rad": vocab.JAW_OPEN_MAX_RAD}}}],
        "materials": materials,
        "skins": [skin],
        "animations": [animation],
        **buf.doc,
    }
    blob = buf.blob()
    doc["buffers"] = [{"byteLength": len(blob)}]
    return doc, blob


def _top4(skin_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V x J weights -> (V x 4 uint8 joint indices, V x 4 float32 weights summing to 1): the
    four largest influences of each vertex, as glTF's JOINTS_0/WEIGHTS_0 hold."""
    w = np.asarray(skin_weights, np.float32)
    if w.shape[1] < 4:
        w = np.pad(w, ((0, 0), (0, 4 - w.shape[1])))
    order = np.argsort(-w, axis=1, kind="stable")[:, :4]  # V x 4
    top = np.take_along_axis(w, order, axis=1)
    top = top / np.maximum(top.sum(1, keepdims=True), 1e-12)
    order = np.where(top > 0, order, 0)  # unused slots: joint 0 with weight 0
    return order.astype(np.uint8), top.astype(np.float32)


def _animation(buf: _Buffer, take: Take, head) -> dict:
    """The "speech" animation: a weights channel on the mesh node and a rotation channel on
    each joint the take moves (always neck and jaw; the eyes when a head turns them by bone)."""
    times = buf.accessor(take.times.astype(np.float32), "SCALAR", bounds=True)
    samplers = [{"input": times, "output": buf.accessor(
        take.weights.astype(np.float32).reshape(-1), "SCALAR"), "interpolation": "LINEAR"}]
    channels = [{"sampler": 0, "target": {"node": 0, "path": "weights"}}]
    moved = ["neck", "jaw"] + ([] if head.is_arkit else ["eye_left", "eye_right"])
    for name in moved:
        j = vocab.POSE_JOINTS.index(name)
        quat = axis_angle_to_quat(take.pose[:, vocab.POSE_SLICES[name]])
        samplers.append({"input": times, "output": buf.accessor(quat, "VEC4"),
                         "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1,
                         "target": {"node": 1 + j, "path": "rotation"}})
    return {"name": "speech", "samplers": samplers, "channels": channels}


def axis_angle_to_quat(rotvec: np.ndarray) -> np.ndarray:
    """N x 3 axis-angle (radians) -> N x 4 unit quaternions (x, y, z, w), glTF's order."""
    r = np.asarray(rotvec, np.float64)
    angle = np.linalg.norm(r, axis=1, keepdims=True)  # N x 1
    # sin(a/2)/a -> 1/2 as a -> 0
    s = np.where(angle > 1e-12, np.sin(angle / 2) / np.maximum(angle, 1e-12), 0.5)
    q = np.concatenate([r * s, np.cos(angle / 2)], axis=1)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


# ---- the container: GLB and accessors --------------------------------------------------
def pack_glb(doc: dict, blob: bytes) -> bytes:
    """A GLB: 12-byte header, the JSON chunk (space-padded), the BIN chunk (zero-padded)."""
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(js) + 8 + len(blob)
    return b"".join((struct.pack("<III", GLB_MAGIC, 2, total),
                     struct.pack("<II", len(js), CHUNK_JSON), js,
                     struct.pack("<II", len(blob), CHUNK_BIN), blob))


def read_gltf(path: str | Path) -> tuple[dict, list[bytes]]:
    """A .glb, .gltf or .vrm file -> (JSON document, the bytes of each of its buffers)."""
    path = Path(path)
    if not path.exists():
        raise GltfError(f"file not found: {path}")
    data = path.read_bytes()
    if data[:4] == b"glTF":
        doc, bin_chunk = _unpack_glb(data, path)
    else:
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise GltfError(f"{path} is neither a GLB (no 'glTF' magic) nor glTF JSON ({e}): "
                            "give a .glb, .gltf or .vrm file") from None
        bin_chunk = None
    if not isinstance(doc, dict) or str(doc.get("asset", {}).get("version", "")).split(".")[0] != "2":
        raise GltfError(f"{path} is not glTF 2.0 (asset.version is "
                        f"{doc.get('asset', {}).get('version') if isinstance(doc, dict) else None!r})")
    buffers = []
    for i, b in enumerate(doc.get("buffers", [])):
        uri = b.get("uri")
        if uri is None:
            if bin_chunk is None:
                raise GltfError(f"{path}: buffer {i} has no uri and the file has no BIN chunk")
            raw = bin_chunk
        elif uri.startswith("data:"):
            raw = base64.b64decode(uri.split(",", 1)[1])
        else:
            bp = path.parent / uri
            if not bp.exists():
                raise GltfError(f"{path}: buffer {i}'s file {uri!r} is missing: keep it beside "
                                "the .gltf, or use the .glb")
            raw = bp.read_bytes()
        if len(raw) < b.get("byteLength", 0):
            raise GltfError(f"{path}: buffer {i} holds {len(raw)} bytes, its byteLength says "
                            f"{b['byteLength']}: the file is truncated")
        buffers.append(raw)
    return doc, buffers


def _unpack_glb(data: bytes, path: Path) -> tuple[dict, bytes | None]:
    if len(data) < 20:
        raise GltfError(f"{path}: a GLB of {len(data)} bytes is truncated (the header alone is 20)")
    _, version, total = struct.unpack_from("<III", data, 0)
    if version != 2:
        raise GltfError(f"{path}: GLB version {version}, only glTF 2.0 is read")
    if total > len(data):
        raise GltfError(f"{path}: the GLB says {total} bytes, the file has {len(data)}: truncated")
    doc, blob, at = None, None, 12
    while at + 8 <= total:
        length, kind = struct.unpack_from("<II", data, at)
        chunk = data[at + 8:at + 8 + length]
        if len(chunk) < length:
            raise GltfError(f"{path}: a GLB chunk runs past the end of the file: truncated")
        if kind == CHUNK_JSON:
            try:
                doc = json.loads(chunk.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise GltfError(f"{path}: the GLB's JSON chunk is corrupt ({e})") from None
        elif kind == CHUNK_BIN and blob is None:
            blob = chunk
        at += 8 + length
    if doc is None:
        raise GltfError(f"{path}: the GLB has no JSON chunk")
    return doc, blob


def read_accessor(doc: dict, buffers: list[bytes], index: int) -> np.ndarray:
    """Accessor `index` -> N x width float32 (or N for SCALAR), normalized integers scaled to
    [0, 1] / [-1, 1], sparse substitutions applied, byteStride honoured."""
    try:
        acc = doc["accessors"][index]
        dtype = np.dtype(COMPONENT_DTYPES[acc["componentType"]]).newbyteorder("<")
        width, count = TYPE_WIDTHS[acc["type"]], int(acc["count"])
        out = (_view(doc, buffers, acc["bufferView"], acc.get("byteOffset", 0), dtype, width, count)
               if "bufferView" in acc else np.zeros((count, width), dtype))
        out = out.astype(np.float32)
        if acc.get("normalized") and dtype.kind in "iu":
            out = np.maximum(out / np.iinfo(dtype).max, -1.0)
        sparse = acc.get("sparse")
        if sparse:
            n = int(sparse["count"])
            si = sparse["indices"]
            idx = _view(doc, buffers, si["bufferView"], si.get("byteOffset", 0),
                        np.dtype(COMPONENT_DTYPES[si["componentType"]]), 1, n)[:, 0]
            sv = sparse["values"]
            vals = _view(doc, buffers, sv["bufferView"], sv.get("byteOffset", 0), dtype, width, n)
            vals = vals.astype(np.float32)
            if acc.get("normalized") and dtype.kind in "iu":
                vals = np.maximum(vals / np.iinfo(dtype).max, -1.0)
            if n and idx.max() >= count:
                raise GltfError(f"accessor {index}: a sparse index points past its {count} elements")
            out[idx.astype(np.int64)] = vals
    except (KeyError, IndexError, TypeError) as e:
        raise GltfError(f"accessor {index} is malformed or points at missing data ({e!r})") from None
    return out[:, 0] if width == 1 else out


def _view(doc, buffers, view_index: int, offset: int, dtype: np.dtype, width: int,
          count: int) -> np.ndarray:
    """count x width elements of `dtype` from a buffer view, honouring its byteStride."""
    bv = doc["bufferViews"][view_index]
    raw = buffers[bv["buffer"]]
    start = bv.get("byteOffset", 0) + offset
    elem = dtype.itemsize * width
    stride = bv.get("byteStride") or elem
    if count == 0:
        return np.zeros((0, width), dtype)
    need = start + (count - 1) * stride + elem
    if need > min(len(raw), bv.get("byteOffset", 0) + bv["byteLength"]):
        raise GltfError(f"buffer view {view_index} is shorter than its accessor needs: truncated "
                        "or corrupt file")
    return np.ndarray((count, width), dtype=dtype, buffer=raw, offset=start,
                      strides=(stride, dtype.itemsize)).copy()
