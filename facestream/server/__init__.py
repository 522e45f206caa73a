"""The websocket server (`facestream serve`) and its Python client (`facestream listen`).

The wire protocol is in docs/protocol.md and `protocol.py`. Importing this package loads
numpy only; `websockets` is imported when a server or client starts (extra `server`).
"""
from .protocol import PROTOCOL_VERSION, FrameMessage, ProtocolError, unpack_frame

__all__ = ["PROTOCOL_VERSION", "FrameMessage", "ProtocolError", "unpack_frame"]
