"""Sessions, their clients, and the one inference thread that serves them all.

Threading model: everything here runs on the asyncio loop except `Hub._tick`, which runs on
a single-thread executor ("facestream-infer") and is the only code that touches a session's
engine `Stream`. The loop hands it work through each session's `inbox` (a deque of commands,
appended on the loop, popped by the tick) and gets encoded frames back as the tick's result,
so all bookkeeping (backlog, metrics, queues) stays on the loop thread. Every session with
queued audio shares one `engine.decode_streams` call per tick: while one tick runs, audio of
all sessions piles up and is decoded together by the next one.

Each client has a bounded frame queue and its own sender task: a client that reads slowly
loses its oldest frames (counted in `dropped` and in the frame header) and never slows the
inference thread or another client.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .. import vocab
from . import protocol as P

log = logging.getLogger("facestream.server")

MIC_SESSION = "mic"
# Audio is queued in pieces of at most PIECE_S and a tick takes at most TICK_S of one session's
# audio, so a tick makes a few frames per session even when a client sends a burst: a client
# that reads as fast as frames are made never overflows its queue.
PIECE_S, TICK_S = 0.05, 0.1


def min_queue_frames(fps: int) -> int:
    """The most frames one tick makes for one session (+1): a smaller client queue would
    drop frames of a client that keeps up."""
    import math
    return math.ceil((TICK_S + PIECE_S) * fps) + 1


@dataclass
class Metrics:
    """Counters reported on /status (loop thread only)."""

    started: float = field(default_factory=time.time)
    connections: int = 0
    rejected: dict = field(default_factory=lambda: {"auth": 0, "origin": 0, "full": 0,
                                                    "unknown_session": 0})
    frames_made: int = 0      # frames the engine produced
    frames_sent: int = 0      # frame messages handed to sockets (all clients)
    frames_dropped: int = 0   # frame messages dropped from slow clients' queues
    bytes_sent: int = 0
    audio_seconds: float = 0.0
    ticks: int = 0
    streams_decoded: int = 0  # sum over ticks of the sessions in the batch
    inference_s: float = 0.0
    inference_max_ms: float = 0.0
    errors: dict = field(default_factory=collections.Counter)


@dataclass
class EncodedFrame:
    """One engine frame with its payload blocks encoded once for every client."""

    seq: int
    stream: int
    timestamp: float
    created: float
    intensity: float
    blocks: dict  # "arkit" | "flame" | "vertices/f32" | "vertices/f16" -> bytes
    num_vertices: int


class Client:
    """One websocket connection on a session: what it subscribed to and its send queue."""

    def __init__(self, hub: "Hub", ws, session: "Session", role: str, queue_frames: int):
        self.hub, self.ws, self.session, self.role = hub, ws, session, role
        self.formats, self.vertex_dtype = ["arkit"], "f32"
        # One ordered queue (an `ended` must not overtake the frames before it); only frames
        # are ever dropped, control messages never.
        self.queue: collections.deque[EncodedFrame | str] = collections.deque()
        self.queued_frames = self.queued_control = 0
        self.max_frames = queue_frames
        self.sent = self.dropped = 0
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    def push_frame(self, f: EncodedFrame) -> None:
        if self.queued_frames >= self.max_frames:
            i = next(i for i, x in enumerate(self.queue) if isinstance(x, EncodedFrame))
            del self.queue[i]  # the oldest frame; control items ahead of it are few
            self.queued_frames -= 1
            self.dropped += 1
            self.hub.metrics.frames_dropped += 1
        self.queue.append(f)
        self.queued_frames += 1
        self.wake.set()

    def push_control(self, msg: dict | str) -> None:
        if self.queued_control >= 64:  # it sends faster than it reads its replies
            self.hub.loop.create_task(self.ws.close(P.CLOSE_POLICY, "too many unread replies"))
            return
        self.queue.append(msg if isinstance(msg, str) else json.dumps(msg))
        self.queued_control += 1
        self.wake.set()

    def encode(self, f: EncodedFrame) -> bytes:
        vkey = f"vertices/{self.vertex_dtype}"
        has_v = "vertices" in self.formats and vkey in f.blocks
        return P.pack_frame(seq=f.seq, stream=f.stream, timestamp=f.timestamp, created=f.created,
                            intensity=f.intensity, dropped=self.dropped,
                            arkit=f.blocks.get("arkit", b"") if "arkit" in self.formats else b"",
                            flame=f.blocks.get("flame", b"") if "flame" in self.formats else b"",
                            vertices=f.blocks[vkey] if has_v else b"",
                            num_vertices=f.num_vertices if has_v else 0,
                            vertices_f16=has_v and self.vertex_dtype == "f16")

    async def send_loop(self) -> None:
        """Sends the queue in order; awaits the socket's drain (a slow reader waits here)."""
        m = self.hub.metrics
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                item = self.queue.popleft()
                if isinstance(item, str):
                    self.queued_control -= 1
                    await self.ws.send(item)
                    continue
                self.queued_frames -= 1
                data = self.encode(item)
                await self.ws.send(data)
                self.sent += 1
                m.frames_sent += 1
                m.bytes_sent += len(data)


class Session:
    """One engine stream, its puppeteer (None for the mic session) and its spectators."""

    def __init__(self, sid: str, stream):
        self.id, self.stream = sid, stream
        self.clients: set[Client] = set()
        self.puppeteer: Client | None = None
        self.inbox: collections.deque = collections.deque()  # loop appends, tick pops
        self.audio: P.AudioFormat | None = None  # set by `start`, cleared by `end`
        self.stream_no = 0  # counts `start`s: frames carry it so clients tell streams apart
        self.backlog_s = 0.0  # audio in the inbox, seconds
        self.drained = asyncio.Event()
        self.drained.set()
        self.counted = (0, 0)  # (stream number, frames delivered of it), loop thread
        self.decoding_no = 0  # the stream number the inference thread is decoding
        self.last_emotion: dict | None = None  # inference thread: re-applied on `start`
        self.behaviour = stream.behaviour_options  # loop thread's copy, for notes and hellos

    def needs(self) -> set[str]:
        out = set()
        for c in self.clients:
            out.update(f for f in c.formats if f != "vertices")
            if "vertices" in c.formats:
                out.add(f"vertices/{c.vertex_dtype}")
        return out


class Hub:
    """All sessions of a server and the batching inference loop."""

    def __init__(self, engine, *, fps: int = vocab.DEFAULT_FPS, max_sessions: int = 16,
                 max_clients: int = 256, queue_frames: int = 30, max_backlog_s: float = 1.0,
                 livelink=None, behaviour=None):
        """behaviour: every new session's BehaviourOptions (None: the defaults)."""
        if fps not in vocab.OUTPUT_FPS:
            raise ValueError(f"fps must be one of {vocab.OUTPUT_FPS}, got {fps}")
        if queue_frames < min_queue_frames(fps):
            raise ValueError(f"queue_frames must be at least {min_queue_frames(fps)} at {fps} fps "
                             f"(the frames one inference tick can make), got {queue_frames}")
        self.engine, self.fps = engine, fps
        self.max_sessions, self.max_clients = max_sessions, max_clients
        self.queue_frames, self.max_backlog_s = queue_frames, max_backlog_s
        self.livelink = livelink  # a LiveLinkSender, called from the inference thread
        self.behaviour = behaviour
        self.sessions: dict[str, Session] = {}
        self.clients: set[Client] = set()
        self.metrics = Metrics()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="facestream-infer")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._work: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._work = asyncio.Event()
        self._task = self.loop.create_task(self._run(), name="facestream-batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        # the tick in flight finishes in its thread; the loop keeps running meanwhile
        await asyncio.to_thread(self.executor.shutdown, True, cancel_futures=True)
        if self.livelink is not None:
            self.livelink.close()

    # ---- sessions and clients --------------------------------------------------------------
    def new_session(self, sid: str | None = None) -> Session:
        sid = sid or secrets.token_urlsafe(9)
        s = Session(sid, self.engine.create_stream(fps=self.fps, behaviour=self.behaviour))
        self.sessions[sid] = s
        return s

    def puppeteer_sessions(self) -> int:
        return sum(1 for s in self.sessions.values() if s.id != MIC_SESSION)

    def admit(self, ws, session_id: str | None) -> Client:
        """-> a Client, or raises LookupError (unknown session) / OverflowError (full)."""
        if len(self.clients) >= self.max_clients:
            raise OverflowError(f"server full: {self.max_clients} clients")
        if session_id is None:
            if self.puppeteer_sessions() >= self.max_sessions:
                raise OverflowError(f"server full: {self.max_sessions} sessions")
            session, role = self.new_session(), "puppeteer"
        else:
            session = self.sessions.get(session_id)
            if session is None:
                raise LookupError(f"no session {session_id[:40]!r}")
            role = "spectator"
        c = Client(self, ws, session, role, self.queue_frames)
        if role == "puppeteer":
            session.puppeteer = c
        session.clients.add(c)
        self.clients.add(c)
        c.task = self.loop.create_task(c.send_loop(), name=f"send-{session.id}")
        return c

    def remove(self, c: Client) -> None:
        """A connection ended: drop the client; a puppeteer's session ends with it."""
        if c.task:
            c.task.cancel()
        self.clients.discard(c)
        s = c.session
        s.clients.discard(c)
        if s.puppeteer is c:
            s.puppeteer = None
            self.sessions.pop(s.id, None)
            s.drained.set()
            for other in list(s.clients):  # in the background: a slow reader must not block us
                self.loop.create_task(other.ws.close(P.CLOSE_GOING_AWAY,
                                                     "the session's puppeteer left"))

    # ---- control -------------------------------------------------------------------------
    def handle(self, c: Client, msg: str | bytes) -> None:
        """One message from a client (loop thread). Raises ProtocolError for bad input."""
        s = c.session
        if isinstance(msg, (bytes, bytearray, memoryview)):
            if c is not s.puppeteer:
                raise P.ProtocolError("forbidden", "only the session's puppeteer sends audio")
            if s.audio is None:
                raise P.ProtocolError("not_started", "send a `start` message (sample rate, "
                                      "format) before audio")
            x = s.audio.decode(bytes(msg))
            self.push_audio(s, s.audio.sample_rate, x)
            return
        m = P.parse_control(msg)
        t = m["type"]
        if t == "subscribe":
            c.formats, c.vertex_dtype = m["formats"], m["vertex_dtype"]
            c.push_control({"type": "subscribed", "formats": c.formats,
                            "vertex_dtype": c.vertex_dtype})
        elif t == "set_emotion":
            if c is not s.puppeteer and s.id != MIC_SESSION:
                raise P.ProtocolError("forbidden", "only the session's puppeteer sets the emotion")
            s.inbox.append(("emotion", m))
            note = {"type": "emotion", "emotion": dict(zip(vocab.EMOTION_NAMES, m["emotion"])),
                    "intensity": m["intensity"], "transition": m["transition"]}
            for other in s.clients:
                other.push_control(note)
            self._work.set()
        elif t == "set_behaviour":
            if c is not s.puppeteer and s.id != MIC_SESSION:
                raise P.ProtocolError("forbidden", "only the session's puppeteer sets the behaviour")
            s.behaviour = s.behaviour.updated(**m["changes"])
            s.inbox.append(("behaviour", m["changes"]))
            note = {"type": "behaviour", **s.behaviour.to_dict()}
            for other in s.clients:
                other.push_control(note)
            self._work.set()
        elif t == "start":
            if c is not s.puppeteer:
                raise P.ProtocolError("forbidden", "only the session's puppeteer starts audio")
            self.start_audio(s, m["audio"])
            c.push_control({"type": "started", "stream": s.stream_no,
                            "sample_rate": s.audio.sample_rate, "format": s.audio.format,
                            "channels": s.audio.channels})
        elif t == "end":
            if c is not s.puppeteer:
                raise P.ProtocolError("forbidden", "only the session's puppeteer ends audio")
            if s.audio is None:
                raise P.ProtocolError("not_started", "`end` without a `start`")
            s.audio = None
            s.inbox.append(("end",))
            self._work.set()

    def start_audio(self, s: Session, fmt: P.AudioFormat) -> None:
        s.stream_no += 1
        s.audio = fmt
        s.inbox.append(("start", s.stream_no))
        self._work.set()

    def push_audio(self, s: Session, sample_rate: int, x: np.ndarray) -> None:
        step = max(1, int(sample_rate * PIECE_S))
        for i in range(0, len(x), step):
            s.inbox.append(("audio", sample_rate, x[i:i + step]))
        dur = len(x) / sample_rate
        s.backlog_s += dur
        self.metrics.audio_seconds += dur
        if s.backlog_s > self.max_backlog_s:
            s.drained.clear()
        self._work.set()

    # ---- inference -----------------------------------------------------------------------
    async def _run(self) -> None:
        m = self.metrics
        while True:
            await self._work.wait()
            self._work.clear()
            batch = [(s, s.needs()) for s in self.sessions.values() if s.inbox]
            if not batch:
                continue
            t0 = time.perf_counter()
            try:
                results = await self.loop.run_in_executor(self.executor, self._tick, batch)
            except Exception:  # a bug, not client input: keep serving the other sessions
                log.exception("inference tick failed")
                m.errors["internal"] += 1
                for s, _ in batch:
                    s.inbox.clear()
                    s.backlog_s = 0.0
                    s.drained.set()
                continue
            dt = time.perf_counter() - t0
            m.ticks += 1
            m.streams_decoded += len(batch)
            m.inference_s += dt
            m.inference_max_ms = max(m.inference_max_ms, dt * 1000)
            for s, frames, consumed, ended in results:
                s.backlog_s = max(0.0, s.backlog_s - consumed)
                if s.backlog_s <= self.max_backlog_s:
                    s.drained.set()
                m.frames_made += len(frames)
                for f in frames:
                    n, k = s.counted
                    s.counted = (f.stream, k + 1 if f.stream == n else 1)
                for c in s.clients:
                    if c.formats:  # subscribed to nothing (a puppeteer that only sends)
                        for f in frames:
                            c.push_frame(f)
                if ended is not None:
                    for c in s.clients:
                        c.push_control({"type": "ended", "stream": ended,
                                        "frames": s.counted[1] if s.counted[0] == ended else 0})
                if s.inbox:
                    self._work.set()

    def _tick(self, batch: list[tuple[Session, set[str]]]):
        """Inference thread: apply each session's commands (up to one `end`), decode all
        streams in one batch, encode the frames. -> [(session, frames, seconds, ended)]."""
        consumed, ended = {}, {}
        for s, _ in batch:
            consumed[s.id], ended[s.id] = 0.0, None
            st = s.stream
            while s.inbox and consumed[s.id] < TICK_S:
                cmd = s.inbox.popleft()
                if cmd[0] == "audio":
                    _, sr, x = cmd
                    st.accept_waveform(sr, x)
                    consumed[s.id] += len(x) / sr
                elif cmd[0] == "emotion":
                    m = s.last_emotion = cmd[1]
                    st.set_emotion(m["emotion"], m["intensity"], transition=m["transition"])
                elif cmd[0] == "behaviour":
                    st.set_behaviour(**cmd[1])
                elif cmd[0] == "start":
                    st.reset()
                    if s.last_emotion is not None:  # a new stream starts at the chosen emotion
                        m = s.last_emotion
                        st.set_emotion(m["emotion"], m["intensity"], transition=0.0)
                    s.decoding_no = cmd[1]
                elif cmd[0] == "end":
                    st.input_finished()
                    ended[s.id] = s.decoding_no
                    break  # decode and flush before a following `start` resets the stream
        streams = [s.stream for s, _ in batch]
        decoded = self.engine.decode_streams(streams)
        created = time.time()
        out = []
        for (s, needs), st in zip(batch, streams):
            if self.livelink is not None:
                for f in decoded[id(st)]:
                    self.livelink.send(s.id, f)
            frames = [self._encode(f, needs, s.decoding_no, created)
                      for f in decoded[id(st)]]
            out.append((s, frames, consumed[s.id], ended[s.id]))
        return out

    def _encode(self, f, needs: set[str], stream_no: int, created: float) -> EncodedFrame:
        blocks = {}
        if "arkit" in needs:
            blocks["arkit"] = f.arkit.astype("<f4").tobytes()
        if "flame" in needs:
            blocks["flame"] = P.flame_block(f).tobytes()
        nv = 0
        wanted = [k for k in needs if k.startswith("vertices/")]
        if wanted:
            v = self.engine.vertices(f)  # V x 3
            nv = v.shape[0]
            for k in wanted:
                blocks[k] = P.vertex_bytes(v, k.split("/")[1])
        return EncodedFrame(f.seq, stream_no, float(f.timestamp), created, float(f.intensity),
                            blocks, nv)

    # ---- status --------------------------------------------------------------------------
    def status(self) -> dict:
        import resource
        m = self.metrics
        up = time.time() - m.started
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "protocol": P.PROTOCOL_VERSION, "uptime_s": round(up, 3),
            "sessions": len(self.sessions), "puppeteer_sessions": self.puppeteer_sessions(),
            "max_sessions": self.max_sessions, "clients": len(self.clients),
            "max_clients": self.max_clients, "connections_total": m.connections,
            "rejected": dict(m.rejected),
            "frames_made": m.frames_made, "frames_sent": m.frames_sent,
            "frames_dropped": m.frames_dropped, "bytes_sent": m.bytes_sent,
            "audio_seconds_in": round(m.audio_seconds, 3),
            "inference": {"ticks": m.ticks, "mean_batch": round(m.streams_decoded / max(1, m.ticks), 3),
                          "total_s": round(m.inference_s, 4),
                          "mean_ms": round(1000 * m.inference_s / max(1, m.ticks), 3),
                          "max_ms": round(m.inference_max_ms, 3),
                          "backend": self.engine.backend.name},
            "errors": dict(m.errors),
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
            "max_rss_mb": round(ru.ru_maxrss / 1024, 1),
            "rss_mb": _rss_mb(),
            "sessions_detail": [{"id": s.id, "clients": len(s.clients),
                                 "streaming": s.audio is not None,
                                 "backlog_s": round(s.backlog_s, 3)}
                                for s in list(self.sessions.values())[:100]],
        }


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except OSError:
        return None
    import os
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
