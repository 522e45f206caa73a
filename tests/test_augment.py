import numpy as np
import pytest
from scipy import signal

from facestream import vocab
from facestream.training.corpus import Targets
from facestream.training.corpus.augment import (
    AugmentConfig, Augmenter, add_noise, active_power, gsm_round_trip, make_rir, pad_targets,
    reverberate,
)
from facestream.training.phonemes import PHONE_INDEX

SR = vocab.SAMPLE_RATE
ALL_ON = {f: 1.0 for f in AugmentConfig.__dataclass_fields__
          if f.startswith("p_") and f not in ("p_soft_clip", "p_mulaw", "p_narrowband", "p_gsm")}


def speechlike(seconds=2.0, seed=0):
    """Voiced-ish bursts (harmonics under a syllable envelope) with pauses between them."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
    return (0.2 * x * env + 0.001 * rng.standard_normal(len(t))).astype(np.float32)


def band_energy(x, lo, hi):
    f, p = signal.welch(x, fs=SR, nperseg=1024)
    return p[(f >= lo) & (f < hi)].sum()


@pytest.mark.parametrize("seed", range(8))
def test_full_chain_keeps_length_and_is_finite(seed):
    pool = [speechlike(1.3, seed=s) for s in range(4)]
    aug = Augmenter(AugmentConfig(**{**ALL_ON, "p_pad": 0.0}), noise_pool=pool, babble_pool=pool)
    x = speechlike(1.234, seed)
    out = aug(x, seed)
    assert out.audio.shape == x.shape and out.audio.dtype == np.float32
    assert (out.pad_front, out.pad_back) == (0, 0)
    assert np.isfinite(out.audio).all() and np.abs(out.audio).max() <= 1.0


def test_default_config_keeps_length_over_many_draws():
    aug = Augmenter(AugmentConfig(), babble_pool=[speechlike(0.5)])
    for seed in range(30):
        x = speechlike(0.3 + 0.1 * (seed % 5), seed)
        y = aug(x, seed).audio
        assert y.shape == x.shape and np.isfinite(y).all()


def test_padding_is_whole_frames_and_reported():
    aug = Augmenter(AugmentConfig.none(p_pad=1.0, pad_frames=(3, 9)))
    x = speechlike(0.5)
    for seed in range(10):
        out = aug(x, seed)
        assert out.pad_front % vocab.HOP_SAMPLES == 0 and out.pad_back % vocab.HOP_SAMPLES == 0
        assert 3 <= out.pad_front_frames <= 9 and 3 <= out.pad_back_frames <= 9
        assert len(out.audio) == len(x) + out.pad_front + out.pad_back
        np.testing.assert_array_equal(out.audio[out.pad_front:out.pad_front + len(x)], x)
        assert not out.audio[:out.pad_front].any()


def test_pad_targets_matches_padded_audio_frames():
    t = 7
    tg = Targets(arkit=np.random.default_rng(0).random((t, 52), dtype=np.float32),
                 jaw=np.zeros((t, 3), np.float32), neck=np.zeros((t, 3), np.float32),
                 emotion=np.eye(7, dtype=np.float32)[np.zeros(t, int)],
                 intensity=np.ones(t, np.float32), phone_ids=np.full(t, 5, np.int16))
    p = pad_targets(tg, 2, 3)
    assert p.arkit.shape == (12, 52) and p.phone_ids.shape == (12,)
    np.testing.assert_array_equal(p.arkit[2:9], tg.arkit)
    np.testing.assert_array_equal(p.arkit[0], tg.arkit[0])
    assert p.phone_ids[0] == PHONE_INDEX["sil"] and p.phone_ids[2] == 5
    assert p.phone_ids.dtype == np.int16


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
@pytest.mark.parametrize("kind", ["white", "pink", "brown", "babble", "recorded"])
def test_snr_is_achieved_within_1db(snr, kind):
    x = speechlike(2.0)
    pool = [speechlike(0.7, seed=s) * (s + 1) for s in range(1, 5)]
    weights = tuple(float(k == kind) for k in ("white", "pink", "brown", "babble", "recorded"))
    cfg = AugmentConfig.none(p_noise=1.0, snr_db=(snr, snr), noise_weights=weights)
    aug = Augmenter(cfg, noise_pool=pool, babble_pool=pool)
    y = aug(x, 3).audio
    noise = y.astype(np.float64) - x
    measured = 10 * np.log10(active_power(x.astype(np.float64)) / np.mean(noise ** 2))
    assert abs(measured - snr) < 1.0


def test_add_noise_on_silence_is_finite():
    y = add_noise(np.zeros(1000, np.float32), np.ones(1000, np.float32), 10.0)
    assert np.isfinite(y).all() and np.abs(y).max() > 0


def test_rir_direct_path_at_zero_lag():
    rng = np.random.default_rng(1)
    cfg = AugmentConfig(rt60_s=(0.3, 0.9), drr_db=(0.0, 10.0))
    for _ in range(5):
        rir = make_rir(rng, cfg)
        assert rir[0] == 1.0 and np.argmax(np.abs(rir)) == 0
        dry = speechlike(1.0, seed=2)
        wet = reverberate(dry, rir)
        assert wet.shape == dry.shape
        lags = signal.correlation_lags(len(wet), len(dry))
        xc = signal.correlate(wet, dry, method="fft")
        assert lags[np.argmax(xc)] == 0


def test_reverb_in_the_chain_adds_a_tail_after_the_signal():
    x = np.zeros(SR, np.float32)
    x[1000] = 1.0
    y = Augmenter(AugmentConfig.none(p_reverb=1.0))(x, 0).audio
    assert np.argmax(np.abs(y)) == 1000 and np.abs(y[:1000]).max() < 1e-6  # FFT round-off
    assert np.abs(y[1100:]).max() > 1e-4


def test_telephone_removes_energy_above_4khz():
    x = np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32) * 0.1
    y = Augmenter(AugmentConfig.none(p_telephone=1.0))(x, 0).audio
    drop_db = 10 * np.log10(band_energy(x, 4000, 8000) / band_energy(y, 4000, 8000))
    assert drop_db > 30
    kept_db = 10 * np.log10(band_energy(x, 800, 3000) / band_energy(y, 800, 3000))
    assert abs(kept_db) < 1.0
    y8 = Augmenter(AugmentConfig.none(p_narrowband=1.0))(x, 0).audio
    # without the band-pass only resample_poly's anti-alias transition band (~4-4.4 kHz) is left
    assert 10 * np.log10(band_energy(x, 4500, 8000) / band_energy(y8, 4500, 8000)) > 30


def test_zero_phase_effects_do_not_shift_timing():
    """EQ, band limiting and resampling: an impulse stays where it was."""
    x = np.zeros(SR, np.float32)
    x[8000] = 0.5
    for kw in ({"p_eq": 1.0}, {"p_telephone": 1.0}, {"p_resample": 1.0}, {"p_narrowband": 1.0}):
        for seed in range(4):
            y = Augmenter(AugmentConfig.none(**kw))(x, seed).audio
            assert np.argmax(np.abs(y)) == 8000, kw


def test_gain_clip_and_quantisation():
    x = speechlike(0.5)
    y = Augmenter(AugmentConfig.none(p_gain=1.0, gain_db=(-6.0, -6.0)))(x, 0).audio
    np.testing.assert_allclose(y, x * 10 ** (-6 / 20), rtol=1e-5, atol=1e-7)
    cfg = AugmentConfig.none(p_clip=1.0, p_soft_clip=0.0, clip_level=(0.5, 0.5))
    y = Augmenter(cfg)(x, 0).audio
    assert np.abs(y).max() == pytest.approx(0.5 * np.abs(x).max(), rel=1e-6)
    y = Augmenter(AugmentConfig.none(p_quantize=1.0, p_mulaw=0.0, quantize_bits=(6, 6)))(x, 0).audio
    assert len(np.unique(y)) <= 64
    y = Augmenter(AugmentConfig.none(p_quantize=1.0, p_mulaw=1.0))(x, 0).audio
    assert len(np.unique(y)) <= 255 and np.corrcoef(x, y)[0, 1] > 0.99


def test_deterministic_for_a_seed():
    pool = [speechlike(0.8, seed=s) for s in range(3)]
    aug = Augmenter(AugmentConfig(**ALL_ON), noise_pool=pool, babble_pool=pool)
    x = speechlike(1.0)
    a, b = aug(x, 42), aug(x, np.random.default_rng(42))
    np.testing.assert_array_equal(a.audio, b.audio)
    assert (a.pad_front, a.pad_back) == (b.pad_front, b.pad_back)
    assert not np.array_equal(a.audio, aug(x, 43).audio)


def test_bad_config_and_input_raise_with_the_fix():
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(ValueError, match="lo <= hi"):
        AugmentConfig(snr_db=(20.0, 5.0))
    with pytest.raises(ValueError, match="4000"):
        AugmentConfig(telephone_band_hz=(300.0, 5000.0))
    with pytest.raises(ValueError, match="mono float"):
        Augmenter()(np.zeros((100, 2), np.float32), 0)
    with pytest.raises(ValueError, match="babble_pool"):
        Augmenter(babble_pool=[np.zeros(0, np.float32)])


def test_gsm_round_trip_keeps_speech_band_and_length_and_drops_the_top():
    """GSM 06.10 through 8 kHz (sox): same length, no shift, speech below 3.4 kHz kept,
    nothing above 4 kHz; with p_gsm=1 the augmenter's channel is the codec."""
    x = speechlike(2.0)
    y = gsm_round_trip(x)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    lag = np.argmax(np.correlate(y[4000:12000], x[4000 - 40:12000 + 40], "valid")) - 40
    assert abs(lag) <= 2, f"the codec round trip shifted the audio by {lag} samples"
    assert band_energy(y, 200, 3400) > 0.5 * band_energy(x, 200, 3400)
    assert band_energy(y, 4500, 8000) < 1e-3 * band_energy(x, 4500, 8000)
    only = {f: 0.0 for f in AugmentConfig.__dataclass_fields__ if f.startswith("p_")}
    coded = Augmenter(AugmentConfig(**{**only, "p_gsm": 1.0}))(x, 0).audio
    plain = Augmenter(AugmentConfig(**only))(x, 0).audio
    assert band_energy(coded, 4500, 8000) < 1e-3 * band_energy(plain, 4500, 8000)
