"""Audio sources without audio hardware: FileSource blocks and pacing (on a fake clock),
PushSource bound and overflow counting, and MicSource over a fake `sounddevice` module that
delivers, overflows, stops, dies or never starts; device selection; `facestream devices`;
`facestream animate --input mic` end to end on the fake microphone."""
import sys
import threading
import types

import numpy as np
import pytest

from facestream import cli
from facestream.engine import sources
from facestream.engine.sources import AudioSourceError, FileSource, MicSource, PushSource

sf = pytest.importorskip("soundfile", reason="FileSource reads files with soundfile")


def finishes(fn, seconds=20.0):
    """Run fn on a thread; -> (finished, result or exception). A hang shows as finished=False."""
    box = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            box["result"] = e
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), box.get("result")


# ---- a fake sounddevice --------------------------------------------------------------------
class FakeFlags:
    def __init__(self, overflow: bool):
        self.input_overflow = overflow


def fake_sounddevice(blocks=20, after="stop", overflow_every=0, interval=0.001,
                     devices=None, open_error=False, extra_rates=()):
    """A module shaped like sounddevice. Its stream calls back `blocks` times with blocks of
    rising values (block i holds i) in ONE reused buffer, as PortAudio does, then: 'stop'
    (callbacks just cease, the stream still claims to be active: an unplugged USB device),
    'die' (the stream goes inactive and finished_callback fires), 'keep' (goes on until
    stopped); 'never' makes no callback at all."""
    sd = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    sd.PortAudioError = PortAudioError
    devs = devices if devices is not None else [
        {"index": 0, "name": "Built-in Output", "hostapi": 0, "max_input_channels": 0,
         "default_samplerate": 48000.0},
        {"index": 1, "name": "USB Mic Pro", "hostapi": 0, "max_input_channels": 2,
         "default_samplerate": 16000.0},
        {"index": 2, "name": "Webcam Mic", "hostapi": 0, "max_input_channels": 1,
         "default_samplerate": 32000.0},
    ]
    sd.query_devices = lambda: list(devs)

    def check_input_settings(device, samplerate, channels, dtype):
        # a device takes its default rate, plus extra_rates (as a sound server resamples)
        if samplerate != devs[device]["default_samplerate"] and samplerate not in extra_rates:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    sd.check_input_settings = check_input_settings
    sd.query_hostapis = lambda: ({"name": "FakeAPI", "default_input_device": 1},)
    sd.default = types.SimpleNamespace(device=[1 if devs else -1, -1])
    sd.opened = []

    class InputStream:
        def __init__(self, device, samplerate, blocksize, channels, dtype, callback,
                     finished_callback, latency=None):
            if open_error:
                raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")
            self.kw = dict(device=device, samplerate=samplerate, blocksize=blocksize,
                           channels=channels, dtype=dtype)
            self.callback, self.finished_callback = callback, finished_callback
            self.active = False
            self._halt = threading.Event()
            sd.opened.append(self)

        def _run(self):
            buf = np.zeros((self.kw["blocksize"], self.kw["channels"]), np.float32)
            i = 0
            while not self._halt.is_set() and (after == "keep" or i < blocks):
                buf[:] = i
                self.callback(buf, len(buf), None,
                              FakeFlags(bool(overflow_every) and i % overflow_every == 0))
                i += 1
                self._halt.wait(interval)
            if after == "die" and not self._halt.is_set():
                self.active = False
                self.finished_callback()

        def start(self):
            self.active = True
            self.thread = threading.Thread(target=self._run, daemon=True)
            if after != "never":
                self.thread.start()

        def abort(self, ignore_errors=True):
            self._halt.set()
            self.active = False

        def close(self, ignore_errors=True):
            self.abort()

    sd.InputStream = InputStream
    return sd


@pytest.fixture
def use_sd(monkeypatch):
    def install(**kw):
        sd = fake_sounddevice(**kw)
        monkeypatch.setitem(sys.modules, "sounddevice", sd)
        return sd
    return install


# ---- MicSource ---------------------------------------------------------------------------
def test_mic_asks_for_the_models_rate_when_the_device_offers_it(use_sd):
    use_sd(extra_rates=(16000,))
    with MicSource("Webcam") as mic:  # default 32 kHz, but 16 kHz is offered
        assert mic.sample_rate == 16000 and mic.read(timeout=5.0).shape == (160, 1)
    use_sd()
    with MicSource("Webcam") as mic:  # 16 kHz refused: the device's own rate
        assert mic.sample_rate == 32000
    with MicSource("Webcam", sample_rate=32000) as mic:
        assert mic.sample_rate == 32000


def test_mic_delivers_copies_in_order_then_a_stopped_device_raises(use_sd):
    """The callback copies (PortAudio reuses its buffer); a device whose callbacks cease is
    reported as gone instead of read() waiting forever."""
    sd = use_sd(blocks=30, after="stop")
    with MicSource("usb", block_ms=10, stall_timeout=0.3) as mic:
        assert sd.opened[0].kw == dict(device=1, samplerate=16000, blocksize=160, channels=1,
                                       dtype="float32")

        got = []

        def drain():
            while True:
                block = mic.read(timeout=0.05)
                if len(block):
                    got.append(block)
        done, err = finishes(drain)
    assert done, "read() hung on a device that stopped calling back"
    assert [float(b[0, 0]) for b in got] == list(range(30))
    assert isinstance(err, AudioSourceError) and "stopped delivering audio" in str(err)
    assert "facestream devices" in str(err)
    assert mic.overflows == 0 and mic.frames_read == 30 * 160
    assert mic.read() is None  # closed


def test_mic_stream_that_dies_raises(use_sd):
    use_sd(blocks=5, after="die")
    with MicSource(block_ms=20) as mic:
        done, err = finishes(lambda: list(mic))
    assert done and isinstance(err, AudioSourceError), err
    assert "stopped (device removed" in str(err)


def test_mic_that_never_calls_back_raises(use_sd):
    use_sd(after="never")
    with MicSource(start_timeout=0.3) as mic:
        done, err = finishes(lambda: list(mic))
    assert done and isinstance(err, AudioSourceError), err
    assert "delivered no audio within 0.3 s" in str(err)


def test_mic_open_error_names_the_device_and_the_fix(use_sd):
    use_sd(open_error=True)
    with pytest.raises(AudioSourceError, match=r"cannot open input \[2\] Webcam Mic at 44100 Hz.*"
                                               r"another --device or --sample-rate"):
        MicSource("webcam", sample_rate=44100).start()


def test_mic_full_queue_drops_the_oldest_blocks_and_counts_them(use_sd):
    """A consumer that does not read: the queue stays bounded, the newest audio survives,
    every lost block is counted, and PortAudio's own overflow flags are added."""
    sd = use_sd(blocks=40, after="stop", overflow_every=10)  # flags on blocks 0, 10, 20, 30
    with MicSource(max_blocks=8, stall_timeout=5.0) as mic:
        sd.opened[0].thread.join(20)
        assert not sd.opened[0].thread.is_alive()
        kept = [mic.read(timeout=0.0) for _ in range(8)]
    assert [int(b[0, 0]) for b in kept] == list(range(32, 40))
    assert mic.overflows == 32 + 4


def test_mic_multichannel_and_channel_check(use_sd):
    use_sd(blocks=3)
    with MicSource("USB Mic Pro", channels=2, block_ms=20) as mic:
        block = mic.read(timeout=5.0)
    assert block.shape == (320, 2)
    with pytest.raises(AudioSourceError, match="has 1 input channels, 2 asked"):
        MicSource("webcam", channels=2)


@pytest.mark.parametrize("device, match", [
    (None, "USB Mic Pro"), ("2", "Webcam Mic"), (1, "USB Mic Pro"), ("webcam", "Webcam Mic")])
def test_device_selection(use_sd, device, match):
    use_sd()
    assert sources.find_input_device(device)["name"] == match


@pytest.mark.parametrize("device, match", [
    ("7", r"no input device with index 7; inputs: \[1\] USB Mic Pro; \[2\] Webcam Mic"),
    ("0", "no input device with index 0"),  # an output-only device is not an input
    ("bluetooth", r"no input device named like 'bluetooth'"),
    ("mic", r"'mic' matches several input devices.*give an index or a longer name")])
def test_bad_device_names_the_inputs(use_sd, device, match):
    use_sd()
    with pytest.raises(AudioSourceError, match=match):
        sources.find_input_device(device)


def test_no_input_devices(use_sd, capsys):
    use_sd(devices=[])
    with pytest.raises(AudioSourceError, match="no audio input devices found"):
        MicSource()
    assert cli.main(["devices"]) == 1
    assert "no audio input devices found" in capsys.readouterr().out


def test_devices_command_lists_inputs(use_sd, capsys):
    use_sd()
    assert cli.main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "* [1] USB Mic Pro (2 ch, 16000 Hz, FakeAPI)" in out
    assert "  [2] Webcam Mic (1 ch, 32000 Hz, FakeAPI)" in out and "Built-in" not in out
    assert sources.list_input_devices()[0] == {
        "index": 1, "name": "USB Mic Pro", "channels": 2, "default_samplerate": 16000.0,
        "hostapi": "FakeAPI", "is_default": True}


class _Refuse:
    """A meta-path finder that makes one module fail to import with a given exception."""

    def __init__(self, name, exc):
        self.name, self.exc = name, exc

    def find_spec(self, name, path=None, target=None):
        if name == self.name:
            raise self.exc
        return None


@pytest.mark.parametrize("exc, fix", [
    (ImportError("No module named 'sounddevice'"), "pip install 'facestream[mic]'"),
    (OSError("PortAudio library not found"), "apt install libportaudio2")])
def test_missing_sounddevice_or_portaudio_names_the_fix(monkeypatch, capsys, exc, fix):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Refuse("sounddevice", exc), *sys.meta_path])
    with pytest.raises(AudioSourceError, match=fix.replace("[", r"\[").replace("]", r"\]")):
        sources.list_input_devices()
    assert cli.main(["devices"]) == 2
    assert fix in capsys.readouterr().err


# ---- animate --input mic on the fake microphone -------------------------------------------
def _speechlike(n, sr):
    t = np.arange(n) / sr
    return (0.4 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


def test_animate_mic_stops_after_seconds(use_sd, tmp_path, capsys):
    use_sd(after="keep", interval=0.005)
    out = tmp_path / "mic.npz"
    assert cli.main(["animate", "--input", "mic", "--seconds", "1.5", "--device", "usb",
                     "--block-ms", "25", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "recording from [1] USB Mic Pro at 16000 Hz, 25 ms blocks, until 1.5 s" in text
    data = np.load(out)
    assert data["arkit"].shape == (45, 52)  # 1.5 s at 30 fps, look-ahead flushed
    assert np.allclose(np.diff(data["timestamps"]), 1 / 30)


def test_animate_mic_reports_overflows(use_sd, tmp_path, capsys):
    use_sd(blocks=50, after="stop", overflow_every=10)  # PortAudio flags 5 of 50 blocks
    out = tmp_path / "mic.json"
    assert cli.main(["animate", "--input", "mic", "--seconds", "1", "--block-ms", "20",
                     "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "30 frames at 30 fps from 1.00 s of audio (5 blocks lost to overflow)" in text
    assert "warning: 5 audio blocks were lost" in text


def test_animate_mic_device_that_vanishes_writes_what_it_heard(use_sd, tmp_path, capsys):
    """The recording before the device vanished is still written, then a clear error."""
    use_sd(blocks=50, after="stop")  # 50 x 20 ms = 1 s, then silence from the driver
    out = tmp_path / "mic.csv"
    done, rc = finishes(lambda: cli.main(["animate", "--input", "mic", "--block-ms", "20",
                                          "-o", str(out)]))
    assert done, "animate hung on a vanished device"
    err = capsys.readouterr().err
    assert rc == 2 and "stopped delivering audio" in err and "1.00 s recorded before it" in err
    assert len(out.read_text().splitlines()) == 1 + 30


def test_animate_input_errors(use_sd, tmp_path, capsys):
    use_sd(devices=[])
    out = str(tmp_path / "x.npz")
    assert cli.main(["animate", "--input", "mic", "-o", out]) == 2
    assert "no audio input devices found" in capsys.readouterr().err
    assert cli.main(["animate", "-o", out]) == 2
    assert "no input: give an audio file, or --input mic" in capsys.readouterr().err
    assert cli.main(["animate", "a.wav", "--input", "mic", "-o", out]) == 2
    assert "give the input once" in capsys.readouterr().err
    assert cli.main(["animate", "a.wav", "--seconds", "3", "-o", out]) == 2
    assert "belong to --input mic" in capsys.readouterr().err


# ---- FileSource --------------------------------------------------------------------------
@pytest.fixture
def wav(tmp_path):
    x = np.stack([_speechlike(16160, 16000), -_speechlike(16160, 16000)], axis=1)
    path = tmp_path / "a.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    return path, x


def test_file_source_blocks(wav):
    path, x = wav
    with FileSource(path, block_ms=20) as src:
        assert (src.sample_rate, src.channels, src.frames) == (16000, 2, 16160)
        blocks = list(src)
        assert src.read() is None
    assert [len(b) for b in blocks] == [320] * 50 + [160]
    assert np.array_equal(np.concatenate(blocks), x)


class FakeClock:
    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def monotonic(self):
        return self.now

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s


@pytest.mark.parametrize("realtime", [False, True])
def test_file_source_pacing(wav, monkeypatch, realtime):
    """Paced: each block comes out when its last sample would have been spoken (a fake clock,
    so the test measures the schedule, not this machine's timer)."""
    clock = FakeClock()
    monkeypatch.setattr(sources, "time", clock)
    path, _ = wav
    src = FileSource(path, block_ms=20, realtime=realtime)
    start, released = clock.now, []
    for block in src:
        released.append(clock.now - start)
    if not realtime:
        assert clock.sleeps == [] and released == [0.0] * 51
    else:
        assert np.allclose(released, np.minimum(np.arange(1, 52) * 0.02, 1.01))
        assert sum(clock.sleeps) == pytest.approx(1.01)


def test_file_source_paced_read_returns_empty_until_due(wav, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(sources, "time", clock)
    src = FileSource(wav[0], block_ms=100, realtime=True)
    assert src.read(timeout=0.03).shape == (0, 2)
    assert src.read(timeout=0.03).shape == (0, 2)
    assert src.read(timeout=0.05).shape == (1600, 2)
    assert clock.now - 100.0 == pytest.approx(0.1)


def test_file_source_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="audio file not found"):
        FileSource(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="cannot read .*bad.wav as audio"):
        FileSource(bad)
    with pytest.raises(ValueError, match="block_ms must be within 1..1000"):
        FileSource(_write_short(tmp_path), block_ms=0)


def _write_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, np.zeros(100, np.float32), 16000)
    return p


# ---- PushSource --------------------------------------------------------------------------
def test_push_source_bound_drops_the_oldest_and_counts():
    src = PushSource(16000, max_blocks=3)
    for i in range(5):
        src.push(np.full(10, i, np.int16))
    assert src.overflows == 2
    src.close()
    got = list(src)
    assert [int(b[0]) for b in got] == [2, 3, 4] and got[0].dtype == np.int16
    assert src.read() is None
    with pytest.raises(RuntimeError, match="after close"):
        src.push(np.zeros(10))


def test_push_source_many_producers_lose_nothing_they_are_not_told_about():
    """Blocks read + blocks counted as dropped = blocks pushed, with four threads pushing
    against one reader and a small bound."""
    src = PushSource(16000, max_blocks=4)
    n_threads, n_each = 4, 300
    got = []

    def reader():
        while (b := src.read(timeout=0.01)) is not None:
            if len(b):
                got.append(b)

    r = threading.Thread(target=reader)
    r.start()
    producers = [threading.Thread(target=lambda k=k: [src.push(np.full(4, k * 1000 + i))
                                                      for i in range(n_each)])
                 for k in range(n_threads)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    src.close()
    r.join(20)
    assert not r.is_alive()
    assert len(got) + src.overflows == n_threads * n_each
    for k in range(n_threads):  # each producer's blocks stay in order
        mine = [int(b[0]) for b in got if int(b[0]) // 1000 == k]
        assert mine == sorted(mine)


def test_push_source_timeout_and_bad_input():
    src = PushSource(8000)
    assert src.read(timeout=0.01).shape == (0,)
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2\)"):
        src.push(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        PushSource(0)
    with pytest.raises(ValueError, match="at least one block"):
        PushSource(16000, max_blocks=0)


def test_animate_source_reads_a_push_source_like_a_file():
    """The same audio through a PushSource (odd block sizes) and animate_array gives the same
    frames: sources add nothing and lose nothing."""
    from facestream.engine.animate import animate_array, animate_source
    from facestream.engine.stream import Engine
    engine = Engine(backend="onnxruntime")
    x = _speechlike(24000, 16000)
    src = PushSource(16000)
    for i in range(0, len(x), 777):
        src.push(x[i:i + 777])
    src.close()
    a = np.stack([f.arkit for f in animate_source(engine, src, fps=30)])
    b = np.stack([f.arkit for f in animate_array(engine, x, 16000, fps=30)])
    assert a.shape == b.shape == (45, 52)
    np.testing.assert_allclose(a, b, atol=1e-5)
