"""Audio in: a microphone (sounddevice), a file (soundfile), or a queue other code pushes into.

Every source has the same reading side:

    with MicSource(device="USB", block_ms=20) as src:        # or FileSource / PushSource
        while (block := src.read(timeout=0.1)) is not None:
            stream.accept_waveform(src.sample_rate, block)   # block: S x C float32

`read(timeout)` returns the next block (S x C), an empty block (0 x C) when none arrived within
`timeout`, and None once the source has ended (file exhausted, push source closed, microphone
closed). A microphone that dies raises `AudioSourceError` from `read` instead of going quiet.

Threading model:
- MicSource: PortAudio calls `_callback` on its own real-time thread. The callback copies the
  block (`indata.copy()`), puts it in a bounded queue and counts overflows; nothing else (no
  numpy work, no I/O, no locks of ours). When the queue is full the oldest block is dropped so
  a slow consumer costs audio, never memory or latency. `read` runs on the consumer's thread
  and is the only place that notices a dead device: no callback for `stall_timeout` seconds,
  an inactive stream, or a PortAudio error. Closing aborts the stream (stop() would wait for
  buffers that a vanished device never fills) on a helper thread joined with a timeout.
- FileSource: no threads; `read` sleeps on the caller's thread until a block is due when
  `realtime=True`.
- PushSource: `push` may be called from any number of threads; `read` from one consumer.
  Same bounded queue and drop-oldest policy as the microphone.
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import numpy as np

MIC_EXTRA = "pip install 'facestream[mic]'"
PORTAUDIO_FIX = "apt install libportaudio2"


class AudioSourceError(RuntimeError):
    """The audio source cannot deliver audio (missing library, no device, device gone)."""


def _sounddevice():
    """Import sounddevice here, not at package import: it loads PortAudio."""
    try:
        import sounddevice as sd
    except ImportError as e:
        raise AudioSourceError(f"microphone input needs sounddevice: {MIC_EXTRA}") from e
    except OSError as e:  # the Linux wheel does not bundle the PortAudio library
        raise AudioSourceError(f"PortAudio library not found ({e}): {PORTAUDIO_FIX}") from e
    return sd


def list_input_devices() -> list[dict]:
    """Input devices PortAudio sees: [{index, name, channels, default_samplerate, hostapi,
    is_default}]. Raises AudioSourceError when sounddevice or PortAudio is missing."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError as e:
        raise AudioSourceError(f"PortAudio could not list devices: {e}") from e
    if default_in is None or default_in < 0:  # sounddevice's "no default": ask each host API
        defaults = {h.get("default_input_device", -1) for h in hostapis}
    else:
        defaults = {default_in}
    return [{"index": int(d["index"]), "name": d["name"], "channels": int(d["max_input_channels"]),
             "default_samplerate": float(d["default_samplerate"]),
             "hostapi": hostapis[d["hostapi"]]["name"], "is_default": d["index"] in defaults}
            for d in devices if d["max_input_channels"] > 0]


def find_input_device(device: int | str | None) -> dict:
    """An input device by index, by a case-insensitive name substring, or the default (None)."""
    devices = list_input_devices()
    if not devices:
        raise AudioSourceError("no audio input devices found: connect a microphone (or start "
                               "PulseAudio) and check `facestream devices`")
    names = "; ".join(f"[{d['index']}] {d['name']}" for d in devices)
    if device is None:
        match = [d for d in devices if d["is_default"]] or devices[:1]
    elif isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        match = [d for d in devices if d["index"] == int(device)]
        if not match:
            raise AudioSourceError(f"no input device with index {int(device)}; inputs: {names}")
    else:
        match = [d for d in devices if device.lower() in d["name"].lower()]
        exact = [d for d in match if d["name"].lower() == device.lower()]
        match = exact or match
        if not match:
            raise AudioSourceError(f"no input device named like {device!r}; inputs: {names}")
        if len(match) > 1:
            raise AudioSourceError(f"{device!r} matches several input devices ("
                                   + "; ".join(f"[{d['index']}] {d['name']}" for d in match)
                                   + "): give an index or a longer name")
    return match[0]


MIC_BLOCK_MS = 10.0  # microphone block: each 10 ms of block adds 5 ms of latency on average


def _block_frames(sample_rate: int, block_ms: float) -> int:
    if not 1.0 <= block_ms <= 1000.0:
        raise ValueError(f"block_ms must be within 1..1000 ms, got {block_ms}")
    return max(1, int(round(sample_rate * block_ms / 1000.0)))


class _BoundedQueue:
    """A bounded block queue that drops the oldest block when full and counts the drops."""

    def __init__(self, max_blocks: int):
        if max_blocks < 1:
            raise ValueError(f"the queue must hold at least one block, got {max_blocks}")
        self.q: queue.Queue = queue.Queue(maxsize=max_blocks)
        self.dropped = 0

    def put(self, block) -> None:
        """Never blocks. Safe from one producer thread; PushSource serialises its producers."""
        while True:
            try:
                self.q.put_nowait(block)
                return
            except queue.Full:
                try:
                    self.q.get_nowait()
                    self.dropped += 1
                except queue.Empty:  # the consumer emptied it meanwhile
                    pass

    def get(self, timeout: float):
        """-> a block, or None after `timeout` seconds without one."""
        try:
            return self.q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None


class _Source:
    """What every source shares (given its `read` and `close`): iteration over non-empty
    blocks, use as a context manager."""

    def __iter__(self):
        while (block := self.read()) is not None:
            if len(block):
                yield block

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _preferred_rate(device: dict, channels: int) -> int:
    """16 kHz when PortAudio accepts it for this device, else the device's default rate.
    Asking a sound server (PulseAudio, PipeWire) for the model's rate lets it resample once;
    through the virtual microphone this took the benchmark's onset-to-frame delay from ~62 ms
    (44.1 kHz, resampled again by the engine) to ~23 ms."""
    from .. import vocab
    sd = _sounddevice()
    try:
        sd.check_input_settings(device=device["index"], samplerate=vocab.SAMPLE_RATE,
                                channels=channels, dtype="float32")
        return vocab.SAMPLE_RATE
    except Exception:  # PortAudioError / ValueError: not supported; a stand-in without the call
        return int(device["default_samplerate"])


class MicSource(_Source):
    """A microphone through sounddevice/PortAudio.

    device: index, name substring, or None for the default input; sample_rate: None for the
    model's 16 kHz when the device (or the sound server behind it) offers it, else the
    device's default (the engine then resamples; `_preferred_rate`); block_ms: PortAudio block length; channels: 1 unless the caller wants
    to downmix itself; max_blocks: queue bound (2 s of 10 ms blocks by default);
    stall_timeout: seconds without a callback before the device counts as gone;
    start_timeout: the same for the first callback (devices can take a moment to start).
    """

    def __init__(self, device: int | str | None = None, sample_rate: int | None = None,
                 block_ms: float = MIC_BLOCK_MS, channels: int = 1, max_blocks: int = 200,
                 stall_timeout: float = 2.0, start_timeout: float = 5.0):
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        if stall_timeout <= 0 or start_timeout <= 0:
            raise ValueError("stall_timeout and start_timeout must be positive seconds")
        self.device = find_input_device(device)
        if channels > self.device["channels"]:
            raise AudioSourceError(f"[{self.device['index']}] {self.device['name']} has "
                                   f"{self.device['channels']} input channels, {channels} asked")
        self.sample_rate = int(sample_rate or _preferred_rate(self.device, channels))
        self.block_frames = _block_frames(self.sample_rate, block_ms)
        self.channels = channels
        self.stall_timeout, self.start_timeout = stall_timeout, start_timeout
        self._queue = _BoundedQueue(max_blocks)
        self._status_overflows = 0  # PortAudio's input-overflow flag (audio lost before us)
        self._last_callback: float | None = None
        self._opened_at = 0.0
        self._stream = None
        self._finished = threading.Event()  # PortAudio says the stream ended
        self._closed = False
        self.frames_read = 0  # samples per channel handed to the consumer

    @property
    def name(self) -> str:
        return f"[{self.device['index']}] {self.device['name']}"

    @property
    def overflows(self) -> int:
        """Blocks lost: dropped from our full queue plus PortAudio input overflows."""
        return self._queue.dropped + self._status_overflows

    def _callback(self, indata, frames, time_info, status) -> None:
        # PortAudio's real-time thread: copy, enqueue, count. Nothing else.
        self._last_callback = time.monotonic()
        if status.input_overflow:
            self._status_overflows += 1
        self._queue.put(indata.copy())

    def start(self) -> "MicSource":
        sd = _sounddevice()
        try:
            self._stream = sd.InputStream(
                device=self.device["index"], samplerate=self.sample_rate,
                blocksize=self.block_frames, channels=self.channels, dtype="float32",
                latency="low", callback=self._callback, finished_callback=self._finished.set)
            self._opened_at = time.monotonic()
            self._stream.start()
        except sd.PortAudioError as e:
            self.close()
            raise AudioSourceError(f"cannot open input {self.name} at {self.sample_rate} Hz, "
                                   f"{self.channels} ch: {e}. Check `facestream devices` and try "
                                   "another --device or --sample-rate") from e
        return self

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        """-> next block (S x C float32), an empty block after `timeout` s, None once closed.
        Raises AudioSourceError when the device has stopped delivering audio."""
        if self._closed:
            return None
        if self._stream is None:
            raise RuntimeError("MicSource.read before start(): use it as a context manager")
        block = self._queue.get(timeout)
        if block is not None:
            self.frames_read += len(block)
            return block
        stream = self._stream
        if stream is None:  # closed from another thread while we waited
            return None
        self._check_alive(stream)
        return np.zeros((0, self.channels), np.float32)

    def _check_alive(self, stream) -> None:
        now = time.monotonic()
        fix = "check that it is still connected (`facestream devices`) and start again"
        if self._finished.is_set() or not stream.active:
            raise AudioSourceError(f"the input stream of {self.name} stopped (device removed or "
                                   f"its driver failed): {fix}")
        if self._last_callback is None:
            if now - self._opened_at > self.start_timeout:
                raise AudioSourceError(f"{self.name} delivered no audio within "
                                       f"{self.start_timeout:.1f} s of opening: the device is "
                                       f"busy, muted at driver level or not a capture "
                                       f"device; {fix}")
        elif now - self._last_callback > self.stall_timeout:
            raise AudioSourceError(f"{self.name} stopped delivering audio (nothing for "
                                   f"{now - self._last_callback:.1f} s): the device vanished or "
                                   f"hung; {fix}")

    def close(self, timeout: float = 2.0) -> None:
        """Abort and close the stream; returns within `timeout` even if PortAudio hangs."""
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is None:
            return

        def shut():
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception:  # a vanished device may fail either call; it is gone anyway
                pass
        t = threading.Thread(target=shut, name="facestream-mic-close", daemon=True)
        t.start()
        t.join(timeout)

    def __enter__(self) -> "MicSource":
        return self.start()


class FileSource(_Source):
    """An audio file (anything soundfile reads) in blocks of `block_ms`, as fast as the caller
    reads (realtime=False) or paced to the wall clock (realtime=True)."""

    def __init__(self, path: str | Path, block_ms: float = 20.0, realtime: bool = False):
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"audio file not found: {path}")
        _block_frames(1000, block_ms)  # validates block_ms before the file is opened
        try:
            import soundfile as sf
        except (ImportError, OSError) as e:
            raise AudioSourceError("reading audio files needs soundfile: "
                                   "pip install soundfile") from e
        try:
            self._file = sf.SoundFile(str(path))
        except Exception as e:
            raise ValueError(f"cannot read {path} as audio ({e}): give a WAV/FLAC/OGG file") from e
        self.path = path
        self.sample_rate = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        self.frames = int(self._file.frames)  # samples per channel in the file
        self.block_frames = _block_frames(self.sample_rate, block_ms)
        self.realtime = realtime
        self.frames_read = 0
        self._t0: float | None = None
        self._closed = False

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def read(self, timeout: float | None = None) -> np.ndarray | None:
        """-> next block (S x C float32; the last may be shorter), an empty block if paced and
        not due within `timeout`, None at the end of the file."""
        if self._closed or self.frames_read >= self.frames:
            return None
        if self.realtime:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            # a block is due when its last sample would have been spoken, as from a microphone
            end = min(self.frames_read + self.block_frames, self.frames)
            due = self._t0 + end / self.sample_rate
            if due > now:
                if timeout is not None and due - now > timeout:
                    time.sleep(max(0.0, timeout))
                    return np.zeros((0, self.channels), np.float32)
                time.sleep(due - now)
        block = self._file.read(self.block_frames, dtype="float32", always_2d=True)
        self.frames_read += len(block)
        return block if len(block) else None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._file.close()


class PushSource(_Source):
    """A bounded queue that other code (a websocket handler, a test) pushes audio into.

    Blocks are kept as pushed (int16 or float, S or S x C) and read out unchanged; when
    `max_blocks` are waiting the oldest is dropped and counted in `overflows`."""

    def __init__(self, sample_rate: int, max_blocks: int = 100):
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        self._queue = _BoundedQueue(max_blocks)
        self._lock = threading.Lock()  # serialises producers (drop-oldest is two queue calls)
        self._ended = threading.Event()

    @property
    def overflows(self) -> int:
        return self._queue.dropped

    def push(self, samples) -> None:
        """Queue a block (copied). Never blocks; raises once the source is closed."""
        x = np.array(samples, copy=True)
        if x.ndim not in (1, 2):
            raise ValueError(f"push (samples,) or (samples, channels) arrays; got shape {x.shape}")
        if self._ended.is_set():
            raise RuntimeError("push() after close(): create a new PushSource")
        with self._lock:
            self._queue.put(x)

    def close(self) -> None:
        """No more audio; `read` returns what is queued, then None."""
        self._ended.set()

    def read(self, timeout: float = 0.1) -> np.ndarray | None:
        """-> the oldest queued block, an empty block after `timeout` s, None once closed and
        drained."""
        block = self._queue.get(0.0 if self._ended.is_set() else timeout)
        if block is None and self._ended.is_set():
            block = self._queue.get(0.0)  # a push that raced with close()
            if block is None:
                return None
        return np.zeros(0, np.float32) if block is None else block


def add_parser(sub) -> None:
    p = sub.add_parser("devices", help="list audio input devices (microphones)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_devices)


def _cmd_devices(args) -> int:
    import json
    devices = list_input_devices()
    if args.json:
        print(json.dumps(devices, indent=2))
    elif not devices:
        print("no audio input devices found: connect a microphone (on Linux, check that ALSA "
              "or PulseAudio sees it: `arecord -l`, `pactl list sources short`)")
    else:
        print("audio input devices (* default; use the index or a name with --device):")
        for d in devices:
            print(f"{'*' if d['is_default'] else ' '} [{d['index']}] {d['name']} "
                  f"({d['channels']} ch, {d['default_samplerate']:g} Hz, {d['hostapi']})")
    return 0 if devices else 1
