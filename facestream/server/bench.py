"""Server benchmarks: delivery latency with many clients, and a soak with churn and abuse.

    python -m facestream.server.bench delivery --clients 1 10 50 --seconds 5
    python -m facestream.server.bench soak --seconds 60

The server runs in this process (its CPU time is this process's); the clients run in a child
process (`--child`) so their work is not counted. One puppeteer feeds audio in real time
(20 ms chunks); spectators watch its session. Delivery latency is client receipt time minus
the frame's `created` stamp (both this machine's clock).
"""
from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time

import numpy as np

from ..formats import float_to_pcm16
from . import protocol as P


def _voice(seconds: float, sr: int = 16000) -> np.ndarray:
    """A voiced, syllable-like test signal (3 syllables/s), int16."""
    t = np.arange(int(seconds * sr)) / sr
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    x = env * (0.4 * np.sin(2 * np.pi * 140 * t) + 0.2 * np.sin(2 * np.pi * 700 * t))
    return float_to_pcm16(x).astype("<i2")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _run_child(args: list[str], sample=None) -> tuple[dict, float, float]:
    """Run the clients; -> (their report, server CPU seconds, wall seconds) counted from the
    child's "start" line (audio begins) to its report. `sample()` is called about every second."""
    proc = subprocess.Popen([sys.executable, "-m", "facestream.server.bench", "--child", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    cpu0, t0 = _cpu(), time.perf_counter()
    if line.strip() != "start":
        proc.wait()
        raise RuntimeError(f"bench client failed: {proc.stderr.read()[-2000:]}")
    report = []

    def read():
        report.append(proc.stdout.read())
    import threading
    th = threading.Thread(target=read, daemon=True)
    th.start()
    while th.is_alive():
        if sample:
            sample(time.perf_counter() - t0)
        th.join(1.0)
    cpu, wall = _cpu() - cpu0, time.perf_counter() - t0
    if proc.wait():
        raise RuntimeError(f"bench client failed: {proc.stderr.read()[-2000:]}")
    return json.loads(report[0].strip().splitlines()[-1]), cpu, wall


def bench_delivery(clients=(1, 10, 50), seconds: float = 5.0, formats=("arkit", "vertices"),
                   vertex_dtype: str = "f32", engine=None) -> dict:
    """-> {N: {p50_ms, p99_ms, frames_made, frames_received, frames_sent, frames_dropped,
    server_cpu_per_s, ...}} for a puppeteer plus N spectators over `seconds` of audio."""
    from ..engine.stream import Engine
    from .app import ServerOptions, ServerThread
    engine = engine or Engine()
    results = {}
    for n in clients:
        opts = ServerOptions(port=0, max_clients=max(256, n + 8))
        with ServerThread(engine, opts) as st:
            child, cpu, wall = _run_child(["delivery", st.url, str(n), str(seconds),
                                           ",".join(formats), vertex_dtype])
            status = st.call(st.server.hub.status)
        lat = np.array(child["latencies_ms"])
        results[n] = {
            "spectators": n, "seconds": seconds, "formats": list(formats),
            "vertex_dtype": vertex_dtype,
            "p50_ms": round(float(np.percentile(lat, 50)), 2) if lat.size else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 2) if lat.size else None,
            "max_ms": round(float(lat.max()), 2) if lat.size else None,
            "frames_made": status["frames_made"], "frames_sent": status["frames_sent"],
            "frames_dropped": status["frames_dropped"],
            "frames_received": child["frames_received"], "gaps": child["gaps"],
            "mb_sent": round(status["bytes_sent"] / 2**20, 1),
            "server_cpu_per_s": round(cpu / wall, 3),
            "inference_mean_ms": status["inference"]["mean_ms"],
            "inference_mean_batch": status["inference"]["mean_batch"],
        }
    return results


def bench_soak(seconds: float = 60.0, spectators: int = 50, engine=None) -> dict:
    """A puppeteer streaming in real time with `spectators` watchers (arkit) for `seconds`,
    while another task connects and disconnects sessions and sends malformed input. Checks
    that watchers that keep up lose nothing, no session or client leaks, memory stays flat."""
    from ..engine.stream import Engine
    from .app import ServerOptions, ServerThread
    engine = engine or Engine()
    with ServerThread(engine, ServerOptions(port=0, max_message_bytes=1 << 16)) as st:
        rss = []
        child, cpu, wall = _run_child(
            ["soak", st.url, str(spectators), str(seconds)],
            sample=lambda t: rss.append((round(t, 1), st.call(st.server.hub.status)["rss_mb"])))
        t_end = time.monotonic()
        while time.monotonic() - t_end < 10:
            status = st.call(st.server.hub.status)
            if status["sessions"] == 0 and status["clients"] == 0:
                break
            time.sleep(0.1)
    warm = [r for t, r in rss if t >= min(5.0, seconds / 4)] or [r for _, r in rss]
    return {
        "seconds": seconds, "spectators": spectators, **child,
        "sessions_left": status["sessions"], "clients_left": status["clients"],
        "connections_total": status["connections_total"], "errors": status["errors"],
        "rejected": status["rejected"], "frames_dropped": status["frames_dropped"],
        "rss_mb_first": warm[0], "rss_mb_last": warm[-1], "rss_mb_max": max(warm),
        "rss_samples": rss, "server_cpu_per_s": round(cpu / wall, 3),
    }


# ---- the client side (child process) --------------------------------------------------------
def _connect(url, **kw):
    from websockets.asyncio.client import connect
    return connect(url, compression=None, max_size=1 << 26, **kw)


async def _feed(ws, seconds: float) -> None:
    await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "format": "s16le"}))
    pcm = _voice(seconds)
    t0 = time.perf_counter()
    for i in range(0, len(pcm), 320):
        await ws.send(pcm[i:i + 320].tobytes())
        await asyncio.sleep(max(0.0, t0 + (i + 320) / 16000 - time.perf_counter()))
    await ws.send(json.dumps({"type": "end"}))


async def _watch(url: str, formats, dtype: str, lat: list, counts: list) -> None:
    """Receive until the session ends; record delivery latency, count frames and seq gaps."""
    from websockets.exceptions import ConnectionClosed
    async with _connect(url) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "formats": list(formats),
                                  "vertex_dtype": dtype}))
        n = gaps = 0
        last = -1
        try:
            async for m in ws:
                if isinstance(m, str):
                    if json.loads(m).get("type") == "ended":
                        break
                    continue
                now = time.time()
                f = P.unpack_frame(m)
                lat.append(1000 * (now - f.created))
                gaps += f.seq != last + 1
                last, n = f.seq, n + 1
        except ConnectionClosed:
            pass
        counts.append((n, gaps))


async def _delivery(url: str, n: int, seconds: float, formats: str, dtype: str) -> dict:
    lat, counts = [], []
    async with _connect(url) as pup:
        sid = json.loads(await pup.recv())["session"]
        await pup.send(json.dumps({"type": "subscribe", "formats": []}))  # it never reads
        watchers = [asyncio.create_task(_watch(f"{url}?session={sid}", formats.split(","), dtype,
                                               lat, counts)) for _ in range(n)]
        await asyncio.sleep(0.5)  # let every spectator subscribe before audio starts
        print("start", flush=True)
        await _feed(pup, seconds)
        await asyncio.wait_for(asyncio.gather(*watchers), seconds + 30)
    return {"latencies_ms": lat, "frames_received": sum(c[0] for c in counts),
            "gaps": sum(c[1] for c in counts)}


async def _soak(url: str, n: int, seconds: float) -> dict:
    lat, counts = [], []
    abuse = {"cycles": 0, "errors_seen": 0}

    async def churn():
        bad = ["not json", '{"type": "dance"}', '{"type": "start", "sample_rate": 0}',
               '{"type": "end"}', b"\0\0" * 10]
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            try:
                async with _connect(url) as ws:
                    sid = json.loads(await ws.recv())["session"]
                    for m in bad:
                        await ws.send(m)
                        abuse["errors_seen"] += json.loads(await ws.recv())["type"] == "error"
                    async with _connect(f"{url}?session={sid}") as spec:
                        await spec.recv()
                    await ws.send(json.dumps({"type": "start", "sample_rate": 48000}))
                    await ws.send(np.zeros(4800, "<i2").tobytes())
                    await ws.send(b"\0" * (1 << 17))  # over max_message_bytes: closed with 1009
                    await ws.recv()
                    await ws.recv()
            except Exception:
                pass
            try:  # a client that vanishes without a close handshake
                async with _connect(url) as ws:
                    await ws.recv()
                    ws.transport.abort()
            except Exception:
                pass
            abuse["cycles"] += 1
            await asyncio.sleep(0.05)

    async with _connect(url) as pup:
        sid = json.loads(await pup.recv())["session"]
        await pup.send(json.dumps({"type": "subscribe", "formats": []}))  # it never reads
        watchers = [asyncio.create_task(_watch(f"{url}?session={sid}", ["arkit"], "f32", lat,
                                               counts)) for _ in range(n)]
        await asyncio.sleep(0.5)
        print("start", flush=True)
        c = asyncio.create_task(churn())
        await _feed(pup, seconds)
        await asyncio.wait_for(asyncio.gather(*watchers), 60)
        await c
    lat = np.array(lat)
    return {"watch_frames": sum(x[0] for x in counts), "watch_gaps": sum(x[1] for x in counts),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2), **abuse}


def _child(argv: list[str]) -> None:
    kind, url, n, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    if kind == "delivery":
        res = asyncio.run(_delivery(url, n, seconds, argv[4], argv[5]))
    else:
        res = asyncio.run(_soak(url, n, seconds))
    print(json.dumps(res))


def main(argv: list[str] | None = None) -> int:
    import argparse
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        _child(argv[1:])
        return 0
    ap = argparse.ArgumentParser(prog="python -m facestream.server.bench")
    ap.add_argument("what", choices=["delivery", "soak"])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--formats", default="arkit,vertices")
    ap.add_argument("--vertex-dtype", default="f32", choices=list(P.VERTEX_DTYPES))
    a = ap.parse_args(argv)
    if a.what == "delivery":
        res = bench_delivery(tuple(a.clients), a.seconds, tuple(a.formats.split(",")),
                             a.vertex_dtype)
    else:
        res = bench_soak(a.seconds, spectators=a.clients[-1])
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
