"""A private PulseAudio daemon with a virtual microphone fed from Python, in real time.

    with PulseServer(tmp) as pulse:          # sets PULSE_SERVER for this process's clients
        mic = PacedWriter(pulse.fifo)        # silence until something is played
        # pulse.client_env(): the environment for child processes; pulse.module: the pipe
        # source's module id (`pactl unload-module` it to pull the microphone out)
        clip_id = mic.play(int16_samples)    # mic.written[clip_id]: when its first sample went in
        ...                                  # record from the "pulse" input (sounddevice)
        mic.close()

The daemon listens on a socket in its own folder (anonymous auth) and has a pipe source
`vmic` as its default source; PulseAudio reads what we write into the pipe as it comes, so
the writer paces itself to the wall clock. Set the environment before PortAudio starts
(before `import sounddevice`), or run the recording side in a child process with `env`.
Recipe and packages: ../shared/ENVIRONMENT.md, scripts/install_data_deps.sh (pulseaudio,
pulseaudio-utils, libasound2-plugins).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

RATE = 16_000  # the virtual source's sample rate
BLOCK = 160  # samples per write: 10 ms


def pulse_missing() -> str | None:
    """Why a virtual microphone cannot be made here, or None."""
    for tool in ("pulseaudio", "pactl"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (make data-deps installs pulseaudio)"
    return None


class PulseServer:
    def __init__(self, folder: str | Path, start_timeout: float = 20.0):
        self.folder = Path(folder)
        self.socket = self.folder / "native"
        self.fifo = self.folder / "vmic.fifo"
        self.env = {"XDG_RUNTIME_DIR": str(self.folder), "PULSE_SERVER": f"unix:{self.socket}",
                    "HOME": str(self.folder)}
        self.start_timeout = start_timeout
        self.module: str | None = None  # the pipe source's module id, once loaded
        self._daemon: subprocess.Popen | None = None
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> "PulseServer":
        reason = pulse_missing()
        if reason:
            raise RuntimeError(reason)
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        self._log = open(self.folder / "pulseaudio.log", "w")
        self._daemon = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
             "--use-pid-file=no",
             f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + self.start_timeout
            while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
                if self._daemon.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "pulseaudio.log").read_text()[-400:]
                    raise RuntimeError(f"pulseaudio did not start: {log}")
                time.sleep(0.1)
            self.module = subprocess.run(
                ["pactl", "load-module", "module-pipe-source", "source_name=vmic",
                 f"file={self.fifo}", "format=s16le", f"rate={RATE}", "channels=1"],
                env=env, check=True, capture_output=True, text=True).stdout.strip()
            subprocess.run(["pactl", "set-default-source", "vmic"], env=env, check=True,
                           capture_output=True)
        except BaseException:
            self.__exit__()
            raise
        for k, v in self.env.items():
            self._saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        return self

    def client_env(self) -> dict[str, str]:
        """This process's environment plus the daemon's address: for child processes."""
        return {**os.environ, **self.env}

    def __exit__(self, *exc) -> None:
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self._daemon is not None:
            self._daemon.terminate()
            try:
                self._daemon.wait(10)
            except subprocess.TimeoutExpired:
                self._daemon.kill()
                self._daemon.wait(10)
            self._daemon = None
            self._log.close()


class PacedWriter:
    """Writes s16le into the pipe source, BLOCK samples every BLOCK/RATE seconds: the played
    clips in order, else silence. Every clip starts on a block boundary.

    Non-blocking: while nobody records, PulseAudio may leave the pipe full; silence that finds
    it full is dropped (a backlog would delay the clips), a clip's block waits for room. The
    writer stops when the daemon or its pipe source goes away."""

    def __init__(self, fifo: str | Path):
        self._fd = os.open(str(fifo), os.O_WRONLY | os.O_NONBLOCK)
        self._lock = threading.Lock()
        self._tape = np.zeros(0, np.int16)
        self._starts: list[tuple[int, int]] = []  # (samples before the clip, clip id)
        self.written: dict[int, float] = {}  # clip id -> perf_counter() when its start was written
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="facestream-vmic", daemon=True)
        self._thread.start()

    def play(self, samples: np.ndarray) -> int:
        """Queue int16 samples after what is queued; -> the clip's id."""
        with self._lock:
            pad = (-len(self._tape)) % BLOCK
            self._tape = np.concatenate([self._tape, np.zeros(pad, np.int16),
                                         np.asarray(samples, np.int16)])
            clip = len(self.written) + len(self._starts)
            self._starts.append((len(self._tape) - len(samples), clip))
            return clip

    def _run(self) -> None:
        t0, i = time.perf_counter(), 0
        while not self._stop.is_set():
            with self._lock:
                block = self._tape[:BLOCK]
            now = time.perf_counter()
            try:  # BLOCK * 2 bytes < PIPE_BUF: the write is all or nothing
                os.write(self._fd, np.pad(block, (0, BLOCK - len(block))).tobytes())
            except BlockingIOError:
                block = None
            except OSError:  # the daemon or the pipe source is gone
                return
            if block is not None:
                with self._lock:
                    self._tape = self._tape[len(block):]
                    due = [c for pos, c in self._starts if pos < len(block)]
                    self._starts = [(pos - len(block), c) for pos, c in self._starts
                                    if pos >= len(block)]
                for c in due:
                    self.written[c] = now
            i += 1
            time.sleep(max(0.0, t0 + i * BLOCK / RATE - time.perf_counter()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self._fd)
