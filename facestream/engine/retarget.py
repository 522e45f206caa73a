"""ARKit -> a head's own expression basis (FLAME's 100 components, or any other basis), fitted
from the two meshes alone, and cached.

    fit = retarget(load_head("flame2023.pkl"))     # K_head x 52 map, per-shape residuals
    print(fit.table()); fit.save("map.npz")        # `--arkit-map map.npz` reads it back
    fit = cached_retarget(head)                    # what the Engine does for such a head

The fit: (1) put the default head's face region into correspondence with the head's surface
(`correspond.py`: align the jaw and eye joints both carry, refine scale and pose, deform the
face region onto the surface); (2) move each ARKit shape's displacement field at weight 1
(its blendshape plus the jaw rotation `vocab.jaw_open_to_pose` gives) onto the head's
vertices through that correspondence, then take away what the head's own joints will do
for that weight (the jaw rotation for jawOpen, the eye rotations `eye_pose_from_arkit`
gives for eyeLook*), because the engine drives those joints on every head; (3) solve for
the head's expression coefficients per shape by ridge-regularised least squares over the
matched face vertices, the lips weighted most. Residuals are reported per shape in mm and
relative to the shape's own peak. A cached map is a plain .npz (numpy reads it; scipy is only
needed to fit) keyed by a hash of the head's arrays, so a changed head is never served a
stale map. Shapes: V vertices, K_head head expressions, K = 52 ARKit shapes, M matched
face vertices of the head.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import vocab
from .head import MATERIALS, Head, load_head

RETARGET_VERSION = 1
_EYE_LOOK = tuple(i for i, n in enumerate(vocab.ARKIT_NAMES) if n.startswith("eyeLook"))


class RetargetError(ValueError):
    """A head that cannot be retargeted: the message names the problem and the fix."""


@dataclass(frozen=True)
class RetargetOptions:
    """Distances are in the default head's millimetres (scaled into the head by the fit);
    the report is in the head's own millimetres."""

    lip_weight: float = 10.0  # weight of vertices matched to the default head's lips (others 1)
    ridge: float = 1e-5  # Tikhonov weight, relative to the mean diagonal of the normal matrix
    match_mm: float = 2.0  # a head vertex is on the face when this close to the fitted face
    fit_mm: float = 10.0  # farthest surface match the non-rigid fit accepts
    spacing_mm: float = 0.5  # surface sample spacing for closest-point queries
    stiffness: tuple[float, ...] = (100.0, 30.0, 10.0, 3.0, 1.0)  # Laplacian weight schedule
    warn_relative: float = 0.25  # warn when a shape's worst error exceeds this share of its peak

    def __post_init__(self):
        for name in ("lip_weight", "match_mm", "fit_mm", "spacing_mm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RetargetOptions.{name} must be > 0, got {getattr(self, name)!r}")
        if not self.ridge >= 0 or not self.stiffness or min(self.stiffness) <= 0:
            raise ValueError("RetargetOptions: ridge must be >= 0 and stiffness a non-empty "
                             "tuple of positive weights")

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RetargetFit:
    """A fitted ARKit -> head map and how well it reproduces each ARKit shape on the head."""

    map: np.ndarray  # K_head x 52: head expression weights = map @ arkit weights
    expr_names: tuple[str, ...]  # the head's K_head expression names
    peak_mm: np.ndarray  # 52: largest vertex displacement of each transferred shape
    max_mm: np.ndarray  # 52: largest vertex error of the fit
    rms_mm: np.ndarray  # 52: rms vertex error over the matched face
    lips_max_mm: np.ndarray  # 52: largest error on the lips
    face_vertices: int  # M: head vertices matched to the default face
    lips_vertices: int
    scale: float  # head units per default-head unit
    seconds: float  # time the fit took
    meta: dict = field(default_factory=dict)  # hashes, version, options digest, head name

    @property
    def relative(self) -> np.ndarray:
        """52: max error / peak (0 for shapes that do not move this head's face)."""
        return np.divide(self.max_mm, self.peak_mm, out=np.zeros_like(self.max_mm),
                         where=self.peak_mm > 0.1)

    def worst(self, n: int = 3) -> list[tuple[str, float, float]]:
        """The n shapes with the largest relative error: (name, relative, max_mm)."""
        order = np.argsort(-self.relative)[:n]
        return [(vocab.ARKIT_NAMES[i], float(self.relative[i]), float(self.max_mm[i]))
                for i in order]

    def warning(self, threshold: float = RetargetOptions.warn_relative) -> str | None:
        bad = [(n, r, m) for n, r, m in self.worst(len(vocab.ARKIT_NAMES)) if r > threshold]
        if not bad:
            return None
        names = ", ".join(f"{n} ({r:.0%}, {m:.1f} mm)" for n, r, m in bad[:5])
        return (f"the ARKit retargeting of head {self.meta.get('head', '?')!r} reproduces "
                f"{len(bad)} shape(s) poorly (worst error / shape peak): {names}; run "
                "`facestream retarget` for the full report")

    def table(self) -> str:
        """One line per ARKit shape: peak, max and rms error in mm, relative error, lips."""
        lines = [f"{'shape':<20} {'peak mm':>8} {'max mm':>7} {'rms mm':>7} {'rel':>5} {'lips mm':>8}"]
        for i, name in enumerate(vocab.ARKIT_NAMES):
            lines.append(f"{name:<20} {self.peak_mm[i]:8.2f} {self.max_mm[i]:7.2f} "
                         f"{self.rms_mm[i]:7.2f} {self.relative[i]:5.0%} {self.lips_max_mm[i]:8.2f}")
        return "\n".join(lines)

    # ---- storage: numpy only --------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"format": "facestream-arkit-map", "version": RETARGET_VERSION,
                  "expr_names": list(self.expr_names), "arkit_names": list(vocab.ARKIT_NAMES),
                  "face_vertices": self.face_vertices, "lips_vertices": self.lips_vertices,
                  "scale": self.scale, "seconds": self.seconds, "meta": self.meta}
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, map=self.map.astype(np.float32), peak_mm=self.peak_mm, max_mm=self.max_mm,
                 rms_mm=self.rms_mm, lips_max_mm=self.lips_max_mm,
                 header=np.frombuffer(json.dumps(header).encode(), np.uint8))
        os.replace(tmp, path)  # readers never see half a file
        return path

    @classmethod
    def load(cls, path: str | Path) -> "RetargetFit":
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(bytes(z["header"]).decode())
            if header.get("format") != "facestream-arkit-map":
                raise ValueError(f"{path} is not a facestream ARKit map")
            return cls(map=z["map"], expr_names=tuple(header["expr_names"]),
                       peak_mm=z["peak_mm"], max_mm=z["max_mm"], rms_mm=z["rms_mm"],
                       lips_max_mm=z["lips_max_mm"], face_vertices=header["face_vertices"],
                       lips_vertices=header["lips_vertices"], scale=header["scale"],
                       seconds=header["seconds"], meta=header["meta"])


def head_hash(head: Head) -> str:
    """sha256 of every array the fit reads: the same head content, the same map."""
    h = hashlib.sha256()
    for a in (head.template, head.faces, head.expr_dirs, head.joints, head.skin_weights,
              head.pose_dirs, head.joint_regressor):
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def cache_dir() -> Path:
    """$FACESTREAM_CACHE_DIR, else $XDG_CACHE_HOME/facestream, else ~/.cache/facestream."""
    if os.environ.get("FACESTREAM_CACHE_DIR"):
        return Path(os.environ["FACESTREAM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facestream"


def cached_retarget(head: Head, options: RetargetOptions | None = None,
                    refit: bool = False) -> RetargetFit:
    """The map for `head` from the cache, fitted and stored there on a miss (or `refit`)."""
    options = options or RetargetOptions()
    key = head_hash(head)
    source = load_head()
    want = {"head_sha256": key, "source_sha256": head_hash(source),
            "version": RETARGET_VERSION, "options": options.digest()}
    path = cache_dir() / "retarget" / f"{key[:24]}.npz"
    if path.exists() and not refit:
        try:
            fit = RetargetFit.load(path)
        except (OSError, ValueError, KeyError):
            fit = None  # unreadable: fit again and overwrite
        if fit is not None and all(fit.meta.get(k) == v for k, v in want.items()) \
                and fit.map.shape == (head.num_expressions, vocab.NUM_ARKIT):
            fit.meta["cache"] = str(path)
            return fit
    fit = retarget(head, source, options)
    fit.meta["cache"] = str(fit.save(path))
    return fit


def arkit_motion(head: Head, joints_turn_eyes: bool) -> np.ndarray:
    """52 x V x 3: what each ARKit shape at weight 1 does to `head` (ARKit heads only): its
    blendshape plus the jaw rotation vocab gives jawOpen, plus the eye rotations when the
    head turns its eyes with joints (as `Engine.skin_pose` does for non-ARKit heads)."""
    from .stream import eye_pose_from_arkit, pose_vector
    eye = np.eye(vocab.NUM_ARKIT, dtype=np.float32)
    jaw = vocab.jaw_open_to_pose(eye[:, vocab.ARKIT_INDEX["jawOpen"]])
    eyes = np.stack([eye_pose_from_arkit(e) for e in eye]) if joints_turn_eyes \
        else np.zeros((vocab.NUM_ARKIT, 6), np.float32)
    pose = pose_vector(jaw, np.zeros_like(jaw), eyes)
    expr = eye if head.is_arkit else np.zeros((vocab.NUM_ARKIT, head.num_expressions), np.float32)
    return head.forward(expr, pose) - head.template[None]


def source_face_region(source: Head) -> np.ndarray:
    """Vertex ids of the default head's face: skin and lips that some ARKit shape other than
    eyeLook moves (eyeballs, teeth, tongue, mouth cavity and the back of the head excluded)."""
    moved = np.linalg.norm(np.delete(source.expr_dirs, _EYE_LOOK, axis=0), axis=-1).max(0)
    if source.vertex_material is None:
        raise RetargetError(f"the source head {source.name!r} has no vertex materials")
    skin = np.isin(source.vertex_material, [MATERIALS.index("skin"), MATERIALS.index("lips")])
    return np.flatnonzero(skin & (moved > 1e-4))


def _check_head(head: Head) -> None:
    if head.num_expressions == 0:
        raise RetargetError(f"head {head.name!r} has no expression basis to retarget onto")
    for name in ("template", "expr_dirs", "joints", "skin_weights", "pose_dirs"):
        a = getattr(head, name)
        if a is not None and not np.isfinite(a).all():
            raise RetargetError(f"head {head.name!r}: {name} holds NaN or infinite values; "
                                "repair or re-export the head file")


def retarget(head: Head, source: Head | None = None,
             options: RetargetOptions | None = None) -> RetargetFit:
    """Fit the K_head x 52 map taking ARKit weights to `head`'s expression weights.

    head: a head without the ARKit basis (a FLAME model, or any head with its own basis);
    source: the ARKit head whose shapes are transferred (default: the embedded head).
    Raises RetargetError (no overlap, degenerate basis, NaNs) with the reason.
    """
    from .correspond import CorrespondenceError, Surface, fit_region, similarity, vertex_normals
    t0 = time.perf_counter()
    options = options or RetargetOptions()
    source = source if source is not None else load_head()
    if not source.is_arkit:
        raise RetargetError(f"the source head {source.name!r} has no ARKit basis")
    _check_head(head)
    mm = 1e-3  # heads are in metres
    region = source_face_region(source)
    eyes = [vocab.POSE_JOINTS.index(n) for n in ("eye_left", "eye_right")]
    eye_dist = float(np.linalg.norm(np.subtract(*source.joints[eyes])))
    # Jaw and eyes only: rigs put the global and neck joints in different places.
    w = np.array([0.0 if n in ("global", "neck") else 1.0 for n in vocab.POSE_JOINTS])
    try:
        init = similarity(source.joints, head.joints, w)
        if not init.scale > 0 or not np.isfinite(init.scale):
            raise CorrespondenceError("the jaw and eye joints do not define a pose")
        target = Surface(head.template, head.faces, options.spacing_mm * mm * init.scale)
        fit = fit_region(source.template, source.faces, region, init, target,
                         scale_ref=eye_dist, stiffness=options.stiffness,
                         max_dist=options.fit_mm * mm)
        sim = fit.similarity
        # Each head vertex -> the closest point of the fitted face (the head's frame).
        face_surf = Surface(fit.deformed, fit.faces, options.spacing_mm * mm * sim.scale)
    except CorrespondenceError as e:
        raise RetargetError(f"head {head.name!r}: {e}") from e
    _, face, bary, dist = face_surf.closest(head.template)
    normals = vertex_normals(head.template.astype(np.float64), head.faces)
    facing = (normals * face_surf.normals[face]).sum(1) > 0.5
    # Vertices the eye joints carry are eyeballs: they turn with the eye pose, and an eyeball
    # under the lids would otherwise take the lids' motion (a blink) as its target.
    eyeball = head.skin_weights[:, eyes].sum(1) > 0.5
    on_face = np.flatnonzero((dist < options.match_mm * mm * sim.scale) & facing & ~eyeball)
    if len(on_face) < 10:
        raise RetargetError(f"head {head.name!r}: only {len(on_face)} of its vertices lie on the "
                            "default head's fitted face; is it a head with a face in front (+z)?")
    tri = fit.faces[face[on_face]]  # M x 3 region-local ids
    lips = np.isin(source.vertex_material[region], [MATERIALS.index("lips")])
    is_lip = lips[tri].sum(1) >= 2

    # Shapes at weight 1 on the source, carried over, minus what the head's joints will do.
    motion = arkit_motion(source, joints_turn_eyes=False)[:, region]  # 52 x R x 3
    carried = np.einsum("mc,kmcd->kmd", bary[on_face], motion[:, tri])  # 52 x M x 3
    target_d = sim.apply_vectors(carried) - arkit_motion(head, joints_turn_eyes=True)[:, on_face]

    basis = head.expr_dirs[:, on_face].reshape(head.num_expressions, -1).T.astype(np.float64)
    rows = np.repeat(np.where(is_lip, options.lip_weight, 1.0), 3)  # 3M
    gram = basis.T @ (rows[:, None] * basis)  # K_head x K_head
    scale_sq = np.trace(gram) / len(gram)
    sv = np.linalg.eigvalsh(gram)
    if not np.isfinite(scale_sq) or sv[-1] <= (1e-7 * sim.scale) ** 2 * len(on_face):
        raise RetargetError(f"head {head.name!r}: its expression basis does not move its face "
                            "(all components are zero there); check the head's expression "
                            "blendshapes")
    rhs = basis.T @ (rows[:, None] * target_d.reshape(vocab.NUM_ARKIT, -1).T)  # K_head x 52
    from scipy.linalg import solve
    coef = solve(gram + options.ridge * scale_sq * np.eye(len(gram)), rhs, assume_a="pos")

    err = np.linalg.norm((basis @ coef).T.reshape(target_d.shape) - target_d, axis=-1)  # 52 x M
    size = np.linalg.norm(target_d, axis=-1)
    to_mm = 1.0 / mm
    fit_out = RetargetFit(
        map=coef.astype(np.float32), expr_names=tuple(head.expr_names),
        peak_mm=size.max(1) * to_mm, max_mm=err.max(1) * to_mm,
        rms_mm=np.sqrt(np.square(err).mean(1)) * to_mm,
        lips_max_mm=(err[:, is_lip].max(1) if is_lip.any() else np.zeros(52)) * to_mm,
        face_vertices=int(len(on_face)), lips_vertices=int(is_lip.sum()), scale=float(sim.scale),
        seconds=time.perf_counter() - t0,
        meta={"head": head.name, "head_sha256": head_hash(head),
              "source_sha256": head_hash(source), "version": RETARGET_VERSION,
              "options": options.digest(), "matched": fit.matched})
    return fit_out


# ---- `facestream retarget` ------------------------------------------------------------------

def add_parser(sub) -> None:
    p = sub.add_parser("retarget", help="fit (or show the cached) ARKit -> head expression map "
                                        "of a head without ARKit shapes, e.g. a FLAME .pkl")
    p.add_argument("head", help="the head file (.npz or FLAME .pkl)")
    p.add_argument("-o", "--output", help="also write the map here (.npz; --arkit-map reads it)")
    p.add_argument("--refit", action="store_true", help="fit again even when the cache has it")
    p.add_argument("--json", action="store_true", help="print the per-shape report as JSON")
    p.set_defaults(func=_cmd_retarget)


def _cmd_retarget(args) -> int:
    head = load_head(args.head)
    if head.is_arkit:
        raise ValueError(f"{args.head} already has the 52 ARKit shapes: it needs no map")
    fit = cached_retarget(head, refit=args.refit)
    if args.output:
        fit.save(args.output)
    if args.json:
        print(json.dumps({"shapes": {n: {"peak_mm": float(fit.peak_mm[i]),
                                         "max_mm": float(fit.max_mm[i]),
                                         "rms_mm": float(fit.rms_mm[i]),
                                         "lips_max_mm": float(fit.lips_max_mm[i]),
                                         "relative": float(fit.relative[i])}
                                     for i, n in enumerate(vocab.ARKIT_NAMES)},
                          "face_vertices": fit.face_vertices, "lips_vertices": fit.lips_vertices,
                          "scale": fit.scale, "fit_seconds": fit.seconds, **fit.meta}, indent=2))
    else:
        print(fit.table())
        print(f"\nhead {head.name!r}: {fit.face_vertices} face vertices ({fit.lips_vertices} lips) "
              f"matched to the default head's face, scale {fit.scale:.3f}; fitted in "
              f"{fit.seconds:.1f} s; map {fit.map.shape[0]} x {fit.map.shape[1]} cached at "
              f"{fit.meta['cache']}" + (f", written to {args.output}" if args.output else ""))
    if fit.warning():
        print(f"warning: {fit.warning()}", file=sys.stderr)
    return 0
