"""VMC protocol output (`facestream serve --vmc HOST:PORT`, `facestream live --vmc HOST:PORT`).

The VMC protocol (https://protocol.vmc.info/, "Marionette" receive spec,
https://protocol.vmc.info/marionette-spec) is OSC over UDP; a Marionette (VSeeFace, VNyan,
Warudo, EVMC4U, ...) listens on port 39539 by default. Per engine frame this sends one OSC
bundle (the spec's senders bundle "for load reduction") holding, in this order:

    /VMC/Ext/Blend/Val (string){name} (float){value}   x 52: the ARKit weights by their
                                                        Perfect Sync clip names
    /VMC/Ext/Blend/Apply                                 after all values of the frame
    /VMC/Ext/Bone/Pos (string){name} (float){p.x} (float){p.y} (float){p.z}
                      (float){q.x} (float){q.y} (float){q.z} (float){q.w}
                                                        x 4: Neck, Head, LeftEye, RightEye
    /VMC/Ext/OK (int){loaded} (int){calibration state} (int){calibration mode}   (V2.5)
    /VMC/Ext/T (float){time}                             seconds since the sender started

Bones are local poses in Unity's frame (left-handed, y up, z forward, x the avatar's right);
the engine's neck_pose / eye_pose are FLAME axis-angles (right-handed, x the subject's left),
so x is mirrored: rotation vector (rx, ry, rz) -> (rx, -ry, -rz). The head rotation is split
evenly between Neck and Head (VRM's normalised bones share their rest axes, so the two halves
compose to the whole). Positions are facestream's own head skeleton (see `bone_positions`): a
receiver driving a different avatar should apply these bones' rotations only (EVMC4U:
BonePositionSynchronize off), as the spec's reference receiver advises for any foreign model.

Threading: `send` only copies the frame's numbers into a bounded queue (the newest
`queue_frames` are kept; older ones are dropped) and wakes the sender thread, which encodes
with python-osc and writes to a non-blocking UDP socket. So the inference thread never waits
for encoding or the network, and a missing receiver only counts failed sends.
"""
from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from .. import vocab

log = logging.getLogger(__name__)

DEFAULT_PORT = 39539  # the Marionette's usual port (the spec's glossary)
NAME_STYLES = ("perfect-sync", "arkit")
BONES = ("Neck", "Head", "LeftEye", "RightEye")  # UnityEngine.HumanBodyBones names
NECK_SHARE = 0.5  # of the head rotation on Neck; Head gets the rest
OK_ARGS = (1, 3, 0)  # V2.5: loaded, calibration state Calibrated (3), calibration mode normal (0)
SUBJECT_IDLE_S = 1.0  # serve: another session takes the avatar after this long without frames


def perfect_sync_name(arkit_name: str) -> str:
    """ARKit's `jawOpen` -> Perfect Sync's clip name `JawOpen` (Unity's ARKitBlendShapeLocation
    spelling; the spec notes clip names are case sensitive)."""
    return arkit_name[0].upper() + arkit_name[1:]


def blend_names(style: str = "perfect-sync") -> tuple[str, ...]:
    """The 52 names sent, in vocab.ARKIT_NAMES order."""
    if style not in NAME_STYLES:
        raise ValueError(f"VMC blendshape names must be one of {NAME_STYLES}, got {style!r}")
    if style == "arkit":
        return vocab.ARKIT_NAMES
    return tuple(perfect_sync_name(n) for n in vocab.ARKIT_NAMES)


def unity_quaternion(rotvec) -> tuple[float, float, float, float]:
    """FLAME axis-angle (3, radians) -> Unity quaternion (x, y, z, w), x mirrored."""
    r = np.array([rotvec[0], -rotvec[1], -rotvec[2]], np.float64)
    theta = float(np.linalg.norm(r))
    if theta < 1e-12:
        return (0.0, 0.0, 0.0, 1.0)
    axis = r / theta * np.sin(theta / 2)
    return (float(axis[0]), float(axis[1]), float(axis[2]), float(np.cos(theta / 2)))


def bone_positions(joints: np.ndarray | None = None) -> dict[str, tuple[float, float, float]]:
    """Local bone positions (metres, Unity axes) from a head's rest joints (J x 3 in
    vocab.POSE_JOINTS order, FLAME axes): Head sits at the head's neck joint relative to its
    global joint, each eye at its eye joint relative to the neck joint; Neck at its parent's
    origin (the head has no chest to measure from). None: the default head's skeleton."""
    if joints is None:
        from ..engine.head import load_head
        joints = load_head().joints
    j = {n: np.asarray(joints[i], np.float64) for i, n in enumerate(vocab.POSE_JOINTS)}

    def unity(v):
        return (float(0.0 - v[0]), float(v[1]), float(v[2]))  # 0.0 - : no -0.0
    return {"Neck": (0.0, 0.0, 0.0), "Head": unity(j["neck"] - j["global"]),
            "LeftEye": unity(j["eye_left"] - j["neck"]),
            "RightEye": unity(j["eye_right"] - j["neck"])}


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT' (IPv6 as [::1]:PORT) -> (host, port), the host resolved; a clear error
    otherwise."""
    host, sep, port = str(text).rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--vmc wants HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT} (the VMC "
                         f"receiver's port; {DEFAULT_PORT} is the usual one), got {text!r}")
    try:
        socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise ValueError(f"--vmc host {host!r} does not resolve ({e.strerror}): give the VMC "
                         "receiver's IP address or a known host name") from None
    return host, int(port)


@dataclass
class _Pose:
    """What one frame sends, copied off the engine's arrays."""
    arkit: np.ndarray  # K=52 weights
    neck_pose: np.ndarray  # 3 axis-angle
    eye_pose: np.ndarray  # 6: left, right


def _message(address: str, *args) -> bytes:
    """One OSC message, encoded by python-osc's builder (s, i, f by the Python type)."""
    from pythonosc.osc_message_builder import OscMessageBuilder as M
    m = M(address)
    for a in args:
        m.add_arg(a, M.ARG_TYPE_STRING if isinstance(a, str) else
                  M.ARG_TYPE_INT if isinstance(a, int) else M.ARG_TYPE_FLOAT)
    return m.build().dgram


@functools.lru_cache(maxsize=None)
def _fixed_message(address: str, *args) -> bytes:
    """A message that never changes (Apply, OK): built once."""
    return _message(address, *args)


def build_bundle(pose: _Pose, names: tuple[str, ...], positions: dict, time_s: float) -> bytes:
    """One frame's OSC bundle, in the order of the module docstring. Each message comes from
    python-osc's builder; the bundle is framed with python-osc's own type writers, as its
    OscBundleBuilder does, without that builder's re-parse of every message it has just
    written (a third of the cost)."""
    from pythonosc.osc_bundle_builder import IMMEDIATELY
    from pythonosc.parsing import osc_types
    msgs = [_message("/VMC/Ext/Blend/Val", name, w)
            for name, w in zip(names, np.clip(pose.arkit, 0.0, 1.0).tolist())]
    msgs.append(_fixed_message("/VMC/Ext/Blend/Apply"))
    neck = np.asarray(pose.neck_pose, np.float64)
    rotations = {"Neck": NECK_SHARE * neck, "Head": (1.0 - NECK_SHARE) * neck,
                 "LeftEye": pose.eye_pose[:3], "RightEye": pose.eye_pose[3:6]}
    for bone in BONES:
        msgs.append(_message("/VMC/Ext/Bone/Pos", bone, *positions[bone],
                             *unity_quaternion(rotations[bone])))
    msgs += [_fixed_message("/VMC/Ext/OK", *OK_ARGS), _message("/VMC/Ext/T", float(time_s))]
    return b"".join([osc_types.write_string("#bundle"), osc_types.write_date(IMMEDIATELY)]
                    + [osc_types.write_int(len(m)) + m for m in msgs])


class VMCSender:
    """Sends engine frames to a VMC receiver. Thread-safe `send`; see the module docstring.

        sender = VMCSender("127.0.0.1:39539")
        for frame in engine.decode_stream(stream):
            sender.send(frame)
        sender.close()
    """

    def __init__(self, address: str, *, names: str = "perfect-sync", queue_frames: int = 8,
                 joints: np.ndarray | None = None):
        """address: 'HOST:PORT' of the receiver; names: 'perfect-sync' (JawOpen) or 'arkit'
        (jawOpen); queue_frames: frames waiting for the sender thread before the oldest is
        dropped; joints: the head's rest joints for the bone positions (None: default head)."""
        try:
            import pythonosc  # noqa: F401
        except ImportError:
            raise ImportError("VMC output needs python-osc: pip install 'facestream[vmc]'") from None
        if queue_frames < 1:
            raise ValueError(f"queue_frames must be at least 1, got {queue_frames}")
        self.address = parse_address(address)
        self.names = blend_names(names)
        self.positions = bone_positions(joints)
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = self.failed = self.dropped = 0
        self.encode_s = 0.0  # total time the sender thread spent building and sending
        self.subject: str | None = None  # the session being sent (serve); others are skipped
        self._last_seen = 0.0
        self._queue: deque[_Pose] = deque(maxlen=queue_frames)
        self._wake = threading.Event()
        self._closed = False
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="facestream-vmc", daemon=True)
        self._thread.start()

    # ---- any thread (the inference thread): copy and enqueue only -------------------------
    def send(self, frame, subject: str | None = None) -> None:
        """Queue one frame (anything with arkit, neck_pose, eye_pose). With several sessions
        (subject = session id) one drives the avatar until it has been idle SUBJECT_IDLE_S."""
        now = time.monotonic()
        if subject is not None:
            if self.subject not in (None, subject) and now - self._last_seen < SUBJECT_IDLE_S:
                return
            self.subject, self._last_seen = subject, now
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(_Pose(np.array(frame.arkit, np.float32),
                                 np.array(frame.neck_pose, np.float32),
                                 np.array(frame.eye_pose, np.float32)))
        self._wake.set()

    # ---- the sender thread --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            while self._queue:
                pose = self._queue.popleft()
                t = time.perf_counter()
                data = build_bundle(pose, self.names, self.positions, time.monotonic() - self._t0)
                try:
                    self.sock.sendto(data, self.address)
                    self.sent += 1
                except OSError as e:  # refused, unreachable, buffer full: a lost frame, no stall
                    if self.failed == 0:
                        log.warning("VMC: sending to %s:%d failed (%s); frames keep being "
                                    "dropped until a receiver is reachable", *self.address, e)
                    self.failed += 1
                self.encode_s += time.perf_counter() - t
            if self._closed:
                return

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until every queued frame has been sent (or failed); -> True if it got there."""
        end = time.monotonic() + timeout
        while self._queue and time.monotonic() < end:
            time.sleep(0.002)
        return not self._queue

    def stats(self) -> dict:
        done = self.sent + self.failed
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "send_ms": 1e3 * self.encode_s / done if done else 0.0}

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._wake.set()
        self._thread.join(2.0)
        self.sock.close()


class FrameTaps:
    """Several per-frame outputs behind the one `send(session_id, frame)` / `close()` the hub
    calls from its inference thread (a LiveLinkSender and a VMCSender, for serve)."""

    def __init__(self, live_link=None, vmc: VMCSender | None = None):
        self.live_link, self.vmc = live_link, vmc

    def send(self, subject: str, frame) -> None:
        if self.live_link is not None:
            self.live_link.send(subject, frame)
        if self.vmc is not None:
            self.vmc.send(frame, subject)

    def close(self) -> None:
        for tap in (self.live_link, self.vmc):
            if tap is not None:
                tap.close()
