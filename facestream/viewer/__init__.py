"""Drawing heads: the moderngl renderer (offscreen via EGL, or into a window) and contact sheets.

Importing this package does not import moderngl; constructing a `Renderer` does.
"""
from .render import Camera, Renderer, vertex_normals
from .sheet import contact_sheet

__all__ = ["Camera", "Renderer", "vertex_normals", "contact_sheet"]
