"""The wire protocol of `facestream serve` (docs/protocol.md is its written form).

Control travels as JSON text messages with a "type"; audio in and frames out travel as binary
messages. A frame message is a 48-byte little-endian header followed by float32 blocks (every
block a multiple of 4 bytes), so a browser reads the payload as a `Float32Array` view.
Needs numpy only; the websockets library is imported by `app.py`.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

from .. import vocab

# 2: `set_behaviour` and its `behaviour` note; frames carry the engine's blinks, gaze, head
# motion and brows, and the flame block's eye_pose carries the gaze on every head.
PROTOCOL_VERSION = 2
MAGIC = b"FSTR"
# magic, version, type, flags, seq, stream, audio time (s), created (unix s), intensity,
# dropped, n_arkit, n_flame, n_vertices
FRAME_HEADER = struct.Struct("<4sBBHIIddfIHHI")
HEADER_BYTES = FRAME_HEADER.size  # 48
MSG_FRAME = 1
FLAG_VERTICES_F16 = 1  # the vertex block holds float16 (padded to 4 bytes) instead of float32
if HEADER_BYTES % 8:
    raise AssertionError("the frame header must keep the payload 8-byte aligned")

FORMATS = ("arkit", "flame", "vertices")
VERTEX_DTYPES = {"f32": np.dtype("<f4"), "f16": np.dtype("<f2")}
AUDIO_FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000  # Hz accepted in `start`
MAX_CHANNELS = 8

# Error codes: stable numbers a client can switch on; the names are for people.
ERRORS = {
    "bad_json": 4000,         # a text message that is not a JSON object with a string "type"
    "unknown_type": 4001,     # a "type" this protocol does not define
    "bad_field": 4002,        # a field missing, of the wrong type or out of range
    "not_started": 4003,      # audio or `end` before `start`
    "bad_audio": 4004,        # binary size not whole samples x channels, or NaN/inf samples
    "forbidden": 4005,        # a spectator tried to feed audio or steer the session
    "internal": 4099,         # the server failed on this message (it keeps running)
}

# Close codes (RFC 6455 and the private 4000-4999 range).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001      # server shutting down, or the session's puppeteer left
CLOSE_POLICY = 1008          # unknown session id
CLOSE_TOO_BIG = 1009         # message over max_message_bytes (sent by the websockets library)
CLOSE_TRY_AGAIN = 1013       # admission control: the server is full


class ProtocolError(Exception):
    """A client message that cannot be used; `name` is a key of ERRORS."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name, self.code = name, ERRORS[name]

    def to_message(self) -> str:
        return json.dumps({"type": "error", "code": self.code, "name": self.name,
                           "message": str(self)})


@dataclass(frozen=True)
class AudioFormat:
    """What a `start` message declared."""

    sample_rate: int  # Hz, MIN_SAMPLE_RATE..MAX_SAMPLE_RATE
    format: str       # a key of AUDIO_FORMATS
    channels: int     # interleaved channels, 1..MAX_CHANNELS

    def decode(self, data: bytes) -> np.ndarray:
        """A binary audio message -> S x C float32 (or S mono), refusing partial samples."""
        dt = AUDIO_FORMATS[self.format]
        block = dt.itemsize * self.channels
        if len(data) == 0 or len(data) % block:
            raise ProtocolError("bad_audio", f"audio message of {len(data)} bytes is not a whole "
                                f"number of {self.format} samples x {self.channels} channel(s) "
                                f"({block} bytes each)")
        x = np.frombuffer(data, dtype=dt)
        if dt.kind == "f":
            if not np.isfinite(x).all():
                raise ProtocolError("bad_audio", "float32 audio contains NaN or infinity")
            x = x.astype(np.float32)
        return x.reshape(-1, self.channels) if self.channels > 1 else x


def hello(*, session: str, role: str, fps: int, head, latency_ms: float,
          max_message_bytes: int, server_version: str, behaviour=None) -> dict:
    """The schema a client needs, built from facestream.vocab (never a copy of it).
    behaviour: the session's BehaviourOptions (None: the defaults)."""
    from ..engine.behaviour import GAZE_MODES, BehaviourOptions
    k = head.num_expressions
    return {
        "type": "hello", "protocol": PROTOCOL_VERSION, "server": f"facestream {server_version}",
        "session": session, "role": role,
        "fps": fps, "output_fps": list(vocab.OUTPUT_FPS), "model_sample_rate": vocab.SAMPLE_RATE,
        "latency_ms": latency_ms,
        "arkit_names": list(vocab.ARKIT_NAMES), "emotion_names": list(vocab.EMOTION_NAMES),
        "flame_layout": flame_layout(k), "head": head.name,
        "num_vertices": int(head.num_vertices), "num_faces": int(head.faces.shape[0]),
        "formats": list(FORMATS), "vertex_dtypes": list(VERTEX_DTYPES),
        "audio_formats": list(AUDIO_FORMATS), "sample_rates": [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE],
        "frame_header_bytes": HEADER_BYTES, "magic": MAGIC.decode(),
        "max_message_bytes": max_message_bytes,
        "behaviour": (behaviour or BehaviourOptions()).to_dict(), "gaze_modes": list(GAZE_MODES),
    }


def flame_layout(num_expressions: int) -> list[list]:
    """[name, offset, length] of the `flame` block: the head's expression weights, then the jaw,
    neck and eyes (left, right) as axis-angle radians in FLAME's pose convention."""
    out, off = [], 0
    for name, n in (("expression", num_expressions), ("jaw_pose", 3), ("neck_pose", 3),
                    ("eye_pose", 6)):
        out.append([name, off, n])
        off += n
    return out


def flame_block(frame) -> np.ndarray:
    return np.concatenate([frame.expression, frame.jaw_pose, frame.neck_pose,
                           frame.eye_pose]).astype("<f4")


def pack_frame(*, seq: int, stream: int, timestamp: float, created: float, intensity: float,
               dropped: int, arkit: bytes = b"", flame: bytes = b"", vertices: bytes = b"",
               num_vertices: int = 0, vertices_f16: bool = False) -> bytes:
    """Header + blocks. Blocks are little-endian bytes already; f16 vertices come padded."""
    header = FRAME_HEADER.pack(MAGIC, PROTOCOL_VERSION, MSG_FRAME,
                               FLAG_VERTICES_F16 if vertices_f16 else 0, seq & 0xFFFFFFFF,
                               stream & 0xFFFFFFFF, timestamp, created, intensity,
                               min(dropped, 0xFFFFFFFF), len(arkit) // 4, len(flame) // 4,
                               num_vertices)
    return b"".join((header, arkit, flame, vertices))


def vertex_bytes(vertices: np.ndarray, dtype: str) -> bytes:
    """V x 3 -> the vertex block: float32, or float16 zero-padded to a multiple of 4 bytes."""
    b = np.ascontiguousarray(vertices, dtype=VERTEX_DTYPES[dtype]).tobytes()
    return b + b"\0" * (-len(b) % 4)


@dataclass
class FrameMessage:
    """A parsed frame message (clients and tests)."""

    seq: int
    stream: int
    timestamp: float
    created: float
    intensity: float
    dropped: int
    arkit: np.ndarray       # n_arkit
    flame: np.ndarray       # n_flame
    vertices: np.ndarray    # n_vertices x 3 (float32 or float16)


def unpack_frame(data: bytes) -> FrameMessage:
    if len(data) < HEADER_BYTES:
        raise ValueError(f"frame message of {len(data)} bytes is shorter than its header")
    (magic, version, mtype, flags, seq, stream, ts, created, inten, dropped, na, nf,
     nv) = FRAME_HEADER.unpack_from(data)
    if magic != MAGIC or version != PROTOCOL_VERSION or mtype != MSG_FRAME:
        raise ValueError(f"not a facestream v{PROTOCOL_VERSION} frame (magic {magic!r}, "
                         f"version {version}, type {mtype})")
    f16 = bool(flags & FLAG_VERTICES_F16)
    vlen = nv * 3 * (2 if f16 else 4)
    want = HEADER_BYTES + 4 * (na + nf) + vlen + (-vlen % 4)
    if len(data) != want:
        raise ValueError(f"frame message has {len(data)} bytes, its header says {want}")
    off = HEADER_BYTES
    arkit = np.frombuffer(data, "<f4", na, off)
    flame = np.frombuffer(data, "<f4", nf, off + 4 * na)
    verts = np.frombuffer(data, "<f2" if f16 else "<f4", nv * 3, off + 4 * (na + nf))
    return FrameMessage(seq, stream, ts, created, inten, dropped, arkit, flame,
                        verts.reshape(nv, 3))


# ---- client -> server control messages --------------------------------------------------------
CLIENT_TYPES = ("subscribe", "set_emotion", "set_behaviour", "start", "end")
# set_behaviour's fields: BehaviourOptions' own (the seed takes effect at the next `start`)
BEHAVIOUR_FIELDS = ("blinks", "blink_rate", "gaze", "head", "brows", "articulation", "seed")


def parse_control(text: str) -> dict:
    """A text message -> a validated control dict (with defaults filled in)."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "text messages must be JSON objects") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("bad_json", 'a control message is a JSON object with a string "type"')
    t = msg["type"]
    if t not in CLIENT_TYPES:
        raise ProtocolError("unknown_type", f"unknown message type {t[:40]!r}: expected one of "
                            f"{', '.join(CLIENT_TYPES)}")
    return {"subscribe": _subscribe, "set_emotion": _set_emotion,
            "set_behaviour": _set_behaviour, "start": _start,
            "end": lambda m: {"type": "end"}}[t](msg)


def _subscribe(m: dict) -> dict:
    formats = m.get("formats", ["arkit"])
    if not isinstance(formats, list) or not all(isinstance(f, str) and f in FORMATS
                                                for f in formats):
        raise ProtocolError("bad_field", f"subscribe.formats must be a list drawn from "
                            f"{list(FORMATS)}, got {str(formats)[:80]}")
    dtype = m.get("vertex_dtype", "f32")
    if dtype not in VERTEX_DTYPES:
        raise ProtocolError("bad_field", f"subscribe.vertex_dtype must be one of "
                            f"{list(VERTEX_DTYPES)}, got {str(dtype)[:20]!r}")
    return {"type": "subscribe", "formats": sorted(set(formats), key=FORMATS.index),
            "vertex_dtype": dtype}


def _set_emotion(m: dict) -> dict:
    from ..engine.emotion import emotion_vector
    emotion = m.get("emotion", "neutral")
    try:
        if not isinstance(emotion, (str, dict, list)):
            raise ValueError("give a name, a {name: weight} mixture or E weights")
        vec = emotion_vector(emotion)
    except (ValueError, TypeError, KeyError) as e:
        raise ProtocolError("bad_field", f"set_emotion.emotion: {e}") from None
    inten = m.get("intensity")
    if inten is not None and inten != "auto" and not (
            _is_number(inten) and 0.0 <= inten <= 1.0):
        raise ProtocolError("bad_field", f"set_emotion.intensity must be within [0, 1] or "
                            f"\"auto\", got {str(inten)[:20]}")
    tr = m.get("transition", 0.3)
    if not (_is_number(tr) and 0.0 <= tr <= 60.0):
        raise ProtocolError("bad_field", f"set_emotion.transition must be 0..60 seconds, got "
                            f"{str(tr)[:20]}")
    return {"type": "set_emotion", "emotion": vec.tolist(), "intensity": inten,
            "transition": float(tr)}


def _set_behaviour(m: dict) -> dict:
    from ..engine.behaviour import BehaviourOptions
    changes = {k: v for k, v in m.items() if k != "type"}
    unknown = sorted(set(changes) - set(BEHAVIOUR_FIELDS))
    if unknown:
        raise ProtocolError("bad_field", f"set_behaviour: unknown field(s) {unknown[:5]}: "
                            f"expected some of {list(BEHAVIOUR_FIELDS)}")
    try:
        BehaviourOptions.from_any(changes)
    except (ValueError, TypeError) as e:
        raise ProtocolError("bad_field", f"set_behaviour.{str(e)[:200]}") from None
    if isinstance(changes.get("gaze"), list):
        changes["gaze"] = tuple(changes["gaze"])
    return {"type": "set_behaviour", "changes": changes}


def _start(m: dict) -> dict:
    sr, fmt, ch = m.get("sample_rate"), m.get("format", "s16le"), m.get("channels", 1)
    if not (isinstance(sr, int) and not isinstance(sr, bool)
            and MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE):
        raise ProtocolError("bad_field", f"start.sample_rate must be an integer in "
                            f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {str(sr)[:20]}")
    if fmt not in AUDIO_FORMATS:
        raise ProtocolError("bad_field", f"start.format must be one of {list(AUDIO_FORMATS)}, "
                            f"got {str(fmt)[:20]!r}")
    if not (isinstance(ch, int) and not isinstance(ch, bool) and 1 <= ch <= MAX_CHANNELS):
        raise ProtocolError("bad_field", f"start.channels must be 1..{MAX_CHANNELS}, got "
                            f"{str(ch)[:20]}")
    return {"type": "start", "audio": AudioFormat(sr, fmt, ch)}


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
