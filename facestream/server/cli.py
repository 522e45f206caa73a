"""`facestream serve` and `facestream listen` (registered by facestream/cli.py)."""
from __future__ import annotations

from .. import vocab
from ..engine.options import add_engine_arguments, open_engine


def add_vmc_arguments(p) -> None:
    """--vmc and --vmc-names (serve and live)."""
    from .vmc import DEFAULT_PORT, NAME_STYLES
    p.add_argument("--vmc", metavar="HOST:PORT", help="also send every frame over the VMC "
                   "protocol (OSC/UDP: VSeeFace, VNyan, Warudo, ...) to HOST:PORT, e.g. "
                   f"127.0.0.1:{DEFAULT_PORT}; with several sessions one drives the avatar")
    p.add_argument("--vmc-names", default="perfect-sync", choices=NAME_STYLES,
                   help="blendshape names sent: Perfect Sync clip names (JawOpen) or ARKit's (jawOpen)")


def open_vmc(args, engine=None):
    """The VMCSender for --vmc, or None; bad HOST:PORT or a missing python-osc raise here,
    before anything starts."""
    if not getattr(args, "vmc", None):
        return None
    from .vmc import VMCSender
    joints = engine.head.joints if engine is not None else None
    return VMCSender(args.vmc, names=args.vmc_names, joints=joints)


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="websocket server: audio in, face frames out (see "
                       "docs/protocol.md)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (non-loopback needs --token)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", help="shared secret every request must carry (?token= or "
                   "Authorization: Bearer)")
    p.add_argument("--max-sessions", type=int, default=16, help="puppeteer sessions at once")
    p.add_argument("--max-clients", type=int, default=256, help="connections at once")
    p.add_argument("--queue-frames", type=int, default=30,
                   help="frames buffered per client before its oldest is dropped")
    p.add_argument("--allow-origin", action="append", default=[],
                   help="browser Origin allowed besides the server's own page (repeat; * = any)")
    p.add_argument("--mic", action="store_true", help="a session 'mic' fed by this machine's "
                   "microphone (clients join with ?session=mic)")
    p.add_argument("--mic-device", help="input device name or index for --mic")
    p.add_argument("--fps", type=int, default=vocab.DEFAULT_FPS, choices=vocab.OUTPUT_FPS)
    add_engine_arguments(p)
    p.add_argument("--livelink", metavar="HOST:PORT", help="also send every frame of every "
                   "session as Live Link Face UDP packets (Unreal) to HOST:PORT")
    add_vmc_arguments(p)
    from ..engine.animate import add_behaviour_arguments
    add_behaviour_arguments(p)
    p.set_defaults(func=_serve)
    from .client import add_parser as add_listen
    add_listen(sub)


def _serve(args) -> int:
    import asyncio
    import logging
    import signal
    import threading

    from ..engine.animate import behaviour_options
    from ..engine.stream import Engine
    from .app import ServerOptions, run_server
    try:
        import websockets  # noqa: F401
    except ImportError:
        raise ImportError("facestream serve needs websockets: pip install 'facestream[server]'") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    mic_device = int(args.mic_device) if args.mic_device and args.mic_device.isdigit() else args.mic_device
    opts = ServerOptions(host=args.host, port=args.port, token=args.token, fps=args.fps,
                         max_sessions=args.max_sessions, max_clients=args.max_clients,
                         queue_frames=args.queue_frames, allow_origins=tuple(args.allow_origin),
                         mic=args.mic, mic_device=mic_device, livelink=args.livelink,
                         behaviour=behaviour_options(args))
    opts.validate()
    if args.vmc:
        from .vmc import parse_address
        parse_address(args.vmc)  # fail before the model loads
    engine = open_engine(args)

    vmc = open_vmc(args, engine)

    def ready(server):
        if vmc is not None:  # before any client can connect: nothing awaits in between
            from .vmc import FrameTaps
            server.hub.livelink = FrameTaps(server.hub.livelink, vmc)
        host = args.host if ":" not in args.host else f"[{args.host}]"
        q = f"?token={args.token}" if args.token else ""
        print(f"facestream serve: ws://{host}:{server.port}/ws{q}  page: http://{host}:"
              f"{server.port}/{q}  status: http://{host}:{server.port}/status{q}  "
              f"({engine.backend.name}, {args.fps} fps, latency {engine.latency_ms:.0f} ms)",
              flush=True)
        if vmc is not None:
            print(f"VMC: sending to {args.vmc} ({args.vmc_names} names)", flush=True)

    async def serve_until_stopped() -> None:
        """run_server until Ctrl-C or SIGTERM. The handlers are ours (as `animate` installs
        its own): asyncio.run's is skipped when the parent left SIGINT ignored, as a shell
        does for a background job, and SIGTERM would otherwise kill without the shutdown."""
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        stopping = []

        def stop() -> None:
            stopping.append(True)
            for sig in signals:  # a second one gets Python's default: Ctrl-C cuts the
                loop.remove_signal_handler(sig)  # (bounded) shutdown short
            task.cancel()

        if threading.current_thread() is threading.main_thread():
            for sig in signals:
                loop.add_signal_handler(sig, stop)
        try:
            await run_server(engine, opts, ready)
        except asyncio.CancelledError:
            if not stopping:
                raise

    try:
        asyncio.run(serve_until_stopped())
    except KeyboardInterrupt:  # a second Ctrl-C cut the (bounded) shutdown short
        pass
    finally:
        if threading.current_thread() is threading.main_thread():  # a further Ctrl-C must
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # not cut the summary short
        if vmc is not None:
            vmc.close()
            s = vmc.stats()
            print(f"VMC: {s['sent']} frames sent, {s['failed']} failed, {s['dropped']} dropped, "
                  f"{s['send_ms']:.2f} ms per frame to encode and send")
    return 0
