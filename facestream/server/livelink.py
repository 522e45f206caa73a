"""Unreal Live Link Face UDP packets (`facestream serve --livelink HOST:PORT`).

Unreal's Live Link Face source (the iPhone app's protocol, packet version 6) reads, all
big-endian:

    uint8    packet version (6)
    int32    length, then that many UTF-8 bytes: device id
    int32    length, then that many UTF-8 bytes: subject name (what Unreal lists)
    int32    frame number \
    float32  sub-frame     } a frame time (FQualifiedFrameTime)
    int32    rate numerator, int32 rate denominator
    uint8    value count (61)
    float32 x 61: the 52 ARKit weights in Unreal's EARFaceBlendShape order (not ARKit's
             alphabetical one), then HeadYaw, HeadPitch, HeadRoll, LeftEyeYaw,
             LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll (radians)

One packet is sent per frame; the subject name is the session id so each session is its own
Live Link subject.
"""
from __future__ import annotations

import socket
import struct

import numpy as np

from ..formats import LIVE_LINK_INDEX, LIVE_LINK_ORDER, LIVE_LINK_ROTATIONS, live_link_rotations

PACKET_VERSION = 6
# The packet's layouts (Unreal's EARFaceBlendShape order, then the rotations): facestream.formats
UNREAL_ARKIT_ORDER, UNREAL_INDEX, ROTATION_NAMES = LIVE_LINK_ORDER, LIVE_LINK_INDEX, LIVE_LINK_ROTATIONS
NUM_VALUES = len(UNREAL_ARKIT_ORDER) + len(ROTATION_NAMES)  # 61


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack(">i", len(b)) + b


def packet(*, device_id: str, subject: str, frame_number: int, fps: int, arkit: np.ndarray,
           neck_pose: np.ndarray, eye_pose: np.ndarray, sub_frame: float = 0.0) -> bytes:
    """One Live Link Face packet. arkit: K=52 in facestream (ARKit alphabetical) order;
    neck_pose 3 and eye_pose 6 (left, right) axis-angle radians (x pitch, y yaw, z roll)."""
    values = np.concatenate([np.asarray(arkit, np.float32)[UNREAL_INDEX],
                             live_link_rotations(neck_pose, eye_pose)])
    return b"".join((struct.pack(">B", PACKET_VERSION), _string(device_id), _string(subject),
                     struct.pack(">ifii", frame_number, sub_frame, fps, 1),
                     struct.pack(">B", NUM_VALUES), values.astype(">f4").tobytes()))


def parse_packet(data: bytes) -> dict:
    """The inverse of `packet` (tests, and a receiver to check a setup with)."""
    off = 1
    (version,) = struct.unpack_from(">B", data)
    strings = []
    for _ in range(2):
        (n,) = struct.unpack_from(">i", data, off)
        strings.append(data[off + 4:off + 4 + n].decode("utf-8"))
        off += 4 + n
    frame, sub, num, den = struct.unpack_from(">ifii", data, off)
    off += 16
    (count,) = struct.unpack_from(">B", data, off)
    values = np.frombuffer(data, ">f4", count, off + 1).astype(np.float32)
    if off + 1 + 4 * count != len(data):
        raise ValueError(f"Live Link Face packet of {len(data)} bytes, expected {off + 1 + 4 * count}")
    return {"version": version, "device_id": strings[0], "subject": strings[1], "frame": frame,
            "sub_frame": sub, "fps": (num, den), "values": values}


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--livelink wants HOST:PORT (Unreal's Live Link Face default port is "
                         f"11111), got {text!r}")
    return host.strip("[]"), int(port)


class LiveLinkSender:
    """Sends one UDP packet per frame (from the inference thread: sendto does not block)."""

    def __init__(self, address: str, fps: int, device_id: str = "facestream"):
        self.address = parse_address(address)
        self.fps, self.device_id = fps, device_id
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = self.failed = 0

    def send(self, subject: str, frame) -> None:
        data = packet(device_id=self.device_id, subject=subject, frame_number=frame.seq,
                      fps=self.fps, arkit=frame.arkit, neck_pose=frame.neck_pose,
                      eye_pose=frame.eye_pose)
        try:
            self.sock.sendto(data, self.address)
            self.sent += 1
        except OSError:  # nobody listening / buffer full: a lost UDP frame, never a stall
            self.failed += 1

    def close(self) -> None:
        self.sock.close()
