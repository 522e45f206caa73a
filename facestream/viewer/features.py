"""What the renderer paints on the default head that its mesh lacks: eyebrows, eyelashes, and
a neck that fades into the background instead of ending in the ragged cut of the base mesh.

None of it is geometry, so the head (its vertex count, the shipped model's targets) stays as
it is. Each vertex gets four numbers, computed once from the rest head and then carried by
the vertex wherever the expression shapes move it; the fragment shader (render.py) turns
them into colour per pixel, so edges stay sharp whatever the mesh's density:

- brow_u, brow_v: where the vertex lies relative to its side's eyebrow: u runs 0 (the
  brow's head, above the inner corner of the eye) to 1 (its tail), v is the distance from
  the brow's centre line in half-widths (|v| < 1 is brow). Laid out from the eye joints, in
  units of the half distance between the eyes, so the brows sit on the brow ridge that
  browDown/browInnerUp/browOuterUp move: frowning lowers them, surprise raises them.
- lash: how far the vertex moves when that side blinks, over the most any vertex does
  (eyeBlinkLeft/Right). It is 1 on the upper lid's margin, where the lashes grow, and falls
  off over the lid, so the lash line follows the lid closing.
- fade: 0 on the face, 1 at the neck's cut: the shader mixes the colour into the background.

Heads without the ARKit brow and blink shapes or materials (a FLAME head) get zeros and the
brows far away: they are drawn as they are. Shapes: V vertices.

How the numbers become colour is here too (FEATURE_GLSL, BROW_COLOUR, LASH_COLOUR), so the
moderngl renderer (GLSL 330) and the server's browser page (WebGL2, GLSL ES 300: the server
sends the numbers, the code and the colours with the head) paint the same brows, lashes and
fade. Pure numpy: the server imports it without moderngl.
"""
from __future__ import annotations

import numpy as np

from ..engine.head import MATERIALS, Head

# The brow in units of the eye joint's distance from the midline (a), from the eye's centre:
# from its head (u = 0) to its tail (u = 1) across, its centre line's height, and its
# half-width (tapering to the tail). Placed by eye on the default head, where they put the
# brow on the band that browDownLeft/Right move most.
BROW_INNER_X = -0.60  # head of the brow, above the inner corner of the eye
BROW_OUTER_X = 0.72   # tail, past the outer corner
BROW_PEAK_U = 0.62    # where the arch is highest
BROW_Y = (0.52, 0.70, 0.56)  # centre line at head, peak and tail
BROW_HALF_WIDTH = (0.12, 0.085, 0.035)  # at head, peak and tail
FAR = 1e3  # |brow_v| of vertices that are never brow (behind the face, eyes, mouth)
FEATURE_NAMES = ("brow_u", "brow_v", "lash", "fade")  # the columns of feature_attributes

# The neck fades out above its cut: fully background this far above the cut's highest point,
# fully face this much higher (metres; the cut's flaps reach ~20 mm up from its lowest row).
NECK_FADE_END = 0.006
NECK_FADE_LENGTH = 0.014

BROW_COLOUR = (0.16, 0.10, 0.07)  # dark brown hair (albedo, linear-ish RGB like the materials)
LASH_COLOUR = (0.05, 0.04, 0.04)

# The painting, valid GLSL 330 and GLSL ES 300 alike (callers put their own #version and
# precision first). paint_features(feature, albedo, spec) -> the albedo with brows and lashes
# painted on (rgb) and the specular strength (a); neck_fade(feature) -> how much of the
# background to mix over the lit colour. Uniforms brow_colour, lash_colour: the colours above.
FEATURE_GLSL = """
uniform vec3 brow_colour;
uniform vec3 lash_colour;
float brow(float u, float v) {
    float k = u * 30.0 - v * 1.6;  // along the hairs' slant
    float edge = clamp(fwidth(v), 0.02, 0.3);  // derivatives before the branch below
    float fine = clamp(1.0 - 2.0 * fwidth(k), 0.0, 1.0);
    if (abs(v) > 1.5 || u < -0.1 || u > 1.1) return 0.0;  // most of the face: no brow
    float along = smoothstep(-0.05, 0.10, u) * (1.0 - smoothstep(0.86, 1.0, u));
    float across = 1.0 - smoothstep(0.7, 1.0 + edge, abs(v));
    // hairs: strands slanting up and out from the brow's head, each a little lighter or
    // darker than the next (only where a pixel is finer than a strand), sparser at the top
    float shade = fract(sin(floor(k) * 12.9898) * 43758.5453);
    float strand = (0.72 + 0.28 * shade) * (0.8 + 0.2 * sin(3.1416 * fract(k)));
    float top = 1.0 - 0.25 * clamp(v, 0.0, 1.0);
    return clamp(along * across * mix(0.88, strand, fine) * top, 0.0, 1.0);
}
vec4 paint_features(vec4 feature, vec3 albedo, float spec) {
    float b = brow(feature.x, feature.y);
    float lw = max(fwidth(feature.z), 0.01);
    float l = smoothstep(0.80 - lw, 0.92 + lw, feature.z);
    return vec4(mix(mix(albedo, brow_colour, b), lash_colour, l), mix(spec, 0.15, max(b, l)));
}
float neck_fade(vec4 feature) {
    return smoothstep(0.0, 1.0, feature.w);
}
"""


def _piecewise(u: np.ndarray, values: tuple[float, float, float]) -> np.ndarray:
    """Smooth (cosine) interpolation head -> peak -> tail over u in [0, 1]."""
    u = np.clip(u, 0.0, 1.0)
    a = np.clip(u / BROW_PEAK_U, 0, 1)
    b = np.clip((u - BROW_PEAK_U) / (1 - BROW_PEAK_U), 0, 1)
    s = lambda t: 0.5 - 0.5 * np.cos(np.pi * t)  # noqa: E731
    return np.where(u < BROW_PEAK_U, values[0] + (values[1] - values[0]) * s(a),
                    values[1] + (values[2] - values[1]) * s(b))


def _brow(head: Head, skin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> brow_u, brow_v (V each) for both brows, mirrored across x = 0."""
    t = head.template
    eye = head.joints[3]  # eye_left (vocab.POSE_JOINTS); the right one mirrors it
    a = float(abs(eye[0]))
    x = (np.abs(t[:, 0]) - abs(eye[0])) / a  # across, from the eye's centre
    y = (t[:, 1] - eye[1]) / a
    u = (x - BROW_INNER_X) / (BROW_OUTER_X - BROW_INNER_X)
    v = (y - _piecewise(u, BROW_Y)) / _piecewise(u, BROW_HALF_WIDTH)
    front = skin & (t[:, 2] > eye[2])  # the face, not the back of the head at the same x, y
    # off the face, pushed far out on the side it already lies: a triangle from there to the
    # face then never interpolates through the brow's centre line (v = 0)
    far = np.where(v < 0, -FAR, FAR)
    return u.astype(np.float32), np.where(front, v, far).astype(np.float32)


def _lash(head: Head, skin: np.ndarray) -> np.ndarray:
    """-> lash (V): blink displacement over its maximum, per side, upper lids only."""
    lash = np.zeros(head.num_vertices, np.float32)
    eye_y = head.joints[3, 1]
    for name, side in (("eyeBlinkLeft", 1.0), ("eyeBlinkRight", -1.0)):
        d = np.linalg.norm(head.expr_dirs[head.expr_names.index(name)], axis=1)
        on = skin & (np.sign(head.template[:, 0]) == side) & (head.template[:, 1] > eye_y)
        if on.any() and d[on].max() > 0:
            lash = np.where(on, np.maximum(lash, d / d[on].max()), lash)
    return lash


def _neck_fade(head: Head, skin: np.ndarray) -> np.ndarray:
    """-> fade (V): 1 at and just above the neck's cut (the mesh's open edge, below the
    chin), 0 from NECK_FADE_LENGTH higher up."""
    f = head.faces
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    rim = np.unique(uniq[count == 1])  # edges of one triangle only: the mesh's open border
    y = head.template[:, 1]
    low = y.min() + 0.25 * (y.max() - y.min())
    rim = rim[skin[rim] & (y[rim] < low)]
    if len(rim) == 0:
        return np.zeros(head.num_vertices, np.float32)
    end = y[rim].max() + NECK_FADE_END
    return np.clip((end + NECK_FADE_LENGTH - y) / NECK_FADE_LENGTH, 0, 1).astype(np.float32)


def feature_attributes(head: Head) -> np.ndarray:
    """The per-vertex numbers the renderer's shader paints from: V x 4 float32 (brow_u,
    brow_v, lash, fade); see the module docstring. Zeros and FAR where the head lacks what
    they are computed from."""
    out = np.zeros((head.num_vertices, 4), np.float32)
    out[:, 1] = FAR
    names = set(head.expr_names)
    needed = {"eyeBlinkLeft", "eyeBlinkRight"}
    if head.vertex_material is None or not needed <= names:
        return out
    skin = head.vertex_material == MATERIALS.index("skin")
    out[:, 0], out[:, 1] = _brow(head, skin)
    out[:, 2] = _lash(head, skin)
    out[:, 3] = _neck_fade(head, skin)
    return out
