"""The live session behind `facestream live`: audio source -> engine -> the newest frame.

Threads (nothing here touches OpenGL; live.py draws):
- The session thread (`LiveSession.run`) is the only one that touches the `Stream`: it reads
  blocks from the source, feeds and decodes them, computes the newest frame's vertices and
  publishes them as one tuple (`latest`, replaced by a single assignment, so a reader always
  sees a complete one). Controls from the UI (emotion, intensity, smoothing, recording) are
  queued as commands and applied here between blocks.
- The UI thread calls the control methods (they only enqueue or flip a flag) and reads
  `latest` and the HUD fields. It never waits for the engine: a slow engine shows an older
  frame, a slow window skips frames; the audio keeps flowing either way.
- Audio callbacks (MicSource's, the Speaker's) only copy blocks through bounded queues.
A recording (R) keeps the audio the engine heard (after mute) and the frames it produced;
on stop it writes a WAV and a frames .npz, then renders the mp4 in a child process
(`facestream render --frames`) so neither the window nor the engine waits for the encoder.
"""
from __future__ import annotations

import math
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from .. import vocab
from ..engine.stream import Engine, Frame
from . import face

INTENSITY_STEP = 0.1
TRANSITION_S = 0.3  # emotion and intensity changes blend over this long
LEVEL_FLOOR_DB = -60.0
COMPUTE_WINDOW = 300  # chunks kept for the compute-time statistics
SPEAKER_QUEUE_BLOCKS = 50


class Speaker:
    """File playback on the default output device. `open` returns None when there is none
    (no PortAudio, no device): playing is a courtesy, never a reason to fail."""

    def __init__(self, sample_rate: int, channels: int):
        import sounddevice as sd
        sd.query_devices(kind="output")  # raises when there is no output device
        self._queue: queue.Queue = queue.Queue(maxsize=SPEAKER_QUEUE_BLOCKS)
        self._buf = np.zeros((0, channels), np.float32)
        self._stream = sd.OutputStream(samplerate=sample_rate, channels=channels,
                                       dtype="float32", callback=self._callback)
        self._stream.start()

    @classmethod
    def open(cls, sample_rate: int, channels: int) -> "Speaker | None":
        try:
            return cls(sample_rate, channels)
        except Exception:  # ImportError, OSError (no PortAudio), PortAudioError, no device
            return None

    def _callback(self, outdata, frames, time_info, status) -> None:
        # PortAudio's thread: copy queued samples out, silence when none arrived in time
        while len(self._buf) < frames:
            try:
                self._buf = np.concatenate([self._buf, self._queue.get_nowait()])
            except queue.Empty:
                break
        n = min(frames, len(self._buf))
        outdata[:n] = self._buf[:n]
        outdata[n:] = 0.0
        self._buf = self._buf[n:]

    def write(self, block: np.ndarray) -> None:
        try:
            self._queue.put_nowait(block.copy())
        except queue.Full:  # the device stalled: drop rather than fall behind
            pass

    def close(self) -> None:
        try:
            self._stream.abort(ignore_errors=True)
            self._stream.close(ignore_errors=True)
        except Exception:  # a device that vanished may fail either call; it is gone anyway
            pass


class Recording:
    """Audio (mono, source rate) and frames from one R press to the next."""

    def __init__(self, start_s: float, fps: int, sample_rate: int):
        self.fps, self.sr = fps, sample_rate
        self.first = math.ceil(start_s * fps - 1e-9)  # first output frame inside the recording
        self.skip = int(round((self.first / fps - start_s) * sample_rate))  # samples before it
        self.audio: list[np.ndarray] = []
        self.frames: list[Frame] = []
        self.started = time.monotonic()

    def add(self, audio: np.ndarray, frames: list[Frame]) -> None:
        self.audio.append(audio)
        self.frames += [f for f in frames if f.seq >= self.first]

    def save(self, directory: Path, head_name: str) -> dict[str, Path] | None:
        """Write <stem>.wav and <stem>.npz with the video's frames and exactly its audio."""
        from ..engine.animate import write_frames
        from ..formats import write_wav
        audio = np.concatenate(self.audio)[self.skip:] if self.audio else np.zeros(0, np.float32)
        n = min(len(self.frames), int(len(audio) / self.sr * self.fps))
        if n == 0:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        stem = directory / time.strftime("live-%Y%m%d-%H%M%S")
        paths = {"wav": stem.with_suffix(".wav"), "npz": stem.with_suffix(".npz"),
                 "mp4": stem.with_suffix(".mp4")}
        write_wav(paths["wav"], audio[:int(round(n / self.fps * self.sr))], self.sr)
        write_frames(self.frames[:n], paths["npz"], self.fps, head_name)
        return paths


class LiveSession:
    """Runs the engine on its own thread over an audio source (see the module docstring).

    source: a sources.MicSource/FileSource/PushSource (anything with `read(timeout)` and
    `sample_rate`); speaker: a Speaker to play the input on, or None."""

    def __init__(self, engine: Engine, source, *, fps: int = vocab.DEFAULT_FPS,
                 emotion: str = "neutral", intensity: float | str = 0.5,
                 smoothing: bool = False, speaker: Speaker | None = None,
                 record_dir: str | Path = "out/recordings", head_path: str | None = None,
                 render_size: int = 512, behaviour=None, taps=()):
        """behaviour: the stream's BehaviourOptions (or a dict of them; None: defaults);
        taps: outputs given every frame on the session thread (`send(frame)` must not block,
        e.g. server.vmc.VMCSender)."""
        self.engine, self.source, self.speaker = engine, source, speaker
        self.taps = list(taps)
        self.fps = fps
        self.record_dir, self.head_path, self.render_size = Path(record_dir), head_path, render_size
        self.auto = intensity == "auto"
        self.intensity = 0.5 if self.auto else float(intensity)
        self.emotion = vocab.EMOTION_NAMES[vocab.emotion_index(emotion)]
        self.smoothing, self.muted = smoothing, False
        self.stream = engine.create_stream(fps=fps, emotion=self.emotion,
                                           intensity="auto" if self.auto else self.intensity,
                                           smoothing=smoothing, behaviour=behaviour)
        self.latest: tuple[Frame, np.ndarray] | None = None
        self.level_db = LEVEL_FLOOR_DB
        self.compute_ms: deque[float] = deque(maxlen=COMPUTE_WINDOW)
        self.block_ms = 0.0
        self.frames_out = 0
        self.fed_s = 0.0  # seconds of audio fed to the engine
        self.recording: Recording | None = None
        self.saved: list[dict[str, Path]] = []
        self.renders: list[subprocess.Popen] = []
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="facestream-live-engine", daemon=True)

    # ---- controls: any thread; they only enqueue work for the session thread ------------------
    def set_emotion(self, emotion: str) -> None:
        self.emotion = name = vocab.EMOTION_NAMES[vocab.emotion_index(emotion)]
        self._commands.put(lambda s: s.set_emotion(name, None, transition=TRANSITION_S))

    def change_intensity(self, delta: float) -> None:
        """Up/Down: leaves auto intensity, starting from the value auto had reached."""
        if self.auto and self.latest is not None:
            self.intensity = self.latest[0].intensity
        self.auto = False
        self.intensity = float(np.clip(round(self.intensity + delta, 2), 0.0, 1.0))
        name, value = self.emotion, self.intensity
        self._commands.put(lambda s: s.set_emotion(name, value, transition=TRANSITION_S))

    def toggle_auto(self) -> None:
        self.auto = not self.auto
        name, value = self.emotion, "auto" if self.auto else self.intensity
        self._commands.put(lambda s: s.set_emotion(name, value, transition=TRANSITION_S))

    def toggle_smoothing(self) -> None:
        self.smoothing = not self.smoothing
        value = self.smoothing
        self._commands.put(lambda s: setattr(s, "smoothing", value))

    def toggle_mute(self) -> None:
        self.muted = not self.muted

    def toggle_recording(self) -> None:
        self._commands.put(lambda s: self._toggle_recording())

    # ---- the session thread -----------------------------------------------------------------
    def start(self) -> "LiveSession":
        self._thread.start()
        return self

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self._apply_commands()
                block = self.source.read(timeout=0.05)
                if block is None:
                    self.stream.input_finished()
                    self._publish(self.engine.decode_stream(self.stream))
                    break
                if len(block):
                    self._feed(block)
            self._apply_commands()
            if self.recording is not None:
                self._toggle_recording()
        except BaseException as e:  # reported by the UI thread, which then quits
            self.error = e
        finally:
            self.ended.set()

    def _apply_commands(self) -> None:
        while True:
            try:
                self._commands.get_nowait()(self.stream)
            except queue.Empty:
                return

    def _feed(self, block: np.ndarray) -> None:
        sr = self.source.sample_rate
        if self.speaker is not None:
            self.speaker.write(block)
        mono = block.mean(axis=1) if block.ndim == 2 else block.astype(np.float32)
        if self.muted:
            mono = np.zeros_like(mono)
        rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) if len(mono) else 0.0
        self.level_db = max(LEVEL_FLOOR_DB, 20 * math.log10(max(rms, 1e-9)))
        t = time.perf_counter()
        self.stream.accept_waveform(sr, mono)
        frames = self.engine.decode_stream(self.stream)
        self.compute_ms.append(1e3 * (time.perf_counter() - t))
        self.block_ms = 1e3 * len(mono) / sr
        self.fed_s += len(mono) / sr
        if self.recording is not None:
            self.recording.add(mono, frames)
        self._publish(frames)

    def _publish(self, frames: list[Frame]) -> None:
        for tap in self.taps:
            for f in frames:
                tap.send(f)
        if frames:
            self.frames_out += len(frames)
            f = frames[-1]  # only the newest is drawn: older ones in a burst are skipped
            self.latest = (f, face.frame_vertices(self.engine, f))

    def _toggle_recording(self) -> None:
        if self.recording is None:
            self.recording = Recording(self.fed_s, self.fps, self.source.sample_rate)
            return
        rec, self.recording = self.recording, None
        paths = rec.save(self.record_dir, self.engine.head.name)
        if paths is None:
            return
        self.saved.append(paths)
        cmd = [sys.executable, "-m", "facestream", "render", str(paths["wav"]), "-o",
               str(paths["mp4"]), "--frames", str(paths["npz"]), "--size", str(self.render_size),
               "--quiet"]
        if self.head_path:
            cmd += ["--head", str(self.head_path)]
        self.renders.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (saving a recording in progress) and close source and speaker."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for thing in (self.source, self.speaker):
            if thing is not None:
                thing.close()

    def wait_renders(self, timeout: float = 300.0) -> list[int]:
        """Wait for the recordings' mp4 renders; -> their exit codes."""
        return [p.wait(timeout) for p in self.renders]

    # ---- for the HUD and the report ----------------------------------------------------------
    def compute_stats(self) -> dict[str, float]:
        c = np.array(self.compute_ms or [0.0])
        return {"median_ms": float(np.median(c)), "p99_ms": float(np.percentile(c, 99)),
                "block_ms": self.block_ms}
