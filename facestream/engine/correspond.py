"""Dense correspondence between two heads of different topology: the geometry half of
retargeting (`retarget.py` holds the other half).

Three pure steps, each on arrays: `similarity` aligns point sets (scale, rotation,
translation; the joints both heads carry), `Surface` answers closest-point queries on a
triangle mesh, and `fit_region` deforms one head's region onto another head's surface
(similarity ICP, then non-rigid ICP with a Laplacian smoothness term). scipy does the
numerics: `cKDTree` for the queries, `Rotation.align_vectors` for the rotations, a sparse
solve for the deformation. Shapes: V vertices, F triangles, N query points, R region vertices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class CorrespondenceError(ValueError):
    """Two heads that cannot be put into correspondence: the message says why and what to fix."""


@dataclass(frozen=True)
class Similarity:
    """x -> scale * rotation @ x + translation."""

    scale: float
    rotation: np.ndarray  # 3 x 3
    translation: np.ndarray  # 3

    def apply(self, x: np.ndarray) -> np.ndarray:
        """... x 3 points -> ... x 3."""
        return self.scale * x @ self.rotation.T + self.translation

    def apply_vectors(self, d: np.ndarray) -> np.ndarray:
        """... x 3 displacements (no translation) -> ... x 3."""
        return self.scale * d @ self.rotation.T

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """... x 3 points in the target frame -> the source frame."""
        return (y - self.translation) @ self.rotation / self.scale


def similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> Similarity:
    """The least-squares similarity taking src (N x 3) onto dst (N x 3), weights N (Umeyama's
    problem; the rotation from scipy's Kabsch solver). N >= 3 points, not all on a line."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    from scipy.spatial.transform import Rotation
    rot = Rotation.align_vectors(b, a, weights=w)[0].as_matrix()
    var = w @ np.square(a).sum(1)
    if var <= 0:
        raise CorrespondenceError("cannot align: the source points all coincide")
    scale = float(w @ np.einsum("ni,ni->n", b, a @ rot.T) / var)
    return Similarity(scale, rot, mu_d - scale * rot @ mu_s)


def face_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """F x 3 unit normals (zero for degenerate triangles)."""
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """V x 3 area-weighted unit normals."""
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    out = np.zeros_like(verts, dtype=np.float64)
    for c in range(3):
        np.add.at(out, faces[:, c], n)
    length = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, length, out=np.zeros_like(out), where=length > 0)


class Surface:
    """A triangle mesh as dense surface samples: `closest` finds, for each query point, the
    nearest sample, then the exact closest point on that sample's triangle plane when it
    falls inside the triangle (else the sample itself, at most spacing/2 off)."""

    def __init__(self, verts: np.ndarray, faces: np.ndarray, spacing: float):
        """verts V x 3, faces F x 3, spacing: the wanted distance between samples (units of verts)."""
        from scipy.spatial import cKDTree
        self.verts = np.asarray(verts, np.float64)
        self.faces = np.asarray(faces, np.int64)
        if len(self.faces) == 0:
            raise CorrespondenceError("the surface has no triangles")
        tri = self.verts[self.faces]  # F x 3 x 3
        edge = np.median(np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2))
        n = int(np.clip(np.ceil(edge / spacing), 1, 10))
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = (i + j) <= n
        bary = np.stack([n - i[keep] - j[keep], i[keep], j[keep]], 1) / n  # S x 3
        self._face = np.repeat(np.arange(len(self.faces)), len(bary))  # F*S
        self._bary = np.tile(bary, (len(self.faces), 1))  # F*S x 3
        points = np.einsum("fsc,fcd->fsd", np.broadcast_to(bary, (len(tri),) + bary.shape), tri)
        self.normals = face_normals(self.verts, self.faces)
        self.tree = cKDTree(points.reshape(-1, 3))

    def closest(self, q: np.ndarray):
        """q N x 3 -> (points N x 3, face ids N, barycentric N x 3, distances N)."""
        q = np.asarray(q, np.float64)
        _, k = self.tree.query(q)
        face, bary = self._face[k], self._bary[k].copy()
        tri = self.verts[self.faces[face]]  # N x 3 x 3
        exact = _barycentric(q, tri)
        inside = (exact >= 0).all(1)
        bary[inside] = exact[inside]
        points = np.einsum("nc,ncd->nd", bary, tri)
        return points, face, bary, np.linalg.norm(points - q, axis=1)


def _barycentric(q: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (N x 3) of q's projection onto each triangle's plane."""
    e0, e1, d = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], q - tri[:, 0]
    d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
    d20, d21 = (d * e0).sum(1), (d * e1).sum(1)
    den = d00 * d11 - d01 * d01
    den = np.where(np.abs(den) > 1e-30, den, np.inf)  # degenerate triangles: never "inside"
    v, w = (d11 * d20 - d01 * d21) / den, (d00 * d21 - d01 * d20) / den
    out = np.stack([1 - v - w, v, w], 1)
    out[~np.isfinite(den)] = -1
    return out


def submesh(faces: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The triangles with all three vertices in `region` (R vertex ids), renumbered 0..R-1."""
    index = np.full(int(max(faces.max(), region.max())) + 1, -1)
    index[region] = np.arange(len(region))
    f = index[faces]
    return f[(f >= 0).all(1)]


def laplacian(faces: np.ndarray, n: int):
    """n x n sparse uniform graph Laplacian (row i: vertex i minus the mean of its neighbours)."""
    import scipy.sparse as sp
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, 1), axis=0)
    adj = sp.coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                        shape=(n, n)).tocsr()
    deg = np.asarray(adj.sum(1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    return sp.identity(n, format="csr") - sp.diags(inv) @ adj


@dataclass
class RegionFit:
    """What `fit_region` found: the region's vertices placed on the target surface."""

    similarity: Similarity  # source frame -> target frame
    deformed: np.ndarray  # R x 3, target frame
    faces: np.ndarray  # the region's triangles, indexing `deformed`
    matched: float  # fraction of region vertices within `max_dist` of the target at the end
    distance: np.ndarray  # R: each vertex's distance to the target surface at the end


def fit_region(src_verts: np.ndarray, src_faces: np.ndarray, region: np.ndarray,
               init: Similarity, target: Surface, *, scale_ref: float,
               stiffness: tuple[float, ...] = (100.0, 30.0, 10.0, 3.0, 1.0),
               rigid_iters: int = 15, inner_iters: int = 3, max_dist: float = 0.01,
               min_matched: float = 0.5) -> RegionFit:
    """Deform the source region onto the target surface.

    src_verts V x 3 and src_faces F x 3 (source frame); region R vertex ids; init: source
    frame -> target frame from the joints; target: the other head's surface. Distances
    (max_dist: the farthest a match may be) are in source units and scaled into the target by
    the similarity; scale_ref is the source's size unit (the eye distance) for the error text.
    Raises CorrespondenceError when under min_matched of the region finds the surface.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu
    x0 = np.asarray(src_verts, np.float64)[region]
    faces = submesh(np.asarray(src_faces), np.asarray(region))
    sim = init

    def match(y, d_max):
        points, face, _, dist = target.closest(y)
        ny = vertex_normals(y, faces)  # facing the same way: no lid-to-eyeball matches
        ok = (dist < d_max) & ((ny * target.normals[face]).sum(1) > 0.3)
        return points, ok, dist

    # Similarity ICP: the joints only fix the pose roughly (rigs place joints differently).
    for it in range(rigid_iters):
        y = sim.apply(x0)
        d_max = sim.scale * max_dist * (4.0 if it < rigid_iters // 2 else 1.5)
        points, ok, _ = match(y, d_max)
        if ok.sum() < max(3, min_matched * len(x0) * 0.5):
            break
        sim = similarity(x0[ok], points[ok])
    y = sim.apply(x0)
    lap = laplacian(faces, len(x0))
    ltl = (lap.T @ lap).tocsc()
    disp = np.zeros_like(x0)
    for alpha in stiffness:
        for _ in range(inner_iters):
            points, ok, _ = match(y + disp, sim.scale * max_dist)
            w = ok.astype(np.float64)
            if w.sum() < 3:
                break
            lhs = (sp.diags(w + 1e-8) + alpha * ltl).tocsc()
            disp = splu(lhs).solve(w[:, None] * (points - y))
    deformed = y + disp
    _, _, _, dist = target.closest(deformed)
    matched = float((dist < sim.scale * max_dist).mean())
    if matched < min_matched:
        raise CorrespondenceError(
            f"the head's surface does not cover the default head's face region: after aligning "
            f"their joints (jaw, eyes) only {matched:.0%} of the face found the surface within "
            f"{max_dist / scale_ref:.2f} eye distances. Check that the head has FLAME's joint "
            "layout (global, neck, jaw, left eye, right eye), y up and a face in front (+z)")
    return RegionFit(sim, deformed, faces, matched, dist)
