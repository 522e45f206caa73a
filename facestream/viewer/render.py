"""Offscreen and on-screen shading of a head mesh with moderngl.

One `Renderer` draws into its own multisampled framebuffer (EGL, no display needed),
resolves it into a single-sample texture, and returns pixels (`render`) or draws that texture
over a window as one full-screen triangle (`present`; the live viewer hands it pyglet's
context). The window gets a draw, never a blit: a blit into it is GL_INVALID_OPERATION, and
copies nothing, when its depth format differs from ours (moderngl blits colour and depth; seen
under Xvfb/llvmpipe), when the window is multisampled, or when a multisampled source and the
window differ in size (HiDPI, resizes). Vertices change every frame (normals are recomputed on
the CPU); faces, materials and the per-vertex numbers the brows, lashes and neck fade are
painted from (features.py) upload once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..engine.head import MATERIALS, Head
from .features import BROW_COLOUR, FEATURE_GLSL, LASH_COLOUR, feature_attributes

# Base colours (linear-ish RGB) and specular strength of each material in MATERIALS order.
MATERIAL_COLOURS = {
    "skin": ((0.80, 0.58, 0.48), 0.25),
    "lips": ((0.70, 0.33, 0.33), 0.45),
    "teeth": ((0.93, 0.91, 0.85), 0.6),
    "tongue": ((0.72, 0.32, 0.34), 0.5),
    "sclera": ((0.95, 0.94, 0.92), 0.8),
    "iris": ((0.25, 0.42, 0.55), 0.9),
    "pupil": ((0.03, 0.03, 0.03), 1.0),
    "mouth": ((0.35, 0.12, 0.12), 0.1),
}

PORTRAIT_CROP = 0.14  # of the head's height, from the bottom (the neck's cut edge)

log = logging.getLogger(__name__)

_VERTEX = """
#version 330
uniform mat4 mvp;
uniform mat4 model;
in vec3 in_pos;
in vec3 in_normal;
in vec4 in_colour;
in vec4 in_feature;
out vec3 v_pos;
out vec3 v_normal;
out vec4 v_colour;
out vec4 v_feature;
void main() {
    v_pos = (model * vec4(in_pos, 1.0)).xyz;
    v_normal = mat3(model) * in_normal;
    v_colour = in_colour;
    v_feature = in_feature;
    gl_Position = mvp * vec4(in_pos, 1.0);
}
"""

# A key light from upper left, a cool fill from the right, a rim from behind; Blinn-Phong,
# a little wrap on the diffuse term so the skin does not look like plastic. Brows, lashes and
# the neck's fade are painted from v_feature by features.FEATURE_GLSL, as on the browser page.
_FRAGMENT = """
#version 330
uniform vec3 eye;
uniform vec3 background;
in vec3 v_pos;
in vec3 v_normal;
in vec4 v_colour;
in vec4 v_feature;
out vec4 f_colour;
""" + FEATURE_GLSL + """
vec3 light(vec3 n, vec3 v, vec3 dir, vec3 col, vec3 albedo, float spec) {
    vec3 l = normalize(dir);
    float wrap = 0.25;
    float d = max((dot(n, l) + wrap) / (1.0 + wrap), 0.0);
    vec3 h = normalize(l + v);
    float s = pow(max(dot(n, h), 0.0), 40.0) * spec;
    return col * (d * albedo + vec3(s) * 0.35);
}
void main() {
    vec3 n = normalize(v_normal);
    vec3 v = normalize(eye - v_pos);
    if (dot(n, v) < 0.0) n = -n;
    vec4 painted = paint_features(v_feature, v_colour.rgb, v_colour.a);
    vec3 albedo = painted.rgb;
    float spec = painted.a;
    vec3 c = 0.10 * albedo;
    c += light(n, v, vec3(-0.6, 0.7, 0.9), vec3(1.00, 0.96, 0.90), albedo, spec);
    c += light(n, v, vec3(0.8, 0.1, 0.6), vec3(0.30, 0.34, 0.42), albedo, spec);
    float rim = pow(1.0 - max(dot(n, v), 0.0), 3.0);
    c += rim * vec3(0.25, 0.27, 0.32);
    vec3 shown = pow(c, vec3(1.0 / 1.8));
    f_colour = vec4(mix(shown, background, neck_fade(v_feature)), 1.0);
}
"""

# The resolved image over the whole viewport: one triangle that covers it, uv from position.
_BLIT_VERTEX = """
#version 330
out vec2 v_uv;
void main() {
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    v_uv = 0.5 * p + 0.5;
    gl_Position = vec4(p, 0.0, 1.0);
}
"""

_BLIT_FRAGMENT = """
#version 330
uniform sampler2D image;
in vec2 v_uv;
out vec4 f_colour;
void main() {
    f_colour = vec4(texture(image, v_uv).rgb, 1.0);
}
"""


class GLError(RuntimeError):
    """OpenGL reported an error while the renderer drew: the image is wrong or missing."""


def check_gl(ctx, what: str) -> None:
    """Raise GLError naming the error, the step and the driver when `ctx` has one pending."""
    err = ctx.error
    if err != "GL_NO_ERROR":
        raise GLError(
            f"OpenGL reported {err} after {what} on {ctx.info.get('GL_RENDERER', '?')} "
            f"(GL {ctx.version_code}): the face was not drawn. Try `--samples 0`, update the "
            "graphics driver, or use `facestream render` (offscreen); please report it with "
            "the output of `facestream info`")


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals. verts: V x 3; faces: F x 3  ->  V x 3 float32."""
    tri = verts[faces]  # F x 3 x 3
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # F x 3, length = 2 * area
    n = np.zeros_like(verts, dtype=np.float32)
    for c in range(3):
        n[:, c] = (np.bincount(faces[:, 0], fn[:, c], len(verts))
                   + np.bincount(faces[:, 1], fn[:, c], len(verts))
                   + np.bincount(faces[:, 2], fn[:, c], len(verts)))
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / np.tan(np.radians(fov_y_deg) / 2)
    return np.array([[f / aspect, 0, 0, 0], [0, f, 0, 0],
                     [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
                     [0, 0, -1, 0]], dtype=np.float32)


def _look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    f = target - eye
    f = f / np.linalg.norm(f)
    s = np.cross(f, up)
    s = s / np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4, dtype=np.float32)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


@dataclass
class Camera:
    """An orbit camera around `target`: yaw/pitch in degrees, distance in metres."""

    target: np.ndarray
    distance: float
    yaw: float = 0.0
    pitch: float = 0.0
    fov_y: float = 25.0

    @classmethod
    def framing(cls, verts: np.ndarray, fov_y: float = 25.0, margin: float = 1.15,
                crop_bottom: float = 0.0) -> "Camera":
        """A frontal camera that fits the mesh's bounding box (V x 3) with some margin, less
        `crop_bottom` of its height at the bottom (a portrait: the neck's cut edge leaves the
        frame)."""
        lo, hi = verts.min(0), verts.max(0)
        lo = lo.copy()
        lo[1] += crop_bottom * (hi[1] - lo[1])
        radius = float(np.max(hi - lo)) / 2 * margin
        dist = radius / np.tan(np.radians(fov_y) / 2) + float(hi[2] - lo[2]) / 2
        return cls(target=((lo + hi) / 2).astype(np.float32), distance=dist, fov_y=fov_y)

    def eye(self) -> np.ndarray:
        y, p = np.radians(self.yaw), np.radians(self.pitch)
        d = np.array([np.sin(y) * np.cos(p), np.sin(p), np.cos(y) * np.cos(p)])
        return (self.target + self.distance * d).astype(np.float32)

    def matrices(self, aspect: float) -> tuple[np.ndarray, np.ndarray]:
        """(projection @ view, eye position)."""
        eye = self.eye()
        proj = _perspective(self.fov_y, aspect, self.distance * 0.05, self.distance * 10)
        return proj @ _look_at(eye, self.target), eye


class Renderer:
    """Shades one head at a fixed size.

    render(verts V x 3) -> H x W x 3 uint8. Construct with `ctx=None` for an offscreen EGL
    context (needs libEGL and Mesa; no display). Not thread-safe: use it from one thread.
    """

    def __init__(self, head: Head, width: int = 512, height: int = 512, samples: int = 4,
                 ctx=None, background=(0.93, 0.94, 0.96)):
        try:
            import moderngl
        except ImportError as e:
            raise ImportError("rendering needs moderngl: pip install 'facestream[viewer]'") from e
        if ctx is None:
            try:
                ctx = moderngl.create_standalone_context(backend="egl")
            except Exception as e:
                raise RuntimeError(
                    "could not create an offscreen OpenGL context through EGL: install "
                    "libegl1 libegl-mesa0 libgl1-mesa-dri (apt) or run `make deps`") from e
        self.ctx, self.head = ctx, head
        self.size = (int(width), int(height))
        self.background = background
        self.prog = ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.faces = np.ascontiguousarray(head.faces, dtype=np.int32)
        n = head.num_vertices
        mats = head.vertex_material if head.vertex_material is not None else np.zeros(n, np.uint8)
        table = np.array([(*MATERIAL_COLOURS[m][0], MATERIAL_COLOURS[m][1]) for m in MATERIALS],
                         dtype=np.float32)
        self.vbo_pos = ctx.buffer(reserve=n * 12, dynamic=True)
        self.vbo_nrm = ctx.buffer(reserve=n * 12, dynamic=True)
        self.vbo_col = ctx.buffer(table[mats].tobytes())
        self.vbo_feat = ctx.buffer(feature_attributes(head).tobytes())
        self.ibo = ctx.buffer(self.faces.tobytes())
        self.vao = ctx.vertex_array(self.prog, [(self.vbo_pos, "3f", "in_pos"),
                                                (self.vbo_nrm, "3f", "in_normal"),
                                                (self.vbo_col, "4f", "in_colour"),
                                                (self.vbo_feat, "4f", "in_feature")], self.ibo)
        self.prog["brow_colour"].value = BROW_COLOUR
        self.prog["lash_colour"].value = LASH_COLOUR
        self.blit_prog = ctx.program(vertex_shader=_BLIT_VERTEX, fragment_shader=_BLIT_FRAGMENT)
        self.blit_vao = ctx.vertex_array(self.blit_prog, [])
        self.samples = min(int(samples), ctx.max_samples)
        self.fbo_ms = self.fbo = None
        self._foreign_error_logged = False
        self.resize(width, height)
        self.camera = Camera.framing(head.template, margin=1.08, crop_bottom=PORTRAIT_CROP)

    def _release_framebuffers(self) -> None:
        for fbo in (self.fbo_ms, self.fbo):
            if fbo is not None:
                for att in (*fbo.color_attachments, fbo.depth_attachment):
                    att.release()
                fbo.release()
        self.fbo_ms = self.fbo = None

    def resize(self, width: int, height: int) -> None:
        """(Re)allocate the framebuffers at width x height: a multisampled one to draw in
        (none when samples <= 1) and a single-sample one whose colour is a texture."""
        if not (1 <= int(width) <= 8192 and 1 <= int(height) <= 8192):
            raise ValueError(f"image size must be within 1..8192 pixels, got {width} x {height}")
        self._release_framebuffers()
        self.size = (int(width), int(height))
        ctx, n = self.ctx, self.samples
        if n > 1:
            self.fbo_ms = ctx.framebuffer(ctx.renderbuffer(self.size, samples=n),
                                          ctx.depth_renderbuffer(self.size, samples=n))
        self.image = ctx.texture(self.size, 4)
        self.image.filter = (ctx.LINEAR, ctx.LINEAR)  # a window resized before `resize` runs
        self.fbo = ctx.framebuffer(self.image, ctx.depth_renderbuffer(self.size))

    def draw(self, verts: np.ndarray, target=None) -> None:
        """Draw `verts` (V x 3) into `target` (a framebuffer; the offscreen one if None)."""
        import moderngl
        verts = np.ascontiguousarray(verts, dtype=np.float32)
        if verts.shape != (self.head.num_vertices, 3):
            raise ValueError(f"expected {self.head.num_vertices} x 3 vertices, got {verts.shape}")
        self.vbo_pos.write(verts.tobytes())
        self.vbo_nrm.write(vertex_normals(verts, self.faces).tobytes())
        fbo = target
        if fbo is None:  # multisampled when there is one, else straight into the texture
            fbo = self.fbo_ms if self.fbo_ms is not None else self.fbo
        fbo.use()
        w, h = fbo.size
        mvp, eye = self.camera.matrices(w / h)
        self.prog["mvp"].write(mvp.T.copy().tobytes())
        self.prog["model"].write(np.eye(4, dtype=np.float32).tobytes())
        self.prog["eye"].value = tuple(float(x) for x in eye)
        self.prog["background"].value = tuple(float(c) for c in self.background)
        self.ctx.disable(moderngl.BLEND | moderngl.CULL_FACE)
        self.ctx.enable(moderngl.DEPTH_TEST)
        fbo.clear(*self.background, 1.0)
        self.vao.render(moderngl.TRIANGLES)

    def _draw_resolved(self, verts: np.ndarray) -> None:
        """Draw offscreen and leave the antialiased image in `self.fbo` / `self.image`."""
        self.draw(verts)
        if self.fbo_ms is not None:  # offscreen to offscreen, same formats: a valid blit
            self.ctx.copy_framebuffer(self.fbo, self.fbo_ms)

    def present(self, verts: np.ndarray, screen,
                framebuffer_size: tuple[int, int] | None = None) -> None:
        """Draw `verts` into a window: offscreen (multisampled, resolved), then that image over
        the whole of `screen` (the window's framebuffer, e.g. `ctx.screen`) as a textured
        triangle. framebuffer_size: the window's size in pixels now (pyglet's
        `get_framebuffer_size()`, larger than its size on HiDPI screens; default `screen.size`);
        the image is stretched to it until `resize` catches up. Raises GLError when OpenGL
        reports one."""
        import moderngl
        ctx = self.ctx
        pending = ctx.error  # left by someone else's calls (the HUD, the toolkit): not ours
        if pending != "GL_NO_ERROR" and not self._foreign_error_logged:
            self._foreign_error_logged = True
            log.warning("OpenGL error %s was pending before the face was drawn (left by other "
                        "drawing in this context, e.g. the HUD); reported once", pending)
        self._draw_resolved(verts)
        check_gl(ctx, "drawing the face offscreen")
        fw, fh = (int(x) for x in (framebuffer_size or screen.size))
        screen.viewport = (0, 0, fw, fh)
        screen.use()
        ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND | moderngl.CULL_FACE)
        self.image.use(0)
        self.blit_prog["image"].value = 0
        self.blit_vao.render(moderngl.TRIANGLES, vertices=3)
        check_gl(ctx, "drawing the face into the window")

    def render(self, verts: np.ndarray) -> np.ndarray:
        """Offscreen: V x 3 vertices -> H x W x 3 uint8 image (row 0 at the top)."""
        self._draw_resolved(verts)
        w, h = self.size
        img = np.frombuffer(self.fbo.read(components=3), dtype=np.uint8).reshape(h, w, 3)
        return img[::-1].copy()

    def release(self) -> None:
        self._release_framebuffers()
        for obj in (self.vao, self.vbo_pos, self.vbo_nrm, self.vbo_col, self.vbo_feat, self.ibo,
                    self.prog, self.blit_vao, self.blit_prog):
            obj.release()
