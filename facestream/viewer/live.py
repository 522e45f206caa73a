"""`facestream live`: talk to the face. Microphone (or a file played in real time) -> engine
on its own thread (session.py) -> a pyglet window that always draws the newest frame.

    facestream live                                   # default microphone
    facestream live --device USB --emotion happy --intensity 0.7
    facestream live --input facestream/assets/example_speech.flac   # no microphone needed
    xvfb-run -a facestream live --input speech.wav --duration 5     # no screen

Keys: 1-7 emotion (vocab.EMOTION_NAMES order), Up/Down intensity, A auto intensity,
S smoothing, M mute, R start/stop recording (WAV + frames .npz + mp4 in --record-dir), Esc
quits. Drag to orbit, scroll to zoom. The window thread only draws: the Renderer draws the
face offscreen (the same renderer `facestream render` uses) and then that image over the
window at its framebuffer size, then pyglet draws the HUD over it. A GL error while drawing
the face stops the viewer with what to do (a black window is never silent); one left by the
HUD is logged once.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from .. import vocab
from ..engine.animate import add_behaviour_arguments, behaviour_options
from ..engine.options import add_engine_arguments, open_engine

HUD_HZ = 10  # HUD text relayouts per second (pyglet's layout is not free)
SOFTWARE_GL = ("llvmpipe", "softpipe", "swiftshader", "software")
DEFAULT_SAMPLES = 4  # multisampling on a GPU; none on a software renderer (see LiveWindow)
LINGER_S = 0.5  # after the input file ends, keep the last frame up this long
log = logging.getLogger(__name__)
HELP = "1-7 emotion  Up/Down intensity  A auto  S smooth  M mute  R record  Esc quit"


def _pyglet():
    """pyglet and its key table, or a clear error when there is no display."""
    try:
        import pyglet
    except ImportError as e:
        raise ImportError("the live viewer needs pyglet: pip install 'facestream[viewer]'") from e
    pyglet.options["debug_gl"] = False  # moderngl's state checks would trip pyglet's
    try:
        from pyglet.window import key
    except Exception as e:  # pyglet opens the display on import: NoSuchDisplayException
        raise RuntimeError(f"no display to open a window on ({e}): run it in a desktop "
                           "session, or headless as `xvfb-run -a facestream live ...`, or use "
                           "`facestream render` for a video") from e
    return pyglet, key


class LiveWindow:
    """The window: draws session.latest, shows the HUD, turns keys into session controls."""

    def __init__(self, session, size: int = 640, samples: int | None = None,
                 max_fps: float | None = 60.0, source_name: str = ""):
        import moderngl

        from .render import Renderer
        pyglet, key = _pyglet()
        self.pyglet, self.session, self.source_name = pyglet, session, source_name
        config = pyglet.gl.Config(double_buffer=True, depth_size=24, red_size=8, green_size=8,
                                  blue_size=8, alpha_size=8)
        self.window = pyglet.window.Window(size, size, caption="facestream live", resizable=True,
                                           config=config, vsync=False)
        try:
            self.ctx = moderngl.create_context()
        except Exception as e:  # glcontext raises a bare Exception when the display has no GLX visual
            self.window.close()
            raise RuntimeError(
                f"no OpenGL context for the window on DISPLAY={os.environ.get('DISPLAY')} ({e}). "
                "The X server offers no 24-bit GLX visual; under Xvfb give it a 24-bit screen: "
                "xvfb-run -a -s '-screen 0 1024x768x24' facestream live ...") from e
        self.gl_renderer = self.ctx.info["GL_RENDERER"]
        if samples is None:  # a software rasteriser shades every sample: 4x MSAA costs ~4x
            software = any(n in self.gl_renderer.lower() for n in SOFTWARE_GL)
            samples = 0 if software else DEFAULT_SAMPLES
        self.renderer = Renderer(session.engine.head, *self.window.get_framebuffer_size(),
                                 samples=samples, ctx=self.ctx)
        self.rest = session.engine.head.template
        self.max_fps = max_fps
        self.keys = {getattr(key, f"_{i + 1}"): i for i in range(vocab.NUM_EMOTIONS)}
        self.keys.update({getattr(key, f"NUM_{i + 1}"): i for i in range(vocab.NUM_EMOTIONS)})
        self.key = key
        self.done = False
        self.drawn = 0
        self.fps = 0.0
        self.events: list[str] = []  # keys handled, for the report (and the tests)
        self._hud_at = 0.0
        self._hud_error_logged = False
        self._build_hud()
        self.window.push_handlers(on_key_press=self.on_key_press, on_resize=self.on_resize,
                                  on_mouse_drag=self.on_mouse_drag,
                                  on_mouse_scroll=self.on_mouse_scroll, on_close=self.on_close)

    # ---- input ---------------------------------------------------------------------------------
    def on_key_press(self, symbol, modifiers):
        k, s = self.key, self.session
        actions = {k.UP: lambda: s.change_intensity(+0.1), k.DOWN: lambda: s.change_intensity(-0.1),
                   k.A: s.toggle_auto, k.S: s.toggle_smoothing, k.M: s.toggle_mute,
                   k.R: s.toggle_recording, k.ESCAPE: self.on_close}
        if symbol in self.keys:
            s.set_emotion(self.keys[symbol])
        elif symbol in actions:
            actions[symbol]()
        else:
            return None
        self.events.append(k.symbol_string(symbol))
        self._hud_at = 0.0
        return True  # handled: pyglet's default Esc handler must not run as well

    def on_close(self):
        self.done = True
        return True

    def on_resize(self, width, height):
        fw, fh = self.window.get_framebuffer_size()
        if fw > 0 and fh > 0:
            self.renderer.resize(fw, fh)
        self._place_hud()

    def on_mouse_drag(self, x, y, dx, dy, buttons, modifiers):
        cam = self.renderer.camera
        cam.yaw = (cam.yaw - 0.4 * dx) % 360
        cam.pitch = max(-80.0, min(80.0, cam.pitch - 0.4 * dy))

    def on_mouse_scroll(self, x, y, scroll_x, scroll_y):
        cam = self.renderer.camera
        cam.distance = max(0.1, cam.distance * 0.9 ** scroll_y)

    # ---- drawing -------------------------------------------------------------------------------
    def _build_hud(self):
        p = self.pyglet
        self.batch = p.graphics.Batch()
        style = dict(font_name=["DejaVu Sans Mono", "monospace"], font_size=11, color=(25, 28, 35, 255),
                     batch=self.batch)
        self.lines = [p.text.Label("", **style) for _ in range(4)]
        self.help = p.text.Label(HELP, **dict(style, font_size=9, color=(70, 75, 85, 255)))
        self.level_bg = p.shapes.Rectangle(0, 0, 120, 8, color=(200, 204, 212), batch=self.batch)
        self.level = p.shapes.Rectangle(0, 0, 0, 8, color=(60, 160, 90), batch=self.batch)
        self.rec = p.shapes.Circle(0, 0, 7, color=(210, 40, 40), batch=self.batch)
        self._place_hud()

    def _place_hud(self):
        w, h = self.window.get_size()
        for i, label in enumerate(self.lines):
            label.x, label.y = 10, h - 20 - 18 * i
        self.help.x, self.help.y = 10, 10
        self.level_bg.x, self.level_bg.y = w - 135, h - 22
        self.level.x, self.level.y = w - 135, h - 22
        self.rec.x, self.rec.y = w - 150, h - 18

    def _update_hud(self, now: float):
        if now - self._hud_at < 1.0 / HUD_HZ:
            return
        self._hud_at = now
        s = self.session
        latest = s.latest
        shown = latest[0].intensity if latest is not None else s.intensity
        inten = f"auto ({shown:.2f})" if s.auto else f"{s.intensity:.2f}"
        c = s.compute_stats()
        rec = s.recording
        self.lines[0].text = (f"emotion {s.emotion}  intensity {inten}  "
                              f"smoothing {'on' if s.smoothing else 'off'}")
        self.lines[1].text = (f"input {s.level_db:5.1f} dBFS{'  MUTED' if s.muted else ''}  "
                              f"{self.source_name}")
        self.lines[2].text = (f"{self.fps:5.1f} fps drawn  latency {s.engine.latency_ms:.0f} ms "
                              f"algorithmic + {c['median_ms']:.1f} ms compute per "
                              f"{c['block_ms']:.0f} ms chunk (p99 {c['p99_ms']:.1f})")
        status = []
        if rec is not None:
            status.append(f"REC {time.monotonic() - rec.started:5.1f} s")
        if s.saved:
            status.append(f"saved {s.saved[-1]['mp4'].name}")
        if s.ended.is_set():
            status.append("input ended")
        self.lines[3].text = "  ".join(status)
        frac = (s.level_db - (-60.0)) / 60.0
        self.level.width = 120 * max(0.0, min(1.0, frac))
        self.rec.visible = rec is not None

    def draw(self, now: float):
        latest = self.session.latest
        verts = latest[1] if latest is not None else self.rest
        self.window.switch_to()
        self.renderer.present(verts, self.ctx.screen, self.window.get_framebuffer_size())
        self._update_hud(now)
        self.batch.draw()
        err = self.ctx.error
        if err != "GL_NO_ERROR" and not self._hud_error_logged:
            self._hud_error_logged = True
            log.warning("OpenGL error %s while pyglet drew the HUD on %s (the face is drawn; "
                        "the text may not be): please report it with `facestream info`; "
                        "reported once", err, self.gl_renderer)
        self.window.flip()
        self.drawn += 1

    def run(self, duration: float | None = None, script=None) -> dict:
        """The loop: events, draw, pace to max_fps. script: [(seconds, key symbol)] pressed at
        those times through the window's own event dispatch (tests, benchmarks)."""
        script = sorted(script or [])
        t0 = time.perf_counter()
        last = None  # no interval before the first frame (from t0 it would read ~1e6 fps)
        ended_at = None
        while not self.done:
            now = time.perf_counter()
            if duration is not None and now - t0 >= duration:
                break
            while script and now - t0 >= script[0][0]:
                self.window.dispatch_event("on_key_press", script.pop(0)[1], 0)
            self.pyglet.clock.tick()
            self.window.dispatch_events()
            self.draw(now)
            if last is not None and now > last:
                dt = now - last
                self.fps = 1.0 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 / dt
            last = now
            s = self.session
            if ended_at is None and (s.error is not None or s.ended.is_set()):
                ended_at = now
            if ended_at is not None and (s.error is not None or now - ended_at > LINGER_S):
                break
            if self.max_fps:
                spare = 1.0 / self.max_fps - (time.perf_counter() - now)
                if spare > 0:
                    time.sleep(spare)
        wall = time.perf_counter() - t0
        return {"frames_drawn": self.drawn, "wall_s": wall, "fps": self.drawn / wall if wall else 0.0,
                "keys": list(self.events)}

    def close(self):
        self.renderer.release()
        self.window.close()


def open_source(input_path: str | None, device: str | None, block_ms: float = 20.0):
    """-> (source, description): a file played in real time, or a microphone."""
    from ..engine import sources
    if input_path is not None:
        if device is not None:
            raise ValueError("--device picks a microphone; --input plays a file: give one")
        src = sources.FileSource(input_path, block_ms=block_ms, realtime=True)
        return src, f"file {Path(input_path).name} ({src.duration:.1f} s)"
    src = sources.MicSource(device=device, block_ms=block_ms).start()
    return src, f"mic {src.name}"


def run_live(args, script=None) -> dict:
    """Build engine, source, session and window from parsed `facestream live` arguments; run
    until Esc, the window closes, --duration passes or the input file ends. -> statistics."""
    from .session import LiveSession, Speaker

    intensity = args.intensity if args.intensity == "auto" else float(args.intensity)
    if intensity != "auto" and not 0.0 <= intensity <= 1.0:
        raise ValueError(f"--intensity must be within [0, 1] or auto, got {args.intensity}")
    if args.duration is not None and args.duration <= 0:
        raise ValueError(f"--duration must be positive seconds, got {args.duration}")
    if args.input is not None and not Path(args.input).exists():
        raise FileNotFoundError(f"audio file not found: {args.input}")
    if getattr(args, "vmc", None):
        from ..server.vmc import parse_address
        parse_address(args.vmc)  # a bad HOST:PORT fails before the model loads
    _pyglet()  # fail on a missing display before the microphone opens
    engine = open_engine(args)
    from ..server.cli import open_vmc
    vmc = open_vmc(args, engine)
    source, name = open_source(args.input, args.device)
    speaker = None
    if args.input is not None and not args.no_playback:
        speaker = Speaker.open(source.sample_rate, source.channels)
    session = LiveSession(engine, source, fps=args.fps, emotion=args.emotion, intensity=intensity,
                          smoothing=args.smooth, speaker=speaker, record_dir=args.record_dir,
                          head_path=args.avatar or args.head, behaviour=behaviour_options(args),
                          taps=[vmc] if vmc is not None else [])
    window = None
    try:
        window = LiveWindow(session, size=args.size, samples=args.samples,
                            max_fps=args.max_fps or None,
                            source_name=name + ("" if args.input is None or speaker else
                                                " (no speakers: silent)"))
        session.start()
        stats = window.run(duration=args.duration, script=script)
    finally:
        session.stop()
        if window is not None:
            window.close()
        if vmc is not None:
            vmc.close()
    if session.error is not None:
        raise session.error
    stats.update(engine_frames=session.frames_out, compute=session.compute_stats(),
                 latency_ms=engine.latency_ms, emotion=session.emotion,
                 intensity="auto" if session.auto else session.intensity,
                 recordings=[{k: str(v) for k, v in p.items()} for p in session.saved])
    if vmc is not None:
        stats["vmc"] = vmc.stats()
    if session.renders:
        print(f"finishing {len(session.renders)} recording video(s) ...")
        stats["render_codes"] = session.wait_renders()
    return stats


def add_parser(sub) -> None:
    p = sub.add_parser("live", help="talk to the face: microphone (or --input file) -> window")
    p.add_argument("--input", help="play this audio file in real time instead of the microphone")
    p.add_argument("--device", help="microphone by index or name (see `facestream devices`)")
    p.add_argument("--emotion", default="neutral", choices=vocab.EMOTION_NAMES)
    p.add_argument("--intensity", default="0.7", help="0..1 or auto (default 0.7)")
    p.add_argument("--fps", type=int, default=vocab.DEFAULT_FPS, choices=vocab.OUTPUT_FPS,
                   help="engine frame rate")
    p.add_argument("--smooth", action="store_true", help="start with One Euro smoothing on")
    add_engine_arguments(p)
    p.add_argument("--size", type=int, default=640, help="window size in pixels (square)")
    p.add_argument("--samples", type=int, help="multisampling (antialiasing) samples (default: "
                   f"{DEFAULT_SAMPLES} on a GPU, 0 on a software renderer such as llvmpipe)")
    p.add_argument("--max-fps", type=float, default=60.0, help="draw at most this often (0: no cap)")
    p.add_argument("--record-dir", default="out/recordings", help="where R saves recordings")
    p.add_argument("--duration", type=float, help="quit after this many seconds")
    p.add_argument("--no-playback", action="store_true", help="do not play --input on speakers")
    add_behaviour_arguments(p)
    from ..server.cli import add_vmc_arguments
    add_vmc_arguments(p)
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from ..engine.sources import AudioSourceError
    try:
        stats = run_live(args)
    except AudioSourceError as e:
        raise RuntimeError(str(e)) from e
    c = stats["compute"]
    print(f"drew {stats['frames_drawn']} frames in {stats['wall_s']:.1f} s ({stats['fps']:.1f} fps); "
          f"engine made {stats['engine_frames']} frames; compute {c['median_ms']:.2f} ms median, "
          f"{c['p99_ms']:.2f} ms p99 per {c['block_ms']:.0f} ms chunk; algorithmic latency "
          f"{stats['latency_ms']:.0f} ms")
    if "vmc" in stats:
        v = stats["vmc"]
        print(f"VMC: {v['sent']} frames sent, {v['failed']} failed, {v['dropped']} dropped, "
              f"{v['send_ms']:.2f} ms per frame to encode and send (sender thread)")
    for rec in stats["recordings"]:
        print(f"recording: {rec['mp4']} (audio {rec['wav']}, frames {rec['npz']})")
    return 0
