"""The viewer's subcommands: `facestream render` (offline video) and `facestream live`."""
from __future__ import annotations


def add_parser(sub) -> None:
    from .live import add_parser as add_live
    from .video import add_parser as add_render
    add_render(sub)
    add_live(sub)
