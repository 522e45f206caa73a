"""Geometric measures of the mouth on a head's vertices: lip gap, mouth width, lip-to-teeth.

Each measure picks its vertices once from the head at rest (`mouth_landmarks`, cached per
head) and then reads them off any batch of frames, so the articulation rig's tests, the
corpus checks and evaluation (lip-sync error, closure rate) all measure the same thing.

How the vertices are chosen, from geometry and skinning only (no hand-picked indices):
- the lips are `head.regions["lips"]`; a lip vertex belongs to the lower lip when the jaw
  joint carries at least half its skin weight (the jaw drags it), otherwise to the upper lip;
- the midline strip is the lip vertices within `MIDLINE_HALF_WIDTH` of x = 0 at rest;
- the mouth corners are the `CORNER_VERTICES` lip vertices furthest out in +x and in -x;
- the upper incisors are the teeth vertices (material "teeth") not skinned to the jaw, within
  `INCISOR_HALF_WIDTH` of the midline.

Shapes: B frames, V vertices. Every measure takes verts B x V x 3 (or V x 3) in metres and
returns B (or a scalar array) in metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .head import MATERIALS, Head

MIDLINE_HALF_WIDTH = 0.004  # m: the strip either side of x = 0 where the lip gap is read
CORNER_VERTICES = 3  # lip vertices averaged into each mouth corner
INCISOR_HALF_WIDTH = 0.008  # m: upper central incisors, either side of the midline
_JAW = 2  # index of the jaw in vocab.POSE_JOINTS


@dataclass(frozen=True)
class MouthLandmarks:
    """Vertex index sets of one head (see the module docstring for how they are chosen)."""

    upper_lip: np.ndarray  # midline-strip vertices of the upper lip
    lower_lip: np.ndarray  # midline-strip vertices of the lower lip
    corner_left: np.ndarray  # CORNER_VERTICES vertices at the subject's left corner (+x)
    corner_right: np.ndarray  # ... at the right corner (-x)
    upper_incisors: np.ndarray | None  # None when the head has no teeth material


_CACHE: dict[int, tuple[Head, MouthLandmarks]] = {}


def mouth_landmarks(head: Head) -> MouthLandmarks:
    """The lip and teeth vertex sets of `head`, chosen at rest (cached per head object)."""
    hit = _CACHE.get(id(head))
    if hit is not None and hit[0] is head:
        return hit[1]
    lips = head.regions.get("lips")
    if lips is None or len(lips) == 0:
        raise ValueError(f"head {head.name!r} has no 'lips' region, so mouth measures are "
                         "undefined: use the default head (load_head()) or a head file whose "
                         "regions include 'lips'")
    lips = np.asarray(lips, dtype=np.int64)
    rest = head.template
    lower = head.skin_weights[lips, _JAW] >= 0.5
    mid = np.abs(rest[lips, 0]) <= MIDLINE_HALF_WIDTH
    upper_lip, lower_lip = lips[mid & ~lower], lips[mid & lower]
    if len(upper_lip) == 0 or len(lower_lip) == 0:
        raise ValueError(f"head {head.name!r}: its lips region has no upper and lower lip "
                         "vertices at the midline (jaw skin weights split them): check the "
                         "region and the jaw skinning")
    order = np.argsort(rest[lips, 0])
    n = min(CORNER_VERTICES, len(lips))
    incisors = None
    if head.vertex_material is not None:
        teeth = np.flatnonzero(head.vertex_material == MATERIALS.index("teeth"))
        teeth = teeth[(head.skin_weights[teeth, _JAW] < 0.5)
                      & (np.abs(rest[teeth, 0]) <= INCISOR_HALF_WIDTH)]
        incisors = teeth if len(teeth) else None
    marks = MouthLandmarks(upper_lip=upper_lip, lower_lip=lower_lip,
                           corner_left=lips[order[-n:]], corner_right=lips[order[:n]],
                           upper_incisors=incisors)
    _CACHE[id(head)] = (head, marks)
    return marks


def _batched(head: Head, verts) -> tuple[np.ndarray, bool]:
    v = np.asarray(verts, dtype=np.float32)
    single = v.ndim == 2
    v = v[None] if single else v
    if v.ndim != 3 or v.shape[1:] != (head.num_vertices, 3):
        raise ValueError(f"expected vertices B x {head.num_vertices} x 3 (or "
                         f"{head.num_vertices} x 3) of head {head.name!r}, got {v.shape}")
    return v, single


def lip_gap(head: Head, verts, signed: bool = False) -> np.ndarray:
    """The vertical opening between the lips at the midline, in metres.

    verts: B x V x 3 (or V x 3) -> B (or scalar). The lowest point of the upper lip's
    midline strip minus the highest point of the lower lip's: about 0.2 mm at rest on the
    default head, 0 when the lips touch. With `signed=True` overlap (lips pressed into each
    other, or the lower lip tucked behind the upper) comes out negative instead of 0.
    """
    v, single = _batched(head, verts)
    m = mouth_landmarks(head)
    gap = v[:, m.upper_lip, 1].min(axis=1) - v[:, m.lower_lip, 1].max(axis=1)  # B
    if not signed:
        gap = np.maximum(gap, 0.0)
    return gap[0] if single else gap


def mouth_width(head: Head, verts) -> np.ndarray:
    """Distance between the mouth corners (3D), in metres. verts: B x V x 3 -> B."""
    v, single = _batched(head, verts)
    m = mouth_landmarks(head)
    width = np.linalg.norm(v[:, m.corner_left].mean(1) - v[:, m.corner_right].mean(1), axis=-1)
    return width[0] if single else width


def lip_to_upper_teeth(head: Head, verts) -> np.ndarray:
    """Closest distance from the lower lip's midline strip to the upper incisors, in metres.

    verts: B x V x 3 -> B. Small (a few mm) when the lower lip rests on the upper teeth, as
    in /f v/. Raises ValueError on a head without teeth."""
    v, single = _batched(head, verts)
    m = mouth_landmarks(head)
    if m.upper_incisors is None:
        raise ValueError(f"head {head.name!r} has no teeth material: lip-to-teeth distance is "
                         "undefined for it")
    d = v[:, m.lower_lip, None, :] - v[:, None, m.upper_incisors, :]  # B x L x I x 3
    dist = np.sqrt((d * d).sum(-1)).reshape(len(v), -1).min(axis=1)
    return dist[0] if single else dist
