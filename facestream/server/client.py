"""A Python client of the protocol: `facestream listen`.

    facestream listen ws://127.0.0.1:8765/ws -o frames.npz --send speech.wav   # puppeteer
    facestream listen "ws://127.0.0.1:8765/ws?session=ID" -o frames.npz        # spectator

With --send the file is streamed in real time (20 ms chunks) unless --fast, then `end` flushes
the look-ahead and the client leaves when the server reports the stream `ended`. Without it
the client watches until the session ends, --seconds pass or Ctrl-C.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import protocol as P


@dataclass
class Received:
    """What a client got: the hello, every frame message (parsed) with its receipt time, and
    every control message after the hello."""

    hello: dict | None = None
    frames: list[P.FrameMessage] = field(default_factory=list)
    received: list[float] = field(default_factory=list)  # time.time() at receipt
    control: list[dict] = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        f = self.frames
        out = {"seq": np.array([x.seq for x in f], np.int64),
               "stream": np.array([x.stream for x in f], np.int64),
               "timestamps": np.array([x.timestamp for x in f]),
               "created": np.array([x.created for x in f]),
               "received": np.array(self.received),
               "intensity": np.array([x.intensity for x in f], np.float32),
               "dropped": np.array(f[-1].dropped if f else 0)}
        if f and f[0].arkit.size:
            out["arkit"] = np.stack([x.arkit for x in f])
        if f and f[0].flame.size:
            out["flame"] = np.stack([x.flame for x in f])
        if f and f[0].vertices.size:
            out["vertices"] = np.stack([x.vertices for x in f])
        if self.hello:
            out["arkit_names"] = np.array(self.hello["arkit_names"])
            out["fps"] = np.array(self.hello["fps"])
            out["flame_layout"] = np.array(json.dumps(self.hello["flame_layout"]))
        return out


def _connect(url: str, **kw):
    from websockets.asyncio.client import connect
    return connect(url, compression=None, max_size=64 << 20, **kw)


async def listen(url: str, *, formats=("arkit", "flame"), vertex_dtype: str = "f32",
                 send: tuple[np.ndarray, int] | None = None, fast: bool = False,
                 chunk_ms: float = 20.0, seconds: float | None = None, emotion=None,
                 intensity=None) -> Received:
    """Connect, subscribe, optionally stream (samples S or S x C float32, rate) as the
    puppeteer, and collect frames until the stream ended / the session closed / `seconds`."""
    got = Received()
    async with _connect(url) as ws:
        got.hello = json.loads(await ws.recv())
        if got.hello.get("type") != "hello":
            raise RuntimeError(f"expected a hello, got {str(got.hello)[:200]}")
        await ws.send(json.dumps({"type": "subscribe", "formats": list(formats),
                                  "vertex_dtype": vertex_dtype}))
        if emotion is not None or intensity is not None:
            await ws.send(json.dumps({"type": "set_emotion", "emotion": emotion or "neutral",
                                      "intensity": intensity, "transition": 0.0}))
        done = asyncio.Event()
        sender = None
        if send is not None:
            sender = asyncio.create_task(_send_audio(ws, *send, fast=fast, chunk_ms=chunk_ms))

        async def receive():
            from websockets.exceptions import ConnectionClosed
            try:
                async for msg in ws:
                    if isinstance(msg, bytes):
                        got.frames.append(P.unpack_frame(msg))
                        got.received.append(time.time())
                        continue
                    m = json.loads(msg)
                    got.control.append(m)
                    if m.get("type") == "ended" and send is not None:
                        break
            except ConnectionClosed:
                pass
            done.set()

        rtask = asyncio.create_task(receive())
        try:
            await asyncio.wait_for(done.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        finally:
            rtask.cancel()
            if sender is not None:
                sender.cancel()
    errors = [m for m in got.control if m.get("type") == "error"]
    if send is not None and errors:
        raise RuntimeError(f"the server refused: {errors[0]['message']}")
    return got


async def _send_audio(ws, samples: np.ndarray, sr: int, *, fast: bool, chunk_ms: float) -> None:
    """`start`, PCM float32 in chunks paced at real time (or as fast as allowed), `end`."""
    ch = 1 if samples.ndim == 1 else samples.shape[1]
    await ws.send(json.dumps({"type": "start", "sample_rate": int(sr), "format": "f32le",
                              "channels": ch}))
    step = max(1, int(sr * chunk_ms / 1000))
    t0 = time.perf_counter()
    for i in range(0, len(samples), step):
        await ws.send(np.ascontiguousarray(samples[i:i + step], "<f4").tobytes())
        if not fast:
            ahead = t0 + (i + step) / sr - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
    await ws.send(json.dumps({"type": "end"}))


def add_parser(sub) -> None:
    p = sub.add_parser("listen", help="receive frames from a facestream server (optionally "
                       "sending an audio file)")
    p.add_argument("url", help="ws://HOST:PORT/ws (add ?session=ID to watch a session, "
                   "&token=... if the server has one)")
    p.add_argument("-o", "--output", required=True, help="frames .npz to write")
    p.add_argument("--send", help="an audio file to stream as this session's puppeteer")
    p.add_argument("--fast", action="store_true", help="send the file as fast as the server "
                   "takes it instead of in real time")
    p.add_argument("--formats", default="arkit,flame", help="comma list of arkit, flame, vertices")
    p.add_argument("--vertex-dtype", default="f32", choices=list(P.VERTEX_DTYPES))
    p.add_argument("--seconds", type=float, help="stop after this long")
    p.add_argument("--emotion", help="name or mixture happy:0.7,sad:0.3 (puppeteer)")
    p.add_argument("--intensity", help="0..1 or auto (puppeteer)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from ..engine.animate import parse_emotion
    from ..formats import read_audio
    send = read_audio(args.send) if args.send else None
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    intensity = None if args.intensity is None else (
        "auto" if args.intensity == "auto" else float(args.intensity))
    got = asyncio.run(listen(args.url, formats=formats, vertex_dtype=args.vertex_dtype, send=send,
                             fast=args.fast, seconds=args.seconds,
                             emotion=parse_emotion(args.emotion) if args.emotion else None,
                             intensity=intensity))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = got.arrays()
    np.savez_compressed(out, **arrays)
    lat = arrays["received"] - arrays["created"]
    extra = f", delivery p50 {1000 * np.median(lat):.1f} ms" if lat.size else ""
    print(f"{len(got.frames)} frames (session {got.hello['session']}, {got.hello['fps']} fps, "
          f"dropped {int(arrays['dropped'])}{extra}) -> {out}")
    return 0
