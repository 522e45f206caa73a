"""The websocket server: HTTP routes, auth, Origin and admission checks around the hub.

    server = Server(engine, ServerOptions(port=8765)); await server.start(); ...; await server.stop()

Every request for data or a connection passes the token check first, then the Origin check,
in `process_request`, before the handshake completes: a request that fails either never
becomes a connection. Only the page's own files (`/`, `/static/*`) are served without a token
(they hold no data; the page reads the token from its URL). Routes: `/ws` (websocket; `?session=ID` joins a session as a spectator,
without it the client creates a session and is its puppeteer), `/status` (JSON metrics),
`/head.bin` (the head mesh, with what the page paints on it), `/` and `/static/*` (the page),
`/web/*` (the same page running the model in the browser, exporters/web.py: its code without a
token, its model and head with one; made on the first request, about a second).
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import struct
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .. import __version__
from ..exporters.web import DATA_FILES as WEB_DATA_FILES
from . import protocol as P
from .hub import MIC_SESSION, Hub, min_queue_frames
from .livelink import LiveLinkSender, parse_address

log = logging.getLogger("facestream.server")
SEND_BUFFER_BYTES = 256 << 10
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"  # loopback unless asked; other addresses need a token
    port: int = 8765  # 0: pick a free port (see Server.port)
    token: str | None = None  # required on every request when set (?token= or Bearer header)
    fps: int = 30  # output frame rate of every session
    max_sessions: int = 16  # puppeteer sessions at once; more get close code 1013
    max_clients: int = 256  # connections at once (puppeteers + spectators)
    max_message_bytes: int = 1 << 20  # larger incoming messages close the connection (1009)
    queue_frames: int = 30  # frames queued per client before the oldest is dropped
    allow_origins: tuple[str, ...] = ()  # browser Origins allowed besides the server's own; "*": any
    mic: bool = False  # a session "mic" fed by the server's microphone
    mic_device: str | int | None = None
    livelink: str | None = None  # HOST:PORT: also send every frame as a Live Link Face packet
    behaviour: object = None  # every session's BehaviourOptions at its start (None: defaults)

    def validate(self) -> None:
        if not self.token and not _is_loopback(self.host):
            raise ValueError(f"binding {self.host} exposes the server beyond this machine: pass "
                             "--token SECRET (clients add ?token=SECRET)")
        if self.queue_frames < min_queue_frames(self.fps):
            raise ValueError(f"--queue-frames must be at least {min_queue_frames(self.fps)} at "
                             f"{self.fps} fps (the frames one inference tick can make)")
        for name in ("max_sessions", "max_clients"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 4096 <= self.max_message_bytes <= 64 << 20:
            raise ValueError(f"max_message_bytes must be 4 KiB..64 MiB, got {self.max_message_bytes}")
        if self.livelink:
            parse_address(self.livelink)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


STOP_TIMEOUT_S = 5.0  # longest wait for connection handlers to end when the server stops


class Server:
    """The hub plus a websockets server (asyncio). Start and stop it inside a running loop."""

    def __init__(self, engine, options: ServerOptions | None = None, mic_source=None):
        """mic_source: an audio source (facestream.engine.sources: `read(timeout)`, `close()`,
        `sample_rate`) for the "mic" session instead of opening the microphone."""
        self.options = opts = options or ServerOptions()
        opts.validate()
        self.engine = engine
        self.hub = Hub(engine, fps=opts.fps, max_sessions=opts.max_sessions,
                       max_clients=opts.max_clients, queue_frames=opts.queue_frames,
                       livelink=LiveLinkSender(opts.livelink, opts.fps) if opts.livelink else None,
                       behaviour=opts.behaviour)
        self._server = None
        self._mic, self._mic_source, self._mic_thread = None, mic_source, None
        self._head_bin: bytes | None = None
        self._web: dict | None = None  # /web/'s files (exporters/web.py), made on first use

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> "Server":
        from websockets.asyncio.server import serve
        self.hub.start()
        if self.options.mic or self._mic_source is not None:
            self._start_mic()
        # compression=None: permessage-deflate costs a core for vertex streams (ENVIRONMENT.md)
        self._server = await serve(self._handler, self.options.host, self.options.port,
                                   process_request=self._process_request, compression=None,
                                   max_size=self.options.max_message_bytes, max_queue=32,
                                   write_limit=1 << 18, ping_interval=20, ping_timeout=20,
                                   close_timeout=2, server_header=f"facestream/{__version__}")
        return self

    async def stop(self) -> None:
        if self._mic is not None:  # stop the reader before closing what it reads
            self._mic_stop.set()
            await asyncio.to_thread(self._mic_thread.join, 5)
            self._mic.close()
        if self._server is not None:
            self._server.close()  # closes every connection (close_timeout=2 s each, in parallel)
            for session in list(self.hub.sessions.values()):
                session.drained.set()  # a handler held by backpressure must see its socket close
            try:
                await asyncio.wait_for(self._server.wait_closed(), STOP_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("%d connection(s) still open %.0f s after closing: leaving them",
                            len(self.hub.clients), STOP_TIMEOUT_S)
        await self.hub.stop()

    # ---- HTTP: auth, Origin, routes ----------------------------------------------------------
    def _process_request(self, connection, request):
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        path = url.path
        if path in ("/", "/index.html"):
            path = "/static/index.html"
        if path.startswith("/static/"):  # the page's code only: no data, no control, no token
            body = _static(path[len("/static/"):])
            if body is None:
                return _response(404, b"not found\n", "text/plain")
            ext = path[path.rfind("."):]
            return _response(200, body, STATIC_TYPES.get(ext, "application/octet-stream"))
        web = path[len("/web/"):] if path.startswith("/web/") else None
        if web is not None and web not in WEB_DATA_FILES:  # the in-browser page's code
            return self._web_file(web)
        if not self._token_ok(query, request.headers):
            self.hub.metrics.rejected["auth"] += 1
            return _response(401, b"a valid token is required (?token=... or "
                             b"Authorization: Bearer ...)\n", "text/plain")
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_ok(origin, request.headers.get("Host", "")):
            self.hub.metrics.rejected["origin"] += 1
            return _response(403, b"this Origin is not allowed (--allow-origin)\n", "text/plain")
        if path == "/ws":
            return None  # the websocket handshake goes on
        if path == "/status":
            return _response(200, json.dumps(self.hub.status()).encode(), "application/json")
        if path == "/head.bin":
            return _response(200, self.head_bin(), "application/octet-stream")
        if web is not None:  # the in-browser page's data: the model and the head
            return self._web_file(web)
        return _response(404, b"not found\n", "text/plain")

    def _web_file(self, name: str):
        """/web/NAME: the page that runs the model in the browser (`facestream export --format
        web`'s folder, made from this server's model and head on first use)."""
        from ..exporters.web import CONTENT_TYPES, WebExportError, site_files
        if self._web is None:
            try:
                self._web = site_files(self.engine.info.path, self.engine.head)
            except (WebExportError, ValueError) as e:
                return _response(503, f"the in-browser page is not available: {e}\n".encode(),
                                 "text/plain")
        data = self._web.get(name or "index.html")
        if data is None:
            return _response(404, b"not found\n", "text/plain")
        body = data.read_bytes() if hasattr(data, "read_bytes") else data
        return _response(200, body, CONTENT_TYPES.get(Path(name or "x.html").suffix, "text/plain"))

    def _token_ok(self, query: dict, headers) -> bool:
        want = self.options.token
        if not want:
            return True
        got = (query.get("token") or [""])[0]
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            got = got or auth[len("Bearer "):]
        return hmac.compare_digest(got.encode(), want.encode())

    def _origin_ok(self, origin: str, host: str) -> bool:
        allowed = self.options.allow_origins
        if "*" in allowed or origin in allowed:
            return True
        return urlsplit(origin).netloc.lower() == host.lower()  # the page this server served

    def head_bin(self) -> bytes:
        """The head for the browser (`head_bin`), encoded once."""
        if self._head_bin is None:
            self._head_bin = head_bin(self.engine.head)
        return self._head_bin

    # ---- websocket connections --------------------------------------------------------------
    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed
        hub = self.hub
        hub.metrics.connections += 1
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:  # a small kernel buffer: a slow reader backs up into our queue,
            import socket    # where old frames are dropped, instead of into seconds of latency
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        query = parse_qs(urlsplit(ws.request.path).query)
        sid = (query.get("session") or [None])[0]
        try:
            client = hub.admit(ws, sid)
        except OverflowError as e:
            hub.metrics.rejected["full"] += 1
            await ws.close(P.CLOSE_TRY_AGAIN, str(e))
            return
        except LookupError as e:
            hub.metrics.rejected["unknown_session"] += 1
            await ws.close(P.CLOSE_POLICY, str(e))
            return
        try:
            client.push_control(P.hello(
                session=client.session.id, role=client.role, fps=hub.fps, head=self.engine.head,
                latency_ms=self.engine.latency_ms, max_message_bytes=self.options.max_message_bytes,
                server_version=__version__, behaviour=client.session.behaviour))
            async for message in ws:
                try:
                    hub.handle(client, message)
                except P.ProtocolError as e:
                    hub.metrics.errors[e.name] += 1
                    client.push_control(e.to_message())
                except Exception as e:  # a server bug must cost one message, not the server
                    log.exception("message handling failed")
                    hub.metrics.errors["internal"] += 1
                    client.push_control(P.ProtocolError("internal", f"{type(e).__name__}: {e}")
                                        .to_message())
                s = client.session
                if client is s.puppeteer and not s.drained.is_set():
                    await s.drained.wait()  # backpressure: read no more until inference catches up
        except ConnectionClosed:
            pass
        finally:
            hub.remove(client)

    # ---- the server's own microphone ----------------------------------------------------------
    def _start_mic(self) -> None:
        """Session "mic": a reader thread blocks on the source and hands each block to the loop
        (the inference thread gets it through the inbox like any client's audio)."""
        import threading

        from ..engine.sources import AudioSourceError, MicSource
        hub, loop = self.hub, self.hub.loop
        src = self._mic = self._mic_source or MicSource(device=self.options.mic_device).start()
        session = hub.new_session(MIC_SESSION)
        hub.start_audio(session, P.AudioFormat(src.sample_rate, "f32le", 1))

        def pump() -> None:
            try:
                while not self._mic_stop.is_set() and (block := src.read(timeout=0.1)) is not None:
                    if len(block):
                        loop.call_soon_threadsafe(hub.push_audio, session, src.sample_rate, block)
            except AudioSourceError as e:
                log.error("microphone: %s", e)

        self._mic_stop = threading.Event()
        self._mic_thread = threading.Thread(target=pump, name="facestream-mic", daemon=True)
        self._mic_thread.start()


def head_bin(head) -> bytes:
    """The head for the browser: u32 length of a JSON header, the JSON (padded to 4 bytes),
    then float32 V x 3 rest vertices, uint32 F x 3 triangles, uint8 V material ids (padded),
    float32 V x 4 feature numbers (brows, lashes, neck fade: viewer/features.py). The JSON's
    `features` carries their column names and what paints them (`glsl`, `brow_colour`,
    `lash_colour`), so the page draws them as the renderer does without a copy of either.
    The in-browser page (exporters/web.py) reads the same file."""
    import numpy as np

    from ..engine.head import MATERIALS
    from ..viewer import features as feat
    h = head
    meta = json.dumps({"name": h.name, "num_vertices": int(h.num_vertices),
                       "num_faces": int(h.faces.shape[0]),
                       "materials": list(MATERIALS),
                       "features": {"names": list(feat.FEATURE_NAMES),
                                    "glsl": feat.FEATURE_GLSL,
                                    "brow_colour": list(feat.BROW_COLOUR),
                                    "lash_colour": list(feat.LASH_COLOUR)}}).encode()
    meta += b" " * (-len(meta) % 4)
    mat = (h.vertex_material if h.vertex_material is not None
           else np.zeros(h.num_vertices)).astype(np.uint8).tobytes()
    mat += b"\0" * (-len(mat) % 4)
    return b"".join((struct.pack("<I", len(meta)), meta, h.template.astype("<f4").tobytes(),
                     h.faces.astype("<u4").tobytes(), mat,
                     feat.feature_attributes(h).astype("<f4").tobytes()))


def _response(status: int, body: bytes, ctype: str):
    from websockets.datastructures import Headers
    from websockets.http11 import Response
    reasons = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("Connection", "close")])
    return Response(status, reasons.get(status, ""), headers, body)


def _static(name: str) -> bytes | None:
    if not name or "/" in name or name.startswith("."):
        return None
    f = resources.files("facestream.server") / "static" / name
    return f.read_bytes() if f.is_file() else None


async def run_server(engine, options: ServerOptions, ready=None) -> None:
    """Serve until cancelled; `ready(server)` is called once it listens."""
    server = Server(engine, options)
    await server.start()
    if ready:
        ready(server)
    try:
        await asyncio.Future()
    finally:
        await server.stop()


class ServerThread:
    """A server on its own event loop in a background thread (tests, benchmarks, embedding):

        with ServerThread(engine, ServerOptions(port=0)) as st:
            url = st.url  # ws://127.0.0.1:PORT/ws
    """

    def __init__(self, engine, options: ServerOptions | None = None, **server_kw):
        import threading
        self.server = Server(engine, options or ServerOptions(port=0), **server_kw)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="facestream-server",
                                        daemon=True)

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def call(self, fn, *args):
        """Run fn(*args) on the server's loop and return its result (to read hub state)."""
        async def run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)
