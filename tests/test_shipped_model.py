"""The shipped default model: small, carries its metadata, and moves the mouth with speech."""
import numpy as np
import pytest

from facestream import vocab
from facestream.engine.stream import Engine, default_model_path


@pytest.fixture(scope="module")
def engine():
    if not default_model_path().exists():
        pytest.fail("the shipped model facestream/assets/default_model.onnx is missing")
    return Engine()


def test_model_is_small_and_described(engine):
    assert default_model_path().stat().st_size < 5_000_000
    assert engine.info.head == "facestream-default-head"
    assert engine.latency_ms <= 50


def test_mouth_moves_with_a_voice_and_rests_in_silence(engine):
    """A synthetic vowel train ("ma ma ma": voiced bursts) opens the jaw; silence does not."""
    sr = vocab.SAMPLE_RATE
    t = np.arange(sr * 2) / sr
    voice = np.zeros_like(t)
    for k in range(6):  # 6 syllables of 180 ms with a glottal pulse train and formant-ish ringing
        seg = (t >= 0.2 + 0.3 * k) & (t < 0.38 + 0.3 * k)
        f0 = 140.0
        pulses = np.sin(2 * np.pi * f0 * t) ** 15 + 0.4 * np.sin(2 * np.pi * 700 * t) * np.sin(2 * np.pi * f0 * t) ** 2
        voice[seg] = pulses[seg]
    voice = (0.3 * voice / np.abs(voice).max()).astype(np.float32)
    s = engine.create_stream(fps=30)
    s.accept_waveform(sr, np.zeros(sr, np.float32))
    s.accept_waveform(sr, voice)
    s.input_finished()
    frames = engine.decode_stream(s)
    jaw = np.array([f.arkit[vocab.ARKIT_INDEX["jawOpen"]] for f in frames])
    silent, spoken = jaw[5:25], jaw[36:80]
    assert spoken.max() > silent.max() + 0.05
